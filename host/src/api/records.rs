//! The internal models read back: what connectors synced into a project, one list per model
//! (`/projects/{id}/work-items`, `…/comments`, `…/requirements`, `…/trace-links`, `…/people`,
//! `…/synced-documents`, `…/raw-records`), filtered, cursor-paginated; and starting syncs.
//!
//! Times: the contract carries a model's `created_at`/`updated_at` as Unix milliseconds, and the
//! store keeps them so (compact, ordered); the API shows them as RFC 3339 like every other time
//! it shows ([`times_as_rfc3339`]).

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
use super::connection_access::{load, ConnectionPath};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::jobs::JobView;
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::jobs::schedule;
use crate::rbac::Permission;
use crate::store::records::{RecordFilter, StoredRecord};
use crate::sync::{self, Mode, SyncRequest};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(work_items))
        .routes(routes!(comments))
        .routes(routes!(requirements))
        .routes(routes!(trace_links))
        .routes(routes!(people))
        .routes(routes!(synced_documents))
        .routes(routes!(raw_records))
        .routes(routes!(start_sync))
        .routes(routes!(
            get_sync_schedule,
            put_sync_schedule,
            delete_sync_schedule
        ))
}

/// A synced record: its fields (as the model defines them) plus where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RecordView {
    id: i64,
    connection_id: i64,
    stream: String,
    external_id: String,
    /// Deleted at the source (a full sync no longer saw it).
    deleted: bool,
    #[serde(with = "time::serde::rfc3339")]
    synced_at: OffsetDateTime,
    /// The model's fields (see docs/API.md).
    #[schema(value_type = Object)]
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

/// The model fields that are times (see `wit/connector.wit`: `unix-millis`).
const TIME_FIELDS: [&str; 2] = ["created_at", "updated_at"];

/// Shows the model's times as RFC 3339 (`2026-11-25T10:00:00.123Z`), as the API shows every
/// time. Values that are not whole milliseconds within the calendar's range are left as stored.
fn times_as_rfc3339(fields: &mut serde_json::Map<String, serde_json::Value>) {
    for key in TIME_FIELDS {
        let Some(value) = fields.get_mut(key) else {
            continue;
        };
        let Some(ms) = value.as_i64() else {
            continue;
        };
        let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
            continue;
        };
        let Ok(text) = at.format(&time::format_description::well_known::Rfc3339) else {
            continue;
        };
        *value = serde_json::Value::String(text);
    }
}

impl From<StoredRecord> for RecordView {
    fn from(r: StoredRecord) -> Self {
        let mut fields = match serde_json::from_str(&r.data) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        // The source key is ours; the model's copy would shadow it.
        fields.remove("external_id");
        times_as_rfc3339(&mut fields);
        Self {
            id: r.id,
            connection_id: r.connection_id,
            stream: r.stream,
            external_id: r.external_id,
            deleted: r.deleted,
            synced_at: r.synced_at.to_datetime(),
            fields,
        }
    }
}

/// Filters and page of a model list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListRecords {
    /// Only from this connection.
    connection_id: Option<i64>,
    /// Exact status (work items, requirements).
    #[param(max_length = 200)]
    status: Option<String>,
    /// Title (summary, name) contains this, case-insensitively.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Include records deleted at the source.
    #[serde(default)]
    include_deleted: bool,
    /// From `next_cursor` of the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

async fn list(
    state: &AppState,
    who: &Principal,
    project: i64,
    kind: &str,
    query: &ApiQuery<ListRecords>,
) -> ApiResult<Json<Paginated<RecordView>>> {
    access::project(&state.store, who, project, Permission::RecordsRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    for (field, value) in [("status", &q.status), ("q", &q.q)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
            return Err(ApiError::field(field, "must be at most 200 characters"));
        }
    }
    let filter = RecordFilter {
        connection_id: q.connection_id,
        status: q.status.as_deref(),
        q: q.q.as_deref(),
        include_deleted: q.include_deleted,
    };
    let page = state
        .store
        .list_records(project, kind, &filter, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, RecordView::from)))
}

macro_rules! model_list {
    ($name:ident, $path:literal, $kind:literal, $what:literal) => {
        #[doc = concat!("The project's synced ", $what, ". Needs `records:read` and membership.")]
        #[utoipa::path(get, path = $path, tag = "models",
            params(("id" = i64, Path, description = "Project id"), ListRecords),
            responses((status = 200, body = Paginated<RecordView>), (status = 404, body = Problem),
                      (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
        async fn $name(
            State(state): State<AppState>,
            who: Principal,
            ApiPath(path): ApiPath<ProjectPath>,
            query: ApiQuery<ListRecords>,
        ) -> ApiResult<Json<Paginated<RecordView>>> {
            list(&state, &who, path.id, $kind, &query).await
        }
    };
}

model_list!(
    work_items,
    "/projects/{id}/work-items",
    "work_item",
    "work items"
);
model_list!(comments, "/projects/{id}/comments", "comment", "comments");
model_list!(
    requirements,
    "/projects/{id}/requirements",
    "requirement",
    "requirements"
);
model_list!(
    trace_links,
    "/projects/{id}/trace-links",
    "trace_link",
    "trace links"
);
model_list!(people, "/projects/{id}/people", "person", "people");
model_list!(
    synced_documents,
    "/projects/{id}/synced-documents",
    "document",
    "documents"
);
model_list!(
    raw_records,
    "/projects/{id}/raw-records",
    "raw",
    "raw records (data the models do not cover)"
);

/// What to sync.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartSync {
    /// One stream; absent: every stream the connector discovers (one job each).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, format = "line")]
    stream: Option<String>,
    /// `incremental` (default) or `full` (reads everything, detects deletions).
    #[serde(default)]
    mode: Mode,
}

impl Validate for StartSync {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(stream) = &self.stream {
            c.line("stream", stream, 1, 100);
        }
        c.finish()
    }
}

/// The sync job started.
#[derive(Debug, Serialize, ToSchema)]
struct SyncStarted {
    job: JobView,
}

/// Starts a sync of the connection as a job (follow it at `/jobs/{id}` or its `/events`).
/// Needs `connections:sync` and membership.
#[utoipa::path(post, path = "/projects/{id}/connections/{cid}/sync", tag = "models",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    request_body = StartSync,
    responses((status = 202, body = SyncStarted), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn start_sync(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
    body: ApiJson<StartSync>,
) -> ApiResult<(StatusCode, Json<SyncStarted>)> {
    let connection = load(&state, &who, &path, Permission::ConnectionsSync).await?;
    let body = body.parse().await?;
    if !state
        .store
        .plugin_enabled(connection.project_id, &connection.plugin_id)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "plugin {} is not enabled in this project",
            connection.plugin_id
        )));
    }
    let job = sync::request(
        &state.store,
        &connection,
        body.stream.clone(),
        body.mode,
        Some(who.user.id),
        None,
        state.now(),
    )
    .await?;
    record(
        &state,
        &who,
        &client,
        "connection",
        "sync.requested",
        connection.id,
        serde_json::json!({"job_id": job.id, "stream": body.stream, "mode": body.mode}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(SyncStarted { job: job.into() })))
}

/// A connection's sync schedule.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SyncSchedule {
    /// Cron, UTC: five fields (`*/30 * * * *`) or six with seconds first.
    #[schema(min_length = 1, max_length = 120, format = "line")]
    cron: String,
    /// `incremental` (default) or `full`.
    #[serde(default)]
    mode: Mode,
    /// The next run (read-only).
    #[serde(default, with = "time::serde::rfc3339::option", skip_deserializing)]
    next_run_at: Option<OffsetDateTime>,
}

impl Validate for SyncSchedule {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("cron", &self.cron, 1, 120);
        c.finish()
    }
}

pub(super) fn schedule_name(connection: i64) -> String {
    format!("sync:connection:{connection}")
}

/// The connection's sync schedule. Needs `connections:read`.
#[utoipa::path(get, path = "/projects/{id}/connections/{cid}/schedule", tag = "models",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 200, body = SyncSchedule), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_sync_schedule(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<Json<SyncSchedule>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsRead).await?;
    let Some(found) = schedule::get(&state.store, &schedule_name(connection.id)).await? else {
        return Err(ApiError::not_found("schedule"));
    };
    let mode = serde_json::from_str::<SyncRequest>(&found.payload)
        .map(|r| r.mode)
        .unwrap_or_default();
    Ok(Json(SyncSchedule {
        cron: found.cron,
        mode,
        next_run_at: Some(found.next_run_at.to_datetime()),
    }))
}

/// Sets the connection's sync schedule (every stream, on the cron). Needs `connections:sync`.
#[utoipa::path(put, path = "/projects/{id}/connections/{cid}/schedule", tag = "models",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    request_body = SyncSchedule,
    responses((status = 200, body = SyncSchedule), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn put_sync_schedule(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
    body: ApiJson<SyncSchedule>,
) -> ApiResult<Json<SyncSchedule>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsSync).await?;
    let body = body.parse().await?;
    let payload = SyncRequest {
        connection_id: connection.id,
        stream: None,
        mode: body.mode,
    };
    let job = crate::jobs::new_job(
        sync::SYNC,
        Some(connection.project_id),
        &payload,
        Some(who.user.id),
        Millis::EPOCH,
    );
    let next = schedule::upsert(
        &state.store,
        &schedule_name(connection.id),
        &job,
        &body.cron,
        state.now(),
    )
    .await?;
    record(
        &state,
        &who,
        &client,
        "connection",
        "sync.scheduled",
        connection.id,
        serde_json::json!({"cron": body.cron, "mode": body.mode}),
    )
    .await?;
    Ok(Json(SyncSchedule {
        cron: body.cron,
        mode: body.mode,
        next_run_at: Some(next.to_datetime()),
    }))
}

/// Removes the connection's sync schedule. Needs `connections:sync`.
#[utoipa::path(delete, path = "/projects/{id}/connections/{cid}/schedule", tag = "models",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_sync_schedule(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
) -> ApiResult<StatusCode> {
    let connection = load(&state, &who, &path, Permission::ConnectionsSync).await?;
    if !schedule::remove(&state.store, &schedule_name(connection.id)).await? {
        return Err(ApiError::not_found("schedule"));
    }
    record(
        &state,
        &who,
        &client,
        "connection",
        "sync.unscheduled",
        connection.id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
