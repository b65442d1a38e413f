//! The API agents themselves call, authenticated by their runtime token (`aat_…`), never by a
//! person's token or a service-account key: heartbeats with metrics.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, Checks, Validate};
use super::{AppState, Problem};
use crate::agents;
use crate::store::agents::{Agent, Heartbeat};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(heartbeat))
}

/// The agent a request speaks for, proven by its runtime token.
#[derive(Debug)]
pub struct AgentCaller(pub Agent);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::Unauthorized("missing Authorization: Bearer <agent token>".into())
            })?;
        let Some(prefix) = agents::token_prefix(token) else {
            return Err(ApiError::Unauthorized(
                "this endpoint takes an agent token (aat_…); user tokens and API keys are not \
                 accepted"
                    .into(),
            ));
        };
        let invalid = || ApiError::Unauthorized("invalid agent token".into());
        let agent = state
            .store
            .agent_by_token_prefix(prefix)
            .await?
            .ok_or_else(invalid)?;
        if !agents::token_matches(&agent, token) {
            return Err(invalid());
        }
        Ok(AgentCaller(agent))
    }
}

/// Most metrics one heartbeat may carry.
const MAX_METRICS: usize = 32;

/// A heartbeat: the agent is alive, with optional metrics.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatBody {
    /// Up to 32 metrics, name → number. Names are 1–64 characters of letters, digits, `_`, `.`,
    /// `-` and `:`. Kept in the agent's metrics history; absent or `{}`: no sample.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metrics: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Validate for HeartbeatBody {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        let Some(metrics) = &self.metrics else {
            return Ok(());
        };
        if metrics.len() > MAX_METRICS {
            c.push(
                "metrics",
                format!("at most {MAX_METRICS} metrics per heartbeat"),
            );
            return c.finish();
        }
        for (name, value) in metrics {
            let ok_name = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.-:".contains(ch));
            if !ok_name {
                let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
                c.push(
                    &format!("metrics.{shown}"),
                    "names are 1–64 characters of letters, digits, _ . - :",
                );
            } else if !value.as_f64().is_some_and(f64::is_finite) {
                c.push(&format!("metrics.{name}"), "must be a number");
            }
        }
        c.finish()
    }
}

/// What the host tells a live agent.
#[derive(Debug, Serialize, ToSchema)]
struct HeartbeatReply {
    agent_id: i64,
    /// Lifecycle state (`deploying` or `running`).
    state: crate::agents::AgentState,
    /// The config to run with.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// Send the next heartbeat within this many seconds, or be marked unhealthy.
    heartbeat_timeout_secs: u64,
}

/// Records a heartbeat of the calling `external` agent, with optional metrics. Authenticated by
/// the agent's runtime token only (any other credential is 401). Accepted while the agent is
/// deploying or running; otherwise 409 (the agent should shut down). Agents of a kind the host
/// runs get 409 too: their health is measured from their runs.
#[utoipa::path(post, path = "/agent-runtime/heartbeat", tag = "agent-runtime",
    request_body = HeartbeatBody,
    responses((status = 200, body = HeartbeatReply), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("agent_token" = [])))]
async fn heartbeat(
    State(state): State<AppState>,
    AgentCaller(agent): AgentCaller,
    body: ApiJson<HeartbeatBody>,
) -> ApiResult<Json<HeartbeatReply>> {
    let body = body.parse().await?;
    if !agents::is_external(&agent) {
        return Err(ApiError::Conflict(format!(
            "the agent is a {} agent that this host runs; its health is measured from its runs, \
             and heartbeats are for external agents only",
            agent.kind
        )));
    }
    let now = state.now();
    let metrics = body
        .metrics
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::Value::Object(m).to_string());
    let g = &state.config.agents;
    let beat = Heartbeat {
        metrics: metrics.as_deref(),
        now,
        keep_after: now - g.metrics_retention(),
        max_samples: i64::from(g.metrics_max_samples),
    };
    let Some(agent) = state.store.record_heartbeat(agent.id, &beat).await? else {
        return Err(ApiError::Conflict(format!(
            "the agent is {}; heartbeats are accepted only while it is deploying or running",
            agent.state
        )));
    };
    Ok(Json(HeartbeatReply {
        agent_id: agent.id,
        state: agent.state,
        config: serde_json::from_str(&agent.config).unwrap_or_default(),
        heartbeat_timeout_secs: g.heartbeat_timeout_secs,
    }))
}
