//! Backups: one encrypted file holding everything the platform needs to come back, restorable to
//! either database backend.
//!
//! # What a backup holds
//! A consistent snapshot of every platform table (users, sessions, projects, plugin registry
//! with the installed packages' components, vault ciphertexts, connections, documents and their
//! database-kept bytes, jobs, schedules, synced records, agents, web tasks, usage, audit log),
//! the bytes of document versions kept in the filesystem blob store, and a manifest (host and
//! schema versions, per-table row counts, id sequences) with the SHA-256 of every member.
//! The layout is in [`format`].
//!
//! It does **not** hold the vault key or the JWT signing keys. Credentials are in it only as the
//! vault stores them, encrypted to the vault key: a backup without the vault key restores every
//! credential as unreadable ciphertext. The vault key must be kept apart, by the operator
//! (docs/DISASTER-RECOVERY.md says how). JWT keys are made anew by a host that has none; people
//! sign in again.
//!
//! # Why a logical export, not `pg_dump` or a copy of the SQLite file
//! A restore must go to either backend (SQLite → PostgreSQL when an installation grows, back for
//! a laptop copy or a verification). A `pg_dump` or a SQLite file only restores to its own
//! kind, needs the matching client tools on the host, and cannot be checked table by table
//! without a server. So both backends export the same neutral form through the store
//! ([`crate::store::backup`]): each table's columns with neutral types and its rows as JSON
//! lines. The snapshot is still the database's own: `VACUUM INTO` on SQLite (writers go on),
//! one `REPEATABLE READ` read-only transaction on PostgreSQL.
//!
//! # Encryption
//! The archive (tar, gzip) is encrypted with age to one or more X25519 recipients (`age1…`) as
//! it is written: the host that makes backups needs only public keys and cannot read them. A
//! restore or a verification needs one matching identity (`AGE-SECRET-KEY-1…`).

/// Tar, gzip and age on a blocking thread: writing and reading the archive as a stream.
mod archive;
/// An S3-compatible bucket as a destination (object_store), uploads atomic.
pub mod bucket;
/// Taking a backup: snapshot, export, blobs, manifest.
pub mod create;
/// Where backups are kept: a directory, written atomically, with a receipt per backup.
pub mod destination;
/// The layout inside a backup.
pub mod format;
/// Restoring into an empty database, and verifying by restoring into a scratch one.
pub mod restore;
/// Which backups to keep: the last N and the newest of each recent day, week and month.
pub mod retention;
/// A backup as the platform makes it: recorded, audited, pruned; the backup job and schedule.
pub mod run;
/// The `[backup]` configuration section.
pub mod settings;
/// Where backups go: a directory or a bucket, behind one type.
pub mod target;

use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
pub use age::x25519::{Identity, Recipient};

use crate::store::StoreError;

pub use create::{create, Created};
pub use destination::{Directory, Listed, Receipt};
pub use restore::{restore, verify, Restored};
pub use retention::Policy;
pub use settings::BackupConfig;
pub use target::Destination;

/// Why a backup could not be made, verified or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file was cut off (an interrupted copy or upload).
    #[error("the backup is truncated: {0}")]
    Truncated(String),
    /// The file was modified or corrupted.
    #[error("the backup is damaged (tampered with or corrupted): {0}")]
    Damaged(String),
    /// None of the identities given can decrypt it.
    #[error("wrong key: {0}")]
    WrongKey(String),
    /// The file is not a backup of this kind.
    #[error("not an Agentic backup: {0}")]
    NotABackup(String),
    /// The backup and this host's database do not fit (format or schema version).
    #[error("the backup does not fit this host: {0}")]
    Incompatible(String),
    /// The target database holds data and the restore was not told to replace it.
    #[error(
        "the target database is not empty (rows in {}): restore into an empty database, or \
         pass --force to replace everything in it",
        .0.join(", ")
    )]
    NotEmpty(Vec<&'static str>),
    /// A key, a recipient or an option is wrong.
    #[error("{0}")]
    Config(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing a file failed.
    #[error("backup i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(e.into())
    }
}

/// Result of a backup operation.
pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// Parses backup recipients: public keys `age1…`, given one by one or several per string
/// separated by commas, spaces or new lines (`#` starts a comment line).
pub fn parse_recipients<S: AsRef<str>>(keys: &[S]) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    for text in keys {
        for line in text.as_ref().lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for key in line.split([',', ' ', '\t']).filter(|k| !k.is_empty()) {
                let r = Recipient::from_str(key).map_err(|_| {
                    BackupError::Config(format!(
                        "backup recipient {key:?} is not an X25519 age public key (age1…)"
                    ))
                })?;
                out.push(r);
            }
        }
    }
    if out.is_empty() {
        return Err(BackupError::Config(
            "no backup recipient: give at least one age public key (age1…)".into(),
        ));
    }
    Ok(out)
}

/// Reads the identities (`AGE-SECRET-KEY-1…`, one per line, `#` comments) that decrypt backups.
pub fn read_identities(path: &Path) -> Result<Vec<Identity>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackupError::Config(format!("reading the identity file {}: {e}", path.display()))
    })?;
    let ids: Vec<Identity> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            Identity::from_str(l).map_err(|_| {
                BackupError::Config(format!(
                    "{} holds a line that is not an AGE-SECRET-KEY-1… identity",
                    path.display()
                ))
            })
        })
        .collect::<Result<_>>()?;
    if ids.is_empty() {
        return Err(BackupError::Config(format!(
            "{} holds no AGE-SECRET-KEY-1… identity",
            path.display()
        )));
    }
    Ok(ids)
}

/// A new backup key pair: the identity file's text (keep it offline, it decrypts every backup
/// made to its public key) and the public key (`age1…`) to give `backup create`.
pub fn keygen() -> (String, Recipient) {
    let identity = Identity::generate();
    let public = identity.to_public();
    let text = format!(
        "# Agentic backup identity: decrypts backups made to {public}.\n\
         # Keep it offline and apart from the backups and from the host.\n{}\n",
        identity.to_string().expose_secret()
    );
    (text, public)
}

/// Told how a long backup or restore advances (a progress bar on a terminal, nothing in jobs).
pub trait Progress: Send + Sync {
    /// A stage begins with `total` units (rows and blobs) to go.
    fn start(&self, _stage: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The stage is over.
    fn finish(&self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
