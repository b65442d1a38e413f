//! A connection's actions: the ones its plugin declares, and running one (`invoke`) through the
//! connection's egress and credential. The rules live in [`crate::actions`]; this module adds
//! access, the problem mapping and the audit.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::record;
use super::connection_access::{load, ConnectionPath};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, Validate};
use super::{AppState, Problem};
use crate::actions::{connector_kind, ActionError};
use crate::auth::{ClientInfo, Principal};
use crate::plugins::package::ManifestAction;
use crate::plugins::PluginError;
use crate::rbac::Permission;
use crate::store::connections::Connection;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_actions))
        .routes(routes!(run_action))
}

#[derive(Debug, Deserialize)]
struct ActionPath {
    id: i64,
    cid: i64,
    action: String,
}

/// What to run an action with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RunAction {
    /// The action's input, valid against its `input_schema` (errors on `input.<path>`).
    #[schema(value_type = Object)]
    input: serde_json::Value,
}

impl Validate for RunAction {
    /// The action's own schema decides; it is checked once the action is known.
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// What an action returned.
#[derive(Debug, Serialize, ToSchema)]
struct ActionResult {
    /// The action run.
    action: String,
    /// Its output, valid against its `output_schema`.
    #[schema(value_type = Object)]
    output: serde_json::Value,
}

/// The plugin must still be enabled in the project: disabling it stops its use everywhere.
async fn enabled(state: &AppState, project: i64, connection: &Connection) -> ApiResult<()> {
    if state
        .store
        .plugin_enabled(project, &connection.plugin_id)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "plugin {} is not enabled in this project",
            connection.plugin_id
        )))
    }
}

/// Lists the actions the connection's plugin (its active version) offers, with their input and
/// output JSON Schemas. Needs `connections:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/connections/{cid}/actions", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 200, body = Vec<ManifestAction>), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_actions(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<Json<Vec<ManifestAction>>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsRead).await?;
    let manifest = state.plugins.manifest(&connection.plugin_id).await?;
    Ok(Json(manifest.actions))
}

/// Runs one of the connection's actions with `{"input": …}`: the input is checked against the
/// action's input schema (422 on `input.<path>`), the plugin's `invoke` runs through the
/// connection's egress with its credential injected by the host, and the output is checked
/// against the output schema (502 if the connector breaks it). Every run that reached the
/// connector is audited as `action.run` with the action and its outcome, never the input.
/// Needs `connections:act` and membership.
#[utoipa::path(post, path = "/projects/{id}/connections/{cid}/actions/{action}", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id"),
           ("action" = String, Path, description = "Action name, as listed by GET …/actions")),
    request_body = RunAction,
    responses((status = 200, body = ActionResult), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 502, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn run_action(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ActionPath>,
    body: ApiJson<RunAction>,
) -> ApiResult<Json<ActionResult>> {
    let at = ConnectionPath {
        id: path.id,
        cid: path.cid,
    };
    let connection = load(&state, &who, &at, Permission::ConnectionsAct).await?;
    let body = body.parse().await?;
    enabled(&state, path.id, &connection).await?;
    let result = crate::actions::run(
        &state.plugins,
        &state.sessions,
        &connection,
        &path.action,
        &body.input,
    )
    .await;
    // Refused before the connector ran: nothing happened to audit.
    if let Err(
        e @ (ActionError::Unknown { .. } | ActionError::Input(_) | ActionError::BaseUrl(_)),
    ) = result
    {
        return Err(e.into());
    }
    let outcome = result.as_ref().map_or_else(ActionError::outcome, |_| "ok");
    let detail = serde_json::json!({
        "plugin_id": connection.plugin_id, "action": path.action, "outcome": outcome,
    });
    record(
        &state,
        &who,
        &client,
        "connection",
        "action.run",
        connection.id,
        detail,
    )
    .await?;
    if let Err(ActionError::Plugin(PluginError::Connector(e))) = &result {
        if connector_kind(e) == "auth" {
            super::connection_check::credential_refused(&state, &who, &client, &connection).await?;
        }
    }
    let output = result?;
    Ok(Json(ActionResult {
        action: path.action,
        output,
    }))
}
