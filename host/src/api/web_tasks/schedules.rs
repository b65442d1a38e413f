//! A task's cron schedule (UTC), kept by the job scheduler under `web_task:<id>`: read, set
//! and removed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{load, TaskPath};
use crate::api::audit::record;
use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::api::extract::{ApiJson, ApiPath, Checks, Validate};
use crate::api::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::jobs::{new_job, schedule};
use crate::rbac::Permission;
use crate::web_tasks::runner::RunRequest;
use crate::web_tasks::RUN;

/// A task's cron schedule.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ScheduleView {
    /// Cron, UTC.
    pub(super) cron: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) next_run_at: OffsetDateTime,
}

/// A task's schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PutSchedule {
    /// Cron, UTC: five fields (`*/30 * * * *`) or six with seconds first.
    #[schema(min_length = 1, max_length = 120, format = "line")]
    cron: String,
}

impl Validate for PutSchedule {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("cron", &self.cron, 1, 120);
        c.finish()
    }
}

pub(super) fn schedule_name(task: i64) -> String {
    format!("web_task:{task}")
}

/// The task's schedule. Needs `web_tasks:read`.
#[utoipa::path(get, path = "/projects/{id}/web-tasks/{tid}/schedule", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    responses((status = 200, body = ScheduleView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn get_web_task_schedule(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<TaskPath>,
) -> ApiResult<Json<ScheduleView>> {
    let task = load(&state, &who, &path, Permission::WebTasksRead).await?;
    let Some(found) = schedule::get(&state.store, &schedule_name(task.id)).await? else {
        return Err(ApiError::not_found("schedule"));
    };
    Ok(Json(ScheduleView {
        cron: found.cron,
        next_run_at: found.next_run_at.to_datetime(),
    }))
}

/// Runs the task on a cron (UTC). Needs `web_tasks:manage`.
#[utoipa::path(put, path = "/projects/{id}/web-tasks/{tid}/schedule", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    request_body = PutSchedule,
    responses((status = 200, body = ScheduleView), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn put_web_task_schedule(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<TaskPath>,
    body: ApiJson<PutSchedule>,
) -> ApiResult<Json<ScheduleView>> {
    let task = load(&state, &who, &path, Permission::WebTasksManage).await?;
    let body = body.parse().await?;
    let payload = RunRequest {
        task_id: task.id,
        run_id: None,
    };
    let job = new_job(
        RUN,
        Some(task.project_id),
        &payload,
        Some(who.user.id),
        Millis::EPOCH,
    );
    let next = schedule::upsert(
        &state.store,
        &schedule_name(task.id),
        &job,
        &body.cron,
        state.now(),
    )
    .await?;
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.scheduled",
        task.id,
        serde_json::json!({"project_id": path.id, "cron": body.cron}),
    )
    .await?;
    Ok(Json(ScheduleView {
        cron: body.cron,
        next_run_at: next.to_datetime(),
    }))
}

/// Removes the task's schedule. Needs `web_tasks:manage`.
#[utoipa::path(delete, path = "/projects/{id}/web-tasks/{tid}/schedule", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn delete_web_task_schedule(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<TaskPath>,
) -> ApiResult<StatusCode> {
    let task = load(&state, &who, &path, Permission::WebTasksManage).await?;
    if !schedule::remove(&state.store, &schedule_name(task.id)).await? {
        return Err(ApiError::not_found("schedule"));
    }
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.unscheduled",
        task.id,
        serde_json::json!({"project_id": path.id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
