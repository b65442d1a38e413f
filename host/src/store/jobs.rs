//! The job queue's rows: enqueue, claim, heartbeat, finish, cancel, retry, schedules.
//!
//! Claiming is one statement on either database: on PostgreSQL the candidate rows are picked
//! with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each other or take the same
//! job; on SQLite the single writer makes the guarded `UPDATE … WHERE state = 'queued'` the
//! transaction. Every later write of a running job is fenced by its lease ([`Lease`]: the
//! owner and the token its claim took), so a worker whose lease expired (and whose job went to
//! another, or came back to it as a new attempt) cannot overwrite the new attempt; see
//! [`super::job_attempts`] for the fence and the history of attempts.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::job_attempts::Lease;
pub use super::job_attempts::{Outcome, Postponement};
use super::{Backend, Page, Result, Store, StoreError};
use crate::clock::Millis;
use crate::names::named_enum;

named_enum! {
    /// Where a job is in its life, as the API names it (`?state=` and a job's `state`).
    ///
    /// Stored by its name (`queued`, …) and declared as an enum in the OpenAPI document so
    /// clients can rely on it. It lives with the store, which reads and writes it; `jobs`
    /// re-exports it.
    pub enum JobState as "job state" {
        /// Waiting for a worker (or for `run_at`: a retry's backoff, a postponement).
        Queued = "queued",
        /// A worker holds its lease.
        Running = "running",
        /// Done; `result` holds the output.
        Succeeded = "succeeded",
        /// Failed for good (a permanent error, or out of attempts); retryable by hand.
        Dead = "dead",
        /// Stopped at someone's request.
        Cancelled = "cancelled",
    }
}

impl JobState {
    /// Whether the job reached a final state (succeeded, dead or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled
        )
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    /// Primary key.
    pub id: i64,
    /// What to run (`sync`, `noop`, …): the handler's name.
    pub kind: String,
    /// The project it belongs to, if any (visibility follows the project).
    pub project_id: Option<i64>,
    /// The handler's input (JSON).
    pub payload: String,
    /// Where it is in its life.
    pub state: JobState,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts started so far.
    pub attempts: i32,
    /// After this many failed attempts the job is dead.
    pub max_attempts: i32,
    /// Not before this time.
    pub run_at: Millis,
    /// Makes enqueueing the same work twice a no-op.
    pub idempotency_key: Option<String>,
    /// The worker holding the lease; on a succeeded job, the worker that ran its success.
    pub lease_owner: Option<String>,
    /// Until when the lease holds without a heartbeat.
    pub lease_until: Option<Millis>,
    /// The fencing token of the current (or last) claim: every claim takes a new one.
    pub lease_token: i64,
    /// What the handler carries across attempts (JSON), written under the fence.
    pub checkpoint: Option<String>,
    /// Someone asked to cancel it.
    pub cancel_requested: bool,
    /// Progress: units done.
    pub progress_done: i64,
    /// Progress: units in all, when known.
    pub progress_total: Option<i64>,
    /// Progress: what is happening.
    pub progress_message: String,
    /// Postponements in a row without progress (see `jobs.max_postponements`).
    pub postponements: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The handler's output (JSON), when it succeeded.
    pub result: Option<String>,
    /// Who enqueued it (`None` for schedules and the system).
    pub created_by: Option<i64>,
    /// Enqueued at.
    pub created_at: Millis,
    /// First started at.
    pub started_at: Option<Millis>,
    /// Reached a final state at.
    pub finished_at: Option<Millis>,
    /// Last change.
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, kind, project_id, payload, state, priority, attempts, max_attempts, \
    run_at, idempotency_key, lease_owner, lease_until, lease_token, checkpoint, \
    cancel_requested, progress_done, progress_total, progress_message, postponements, last_error, result, created_by, created_at, started_at, \
    finished_at, updated_at";

fn job_state(row: &AnyRow) -> Result<JobState> {
    super::decode_name(row, "state")
}

fn from_row(row: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        project_id: row.try_get("project_id")?,
        payload: row.try_get("payload")?,
        state: job_state(row)?,
        priority: row.try_get("priority")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        run_at: row.try_get("run_at")?,
        idempotency_key: row.try_get("idempotency_key")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        lease_token: row.try_get("lease_token")?,
        checkpoint: row.try_get("checkpoint")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        progress_done: row.try_get("progress_done")?,
        progress_total: row.try_get("progress_total")?,
        progress_message: row.try_get("progress_message")?,
        postponements: row.try_get("postponements")?,
        last_error: row.try_get("last_error")?,
        result: row.try_get("result")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Job {
    /// The lease of the claim this copy was read under (`None`: not running).
    pub fn lease(&self) -> Option<Lease> {
        let owner = self
            .lease_owner
            .as_ref()
            .filter(|_| self.state == JobState::Running)?;
        Some(Lease {
            job_id: self.id,
            owner: owner.clone(),
            token: self.lease_token,
        })
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// Owning project.
    pub project_id: Option<i64>,
    /// Handler input (JSON).
    pub payload: String,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts before the job is dead.
    pub max_attempts: i32,
    /// Not before.
    pub run_at: Millis,
    /// Enqueueing twice with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// Who asks.
    pub created_by: Option<i64>,
}

/// Filters of the job list.
#[derive(Debug, Default)]
pub struct JobFilter<'a> {
    /// Only these projects (`None`: every job, for Administrators).
    pub projects: Option<&'a [i64]>,
    /// One project.
    pub project_id: Option<i64>,
    /// One kind.
    pub kind: Option<&'a str>,
    /// One state.
    pub state: Option<JobState>,
}

impl Store {
    /// Enqueues a job; with an idempotency key already used, returns the existing job and
    /// `false`.
    pub async fn enqueue(&self, job: &NewJob, now: Millis) -> Result<(Job, bool)> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO jobs (kind, project_id, payload, state, priority, max_attempts, run_at, \
             idempotency_key, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING {COLUMNS}"
        ))
        .bind(&job.kind)
        .bind(job.project_id)
        .bind(&job.payload)
        .bind(job.priority)
        .bind(job.max_attempts)
        .bind(job.run_at)
        .bind(job.idempotency_key.as_deref())
        .bind(job.created_by)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(row) => Ok((from_row(&row)?, true)),
            None => {
                let key = job.idempotency_key.as_deref().unwrap_or_default();
                let row = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE idempotency_key = $1"
                ))
                .bind(key)
                .fetch_one(&self.pool)
                .await?;
                Ok((from_row(&row)?, false))
            }
        }
    }

    /// Enqueues a job inside the caller's transaction (no idempotency key), so the job exists
    /// exactly when the caller's other writes do (an agent's move to `deploying` and its deploy
    /// job, say).
    pub(crate) async fn enqueue_in(
        conn: &mut sqlx::AnyConnection,
        job: &NewJob,
        now: Millis,
    ) -> Result<Job> {
        let row = sqlx::query(&format!(
            "INSERT INTO jobs (kind, project_id, payload, state, priority, max_attempts, run_at, \
             created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
        ))
        .bind(&job.kind)
        .bind(job.project_id)
        .bind(&job.payload)
        .bind(job.priority)
        .bind(job.max_attempts)
        .bind(job.run_at)
        .bind(job.created_by)
        .bind(now)
        .fetch_one(conn)
        .await?;
        from_row(&row)
    }

    /// Claims up to `limit` of the most urgent due jobs of `kinds` for `owner` until
    /// `lease_until`, in one statement: a worker with several free slots fills them in one
    /// round trip.
    ///
    /// Claims go through the queue's own connections, which on PostgreSQL commit without
    /// waiting for the WAL flush (`synchronous_commit = off`). That costs no durability: a
    /// claim lost in a database crash only puts its job back in the queue, which a crash does
    /// to a running job anyway (it runs again, as the at-least-once contract says), and the
    /// WAL is one sequence, so the durable commit of the job's outcome later flushes the claim
    /// with it. Enqueueing and outcomes keep the full guarantee: a job once accepted is never
    /// lost, and one recorded as finished stays finished.
    pub async fn claim_jobs(
        &self,
        kinds: &[String],
        owner: &str,
        lease_until: Millis,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let sql = self.claim_sql(kinds);
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(i64::try_from(limit.max(1)).unwrap_or(1))
            .fetch_all(&self.queue)
            .await?;
        let mut jobs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        // RETURNING does not keep the subquery's order; the most urgent runs first.
        jobs.sort_by(|a, b| (b.priority, a.run_at, a.id).cmp(&(a.priority, b.run_at, b.id)));
        Ok(jobs)
    }

    /// The claim statement of [`Store::claim_jobs`] for `kinds` (parameters: owner,
    /// lease_until, now, limit).
    fn claim_sql(&self, kinds: &[String]) -> String {
        // Kinds are handler names from our own code, never user input; still quoted safely.
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        const SET: &str = "SET state = 'running', lease_owner = $1, lease_until = $2, \
                           attempts = attempts + 1, lease_token = lease_token + 1, \
                           started_at = COALESCE(started_at, $3), attempt_started_at = $3, \
                           updated_at = $3";
        // SQLite without statistics (nothing runs ANALYZE) walked an index on `state` for
        // `state = 'queued'` and sorted every queued job on each claim, so a claim cost more the
        // deeper the queue; told which index to read, it takes the first entries of the claim
        // order (PostgreSQL is steered the same way by its queue sessions' settings).
        let from = match self.backend {
            Backend::Sqlite => "jobs INDEXED BY jobs_queued",
            Backend::Postgres => "jobs",
        };
        let due = format!(
            "SELECT id FROM {from} WHERE state = 'queued' AND run_at <= $3 AND kind IN ({kinds}) \
             ORDER BY priority DESC, run_at, id LIMIT $4"
        );
        match self.backend {
            // The candidates are picked once, in a materialised CTE: as an `IN (subquery)` the
            // planner may run the locking subquery more than once and claim more than `limit`.
            Backend::Postgres => format!(
                "WITH picked AS MATERIALIZED ({due} FOR UPDATE SKIP LOCKED) \
                 UPDATE jobs {SET} FROM picked WHERE jobs.id = picked.id \
                 AND jobs.state = 'queued' RETURNING {}",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("jobs.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            // One writer at a time: the subquery and the update are one step. `+state` keeps
            // the planner on the primary key for the picked ids (on `state` it would walk every
            // queued job's index entry and test each id against the list).
            Backend::Sqlite => format!(
                "UPDATE jobs {SET} WHERE id IN ({due}) AND +state = 'queued' RETURNING {COLUMNS}"
            ),
        }
    }

    /// How jobs' outcomes commit, as the database reports it for the sessions writing them:
    /// PostgreSQL's `synchronous_commit` (`on` unless `jobs.durable_outcomes` is off: each
    /// outcome batch waits for the WAL flush), SQLite's `synchronous` level (`1`, NORMAL, in
    /// WAL mode: a commit survives the process crashing, not the machine losing power).
    pub async fn outcome_commit(&self) -> Result<String> {
        Ok(match self.backend {
            Backend::Postgres => {
                sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                    .fetch_one(&self.outcomes)
                    .await?
            }
            Backend::Sqlite => sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
                .fetch_one(&self.outcomes)
                .await?
                .to_string(),
        })
    }

    /// Claims the most urgent due job of `kinds` for `owner` until `lease_until`.
    pub async fn claim_job(
        &self,
        kinds: &[String],
        owner: &str,
        lease_until: Millis,
        now: Millis,
    ) -> Result<Option<Job>> {
        Ok(self
            .claim_jobs(kinds, owner, lease_until, now, 1)
            .await?
            .pop())
    }

    /// Puts jobs `owner` claimed but never started back in the queue, as if never claimed.
    pub async fn release_jobs(&self, ids: &[i64], owner: &str, now: Millis) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL, \
             lease_until = NULL, started_at = CASE WHEN attempts <= 1 THEN NULL \
             ELSE started_at END, updated_at = $2 \
             WHERE id IN ({list}) AND lease_owner = $1 AND state = 'running'"
        ))
        .bind(owner)
        .bind(now)
        .execute(&self.queue)
        .await?
        .rows_affected())
    }

    /// Extends a lease; returns whether cancellation was asked, or `LeaseLost` when the lease
    /// was lost (expired and taken over, or the job was deleted).
    pub async fn heartbeat(&self, lease: &Lease, lease_until: Millis, now: Millis) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_until = $4, updated_at = $5 \
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running' \
             RETURNING cancel_requested",
        )
        .bind(lease.job_id)
        .bind(&lease.owner)
        .bind(lease.token)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::LeaseLost)?;
        Ok(row.try_get::<i64, _>("cancel_requested")? != 0)
    }

    /// Records progress of a running attempt (only while it holds its lease).
    pub async fn job_progress(
        &self,
        lease: &Lease,
        done: i64,
        total: Option<i64>,
        message: &str,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET progress_done = $4, progress_total = $5, progress_message = $6, \
             updated_at = $7 \
             WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND state = 'running'",
        )
        .bind(lease.job_id)
        .bind(&lease.owner)
        .bind(lease.token)
        .bind(done)
        .bind(total)
        .bind(message)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Asks a job to stop: a queued job is cancelled at once, a running one is told at its
    /// next heartbeat. Returns the job after the change.
    pub async fn cancel_job(&self, id: i64, now: Millis) -> Result<Job> {
        sqlx::query(
            "UPDATE jobs SET state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END, \
             finished_at = CASE WHEN state = 'queued' THEN $2 ELSE finished_at END, \
             cancel_requested = CASE WHEN state = 'running' THEN 1 ELSE cancel_requested END, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_job(id).await
    }

    /// Puts a dead, cancelled or succeeded job back in the queue with fresh attempts (and no
    /// checkpoint: it is a new run). Its history of attempts stays (a success, which the row
    /// held, is copied into it first).
    pub async fn retry_job(&self, id: i64, now: Millis) -> Result<Option<Job>> {
        let mut tx = self.begin_write().await?;
        Self::keep_success(&mut tx, id).await?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, cancel_requested = 0, \
             last_error = NULL, checkpoint = NULL, postponements = 0, finished_at = NULL, \
             lease_owner = NULL, updated_at = $2 \
             WHERE id = $1 AND state IN ('dead', 'cancelled', 'succeeded') RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The oldest queued or running job of `kind`, if any (for kinds that run one at a time,
    /// such as backups).
    pub async fn unfinished_job_of_kind(&self, kind: &str) -> Result<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE kind = $1 AND state IN ('queued', 'running') \
             ORDER BY id LIMIT 1"
        ))
        .bind(kind)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One job.
    pub async fn get_job(&self, id: i64) -> Result<Job> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Jobs in id order, a page at a time.
    pub async fn list_jobs(
        &self,
        filter: &JobFilter<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Page<Job>> {
        let visible = match filter.projects {
            None => String::new(),
            Some([]) => " AND 1 = 0".into(),
            Some(ids) => format!(
                " AND project_id IN ({})",
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE id > $1 AND ($2 IS NULL OR project_id = $2) \
             AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR state = $4){visible} \
             ORDER BY id LIMIT $5"
        ))
        .bind(after)
        .bind(filter.project_id)
        .bind(filter.kind)
        .bind(filter.state.map(JobState::as_str))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let jobs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(jobs, limit, |j| j.id))
    }

    /// Counts of jobs by state (queue depth and friends), for metrics.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
