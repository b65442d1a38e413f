//! The HTTP API.
//!
//! [`app`] builds the one router that `agentic serve` and the tests both use. Each resource has
//! its own module exposing `router()`; they are merged here under `/api/v1`, together with the
//! OpenAPI document (generated from the handlers' annotations by utoipa) and the cross-cutting
//! layers: request ids, tracing, metrics, timeouts, panics-as-500, body limits and problem+json
//! for unknown routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// Object-level access checks.
pub mod access;
/// The problem+json error type.
pub mod error;
/// Extractors with problem+json rejections and body validation.
pub mod extract;
/// Cursor pagination.
pub mod pagination;

/// A connection's actions: list them, run one.
mod actions;
/// Deploying and stopping agents (jobs).
mod agent_deploys;
/// The kinds of agent: built-in and installed agent packages.
mod agent_kinds;
/// Component agents' runs and every agent's event stream (events and alerts).
mod agent_runs;
/// The API agents call with their runtime token: heartbeats and metrics.
mod agent_runtime;
/// Agents' status, health, metrics history and runtime tokens.
mod agent_status;
/// Agents: create, list, read, change, delete.
mod agents;
/// Analytics per project and across projects.
mod analytics;
/// The audit log (read-only).
mod audit;
/// Login, refresh, logout, me, own sessions, password change.
mod auth;
/// Backups for administrators: the log of attempts, status, start one.
mod backups;
/// Which connection a request under `/projects/{id}/connections/{cid}` is about.
mod connection_access;
/// A connection's `check`: on demand and before saving.
mod connection_check;
/// A connection's named service origins: their view and the rules an override meets.
mod connection_origins;
/// The rules a connection must meet to be saved.
mod connection_rules;
/// Connections and their credentials.
mod connections;
/// OpenAPI document and the embedded Swagger UI.
mod docs;
/// Documents: uploads, versions, downloads, metadata and search.
mod documents;
/// Identity providers' administration: client secrets in the vault.
mod identity_providers;
/// Jobs: list, inspect, cancel, retry, live progress.
mod jobs;
/// OAuth 2.0 authorization of connections: start and callback.
mod oauth;
/// Single sign-on with OpenID Connect: login, callback, code exchange, logout, back-channel.
mod oidc;
/// Health, readiness and Prometheus metrics.
mod ops;
/// How a failed plugin call answers: the one mapping of plugin and action errors.
mod plugin_errors;
/// Connector plugins: lifecycle, publishers, enablement, try-out calls.
mod plugins;
/// Projects and their members.
mod projects;
/// Synced models (work items, requirements, …), starting syncs, sync schedules.
mod records;
/// SCIM 2.0 provisioning of people and groups by an identity provider, under `/scim/v2`.
mod scim;
/// Service accounts and their API keys.
mod service_accounts;
/// Login sessions as the API shows them.
mod sessions;
/// User administration.
mod users;
/// Web-automation tasks: steps, runs as jobs, run history, schedules.
mod web_tasks;

pub use error::{ApiError, ApiResult, FieldError, Problem};

/// Everything a handler may need; cheap to clone (all `Arc`s).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Identity service.
    pub auth: Auth,
    /// The clock (injectable for tests).
    pub clock: Arc<dyn Clock>,
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Renders `/metrics`; `None` when no recorder could be installed.
    pub metrics: Option<PrometheusHandle>,
    /// Installed connector plugins.
    pub plugins: Arc<crate::plugins::registry::Registry>,
    /// Encrypted credentials.
    pub vault: Arc<crate::vault::Vault>,
    /// Sessions obtained from credentials (OAuth tokens, login cookies).
    pub sessions: Arc<crate::vault::sessions::Sessions>,
    /// Where document bytes are kept.
    pub blobs: crate::documents::blobs::Blobs,
    /// API requests counted for the analytics, until flushed to the database.
    pub usage: Arc<crate::analytics::usage::UsageRecorder>,
    /// The components of the built-in agent kinds.
    pub agent_components: Arc<crate::agents::components::Components>,
}

impl AppState {
    /// Now.
    pub fn now(&self) -> crate::clock::Millis {
        self.clock.now_ms()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agentic System API",
        description = "REST API of the Agentic System host. Errors are RFC 9457 problem+json. \
                       Lists use cursor pagination (`cursor`, `limit`; response `next_cursor`).",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "auth", description = "Login, tokens and sessions"),
        (name = "users", description = "User administration (Administrator)"),
        (name = "service-accounts", description = "Non-human principals and their API keys"),
        (name = "projects", description = "Projects and membership"),
        (name = "plugins", description = "Connector plugins: lifecycle, publishers, per-project enablement"),
        (name = "connections", description = "A project's connections to outside services, with write-only credentials"),
        (name = "documents", description = "A project's documents: uploads, versions, downloads, metadata and search"),
        (name = "web-tasks", description = "Web-automation tasks: steps run against a site through the egress rules, run history, schedules"),
        (name = "agents", description = "A project's agents: configuration, deploy and stop (jobs), runtime tokens, status, health and metrics"),
        (name = "analytics", description = "Counts and time series of work items, documents, syncs, jobs, agents and API usage, per project and across projects"),
        (name = "agent-runtime", description = "Called by agents themselves, with their agent token (`aat_…`)"),
        (name = "audit", description = "Append-only audit log"),
        (name = "backups", description = "The installation's backups: attempts, status, start one (Administrator)"),
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "scim", description = "SCIM 2.0 provisioning (RFC 7643, RFC 7644) under `/scim/v2`, for an identity provider's API key with `scim:provision`. Bodies and errors are `application/scim+json`: errors are SCIM error messages, not problem+json"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or a service-account API key agk_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agent_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("an agent's runtime token aat_…")
                    .build(),
            ),
        );
    }
}

/// The resource routers under `/api/v1`, by module name.
fn resources() -> Vec<(&'static str, OpenApiRouter<AppState>)> {
    vec![
        ("auth", auth::router()),
        ("oidc", oidc::router()),
        ("identity_providers", identity_providers::router()),
        ("users", users::router()),
        ("service_accounts", service_accounts::router()),
        ("projects", projects::router()),
        ("plugins", plugins::router()),
        ("connections", connections::router()),
        ("actions", actions::router()),
        ("connection_check", connection_check::router()),
        ("oauth", oauth::router()),
        ("jobs", jobs::router()),
        ("records", records::router()),
        ("documents", documents::router()),
        ("web_tasks", web_tasks::router()),
        ("agents", agents::router()),
        ("agent_deploys", agent_deploys::router()),
        ("agent_status", agent_status::router()),
        ("agent_kinds", agent_kinds::router()),
        ("agent_runs", agent_runs::router()),
        ("agent_runtime", agent_runtime::router()),
        ("analytics", analytics::router()),
        ("audit", audit::router()),
        ("backups", backups::router()),
    ]
}

/// The API routes and their OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    let api = resources()
        .into_iter()
        .fold(OpenApiRouter::new(), |api, (_, module)| api.merge(module));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .nest("/api/v1", api)
        .nest("/scim/v2", scim::router())
}

/// The OpenAPI document of the whole API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    docs::finish(routes().split_for_parts().1)
}

/// Schema names that two modules define differently: `"Name: module_a, module_b"`.
///
/// utoipa keys schemas by the type's bare name, and the last module merged wins, so two types
/// called `VersionView` would document one module's field with the other's schema. The OpenAPI
/// test keeps this list empty.
pub fn schema_name_conflicts() -> Vec<String> {
    let mut seen: std::collections::BTreeMap<String, (&str, serde_json::Value)> =
        Default::default();
    let mut conflicts = Vec::new();
    let modules = [("ops", ops::router()), ("scim", scim::router())]
        .into_iter()
        .chain(resources());
    for (module, router) in modules {
        let doc = router.split_for_parts().1;
        let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
        for (name, schema) in schemas {
            let schema = serde_json::to_value(schema).unwrap_or_default();
            match seen.get(&name) {
                Some((first, known)) if *known != schema => {
                    conflicts.push(format!("{name}: {first}, {module}"));
                }
                Some(_) => {}
                None => {
                    seen.insert(name, (module, schema));
                }
            }
        }
    }
    conflicts
}

/// Builds the application router.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = routes().split_for_parts();
    let openapi = docs::finish(openapi);
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    let request_id = HeaderName::from_static("x-request-id");
    let cors = cors(&state.config.http.cors_allowed_origins);
    router
        .merge(docs::router(openapi))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes))
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                // The panic's message goes to the log with the 500, not only to stderr.
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                ApiError::bug(format!("handler panicked: {message}")).into_response()
            },
        ))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(
            state.usage.clone(),
            count_usage,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .layer(cors)
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The span of one request: method, path (never the query, which may carry secrets one day),
/// and the request id that is also returned to the client.
fn request_span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// Cross-origin access for the configured browser origins only (none by default).
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

/// Ends a request that runs past the configured deadline with a 503 problem.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "request did not finish within {}s",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// Counts the request for the API usage analytics (in memory; see `analytics::usage`).
async fn count_usage(
    State(usage): State<Arc<crate::analytics::usage::UsageRecorder>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let start = Instant::now();
    let response = next.run(req).await;
    usage.record(&crate::analytics::usage::Request {
        route: route.as_deref(),
        path: &path,
        method: method.as_str(),
        status: response.status().as_u16(),
        duration: start.elapsed(),
    });
    response
}

/// Counts requests and their latency by route template (not raw path: ids would explode the
/// label space), method and status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}
