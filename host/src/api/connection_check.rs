//! A connection's `check`: on demand (`POST …/connections/{cid}/check`), and before a
//! connection is saved — on creation and when its credential changes — so a wrong token or an
//! unreachable service is refused where someone can fix it, with the connector's own words.
//! `?check=false` saves without it (a service that is down today).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::record;
use super::connection_access::{load, ConnectionPath};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::ApiPath;
use super::plugin_errors::{plugin_error, CallOn};
use super::{AppState, Problem};
use crate::actions::{connector_kind, connector_message};
use crate::auth::{ClientInfo, Principal};
use crate::plugins::PluginError;
use crate::rbac::Permission;
use crate::store::connections::Connection;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_connection))
}

/// The outcome of a check: the connector's message, or its typed error.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CheckResult {
    ok: bool,
    /// The connector's message ("connected as …") when `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The connector's error kind (`auth`, `config`, `transient`, …) when not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What the connector said went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// `?check=`: whether to run the connector's `check` before saving.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SaveQuery {
    /// `false` saves without checking (a service that is down); default `true`.
    #[serde(default = "yes")]
    pub(super) check: bool,
}

fn yes() -> bool {
    true
}

/// Credential kinds that cannot pass a check when saved: an authorization-code credential has
/// no token until a person authorizes it (`POST …/authorize`), so it is checked after that.
pub(super) fn checkable(kind: &str) -> bool {
    kind != "oauth2-authorization-code"
}

/// Runs the plugin's `check` for `connection` (saved, or about to be: then its id is `0`)
/// through the connection's egress with its credential injected by the host. A connector
/// error is a result; a crash, timeout or limit is an error.
async fn run(state: &AppState, connection: &Connection) -> ApiResult<CheckResult> {
    let (manifest, plugin) = state.plugins.active(&connection.plugin_id).await?;
    let mut call = crate::sync::connection_call(&manifest, connection, &state.sessions)
        .map_err(ApiError::Conflict)?;
    if connection.id == 0 {
        call.connection = None;
    }
    let runtime = state.plugins.runtime().await?;
    match runtime.check(&plugin, &call, &connection.config).await {
        Ok(message) => Ok(CheckResult {
            ok: true,
            message: Some(message),
            error: None,
            detail: None,
        }),
        Err(PluginError::Connector(e)) => Ok(CheckResult {
            ok: false,
            message: None,
            error: Some(connector_kind(&e).to_owned()),
            detail: Some(connector_message(&e).to_owned()),
        }),
        Err(other) => Err(plugin_error(other, CallOn::Request)),
    }
}

/// The check of a connection about to be saved: its result when it passed; otherwise a 422
/// on the field the connector's error points at (`credential` for `auth`, `config` for
/// `config` and `invalid-input`, `check` for the rest) with the connector's message.
pub(super) async fn before_saving(
    state: &AppState,
    connection: &Connection,
) -> ApiResult<CheckResult> {
    let result = run(state, connection).await?;
    if result.ok {
        return Ok(result);
    }
    let kind = result.error.as_deref().unwrap_or("internal");
    let field = match kind {
        "auth" => "credential",
        "config" | "invalid-input" => "config",
        _ => "check",
    };
    let message = format!(
        "the connector's check failed ({kind}): {}; nothing was saved (add ?check=false to save \
         without checking)",
        result.detail.as_deref().unwrap_or("no reason given")
    );
    Err(ApiError::Validation(vec![FieldError::new(field, message)]))
}

/// Runs the plugin's `check` for the connection, through the mediated egress path with the
/// connection's credential injected by the host. A refused credential is a result (`ok:
/// false`, `error: auth`), audited as `credential.use_failed`. Needs `connections:manage`.
#[utoipa::path(post, path = "/projects/{id}/connections/{cid}/check", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 200, body = CheckResult), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 502, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn check_connection(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<Json<CheckResult>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsManage).await?;
    if !state
        .store
        .plugin_enabled(path.id, &connection.plugin_id)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "plugin {} is not enabled in this project",
            connection.plugin_id
        )));
    }
    let result = run(&state, &connection).await?;
    if result.error.as_deref() == Some("auth") {
        credential_refused(&state, &who, &client, &connection).await?;
    }
    Ok(Json(result))
}

/// Audits that the connection's service refused its credential (a check or an action met an
/// `auth` error): administrators look for these when a token was revoked or expired.
pub(super) async fn credential_refused(
    state: &AppState,
    who: &Principal,
    client: &ClientInfo,
    connection: &Connection,
) -> ApiResult<()> {
    let audit = serde_json::json!({"plugin_id": connection.plugin_id, "credential_kind": connection.credential_kind});
    record(
        state,
        who,
        client,
        "connection",
        "credential.use_failed",
        connection.id,
        audit,
    )
    .await
}
