//! Connections: a project's configured use of a plugin against one service, with a write-only
//! credential kept in the vault, and `check` through the mediated egress path.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::connection_access::{load, ConnectionPath};
use super::connection_check::{before_saving, checkable, SaveQuery};
use super::connection_origins::{self as origins, Rules};
use super::connection_rules::{
    admit, conflict_on_name, credential_problems, credential_transport, private_network_allowed,
};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::rbac::Permission;
use crate::store::connections::{Connection, ConnectionFields};
use crate::store::StoreError;
use crate::vault::credentials::CredentialInput;

/// A connection as the API shows it.
mod views;

use views::{view, ConnectionView};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(
            get_connection,
            update_connection,
            delete_connection
        ))
}

/// A new connection.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateConnection {
    /// An installed plugin enabled in the project.
    #[schema(min_length = 1, max_length = 64, format = "line")]
    plugin_id: String,
    /// 1–100 characters, unique in the project.
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// Configuration (never secrets), valid against the plugin's config schema.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// The service's base URL (http or https), on a host the plugin declares.
    #[schema(min_length = 1, max_length = 2000, format = "line")]
    base_url: String,
    /// Let the plugin reach private and loopback addresses (on-premises servers).
    /// Administrators only.
    #[serde(default)]
    allow_private_network: bool,
    /// Overrides of the service origins the plugin declares, by name (e.g. `{"sheets":
    /// "https://sheets-proxy.acme.example/"}`): held to the base URL's rules; a private or
    /// loopback address needs an Administrator and `allow_private_network`.
    #[serde(default)]
    origins: BTreeMap<String, String>,
    /// The credential, e.g. `{"kind": "bearer", "token": "…"}`; every kind is in docs/API.md.
    /// Write-only.
    credential: CredentialInput,
}

impl Validate for CreateConnection {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100)
            .line("plugin_id", &self.plugin_id, 1, 64)
            .line("base_url", &self.base_url, 1, 2000);
        let overrides = self
            .origins
            .iter()
            .map(|(name, url)| (name.clone(), Some(url.clone())))
            .collect();
        origins::shape(&overrides, &mut c);
        credential_problems(
            &self.credential,
            &self.base_url,
            self.allow_private_network,
            &mut c,
        );
        c.finish()
    }
}

/// Changes to a connection; absent fields stay as they are. A new `credential` replaces the
/// stored one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateConnection {
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    config: Option<serde_json::Value>,
    #[schema(min_length = 1, max_length = 2000, format = "line")]
    base_url: Option<String>,
    allow_private_network: Option<bool>,
    /// Origin overrides to set (a URL) or remove (`null`); names left out stay as they are.
    /// Changing one where a credential is stored needs the credential again.
    #[schema(value_type = Option<Object>)]
    origins: Option<BTreeMap<String, Option<String>>>,
    credential: Option<CredentialInput>,
}

impl Validate for UpdateConnection {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(name) = &self.name {
            c.line("name", name, 1, 100);
        }
        if let Some(url) = &self.base_url {
            c.line("base_url", url, 1, 2000);
        }
        if let Some(overrides) = &self.origins {
            origins::shape(overrides, &mut c);
        }
        c.finish()
    }
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

/// Lists a project's connections. Needs `connections:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/connections", tag = "connections",
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = Vec<ConnectionView>), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_connections(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    access::project(&state.store, &who, path.id, Permission::ConnectionsRead).await?;
    query.parse()?;
    let list = state.store.list_connections(path.id).await?;
    let mut views = Vec::with_capacity(list.len());
    for connection in list {
        views.push(view(&state, connection).await?);
    }
    Ok(Json(views))
}

/// Creates a connection; the credential goes to the vault and is never returned. Needs
/// `connections:manage` and membership.
#[utoipa::path(post, path = "/projects/{id}/connections", tag = "connections",
    params(("id" = i64, Path, description = "Project id")), request_body = CreateConnection,
    responses((status = 201, body = ConnectionView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_connection(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPath>,
    query: ApiQuery<SaveQuery>,
    body: ApiJson<CreateConnection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    access::project(&state.store, &who, path.id, Permission::ConnectionsManage).await?;
    let query = query.parse()?;
    let body = body.parse().await?;
    private_network_allowed(&who, body.allow_private_network)?;
    let kind = body.credential.kind();
    let manifest = admit(
        &state,
        path.id,
        &body.plugin_id,
        &body.config,
        kind,
        &body.base_url,
    )
    .await?;
    let rules = Rules {
        who: &who,
        manifest: &manifest,
        base_url: &body.base_url,
        allow_private: body.allow_private_network,
        credential_kind: kind,
    };
    origins::admit(&rules, &body.origins, &BTreeMap::new())?;
    credential_transport(kind, &body.base_url, body.allow_private_network)?;
    let now = state.now();
    let secret_id = match body.credential.secret() {
        Some(secret) => Some(state.vault.put(&secret, now).await?),
        None => None,
    };
    let fields = ConnectionFields {
        name: body.name.trim(),
        config: &body.config.to_string(),
        base_url: &body.base_url,
        allow_private_network: body.allow_private_network,
        origins: &body.origins,
        credential_kind: kind,
        secret_id,
    };
    let check = if query.check && checkable(kind) {
        // A taken name is refused before the service is called (the insert still decides).
        let taken = state.store.list_connections(path.id).await?;
        if taken.iter().any(|c| c.name == fields.name) {
            if let Some(id) = secret_id {
                state.vault.delete(id).await?;
            }
            return Err(conflict_on_name(StoreError::Duplicate {
                constraint: "connections.name".into(),
            }));
        }
        let draft = draft(0, path.id, &body.plugin_id, &fields, now);
        match before_saving(&state, &draft).await {
            Ok(result) => Some(result),
            Err(e) => {
                // Nothing stays behind: the secret (and any session of it) goes.
                if let Some(id) = secret_id {
                    state.vault.delete(id).await?;
                }
                return Err(e);
            }
        }
    } else {
        None
    };
    let created = state
        .store
        .create_connection(path.id, &body.plugin_id, &fields, who.user.id, now)
        .await;
    let connection = match created {
        Ok(c) => c,
        Err(e) => {
            // Nothing stays behind: the secret goes with the failed connection.
            if let Some(id) = secret_id {
                state.vault.delete(id).await?;
            }
            return Err(conflict_on_name(e));
        }
    };
    let detail = serde_json::json!({
        "project_id": path.id, "plugin_id": connection.plugin_id, "name": connection.name,
        "credential_kind": kind, "allow_private_network": connection.allow_private_network,
        "origins": connection.origins,
    });
    record(
        &state,
        &who,
        &client,
        "connection",
        "connection.created",
        connection.id,
        detail,
    )
    .await?;
    if secret_id.is_some() {
        let detail = serde_json::json!({"kind": kind});
        record(
            &state,
            &who,
            &client,
            "connection",
            "credential.created",
            connection.id,
            detail,
        )
        .await?;
    }
    let mut view = view(&state, connection).await?;
    view.check = check;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The connection `fields` would make, before it is saved (`id` 0 for a new one): what a
/// check before saving runs against.
fn draft(
    id: i64,
    project_id: i64,
    plugin_id: &str,
    f: &ConnectionFields<'_>,
    now: Millis,
) -> Connection {
    Connection {
        id,
        project_id,
        plugin_id: plugin_id.to_owned(),
        name: f.name.to_owned(),
        config: f.config.to_owned(),
        base_url: f.base_url.to_owned(),
        allow_private_network: f.allow_private_network,
        origins: f.origins.clone(),
        credential_kind: f.credential_kind.to_owned(),
        secret_id: f.secret_id,
        created_at: now,
        updated_at: now,
    }
}

/// Reads a connection. Needs `connections:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/connections/{cid}", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 200, body = ConnectionView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_connection(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<Json<ConnectionView>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsRead).await?;
    Ok(Json(view(&state, connection).await?))
}

/// Changes a connection; a new credential replaces the stored one. Needs `connections:manage`.
#[utoipa::path(patch, path = "/projects/{id}/connections/{cid}", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    request_body = UpdateConnection,
    responses((status = 200, body = ConnectionView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_connection(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
    query: ApiQuery<SaveQuery>,
    body: ApiJson<UpdateConnection>,
) -> ApiResult<Json<ConnectionView>> {
    let current = load(&state, &who, &path, Permission::ConnectionsManage).await?;
    let query = query.parse()?;
    let body = body.parse().await?;
    if let Some(allow) = body.allow_private_network {
        private_network_allowed(&who, allow && !current.allow_private_network)?;
    }
    let moves = body
        .base_url
        .as_deref()
        .is_some_and(|url| url != current.base_url);
    // A stored credential goes only where it was given for: moving the connection elsewhere
    // needs the credential again, or it could be sent to a server of the caller's choosing.
    if moves && current.secret_id.is_some() && body.credential.is_none() {
        return Err(ApiError::field(
            "credential",
            "changing base_url needs the credential again (the stored one was given for the old URL)",
        ));
    }
    // The same for the service origins, where the credential goes too.
    let new_origins = match &body.origins {
        Some(changes) => origins::merged(&current.origins, changes),
        None => current.origins.clone(),
    };
    let origins_move = new_origins != current.origins;
    if origins_move && current.secret_id.is_some() && body.credential.is_none() {
        return Err(ApiError::field(
            "credential",
            "changing origins needs the credential again (the stored one was given for the old URLs)",
        ));
    }
    // Where private addresses are allowed, only an Administrator decides where the plugin goes.
    let stays_private = body
        .allow_private_network
        .unwrap_or(current.allow_private_network);
    private_network_allowed(&who, (moves || origins_move) && stays_private)?;
    let config = match &body.config {
        Some(c) => c.clone(),
        None => serde_json::from_str(&current.config).unwrap_or_default(),
    };
    let base_url = body.base_url.clone().unwrap_or(current.base_url.clone());
    let kind = match &body.credential {
        Some(credential) => credential.kind().to_owned(),
        None => current.credential_kind.clone(),
    };
    let manifest = admit(
        &state,
        path.id,
        &current.plugin_id,
        &config,
        &kind,
        &base_url,
    )
    .await?;
    let rules = Rules {
        who: &who,
        manifest: &manifest,
        base_url: &base_url,
        allow_private: stays_private,
        credential_kind: &kind,
    };
    origins::admit(&rules, &new_origins, &current.origins)?;
    credential_transport(&kind, &base_url, stays_private)?;
    if let Some(credential) = &body.credential {
        // Checked here, where the base URL and network the credential will be used with are known.
        let mut c = Checks::default();
        credential_problems(credential, &base_url, stays_private, &mut c);
        c.finish().map_err(ApiError::Validation)?;
    }
    let now = state.now();
    // A new credential is a new vault row, and the connection moves to it in its update: a
    // refused update (a taken name, say) leaves the stored credential as it was, and the old
    // row (with any session of it) goes only once the connection no longer points at it.
    let mut secret_id = current.secret_id;
    let mut new_secret = None;
    if let Some(credential) = &body.credential {
        secret_id = match credential.secret() {
            Some(secret) => {
                let id = state.vault.put(&secret, now).await?;
                new_secret = Some(id);
                Some(id)
            }
            None => None,
        };
    }
    let fields = ConnectionFields {
        name: body
            .name
            .as_deref()
            .map_or(current.name.as_str(), str::trim),
        config: &config.to_string(),
        base_url: &base_url,
        allow_private_network: body
            .allow_private_network
            .unwrap_or(current.allow_private_network),
        origins: &new_origins,
        credential_kind: &kind,
        secret_id,
    };
    let check = match &body.credential {
        Some(_) if query.check && checkable(&kind) => {
            let draft = draft(current.id, path.id, &current.plugin_id, &fields, now);
            match before_saving(&state, &draft).await {
                Ok(result) => Some(result),
                Err(e) => {
                    // The stored credential stays as it was; the refused one goes.
                    if let Some(id) = new_secret {
                        state.vault.delete(id).await?;
                    }
                    return Err(e);
                }
            }
        }
        _ => None,
    };
    let updated = match state
        .store
        .update_connection(current.id, &fields, now)
        .await
    {
        Ok(updated) => updated,
        Err(e) => {
            if let Some(id) = new_secret {
                state.vault.delete(id).await?;
            }
            return Err(conflict_on_name(e));
        }
    };
    if let Some(old) = current.secret_id.filter(|old| Some(*old) != secret_id) {
        state.vault.delete(old).await?;
    }
    let detail = serde_json::json!({
        "credential_replaced": body.credential.is_some(), "credential_kind": kind,
        "allow_private_network": updated.allow_private_network, "origins": updated.origins,
    });
    record(
        &state,
        &who,
        &client,
        "connection",
        "connection.updated",
        updated.id,
        detail,
    )
    .await?;
    if let Some(credential) = &body.credential {
        let detail = serde_json::json!({"kind": credential.kind()});
        record(
            &state,
            &who,
            &client,
            "connection",
            "credential.updated",
            updated.id,
            detail,
        )
        .await?;
    }
    let mut view = view(&state, updated).await?;
    view.check = check;
    Ok(Json(view))
}

/// Deletes a connection and its credential. Needs `connections:manage` and membership.
#[utoipa::path(delete, path = "/projects/{id}/connections/{cid}", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_connection(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &who, &path, Permission::ConnectionsManage).await?;
    let verifiers = state
        .store
        .flow_verifiers(path.id, Some(current.id))
        .await?;
    state.store.delete_connection(path.id, current.id).await?;
    crate::jobs::schedule::remove(&state.store, &super::records::schedule_name(current.id))
        .await
        .map_err(|e| ApiError::internal("removing the sync schedule", e))?;
    for id in current.secret_id.into_iter().chain(verifiers) {
        state.vault.delete(id).await?;
    }
    let detail =
        serde_json::json!({"name": current.name, "credential_kind": current.credential_kind});
    record(
        &state,
        &who,
        &client,
        "connection",
        "connection.deleted",
        current.id,
        detail,
    )
    .await?;
    if current.secret_id.is_some() {
        let detail = serde_json::json!({"kind": current.credential_kind});
        record(
            &state,
            &who,
            &client,
            "connection",
            "credential.deleted",
            current.id,
            detail,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
