//! Fencing of a running attempt's writes, how an attempt ends (its outcome), and the history
//! of a job's attempts.
//!
//! A claim gives the attempt a [`Lease`]: the worker's name and a token the claim took (tokens
//! only grow, so a worker that lost a job and claimed it again holds a different one). Every
//! write the attempt makes starts its transaction with [`Store::hold_lease`], a guarded
//! `UPDATE jobs … WHERE id AND lease_owner AND lease_token AND state = 'running'`: on PostgreSQL
//! it also locks the job's row until commit, so the lease cannot be reclaimed between the check
//! and the writes; on SQLite the write transaction is the only writer. An attempt that lost its
//! lease gets [`StoreError::LeaseLost`] and its transaction writes nothing.
//!
//! Each ended attempt that did not succeed leaves a row in `job_attempts` (written in the
//! transaction of the outcome that ends it), so a retry keeps the history the job's own
//! `last_error` would overwrite. A success is the job's last attempt and the job's row already
//! holds it — its number (`attempts`), its worker (`lease_owner`, kept on success), its start
//! (`attempt_started_at`) and end (`finished_at`) — so it writes no history row: the queue's
//! hot path is one `UPDATE` per outcome, not an `UPDATE` and an `INSERT`. [`Store::job_attempts`]
//! reads it from the job's row, and a retry by hand of a succeeded job, which starts the row
//! over, first copies it into `job_attempts`.

use sqlx::AnyConnection;
use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::clock::Millis;
use crate::names::named_enum;

named_enum! {
    /// How an attempt of a job ended, as its history keeps it and the API shows it.
    pub enum AttemptOutcome as "attempt outcome" {
        /// The handler returned a result.
        Succeeded = "succeeded",
        /// The handler failed (the job was retried, or died).
        Failed = "failed",
        /// The handler gave the attempt back to run later (it does not count as one).
        Postponed = "postponed",
        /// Stopped at someone's request.
        Cancelled = "cancelled",
        /// Its worker stopped renewing the lease (crashed or stalled); the job was reclaimed.
        Expired = "expired",
    }
}

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

/// How a running attempt ended.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// Done, with the handler's output.
    Succeeded(&'a str),
    /// Failed; retried at `retry_at` unless attempts are used up (then dead).
    Failed {
        /// Why.
        error: &'a str,
        /// When to try again.
        retry_at: Millis,
        /// Never retry (bad input, a permanent refusal).
        permanent: bool,
    },
    /// Not a failure: run again at `at` without counting the attempt (a rate limit).
    Postponed {
        /// Why.
        reason: &'a str,
        /// When.
        at: Millis,
        /// How it counts towards `Job::postponements` (in a row without progress).
        count: Postponement,
    },
    /// Stopped on request.
    Cancelled,
}

/// How a postponement counts towards a job's postponements in a row without progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Postponement {
    /// The attempt did nothing before it was postponed: one more.
    Stalled,
    /// The attempt made progress first: the count starts again.
    Progressed,
    /// The attempt waited for another run (a lock): the count stays.
    Waiting,
}

impl Postponement {
    /// The code the outcome's SQL takes.
    pub(crate) fn code(self) -> i64 {
        match self {
            Postponement::Stalled => 0,
            Postponement::Progressed => 1,
            Postponement::Waiting => 2,
        }
    }
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
    /// How it ended.
    pub outcome: AttemptOutcome,
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
    pub outcome: AttemptOutcome,
    pub error: Option<&'a str>,
}

/// The success a succeeded job's row holds, as a history row (`lease_token`, `attempt`, `worker`,
/// `started_at`, `finished_at`, `outcome`, `error`, `job_id`) of job `$1`: none for a job that
/// succeeded before successes stopped writing their own row (it cleared `lease_owner`).
const SUCCESS_IN_ROW: &str = "SELECT lease_token, attempts, lease_owner, \
     COALESCE(attempt_started_at, started_at, finished_at), finished_at, 'succeeded', NULL, id \
     FROM jobs WHERE id = $1 AND state = 'succeeded' AND lease_owner IS NOT NULL";

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
                    .bind(a.outcome.as_str())
                    .bind(a.error);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// The ended attempts of a job, oldest first: its history rows, then its success, which
    /// the job's row holds (see the module's doc; a job that succeeded before that kept its
    /// success in `job_attempts` and cleared `lease_owner`, so it is not listed twice).
    pub async fn job_attempts(&self, job_id: i64) -> Result<Vec<JobAttempt>> {
        let rows = sqlx::query(&format!(
            "SELECT lease_token, attempt, worker, started_at, finished_at, outcome, error, job_id \
             FROM job_attempts WHERE job_id = $1 UNION ALL {SUCCESS_IN_ROW} ORDER BY lease_token"
        ))
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
                    outcome: super::decode_name(r, "outcome")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    /// Copies a succeeded job's success from its row into its history (in the caller's
    /// transaction), before a retry starts the row over.
    pub(crate) async fn keep_success(conn: &mut AnyConnection, job_id: i64) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO job_attempts (lease_token, attempt, worker, started_at, finished_at, \
             outcome, error, job_id) {SUCCESS_IN_ROW} ON CONFLICT (job_id, lease_token) DO NOTHING"
        ))
        .bind(job_id)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Ending attempts: the outcome and its history row in one transaction, fenced by the lease.
impl Store {
    /// Ends a running attempt and adds it to the job's history, in one transaction; `false` if
    /// the lease was lost meanwhile (the outcome is then another attempt's to write).
    pub async fn finish_job(
        &self,
        lease: &Lease,
        outcome: Outcome<'_>,
        now: Millis,
    ) -> Result<bool> {
        const GUARD: &str =
            "WHERE id = $1 AND lease_owner = $2 AND lease_token = $7 AND state = 'running'";
        let (label, error, counted) = match &outcome {
            Outcome::Succeeded(_) => (AttemptOutcome::Succeeded, None, true),
            Outcome::Failed { error, .. } => (AttemptOutcome::Failed, Some(*error), true),
            Outcome::Postponed { reason, .. } => (AttemptOutcome::Postponed, Some(*reason), false),
            Outcome::Cancelled => (AttemptOutcome::Cancelled, None, true),
        };
        let (sql, text, at, permanent) = match outcome {
            // A success clears the error of earlier attempts: their history keeps it. It keeps
            // `lease_owner`: the row is the success's history entry (see the module's doc).
            Outcome::Succeeded(result) => (
                "UPDATE jobs SET state = 'succeeded', result = $3, last_error = NULL, \
                 lease_until = NULL, finished_at = $4, updated_at = $4",
                Some(result),
                now,
                0,
            ),
            Outcome::Failed {
                error,
                retry_at,
                permanent,
            } => (
                "UPDATE jobs SET state = CASE WHEN $6 = 1 OR attempts >= max_attempts \
                 THEN 'dead' ELSE 'queued' END, \
                 finished_at = CASE WHEN $6 = 1 OR attempts >= max_attempts THEN $4 ELSE NULL END, \
                 last_error = $3, run_at = $5, lease_owner = NULL, lease_until = NULL, \
                 postponements = 0, updated_at = $4",
                Some(error),
                retry_at,
                i64::from(permanent),
            ),
            // $6: how the postponement counts (`Postponement::code`).
            Outcome::Postponed { reason, at, count } => (
                "UPDATE jobs SET state = 'queued', attempts = attempts - 1, last_error = $3, \
                 run_at = $5, lease_owner = NULL, lease_until = NULL, updated_at = $4, \
                 postponements = CASE WHEN $6 = 1 THEN 0 WHEN $6 = 2 THEN postponements \
                 ELSE postponements + 1 END",
                Some(reason),
                at,
                count.code(),
            ),
            Outcome::Cancelled => (
                "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                 finished_at = $4, updated_at = $4",
                None,
                now,
                0,
            ),
        };
        // Every statement takes the same seven parameters, used or not, so one bind list serves.
        let sql = format!(
            "{sql} {GUARD} AND COALESCE($3, '') = COALESCE($3, '') AND $5 = $5 AND $6 = $6 \
             RETURNING attempts, COALESCE(attempt_started_at, started_at, $4) AS begun"
        );
        // Durable unless `jobs.durable_outcomes` is off (see `Store::with_durable_outcomes`).
        let mut tx = self.begin_on(&self.outcomes).await?;
        let ended = sqlx::query(&sql)
            .bind(lease.job_id)
            .bind(&lease.owner)
            .bind(text.map(str::to_owned))
            .bind(now)
            .bind(at)
            .bind(permanent)
            .bind(lease.token)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = ended else {
            return Ok(false);
        };
        if label == AttemptOutcome::Succeeded {
            tx.commit().await?;
            return Ok(true);
        }
        let attempts: i32 = row.try_get("attempts")?;
        let ended = AttemptEnd {
            lease: lease.clone(),
            // A postponement gave its attempt back; the history still numbers it.
            attempt: if counted { attempts } else { attempts + 1 },
            started_at: row.try_get("begun")?,
            finished_at: now,
            outcome: label,
            error,
        };
        Self::record_attempts(&mut tx, std::slice::from_ref(&ended)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends running attempts as succeeded, each with its result, in one statement (the job's
    /// row is the success's history entry); returns the ids written (a job missing lost its
    /// lease meanwhile). Durable unless `jobs.durable_outcomes` is off: one disk flush per batch.
    pub async fn finish_succeeded(
        &self,
        items: &[(&Lease, &str)],
        now: Millis,
    ) -> Result<Vec<i64>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let values = (0..items.len())
            .map(|i| {
                let b = 4 * i + 2;
                format!("(${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3)
            })
            .collect::<Vec<_>>()
            .join(", ");
        // VALUES columns are `column1`, `column2`… on both databases.
        let sql = format!(
            "UPDATE jobs SET state = 'succeeded', result = v.column4, last_error = NULL, \
             lease_until = NULL, finished_at = $1, updated_at = $1 \
             FROM (VALUES {values}) AS v \
             WHERE jobs.id = v.column1 AND jobs.lease_token = v.column2 \
             AND jobs.lease_owner = v.column3 AND jobs.state = 'running' \
             RETURNING id"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (lease, result) in items {
            query = query
                .bind(lease.job_id)
                .bind(lease.token)
                .bind(lease.owner.as_str())
                .bind(*result);
        }
        // One statement commits on its own, atomically: no BEGIN and COMMIT round trips around
        // it (on PostgreSQL two of the three a batch took).
        let rows = query.fetch_all(&self.outcomes).await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<i64, _>("id")?))
            .collect()
    }

    /// Jobs whose lease expired (their worker died or stalled) go back to the queue, or die
    /// when that was their last attempt; each such attempt enters the history as `expired`.
    /// Returns how many.
    pub async fn reclaim_expired(&self, now: Millis) -> Result<u64> {
        const WHY: &str = "the worker stopped renewing its lease (crashed or lost the database)";
        // Looked up first without a write lock: most calls find nothing.
        let expired = sqlx::query(
            "SELECT id, lease_owner, lease_token, attempts, \
             COALESCE(attempt_started_at, started_at, $1) AS begun FROM jobs \
             WHERE state = 'running' AND lease_until < $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut ended = Vec::new();
        for row in &expired {
            let lease = Lease {
                job_id: row.try_get("id")?,
                owner: row
                    .try_get::<Option<String>, _>("lease_owner")?
                    .unwrap_or_default(),
                token: row.try_get("lease_token")?,
            };
            // Still that claim, still expired (a late heartbeat may have renewed it).
            let n = sqlx::query(
                "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                 finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
                 last_error = $4, lease_owner = NULL, lease_until = NULL, run_at = $1, \
                 updated_at = $1 \
                 WHERE id = $2 AND lease_token = $3 AND state = 'running' AND lease_until < $1",
            )
            .bind(now)
            .bind(lease.job_id)
            .bind(lease.token)
            .bind(WHY)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                ended.push(AttemptEnd {
                    lease,
                    attempt: row.try_get("attempts")?,
                    started_at: row.try_get("begun")?,
                    finished_at: now,
                    outcome: AttemptOutcome::Expired,
                    error: Some(WHY),
                });
            }
        }
        Self::record_attempts(&mut tx, &ended).await?;
        tx.commit().await?;
        Ok(ended.len() as u64)
    }
}
