//! Plugins over REST: the administrator's lifecycle (install, upgrade, rollback, uninstall,
//! trusted publishers), per-project enablement, and trying an enabled connector's `discover`
//! and `read` on a configuration. Agent packages (`type = "agent"`) go through the same
//! lifecycle and enablement; they are deployed as agent kinds (`super::agents`), never used by
//! a connection.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, NoQuery};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::plugins::package::{
    Manifest, ManifestAction, PackageError, PackageType, MAX_PACKAGE_BYTES,
};
use crate::plugins::registry::{Actor, RegistryError};
use crate::rbac::Permission;
use crate::store::plugins::InstalledPlugin;

/// Trusted publisher keys.
mod publishers;
/// Trying an enabled connector's `discover` and `read` on a configuration.
mod try_out;

pub(super) use try_out::validate_config;

pub(super) fn router() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(list_plugins, install_plugin))
        .routes(routes!(upgrade_plugin))
        .layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES));
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(get_plugin, uninstall_plugin))
        .routes(routes!(rollback_plugin))
        .routes(routes!(
            publishers::list_publishers,
            publishers::trust_publisher
        ))
        .routes(routes!(publishers::remove_publisher))
        .routes(routes!(list_project_plugins))
        .routes(routes!(enable_plugin, disable_plugin))
        .routes(routes!(try_out::discover))
        .routes(routes!(try_out::read))
}

/// Media type of a plugin package upload.
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.agentic.plugin+tar";

/// One installed version.
#[derive(Debug, Serialize, ToSchema)]
struct PluginVersionView {
    version: String,
    /// Contract version: of `agentic:connector` (connectors) or `agentic:agent` (agents).
    wit: String,
    /// SHA-256 of the component.
    sha256: String,
    /// Publisher whose key signed it.
    publisher: String,
    #[serde(with = "time::serde::rfc3339")]
    installed_at: OffsetDateTime,
}

/// An installed plugin: the active version's manifest, every installed version and where it is
/// enabled.
#[derive(Debug, Serialize, ToSchema)]
struct PluginView {
    id: String,
    /// `connector` (used by connections) or `agent` (deployed as an agent kind of this id).
    #[serde(rename = "type")]
    package_type: PackageType,
    name: String,
    description: String,
    active_version: String,
    /// The version `rollback` would return to.
    previous_version: Option<String>,
    allowed_hosts: Vec<String>,
    auth_kinds: Vec<String>,
    /// JSON Schema of a connection's configuration.
    #[schema(value_type = Object)]
    config_schema: serde_json::Value,
    actions: Vec<ManifestAction>,
    /// Agent packages: the permissions its platform calls may use (a deployed agent gets
    /// those its deployer holds).
    needs: Vec<String>,
    versions: Vec<PluginVersionView>,
    /// Projects it is enabled in (shown to `plugins:manage` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled_projects: Option<Vec<i64>>,
    #[serde(with = "time::serde::rfc3339")]
    installed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

fn view(plugin: InstalledPlugin, who: &Principal) -> ApiResult<PluginView> {
    let active = plugin
        .active()
        .ok_or_else(|| ApiError::bug(format!("plugin {} has no active version row", plugin.id)))?;
    let manifest = Manifest::parse(&active.manifest)
        .map_err(|e| ApiError::internal(format!("stored manifest of {}", plugin.id), e))?;
    Ok(PluginView {
        id: plugin.id,
        package_type: manifest.package_type,
        needs: manifest.needs().to_vec(),
        name: manifest.name,
        description: manifest.description,
        active_version: plugin.active_version,
        previous_version: plugin.previous_version,
        allowed_hosts: manifest.allowed_hosts,
        auth_kinds: manifest.auth_kinds,
        config_schema: manifest.config_schema,
        actions: manifest.actions,
        versions: plugin
            .versions
            .into_iter()
            .map(|v| PluginVersionView {
                version: v.version,
                wit: v.wit_version,
                sha256: v.sha256,
                publisher: v.publisher,
                installed_at: v.installed_at.to_datetime(),
            })
            .collect(),
        enabled_projects: who
            .can(Permission::PluginsManage)
            .then_some(plugin.enabled_projects),
        installed_at: plugin.installed_at.to_datetime(),
        updated_at: plugin.updated_at.to_datetime(),
    })
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Package(PackageError::Malformed(m)) => ApiError::field("package", m),
            RegistryError::Package(PackageError::Manifest(m)) => ApiError::field("plugin.toml", m),
            RegistryError::Package(PackageError::Signature(m)) => ApiError::field("plugin.sig", m),
            e @ RegistryError::UnknownPublisher(_) => ApiError::field("plugin.sig", e.to_string()),
            e @ RegistryError::NotAComponent(..) => ApiError::field("plugin.wasm", e.to_string()),
            e @ RegistryError::WrongType { .. } => ApiError::Conflict(e.to_string()),
            e @ RegistryError::Mismatch(_) => ApiError::field("plugin.toml", e.to_string()),
            e @ RegistryError::AlreadyInstalled { .. } => ApiError::Conflict(e.to_string()),
            e @ RegistryError::NotNewer { .. } => ApiError::Conflict(e.to_string()),
            RegistryError::NotFound(what) => ApiError::not_found(&what),
            RegistryError::Conflict(m) => ApiError::Conflict(m),
            RegistryError::Runtime(e) => ApiError::internal("plugin runtime", e),
            RegistryError::Store(e) => e.into(),
        }
    }
}

fn actor(who: &Principal, client: &ClientInfo) -> Actor {
    Actor {
        user: Some(who.user.id),
        ip: client.ip.clone(),
    }
}

/// A package upload: the raw `.agp` bytes, sent as `application/vnd.agentic.plugin+tar` (or
/// `application/octet-stream`), at most 64 MiB.
struct PackageBody(Bytes);

impl FromRequest<AppState> for PackageBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Only an administrator's upload is read at all: 64 MiB is not buffered for anyone else.
        let (mut parts, body) = req.into_parts();
        let who = <Principal as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, state,
        )
        .await?;
        who.require(Permission::PluginsManage)?;
        let req = Request::from_parts(parts, body);
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != PACKAGE_MEDIA_TYPE && media != "application/octet-stream" {
            return Err(ApiError::UnsupportedMediaType(format!(
                "send the package file as {PACKAGE_MEDIA_TYPE}"
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "a package may be at most {} MiB",
                    MAX_PACKAGE_BYTES >> 20
                ))
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::field("package", "the body is empty"));
        }
        Ok(Self(bytes))
    }
}

/// Lists installed plugins. Needs `plugins:read`.
#[utoipa::path(get, path = "/plugins", tag = "plugins",
    responses((status = 200, body = Vec<PluginView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_plugins(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<Vec<PluginView>>> {
    who.require(Permission::PluginsRead)?;
    query.parse()?;
    let plugins = state.store.list_plugins().await?;
    Ok(Json(
        plugins
            .into_iter()
            .map(|p| view(p, &who))
            .collect::<ApiResult<_>>()?,
    ))
}

/// Installs a signed plugin package (`agentic plugin sign` makes one). The signature must be by
/// a trusted publisher, the manifest valid, the contract version supported, and the component
/// one of our world whose `spec()` matches its manifest; otherwise nothing is installed.
/// Needs `plugins:manage`.
#[utoipa::path(post, path = "/plugins", tag = "plugins",
    request_body(content = Vec<u8>, content_type = "application/vnd.agentic.plugin+tar", description = "The package file (.agp)"),
    responses((status = 201, body = PluginView), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn install_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    PackageBody(bytes): PackageBody,
) -> ApiResult<(StatusCode, Json<PluginView>)> {
    who.require(Permission::PluginsManage)?;
    let plugin = state.plugins.install(&actor(&who, &client), &bytes).await?;
    Ok((StatusCode::CREATED, Json(view(plugin, &who)?)))
}

#[derive(Debug, Deserialize)]
struct PluginPath {
    id: String,
}

#[derive(Debug, Deserialize)]
struct ProjectPluginPath {
    id: i64,
    plugin_id: String,
}

/// Reads one installed plugin. Needs `plugins:read`.
#[utoipa::path(get, path = "/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = "Plugin id")),
    responses((status = 200, body = PluginView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_plugin(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginView>> {
    who.require(Permission::PluginsRead)?;
    let plugin = state.plugins.get(&path.id).await?;
    Ok(Json(view(plugin, &who)?))
}

/// Options of an upgrade.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UpgradeQuery {
    /// Install the package even if its version is not newer than the active one (a
    /// downgrade, audited as `plugin.downgraded`). Default false: such a package is 409.
    #[serde(default)]
    force: bool,
}

/// Installs a newer version of an installed plugin from a signed package and makes it active
/// at once, on every host; the replaced version becomes the rollback target. A version not
/// newer than the active one is 409 (naming both) unless `force=true`. Needs `plugins:manage`.
#[utoipa::path(post, path = "/plugins/{id}/upgrade", tag = "plugins", params(("id" = String, Path, description = "Plugin id"), UpgradeQuery),
    request_body(content = Vec<u8>, content_type = "application/vnd.agentic.plugin+tar", description = "The package file (.agp)"),
    responses((status = 200, body = PluginView), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn upgrade_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<PluginPath>,
    query: ApiQuery<UpgradeQuery>,
    PackageBody(bytes): PackageBody,
) -> ApiResult<Json<PluginView>> {
    who.require(Permission::PluginsManage)?;
    let query = query.parse()?;
    let plugin = state
        .plugins
        .upgrade(&actor(&who, &client), Some(&path.id), &bytes, query.force)
        .await?;
    Ok(Json(view(plugin, &who)?))
}

/// Makes the previous version in the plugin's history active (409 if there is none): the one
/// installed before the active one, so a second rollback goes further back. Takes effect at once
/// on every host sharing the database, with or without Redis. Needs `plugins:manage`.
#[utoipa::path(post, path = "/plugins/{id}/rollback", tag = "plugins", params(("id" = String, Path, description = "Plugin id")),
    responses((status = 200, body = PluginView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn rollback_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<Json<PluginView>> {
    who.require(Permission::PluginsManage)?;
    let plugin = state
        .plugins
        .rollback(&actor(&who, &client), &path.id)
        .await?;
    Ok(Json(view(plugin, &who)?))
}

/// Uninstalls a plugin: every version, and its enablement in every project. Needs `plugins:manage`.
#[utoipa::path(delete, path = "/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = "Plugin id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn uninstall_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<PluginPath>,
) -> ApiResult<StatusCode> {
    who.require(Permission::PluginsManage)?;
    state
        .plugins
        .uninstall(&actor(&who, &client), &path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

/// Lists the plugins enabled in a project. Needs `plugins:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/plugins", tag = "plugins", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = Vec<PluginView>), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_project_plugins(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
    ApiPath(path): ApiPath<ProjectPath>,
) -> ApiResult<Json<Vec<PluginView>>> {
    access::project(&state.store, &who, path.id, Permission::PluginsRead).await?;
    query.parse()?;
    let mut out = Vec::new();
    for id in state.store.project_plugins(path.id).await? {
        out.push(view(state.plugins.get(&id).await?, &who)?);
    }
    Ok(Json(out))
}

/// Enables an installed plugin in a project (idempotent). Needs `plugins:enable` and membership.
#[utoipa::path(put, path = "/projects/{id}/plugins/{plugin_id}", tag = "plugins",
    params(("id" = i64, Path, description = "Project id"), ("plugin_id" = String, Path, description = "Plugin id")),
    responses((status = 200, body = PluginView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn enable_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPluginPath>,
) -> ApiResult<Json<PluginView>> {
    access::project(&state.store, &who, path.id, Permission::PluginsEnable).await?;
    state
        .plugins
        .enable(&actor(&who, &client), path.id, &path.plugin_id)
        .await?;
    Ok(Json(view(state.plugins.get(&path.plugin_id).await?, &who)?))
}

/// Disables a plugin in a project (idempotent). Needs `plugins:enable` and membership.
#[utoipa::path(delete, path = "/projects/{id}/plugins/{plugin_id}", tag = "plugins",
    params(("id" = i64, Path, description = "Project id"), ("plugin_id" = String, Path, description = "Plugin id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn disable_plugin(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPluginPath>,
) -> ApiResult<StatusCode> {
    access::project(&state.store, &who, path.id, Permission::PluginsEnable).await?;
    state
        .plugins
        .disable(&actor(&who, &client), path.id, &path.plugin_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
