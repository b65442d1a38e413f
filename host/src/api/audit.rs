use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::rbac::Permission;
use crate::store::audit::{AuditEntry, AuditFilter, NewAuditEntry};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Appends an audit entry for an action of the caller on one object.
pub(super) async fn record(
    state: &AppState,
    who: &Principal,
    client: &ClientInfo,
    target_type: &'static str,
    action: &'static str,
    target_id: i64,
    detail: serde_json::Value,
) -> ApiResult<()> {
    let entry = NewAuditEntry {
        actor_id: Some(who.user.id),
        action,
        target_type: Some(target_type),
        target_id: Some(target_id.to_string()),
        ip: client.ip.clone(),
        detail,
    };
    Ok(state.store.append_audit(entry, state.now()).await?)
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Sequence number.
    pub id: i64,
    /// When (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Acting user; `null` for anonymous events such as failed logins.
    pub actor_id: Option<i64>,
    /// What happened, e.g. `user.updated`.
    pub action: String,
    /// Kind of object.
    pub target_type: Option<String>,
    /// Object id.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Event-specific detail.
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at.to_datetime(),
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListAudit {
    /// Only this action (e.g. `auth.login_failed`).
    #[param(max_length = 64)]
    action: Option<String>,
    /// Only events by this user.
    actor_id: Option<i64>,
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Reads the append-only audit log, oldest first. Needs `audit:read` (Administrator).
#[utoipa::path(get, path = "/audit", tag = "audit", params(ListAudit),
    responses((status = 200, body = Paginated<AuditView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_audit(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListAudit>,
) -> ApiResult<Json<Paginated<AuditView>>> {
    who.require(Permission::AuditRead)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    if q.action.as_ref().is_some_and(|a| a.chars().count() > 64) {
        return Err(ApiError::field("action", "must be at most 64 characters"));
    }
    let filter = AuditFilter {
        action: q.action.as_deref(),
        actor_id: q.actor_id,
    };
    let page = state.store.list_audit(&filter, after, limit).await?;
    Ok(Json(Paginated::from_page(page, AuditView::from)))
}
