//! The runs of component agents: the chain of `agent.run` jobs, each finished run with what the
//! host measured, the health that follows, and the events people watching the agent are told.
//!
//! An agent runs one run at a time: `agents.run_job_id` names the run job queued or running
//! now, and every write of a run is guarded by it (and fenced by the run job's lease), so a run
//! job that is no longer the agent's — the agent was stopped, redeployed, or another attempt
//! took over — changes nothing.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::agents::{from_row, Agent, Health, COLUMNS};
use super::job_attempts::Fence;
use super::jobs::NewJob;
use super::{Page, Result, Store};
use crate::clock::Millis;
use crate::ids::{AgentId, JobId, UserId};

/// A finished run, as stored.
#[derive(Debug, Clone)]
pub struct AgentRun {
    /// Sequence number (the cursor).
    pub id: i64,
    /// The run job.
    pub job_id: Option<i64>,
    /// The run's number in its deployment.
    pub run: i64,
    /// When it started (host clock).
    pub started_at: Millis,
    /// How long it took, measured by the host.
    pub duration_ms: i64,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// The agent's one-line summary.
    pub summary: Option<String>,
    /// Name → number (JSON object text): the host's measurements and the agent's metrics.
    pub metrics: String,
    /// JSON array of `{kind, message}`.
    pub events: String,
    /// What started it: `schedule`, `retry`, `sync-finished` or `records-changed` (`None` for
    /// runs recorded before the host kept it).
    pub triggered_by: Option<String>,
}

/// What a finished run writes.
#[derive(Debug)]
pub struct FinishedRun<'a> {
    /// The agent.
    pub agent_id: i64,
    /// The run job (its lease fences the write).
    pub job_id: i64,
    /// The run's number.
    pub run: i64,
    /// When it started.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: i64,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// The agent's summary.
    pub summary: Option<&'a str>,
    /// The state for the next run; `None` keeps the current one.
    pub state: Option<&'a str>,
    /// Metrics (JSON object text).
    pub metrics: &'a str,
    /// Events (JSON array text).
    pub events: &'a str,
    /// The events, as rows of the agent's event stream: (kind, message).
    pub event_rows: &'a [(String, String)],
    /// What started the run (`schedule`, `retry`, `sync-finished`, `records-changed`).
    pub triggered_by: &'a str,
    /// The pending event the run consumed (as read when it started): cleared unless another
    /// one arrived meanwhile, which then makes the next run due at once.
    pub consumed_event: Option<&'a str>,
    /// Failed runs in a row at which the agent is unhealthy.
    pub unhealthy_after: i64,
    /// Metrics samples older than this are deleted.
    pub keep_after: Millis,
    /// At most this many metrics samples are kept.
    pub max_samples: i64,
    /// Now.
    pub now: Millis,
}

/// The agent after a run was recorded, with its health before.
#[derive(Debug)]
pub struct RunRecorded {
    /// The agent as it now is.
    pub agent: Agent,
    /// `run_health` before this run.
    pub health_before: Option<Health>,
}

/// One entry of an agent's event stream.
#[derive(Debug, Clone)]
pub struct AgentEventRow {
    /// Sequence number (the cursor, and the SSE event id).
    pub id: i64,
    /// When.
    pub at: Millis,
    /// `alert.unhealthy`, `alert.recovered`, or the agent's own kind (`agent.<kind>`).
    pub kind: String,
    /// What happened.
    pub message: String,
}

fn run_from_row(r: &AnyRow) -> Result<AgentRun> {
    Ok(AgentRun {
        id: r.try_get("id")?,
        job_id: r.try_get("job_id")?,
        run: r.try_get("run")?,
        started_at: r.try_get("started_at")?,
        duration_ms: r.try_get("duration_ms")?,
        succeeded: r.try_get::<i64, _>("succeeded")? != 0,
        error: r.try_get("error")?,
        summary: r.try_get("summary")?,
        metrics: r.try_get("metrics")?,
        events: r.try_get("events")?,
        triggered_by: r.try_get("triggered_by")?,
    })
}

impl Store {
    /// Ends the deploy `job`: the agent runs from `now` with `grant`, its run counters reset,
    /// and (for component agents) its first run enqueued in the same transaction. `None` when
    /// the agent is no longer deploying under that job (stopped meanwhile, or deleted).
    pub async fn start_agent_runs(
        &self,
        id: AgentId,
        job: JobId,
        grant: &str,
        deployed_by: Option<UserId>,
        first_run: Option<&NewJob>,
        now: Millis,
    ) -> Result<Option<Option<i64>>> {
        let (id, job, deployed_by) = (id.get(), job.get(), deployed_by.map(UserId::get));
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE agents SET state = 'running', running_since = $3, job_id = NULL, \
             last_error = NULL, updated_at = $3, grant_permissions = $4, deployed_by = $5, \
             run_job_id = NULL, run_state = NULL, runs = 0, failures = 0, \
             consecutive_failures = 0, last_run_at = NULL, last_success_at = NULL, \
             last_duration_ms = NULL, run_health = NULL, pending_event = NULL \
             WHERE id = $1 AND state = 'deploying' AND job_id = $2",
        )
        .bind(id)
        .bind(job)
        .bind(now)
        .bind(grant)
        .bind(deployed_by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let run_job = match first_run {
            Some(new) => {
                let run = Store::enqueue_in(&mut tx, new, now).await?;
                sqlx::query("UPDATE agents SET run_job_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(run.id)
                    .execute(&mut *tx)
                    .await?;
                Some(run.id)
            }
            None => None,
        };
        tx.commit().await?;
        Ok(Some(run_job))
    }

    /// Ends the stop `job`: the agent is `stopped` and its run chain ends. Returns the run job
    /// that was queued or running, to be cancelled; `None` (outer) when the agent is no longer
    /// stopping under that job.
    pub async fn stop_agent_runs(
        &self,
        id: AgentId,
        job: JobId,
        now: Millis,
    ) -> Result<Option<Option<i64>>> {
        let (id, job) = (id.get(), job.get());
        let mut tx = self.begin_write().await?;
        let run_job: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT run_job_id FROM agents WHERE id = $1 AND state = 'stopping' AND job_id = $2",
        )
        .bind(id)
        .bind(job)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(run_job) = run_job else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query(
            "UPDATE agents SET state = 'stopped', last_error = NULL, job_id = NULL, \
             run_job_id = NULL, pending_event = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(run_job))
    }

    /// Records a finished run of the agent's current run job and enqueues the next one, in one
    /// transaction fenced by the run job's lease. `None` when the job is no longer the agent's
    /// current run (stopped, redeployed): nothing is written.
    pub async fn finish_agent_run(
        &self,
        run: &FinishedRun<'_>,
        next: &NewJob,
        fence: Option<&Fence<'_>>,
    ) -> Result<Option<RunRecorded>> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, run.now).await?;
        }
        let before = sqlx::query(
            "SELECT run_health, pending_event FROM agents WHERE id = $1 AND state = 'running' \
             AND run_job_id = $2",
        )
        .bind(run.agent_id)
        .bind(run.job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            tx.rollback().await?;
            return Ok(None);
        };
        let health_before: Option<Health> = super::decode_optional_name(&before, "run_health")?;
        let pending: Option<String> = before.try_get("pending_event")?;
        // An event that arrived while this run ran (not the one it consumed) is due at once.
        let event_waits = pending.is_some() && pending.as_deref() != run.consumed_event;
        let brought_forward;
        let next = if event_waits && next.run_at > run.now {
            brought_forward = NewJob {
                run_at: run.now,
                ..next.clone()
            };
            &brought_forward
        } else {
            next
        };
        sqlx::query(
            "INSERT INTO agent_runs (agent_id, job_id, run, started_at, duration_ms, succeeded, \
             error, summary, metrics, events, triggered_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(run.agent_id)
        .bind(run.job_id)
        .bind(run.run)
        .bind(run.started_at)
        .bind(run.duration_ms)
        .bind(i64::from(run.error.is_none()))
        .bind(run.error)
        .bind(run.summary)
        .bind(run.metrics)
        .bind(run.events)
        .bind(run.triggered_by)
        .execute(&mut *tx)
        .await?;
        let next_job = Store::enqueue_in(&mut tx, next, run.now).await?;
        let ok = i64::from(run.error.is_none());
        let row = sqlx::query(&format!(
            "UPDATE agents SET runs = runs + 1, failures = failures + (1 - $2), \
             consecutive_failures = CASE WHEN $2 = 1 THEN 0 ELSE consecutive_failures + 1 END, \
             last_run_at = $3, \
             last_success_at = CASE WHEN $2 = 1 THEN $3 ELSE last_success_at END, \
             last_duration_ms = $4, run_state = COALESCE($5, run_state), \
             last_error = $6, last_metrics = $7, run_job_id = $8, updated_at = $9, \
             pending_event = CASE WHEN pending_event = $10 THEN NULL ELSE pending_event END \
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(run.agent_id)
        .bind(ok)
        .bind(run.started_at)
        .bind(run.duration_ms)
        .bind(run.state)
        .bind(run.error)
        .bind(run.metrics)
        .bind(next_job.id)
        .bind(run.now)
        .bind(run.consumed_event)
        .fetch_one(&mut *tx)
        .await?;
        let mut agent = from_row(&row)?;
        let health = if agent.consecutive_failures >= run.unhealthy_after.max(1) {
            Health::Unhealthy
        } else if agent.consecutive_failures == 0 {
            Health::Healthy
        } else {
            // Failing, but not yet as often as the kind allows: health stays as it was (a
            // first failure after success is not yet an outage).
            health_before.unwrap_or(Health::Healthy)
        };
        sqlx::query("UPDATE agents SET run_health = $2 WHERE id = $1")
            .bind(run.agent_id)
            .bind(health.as_str())
            .execute(&mut *tx)
            .await?;
        agent.run_health = Some(health);
        sqlx::query("INSERT INTO agent_metrics (agent_id, at, metrics) VALUES ($1, $2, $3)")
            .bind(run.agent_id)
            .bind(run.now)
            .bind(run.metrics)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM agent_metrics WHERE agent_id = $1 AND (at < $2 OR id <= \
             (SELECT id FROM agent_metrics WHERE agent_id = $1 ORDER BY id DESC \
              LIMIT 1 OFFSET $3))",
        )
        .bind(run.agent_id)
        .bind(run.keep_after)
        .bind(run.max_samples)
        .execute(&mut *tx)
        .await?;
        for (kind, message) in run.event_rows {
            Self::event_in(&mut tx, run.agent_id, kind, message, run.now).await?;
        }
        tx.commit().await?;
        Ok(Some(RunRecorded {
            agent,
            health_before,
        }))
    }

    async fn event_in(
        conn: &mut sqlx::AnyConnection,
        agent_id: i64,
        kind: &str,
        message: &str,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_events (agent_id, at, kind, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(agent_id)
        .bind(now)
        .bind(kind)
        .bind(message)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Appends an entry to the agent's event stream (alerts).
    pub async fn append_agent_event(
        &self,
        agent_id: i64,
        kind: &str,
        message: &str,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO agent_events (agent_id, at, kind, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(agent_id)
        .bind(now)
        .bind(kind)
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A page of the agent's finished runs, oldest first.
    pub async fn list_agent_runs(
        &self,
        agent_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<AgentRun>> {
        let rows = sqlx::query(
            "SELECT id, job_id, run, started_at, duration_ms, succeeded, error, summary, \
             metrics, events, triggered_by FROM agent_runs WHERE agent_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(agent_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let runs = rows.iter().map(run_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(runs, limit, |r| r.id))
    }

    /// A page of the agent's event stream after `after`, oldest first.
    pub async fn list_agent_events(
        &self,
        agent_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<AgentEventRow>> {
        let rows = sqlx::query(
            "SELECT id, at, kind, message FROM agent_events WHERE agent_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(agent_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(|r| {
                Ok(AgentEventRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(events, limit, |e| e.id))
    }

    /// The id of the agent's newest event (0 when none): where a live stream starts.
    pub async fn latest_agent_event(&self, agent_id: i64) -> Result<i64> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM agent_events WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(id.unwrap_or(0))
    }
}

impl Store {
    /// The running agents of a project that run on the host (every kind but `external`): those
    /// a sync event may concern.
    pub async fn running_component_agents(&self, project_id: i64) -> Result<Vec<Agent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agents WHERE project_id = $1 AND state = 'running' \
             AND kind <> 'external' ORDER BY id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Records `event` (JSON text) as the running agent's pending event and makes its queued
    /// next run due at `due` unless it is due sooner. A run under way finds the event when it
    /// is recorded and makes the run after it due at once ([`Store::finish_agent_run`]).
    /// `false` when the agent is no longer running.
    pub async fn bring_agent_run_forward(
        &self,
        agent_id: i64,
        event: &str,
        due: Millis,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let run_job: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE agents SET pending_event = $2 WHERE id = $1 AND state = 'running' \
             RETURNING run_job_id",
        )
        .bind(agent_id)
        .bind(event)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(run_job) = run_job else {
            tx.rollback().await?;
            return Ok(false);
        };
        if let Some(job) = run_job {
            sqlx::query(
                "UPDATE jobs SET run_at = $2 \
                 WHERE id = $1 AND state = 'queued' AND run_at > $2",
            )
            .bind(job)
            .bind(due)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
#[path = "agent_runs_tests.rs"]
mod tests;
