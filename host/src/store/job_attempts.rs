//! Fencing of a running attempt's writes, and the history of a job's attempts.
//!
//! A claim gives the attempt a [`Lease`]: the worker's name and a token the claim took (tokens
//! only grow, so a worker that lost a job and claimed it again holds a different one). Every
//! write the attempt makes starts its transaction with [`Store::hold_lease`], a guarded
//! `UPDATE jobs … WHERE id AND lease_owner AND lease_token AND state = 'running'`: on PostgreSQL
//! it also locks the job's row until commit, so the lease cannot be reclaimed between the check
//! and the writes; on SQLite the write transaction is the only writer. An attempt that lost its
//! lease gets [`StoreError::LeaseLost`] and its transaction writes nothing.
//!
//! Each ended attempt leaves a row in `job_attempts` (written in the transaction of the outcome
//! that ends it), so a retry keeps the history the job's own `last_error` would overwrite.

use sqlx::AnyConnection;
use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::clock::Millis;

/// The claim a running attempt holds; every write of the attempt is fenced by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: i64,
    /// The worker that claimed it.
    pub owner: String,
    /// The fencing token of this claim.
    pub token: i64,
}

/// A lease, and what the write carries forward to the next attempt (the job's checkpoint).
#[derive(Debug, Clone)]
pub struct Fence<'a> {
    /// The attempt's lease.
    pub lease: &'a Lease,
    /// JSON stored as the job's checkpoint in the same transaction (`None`: unchanged).
    pub checkpoint: Option<String>,
}

/// An attempt that ended, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAttempt {
    /// The attempt's number (1 for the first, counting as the job's `attempts` does).
    pub attempt: i32,
    /// The worker that ran it.
    pub worker: String,
    /// When it was claimed.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Millis,
    /// `succeeded`, `failed`, `postponed`, `cancelled` or `expired` (the worker stopped
    /// renewing its lease).
    pub outcome: String,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// An ended attempt to record.
#[derive(Debug, Clone)]
pub(crate) struct AttemptEnd<'a> {
    pub lease: Lease,
    pub attempt: i32,
    pub started_at: Millis,
    pub finished_at: Millis,
    pub outcome: &'static str,
    pub error: Option<&'a str>,
}

/// Rows per history INSERT: 8 parameters each.
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// Checks, as the first statement of the caller's write transaction, that the attempt still
    /// holds its lease, and stores the fence's checkpoint. [`StoreError::LeaseLost`] otherwise:
    /// the caller must then drop the transaction (nothing of it is written).
    pub(crate) async fn hold_lease(
        conn: &mut AnyConnection,
        fence: &Fence<'_>,
        now: Millis,
    ) -> Result<()> {
        let held = sqlx::query(
            "UPDATE jobs SET checkpoint = COALESCE($4, checkpoint), updated_at = $5 \
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running'",
        )
        .bind(fence.lease.job_id)
        .bind(&fence.lease.owner)
        .bind(fence.lease.token)
        .bind(fence.checkpoint.as_deref())
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected();
        if held == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Appends ended attempts to their jobs' histories (in the caller's transaction).
    pub(crate) async fn record_attempts(
        conn: &mut AnyConnection,
        ended: &[AttemptEnd<'_>],
    ) -> Result<()> {
        for chunk in ended.chunks(ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| {
                    let b = i * 8;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            // A token ends once; an outcome written twice (it cannot be: the fence) would
            // keep the first.
            let sql = format!(
                "INSERT INTO job_attempts (job_id, lease_token, attempt, worker, started_at, \
                 finished_at, outcome, error) VALUES {values} \
                 ON CONFLICT (job_id, lease_token) DO NOTHING"
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q
                    .bind(a.lease.job_id)
                    .bind(a.lease.token)
                    .bind(a.attempt)
                    .bind(a.lease.owner.as_str())
                    .bind(a.started_at)
                    .bind(a.finished_at)
                    .bind(a.outcome)
                    .bind(a.error);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// The ended attempts of a job, oldest first.
    pub async fn job_attempts(&self, job_id: i64) -> Result<Vec<JobAttempt>> {
        let rows = sqlx::query(
            "SELECT attempt, worker, started_at, finished_at, outcome, error FROM job_attempts \
             WHERE job_id = $1 ORDER BY lease_token",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobAttempt {
                    attempt: r.try_get("attempt")?,
                    worker: r.try_get("worker")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }
}
