//! Agents: a project's deployable workers — CRUD, deploy and stop (jobs), runtime tokens, status,
//! health and metrics history. The lifecycle and its rules are in [`crate::agents`]; runs and
//! the event stream of component agents are in `super::agent_runs`.
//!
//! An agent id is only ever looked up inside the project in the path, so another project's agent
//! is 404 like one that does not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{name_field, present, ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::jobs::JobView;
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::agents::{self, AgentJob, AgentState, Health};
use crate::auth::{ClientInfo, Principal};
use crate::clock::{to_datetime, Millis};
use crate::ids::{ProjectId, UserId};
use crate::rbac::{Permission, Role};
use crate::store::agents::{Agent, AgentFilter, MetricsSample};
use crate::store::jobs::NewJob;
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .routes(routes!(deploy_agent))
        .routes(routes!(stop_agent))
        .routes(routes!(rotate_token))
        .routes(routes!(agent_status))
        .routes(routes!(agent_metrics))
}

/// The heartbeat timeout in force, in milliseconds.
pub(super) fn timeout_ms(state: &AppState) -> i64 {
    i64::try_from(
        state
            .config
            .agents
            .heartbeat_timeout_secs
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX)
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
struct AgentView {
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
    fn new(a: Agent, now: Millis, timeout_ms: i64) -> Self {
        let health = agents::health(&a, now, timeout_ms);
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
            last_run_at: a.last_run_at.map(to_datetime),
            last_success_at: a.last_success_at.map(to_datetime),
            last_duration_ms: a.last_duration_ms,
            grant: a
                .grant_permissions
                .as_deref()
                .and_then(|g| serde_json::from_str(g).ok())
                .unwrap_or_default(),
            last_error: a.last_error,
            job_id: a.job_id,
            token_issued_at: a.token_issued_at.map(to_datetime),
            running_since: a.running_since.map(to_datetime),
            last_heartbeat_at: a.last_heartbeat_at.map(to_datetime),
            created_by: a.created_by,
            created_at: to_datetime(a.created_at),
            updated_at: to_datetime(a.updated_at),
        }
    }
}

fn view(state: &AppState, a: Agent) -> AgentView {
    AgentView::new(a, state.now(), timeout_ms(state))
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct AgentPath {
    id: i64,
    agent_id: i64,
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
    let filter = AgentFilter {
        state: wanted_state,
        health: health.map(|h| (h, now - timeout_ms(&state))),
    };
    let page = state
        .store
        .list_agents(path.id, &filter, after, limit)
        .await?;
    let timeout = timeout_ms(&state);
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
async fn load(
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

/// The agent and the job that moves it.
#[derive(Debug, Serialize, ToSchema)]
struct TransitionStarted {
    agent: AgentView,
    /// Follow it at `/jobs/{id}`.
    job: JobView,
}

fn transition_job(
    agent: &Agent,
    kind: &str,
    by: i64,
    grant: Option<Vec<String>>,
    now: Millis,
) -> NewJob {
    let payload = AgentJob {
        agent_id: agent.id,
        grant,
    };
    NewJob {
        // Lifecycle changes go before bulk work such as syncs.
        priority: 10,
        ..crate::jobs::new_job(kind, Some(agent.project_id), &payload, Some(by), now)
    }
}

/// Why a deploy cannot start from the agent's state.
fn cannot_deploy(agent: &Agent) -> ApiError {
    let job = agent
        .job_id
        .map(|j| format!(" (job {j})"))
        .unwrap_or_default();
    ApiError::Conflict(match agent.state {
        AgentState::Deploying => format!("the agent is already deploying{job}"),
        AgentState::Running => {
            "the agent is already running; stop it first to deploy it again".into()
        }
        AgentState::Stopping => {
            format!("the agent is stopping{job}; deploy it again once it is stopped")
        }
        other => format!("the agent is {other} and cannot be deployed"),
    })
}

/// Why a stop cannot start from the agent's state.
fn cannot_stop(agent: &Agent) -> ApiError {
    let job = agent
        .job_id
        .map(|j| format!(" (job {j})"))
        .unwrap_or_default();
    ApiError::Conflict(match agent.state {
        AgentState::Draft => "the agent has never been deployed; there is nothing to stop".into(),
        AgentState::Stopping => format!("the agent is already stopping{job}"),
        AgentState::Stopped => "the agent is already stopped".into(),
        AgentState::Failed => {
            "the agent failed to deploy and is not running; there is nothing to stop".into()
        }
        other => format!("the agent is {other} and cannot be stopped"),
    })
}

/// Deploys an idle agent (`draft`, `stopped` or `failed`): it becomes `deploying` and an
/// `agent.deploy` job checks its config, references and (component kinds) component and makes it
/// `running` (or `failed`, with the reason in `last_error`); a component agent's first run is
/// enqueued then. The agent's grant is fixed now: the kind's needed permissions (an installed
/// package's manifest `needs`) that the caller holds. Other states are 409. Needs `agents:manage`.
#[utoipa::path(post, path = "/projects/{id}/agents/{agent_id}/deploy", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 202, body = TransitionStarted), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn deploy_agent(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<(StatusCode, Json<TransitionStarted>)> {
    let current = load(&state, &who, &path, Permission::AgentsManage).await?;
    let now = state.now();
    // The grant: what of the kind's needs the person deploying holds, fixed now (an installed
    // kind's needs as its active version declares them).
    let grant = state.agent_components.kind(&current.kind).await?.map(|k| {
        k.needs()
            .iter()
            .filter(|p| who.require(**p).is_ok())
            .map(|p| p.as_str().to_owned())
            .collect()
    });
    let job = transition_job(&current, agents::DEPLOY, who.user.id, grant, now);
    let Some((agent, job)) = state
        .store
        .start_transition(
            current.id,
            &AgentState::IDLE,
            AgentState::Deploying,
            &job,
            now,
        )
        .await?
    else {
        let now = state.store.get_agent(path.id, current.id).await?;
        return Err(cannot_deploy(&now));
    };
    let detail = serde_json::json!({"job_id": job.id, "from": current.state});
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.deploy_requested",
        agent.id,
        detail,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TransitionStarted {
            agent: view(&state, agent),
            job: job.into(),
        }),
    ))
}

/// Stops a deploying or running agent: it becomes `stopping` and an `agent.stop` job makes it
/// `stopped`, ends its runs and cancels the run under way (a deploy still under way then changes
/// nothing). Other states are 409. Needs `agents:manage`.
#[utoipa::path(post, path = "/projects/{id}/agents/{agent_id}/stop", tag = "agents",
    params(("id" = i64, Path, description = "Project id"), ("agent_id" = i64, Path, description = "Agent id")),
    responses((status = 202, body = TransitionStarted), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn stop_agent(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<AgentPath>,
) -> ApiResult<(StatusCode, Json<TransitionStarted>)> {
    let current = load(&state, &who, &path, Permission::AgentsManage).await?;
    let now = state.now();
    let job = transition_job(&current, agents::STOP, who.user.id, None, now);
    let Some((agent, job)) = state
        .store
        .start_transition(
            current.id,
            &[AgentState::Deploying, AgentState::Running],
            AgentState::Stopping,
            &job,
            now,
        )
        .await?
    else {
        let now = state.store.get_agent(path.id, current.id).await?;
        return Err(cannot_stop(&now));
    };
    let detail = serde_json::json!({"job_id": job.id, "from": current.state});
    record(
        &state,
        &who,
        &client,
        "agent",
        "agent.stop_requested",
        agent.id,
        detail,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TransitionStarted {
            agent: view(&state, agent),
            job: job.into(),
        }),
    ))
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
            issued_at: to_datetime(now),
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
    let timeout = timeout_ms(&state);
    let health = agents::health(&a, state.now(), timeout);
    let external = agents::is_external(&a);
    let unhealthy_since = (health == Health::Unhealthy).then(|| {
        if !external {
            return to_datetime(a.last_run_at.unwrap_or_default());
        }
        let since = a.running_since.unwrap_or_default();
        let last = a.last_heartbeat_at.filter(|t| *t >= since).unwrap_or(since);
        to_datetime(last.saturating_add(timeout))
    });
    Ok(Json(AgentStatus {
        agent_id: a.id,
        state: a.state,
        health,
        heartbeat_timeout_secs: state.config.agents.heartbeat_timeout_secs,
        runs: a.runs,
        consecutive_failures: a.consecutive_failures,
        last_run_at: a.last_run_at.map(to_datetime),
        last_success_at: a.last_success_at.map(to_datetime),
        running_since: a.running_since.map(to_datetime),
        last_heartbeat_at: a.last_heartbeat_at.map(to_datetime),
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
            at: to_datetime(s.at),
            metrics: serde_json::from_str(&s.metrics).unwrap_or_default(),
        }
    }
}

fn millis(t: OffsetDateTime) -> Millis {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
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
    let since = q.since.map_or(0, millis);
    let until = q.until.map_or(i64::MAX, millis);
    if since >= until {
        return Err(ApiError::field("since", "must be before until"));
    }
    let page = state
        .store
        .list_agent_metrics(agent.id, since, until, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, MetricsView::from)))
}
