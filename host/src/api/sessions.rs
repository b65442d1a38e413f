//! Login sessions as the API shows them: a person's own (`GET /auth/sessions`) and, to an
//! administrator, anyone's (`GET /users/{id}/sessions`).

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::error::ApiResult;
use super::pagination::Paginated;
use super::AppState;
use crate::store::sessions::Session;

/// A live login session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: i64,
    /// Login time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last request.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// Client IP at login.
    pub ip: Option<String>,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

fn session_view(s: Session, current: Option<i64>) -> SessionView {
    SessionView {
        id: s.id,
        created_at: s.created_at.to_datetime(),
        last_seen_at: s.last_seen_at.to_datetime(),
        ip: s.ip,
        user_agent: s.user_agent,
        current: Some(s.id) == current,
    }
}

/// A user's live sessions (at most the 200 newest; one page).
pub(super) async fn sessions_of(
    state: &AppState,
    user_id: i64,
    current: Option<i64>,
) -> ApiResult<Paginated<SessionView>> {
    let sessions = state.auth.live_sessions(user_id).await?;
    Ok(Paginated {
        items: sessions
            .into_iter()
            .map(|s| session_view(s, current))
            .collect(),
        next_cursor: None,
    })
}
