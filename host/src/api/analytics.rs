//! Analytics: `GET /projects/{id}/analytics/{section}` for a project's members and
//! `GET /analytics/{section}` across every project for Administrators.
//!
//! Both take the same window (`from`, `to`, `bucket`), checked by
//! [`crate::analytics::Range::parse`]: a bad value is a 422 naming the field, and a window of
//! more than [`crate::analytics::MAX_POINTS`] buckets is refused with the reason in the
//! problem's `detail`. The numbers come from [`crate::analytics::report`] (SQL, cached).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiPath, ApiQuery};
use super::{AppState, Problem};
use crate::analytics::{self, Bucket, Range, Report, Section};
use crate::auth::Principal;
use crate::clock::Millis;
use crate::rbac::Permission;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_analytics))
        .routes(routes!(all_analytics))
}

/// The window of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WindowQuery {
    /// Start (RFC 3339, inclusive, not before 1970); default: 24 hours, 30 days, 12 weeks or 12
    /// months (by `bucket`) before `to`. Must be before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// End (RFC 3339, exclusive, not before 1970); default: the end of the bucket holding now.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `hour`, `day` (default), `week` (Monday to Sunday, UTC) or `month` (calendar, UTC). The
    /// window may hold at most 1000 buckets.
    #[param(value_type = Option<Bucket>)]
    bucket: Option<String>,
}

impl WindowQuery {
    fn range(&self, now: Millis) -> ApiResult<Range> {
        Range::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            self.bucket.as_deref(),
            now,
        )
        .map_err(|errors| {
            ApiError::Validation(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            )
        })
    }
}

#[derive(Debug, Deserialize)]
struct ProjectSectionPath {
    id: i64,
    section: String,
}

#[derive(Debug, Deserialize)]
struct SectionPath {
    section: String,
}

/// The section a path names; an unknown one is 404 like any unknown resource.
fn section(name: &str) -> ApiResult<Section> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        ApiError::NotFound(format!(
            "no analytics section `{name}`: one of work-items, documents, syncs, jobs, agents, \
             api-usage"
        ))
    })
}

async fn run(
    state: &AppState,
    project: Option<i64>,
    section: Section,
    q: &WindowQuery,
) -> ApiResult<Json<Report>> {
    let now = state.now();
    let range = q.range(now)?;
    let timeout = state.config.agents.heartbeat_timeout();
    Ok(Json(
        analytics::report(&state.store, project, section, &range, now, timeout).await?,
    ))
}

/// A project's analytics: `current` (the state now), `totals` over the window and a `series`
/// with one point per bucket. Sections: `work-items`, `documents`, `syncs`, `jobs`, `agents`,
/// `api-usage` (see docs/API.md for each one's names). Reports are cached for up to
/// `cache.ttl_secs`. Needs `analytics:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/analytics/{section}", tag = "analytics",
    params(("id" = i64, Path, description = "Project id"),
           ("section" = Section, Path, description = "What to count"), WindowQuery),
    responses((status = 200, body = Report), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn project_analytics(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectSectionPath>,
    query: ApiQuery<WindowQuery>,
) -> ApiResult<Json<Report>> {
    access::project(&state.store, &who, path.id, Permission::AnalyticsRead).await?;
    let q = query.parse()?;
    let section = section(&path.section)?;
    run(&state, Some(path.id), section, &q).await
}

/// Analytics across every project (API usage includes requests outside projects). Same
/// sections and window as the project's. Needs `analytics:read_all` (Administrators).
#[utoipa::path(get, path = "/analytics/{section}", tag = "analytics",
    params(("section" = Section, Path, description = "What to count"), WindowQuery),
    responses((status = 200, body = Report), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn all_analytics(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<SectionPath>,
    query: ApiQuery<WindowQuery>,
) -> ApiResult<Json<Report>> {
    who.require(Permission::AnalyticsReadAll)?;
    let q = query.parse()?;
    let section = section(&path.section)?;
    run(&state, None, section, &q).await
}
