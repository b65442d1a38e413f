//! The log of this installation's backups (`backup_runs`): one row per attempt, whoever started
//! it (the schedule, an administrator through the API, `agentic backup create`), what it made,
//! and the outcome of a later `backup verify` of the file it made. The admin API lists it and
//! `/metrics` derives the backup gauges from it, so every host reports the same last success
//! whichever process made the backup.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Page, Result, Store};
use crate::clock::Millis;
use crate::names::named_enum;

named_enum! {
    /// Where a backup attempt is.
    pub enum BackupState as "backup state" {
        /// Being made.
        Running = "running",
        /// Made and published in its destination.
        Succeeded = "succeeded",
        /// Failed; `error` says why. Nothing was published.
        Failed = "failed",
    }
}

named_enum! {
    /// Who started a backup attempt.
    pub enum StartedBy as "backup starter" {
        /// The configured `backup.schedule`, run by the job queue.
        Schedule = "schedule",
        /// An administrator, through `POST /api/v1/backups`.
        Api = "api",
        /// `agentic backup create`.
        Cli = "cli",
    }
}

/// One backup attempt.
#[derive(Debug, Clone)]
pub struct BackupRun {
    /// Its id.
    pub id: i64,
    /// Who started it.
    pub started_by: StartedBy,
    /// Where it is.
    pub state: BackupState,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// The destination it was made in (a directory), as configured.
    pub destination: String,
    /// The backup's file name, once made.
    pub name: Option<String>,
    /// Size of the encrypted file.
    pub size: Option<i64>,
    /// Rows it holds, all tables together.
    pub row_count: Option<i64>,
    /// Filesystem blobs it holds.
    pub blob_count: Option<i64>,
    /// How long making it took.
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The queue job that made it (scheduled and API backups).
    pub job_id: Option<i64>,
    /// When `agentic backup verify` last checked the file.
    pub verified_at: Option<Millis>,
    /// What that verification found wrong; `None` with `verified_at` set: it passed.
    pub verify_error: Option<String>,
}

/// What a finished backup made.
#[derive(Debug, Clone)]
pub struct Made<'a> {
    /// The file name.
    pub name: &'a str,
    /// Its size.
    pub size: i64,
    /// Rows in it.
    pub row_count: i64,
    /// Blobs in it.
    pub blob_count: i64,
    /// How long it took.
    pub duration_ms: i64,
}

/// The backup gauges of `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BackupHealth {
    /// End of the newest successful backup (epoch ms), `None` when there was none.
    pub last_success_at: Option<Millis>,
    /// Its size.
    pub last_size: Option<i64>,
    /// Its duration.
    pub last_duration_ms: Option<i64>,
    /// Failed attempts since then.
    pub failures_since_success: i64,
}

const COLUMNS: &str = "id, started_by, state, started_at, finished_at, destination, name, size, \
                       row_count, blob_count, duration_ms, error, job_id, verified_at, verify_error";

fn from_row(row: &AnyRow) -> Result<BackupRun> {
    Ok(BackupRun {
        id: row.try_get("id")?,
        started_by: super::decode_name(row, "started_by")?,
        state: super::decode_name(row, "state")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        destination: row.try_get("destination")?,
        name: row.try_get("name")?,
        size: row.try_get("size")?,
        row_count: row.try_get("row_count")?,
        blob_count: row.try_get("blob_count")?,
        duration_ms: row.try_get("duration_ms")?,
        error: row.try_get("error")?,
        job_id: row.try_get("job_id")?,
        verified_at: row.try_get("verified_at")?,
        verify_error: row.try_get("verify_error")?,
    })
}

impl Store {
    /// Records that a backup into `destination` starts.
    pub async fn start_backup_run(
        &self,
        started_by: StartedBy,
        destination: &str,
        job_id: Option<i64>,
        now: Millis,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO backup_runs (started_by, state, started_at, destination, job_id) \
             VALUES ($1, 'running', $2, $3, $4) RETURNING id",
        )
        .bind(started_by.as_str())
        .bind(now)
        .bind(destination)
        .bind(job_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Records that backup run `id` succeeded, making `made`.
    pub async fn finish_backup_run(&self, id: i64, made: &Made<'_>, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE backup_runs SET state = 'succeeded', finished_at = $2, name = $3, size = $4, \
             row_count = $5, blob_count = $6, duration_ms = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(made.name)
        .bind(made.size)
        .bind(made.row_count)
        .bind(made.blob_count)
        .bind(made.duration_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records that backup run `id` failed with `error`.
    pub async fn fail_backup_run(&self, id: i64, error: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE backup_runs SET state = 'failed', finished_at = $2, error = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records the outcome of verifying the backup file `name` (`error: None`: it passed).
    /// Whether a run made a file of that name.
    pub async fn record_backup_verification(
        &self,
        name: &str,
        error: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE backup_runs SET verified_at = $2, verify_error = $3 \
             WHERE name = $1 AND state = 'succeeded'",
        )
        .bind(name)
        .bind(now)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Backup runs, oldest first, at most `limit` after the run `after`.
    pub async fn list_backup_runs(&self, after: i64, limit: i64) -> Result<Page<BackupRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM backup_runs WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit + 1)
        .fetch_all(self.pool())
        .await?;
        let runs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(runs, limit, |r| r.id))
    }

    /// The backup run `id`.
    pub async fn backup_run(&self, id: i64) -> Result<Option<BackupRun>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM backup_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// What `/metrics` reports about backups.
    pub async fn backup_health(&self) -> Result<BackupHealth> {
        let last = sqlx::query(
            "SELECT id, finished_at, size, duration_ms FROM backup_runs \
             WHERE state = 'succeeded' ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        let since = match &last {
            Some(row) => row.try_get::<i64, _>("id")?,
            None => 0,
        };
        let failures: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_runs WHERE state = 'failed' AND id > $1",
        )
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(match last {
            Some(row) => BackupHealth {
                last_success_at: row.try_get("finished_at")?,
                last_size: row.try_get("size")?,
                last_duration_ms: row.try_get("duration_ms")?,
                failures_since_success: failures,
            },
            None => BackupHealth {
                failures_since_success: failures,
                ..BackupHealth::default()
            },
        })
    }
}
