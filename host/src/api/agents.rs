//! Agents: a project's deployable workers — create, list, read, change and delete them. Deploy
//! and stop are in `super::agent_deploys`; status, health, metrics history and runtime tokens in
//! `super::agent_status`; runs and the event stream of component agents in `super::agent_runs`.
//! The lifecycle and its rules are in [`crate::agents`].
//!
//! An agent id is only ever looked up inside the project in the path, so another project's agent
//! is 404 like one that does not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{name_field, present, ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::agents::{self, AgentState, Health};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::ids::{ProjectId, UserId};
use crate::rbac::{Permission, Role};
use crate::store::agents::{Agent, AgentFilter};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent, delete_agent))
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AgentView {
    id: i64,
    project_id: i64,
    /// Unique in the project.
    name: String,
    /// One of `GET /agent-kinds`: a built-in kind (`web-monitor`, `sync-assistant`,
    /// `triage-assistant`, `external`) or the id of an installed agent package.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")]
    kind: String,
    /// Valid against the kind's config schema.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    state: AgentState,
    /// Measured from runs (component kinds) or heartbeats (`external`); see `GET …/status`.
    health: Health,
    /// Runs finished since the last deploy (component kinds).
    runs: i64,
    /// Of which failed.
    failures: i64,
    /// Failed runs in a row.
    consecutive_failures: i64,
    /// When the last run started.
    #[serde(with = "time::serde::rfc3339::option")]
    last_run_at: Option<OffsetDateTime>,
    /// When the last successful run started.
    #[serde(with = "time::serde::rfc3339::option")]
    last_success_at: Option<OffsetDateTime>,
    /// How long the last run took, as the host measured it.
    last_duration_ms: Option<i64>,
    /// The permissions the agent's platform calls may use, fixed at its last deploy.
    grant: Vec<String>,
    /// Why the last deploy (or stop) failed.
    last_error: Option<String>,
    /// The deploy or stop job under way.
    job_id: Option<i64>,
    /// When the current runtime token was issued; `null`: none yet (`POST …/token`).
    #[serde(with = "time::serde::rfc3339::option")]
    token_issued_at: Option<OffsetDateTime>,
    /// When the current run started.
    #[serde(with = "time::serde::rfc3339::option")]
    running_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_heartbeat_at: Option<OffsetDateTime>,
    created_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl AgentView {
    fn new(a: Agent, now: Millis, timeout: Duration) -> Self {
        let health = agents::health(&a, now, timeout);
        Self {
            id: a.id,
            project_id: a.project_id,
            name: a.name,
            kind: a.kind,
            config: serde_json::from_str(&a.config).unwrap_or_default(),
            state: a.state,
            health,
            runs: a.runs,
            failures: a.failures,
            consecutive_failures: a.consecutive_failures,
            last_run_at: a.last_run_at.map(Millis::to_datetime),
            last_success_at: a.last_success_at.map(Millis::to_datetime),
            last_duration_ms: a.last_duration_ms,
            grant: a
                .grant_permissions
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok())
                .unwrap_or_default(),
            last_error: a.last_error,
            job_id: a.job_id,
            token_issued_at: a.token_issued_at.map(Millis::to_datetime),
            running_since: a.running_since.map(Millis::to_datetime),
            last_heartbeat_at: a.last_heartbeat_at.map(Millis::to_datetime),
            created_by: a.created_by,
            created_at: a.created_at.to_datetime(),
            updated_at: a.updated_at.to_datetime(),
        }
    }
}

pub(super) fn view(state: &AppState, a: Agent) -> AgentView {
    AgentView::new(a, state.now(), state.config.agents.heartbeat_timeout())
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct AgentPath {
    pub(super) id: i64,
    pub(super) agent_id: i64,
}

/// Filters and page of the agent list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListAgents {
    /// Only agents in this lifecycle state.
    #[param(value_type = Option<AgentState>)]
    state: Option<String>,
    /// Only agents of this health.
    #[param(value_type = Option<Health>)]
    health: Option<String>,
    /// From `next_cursor` of the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The project's agents, by id, with their health. Needs `agents:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/agents", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ListAgents),
    responses((status = 200, body = Paginated<AgentView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_agents(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    query: ApiQuery<ListAgents>,
) -> ApiResult<Json<Paginated<AgentView>>> {
    access::project(&state.store, &who, path.id, Permission::AgentsRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let wanted_state = name_field::<AgentState>("state", q.state.as_deref())?;
    let health = name_field::<Health>("health", q.health.as_deref())?;
    let now = state.now();
    let timeout = state.config.agents.heartbeat_timeout();
    let filter = AgentFilter {
        state: wanted_state,
        health: health.map(|h| (h, now - timeout)),
    };
    let page = state
        .store
        .list_agents(path.id, &filter, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, |a| {
        AgentView::new(a, now, timeout)
    })))
}

/// A new agent; it starts as a `draft`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    /// 1–100 characters, one line, unique in the project.
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// One of `GET /agent-kinds`: a built-in kind (`web-monitor`, `sync-assistant`,
    /// `triage-assistant`, `external`) or the id of an installed agent package enabled in the
    /// project.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")]
    kind: String,
    /// Valid against the kind's config schema (at most 16 KiB); default `{}`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl Validate for CreateAgent {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100);
        c.line("kind", &self.kind, 1, 64);
        c.finish()
    }
}

/// Changes to an agent; absent fields stay as they are. The kind cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateAgent {
    /// 1–100 characters, unique in the project.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 100, format = "line", nullable = false)]
    name: Option<String>,
    /// A whole new config (not merged), re-validated against the kind's schema. While the agent
    /// is idle (`draft`, `stopped`, `failed`), or running if the host runs its kind (from the
    /// next run on).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object, nullable = false)]
    config: Option<serde_json::Value>,
}

impl Validate for UpdateAgent {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(name) = &self.name {
            c.line("name", name, 1, 100);
        }
        c.check(
            self.name.is_some() || self.config.is_some(),
            "",
            "give at least one of name, config",
        );
        c.finish()
    }
}

/// The kind and config checked together: unknown kind, schema errors, broken references, and
/// `allow_private_network`, which only an Administrator may set.
async fn admit(
    state: &AppState,
    who: &Principal,
    project: i64,
    kind: &str,
    config: &serde_json::Value,
) -> ApiResult<()> {
    let private = config.get("allow_private_network") == Some(&serde_json::Value::Bool(true));
    if private && who.user.role != Role::Administrator {
        return Err(ApiError::Forbidden(
            "only an Administrator may let an agent reach private addresses \
             (allow_private_network)"
                .into(),
        ));
    }
    let Some(kind) = state.agent_components.kind(kind).await? else {
        let names: Vec<&str> = agents::KINDS.iter().map(|k| k.name).collect();
        return Err(ApiError::field(
            "kind",
            format!(
                "unknown kind; one of {} or the id of an installed agent package \
                 (GET /agent-kinds)",
                names.join(", ")
            ),
        ));
    };
    let errors = agents::validate_config(&kind, config);
    if !errors.is_empty() {
        return Err(ApiError::Validation(
            errors
                .into_iter()
                .map(|(f, m)| FieldError::new(f, m))
                .collect(),
        ));
    }
    agents::check_bindings(&state.store, project, &kind, config)
        .await?
        .map_err(|(field, message)| ApiError::field(&field, message))
}

fn conflict_on_name(e: StoreError) -> ApiError {
    match e {
        StoreError::Stale(what) => {
            ApiError::Conflict(format!("{what}; read the agent again and retry"))
        }
        StoreError::Duplicate { .. } => {
            ApiError::Conflict("an agent with this name exists in the project".into())
        }
        other => other.into(),
    }
}

/// Creates a draft agent. Needs `agents:manage` and membership.
#[utoipa::path(post, path = "/projects/{id}/agents", tag = "agents",
    params(("id" = i64, Path, description = "Project id")), request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_agent(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPath>,
    body: ApiJson<CreateAgent>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    access::project(&state.store, &who, path.id, Permission::AgentsManage).await?;
    let body = body.parse().await?;
    admit(&state, &who, path.id, &body.kind, &body.config).await?;
    let agent = state
        .store
        .create_agent(
            ProjectId(path.id),
            body.name.trim(),
            &body.kind,
            &body.config.to_string(),
            UserId(who.user.id),
            state.now(),
        )
        .await
        .map_err(conflict_on_name)?;
    let detail = serde_json::json!({"project_id": path.id, "name": agent.name, "kind": agent.kind});
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.created",
        agent.id,
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, agent))))
}

/// The agent in the path's project, with a dead or cancelled transition job settled.
pub(super) async fn load(
    state: &AppState,
    who: &Principal,
    path: &AgentPath,
    permission: Permission,
) -> ApiResult<Agent> {
    access::project(&state.store, who, path.id, permission).await?;
    let agent = state
        .store
        .get_agent(path.id, path.agent_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("agent"),
            other => other.into(),
        })?;
    Ok(agents::stale_job(&state.store, agent, state.now()).await?)
}

/// One agent. Needs `agents:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/agents/{agent_id}", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 200, body = AgentView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_agent(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<Json<AgentView>> {
    let agent = load(&state, &who, &path, Permission::AgentsRead).await?;
    Ok(Json(view(&state, agent)))
}

/// Renames an agent, or replaces its config (re-validated): while it is idle, or while a kind
/// the host runs is running (the change applies from its next run); otherwise 409. Needs
/// `agents:manage`.
#[utoipa::path(patch, path = "/projects/{id}/agents/{agent_id}", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_agent(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<AgentPath>,
    body: ApiJson<UpdateAgent>,
) -> ApiResult<Json<AgentView>> {
    let current = load(&state, &who, &path, Permission::AgentsManage).await?;
    let body = body.parse().await?;
    if let Some(config) = &body.config {
        // A running agent the host runs reads its config at each run: a change applies from
        // the next one. An external agent learns its config from heartbeats; it and agents in
        // transition keep theirs until they are idle.
        let live = current.state == AgentState::Running && !agents::is_external(&current);
        if !current.state.is_idle() && !live {
            return Err(ApiError::Conflict(format!(
                "the agent is {}; its config can change only while it is draft, stopped or \
                 failed, or running on this host (stop it, change the config, deploy it again)",
                current.state
            )));
        }
        admit(&state, &who, path.id, &current.kind, config).await?;
    }
    let name = body
        .name
        .as_deref()
        .map_or(current.name.as_str(), str::trim);
    let config = body
        .config
        .as_ref()
        .map_or(current.config.clone(), ToString::to_string);
    let updated = state
        .store
        .update_agent(current.id, current.state, name, &config, state.now())
        .await
        .map_err(conflict_on_name)?;
    let detail = serde_json::json!({
        "name": updated.name, "renamed": updated.name != current.name,
        "config_changed": body.config.is_some(),
    });
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.updated",
        updated.id,
        detail,
    )
    .await?;
    Ok(Json(view(&state, updated)))
}

/// Deletes an idle agent (`draft`, `stopped`, `failed`) with its metrics history. A deploying,
/// running or stopping agent is 409: stop it first. Needs `agents:manage`.
#[utoipa::path(delete, path = "/projects/{id}/agents/{agent_id}", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_agent(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &who, &path, Permission::AgentsManage).await?;
    if !state.store.delete_idle_agent(current.id).await? {
        let now = state.store.get_agent(path.id, current.id).await?;
        return Err(ApiError::Conflict(format!(
            "the agent is {}; stop it first (POST …/stop) and delete it once it is stopped",
            now.state
        )));
    }
    let detail =
        serde_json::json!({"name": current.name, "kind": current.kind, "state": current.state});
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.deleted",
        current.id,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
