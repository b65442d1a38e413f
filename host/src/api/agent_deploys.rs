//! Deploying and stopping an agent: each is a job on the durable queue that moves the agent
//! through its lifecycle ([`crate::agents::lifecycle`]); the answer names the job to follow.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::{load, view, AgentPath, AgentView};
use super::audit::record;
use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use super::jobs::JobView;
use super::{AppState, Problem};
use crate::agents::{self, AgentJob, AgentState};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::rbac::Permission;
use crate::store::agents::Agent;
use crate::store::jobs::NewJob;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deploy_agent))
        .routes(routes!(stop_agent))
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
