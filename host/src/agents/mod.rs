//! Agents: a project's configured workers, deployed and stopped through the job queue, reporting
//! heartbeats and metrics with a token of their own.
//!
//! # Kinds
//! An agent has a *kind* from a small registry in code ([`KINDS`]); each kind has a JSON Schema
//! its `config` must satisfy ([`validate_config`]) and, for some, bindings checked against the
//! project ([`check_bindings`]: a `sync-assistant` names one of the project's connections).
//!
//! # Lifecycle
//! ```text
//! draft ──deploy──▶ deploying ──job ok──▶ running ──stop──▶ stopping ──job──▶ stopped
//!   ▲                   │ job fails                  ▲ stop (also from deploying)    │
//!   │                   ▼                                                            │
//!   └──── (config may change) ◀── failed ◀──────── deploy again from stopped/failed ─┘
//! ```
//! `POST …/deploy` moves an idle agent (draft, stopped, failed) to `deploying` and enqueues an
//! [`DEPLOY`] job in the same transaction; its handler ([`DeployHandler`]) re-validates the config
//! and bindings (they may have changed since the request) and moves the agent to `running`, or to
//! `failed` with the reason. `POST …/stop` moves a deploying or running agent to `stopping` with a
//! [`STOP`] job whose handler ([`StopHandler`]) lands it in `stopped`. Each final write is guarded
//! by the state *and* the job, so a stop that overtakes a deploy wins and the late deploy changes
//! nothing. A deploy or stop job that ends without running its handler (cancelled, or dead after
//! infrastructure failures) is noticed the next time the agent is read ([`stale_job`]).
//!
//! # Runtime tokens and health
//! The running agent authenticates with an agent token `aat_<prefix>_<secret>` (256 bits;
//! stored only as SHA-256, looked up by prefix, compared in constant time), issued and rotated
//! by a manager; it is accepted by the `/api/v1/agent-runtime/…` endpoints and nowhere else,
//! and user tokens are not accepted there. Health is computed on read ([`health`]), from the last
//! heartbeat of the current run against `agents.heartbeat_timeout_secs`: no writer, no periodic
//! job, exact to the millisecond on every host, and expressible in SQL for list filters and
//! analytics.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::{Clock, Millis};
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::store::agents::Agent;
use crate::store::{Store, StoreError};

/// Job kind of deploys.
pub const DEPLOY: &str = "agent.deploy";
/// Job kind of stops.
pub const STOP: &str = "agent.stop";

/// The payload of deploy and stop jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentJob {
    /// The agent.
    pub agent_id: i64,
}

/// A kind of agent.
#[derive(Debug)]
pub struct Kind {
    /// Its name in the API.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// JSON Schema of its config (JSON text).
    schema: &'static str,
}

/// The name of a kind of agent, the closed set of [`KINDS`]: what the OpenAPI document declares
/// for an agent's `kind` (a test keeps the two equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KindName {
    /// The `web-monitor` kind.
    WebMonitor,
    /// The `sync-assistant` kind.
    SyncAssistant,
}

/// The kinds this host knows.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "web-monitor",
        description: "Fetches a URL on an interval and reports availability, status and latency; \
                      optionally expects a status code or a keyword in the page.",
        schema: r#"{
            "type": "object", "additionalProperties": false, "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000,
                        "description": "The page to watch (http or https)."},
                "interval_secs": {"type": "integer", "minimum": 30, "maximum": 86400, "default": 300,
                                  "description": "Seconds between checks."},
                "timeout_secs": {"type": "integer", "minimum": 1, "maximum": 120, "default": 10,
                                 "description": "Seconds one check may take."},
                "expect_status": {"type": "integer", "minimum": 100, "maximum": 599,
                                  "description": "The status a healthy page answers with."},
                "keyword": {"type": "string", "minLength": 1, "maxLength": 200,
                            "description": "Text a healthy page contains."}
            }
        }"#,
    },
    Kind {
        name: "sync-assistant",
        description: "Watches one of the project's connections: keeps its syncs going on an \
                      interval and reports their outcome.",
        schema: r#"{
            "type": "object", "additionalProperties": false, "required": ["connection_id"],
            "properties": {
                "connection_id": {"type": "integer", "minimum": 1,
                                  "description": "A connection of the agent's project."},
                "streams": {"type": "array", "maxItems": 50, "uniqueItems": true,
                            "items": {"type": "string", "minLength": 1, "maxLength": 100},
                            "description": "Streams to keep synced; absent: every stream."},
                "interval_secs": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 900,
                                  "description": "Seconds between sync rounds."},
                "notify_on_failure": {"type": "boolean", "default": true,
                                      "description": "Report failed syncs as agent metrics."}
            }
        }"#,
    },
];

/// The largest config accepted, serialized (bytes).
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// A kind by name.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

impl Kind {
    /// The kind's config schema.
    pub fn schema(&self) -> serde_json::Value {
        serde_json::from_str(self.schema).unwrap_or_default()
    }

    fn validator(&self) -> Option<&'static jsonschema::Validator> {
        static VALIDATORS: OnceLock<Vec<Option<jsonschema::Validator>>> = OnceLock::new();
        let all = VALIDATORS.get_or_init(|| {
            KINDS
                .iter()
                .map(|k| jsonschema::validator_for(&k.schema()).ok())
                .collect()
        });
        let index = KINDS.iter().position(|k| k.name == self.name)?;
        all.get(index).and_then(Option::as_ref)
    }
}

/// Every way `config` breaks `kind`'s schema (at most 20), as `(field, message)` with fields
/// named `config.<path>`: a missing or unexpected property is named itself.
pub fn validate_config(kind: &Kind, config: &serde_json::Value) -> Vec<(String, String)> {
    if config.to_string().len() > MAX_CONFIG_BYTES {
        return vec![(
            "config".into(),
            format!("must be at most {MAX_CONFIG_BYTES} bytes as JSON"),
        )];
    }
    let Some(validator) = kind.validator() else {
        // A schema in our own code that does not compile is a bug; refuse rather than accept.
        tracing::error!(kind = kind.name, "agent kind schema does not compile");
        return vec![("kind".into(), "this kind cannot be configured".into())];
    };
    validator
        .iter_errors(config)
        .take(20)
        .map(|e| {
            let base = format!("config{}", e.instance_path.to_string().replace('/', "."));
            let field = match &e.kind {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    format!("{base}.{}", property.as_str().unwrap_or_default())
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    format!("{base}.{}", unexpected.join(","))
                }
                _ => base,
            };
            (field, e.to_string())
        })
        .collect()
}

/// Checks what `config` refers to in the project: `Ok(Err((field, message)))` names the broken
/// reference.
pub async fn check_bindings(
    store: &Store,
    project_id: i64,
    kind: &Kind,
    config: &serde_json::Value,
) -> Result<Result<(), (String, String)>, StoreError> {
    if kind.name != "sync-assistant" {
        return Ok(Ok(()));
    }
    let Some(id) = config
        .get("connection_id")
        .and_then(serde_json::Value::as_i64)
    else {
        return Ok(Ok(()));
    };
    let connection = match store.get_connection(project_id, id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => {
            return Ok(Err((
                "config.connection_id".into(),
                format!("the project has no connection {id}"),
            )))
        }
        Err(e) => return Err(e),
    };
    if !store
        .plugin_enabled(project_id, &connection.plugin_id)
        .await?
    {
        return Ok(Err((
            "config.connection_id".into(),
            format!(
                "connection {id} uses plugin {}, which is not enabled in the project",
                connection.plugin_id
            ),
        )));
    }
    Ok(Ok(()))
}

/// Where an agent is in its lifecycle, as the API names it (`?state=` and an agent's `state`).
///
/// The store keeps the name (`store::agents::Agent::state`); this is the closed set the
/// lifecycle writes, declared as an enum in the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Configured, never deployed.
    Draft,
    /// A deploy job is under way.
    Deploying,
    /// Deployed and running.
    Running,
    /// A stop job is under way.
    Stopping,
    /// Stopped on request.
    Stopped,
    /// A deploy or stop failed (`last_error` says why).
    Failed,
}

impl AgentState {
    /// Every state.
    pub const ALL: [AgentState; 6] = [
        AgentState::Draft,
        AgentState::Deploying,
        AgentState::Running,
        AgentState::Stopping,
        AgentState::Stopped,
        AgentState::Failed,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Draft => "draft",
            AgentState::Deploying => "deploying",
            AgentState::Running => "running",
            AgentState::Stopping => "stopping",
            AgentState::Stopped => "stopped",
            AgentState::Failed => "failed",
        }
    }

    /// Parses [`AgentState::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// How a running agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Running, and a heartbeat of this run arrived within the timeout.
    Healthy,
    /// Running, and neither a heartbeat nor the start of the run within the timeout.
    Unhealthy,
    /// Not running, or running without a heartbeat yet (still within the timeout).
    Unknown,
}

/// The agent's health at `now` with heartbeats due every `timeout_ms`. Heartbeats of an earlier
/// run (before `running_since`) do not count.
pub fn health(agent: &Agent, now: Millis, timeout_ms: i64) -> Health {
    let Some(since) = agent.running_since.filter(|_| agent.state == "running") else {
        return Health::Unknown;
    };
    match agent.last_heartbeat_at.filter(|t| *t >= since) {
        Some(beat) if now - beat <= timeout_ms => Health::Healthy,
        Some(_) => Health::Unhealthy,
        None if now - since > timeout_ms => Health::Unhealthy,
        None => Health::Unknown,
    }
}

/// A new agent token: `(token, prefix, hash)`. The token is shown once; only the hash is kept.
pub fn mint_token() -> (String, String, String) {
    let mut bytes = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let prefix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("aat_{prefix}_{}", crate::auth::random_token(32));
    let hash = crate::auth::token_hash(&token);
    (token, prefix, hash)
}

/// The prefix of a well-formed agent token.
pub fn token_prefix(token: &str) -> Option<&str> {
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("aat"), Some(prefix), Some(secret))
            if prefix.len() == 12 && !secret.is_empty() && token.len() <= 128 =>
        {
            Some(prefix)
        }
        _ => None,
    }
}

/// Whether `token` is the one whose hash the agent keeps (constant time).
pub fn token_matches(agent: &Agent, token: &str) -> bool {
    let presented = crate::auth::token_hash(token);
    agent
        .token_hash
        .as_deref()
        .is_some_and(|stored| bool::from(presented.as_bytes().ct_eq(stored.as_bytes())))
}

/// If the agent waits in `deploying` or `stopping` on a job that finished without moving it
/// (cancelled, or dead after infrastructure failures), settles it: a deploy that never ran
/// leaves the agent `failed`, a stop that never ran leaves it `running`. Returns the agent as it
/// now is.
pub async fn stale_job(store: &Store, agent: Agent, now: Millis) -> Result<Agent, StoreError> {
    let (Some(job_id), "deploying" | "stopping") = (agent.job_id, agent.state.as_str()) else {
        return Ok(agent);
    };
    let job = match store.get_job(job_id).await {
        Ok(job) => job,
        Err(StoreError::NotFound) => return Ok(agent),
        Err(e) => return Err(e),
    };
    if !matches!(job.state.as_str(), "cancelled" | "dead") {
        return Ok(agent);
    }
    let why = job.last_error.as_deref().unwrap_or("no error recorded");
    let (to, error) = if agent.state == "deploying" {
        (
            "failed",
            format!("deploy job {job_id} ended {} ({why})", job.state),
        )
    } else {
        (
            "running",
            format!(
                "stop job {job_id} ended {} ({why}); the agent still runs",
                job.state
            ),
        )
    };
    store
        .settle_agent(agent.id, job_id, &agent.state, to, Some(&error), now)
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
}

impl std::fmt::Debug for DeployHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeployHandler")
    }
}

impl DeployHandler {
    /// The handler of a host.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The problem that keeps `agent` from running, if any.
    async fn problem(&self, agent: &Agent) -> Result<Option<String>, StoreError> {
        let Some(kind) = kind(&agent.kind) else {
            return Ok(Some(format!("unknown agent kind {}", agent.kind)));
        };
        let config: serde_json::Value = match serde_json::from_str(&agent.config) {
            Ok(c) => c,
            Err(e) => return Ok(Some(format!("stored config is not JSON: {e}"))),
        };
        if let Some((field, message)) = validate_config(kind, &config).into_iter().next() {
            return Ok(Some(format!("{field}: {message}")));
        }
        Ok(check_bindings(&self.store, agent.project_id, kind, &config)
            .await?
            .err()
            .map(|(field, message)| format!("{field}: {message}")))
    }

    async fn deploy(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let AgentJob { agent_id } = payload(ctx)?;
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
        if agent.state != "deploying" || agent.job_id != Some(job) {
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
        if let Some(problem) = problem {
            self.store
                .settle_agent(agent_id, job, "deploying", "failed", Some(&problem), now)
                .await
                .map_err(|e| retry(ctx, &e))?;
            return Err(JobError::Permanent(format!("deploy failed: {problem}")));
        }
        let moved = self
            .store
            .mark_agent_running(agent_id, job, now)
            .await
            .map_err(|e| retry(ctx, &e))?;
        ctx.progress(1, Some(1), "running");
        Ok(if moved {
            serde_json::json!({"agent_id": agent_id, "state": "running"})
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
                    agent_id,
                    ctx.job.id,
                    "deploying",
                    "failed",
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
            let AgentJob { agent_id } = payload(ctx)?;
            let stopped = self
                .store
                .settle_agent(
                    agent_id,
                    ctx.job.id,
                    "stopping",
                    "stopped",
                    None,
                    self.clock.now_ms(),
                )
                .await
                .map_err(|e| retry(ctx, &e))?;
            Ok(if stopped {
                serde_json::json!({"agent_id": agent_id, "state": "stopped"})
            } else {
                serde_json::json!({"agent_id": agent_id, "skipped": "the agent no longer waits for this job"})
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_kinds() {
        let declared: Vec<String> = [KindName::WebMonitor, KindName::SyncAssistant]
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .expect("name")
                    .as_str()
                    .expect("text")
                    .to_owned()
            })
            .collect();
        let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(declared, known);
    }

    #[test]
    fn every_kind_schema_compiles() {
        for k in KINDS {
            assert!(k.validator().is_some(), "{} schema", k.name);
        }
    }

    #[test]
    fn config_errors_name_their_field() {
        let k = kind("web-monitor").expect("kind");
        let errors = validate_config(k, &serde_json::json!({"interval_secs": 5, "extra": 1}));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"config.url"), "{errors:?}");
        assert!(fields.contains(&"config.interval_secs"), "{errors:?}");
        assert!(fields.contains(&"config.extra"), "{errors:?}");
        assert!(validate_config(k, &serde_json::json!({"url": "https://example.com/"})).is_empty());
    }

    #[test]
    fn tokens_have_the_agent_shape() {
        let (token, prefix, hash) = mint_token();
        assert_eq!(token_prefix(&token), Some(prefix.as_str()));
        assert_eq!(hash, crate::auth::token_hash(&token));
        assert_eq!(token_prefix("agk_0123456789ab_x"), None);
        assert_eq!(token_prefix("aat_short_x"), None);
    }
}
