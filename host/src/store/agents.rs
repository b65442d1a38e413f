//! Agents, their lifecycle transitions, runtime tokens, heartbeats and metrics samples.
//!
//! Every lifecycle write is guarded by the state it leaves (and, for the end of a deploy or stop,
//! by the job that was asked to do it), so two requests, or a request and a job, racing on one
//! agent cannot both win: the loser changes nothing and learns so.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::jobs::{Job, NewJob};
use super::{Page, Result, Store, StoreError};
use crate::clock::Millis;
use crate::ids::{AgentId, JobId, ProjectId, UserId};
use crate::names::named_enum;

named_enum! {
    /// Where an agent is in its lifecycle, as the API names it (`?state=` and an agent's
    /// `state`).
    ///
    /// Stored by its name and declared as an enum in the OpenAPI document. It lives with the
    /// store, which reads and writes it; `agents` re-exports it.
    pub enum AgentState as "agent state" {
        /// Configured, never deployed.
        Draft = "draft",
        /// A deploy job is under way.
        Deploying = "deploying",
        /// Deployed and running.
        Running = "running",
        /// A stop job is under way.
        Stopping = "stopping",
        /// Stopped on request.
        Stopped = "stopped",
        /// A deploy or stop failed (`last_error` says why).
        Failed = "failed",
    }
}

named_enum! {
    /// How a running agent is doing, as the API names it (`?health=` and an agent's `health`).
    ///
    /// The store keeps the measured health of component kinds' runs (`run_health`: `healthy`
    /// or `unhealthy`, never `unknown`) and filters the agent list by it; `agents` re-exports
    /// it and judges the rest (see [`crate::agents::health`]).
    pub enum Health as "agent health" {
        /// Running; component kinds: the last run succeeded (or failed fewer times in a row
        /// than `unhealthy_after` after a success); `external`: a heartbeat of this run
        /// arrived within the timeout.
        Healthy = "healthy",
        /// Running; component kinds: `unhealthy_after` runs in a row failed; `external`:
        /// neither a heartbeat nor the start of the run within the timeout.
        Unhealthy = "unhealthy",
        /// Not running, or running without a finished run (heartbeat) yet.
        Unknown = "unknown",
    }
}

impl AgentState {
    /// Idle: nothing under way, so the agent may be edited, deployed or deleted.
    pub const IDLE: [AgentState; 3] = [AgentState::Draft, AgentState::Stopped, AgentState::Failed];

    /// Whether the agent is idle (see [`AgentState::IDLE`]).
    pub fn is_idle(self) -> bool {
        Self::IDLE.contains(&self)
    }
}

/// An agent as stored (with its token hash, which never leaves the host).
#[derive(Debug, Clone)]
pub struct Agent {
    /// Primary key.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Unique within the project.
    pub name: String,
    /// Kind (`web-monitor`, …): decides the config schema.
    pub kind: String,
    /// Configuration (JSON text), valid against the kind's schema.
    pub config: String,
    /// Where it is in its lifecycle.
    pub state: AgentState,
    /// Why the last deploy or stop failed.
    pub last_error: Option<String>,
    /// The deploy or stop job under way.
    pub job_id: Option<i64>,
    /// Lookup part of the runtime token.
    pub token_prefix: Option<String>,
    /// SHA-256 hex of the runtime token.
    pub token_hash: Option<String>,
    /// When the current runtime token was issued.
    pub token_issued_at: Option<Millis>,
    /// When the current run started (deploy finished).
    pub running_since: Option<Millis>,
    /// Last heartbeat received.
    pub last_heartbeat_at: Option<Millis>,
    /// Metrics of the last heartbeat that carried any (JSON object text).
    pub last_metrics: Option<String>,
    /// Creator.
    pub created_by: Option<i64>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// What the agent's platform calls may use (JSON array of permission names), fixed at
    /// deploy; `None` before the first deploy.
    pub grant_permissions: Option<String>,
    /// Who deployed it last.
    pub deployed_by: Option<i64>,
    /// The `agent.run` job queued or running now (component agents).
    pub run_job_id: Option<i64>,
    /// The agent's own state between runs (JSON text it returned).
    pub run_state: Option<String>,
    /// Runs finished since the last deploy.
    pub runs: i64,
    /// Of which failed.
    pub failures: i64,
    /// Failed runs in a row.
    pub consecutive_failures: i64,
    /// When the last run started.
    pub last_run_at: Option<Millis>,
    /// When the last successful run started.
    pub last_success_at: Option<Millis>,
    /// How long the last run took.
    pub last_duration_ms: Option<i64>,
    /// Healthy or unhealthy as measured from runs; `None` before the first.
    pub run_health: Option<Health>,
    /// The latest sync event (JSON text, [`crate::agents::triggers::SyncEvent`]) that brought
    /// the next run forward and no run has consumed yet.
    pub pending_event: Option<String>,
}

pub(super) const COLUMNS: &str = "id, project_id, name, kind, config, state, last_error, job_id, \
    token_prefix, token_hash, token_issued_at, running_since, last_heartbeat_at, last_metrics, \
    created_by, created_at, updated_at, grant_permissions, deployed_by, run_job_id, run_state, \
    runs, failures, consecutive_failures, last_run_at, last_success_at, last_duration_ms, \
    run_health, pending_event";

pub(super) fn from_row(row: &AnyRow) -> Result<Agent> {
    Ok(Agent {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        config: row.try_get("config")?,
        state: super::decode_name(row, "state")?,
        last_error: row.try_get("last_error")?,
        job_id: row.try_get("job_id")?,
        token_prefix: row.try_get("token_prefix")?,
        token_hash: row.try_get("token_hash")?,
        token_issued_at: row.try_get("token_issued_at")?,
        running_since: row.try_get("running_since")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        last_metrics: row.try_get("last_metrics")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        grant_permissions: row.try_get("grant_permissions")?,
        deployed_by: row.try_get("deployed_by")?,
        run_job_id: row.try_get("run_job_id")?,
        run_state: row.try_get("run_state")?,
        runs: row.try_get("runs")?,
        failures: row.try_get("failures")?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        last_run_at: row.try_get("last_run_at")?,
        last_success_at: row.try_get("last_success_at")?,
        last_duration_ms: row.try_get("last_duration_ms")?,
        run_health: super::decode_optional_name(row, "run_health")?,
        pending_event: row.try_get("pending_event")?,
    })
}

/// Filters of the agent list.
#[derive(Debug, Default)]
pub struct AgentFilter {
    /// One lifecycle state.
    pub state: Option<AgentState>,
    /// One health, judged against `cutoff` (now minus the heartbeat timeout).
    pub health: Option<(Health, Millis)>,
}

/// One metrics sample.
#[derive(Debug, Clone)]
pub struct MetricsSample {
    /// Sequence number (the cursor).
    pub id: i64,
    /// When it was received.
    pub at: Millis,
    /// Name → number (JSON object text).
    pub metrics: String,
}

/// What a heartbeat writes.
#[derive(Debug)]
pub struct Heartbeat<'a> {
    /// Metrics JSON, if the heartbeat carried any.
    pub metrics: Option<&'a str>,
    /// Receipt time.
    pub now: Millis,
    /// Samples older than this are deleted.
    pub keep_after: Millis,
    /// At most this many samples are kept per agent.
    pub max_samples: i64,
}

/// `states` as an SQL list of quoted names (`'draft', 'stopped'`).
fn state_list(states: &[AgentState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) const HEALTHY: &str = "(state = 'running' AND ((kind = 'external' \
    AND COALESCE(last_heartbeat_at, 0) >= running_since \
    AND COALESCE(last_heartbeat_at, 0) >= $2) \
    OR (kind <> 'external' AND COALESCE(run_health, '') = 'healthy')))";
pub(super) const UNHEALTHY: &str = "(state = 'running' AND ((kind = 'external' \
    AND running_since < $2 AND COALESCE(last_heartbeat_at, 0) < $2) \
    OR (kind <> 'external' AND COALESCE(run_health, '') = 'unhealthy')))";

impl Store {
    /// Creates a draft agent; a name taken in the project is a `Conflict`.
    pub async fn create_agent(
        &self,
        project_id: ProjectId,
        name: &str,
        kind: &str,
        config: &str,
        by: UserId,
        now: Millis,
    ) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "INSERT INTO agents (project_id, name, kind, config, state, created_by, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, 'draft', $5, $6, $6) RETURNING {COLUMNS}"
        ))
        .bind(project_id.get())
        .bind(name)
        .bind(kind)
        .bind(config)
        .bind(by.get())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        from_row(&row)
    }

    /// One agent of a project.
    pub async fn get_agent(&self, project_id: i64, id: i64) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agents WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// One agent, whatever its project (job handlers).
    pub async fn agent_by_id(&self, id: i64) -> Result<Agent> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// The agent whose runtime token has this prefix.
    pub async fn agent_by_token_prefix(&self, prefix: &str) -> Result<Option<Agent>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agents WHERE token_prefix = $1"
        ))
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A page of a project's agents, by id.
    pub async fn list_agents(
        &self,
        project_id: i64,
        filter: &AgentFilter,
        after: i64,
        limit: i64,
    ) -> Result<Page<Agent>> {
        let health = match filter.health {
            None => "$2 = $2".to_owned(),
            Some((Health::Healthy, _)) => HEALTHY.to_owned(),
            Some((Health::Unhealthy, _)) => UNHEALTHY.to_owned(),
            Some((Health::Unknown, _)) => format!("(NOT {HEALTHY} AND NOT {UNHEALTHY})"),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM agents WHERE project_id = $1 AND id > $3 \
             AND ($4 IS NULL OR state = $4) AND {health} ORDER BY id LIMIT $5"
        ))
        .bind(project_id)
        .bind(filter.health.map_or(Millis::EPOCH, |(_, cutoff)| cutoff))
        .bind(after)
        .bind(filter.state.map(AgentState::as_str))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let agents = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(agents, limit, |a| a.id))
    }

    /// Renames and reconfigures an agent that is still in `expected_state`; `Stale` when it
    /// moved meanwhile, `Duplicate` when the name is taken.
    pub async fn update_agent(
        &self,
        id: i64,
        expected_state: AgentState,
        name: &str,
        config: &str,
        now: Millis,
    ) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "UPDATE agents SET name = $3, config = $4, updated_at = $5 \
             WHERE id = $1 AND state = $2 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(expected_state.as_str())
        .bind(name)
        .bind(config)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Stale("the agent changed state meanwhile"))?;
        from_row(&row)
    }

    /// Deletes an idle agent (draft, stopped, failed) with its metrics; whether it was deleted.
    pub async fn delete_idle_agent(&self, id: i64) -> Result<bool> {
        let idle = state_list(&AgentState::IDLE);
        let mut tx = self.begin_write().await?;
        for table in ["agent_metrics", "agent_runs", "agent_events"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE agent_id = $1 AND EXISTS \
                 (SELECT 1 FROM agents WHERE id = $1 AND state IN ({idle}))"
            ))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let deleted = sqlx::query(&format!(
            "DELETE FROM agents WHERE id = $1 AND state IN ({idle})"
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Moves an agent from one of `from` to `to` and enqueues the job that finishes the move, in
    /// one transaction; `None` (nothing changed) when the agent was not in one of `from`.
    pub async fn start_transition(
        &self,
        id: i64,
        from: &[AgentState],
        to: AgentState,
        job: &NewJob,
        now: Millis,
    ) -> Result<Option<(Agent, Job)>> {
        // The names are the enum's constants, never input: safe to write into the statement.
        let from = state_list(from);
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(&format!(
            "UPDATE agents SET state = $2, updated_at = $3 WHERE id = $1 AND state IN ({from}) \
             RETURNING id"
        ))
        .bind(id)
        .bind(to.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if moved.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let job = Store::enqueue_in(&mut tx, job, now).await?;
        let row = sqlx::query(&format!(
            "UPDATE agents SET job_id = $2, last_error = NULL WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(job.id)
        .fetch_one(&mut *tx)
        .await?;
        let agent = from_row(&row)?;
        tx.commit().await?;
        Ok(Some((agent, job)))
    }

    /// Ends the transition `job` left `from`, landing in `to` with `error` (if any) recorded;
    /// `false` when the agent is no longer in `from` under that job.
    pub async fn settle_agent(
        &self,
        id: AgentId,
        job: JobId,
        from: AgentState,
        to: AgentState,
        error: Option<&str>,
        now: Millis,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE agents SET state = $4, last_error = $5, job_id = NULL, updated_at = $6 \
             WHERE id = $1 AND state = $3 AND job_id = $2",
        )
        .bind(id.get())
        .bind(job.get())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Replaces the agent's runtime token (the old one stops working at once).
    pub async fn set_agent_token(
        &self,
        id: i64,
        prefix: &str,
        hash: &str,
        now: Millis,
    ) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "UPDATE agents SET token_prefix = $2, token_hash = $3, token_issued_at = $4, \
             updated_at = $4 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(prefix)
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Records a heartbeat of a deploying or running agent (and its metrics sample, pruning old
    /// ones); `None` when the agent is in another state.
    pub async fn record_heartbeat(&self, id: i64, beat: &Heartbeat<'_>) -> Result<Option<Agent>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE agents SET last_heartbeat_at = $2, last_metrics = COALESCE($3, last_metrics) \
             WHERE id = $1 AND state IN ('deploying', 'running') RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(beat.now)
        .bind(beat.metrics)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let agent = from_row(&row)?;
        if let Some(metrics) = beat.metrics {
            sqlx::query("INSERT INTO agent_metrics (agent_id, at, metrics) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(beat.now)
                .bind(metrics)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM agent_metrics WHERE agent_id = $1 AND (at < $2 OR id <= \
                 (SELECT id FROM agent_metrics WHERE agent_id = $1 ORDER BY id DESC \
                  LIMIT 1 OFFSET $3))",
            )
            .bind(id)
            .bind(beat.keep_after)
            .bind(beat.max_samples)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(agent))
    }

    /// A page of an agent's metrics samples received in `[since, until)`, oldest first.
    pub async fn list_agent_metrics(
        &self,
        agent_id: i64,
        since: Millis,
        until: Millis,
        after: i64,
        limit: i64,
    ) -> Result<Page<MetricsSample>> {
        let rows = sqlx::query(
            "SELECT id, at, metrics FROM agent_metrics WHERE agent_id = $1 AND at >= $2 \
             AND at < $3 AND id > $4 ORDER BY id LIMIT $5",
        )
        .bind(agent_id)
        .bind(since)
        .bind(until)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let samples = rows
            .iter()
            .map(|r| {
                Ok(MetricsSample {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    metrics: r.try_get("metrics")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(samples, limit, |s| s.id))
    }
}
