//! What the host knows of an agent beyond its record: its status and health, its metrics
//! history, and the runtime token of an `external` agent (issued here, used on
//! `super::agent_runtime`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::{load, AgentPath};
use super::audit::record;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::agents::{self, AgentState, Health};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::rbac::Permission;
use crate::store::agents::MetricsSample;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotate_token))
        .routes(routes!(agent_status))
        .routes(routes!(agent_metrics))
}

/// A new runtime token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
struct IssuedToken {
    /// `aat_<prefix>_<secret>`: give it to the agent, which sends it as
    /// `Authorization: Bearer …` to `/api/v1/agent-runtime/…`. Only its hash is kept.
    token: String,
    /// The public part, to recognise the token later.
    prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    issued_at: OffsetDateTime,
}

/// Issues an `external` agent's runtime token, replacing (and so revoking) any earlier one. The
/// token is in this response only. Agents of a kind the host runs have none (409). Needs
/// `agents:manage`.
#[utoipa::path(post, path = "/projects/{id}/agents/{agent_id}/token", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 201, body = IssuedToken), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn rotate_token(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let current = load(&state, &who, &path, Permission::AgentsManage).await?;
    if !agents::is_external(&current) {
        return Err(ApiError::Conflict(format!(
            "{} agents run on this host and need no runtime token; tokens are for external \
             agents",
            current.kind
        )));
    }
    let (token, prefix, hash) = agents::mint_token();
    let now = state.now();
    state
        .store
        .set_agent_token(current.id, &prefix, &hash, now)
        .await?;
    let detail = serde_json::json!({
        "prefix": prefix, "replaced": current.token_prefix,
    });
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.token_rotated",
        current.id,
        detail,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token,
            prefix,
            issued_at: now.to_datetime(),
        }),
    ))
}

/// What an agent is doing, as far as the host knows.
#[derive(Debug, Serialize, ToSchema)]
struct AgentStatus {
    agent_id: i64,
    /// Lifecycle state.
    state: AgentState,
    /// Component kinds, measured from runs: `healthy` after a successful run, `unhealthy` after
    /// `unhealthy_after` failed runs in a row. `external`: `healthy` with a heartbeat of this
    /// run within `heartbeat_timeout_secs`, `unhealthy` when neither a heartbeat nor the start
    /// is within it. `unknown` otherwise (not running, or no run or heartbeat yet).
    health: Health,
    /// Heartbeats of `external` agents are due at least this often.
    heartbeat_timeout_secs: u64,
    /// Runs finished since the last deploy (component kinds).
    runs: i64,
    /// Failed runs in a row.
    consecutive_failures: i64,
    /// When the last run started.
    #[serde(with = "time::serde::rfc3339::option")]
    last_run_at: Option<OffsetDateTime>,
    /// When the last successful run started.
    #[serde(with = "time::serde::rfc3339::option")]
    last_success_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    running_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_heartbeat_at: Option<OffsetDateTime>,
    /// When the agent became unhealthy: `external`, its last sign of life plus the timeout;
    /// component kinds, the start of the last (failed) run.
    #[serde(with = "time::serde::rfc3339::option")]
    unhealthy_since: Option<OffsetDateTime>,
    /// The metrics of the last run (or, `external`, the last heartbeat that carried any).
    #[schema(value_type = Option<Object>)]
    last_metrics: Option<serde_json::Value>,
    /// Why the last run, deploy or stop failed.
    last_error: Option<String>,
    /// The deploy or stop job under way.
    job_id: Option<i64>,
}

/// The agent's lifecycle state, health, last heartbeat and last metrics. Needs `agents:read`.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}/status", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 200, body = AgentStatus), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn agent_status(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<Json<AgentStatus>> {
    let a = load(&state, &who, &path, Permission::AgentsRead).await?;
    let timeout = state.config.agents.heartbeat_timeout();
    let health = agents::health(&a, state.now(), timeout);
    let external = agents::is_external(&a);
    let unhealthy_since = (health == Health::Unhealthy).then(|| {
        if !external {
            return a.last_run_at.unwrap_or_default().to_datetime();
        }
        let since = a.running_since.unwrap_or_default();
        let last = a.last_heartbeat_at.filter(|t| *t >= since).unwrap_or(since);
        (last + timeout).to_datetime()
    });
    Ok(Json(AgentStatus {
        agent_id: a.id,
        state: a.state,
        health,
        heartbeat_timeout_secs: state.config.agents.heartbeat_timeout_secs,
        runs: a.runs,
        consecutive_failures: a.consecutive_failures,
        last_run_at: a.last_run_at.map(Millis::to_datetime),
        last_success_at: a.last_success_at.map(Millis::to_datetime),
        running_since: a.running_since.map(Millis::to_datetime),
        last_heartbeat_at: a.last_heartbeat_at.map(Millis::to_datetime),
        unhealthy_since,
        last_metrics: a
            .last_metrics
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok()),
        last_error: a.last_error,
        job_id: a.job_id,
    }))
}

/// A window and page of the metrics history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListMetrics {
    /// Samples received at or after this time (RFC 3339); default: the oldest kept.
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// Samples received before this time (RFC 3339); default: now and later.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    /// From `next_cursor` of the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// One metrics sample.
#[derive(Debug, Serialize, ToSchema)]
struct MetricsView {
    /// When the heartbeat carrying it arrived.
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// Name → number, as the agent reported them.
    #[schema(value_type = Object)]
    metrics: serde_json::Value,
}

impl From<MetricsSample> for MetricsView {
    fn from(s: MetricsSample) -> Self {
        Self {
            at: s.at.to_datetime(),
            metrics: serde_json::from_str(&s.metrics).unwrap_or_default(),
        }
    }
}

/// The agent's metrics history, oldest first, cursor-paginated. Samples are kept for
/// `agents.metrics_retention_secs` and at most `agents.metrics_max_samples` per agent. Needs
/// `agents:read`.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}/metrics", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id"), ListMetrics),
    responses((status = 200, body = Paginated<MetricsView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn agent_metrics(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
    query: ApiQuery<ListMetrics>,
) -> ApiResult<Json<Paginated<MetricsView>>> {
    let agent = load(&state, &who, &path, Permission::AgentsRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let since = q.since.map_or(Millis::EPOCH, Millis::from_datetime);
    let until = q.until.map_or(Millis::MAX, Millis::from_datetime);
    if since >= until {
        return Err(ApiError::field("since", "must be before until"));
    }
    let page = state
        .store
        .list_agent_metrics(agent.id, since, until, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, MetricsView::from)))
}
