//! Cron schedules (periodic syncs). Every worker ticks them; for each due schedule, the worker
//! that moves `next_run_at` on — an `UPDATE` guarded by the value it read — enqueues the run,
//! with an idempotency key naming the slot. However many workers tick, each slot runs once.

use std::str::FromStr;

use sqlx::Row;

use super::DEFAULT_MAX_ATTEMPTS;
use crate::clock::Millis;
use crate::store::jobs::NewJob;
use crate::store::{Store, StoreError};

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse or never fires.
    #[error("{0}")]
    Cron(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a cron expression: five fields (`*/15 * * * *`, minute first) or the six/seven of
/// the `cron` crate (seconds first). Times are UTC.
pub fn parse(expression: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields = expression.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {expression}")
    } else {
        expression.to_owned()
    };
    cron::Schedule::from_str(&full).map_err(|e| ScheduleError::Cron(format!("{expression:?}: {e}")))
}

/// The first time `schedule` fires after `after`.
pub fn next_after(schedule: &cron::Schedule, after: Millis) -> Result<Millis, ScheduleError> {
    let after = chrono::DateTime::from_timestamp_millis(after.as_ms())
        .ok_or_else(|| ScheduleError::Cron("time out of range".into()))?;
    schedule
        .after(&after)
        .next()
        .map(|t| Millis::from_ms(t.timestamp_millis()))
        .ok_or_else(|| ScheduleError::Cron("the expression never fires".into()))
}

/// Creates or replaces the schedule `name`.
pub async fn upsert(
    store: &Store,
    name: &str,
    job: &NewJob,
    expression: &str,
    now: Millis,
) -> Result<Millis, ScheduleError> {
    let next = next_after(&parse(expression)?, now)?;
    sqlx::query(
        "INSERT INTO job_schedules (name, kind, project_id, payload, cron, next_run_at, enabled, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) \
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, project_id = excluded.project_id, \
         payload = excluded.payload, cron = excluded.cron, next_run_at = excluded.next_run_at, \
         enabled = 1, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(&job.kind)
    .bind(job.project_id)
    .bind(&job.payload)
    .bind(expression)
    .bind(next)
    .bind(now)
    .execute(store.pool())
    .await
    .map_err(StoreError::from)?;
    Ok(next)
}

/// Removes the schedule `name`; whether there was one.
pub async fn remove(store: &Store, name: &str) -> Result<bool, ScheduleError> {
    Ok(sqlx::query("DELETE FROM job_schedules WHERE name = $1")
        .bind(name)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected()
        == 1)
}

/// A stored schedule, as [`get`] reads it.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The cron expression.
    pub cron: String,
    /// The next slot.
    pub next_run_at: Millis,
    /// The payload of the jobs it enqueues.
    pub payload: String,
}

/// The schedule `name`, if it exists.
pub async fn get(store: &Store, name: &str) -> Result<Option<Schedule>, ScheduleError> {
    let row = sqlx::query("SELECT cron, next_run_at, payload FROM job_schedules WHERE name = $1")
        .bind(name)
        .fetch_optional(store.pool())
        .await
        .map_err(StoreError::from)?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Schedule {
        cron: r.try_get("cron").map_err(StoreError::from)?,
        next_run_at: r.try_get("next_run_at").map_err(StoreError::from)?,
        payload: r.try_get("payload").map_err(StoreError::from)?,
    }))
}

/// Enqueues the runs of every due schedule this worker wins; returns how many.
pub async fn tick(store: &Store, now: Millis) -> Result<usize, ScheduleError> {
    let due = sqlx::query(
        "SELECT id, kind, project_id, payload, cron, next_run_at FROM job_schedules \
         WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at LIMIT 100",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await
    .map_err(StoreError::from)?;
    let mut enqueued = 0;
    for row in due {
        let id: i64 = row.try_get("id").map_err(StoreError::from)?;
        let slot: Millis = row.try_get("next_run_at").map_err(StoreError::from)?;
        let expression: String = row.try_get("cron").map_err(StoreError::from)?;
        let next = match parse(&expression).and_then(|s| next_after(&s, now)) {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(schedule = id, "disabling a schedule that cannot fire: {e}");
                sqlx::query("UPDATE job_schedules SET enabled = 0 WHERE id = $1")
                    .bind(id)
                    .execute(store.pool())
                    .await
                    .map_err(StoreError::from)?;
                continue;
            }
        };
        let won = sqlx::query(
            "UPDATE job_schedules SET next_run_at = $3, updated_at = $4 \
             WHERE id = $1 AND next_run_at = $2",
        )
        .bind(id)
        .bind(slot)
        .bind(next)
        .bind(now)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?
        .rows_affected()
            == 1;
        if !won {
            continue;
        }
        let job = NewJob {
            kind: row.try_get("kind").map_err(StoreError::from)?,
            project_id: row.try_get("project_id").map_err(StoreError::from)?,
            payload: row.try_get("payload").map_err(StoreError::from)?,
            priority: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: now,
            // Even a worker that won a slot twice (clock trouble) enqueues it once.
            idempotency_key: Some(format!("schedule:{id}:{}", slot.as_ms())),
            created_by: None,
        };
        store.enqueue(&job, now).await?;
        enqueued += 1;
    }
    Ok(enqueued)
}
