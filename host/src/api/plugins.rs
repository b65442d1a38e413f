//! Plugins over REST: the administrator's lifecycle (install, upgrade, rollback, uninstall,
//! trusted publishers), per-project enablement, and trying an enabled connector's `discover`
//! and `read` on a configuration. Agent packages (`type = "agent"`) go through the same
//! lifecycle and enablement; they are deployed as agent kinds (`super::agents`), never used by
//! a connection.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::plugin_errors::{plugin_error, CallOn};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::plugins::package::{
    Manifest, ManifestAction, PackageError, PackageType, MAX_PACKAGE_BYTES,
};
use crate::plugins::registry::{Actor, RegistryError};
use crate::plugins::{kind_name, Call};
use crate::rbac::Permission;
use crate::store::plugins::{InstalledPlugin, Publisher};

pub(super) fn router() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(list_plugins, install_plugin))
        .routes(routes!(upgrade_plugin))
        .layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES));
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(get_plugin, uninstall_plugin))
        .routes(routes!(rollback_plugin))
        .routes(routes!(list_publishers, trust_publisher))
        .routes(routes!(remove_publisher))
        .routes(routes!(list_project_plugins))
        .routes(routes!(enable_plugin, disable_plugin))
        .routes(routes!(discover))
        .routes(routes!(read))
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

/// A trusted publisher key.
#[derive(Debug, Serialize, ToSchema)]
struct PublisherView {
    id: i64,
    name: String,
    /// `ed25519:<base64>`.
    public_key: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<Publisher> for PublisherView {
    fn from(p: Publisher) -> Self {
        Self {
            id: p.id,
            name: p.name,
            public_key: p.public_key,
            created_at: p.created_at.to_datetime(),
        }
    }
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

/// A publisher key to trust.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TrustPublisher {
    /// Who they are (1–100 characters).
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// Their public key, `ed25519:<base64 of 32 bytes>` as `agentic plugin keygen` prints it.
    #[schema(pattern = "^ed25519:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    public_key: String,
}

impl Validate for TrustPublisher {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100);
        c.check(
            self.public_key.trim() == self.public_key
                && crate::plugins::package::PublicKey::parse(&self.public_key).is_ok(),
            "public_key",
            "must look like ed25519:<base64 of 32 bytes>",
        );
        c.finish()
    }
}

/// Lists trusted publisher keys. Needs `plugins:manage`.
#[utoipa::path(get, path = "/plugin-publishers", tag = "plugins",
    responses((status = 200, body = Vec<PublisherView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_publishers(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<Vec<PublisherView>>> {
    who.require(Permission::PluginsManage)?;
    query.parse()?;
    let publishers = state.store.list_publishers().await?;
    Ok(Json(publishers.into_iter().map(Into::into).collect()))
}

/// Trusts a publisher key: packages it signs may be installed. Needs `plugins:manage`.
#[utoipa::path(post, path = "/plugin-publishers", tag = "plugins", request_body = TrustPublisher,
    responses((status = 201, body = PublisherView), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn trust_publisher(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<TrustPublisher>,
) -> ApiResult<(StatusCode, Json<PublisherView>)> {
    who.require(Permission::PluginsManage)?;
    let body = body.parse().await?;
    let publisher = state
        .plugins
        .trust(&actor(&who, &client), body.name.trim(), &body.public_key)
        .await?;
    Ok((StatusCode::CREATED, Json(publisher.into())))
}

#[derive(Debug, Deserialize)]
struct PublisherPath {
    id: i64,
}

/// Stops trusting a publisher key (409 while plugins it signed are installed). Needs
/// `plugins:manage`.
#[utoipa::path(delete, path = "/plugin-publishers/{id}", tag = "plugins", params(("id" = i64, Path, description = "Publisher id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn remove_publisher(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<PublisherPath>,
) -> ApiResult<StatusCode> {
    who.require(Permission::PluginsManage)?;
    state
        .plugins
        .untrust(&actor(&who, &client), path.id)
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

/// A configuration to try a plugin with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DiscoverRequest {
    /// Connection configuration; must match the plugin's config schema.
    #[schema(value_type = Object)]
    config: serde_json::Value,
}

impl Validate for DiscoverRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// A page to read.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadRequest {
    /// Connection configuration; must match the plugin's config schema.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// Stream name (from `discover`).
    #[schema(min_length = 1, max_length = 200, format = "line")]
    stream: String,
    /// The `state` of the previous page; absent for the first page.
    #[schema(max_length = 1048576, format = "text")]
    state: Option<String>,
}

impl Validate for ReadRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("stream", &self.stream, 1, 200);
        if let Some(s) = &self.state {
            c.text("state", s, 0, 1 << 20);
        }
        c.finish()
    }
}

/// A stream a plugin offers.
#[derive(Debug, Serialize, ToSchema)]
struct StreamView {
    name: String,
    description: String,
    /// Internal model of its records.
    kind: String,
    incremental: bool,
    /// JSON Schema of its records.
    #[schema(value_type = Object)]
    schema: serde_json::Value,
}

/// One page of records.
#[derive(Debug, Serialize, ToSchema)]
struct PageView {
    /// Records, each with its `kind` and `data` (the record's fields).
    #[schema(value_type = Vec<Object>)]
    records: Vec<serde_json::Value>,
    /// Pass as `state` to read the next page.
    state: String,
    has_more: bool,
}

/// Loads the active version of a plugin enabled in the project, with the request's config
/// validated against its manifest's schema. The body is read only after the permission check.
async fn enabled<T: DeserializeOwned + Validate>(
    state: &AppState,
    who: &Principal,
    path: &ProjectPluginPath,
    body: ApiJson<T>,
    config: impl FnOnce(&T) -> &serde_json::Value,
) -> ApiResult<(crate::plugins::Plugin, T)> {
    access::project(&state.store, who, path.id, Permission::PluginsRun).await?;
    // Enablement first: a plugin not enabled here is not even compiled for the caller.
    if !state.store.plugin_enabled(path.id, &path.plugin_id).await? {
        state.plugins.get(&path.plugin_id).await?;
        return Err(ApiError::Conflict(format!(
            "plugin {} is not enabled in this project",
            path.plugin_id
        )));
    }
    let (manifest, plugin) = state.plugins.active(&path.plugin_id).await?;
    let body = body.parse().await?;
    validate_config(&manifest, config(&body))?;
    Ok((plugin, body))
}

/// Checks a connection configuration against the plugin's config schema; errors name the
/// fields as `config.<path>`.
pub(super) fn validate_config(manifest: &Manifest, config: &serde_json::Value) -> ApiResult<()> {
    let validator = jsonschema::validator_for(&manifest.config_schema).map_err(|e| {
        ApiError::internal(format!("config schema of {}", manifest.id), e.to_string())
    })?;
    let errors: Vec<FieldError> = validator
        .iter_errors(config)
        .take(20)
        .map(|e| {
            let pointer = e.instance_path.to_string();
            let field = format!("config{}", pointer.replace('/', "."));
            FieldError::new(&field, e.to_string())
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Runs an enabled plugin's `discover` on a configuration. This try-out call has no connection,
/// so the plugin gets no network and no credential. Needs `plugins:run` and membership.
#[utoipa::path(post, path = "/projects/{id}/plugins/{plugin_id}/discover", tag = "plugins",
    params(("id" = i64, Path, description = "Project id"), ("plugin_id" = String, Path, description = "Plugin id")),
    request_body = DiscoverRequest,
    responses((status = 200, body = Vec<StreamView>), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn discover(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectPluginPath>,
    body: ApiJson<DiscoverRequest>,
) -> ApiResult<Json<Vec<StreamView>>> {
    let (plugin, body) = enabled(&state, &who, &path, body, |b| &b.config).await?;
    let runtime = state.plugins.runtime().await?;
    let streams = runtime
        .discover(&plugin, &Call::default(), &body.config.to_string())
        .await
        .map_err(|e| plugin_error(e, CallOn::Request))?;
    Ok(Json(
        streams
            .into_iter()
            .map(|s| StreamView {
                name: s.name,
                description: s.description,
                kind: kind_name(s.kind).to_owned(),
                incremental: s.incremental,
                schema: serde_json::from_str(&s.schema)
                    .unwrap_or(serde_json::Value::String(s.schema)),
            })
            .collect(),
    ))
}

/// Reads one page of a stream with an enabled plugin, without storing it (syncs store pages).
/// No connection, so no network. Needs `plugins:run` and membership.
#[utoipa::path(post, path = "/projects/{id}/plugins/{plugin_id}/read", tag = "plugins",
    params(("id" = i64, Path, description = "Project id"), ("plugin_id" = String, Path, description = "Plugin id")),
    request_body = ReadRequest,
    responses((status = 200, body = PageView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn read(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectPluginPath>,
    body: ApiJson<ReadRequest>,
) -> ApiResult<Json<PageView>> {
    let (plugin, body) = enabled(&state, &who, &path, body, |b| &b.config).await?;
    let runtime = state.plugins.runtime().await?;
    let page = runtime
        .read(
            &plugin,
            &Call::default(),
            &body.config.to_string(),
            &body.stream,
            body.state.as_deref(),
        )
        .await
        .map_err(|e| plugin_error(e, CallOn::Request))?;
    Ok(Json(PageView {
        records: page
            .records
            .into_iter()
            .map(|r| {
                // The lift wrote `data` as one JSON object.
                let data: serde_json::Value = serde_json::from_str(r.data()).unwrap_or_default();
                serde_json::json!({"kind": r.kind, "data": data})
            })
            .collect(),
        state: page.state,
        has_more: page.has_more,
    }))
}
