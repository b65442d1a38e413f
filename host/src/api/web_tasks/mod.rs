//! Web-automation tasks over REST, under `/projects/{id}/web-tasks`: the tasks themselves, runs
//! started as jobs (`web_task.run`), run history with per-step results, and cron schedules.
//!
//! Every handler checks the permission and the caller's access to the project first, then looks
//! the task up *within that project*: another project's task is 404, like one that does not
//! exist. Letting a task reach private addresses lifts the SSRF guard, so only Administrators
//! set `allow_private_network` — and, once it is set, only they change where the task goes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{present, ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::ids::{ProjectId, UserId, WebTaskId};
use crate::jobs::schedule;
use crate::rbac::{Permission, Role};
use crate::store::web_tasks::{WebTask, WebTaskFields};
use crate::store::StoreError;
use crate::web_tasks::{check_task, Step, TaskShape};

/// Runs: started as jobs, their history and per-step results.
mod runs;
/// Cron schedules of tasks.
mod schedules;

use schedules::{schedule_name, ScheduleView};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(runs::run_task))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(
            schedules::get_web_task_schedule,
            schedules::put_web_task_schedule,
            schedules::delete_web_task_schedule
        ))
}

/// A web-automation task.
#[derive(Debug, Serialize, ToSchema)]
struct WebTaskView {
    id: i64,
    project_id: i64,
    name: String,
    /// The site the task works on; relative step URLs resolve against it.
    target_url: String,
    /// Host patterns every request must match (`example.com`, `*.example.com`, `*`).
    allowed_hosts: Vec<String>,
    /// Whether the task may reach private and loopback addresses.
    allow_private_network: bool,
    /// The steps, in order.
    steps: Vec<Step>,
    /// Runs so far.
    run_count: i64,
    /// The cron schedule, if any.
    schedule: Option<ScheduleView>,
    created_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

async fn view(state: &AppState, t: WebTask) -> ApiResult<WebTaskView> {
    let schedule = schedule::get(&state.store, &schedule_name(t.id))
        .await?
        .map(|found| ScheduleView {
            cron: found.cron,
            next_run_at: found.next_run_at.to_datetime(),
        });
    Ok(WebTaskView {
        id: t.id,
        project_id: t.project_id,
        name: t.name,
        target_url: t.target_url,
        allowed_hosts: serde_json::from_str(&t.allowed_hosts).unwrap_or_default(),
        allow_private_network: t.allow_private_network,
        steps: serde_json::from_str(&t.steps).unwrap_or_default(),
        run_count: t.run_count,
        schedule,
        created_by: t.created_by,
        created_at: t.created_at.to_datetime(),
        updated_at: t.updated_at.to_datetime(),
    })
}

/// A host name (`example.com`), `*.` and a host name (`*.example.com`: its subdomains), an IP
/// address, or `*`.
// The pattern is `docs::HOST_PATTERN`, put in by `docs::finish` for the marker.
#[derive(ToSchema)]
#[schema(value_type = String, format = "host-pattern")]
#[allow(dead_code)] // Only its schema is used: the field it describes is checked as a string.
struct HostPattern(String);

/// A new task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWebTask {
    /// 1–100 characters, unique in the project.
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// http(s) URL on one of `allowed_hosts`.
    target_url: String,
    /// 1–32 host patterns every request must match, like a plugin manifest's.
    #[schema(value_type = Vec<HostPattern>, min_items = 1, max_items = 32)]
    allowed_hosts: Vec<String>,
    /// Let the task reach private and loopback addresses (intranet sites). Administrators only.
    #[serde(default)]
    allow_private_network: bool,
    /// 1–50 steps.
    #[schema(min_items = 1, max_items = 50)]
    steps: Vec<Step>,
}

fn shape_problems(c: &mut Checks, target_url: &str, hosts: &[String], steps: &[Step]) {
    for (field, message) in check_task(&TaskShape {
        target_url,
        allowed_hosts: hosts,
        steps,
    }) {
        c.push(&field, message);
    }
}

impl Validate for CreateWebTask {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100);
        shape_problems(&mut c, &self.target_url, &self.allowed_hosts, &self.steps);
        c.finish()
    }
}

/// Changes to a task; absent fields stay as they are. `steps` and `allowed_hosts` replace the
/// old lists whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateWebTask {
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 100, format = "line", nullable = false)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    target_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<HostPattern>, min_items = 1, max_items = 32, nullable = false)]
    allowed_hosts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    allow_private_network: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(min_items = 1, max_items = 50, nullable = false)]
    steps: Option<Vec<Step>>,
}

impl Validate for UpdateWebTask {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(name) = &self.name {
            c.line("name", name, 1, 100);
        }
        c.check(
            self.name.is_some()
                || self.target_url.is_some()
                || self.allowed_hosts.is_some()
                || self.allow_private_network.is_some()
                || self.steps.is_some(),
            "",
            "give at least one field to change",
        );
        c.finish()
    }
}

/// Page of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListPage {
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct TaskPath {
    id: i64,
    tid: i64,
}

fn conflict_on_name(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { .. } => {
            ApiError::Conflict("a web task with this name exists in the project".into())
        }
        other => other.into(),
    }
}

fn admin_only(who: &Principal, why: &str) -> ApiResult<()> {
    if who.user.role == Role::Administrator {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only an Administrator may {why}"
        )))
    }
}

/// The task of the path, if the caller may `p` in its project (404 before 403, as everywhere).
async fn load(
    state: &AppState,
    who: &Principal,
    path: &TaskPath,
    p: Permission,
) -> ApiResult<WebTask> {
    access::project(&state.store, who, path.id, p).await?;
    state
        .store
        .get_web_task(ProjectId(path.id), WebTaskId(path.tid))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("web task"),
            other => other.into(),
        })
}

/// Lists a project's web tasks. Needs `web_tasks:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/web-tasks", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ListPage),
    responses((status = 200, body = Paginated<WebTaskView>), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_tasks(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    query: ApiQuery<ListPage>,
) -> ApiResult<Json<Paginated<WebTaskView>>> {
    access::project(&state.store, &who, path.id, Permission::WebTasksRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state.store.list_web_tasks(path.id, after, limit).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for task in page.items {
        items.push(view(&state, task).await?);
    }
    let page = crate::store::Page {
        items,
        next_after: page.next_after,
    };
    Ok(Json(Paginated::from_page(page, |v| v)))
}

/// Creates a task. Needs `web_tasks:manage` and membership; `allow_private_network` needs an
/// Administrator.
#[utoipa::path(post, path = "/projects/{id}/web-tasks", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id")), request_body = CreateWebTask,
    responses((status = 201, body = WebTaskView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_task(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPath>,
    body: ApiJson<CreateWebTask>,
) -> ApiResult<(StatusCode, Json<WebTaskView>)> {
    access::project(&state.store, &who, path.id, Permission::WebTasksManage).await?;
    let body = body.parse().await?;
    if body.allow_private_network {
        admin_only(&who, "allow a web task to reach private addresses")?;
    }
    let hosts = serde_json::to_string(&body.allowed_hosts).unwrap_or_default();
    let steps = serde_json::to_string(&body.steps).unwrap_or_default();
    let fields = WebTaskFields {
        name: body.name.trim(),
        target_url: &body.target_url,
        allowed_hosts: &hosts,
        allow_private_network: body.allow_private_network,
        steps: &steps,
    };
    let task = state
        .store
        .create_web_task(
            ProjectId(path.id),
            &fields,
            UserId(who.user.id),
            state.now(),
        )
        .await
        .map_err(conflict_on_name)?;
    let detail = serde_json::json!({
        "project_id": path.id, "name": task.name, "target_url": task.target_url,
        "allowed_hosts": body.allowed_hosts, "allow_private_network": task.allow_private_network,
        "steps": body.steps.len(),
    });
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.created",
        task.id,
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, task).await?)))
}

/// Reads a task. Needs `web_tasks:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/web-tasks/{tid}", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    responses((status = 200, body = WebTaskView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_task(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<TaskPath>,
) -> ApiResult<Json<WebTaskView>> {
    let task = load(&state, &who, &path, Permission::WebTasksRead).await?;
    Ok(Json(view(&state, task).await?))
}

/// Changes a task. Needs `web_tasks:manage` and membership; allowing private addresses, or
/// changing the target, hosts or steps of a task that has them, needs an Administrator.
#[utoipa::path(patch, path = "/projects/{id}/web-tasks/{tid}", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    request_body = UpdateWebTask,
    responses((status = 200, body = WebTaskView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_task(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<TaskPath>,
    body: ApiJson<UpdateWebTask>,
) -> ApiResult<Json<WebTaskView>> {
    let task = load(&state, &who, &path, Permission::WebTasksManage).await?;
    let body = body.parse().await?;
    let private = body
        .allow_private_network
        .unwrap_or(task.allow_private_network);
    if private && !task.allow_private_network {
        admin_only(&who, "allow a web task to reach private addresses")?;
    }
    let redirects =
        body.target_url.is_some() || body.allowed_hosts.is_some() || body.steps.is_some();
    if private && redirects {
        admin_only(
            &who,
            "change the target, hosts or steps of a web task that may reach private addresses",
        )?;
    }
    let hosts = match &body.allowed_hosts {
        Some(h) => h.clone(),
        None => serde_json::from_str(&task.allowed_hosts).unwrap_or_default(),
    };
    let steps = match &body.steps {
        Some(s) => s.clone(),
        None => serde_json::from_str(&task.steps).unwrap_or_default(),
    };
    let target_url = body.target_url.clone().unwrap_or(task.target_url.clone());
    let mut c = Checks::default();
    shape_problems(&mut c, &target_url, &hosts, &steps);
    c.finish().map_err(ApiError::Validation)?;
    let hosts_json = serde_json::to_string(&hosts).unwrap_or_default();
    let steps_json = serde_json::to_string(&steps).unwrap_or_default();
    let name = body.name.as_deref().map_or(task.name.as_str(), str::trim);
    let fields = WebTaskFields {
        name,
        target_url: &target_url,
        allowed_hosts: &hosts_json,
        allow_private_network: private,
        steps: &steps_json,
    };
    let updated = state
        .store
        .update_web_task(ProjectId(path.id), WebTaskId(task.id), &fields, state.now())
        .await
        .map_err(conflict_on_name)?;
    let mut changed = Vec::new();
    for (field, given) in [
        ("name", body.name.is_some()),
        ("target_url", body.target_url.is_some()),
        ("allowed_hosts", body.allowed_hosts.is_some()),
        (
            "allow_private_network",
            body.allow_private_network.is_some(),
        ),
        ("steps", body.steps.is_some()),
    ] {
        if given {
            changed.push(field);
        }
    }
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.updated",
        task.id,
        serde_json::json!({"project_id": path.id, "changed": changed, "allow_private_network": private}),
    )
    .await?;
    Ok(Json(view(&state, updated).await?))
}

/// Deletes a task with its run history and schedule (documents of its runs stay). Needs
/// `web_tasks:manage` and membership.
#[utoipa::path(delete, path = "/projects/{id}/web-tasks/{tid}", tag = "web-tasks",
    params(("id" = i64, Path, description = "Project id"), ("tid" = i64, Path, description = "Task id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_task(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<TaskPath>,
) -> ApiResult<StatusCode> {
    let task = load(&state, &who, &path, Permission::WebTasksManage).await?;
    schedule::remove(&state.store, &schedule_name(task.id)).await?;
    state
        .store
        .delete_web_task(ProjectId(path.id), WebTaskId(task.id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("web task"),
            other => other.into(),
        })?;
    record(
        &state,
        &who,
        &client,
        "web_task",
        "web_task.deleted",
        task.id,
        serde_json::json!({"project_id": path.id, "name": task.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
