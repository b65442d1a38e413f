//! What the host measured of a component agent's runs, and the agent's event stream (its own
//! events and the host's alerts). See [`crate::agents::run`] and [`crate::agents::alerts`].

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, NoQuery};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::Principal;
use crate::rbac::Permission;
use crate::store::agent_runs::{AgentEventRow, AgentRun};
use crate::store::agents::Agent;
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agent_runs))
        .routes(routes!(agent_events))
        .routes(routes!(agent_event_stream))
}

#[derive(Debug, Deserialize)]
struct AgentPath {
    id: i64,
    agent_id: i64,
}

/// A page of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// From `next_cursor` of the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

async fn load(state: &AppState, who: &Principal, path: &AgentPath) -> ApiResult<Agent> {
    access::project(&state.store, who, path.id, Permission::AgentsRead).await?;
    state
        .store
        .get_agent(path.id, path.agent_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("agent"),
            other => other.into(),
        })
}

/// One finished run of a component agent.
#[derive(Debug, Serialize, ToSchema)]
struct AgentRunView {
    id: i64,
    /// The `agent.run` job that ran it.
    job_id: Option<i64>,
    /// Its number in the deployment, from 1.
    run: i64,
    /// When it started (the host's clock).
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    /// How long it took, measured by the host.
    duration_ms: i64,
    /// Whether it succeeded.
    succeeded: bool,
    /// Why it failed: the agent's typed error (`check failed: …`) or the sandbox's (time,
    /// memory, output limit, crash).
    error: Option<String>,
    /// The agent's one-line summary of a successful run.
    summary: Option<String>,
    /// Name → number: the agent's metrics and the host's `duration_ms` and `ok` (1 or 0).
    #[schema(value_type = Object)]
    metrics: serde_json::Value,
    /// The run's events, `{kind, message}`.
    #[schema(value_type = Vec<Object>)]
    events: serde_json::Value,
    /// What started it: `schedule` (its interval or cron), `retry` (after a failed run), or
    /// the sync event of its `run_on` that brought it forward: `sync-finished`,
    /// `records-changed`. Absent on runs recorded by an older host.
    #[schema(example = "records-changed")]
    triggered_by: Option<String>,
}

impl From<AgentRun> for AgentRunView {
    fn from(r: AgentRun) -> Self {
        Self {
            id: r.id,
            job_id: r.job_id,
            run: r.run,
            started_at: r.started_at.to_datetime(),
            duration_ms: r.duration_ms,
            succeeded: r.succeeded,
            error: r.error,
            summary: r.summary,
            metrics: serde_json::from_str(&r.metrics).unwrap_or_default(),
            events: serde_json::from_str(&r.events).unwrap_or_default(),
            triggered_by: r.triggered_by,
        }
    }
}

/// The agent's finished runs, oldest first, cursor-paginated (kept until the agent is deleted).
/// Needs `agents:read`.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}/runs", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id"), PageQuery),
    responses((status = 200, body = Paginated<AgentRunView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_agent_runs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
    query: ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<AgentRunView>>> {
    let agent = load(&state, &who, &path).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state.store.list_agent_runs(agent.id, after, limit).await?;
    Ok(Json(Paginated::from_page(page, AgentRunView::from)))
}

/// An entry of the agent's event stream.
#[derive(Debug, Serialize, ToSchema)]
struct AgentEventView {
    /// Sequence number (also the SSE event id).
    id: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// `alert.unhealthy`, `alert.recovered`, `alert.webhook_failed`, or the agent's own
    /// `agent.<kind>`.
    kind: String,
    /// What happened.
    message: String,
}

impl From<AgentEventRow> for AgentEventView {
    fn from(e: AgentEventRow) -> Self {
        Self {
            id: e.id,
            at: e.at.to_datetime(),
            kind: e.kind,
            message: e.message,
        }
    }
}

/// The agent's events and alerts so far, oldest first, cursor-paginated. Needs `agents:read`.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}/events", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id"), PageQuery),
    responses((status = 200, body = Paginated<AgentEventView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn agent_events(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
    query: ApiQuery<PageQuery>,
) -> ApiResult<Json<Paginated<AgentEventView>>> {
    let agent = load(&state, &who, &path).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state
        .store
        .list_agent_events(agent.id, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, AgentEventView::from)))
}

/// Live: an `agent` SSE event (the entry as in `GET …/events`, with its id as the SSE id) for
/// each new event or alert of the agent, from the newest on — or after `Last-Event-ID` when the
/// client reconnects. The stream stays open. Needs `agents:read`.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}/events/stream", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id"),
           ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", description = "`agent` events"),
              (status = 400, body = Problem), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn agent_event_stream(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
    headers: HeaderMap,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let agent = load(&state, &who, &path).await?;
    query.parse()?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0);
    let start = match resume {
        Some(id) => id,
        None => state.store.latest_agent_event(agent.id).await?,
    };
    let store = state.store.clone();
    let agent_id = agent.id;
    let stream = futures_util::stream::unfold(
        (start, std::collections::VecDeque::<AgentEventRow>::new()),
        move |(mut after, mut pending)| {
            let store = store.clone();
            async move {
                loop {
                    if let Some(event) = pending.pop_front() {
                        after = event.id;
                        let id = event.id.to_string();
                        let sse = Event::default()
                            .event("agent")
                            .id(id)
                            .json_data(AgentEventView::from(event))
                            .unwrap_or_else(|_| Event::default().event("agent"));
                        return Some((Ok(sse), (after, pending)));
                    }
                    match store.list_agent_events(agent_id, after, 100).await {
                        Ok(page) if !page.items.is_empty() => pending.extend(page.items),
                        Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                        // The agent is gone or the database is away: end the stream; the
                        // client reconnects with Last-Event-ID.
                        Err(_) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
