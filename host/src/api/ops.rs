use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Principal;
use crate::clock::Millis;
use crate::rbac::Permission;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The liveness or readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// Per-dependency results (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
}

/// Results of the readiness checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// `ok` when the database answered and can write (its write lock can be taken and it can
    /// grow by a page; no recent write found it full).
    pub database: &'static str,
    /// `ok`; `degraded` when the configured Redis is unreachable (lookups then go to the
    /// database: the host still serves, so readiness stays 200); `off` when caching is off.
    pub cache: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()),
    responses((status = 200, body = HealthReport)))]
async fn healthz() -> Json<HealthReport> {
    Json(HealthReport {
        status: "ok",
        checks: None,
    })
}

/// Readiness: within two seconds the database answers and can write: a database that reads
/// but refuses writes (a full disk, a write lock never released) is not ready, and the problem
/// says why. The cache is reported, not required: with Redis down the host serves from the
/// database (`cache: degraded`).
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()),
    responses((status = 200, body = HealthReport), (status = 503, body = super::Problem)))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<HealthReport>> {
    let database = async {
        if let Err(e) = state.store.ping().await {
            tracing::warn!(error = %e, "readiness: the database is not reachable");
            return Err("the database is not reachable".to_owned());
        }
        state.store.check_writable().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness: the database cannot write");
            if e.is_full() {
                "the database cannot write: it is full (free disk space; writes resume by \
                 themselves)"
                    .to_owned()
            } else {
                "the database cannot write (the host's log says why)".to_owned()
            }
        })
    };
    let (database, cache) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(2), database),
        state.store.cache().health()
    );
    match database {
        Ok(Ok(())) => Ok(Json(HealthReport {
            status: "ready",
            checks: Some(Checks {
                database: "ok",
                cache: cache.as_str(),
            }),
        })),
        Ok(Err(detail)) => Err(ApiError::Unavailable(detail)),
        Err(_) => Err(ApiError::Unavailable(
            "the database did not answer or grant its write lock within 2 s".into(),
        )),
    }
}

/// The backup gauges, read from the database at each scrape and written out here rather than
/// kept in the process's recorder: every host then reports the same last backup whichever
/// process made it, and two scrapes never see each other's values. Without any successful
/// backup the timestamp is 0, so `time() - agentic_backup_last_success_timestamp_seconds`
/// alerts at once.
async fn backup_gauges(state: &AppState) -> ApiResult<String> {
    let health = state.store.backup_health().await?;
    let secs = |ms: Option<i64>| ms.map_or(0.0, |ms| ms as f64 / 1000.0);
    let gauges = [
        (
            "agentic_backup_last_success_timestamp_seconds",
            "End of the newest successful backup (Unix time; 0: none yet).",
            secs(health.last_success_at.map(Millis::as_ms)),
        ),
        (
            "agentic_backup_last_size_bytes",
            "Size of the newest successful backup.",
            health.last_size.unwrap_or(0) as f64,
        ),
        (
            "agentic_backup_last_duration_seconds",
            "How long the newest successful backup took.",
            secs(health.last_duration_ms),
        ),
        (
            "agentic_backup_failures_since_last_success",
            "Failed backup attempts since the newest successful one.",
            health.failures_since_success as f64,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    Ok(out)
}

/// Prometheus metrics: request counts and latency by route, method and status; cache hits,
/// misses, errors and lookup latency by cache.
/// Needs `metrics:read` (Administrator, Support Engineer, or a service-account key with that scope).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
              (status = 401, body = super::Problem), (status = 403, body = super::Problem)))]
async fn metrics(State(state): State<AppState>, who: Principal) -> ApiResult<impl IntoResponse> {
    who.require(Permission::MetricsRead)?;
    let mut body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    body.push_str(&backup_gauges(&state).await?);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
