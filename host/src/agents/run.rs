//! `agent.run` jobs: one run of a component agent.
//!
//! A deployed component agent is a chain of run jobs on the durable queue, one at a time:
//! each run job, when it finishes, records its run and enqueues the next in one transaction
//! fenced by its lease ([`Store::finish_agent_run`]), and `agents.run_job_id` names the link
//! that is current. So the queue's leases, reclaiming of a dead worker's jobs and cancellation
//! apply to runs, and a run job that is no longer current (the agent was stopped or
//! redeployed) does nothing.
//!
//! A run loads the agent as it is *now* — a config changed since the last run applies from this
//! one — and calls the component's `run(trigger, config, state)` on the plugin sandbox with
//! - egress: a `web-monitor` may request its own URL (host and path prefix) under the egress
//!   rules, private addresses only with `allow_private_network` (Administrators set it); a
//!   `triage-assistant` its model connection's base URL, with that connection's credential
//!   injected by the host ([`RunHandler::prepare`]); an installed package kind the hosts its
//!   manifest allows (same private-network rule, never a credential); other kinds get no
//!   network at all;
//! - the [`super::platform`] interface under the agent's grant.
//!
//! The host measures each run: its duration and outcome (`duration_ms`, `ok`) join the agent's
//! own metrics in the metrics history and the run's row; failures in a row decide health
//! ([`super::alerts`] on a change). The next run is due after the kind's `interval_secs`, or at
//! the next firing of the config's `cron` ([`Schedule`]); after a failure, after an exponential
//! backoff, never later than that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::alerts::{self, Change};
use super::components::Components;
use super::config::AgentsConfig;
use super::installed::AgentKind;
use super::platform::{AgentPlatform, Grant, Services};
use crate::clock::{Clock, Millis};
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::plugins::agent::{AgentEvent, AgentMetric, Outcome, RunError};
use crate::plugins::egress::Clients;
use crate::plugins::registry::Registry;
use crate::plugins::{Call, EgressPolicy};
use crate::store::agent_runs::FinishedRun;
use crate::store::agents::Agent;
use crate::store::jobs::NewJob;
use crate::store::{Store, StoreError};

/// Job kind of runs.
pub const RUN: &str = "agent.run";

/// Largest state an agent may keep between runs (bytes).
pub const MAX_STATE_BYTES: usize = 64 * 1024;
/// Most metrics kept per run.
const MAX_METRICS: usize = 64;
/// Most events kept per run.
const MAX_EVENTS: usize = 32;

/// A run job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJob {
    /// The agent.
    pub agent_id: i64,
    /// The run's number in its deployment, from 1.
    pub run: i64,
    /// Whether the previous run failed.
    #[serde(default)]
    pub retry: bool,
}

fn run_job(agent: &Agent, payload: &RunJob, run_at: Millis) -> NewJob {
    NewJob {
        priority: 5,
        ..crate::jobs::new_job(
            RUN,
            Some(agent.project_id),
            payload,
            agent.deployed_by,
            run_at,
        )
    }
}

/// The first run of a deployment: due at once, or at the first firing of the agent's cron.
pub fn first_run(agent: &Agent, kind: &AgentKind, now: Millis) -> NewJob {
    let payload = RunJob {
        agent_id: agent.id,
        run: 1,
        retry: false,
    };
    let config: Value = serde_json::from_str(&agent.config).unwrap_or_default();
    let due = schedule_of(kind, &config).map_or(now, |schedule| schedule.first(now));
    NewJob {
        created_by: None,
        ..run_job(agent, &payload, due)
    }
}

/// When an agent's runs are due: every `interval_secs`, or at the firings of its `cron`.
#[derive(Debug)]
pub enum Schedule {
    /// Every this long.
    Every(Duration),
    /// At each firing (UTC).
    Cron(Box<cron::Schedule>),
}

/// Firings of a cron looked at when checking how often it fires.
const CRON_SAMPLE: usize = 200;

/// The schedule `config` asks for, or why it cannot be used as `(field, message)`: a cron that
/// does not parse, never fires, fires more often than the kind's shortest interval, or comes
/// with an `interval_secs` beside it.
pub fn schedule_of(kind: &AgentKind, config: &Value) -> Result<Schedule, (String, String)> {
    let Some(expression) = config.get("cron").and_then(Value::as_str) else {
        return Ok(Schedule::Every(interval(kind, config)));
    };
    let field = || "config.cron".to_owned();
    if config.get("interval_secs").is_some() {
        return Err((
            field(),
            "give either cron or interval_secs, not both".into(),
        ));
    }
    let cron = crate::jobs::schedule::parse(expression).map_err(|e| (field(), e.to_string()))?;
    let shortest = kind
        .schema()
        .pointer("/properties/interval_secs/minimum")
        .and_then(Value::as_i64)
        .unwrap_or(60);
    let firings: Vec<i64> = cron
        .upcoming(chrono::Utc)
        .take(CRON_SAMPLE)
        .map(|t| t.timestamp_millis())
        .collect();
    if firings.is_empty() {
        return Err((field(), "the expression never fires".into()));
    }
    if firings.windows(2).any(|w| w[1] - w[0] < shortest * 1000) {
        return Err((
            field(),
            format!("fires more often than every {shortest} s, the shortest interval of this kind"),
        ));
    }
    Ok(Schedule::Cron(Box::new(cron)))
}

impl Schedule {
    /// When the run after one that ended at `now` is due: the next interval or firing; after a
    /// failure, a backoff by the failures in a row, never later than that.
    pub fn next(&self, now: Millis, failures_in_a_row: Option<i64>) -> Millis {
        let regular = match self {
            Schedule::Every(interval) => now + *interval,
            Schedule::Cron(cron) => crate::jobs::schedule::next_after(cron, now)
                // A cron that fired in validation and no more: a day on, the longest interval.
                .unwrap_or(now + Duration::from_secs(86_400)),
        };
        match failures_in_a_row {
            None => regular,
            Some(n) => {
                let backoff = crate::jobs::backoff(i32::try_from(n).unwrap_or(20));
                (now + backoff).min(regular)
            }
        }
    }

    /// When the first run of a deployment made at `now` is due: at once for an interval, at
    /// the first firing for a cron.
    pub fn first(&self, now: Millis) -> Millis {
        match self {
            Schedule::Every(_) => now,
            Schedule::Cron(_) => self.next(now, None),
        }
    }
}

/// The kind's interval (`interval_secs`, default per kind; below zero, none).
fn interval(kind: &AgentKind, config: &Value) -> Duration {
    let default = kind
        .schema()
        .pointer("/properties/interval_secs/default")
        .and_then(Value::as_i64)
        .unwrap_or(300);
    let secs = config
        .get("interval_secs")
        .and_then(Value::as_i64)
        .unwrap_or(default);
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// `unhealthy_after` of the config (default 3).
fn unhealthy_after(config: &Value) -> i64 {
    config
        .get("unhealthy_after")
        .and_then(Value::as_i64)
        .unwrap_or(3)
}

/// What a run may reach over HTTP: a `web-monitor` its URL, an installed package kind the
/// hosts its manifest allows (none: no network), other kinds nothing (a `triage-assistant`
/// gets its model connection's instead, in [`RunHandler::prepare`]).
pub fn egress(kind: &AgentKind, config: &Value) -> Result<Call, String> {
    let allow_private = config
        .get("allow_private_network")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let AgentKind::Installed(k) = kind {
        let hosts = &k.active.manifest.allowed_hosts;
        if hosts.is_empty() {
            return Ok(Call::default());
        }
        let policy = EgressPolicy::hosts(hosts).allow_private(allow_private);
        return Ok(Call {
            egress: Some(Arc::new(policy)),
            progress: None,
            connection: None,
        });
    }
    if kind.name() != "web-monitor" {
        return Ok(Call::default());
    }
    let url = config
        .get("url")
        .and_then(Value::as_str)
        .ok_or("the config has no url")?;
    let host = url::Url::parse(url)
        .map_err(|e| format!("url: {e}"))?
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or("url has no host")?;
    let policy = EgressPolicy::new(&[host], url)
        .map_err(|e| e.to_string())?
        .allow_private(allow_private);
    Ok(Call {
        egress: Some(Arc::new(policy)),
        progress: None,
        connection: None,
    })
}

fn metric_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:".contains(c))
}

/// The run's metrics: the agent's (valid names, finite values, at most [`MAX_METRICS`]), then
/// the host's measurements, which win over an agent's metric of the same name.
fn metrics_of(reported: &[AgentMetric], outcome: Option<&Outcome>, ok: bool, ms: i64) -> Value {
    let mut map = Map::new();
    let all = reported
        .iter()
        .chain(outcome.map(|o| o.metrics.as_slice()).unwrap_or_default());
    for m in all {
        if map.len() < MAX_METRICS && metric_name_ok(&m.name) && m.value.is_finite() {
            map.insert(m.name.clone(), json!(m.value));
        }
    }
    map.insert("duration_ms".into(), json!(ms));
    map.insert("ok".into(), json!(i64::from(ok)));
    Value::Object(map)
}

/// The run's events (valid kinds, messages cut to 1024 characters, at most [`MAX_EVENTS`]).
fn events_of(reported: &[AgentEvent], outcome: Option<&Outcome>) -> Vec<(String, String)> {
    reported
        .iter()
        .chain(outcome.map(|o| o.events.as_slice()).unwrap_or_default())
        .filter(|e| metric_name_ok(&e.kind))
        .take(MAX_EVENTS)
        .map(|e| {
            (
                format!("agent.{}", e.kind),
                e.message.chars().take(1024).collect(),
            )
        })
        .collect()
}

/// Runs `agent.run` jobs.
pub struct RunHandler {
    store: Store,
    clock: Arc<dyn Clock>,
    components: Arc<Components>,
    plugins: Arc<Registry>,
    services: Services,
    config: AgentsConfig,
    clients: Option<Clients>,
}

impl std::fmt::Debug for RunHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunHandler")
    }
}

impl RunHandler {
    /// The handler of a host.
    pub fn new(services: Services, components: Arc<Components>, config: AgentsConfig) -> Self {
        let clients = match Clients::new() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("agent alert webhooks cannot be sent from this worker: {e}");
                None
            }
        };
        Self {
            store: services.store.clone(),
            clock: services.clock.clone(),
            components,
            plugins: services.plugins.clone(),
            services,
            config,
            clients,
        }
    }

    async fn execute(&self, ctx: &JobContext) -> Result<Value, JobError> {
        let job: RunJob = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("bad agent run payload: {e}")))?;
        let agent = match self.store.agent_by_id(job.agent_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => {
                return Ok(
                    json!({"agent_id": job.agent_id, "skipped": "the agent no longer exists"}),
                )
            }
            Err(e) => return Err(JobError::store("reading the agent", e)),
        };
        if agent.state != super::AgentState::Running || agent.run_job_id != Some(ctx.job.id) {
            return Ok(json!({
                "agent_id": agent.id,
                "skipped": format!("the agent is {} and this is not its current run", agent.state),
            }));
        }
        let kind = self
            .components
            .kind(&agent.kind)
            .await
            .map_err(|e| JobError::Retry(format!("reading the agent's kind: {e}")))?;
        let Some(kind) = kind.filter(AgentKind::runs_on_host) else {
            return Err(JobError::Permanent(format!(
                "{} agents do not run on the host",
                agent.kind
            )));
        };
        let kind = &kind;
        let config: Value = serde_json::from_str(&agent.config).unwrap_or_default();
        let started_at = self.clock.now_ms();
        let t0 = Instant::now();
        // What started the run: a sync event of its `run_on` that brought it forward, else its
        // schedule or a retry (see `triggers::trigger_of`).
        let consumed_event = agent.pending_event.clone();
        let (trigger, triggered_by) = super::triggers::trigger_of(
            consumed_event.as_deref(),
            job.retry,
            job.run,
            started_at,
            agent.consecutive_failures,
        );
        ctx.progress(0, Some(1), format!("run {} ({triggered_by})", job.run));
        let disabled = self.disabled(&agent, kind).await?;
        let report = match (
            self.components.get(kind).await,
            self.prepare(&agent, kind, &config).await,
        ) {
            _ if disabled.is_some() => Err(disabled.unwrap_or_default()),
            (Err(why), _) => Err(format!("the {} component cannot run: {why}", kind.name())),
            (_, Err(why)) => Err(format!("denied: egress: {why}")),
            (Ok(component), Ok((call, run_config))) => {
                let runtime = self
                    .plugins
                    .runtime()
                    .await
                    .map_err(|e| JobError::Retry(format!("plugin engine: {e}")))?;
                let platform =
                    AgentPlatform::new(Grant::of(&agent, &config), self.services.clone());
                let run = runtime.run_agent(
                    &component,
                    &call,
                    Arc::new(platform),
                    trigger,
                    &run_config,
                    agent.run_state.as_deref(),
                );
                Ok(ctx.unless_cancelled(run).await?)
            }
        };
        let duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (outcome, error, reported_metrics, reported_events) = match report {
            Err(why) => (None, Some(why), Vec::new(), Vec::new()),
            Ok(r) => {
                if let Some(why) = &r.refusal {
                    self.audit_refusal(&agent, why).await;
                }
                let (outcome, error) = match r.result {
                    Ok(o) if o.state.as_ref().is_some_and(|s| s.len() > MAX_STATE_BYTES) => (
                        None,
                        Some(format!("the agent's state is over {MAX_STATE_BYTES} bytes")),
                    ),
                    Ok(o) => {
                        // A run that worked but found its target failing: a failed run, with
                        // the agent's new state kept.
                        let problem = o.problem.as_ref().map(|p| {
                            format!("check failed: {}", p.chars().take(4096).collect::<String>())
                        });
                        (Some(o), problem)
                    }
                    Err(RunError::Agent(e)) => (None, Some(RunError::Agent(e).to_string())),
                    Err(e) => (None, Some(e.to_string())),
                };
                (outcome, error, r.metrics, r.events)
            }
        };
        let ok = error.is_none();
        // A failed run's summary is its error's; the state of an outcome is kept either way.
        let metrics = metrics_of(&reported_metrics, outcome.as_ref(), ok, duration_ms);
        let events = events_of(&reported_events, outcome.as_ref());
        let events_json = Value::Array(
            events
                .iter()
                .map(|(k, m)| json!({"kind": k, "message": m}))
                .collect(),
        )
        .to_string();
        metrics::counter!("agentic_agent_runs_total", "kind" => kind.name().to_owned(), "outcome" => if ok { "succeeded" } else { "failed" })
            .increment(1);
        metrics::histogram!("agentic_agent_run_seconds", "kind" => kind.name().to_owned())
            .record(t0.elapsed().as_secs_f64());
        let now = self.clock.now_ms();
        // A config that no longer validates cannot have been saved; run on the kind's interval.
        let schedule =
            schedule_of(kind, &config).unwrap_or_else(|_| Schedule::Every(interval(kind, &config)));
        let due = schedule.next(now, (!ok).then_some(agent.consecutive_failures + 1));
        let next = run_job(
            &agent,
            &RunJob {
                agent_id: agent.id,
                run: job.run + 1,
                retry: !ok,
            },
            due,
        );
        let finished = FinishedRun {
            agent_id: agent.id,
            job_id: ctx.job.id,
            run: job.run,
            started_at,
            duration_ms,
            error: error.as_deref(),
            summary: outcome.as_ref().map(|o| o.summary.as_str()),
            state: outcome.as_ref().and_then(|o| o.state.as_deref()),
            metrics: &metrics.to_string(),
            events: &events_json,
            event_rows: &events,
            triggered_by,
            consumed_event: consumed_event.as_deref(),
            unhealthy_after: unhealthy_after(&config),
            keep_after: now - self.config.metrics_retention(),
            max_samples: i64::from(self.config.metrics_max_samples),
            now,
        };
        let recorded = self
            .store
            .finish_agent_run(&finished, &next, ctx.fence().as_ref())
            .await
            .map_err(|e| JobError::store("recording the run", e))?;
        let Some(recorded) = recorded else {
            return Ok(
                json!({"agent_id": agent.id, "skipped": "the agent was stopped or redeployed during the run"}),
            );
        };
        let change = Change::between(recorded.health_before, recorded.agent.run_health);
        if let Some(change) = change {
            alerts::raise(
                &self.store,
                self.clients.as_ref(),
                &recorded.agent,
                &config,
                change,
                error.as_deref(),
                now,
            )
            .await;
        }
        ctx.progress(
            1,
            Some(1),
            format!(
                "run {} {}",
                job.run,
                if ok { "succeeded" } else { "failed" }
            ),
        );
        Ok(json!({
            "agent_id": agent.id, "run": job.run, "triggered_by": triggered_by, "ok": ok, "duration_ms": duration_ms,
            "error": error, "health": recorded.agent.run_health, "next_run_job_id": recorded.agent.run_job_id,
        }))
    }
}

impl RunHandler {
    /// The run's egress and the config its component gets. A `triage-assistant` reaches its
    /// model through `model_connection_id`, a connection of its project: that connection's
    /// egress policy (its plugin's allowed hosts, its base URL, its private-network setting)
    /// with its credential injected by the host, and its base URL added to the component's
    /// config as `model_base_url` (the component needs where to send, never the key). Other
    /// kinds: [`egress`] and the config as stored.
    async fn prepare(
        &self,
        agent: &Agent,
        kind: &AgentKind,
        config: &Value,
    ) -> Result<(Call, String), String> {
        if kind.name() != "triage-assistant" {
            return egress(kind, config).map(|call| (call, agent.config.clone()));
        }
        let id = config
            .get("model_connection_id")
            .and_then(Value::as_i64)
            .ok_or("the config has no model_connection_id")?;
        let connection = match self.store.get_connection(agent.project_id, id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Err(format!(
                    "the project has no connection {id} (model_connection_id)"
                ))
            }
            Err(e) => return Err(format!("reading the model connection: {e}")),
        };
        let enabled = self
            .store
            .plugin_enabled(agent.project_id, &connection.plugin_id)
            .await
            .map_err(|e| format!("reading the model connection: {e}"))?;
        if !enabled {
            return Err(format!(
                "the model connection's plugin {} is not enabled in the project",
                connection.plugin_id
            ));
        }
        let manifest = self
            .plugins
            .manifest(&connection.plugin_id)
            .await
            .map_err(|e| format!("the model connection's plugin: {e}"))?;
        let call = crate::sync::connection_call(&manifest, &connection, &self.services.sessions)?;
        let mut run_config = config.clone();
        run_config["model_base_url"] = json!(connection.base_url);
        Ok((call, run_config.to_string()))
    }

    /// Why the run may not start, for an installed package kind no longer enabled in the
    /// agent's project (a failed run, as for a connection whose plugin was disabled).
    async fn disabled(&self, agent: &Agent, kind: &AgentKind) -> Result<Option<String>, JobError> {
        let AgentKind::Installed(k) = kind else {
            return Ok(None);
        };
        let enabled = self
            .store
            .plugin_enabled(agent.project_id, k.id())
            .await
            .map_err(|e| JobError::store("reading the package's enablement", e))?;
        Ok((!enabled).then(|| format!("agent package {} is not enabled in the project", k.id())))
    }

    /// Audits an outgoing request of the agent that the egress rules refused.
    async fn audit_refusal(&self, agent: &Agent, why: &str) {
        let entry = crate::store::audit::NewAuditEntry {
            actor_id: agent.deployed_by,
            action: "agent.egress_refused",
            target_type: Some("agent"),
            target_id: Some(agent.id.to_string()),
            ip: None,
            detail: json!({"project_id": agent.project_id, "kind": agent.kind, "reason": why}),
        };
        if let Err(e) = self.store.append_audit(entry, self.clock.now_ms()).await {
            tracing::error!(agent = agent.id, "could not audit an egress refusal: {e}");
        }
    }
}

impl JobHandler for RunHandler {
    fn kind(&self) -> &'static str {
        RUN
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(self.execute(ctx))
    }
}
