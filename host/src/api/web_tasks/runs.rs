//! A task's runs: starting one as a job (`web_task.run`), the run history, and one run with
//! its per-step results.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{load, ListPage, TaskPath};
use crate::api::audit::record;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiPath, ApiQuery};
use crate::api::jobs::JobView;
use crate::api::pagination::{window, Paginated};
use crate::api::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::ids::{JobId, ProjectId, UserId, WebTaskId, WebTaskRunId};
use crate::jobs::new_job;
use crate::rbac::Permission;
use crate::store::jobs::NewJob;
use crate::store::web_tasks::{RunState, WebTaskRun};
use crate::store::StoreError;
use crate::web_tasks::runner::{RunRequest, StepResult};
use crate::web_tasks::RUN;

/// One run of a task.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunView {
    id: i64,
    task_id: i64,
    /// 1, 2, … within the task.
    number: i64,
    /// The job that runs it (follow it at `/jobs/{id}`).
    job_id: Option<i64>,
    /// `manual` or `schedule`.
    origin: String,
    state: RunState,
    /// Why it failed: the failed step and its error.
    error: Option<String>,
    /// The document holding the extracted data (when anything was extracted).
    document_id: Option<i64>,
    /// Per-step results, in step order (only on `GET …/runs/{rid}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<StepResult>>,
    requested_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
}

impl RunView {
    fn new(r: WebTaskRun, with_steps: bool) -> Self {
        Self {
            id: r.id,
            task_id: r.task_id,
            number: r.number,
            job_id: r.job_id,
            origin: r.origin,
            state: r.state,
            error: r.error,
            document_id: r.document_id,
            steps: with_steps.then(|| serde_json::from_str(&r.steps).unwrap_or_default()),
            requested_by: r.requested_by,
            created_at: r.created_at.to_datetime(),
            started_at: r.started_at.map(Millis::to_datetime),
            finished_at: r.finished_at.map(Millis::to_datetime),
        }
    }
}

/// The run started.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunStarted {
    run: RunView,
    job: JobView,
}

#[derive(Debug, Deserialize)]
pub(super) struct RunPath {
    id: i64,
    tid: i64,
    rid: i64,
}

/// Starts a run as a job (follow it at `/jobs/{id}`, read its results at `…/runs/{rid}`).
/// Needs `web_tasks:manage` and membership.
#[utoipa::path(post, path = "/projects/{id}/web-tasks/{tid}/run", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    responses((status = 202, body = RunStarted), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn run_task(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<TaskPath>,
) -> ApiResult<(StatusCode, Json<RunStarted>)> {
    let task = load(&state, &who, &path, Permission::WebTasksManage).await?;
    let now = state.now();
    let run = state
        .store
        .create_web_task_run(WebTaskId(task.id), "manual", Some(UserId(who.user.id)), now)
        .await?;
    let payload = RunRequest {
        task_id: task.id,
        run_id: Some(run.id),
    };
    let job = NewJob {
        idempotency_key: Some(format!("web_task_run:{}", run.id)),
        ..new_job(RUN, Some(task.project_id), &payload, Some(who.user.id), now)
    };
    let (job, _) = state.store.enqueue(&job, now).await?;
    state
        .store
        .set_web_task_run_job(WebTaskRunId(run.id), JobId(job.id))
        .await?;
    // The run as requested: a worker may already have run it (the run's own endpoint shows
    // that), and the answer to this request says what was asked and which job does it.
    let mut run = run;
    run.job_id = Some(job.id);
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.run_requested",
        task.id,
        serde_json::json!({"project_id": path.id, "run_id": run.id, "job_id": job.id}),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunStarted {
            run: RunView::new(run, false),
            job: job.into(),
        }),
    ))
}

/// A task's run history, oldest first, without per-step results. Needs `web_tasks:read`.
#[utoipa::path(get, path = "/projects/{id}/web-tasks/{tid}/runs", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id"), ListPage),
    responses((status = 200, body = Paginated<RunView>), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_runs(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<TaskPath>,
    query: ApiQuery<ListPage>,
) -> ApiResult<Json<Paginated<RunView>>> {
    let task = load(&state, &who, &path, Permission::WebTasksRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state
        .store
        .list_web_task_runs(task.id, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, |r| RunView::new(r, false))))
}

/// One run with its per-step results. Needs `web_tasks:read`.
#[utoipa::path(get, path = "/projects/{id}/web-tasks/{tid}/runs/{rid}", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id"),
           ("rid" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn get_run(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<RunPath>,
) -> ApiResult<Json<RunView>> {
    let task_path = TaskPath {
        id: path.id,
        tid: path.tid,
    };
    let task = load(&state, &who, &task_path, Permission::WebTasksRead).await?;
    let run = state
        .store
        .get_web_task_run(
            ProjectId(path.id),
            WebTaskId(task.id),
            WebTaskRunId(path.rid),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("run"),
            other => other.into(),
        })?;
    Ok(Json(RunView::new(run, true)))
}
