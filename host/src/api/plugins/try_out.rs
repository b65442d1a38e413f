//! Trying an enabled connector on a configuration, without a connection: its `discover`, and
//! one page of `read` that is not stored. No connection means no network and no credential.
//! The configuration is checked against the manifest's schema ([`validate_config`], which
//! connections use too).

use axum::extract::State;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ProjectPluginPath;
use crate::api::access;
use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::api::extract::{ApiJson, ApiPath, Checks, Validate};
use crate::api::plugin_errors::{plugin_error, CallOn};
use crate::api::{AppState, Problem};
use crate::auth::Principal;
use crate::plugins::package::Manifest;
use crate::plugins::{kind_name, Call};
use crate::rbac::Permission;

/// A configuration to try a plugin with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscoverRequest {
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
pub(super) struct ReadRequest {
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
pub(super) struct StreamView {
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
pub(super) struct PageView {
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
pub(in crate::api) fn validate_config(
    manifest: &Manifest,
    config: &serde_json::Value,
) -> ApiResult<()> {
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
pub(super) async fn discover(
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
pub(super) async fn read(
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
