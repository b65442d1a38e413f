//! Backups for administrators: the log of backup attempts, the state of the schedule, and
//! starting one now. Where backups go and to whom they are encrypted is configuration
//! (`[backup]`), never an API input, and nothing here can read or restore a backup: that needs
//! an identity the host does not hold (`agentic backup verify|restore`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::record;
use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use super::jobs::JobView;
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::backup::run::{BackupJob, KIND, SCHEDULE};
use crate::clock::Millis;
use crate::jobs::schedule;
use crate::rbac::Permission;
use crate::store::backup_runs::{BackupRun, BackupState, StartedBy};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backups, start_backup))
        .routes(routes!(backup_status))
}

/// One backup attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    /// Its id.
    pub id: i64,
    /// Who started it.
    pub started_by: StartedBy,
    /// Where it is.
    pub state: BackupState,
    /// When it started (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Where it was made: a directory, or `s3://bucket/prefix`.
    pub destination: String,
    /// The backup's file name (`agentic-<UTC time>.age`), once made.
    pub name: Option<String>,
    /// Size of the encrypted file in bytes.
    pub size: Option<i64>,
    /// Rows it holds, all tables together.
    pub rows: Option<i64>,
    /// Document blobs it holds.
    pub blobs: Option<i64>,
    /// How long making it took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The job that made it (scheduled and API backups).
    pub job_id: Option<i64>,
    /// When `agentic backup verify` last checked this file.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// What that verification found wrong; `null` with `verified_at` set means it passed.
    pub verify_error: Option<String>,
}

impl From<BackupRun> for BackupView {
    fn from(r: BackupRun) -> Self {
        Self {
            id: r.id,
            started_by: r.started_by,
            state: r.state,
            started_at: r.started_at.to_datetime(),
            finished_at: r.finished_at.map(Millis::to_datetime),
            destination: r.destination,
            name: r.name,
            size: r.size,
            rows: r.row_count,
            blobs: r.blob_count,
            duration_ms: r.duration_ms,
            error: r.error,
            job_id: r.job_id,
            verified_at: r.verified_at.map(Millis::to_datetime),
            verify_error: r.verify_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListBackups {
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists this installation's backup attempts, oldest first: scheduled, API and CLI ones, with
/// what each made and its last verification. Needs `backups:manage` (Administrator).
#[utoipa::path(get, path = "/backups", tag = "backups", params(ListBackups),
    responses((status = 200, body = Paginated<BackupView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_backups(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListBackups>,
) -> ApiResult<Json<Paginated<BackupView>>> {
    who.require(Permission::BackupsManage)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state.store.list_backup_runs(after, limit).await?;
    Ok(Json(Paginated::from_page(page, BackupView::from)))
}

/// Whether this host can make backups, when the next scheduled one runs, and how the last ones
/// went.
#[derive(Debug, Serialize, ToSchema)]
struct BackupStatus {
    /// Whether `backup.destination` and `backup.recipients` are set on this host (without
    /// them `POST /backups` answers 409).
    configured: bool,
    /// The configured destination: a directory, or `s3://bucket/prefix`.
    destination: Option<String>,
    /// The cron expression (UTC) of scheduled backups, if any.
    schedule: Option<String>,
    /// When the next scheduled backup is due.
    #[serde(with = "time::serde::rfc3339::option")]
    next_run_at: Option<OffsetDateTime>,
    /// When the newest successful backup ended.
    #[serde(with = "time::serde::rfc3339::option")]
    last_success_at: Option<OffsetDateTime>,
    /// Failed attempts since then.
    failures_since_success: i64,
    /// The backup job queued or running now, if any.
    running_job_id: Option<i64>,
}

/// The backup configuration and health of this installation. Needs `backups:manage`.
#[utoipa::path(get, path = "/backups/status", tag = "backups",
    responses((status = 200, body = BackupStatus), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
async fn backup_status(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<BackupStatus>> {
    who.require(Permission::BackupsManage)?;
    let config = &state.config.backup;
    let next = schedule::get(&state.store, SCHEDULE).await?;
    let health = state.store.backup_health().await?;
    let running = state.store.unfinished_job_of_kind(KIND).await?;
    Ok(Json(BackupStatus {
        configured: config.is_configured(),
        destination: config.destination.clone(),
        schedule: config.schedule.clone(),
        next_run_at: next.map(|s| s.next_run_at.to_datetime()),
        last_success_at: health.last_success_at.map(Millis::to_datetime),
        failures_since_success: health.failures_since_success,
        running_job_id: running.map(|j| j.id),
    }))
}

/// The backup job started.
#[derive(Debug, Serialize, ToSchema)]
struct BackupStarted {
    job: JobView,
}

/// Starts a backup now, as a job (follow it at `/jobs/{id}` or its `/events`), into the
/// configured destination. One backup runs at a time: while one is queued or running this
/// answers 409 naming it. Needs `backups:manage` (Administrator).
#[utoipa::path(post, path = "/backups", tag = "backups",
    responses((status = 202, body = BackupStarted), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn start_backup(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
) -> ApiResult<(StatusCode, Json<BackupStarted>)> {
    who.require(Permission::BackupsManage)?;
    if !state.config.backup.is_configured() {
        return Err(ApiError::Conflict(
            "this host has no backup destination: set backup.destination and \
             backup.recipients in its configuration (docs/DISASTER-RECOVERY.md)"
                .into(),
        ));
    }
    if let Some(job) = state.store.unfinished_job_of_kind(KIND).await? {
        return Err(ApiError::Conflict(format!(
            "backup job {} is already {}; one backup runs at a time",
            job.id, job.state
        )));
    }
    let payload = BackupJob {
        started_by: StartedBy::Api,
    };
    let new = crate::jobs::new_job(KIND, None, &payload, Some(who.user.id), state.now());
    let (job, _) = state.store.enqueue(&new, state.now()).await?;
    record(
        &state,
        &who,
        &client,
        "backup",
        "backup.requested",
        job.id,
        serde_json::json!({ "job_id": job.id }),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BackupStarted { job: job.into() }),
    ))
}
