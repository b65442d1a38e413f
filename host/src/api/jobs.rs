//! Jobs: list, inspect, cancel, retry, and follow progress live (Server-Sent Events).
//!
//! A job of a project is visible to that project's members (Administrators: every job); a job
//! without a project (system work) only to Administrators. Others' jobs answer 404.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::error::{ApiError, ApiResult};
use super::extract::{name_field, ApiPath, ApiQuery};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::jobs::JobState;
use crate::rbac::{Permission, Role};
use crate::store::job_attempts::{AttemptOutcome, JobAttempt};
use crate::store::jobs::{Job, JobFilter};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(retry_job))
        .routes(routes!(job_events))
        .routes(routes!(performance))
}

/// The window of the performance report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Window {
    /// Start (RFC 3339); default 24 hours before `until`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// End (RFC 3339); default now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
}

/// Queue and sync performance over a window, across every host and worker: throughput, wait and
/// run time percentiles per job kind, retries, dead letters, queue depth, records synced.
/// Needs `metrics:read`.
#[utoipa::path(get, path = "/admin/performance", tag = "jobs", params(Window),
    responses((status = 200, body = crate::jobs::report::PerformanceReport), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn performance(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<Window>,
) -> ApiResult<Json<crate::jobs::report::PerformanceReport>> {
    who.require(Permission::MetricsRead)?;
    let window = query.parse()?;
    let until = window.until.map_or(state.now(), Millis::from_datetime);
    let since = window
        .since
        .map_or(until - Duration::from_secs(86_400), Millis::from_datetime);
    if since >= until {
        return Err(ApiError::field("since", "must be before until"));
    }
    if until - since > Duration::from_secs(90 * 86_400) {
        return Err(ApiError::field(
            "since",
            "the window may span at most 90 days",
        ));
    }
    Ok(Json(
        crate::jobs::report::performance(&state.store, since, until).await?,
    ))
}

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobView {
    id: i64,
    /// What it runs (`sync`, …).
    kind: String,
    project_id: Option<i64>,
    state: JobState,
    /// The handler's input.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    priority: i32,
    attempts: i32,
    max_attempts: i32,
    /// Not before (retries wait here).
    #[serde(with = "time::serde::rfc3339")]
    run_at: OffsetDateTime,
    cancel_requested: bool,
    progress: ProgressView,
    /// Why the last attempt failed (cleared when the job succeeds; `history` keeps it).
    last_error: Option<String>,
    /// The handler's output, when it succeeded.
    #[schema(value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    created_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
    /// The attempts that ended, oldest first, kept across retries (only on `GET /jobs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<AttemptView>>,
}

/// An ended attempt of a job.
#[derive(Debug, Serialize, ToSchema)]
struct AttemptView {
    /// Its number (a postponed attempt keeps the number the next one reuses).
    attempt: i32,
    /// The worker that ran it.
    worker: String,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    finished_at: OffsetDateTime,
    /// How it ended: `expired` when its worker stopped renewing the lease.
    outcome: AttemptOutcome,
    /// Why it did not succeed.
    error: Option<String>,
}

impl From<JobAttempt> for AttemptView {
    fn from(a: JobAttempt) -> Self {
        Self {
            attempt: a.attempt,
            worker: a.worker,
            started_at: a.started_at.to_datetime(),
            finished_at: a.finished_at.to_datetime(),
            outcome: a.outcome,
            error: a.error,
        }
    }
}

/// How far a job got.
#[derive(Debug, Serialize, ToSchema)]
struct ProgressView {
    done: i64,
    total: Option<i64>,
    message: String,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let json = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.into()));
        Self {
            id: j.id,
            kind: j.kind,
            project_id: j.project_id,
            state: j.state,
            payload: json(&j.payload),
            priority: j.priority,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at.to_datetime(),
            cancel_requested: j.cancel_requested,
            progress: ProgressView {
                done: j.progress_done,
                total: j.progress_total,
                message: j.progress_message,
            },
            last_error: j.last_error,
            result: j.result.as_deref().map(json),
            created_by: j.created_by,
            created_at: j.created_at.to_datetime(),
            started_at: j.started_at.map(Millis::to_datetime),
            finished_at: j.finished_at.map(Millis::to_datetime),
            history: None,
        }
    }
}

/// Filters and page of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListJobs {
    /// Only this project's jobs.
    project_id: Option<i64>,
    /// Only this kind.
    #[param(max_length = 64)]
    kind: Option<String>,
    /// Only this state.
    #[param(value_type = Option<JobState>)]
    state: Option<String>,
    /// From `next_cursor` of the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The jobs of the caller's projects (Administrators: all). Needs `jobs:read`.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(ListJobs),
    responses((status = 200, body = Paginated<JobView>), (status = 400, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_jobs(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListJobs>,
) -> ApiResult<Json<Paginated<JobView>>> {
    who.require(Permission::JobsRead)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let wanted_state = name_field::<JobState>("state", q.state.as_deref())?;
    if let Some(kind) = q.kind.as_deref() {
        if kind.chars().count() > 64 {
            return Err(ApiError::field("kind", "must be at most 64 characters"));
        }
    }
    if let Some(project) = q.project_id {
        access::project(&state.store, &who, project, Permission::JobsRead).await?;
    }
    let member_of = if who.user.role == Role::Administrator {
        None
    } else {
        Some(state.store.member_project_ids(who.user.id).await?)
    };
    let filter = JobFilter {
        projects: member_of.as_deref(),
        project_id: q.project_id,
        kind: q.kind.as_deref(),
        state: wanted_state,
    };
    let page = state.store.list_jobs(&filter, after, limit).await?;
    Ok(Json(Paginated::from_page(page, JobView::from)))
}

#[derive(Debug, Deserialize)]
struct JobPath {
    id: i64,
}

/// A job the caller may see with `permission`, or 404.
async fn visible(
    state: &AppState,
    who: &Principal,
    id: i64,
    permission: Permission,
) -> ApiResult<Job> {
    who.require(permission)?;
    let job = state.store.get_job(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("job"),
        other => other.into(),
    })?;
    match job.project_id {
        Some(project) => {
            access::project(&state.store, who, project, permission).await?;
        }
        None if who.user.role == Role::Administrator => {}
        None => return Err(ApiError::not_found("job")),
    }
    Ok(job)
}

/// One job, with the history of its ended attempts. Needs `jobs:read` and membership of its
/// project.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_job(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Json<JobView>> {
    let job = visible(&state, &who, path.id, Permission::JobsRead).await?;
    let history = state.store.job_attempts(job.id).await?;
    let mut view = JobView::from(job);
    view.history = Some(history.into_iter().map(AttemptView::from).collect());
    Ok(Json(view))
}

/// Cancels a job: a queued one at once, a running one cooperatively (its plugin call is
/// stopped within about a second). Finished jobs answer 409. Needs `jobs:operate`.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn cancel_job(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Json<JobView>> {
    let job = visible(&state, &who, path.id, Permission::JobsOperate).await?;
    if job.state.is_finished() {
        return Err(ApiError::Conflict(format!(
            "the job is {}; only queued or running jobs can be cancelled",
            job.state
        )));
    }
    let job = state.store.cancel_job(job.id, state.now()).await?;
    record(
        &state,
        &who,
        &client,
        "job",
        "job.cancelled",
        job.id,
        serde_json::json!({"kind": job.kind}),
    )
    .await?;
    Ok(Json(job.into()))
}

/// Runs a dead, cancelled or succeeded job again with fresh attempts. Needs `jobs:operate`.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn retry_job(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Json<JobView>> {
    let job = visible(&state, &who, path.id, Permission::JobsOperate).await?;
    let Some(job) = state.store.retry_job(job.id, state.now()).await? else {
        return Err(ApiError::Conflict(format!(
            "the job is {}; only dead, cancelled or succeeded jobs can be retried",
            job.state
        )));
    };
    record(
        &state,
        &who,
        &client,
        "job",
        "job.retried",
        job.id,
        serde_json::json!({"kind": job.kind}),
    )
    .await?;
    Ok(Json(job.into()))
}

/// Live progress: a `job` event with the job (as `GET /jobs/{id}`) whenever it changes, until
/// it is finished. Needs `jobs:read`.
#[utoipa::path(get, path = "/jobs/{id}/events", tag = "jobs", params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, content_type = "text/event-stream", description = "`job` events"),
              (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn job_events(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<JobPath>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let job = visible(&state, &who, path.id, Permission::JobsRead).await?;
    let store = state.store.clone();
    let first = Some(job);
    let stream = futures_util::stream::unfold(
        (first, None::<Millis>, false),
        move |(pending, last_seen, done)| {
            let store = store.clone();
            async move {
                if done {
                    return None;
                }
                let mut pending = pending;
                loop {
                    let job = match pending.take() {
                        Some(job) => job,
                        None => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            match store.get_job(path.id).await {
                                Ok(job) => job,
                                Err(_) => return None,
                            }
                        }
                    };
                    if Some(job.updated_at) == last_seen {
                        continue;
                    }
                    let finished = job.state.is_finished();
                    let stamp = job.updated_at;
                    let view = JobView::from(job);
                    let event = Event::default()
                        .event("job")
                        .json_data(&view)
                        .unwrap_or_else(|_| Event::default().event("job"));
                    return Some((Ok(event), (None, Some(stamp), finished)));
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
