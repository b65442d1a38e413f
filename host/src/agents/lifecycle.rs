//! Deploy and stop: the jobs that move an agent into and out of `running`.
//!
//! `POST …/deploy` moves an idle agent (draft, stopped, failed) to `deploying` and enqueues an
//! [`super::DEPLOY`] job in the same transaction; its handler ([`DeployHandler`]) re-validates
//! the config and bindings (they may have changed since the request), checks that a component
//! kind's component loads, and moves the agent to `running` with the grant fixed at the request
//! and — for a component kind — its first `agent.run` job enqueued in the same transaction; or
//! to `failed` with the reason. `POST …/stop` moves a deploying or running agent to `stopping`
//! with a [`super::STOP`] job whose handler ([`StopHandler`]) lands it in `stopped`, ends the run
//! chain and cancels the run job (a queued one at once; a running one's guest is dropped at the
//! worker's next heartbeat). Each final write is guarded by the state *and* the job, so a stop
//! that overtakes a deploy wins and the late deploy changes nothing. A deploy or stop job that
//! ends without running its handler (cancelled, or dead after infrastructure failures) is
//! noticed the next time the agent is read ([`stale_job`]).

use std::sync::Arc;

use super::components::Components;
use super::{check_bindings, validate_config, AgentJob, AgentKind, AgentState, DEPLOY, STOP};
use crate::clock::{Clock, Millis};
use crate::ids::{AgentId, JobId, UserId};
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler, JobState};
use crate::store::agents::Agent;
use crate::store::{Store, StoreError};

/// If the agent waits in `deploying` or `stopping` on a job that finished without moving it
/// (cancelled, or dead after infrastructure failures), settles it: a deploy that never ran
/// leaves the agent `failed`, a stop that never ran leaves it `running`. Returns the agent as it
/// now is.
pub async fn stale_job(store: &Store, agent: Agent, now: Millis) -> Result<Agent, StoreError> {
    let (Some(job_id), AgentState::Deploying | AgentState::Stopping) = (agent.job_id, agent.state)
    else {
        return Ok(agent);
    };
    let job = match store.get_job(job_id).await {
        Ok(job) => job,
        Err(StoreError::NotFound) => return Ok(agent),
        Err(e) => return Err(e),
    };
    if !matches!(job.state, JobState::Cancelled | JobState::Dead) {
        return Ok(agent);
    }
    let why = job.last_error.as_deref().unwrap_or("no error recorded");
    let (to, error) = if agent.state == AgentState::Deploying {
        (
            AgentState::Failed,
            format!("deploy job {job_id} ended {} ({why})", job.state),
        )
    } else {
        (
            AgentState::Running,
            format!(
                "stop job {job_id} ended {} ({why}); the agent still runs",
                job.state
            ),
        )
    };
    store
        .settle_agent(
            AgentId(agent.id),
            JobId(job_id),
            agent.state,
            to,
            Some(&error),
            now,
        )
        .await?;
    store.agent_by_id(agent.id).await
}

fn payload(ctx: &JobContext) -> Result<AgentJob, JobError> {
    serde_json::from_str(&ctx.job.payload)
        .map_err(|e| JobError::Permanent(format!("bad agent job payload: {e}")))
}

/// A database failure: retried, except on the last attempt, where it is final (a job that dies
/// this way is noticed by [`stale_job`], so the agent does not wait for it forever).
fn retry(ctx: &JobContext, e: &StoreError) -> JobError {
    if ctx.job.attempts >= ctx.job.max_attempts {
        JobError::Permanent(e.to_string())
    } else {
        JobError::Retry(e.to_string())
    }
}

/// Runs `agent.deploy` jobs.
pub struct DeployHandler {
    store: Store,
    clock: Arc<dyn Clock>,
    components: Arc<Components>,
}

impl std::fmt::Debug for DeployHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeployHandler")
    }
}

impl DeployHandler {
    /// The handler of a host.
    pub fn new(store: Store, clock: Arc<dyn Clock>, components: Arc<Components>) -> Self {
        Self {
            store,
            clock,
            components,
        }
    }

    /// The problem that keeps `agent` from running, if any; else its kind.
    async fn problem(&self, agent: &Agent) -> Result<Result<AgentKind, String>, StoreError> {
        let kind = match self.components.kind(&agent.kind).await {
            Ok(Some(kind)) => kind,
            Ok(None) => return Ok(Err(format!("unknown agent kind {}", agent.kind))),
            Err(crate::plugins::registry::RegistryError::Store(e)) => return Err(e),
            Err(e) => return Ok(Err(format!("agent kind {}: {e}", agent.kind))),
        };
        let config: serde_json::Value = match serde_json::from_str(&agent.config) {
            Ok(c) => c,
            Err(e) => return Ok(Err(format!("stored config is not JSON: {e}"))),
        };
        if let Some((field, message)) = validate_config(&kind, &config).into_iter().next() {
            return Ok(Err(format!("{field}: {message}")));
        }
        if kind.runs_on_host() {
            if let Err(why) = self.components.get(&kind).await {
                return Ok(Err(format!(
                    "the {} component cannot run on this host: {why}",
                    kind.name()
                )));
            }
        }
        Ok(
            check_bindings(&self.store, agent.project_id, &kind, &config)
                .await?
                .map(|()| kind)
                .map_err(|(field, message)| format!("{field}: {message}")),
        )
    }

    async fn deploy(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let AgentJob { agent_id, grant } = payload(ctx)?;
        let job = ctx.job.id;
        let agent = match self.store.agent_by_id(agent_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => {
                return Ok(
                    serde_json::json!({"agent_id": agent_id, "skipped": "the agent no longer exists"}),
                )
            }
            Err(e) => return Err(self.give_up(ctx, agent_id, &e).await),
        };
        if agent.state != AgentState::Deploying || agent.job_id != Some(job) {
            return Ok(serde_json::json!({
                "agent_id": agent_id,
                "skipped": format!("the agent is {} and no longer waits for this job", agent.state),
            }));
        }
        ctx.progress(0, Some(1), "checking the configuration");
        let problem = match self.problem(&agent).await {
            Ok(p) => p,
            Err(e) => return Err(self.give_up(ctx, agent_id, &e).await),
        };
        let now = self.clock.now_ms();
        let kind = match problem {
            Ok(kind) => kind,
            Err(problem) => {
                self.store
                    .settle_agent(
                        AgentId(agent_id),
                        JobId(job),
                        AgentState::Deploying,
                        AgentState::Failed,
                        Some(&problem),
                        now,
                    )
                    .await
                    .map_err(|e| retry(ctx, &e))?;
                return Err(JobError::Permanent(format!("deploy failed: {problem}")));
            }
        };
        let grant = serde_json::to_string(&grant.unwrap_or_default()).unwrap_or_default();
        let first_run = kind
            .runs_on_host()
            .then(|| super::run::first_run(&agent, &kind, now));
        let moved = self
            .store
            .start_agent_runs(
                AgentId(agent_id),
                JobId(job),
                &grant,
                ctx.job.created_by.map(UserId),
                first_run.as_ref(),
                now,
            )
            .await
            .map_err(|e| retry(ctx, &e))?;
        ctx.progress(1, Some(1), "running");
        Ok(if let Some(run_job) = moved {
            serde_json::json!({"agent_id": agent_id, "state": "running", "run_job_id": run_job})
        } else {
            serde_json::json!({"agent_id": agent_id, "skipped": "the agent was stopped or deleted meanwhile"})
        })
    }

    /// A database failure: retry, or on the last attempt try to leave the agent `failed`.
    async fn give_up(&self, ctx: &JobContext, agent_id: i64, e: &StoreError) -> JobError {
        let error = retry(ctx, e);
        if matches!(error, JobError::Permanent(_)) {
            let why = format!("deploy gave up after {} attempts: {e}", ctx.job.attempts);
            let _ = self
                .store
                .settle_agent(
                    AgentId(agent_id),
                    JobId(ctx.job.id),
                    AgentState::Deploying,
                    AgentState::Failed,
                    Some(&why),
                    self.clock.now_ms(),
                )
                .await;
        }
        error
    }
}

impl JobHandler for DeployHandler {
    fn kind(&self) -> &'static str {
        DEPLOY
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(self.deploy(ctx))
    }
}

/// Runs `agent.stop` jobs.
pub struct StopHandler {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StopHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopHandler")
    }
}

impl StopHandler {
    /// The handler of a host.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

impl JobHandler for StopHandler {
    fn kind(&self) -> &'static str {
        STOP
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(async move {
            let AgentJob { agent_id, .. } = payload(ctx)?;
            let now = self.clock.now_ms();
            let stopped = self
                .store
                .stop_agent_runs(AgentId(agent_id), JobId(ctx.job.id), now)
                .await
                .map_err(|e| retry(ctx, &e))?;
            if let Some(Some(run_job)) = stopped {
                // No further run: the chain's next link was this job; a running one is told
                // at its next heartbeat and its guest dropped.
                self.store
                    .cancel_job(run_job, now)
                    .await
                    .map_err(|e| retry(ctx, &e))?;
            }
            Ok(if let Some(run_job) = stopped {
                serde_json::json!({"agent_id": agent_id, "state": "stopped", "cancelled_run_job_id": run_job})
            } else {
                serde_json::json!({"agent_id": agent_id, "skipped": "the agent no longer waits for this job"})
            })
        })
    }
}
