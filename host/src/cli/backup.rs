//! `agentic backup …`: make, list, verify, restore and prune encrypted backups in a directory
//! (see [`crate::backup`] for what a backup holds and docs/DISASTER-RECOVERY.md for the
//! runbook).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::backup::{self, Destination, Policy, Progress, Quiet};
use crate::clock::{Clock, Millis, SystemClock};
use crate::config::Config;
use crate::store::audit::NewAuditEntry;
use crate::store::backup_runs::StartedBy;
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
        /// several (any one of them can restore it). Default: `backup.recipients`.
        #[arg(
            long = "recipient",
            env = "AGENTIC_BACKUP_RECIPIENTS",
            value_delimiter = ','
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
        /// The backup: a file (`agentic-….age`), or `s3://bucket/prefix/agentic-….age`.
        file: String,
        #[command(flatten)]
        identity: IdentityArg,
    },
    /// Restore a backup into the configured database (or --database-url), SQLite or PostgreSQL
    /// whichever the backup came from. Stop every host first. The database must be empty
    /// (freshly created or migrated) unless --force; a restore that fails leaves it as it was.
    /// Credentials need the vault key of the installation the backup came from.
    Restore {
        /// The backup: a file (`agentic-….age`), or `s3://bucket/prefix/agentic-….age`.
        file: String,
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
    /// Where backups are: a directory on another disk or volume than the data, or
    /// `s3://bucket/prefix` (reached as `backup.s3` and the `AWS_*` variables say).
    /// Default: `backup.destination`.
    #[arg(
        long = "destination",
        visible_alias = "dir",
        env = "AGENTIC_BACKUP_DESTINATION"
    )]
    destination: Option<String>,
}

impl DirArg {
    /// The destination given, else the configured one.
    fn resolve(self, config: &Config) -> anyhow::Result<Destination> {
        let spec = self
            .destination
            .or_else(|| config.backup.destination.clone())
            .context(
                "no backup destination: pass --destination (or AGENTIC_BACKUP_DESTINATION) or \
                 configure backup.destination",
            )?;
        Ok(Destination::open(&spec, &config.backup.s3)?)
    }
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

fn when(t: Millis) -> String {
    let ms = t.as_ms();
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
            // Refused before anything is recorded: a typo in a key is not a failed backup.
            let recipients = if recipients.is_empty() {
                config.backup.recipients.clone()
            } else {
                recipients
            };
            anyhow::ensure!(
                !recipients.is_empty(),
                "no backup recipient: pass --recipient age1… (or AGENTIC_BACKUP_RECIPIENTS) or \
                 configure backup.recipients"
            );
            backup::parse_recipients(&recipients)?;
            let store = crate::server::open_store(&config).await?;
            let destination = dir.resolve(&config)?;
            let bar = progress();
            let plan = backup::run::Plan {
                blob_dir: &config.blob_dir(),
                staging: &config.data_dir,
                destination: &destination,
                recipients: &recipients,
                policy: keep.policy(),
                started_by: StartedBy::Cli,
                job_id: None,
            };
            let recorded = backup::run::run(&store, &SystemClock, plan, bar.as_ref()).await;
            store.close().await;
            let recorded = recorded?;
            let created = &recorded.created;
            let rows: i64 = created.manifest.tables.iter().map(|t| t.rows).sum();
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
            for name in &recorded.pruned {
                writeln!(out, "deleted {name}")?;
            }
        }
        BackupCommand::List { dir } => {
            for b in dir.resolve(&config)?.list().await? {
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
            let fetched =
                backup::target::fetch(&file, &config.backup.s3, &std::env::temp_dir()).await?;
            let verified = backup::verify(&fetched.path, &identities, bar.as_ref()).await;
            record_verification(&config, &fetched.path, verified.as_ref().err()).await;
            let v = verified?;
            for t in &v.manifest.tables {
                writeln!(out, "{}\t{} rows", t.name, t.rows)?;
            }
            writeln!(
                out,
                "OK: {} — {} members checked (SHA-256), {} rows and {} blobs restored into a \
                 scratch database and matching the manifest; taken {} from {} at schema {}{}",
                file,
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
                .with_context(|| format!("connecting to {}", crate::telemetry::redact_url(&url)))?;
            // `restore` migrates it: to the backup's schema version first, then to this one.
            let fetched =
                backup::target::fetch(&file, &config.backup.s3, &std::env::temp_dir()).await?;
            let bar = progress();
            let restored = backup::restore(
                &fetched.path,
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
            let name = fetched
                .path
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
                file,
                when(restored.manifest.created_at),
                restored.manifest.source_backend,
                crate::telemetry::redact_url(&url)
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
            prune(&dir.resolve(&config)?, keep.policy(), dry_run, &mut out).await?;
        }
    }
    Ok(())
}

/// Notes a verification on the backup's row in this installation's backup log, when this
/// machine has the installation (verifying elsewhere, e.g. on an operator's laptop, is fine and
/// records nothing).
async fn record_verification(config: &Config, file: &Path, error: Option<&backup::BackupError>) {
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    if crate::data_dir::require_installation(config, false).is_err() {
        return;
    }
    let Ok(store) = crate::server::open_store(config).await else {
        return;
    };
    let error = error.map(ToString::to_string);
    if let Err(e) = store
        .record_backup_verification(name, error.as_deref(), SystemClock.now_ms())
        .await
    {
        tracing::warn!(error = %e, "the verification could not be recorded");
    }
    store.close().await;
}

fn vault_key_place(config: &Config) -> String {
    match config.vault_key_source() {
        crate::vault::KeySource::File(path) => path.display().to_string(),
        crate::vault::KeySource::Env(_) => "AGENTIC_VAULT_KEY".into(),
    }
}

async fn prune(
    destination: &Destination,
    policy: Policy,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !policy.is_empty(),
        "no retention rule: give at least one of --keep-last, --keep-daily, --keep-weekly, \
         --keep-monthly (pruning without one would delete every backup)"
    );
    let pruned = destination
        .prune(&policy, SystemClock.now_ms(), dry_run)
        .await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    for name in &pruned.deleted {
        writeln!(out, "{verb} {name}")?;
    }
    writeln!(
        out,
        "{} backups kept in {}",
        pruned.kept,
        destination.describe()
    )?;
    Ok(())
}
