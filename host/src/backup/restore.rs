//! Restoring a backup into an empty database of either backend, and verifying a backup by
//! restoring it into a scratch SQLite database.
//!
//! A restore is one transaction on the target: the rows go in as the archive is decrypted, and
//! only once the checksums at its end matched every member and every table's row count matched
//! the manifest is it committed. A restore that fails at any point — a damaged or cut-off file,
//! a wrong row, a lost database — leaves the target as it was (empty). Filesystem blobs are
//! written to a staging directory beside the blob store and moved in after the commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use age::x25519::Identity;
use tokio::sync::mpsc;

use super::archive::{self, In};
use super::destination::{check_receipt, Receipt};
use super::format::{self, Checksums, Manifest};
use super::{BackupError, Progress, Result};
use crate::store::backup::{Restore, Value};
use crate::store::Store;

/// A backup restored (or verified).
#[derive(Debug, Clone)]
pub struct Restored {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its checksums (every member checked).
    pub checksums: Checksums,
    /// Its receipt, when it had one (checked first).
    pub receipt: Option<Receipt>,
    /// Rows restored.
    pub rows: i64,
    /// Filesystem blobs restored.
    pub blobs: u64,
}

/// The staging directory: removed with whatever it still holds.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Restores the backup at `file` into `store` (which must be migrated by this version, and
/// empty unless `force`: then everything in it is replaced), its filesystem blobs into
/// `blob_dir`.
pub async fn restore(
    file: &Path,
    identities: &[Identity],
    store: &Store,
    blob_dir: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<Restored> {
    let receipt = check_receipt(file)?;
    let head = {
        let input = std::fs::File::open(file)?;
        let ids = identities.to_vec();
        tokio::task::spawn_blocking(move || archive::read_manifest(input, &ids))
            .await
            .map_err(|e| BackupError::Io(std::io::Error::other(format!("backup reader: {e}"))))??
    };
    prepare(store, head.schema_version).await?;
    let input = std::fs::File::open(file)?;
    let mut target = store.begin_restore().await?;
    if !force {
        let used = target.non_empty_tables().await?;
        if !used.is_empty() {
            return Err(BackupError::NotEmpty(used));
        }
    }
    std::fs::create_dir_all(blob_dir)?;
    let staging = Staging(blob_dir.join(format!(".restore-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&staging.0)?;
    let (tx, rx) = mpsc::channel::<In>(4);
    let identities = identities.to_vec();
    let staged = staging.0.clone();
    let reader =
        tokio::task::spawn_blocking(move || archive::read(input, &identities, &staged, tx));
    let loaded = load(&mut target, rx, force, progress).await;
    let read = reader
        .await
        .map_err(|e| BackupError::Io(std::io::Error::other(format!("backup reader: {e}"))));
    progress.finish();
    // The reader's error (damaged, truncated, wrong key) is the cause when both failed.
    let checksums = read??;
    let (manifest, counts, blobs) = loaded?;
    for table in &manifest.tables {
        let got = counts.get(&table.name).copied().unwrap_or(0);
        if got != table.rows {
            return Err(BackupError::Damaged(format!(
                "{} has {got} rows where the manifest says {}",
                table.name, table.rows
            )));
        }
    }
    target.set_sequences(&manifest.sequences).await?;
    target.commit().await?;
    for entry in std::fs::read_dir(&staging.0)? {
        let entry = entry?;
        std::fs::rename(entry.path(), blob_dir.join(entry.file_name()))?;
    }
    // A backup of an earlier version is now upgraded as its database would have been.
    store.migrate().await?;
    Ok(Restored {
        rows: counts.values().sum(),
        manifest,
        checksums,
        receipt,
        blobs,
    })
}

/// Brings the target to the backup's schema version: a database never migrated (or migrated
/// to an earlier version) is migrated up to it; one at a later version cannot go back.
async fn prepare(store: &Store, version: i64) -> Result<()> {
    let latest = store.latest_schema_version();
    if version > latest {
        return Err(BackupError::Incompatible(format!(
            "it was made at schema version {version}, newer than this host's {latest}: restore \
             it with the host version that made it, or a later one"
        )));
    }
    let current = store.schema_version().await?;
    if current > version {
        return Err(BackupError::Incompatible(format!(
            "the target database is at schema version {current}, the backup at {version}: \
             restore into a new, empty database (it is brought to the backup's version, \
             loaded, then upgraded to {latest})"
        )));
    }
    if current < version {
        store.migrate_to(version).await?;
    }
    Ok(())
}

type Loaded = (Manifest, HashMap<String, i64>, u64);

/// Inserts what the reader brings; returns the manifest, the rows per table and the blobs.
async fn load(
    target: &mut Restore,
    mut rx: mpsc::Receiver<In>,
    force: bool,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let Some(In::Manifest(manifest)) = rx.recv().await else {
        // The reader failed before the manifest; it says why.
        return Err(BackupError::NotABackup("no manifest".into()));
    };
    let manifest = *manifest;
    check_fits(target, &manifest).await?;
    if force {
        target.wipe().await?;
    }
    let total: i64 = manifest.tables.iter().map(|t| t.rows).sum();
    progress.start(
        "restore",
        u64::try_from(total).unwrap_or(0) + manifest.blobs,
    );
    let columns: HashMap<&str, &[crate::store::backup::Column]> = manifest
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.columns.as_slice()))
        .collect();
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut blobs = 0u64;
    while let Some(message) = rx.recv().await {
        match message {
            In::Manifest(_) => {
                return Err(BackupError::Damaged("a second manifest".into()));
            }
            In::Blob => {
                blobs += 1;
                progress.advance(1);
            }
            In::Part { table, bytes } => {
                let Some(cols) = columns.get(table.as_str()).copied() else {
                    return Err(BackupError::Damaged(format!(
                        "rows of {table}, which the manifest does not list"
                    )));
                };
                let batch = target.batch_rows(cols);
                let mut rows: Vec<Vec<Value>> = Vec::with_capacity(batch);
                for (i, line) in bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    let row = format::decode_row(line, cols).map_err(|why| {
                        BackupError::Damaged(format!("{table}, row {i} of a part: {why}"))
                    })?;
                    rows.push(row);
                    if rows.len() == batch {
                        target.insert(&table, cols, &rows).await?;
                        progress.advance(rows.len() as u64);
                        *counts.entry(table.clone()).or_default() += rows.len() as i64;
                        rows.clear();
                    }
                }
                target.insert(&table, cols, &rows).await?;
                progress.advance(rows.len() as u64);
                *counts.entry(table).or_default() += rows.len() as i64;
            }
        }
    }
    Ok((manifest, counts, blobs))
}

/// Refuses a backup of another format or schema version, or whose tables differ from the
/// target's.
async fn check_fits(target: &mut Restore, manifest: &Manifest) -> Result<()> {
    if manifest.format != format::FORMAT {
        return Err(BackupError::Incompatible(format!(
            "it has format {}, this host reads format {}",
            manifest.format,
            format::FORMAT
        )));
    }
    let (tables, version) = target.schema().await?;
    if manifest.schema_version != version {
        return Err(BackupError::Incompatible(format!(
            "it was made at schema version {} (host {}), the target database is at {version}: \
             restore into a new, empty database",
            manifest.schema_version, manifest.host_version
        )));
    }
    for (name, columns) in &tables {
        let Some(entry) = manifest.tables.iter().find(|t| &t.name == name) else {
            return Err(BackupError::Incompatible(format!("it has no table {name}")));
        };
        if &entry.columns != columns {
            return Err(BackupError::Incompatible(format!(
                "the columns of {name} differ from the target's"
            )));
        }
    }
    if manifest.tables.len() != tables.len() {
        return Err(BackupError::Incompatible(
            "it has tables the target does not".into(),
        ));
    }
    Ok(())
}

/// Verifies the backup at `file`: decrypts it, checks every member's checksum, and restores it
/// into a scratch SQLite database in a temporary directory, comparing each table's rows with
/// the manifest. Needs free disk space about the size of the database.
pub async fn verify(
    file: &Path,
    identities: &[Identity],
    progress: &dyn Progress,
) -> Result<Restored> {
    let scratch = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch.path().join("verify.db").display()
    );
    // Not migrated here: the restore brings it to the backup's version, then upgrades it.
    let store = Store::connect(&url).await?;
    let result = restore(
        file,
        identities,
        &store,
        &scratch.path().join("blobs"),
        false,
        progress,
    )
    .await;
    // Counted again after the commit (and only where no migration ran since, which may
    // rightly change rows): what the restore's own check saw must be what was stored.
    let upgraded = result
        .as_ref()
        .is_ok_and(|r| r.manifest.schema_version != store.latest_schema_version());
    if let (Ok(restored), false) = (&result, upgraded) {
        for table in &restored.manifest.tables {
            let n: i64 =
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", checked(&table.name)?))
                    .fetch_one(store.pool())
                    .await?;
            if n != table.rows {
                store.close().await;
                return Err(BackupError::Damaged(format!(
                    "{} restored {n} rows where the manifest says {}",
                    table.name, table.rows
                )));
            }
        }
    }
    store.close().await;
    result
}

fn checked(table: &str) -> Result<&str> {
    if crate::store::backup::TABLES.contains(&table) {
        Ok(table)
    } else {
        Err(BackupError::Damaged(format!("unknown table {table}")))
    }
}
