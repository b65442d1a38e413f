//! `agentic backup …`: make, list, verify, restore and prune encrypted backups in a directory
//! (see [`crate::backup`] for what a backup holds and docs/DISASTER-RECOVERY.md for the
//! runbook).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::backup::{self, Directory, Policy, Progress, Quiet};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::audit::NewAuditEntry;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub(super) enum BackupCommand {
    /// Generate a backup key pair: the identity (secret) into IDENTITY_FILE, mode 0600, and
    /// print the public key (`age1…`) to pass to `create --recipient`. Keep the identity
    /// offline, away from the host and the backups: whoever has it can read every backup.
    Keygen {
        /// Where to write the identity (must not exist).
        identity_file: PathBuf,
    },
    /// Back up the database, the filesystem document blobs and the installed plugins into DIR,
    /// encrypted to the recipients, while the host keeps serving. Written under a temporary
    /// name and renamed when complete, with a receipt (`<name>.json`) beside it.
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// Public key (`age1…`) the backup is encrypted to; repeat or separate with commas for
        /// several (any one of them can restore it).
        #[arg(
            long = "recipient",
            env = "AGENTIC_BACKUP_RECIPIENTS",
            value_delimiter = ',',
            required = true
        )]
        recipients: Vec<String>,
        /// Apply this retention policy after the backup succeeded (see `prune`).
        #[command(flatten)]
        keep: KeepArgs,
    },
    /// List the complete backups in DIR, oldest first (partial ones are never listed).
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Decrypt a backup, check the SHA-256 of every member and restore it into a scratch SQLite
    /// database, comparing every table's rows with its manifest. Needs free space about the
    /// size of the database.
    Verify {
        /// The backup file (`agentic-….age`).
        file: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
    },
    /// Restore a backup into the configured database (or --database-url), SQLite or PostgreSQL
    /// whichever the backup came from. Stop every host first. The database must be empty
    /// (freshly created or migrated) unless --force; a restore that fails leaves it as it was.
    /// Credentials need the vault key of the installation the backup came from.
    Restore {
        /// The backup file (`agentic-….age`).
        file: PathBuf,
        #[command(flatten)]
        identity: IdentityArg,
        /// Restore into this database instead of the configured one (`sqlite://…?mode=rwc`,
        /// `postgres://…`).
        #[arg(long)]
        database_url: Option<String>,
        /// Replace everything in a database that is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Delete the backups in DIR that the retention policy does not keep (and files left by
    /// crashed backups). A backup is kept when any rule keeps it.
    Prune {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        keep: KeepArgs,
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct DirArg {
    /// The backup directory: on another disk or volume than the data.
    #[arg(long = "dir", env = "AGENTIC_BACKUP_DIR")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct IdentityArg {
    /// File holding the identity (`AGE-SECRET-KEY-1…`) of one of the backup's recipients.
    #[arg(long = "identity", env = "AGENTIC_BACKUP_IDENTITY")]
    identity: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct KeepArgs {
    /// Keep the newest N backups.
    #[arg(long, default_value_t = 0)]
    keep_last: usize,
    /// Keep the newest backup of each of the newest N days (UTC) that have backups.
    #[arg(long, default_value_t = 0)]
    keep_daily: usize,
    /// Keep the newest backup of each of the newest N ISO weeks that have backups.
    #[arg(long, default_value_t = 0)]
    keep_weekly: usize,
    /// Keep the newest backup of each of the newest N months that have backups.
    #[arg(long, default_value_t = 0)]
    keep_monthly: usize,
}

impl KeepArgs {
    fn policy(&self) -> Policy {
        Policy {
            last: self.keep_last,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
        }
    }
}

/// A progress bar on a terminal (stderr).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, stage: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(stage.to_owned());
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn progress() -> Box<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Box::new(Quiet);
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} rows and blobs ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Box::new(Bar(bar))
}

fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

async fn audit(store: &Store, action: &'static str, target: &str, mut detail: serde_json::Value) {
    detail["via"] = json!("cli");
    let entry = NewAuditEntry {
        actor_id: None,
        action,
        target_type: Some("backup"),
        target_id: Some(target.to_owned()),
        ip: None,
        detail,
    };
    if let Err(e) = store.append_audit(entry, SystemClock.now_ms()).await {
        tracing::warn!(error = %e, action, "the backup could not be audited");
    }
}

pub(super) async fn run(config: Config, command: BackupCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match command {
        BackupCommand::Keygen { identity_file } => {
            let (text, public) = backup::keygen();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&identity_file)
                .with_context(|| format!("creating {}", identity_file.display()))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            writeln!(out, "{public}")?;
        }
        BackupCommand::Create {
            dir,
            recipients,
            keep,
        } => {
            crate::data_dir::require_installation(&config, false)?;
            let recipients = backup::parse_recipients(&recipients)?;
            let store = crate::server::open_store(&config).await?;
            let destination = Directory::new(dir.dir);
            let bar = progress();
            let created = backup::create(
                &store,
                &config.blob_dir(),
                recipients,
                &destination,
                SystemClock.now_ms(),
                bar.as_ref(),
            )
            .await;
            let created = match created {
                Ok(c) => c,
                Err(e) => {
                    audit(
                        &store,
                        "backup.failed",
                        "",
                        json!({ "error": e.to_string() }),
                    )
                    .await;
                    store.close().await;
                    return Err(e.into());
                }
            };
            let rows: i64 = created.manifest.tables.iter().map(|t| t.rows).sum();
            audit(
                &store,
                "backup.created",
                &created.receipt.name,
                json!({ "size": created.receipt.size, "rows": rows, "blobs": created.manifest.blobs,
                        "duration_ms": created.receipt.duration_ms }),
            )
            .await;
            store.close().await;
            writeln!(
                out,
                "{}\t{} bytes\t{rows} rows\t{} blobs\t{} ms",
                created.path.display(),
                created.receipt.size,
                created.manifest.blobs,
                created.receipt.duration_ms
            )?;
            for key in &created.missing_blobs {
                writeln!(out, "warning: document blob {key} was gone; its version has no content in this backup")?;
            }
            if !keep.policy().is_empty() {
                prune(&destination, keep.policy(), false, &mut out)?;
            }
        }
        BackupCommand::List { dir } => {
            for b in Directory::new(dir.dir).list()? {
                let about = match &b.receipt {
                    Some(r) => format!(
                        "{}\tschema {}\thost {}",
                        r.source_backend, r.schema_version, r.host_version
                    ),
                    None => "no receipt".into(),
                };
                writeln!(
                    out,
                    "{}\t{}\t{} bytes\t{about}",
                    b.name,
                    when(b.created_at),
                    b.size
                )?;
            }
        }
        BackupCommand::Verify { file, identity } => {
            let identities = backup::read_identities(&identity.identity)?;
            let bar = progress();
            let v = backup::verify(&file, &identities, bar.as_ref()).await?;
            for t in &v.manifest.tables {
                writeln!(out, "{}\t{} rows", t.name, t.rows)?;
            }
            writeln!(
                out,
                "OK: {} — {} members checked (SHA-256), {} rows and {} blobs restored into a \
                 scratch database and matching the manifest; taken {} from {} at schema {}{}",
                file.display(),
                v.checksums.members.len() + 1,
                v.rows,
                v.blobs,
                when(v.manifest.created_at),
                v.manifest.source_backend,
                v.manifest.schema_version,
                if v.receipt.is_some() {
                    "; matches its receipt"
                } else {
                    "; no receipt beside it"
                }
            )?;
            if !v.checksums.missing_blobs.is_empty() {
                writeln!(
                    out,
                    "warning: {} document blobs were gone when it was made",
                    v.checksums.missing_blobs.len()
                )?;
            }
        }
        BackupCommand::Restore {
            file,
            identity,
            database_url,
            force,
        } => {
            let identities = backup::read_identities(&identity.identity)?;
            let url = database_url
                .clone()
                .unwrap_or_else(|| config.database_url());
            if database_url.is_none() && config.database_url.is_none() {
                crate::data_dir::create(&config.data_dir)?;
            }
            let store = Store::connect(&url)
                .await
                .with_context(|| format!("connecting to {}", crate::config::redact_url(&url)))?;
            store.migrate().await.context("applying migrations")?;
            let bar = progress();
            let restored = backup::restore(
                &file,
                &identities,
                &store,
                &config.blob_dir(),
                force,
                bar.as_ref(),
            )
            .await;
            let restored = match restored {
                Ok(r) => r,
                Err(e) => {
                    store.close().await;
                    return Err(e.into());
                }
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            audit(
                &store,
                "backup.restored",
                &name,
                json!({ "rows": restored.rows, "blobs": restored.blobs, "forced": force,
                        "taken_at": restored.manifest.created_at }),
            )
            .await;
            let keys: Vec<String> =
                sqlx::query_scalar("SELECT DISTINCT key_id FROM vault_secrets ORDER BY key_id")
                    .fetch_all(store.pool())
                    .await?;
            store.close().await;
            writeln!(
                out,
                "restored {} rows and {} blobs from {} (taken {} from {}) into {}",
                restored.rows,
                restored.blobs,
                file.display(),
                when(restored.manifest.created_at),
                restored.manifest.source_backend,
                crate::config::redact_url(&url)
            )?;
            if !keys.is_empty() {
                writeln!(
                    out,
                    "credentials are encrypted to the vault key{} {}: put that key where this host \
                     reads it ({}) before starting it",
                    if keys.len() == 1 { "" } else { "s" },
                    keys.join(", "),
                    vault_key_place(&config)
                )?;
            }
        }
        BackupCommand::Prune { dir, keep, dry_run } => {
            prune(&Directory::new(dir.dir), keep.policy(), dry_run, &mut out)?;
        }
    }
    Ok(())
}

fn vault_key_place(config: &Config) -> String {
    match config.vault_key_source() {
        crate::vault::KeySource::File(path) => path.display().to_string(),
        crate::vault::KeySource::Env(_) => "AGENTIC_VAULT_KEY".into(),
    }
}

fn prune(
    destination: &Directory,
    policy: Policy,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !policy.is_empty(),
        "no retention rule: give at least one of --keep-last, --keep-daily, --keep-weekly, \
         --keep-monthly (pruning without one would delete every backup)"
    );
    let backups = destination.list()?;
    let times: Vec<i64> = backups.iter().map(|b| b.created_at).collect();
    let keep = policy.keep(&times);
    for (i, b) in backups.iter().enumerate() {
        if keep.contains(&i) {
            continue;
        }
        if dry_run {
            writeln!(out, "would delete {}", b.name)?;
        } else {
            destination.delete(b)?;
            writeln!(out, "deleted {}", b.name)?;
        }
    }
    if !dry_run {
        destination.clean(SystemClock.now_ms())?;
    }
    writeln!(
        out,
        "{} backups kept in {}",
        keep.len(),
        display(destination.path())
    )?;
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
