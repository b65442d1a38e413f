//! A backup as the platform makes it, whoever asks (the schedule, the admin API, the CLI):
//! recorded in `backup_runs` (what `/metrics` and the admin API read), audited, and followed by
//! the retention policy once it succeeded. Also the job that scheduled and API backups run as,
//! and the schedule itself.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{parse_recipients, BackupConfig, Created, Destination, Policy, Progress};
use crate::clock::{Clock, Millis};
use crate::jobs::{schedule, JobContext, JobError, JobFuture, JobHandler};
use crate::store::audit::NewAuditEntry;
use crate::store::backup_runs::{Made, StartedBy};
use crate::store::Store;

/// The job kind of a backup.
pub const KIND: &str = "backup";
/// The name of the backup schedule in `job_schedules`.
pub const SCHEDULE: &str = "backup";

/// What a backup needs besides the store: where, to whom, what to keep afterwards.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The filesystem blob directory.
    pub blob_dir: &'a Path,
    /// Where a backup bound for a bucket is made before it is uploaded.
    pub staging: &'a Path,
    /// The destination.
    pub destination: &'a Destination,
    /// The recipients (`age1…`).
    pub recipients: &'a [String],
    /// Applied after a success (empty: keep everything).
    pub policy: Policy,
    /// Who asked.
    pub started_by: StartedBy,
    /// The queue job it runs in.
    pub job_id: Option<i64>,
}

/// A backup made and recorded, with what retention deleted after it.
#[derive(Debug)]
pub struct Recorded {
    /// The backup.
    pub created: Created,
    /// Its row in `backup_runs`.
    pub run_id: i64,
    /// Backups deleted by the retention policy.
    pub pruned: Vec<String>,
}

/// Makes a backup per `plan`, records it and audits it; applies retention after a success.
/// A failure is recorded and audited too, then returned.
pub async fn run(
    store: &Store,
    clock: &dyn Clock,
    plan: Plan<'_>,
    progress: &dyn Progress,
) -> super::Result<Recorded> {
    let destination = plan.destination.describe();
    let run_id = store
        .start_backup_run(plan.started_by, &destination, plan.job_id, clock.now_ms())
        .await?;
    let made = async {
        let recipients = parse_recipients(plan.recipients)?;
        plan.destination
            .create(
                store,
                plan.blob_dir,
                plan.staging,
                recipients,
                clock.now_ms(),
                progress,
            )
            .await
    }
    .await;
    let created = match made {
        Ok(created) => created,
        Err(e) => {
            let error = e.to_string();
            if let Err(db) = store.fail_backup_run(run_id, &error, clock.now_ms()).await {
                tracing::warn!(error = %db, "the failed backup could not be recorded");
            }
            audit(
                store,
                clock,
                plan.started_by,
                "backup.failed",
                "",
                json!({ "error": error }),
            )
            .await;
            return Err(e);
        }
    };
    let rows: i64 = created.manifest.tables.iter().map(|t| t.rows).sum();
    let receipt = &created.receipt;
    let made = Made {
        name: &receipt.name,
        size: i64::try_from(receipt.size).unwrap_or(i64::MAX),
        row_count: rows,
        blob_count: i64::try_from(created.manifest.blobs).unwrap_or(i64::MAX),
        duration_ms: i64::try_from(receipt.duration_ms).unwrap_or(i64::MAX),
    };
    store
        .finish_backup_run(run_id, &made, clock.now_ms())
        .await?;
    audit(
        store,
        clock,
        plan.started_by,
        "backup.created",
        &receipt.name,
        json!({ "size": receipt.size, "rows": rows, "blobs": created.manifest.blobs,
                "duration_ms": receipt.duration_ms }),
    )
    .await;
    // Retention runs only after a success, so a failing backup never costs a good one.
    let pruned = plan
        .destination
        .prune(&plan.policy, clock.now_ms(), false)
        .await?
        .deleted;
    if !pruned.is_empty() {
        audit(
            store,
            clock,
            plan.started_by,
            "backup.pruned",
            &receipt.name,
            json!({ "deleted": pruned }),
        )
        .await;
    }
    Ok(Recorded {
        created,
        run_id,
        pruned,
    })
}

async fn audit(
    store: &Store,
    clock: &dyn Clock,
    by: StartedBy,
    action: &'static str,
    target: &str,
    mut detail: serde_json::Value,
) {
    detail["via"] = json!(by.as_str());
    let entry = NewAuditEntry {
        actor_id: None,
        action,
        target_type: Some("backup"),
        target_id: Some(target.to_owned()),
        ip: None,
        detail,
    };
    if let Err(e) = store.append_audit(entry, clock.now_ms()).await {
        tracing::warn!(error = %e, action, "the backup could not be audited");
    }
}

/// The input of a backup job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupJob {
    /// Who asked: the schedule or the API.
    pub started_by: StartedBy,
}

/// Runs backup jobs with this host's `[backup]` section.
pub struct BackupHandler {
    store: Store,
    clock: Arc<dyn Clock>,
    config: BackupConfig,
    blob_dir: std::path::PathBuf,
    staging: std::path::PathBuf,
}

impl std::fmt::Debug for BackupHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupHandler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BackupHandler {
    /// The handler of a host.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: BackupConfig,
        blob_dir: std::path::PathBuf,
        staging: std::path::PathBuf,
    ) -> Self {
        Self {
            store,
            clock,
            config,
            blob_dir,
            staging,
        }
    }
}

impl JobHandler for BackupHandler {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(async move {
            let job: BackupJob = serde_json::from_str(&ctx.job.payload)
                .map_err(|e| JobError::Permanent(format!("bad backup job: {e}")))?;
            let destination = match self.config.open_destination() {
                Ok(Some(d)) if self.config.is_configured() => d,
                Ok(_) => {
                    return Err(JobError::Permanent(
                        "this host has no backup destination: set backup.destination and \
                         backup.recipients on every host that runs jobs"
                            .into(),
                    ))
                }
                Err(e) => return Err(JobError::Permanent(e.to_string())),
            };
            let progress = JobProgress {
                ctx,
                done: AtomicI64::new(0),
                total: AtomicI64::new(0),
            };
            let plan = Plan {
                blob_dir: &self.blob_dir,
                staging: &self.staging,
                destination: &destination,
                recipients: &self.config.recipients,
                policy: self.config.policy(),
                started_by: job.started_by,
                job_id: Some(ctx.job.id),
            };
            let recorded = run(&self.store, self.clock.as_ref(), plan, &progress)
                .await
                .map_err(|e| match e {
                    super::BackupError::Config(_) => JobError::Permanent(e.to_string()),
                    other => JobError::Retry(other.to_string()),
                })?;
            let receipt = &recorded.created.receipt;
            Ok(json!({
                "run_id": recorded.run_id,
                "name": receipt.name,
                "size": receipt.size,
                "duration_ms": receipt.duration_ms,
                "pruned": recorded.pruned,
            }))
        })
    }
}

/// A backup's progress on its job: rows and blobs done of the total.
struct JobProgress<'a> {
    ctx: &'a JobContext,
    done: AtomicI64,
    total: AtomicI64,
}

impl Progress for JobProgress<'_> {
    fn start(&self, _stage: &str, total: u64) {
        let total = i64::try_from(total).unwrap_or(i64::MAX);
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.ctx.progress(0, Some(total), "backing up");
    }

    fn advance(&self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let done = self.done.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        let total = self.total.load(Ordering::Relaxed);
        self.ctx.progress(done, Some(total), "backing up");
    }
}

/// Makes the `backup` schedule agree with `config`: created or updated when `backup.schedule`
/// is set, removed when it is not. Called by every host that starts (the section must be the
/// same on every host; see [`super::settings`]). A schedule already as configured is left
/// alone, so a host starting just after a slot fell due does not move that slot away.
/// Returns the next run, if scheduled.
pub async fn apply_schedule(
    store: &Store,
    config: &BackupConfig,
    now: Millis,
) -> Result<Option<Millis>, schedule::ScheduleError> {
    match &config.schedule {
        Some(expression) => {
            let payload = BackupJob {
                started_by: StartedBy::Schedule,
            };
            let job = crate::jobs::new_job(KIND, None, &payload, None, now);
            if let Some(current) = schedule::get(store, SCHEDULE).await? {
                if current.cron == *expression && current.payload == job.payload {
                    return Ok(Some(current.next_run_at));
                }
            }
            schedule::upsert(store, SCHEDULE, &job, expression, now)
                .await
                .map(Some)
        }
        None => {
            schedule::remove(store, SCHEDULE).await?;
            Ok(None)
        }
    }
}
