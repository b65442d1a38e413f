use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::pagination::Paginated;
use super::sessions::{sessions_of, SessionView};
use super::users::UserView;
use super::{AppState, Problem};
use crate::auth::{password, ClientInfo, IssuedTokens, Principal};
use crate::rbac::Permission;
use crate::store::users::UserChanges;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// Account e-mail (case-insensitive).
    #[schema(max_length = 254, min_length = 1)]
    email: String,
    /// Password.
    #[schema(format = Password, min_length = 1, max_length = 256)]
    password: String,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Checks::default()
            .check(
                !self.email.is_empty() && self.email.chars().count() <= 254,
                "email",
                "must be 1 to 254 characters",
            )
            .check(
                !self.password.is_empty() && self.password.chars().count() <= 256,
                "password",
                "must be 1 to 256 characters",
            )
            .finish()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    /// The refresh token from the last login or refresh; it is spent by this call.
    #[schema(min_length = 1, max_length = 256)]
    refresh_token: String,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Checks::default()
            .check(
                !self.refresh_token.is_empty() && self.refresh_token.chars().count() <= 256,
                "refresh_token",
                "must be 1 to 256 characters",
            )
            .finish()
    }
}

/// Tokens of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT access token for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque single-use refresh token; each refresh returns a new one.
    pub refresh_token: String,
    /// Session id (see `/auth/sessions`).
    pub session_id: i64,
    /// The logged-in user.
    pub user: UserView,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            session_id: t.session.id,
            user: t.user.into(),
        }
    }
}

/// Logs in with e-mail and password. Throttled per account and per IP (429 with `Retry-After`);
/// unknown account, wrong password and deactivated account all give the same 401.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    body: ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let body = body.parse().await?;
    let issued = state
        .auth
        .login(&body.email, &body.password, &client)
        .await?;
    Ok(Json(issued.into()))
}

/// Exchanges a refresh token for a new access token and a new refresh token. Presenting a
/// refresh token a second time revokes the whole session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", security(()), request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    body: ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let body = body.parse().await?;
    Ok(Json(
        state
            .auth
            .refresh(&body.refresh_token, &client)
            .await?
            .into(),
    ))
}

/// Ends the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
) -> ApiResult<StatusCode> {
    let session = who.session_id.ok_or_else(|| {
        ApiError::BadRequest("API keys have no session; revoke the key instead".into())
    })?;
    state
        .store
        .revoke_session(session, "logout", state.now())
        .await?;
    record(
        &state,
        &who,
        &client,
        "session",
        "auth.logout",
        session,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller and what they may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The account.
    pub user: UserView,
    /// `human` or `service`.
    pub kind: &'static str,
    /// Current session (people) — `null` for API keys.
    pub session_id: Option<i64>,
    /// Every permission the caller holds (role ∩ key scopes), for showing and hiding UI.
    pub permissions: Vec<Permission>,
}

/// Who am I?
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(who: Principal) -> Json<Me> {
    let permissions = Permission::all().filter(|p| who.can(*p)).collect();
    let kind = who.user.kind.as_str();
    Json(Me {
        session_id: who.session_id,
        kind,
        permissions,
        user: who.user.into(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    /// The password in use now.
    #[schema(format = Password, min_length = 1, max_length = 256)]
    current_password: String,
    /// The new password (12–256 characters).
    #[schema(format = Password, min_length = 12, max_length = 256)]
    new_password: String,
}

impl Validate for ChangePassword {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.check(
            !self.current_password.is_empty() && self.current_password.chars().count() <= 256,
            "current_password",
            "must be 1 to 256 characters",
        );
        if let Err(why) = password::check_strength(&self.new_password, None) {
            c.push("new_password", why);
        }
        c.finish()
    }
}

/// Changes the caller's own password; every other session of the caller ends.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let Some(session) = who.session_id else {
        return Err(ApiError::Forbidden(
            "service accounts have no password".into(),
        ));
    };
    let body = body.parse().await?;
    let email = who.user.email.clone().unwrap_or_default();
    password::check_strength(&body.new_password, Some(&email))
        .map_err(|why| ApiError::field("new_password", why))?;
    let current = state
        .store
        .user_for_login(&email)
        .await?
        .and_then(|(_, hash)| hash);
    let pw = body.current_password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, current.as_deref()))
        .await
        .map_err(|e| ApiError::internal("checking a password", e))?;
    if !ok {
        return Err(ApiError::field(
            "current_password",
            "is not your current password",
        ));
    }
    let hash = password::hash_off_thread(body.new_password).await?;
    let changes = UserChanges {
        password_hash: Some(hash),
        ..Default::default()
    };
    state
        .store
        .update_user(who.user.id, changes, state.now())
        .await?;
    let ended = state
        .store
        .revoke_user_sessions(who.user.id, Some(session), "password_changed", state.now())
        .await?;
    record(
        &state,
        &who,
        &client,
        "user",
        "auth.password_changed",
        who.user.id,
        serde_json::json!({ "sessions_ended": ended }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the caller's own live sessions (device, IP, last seen).
#[utoipa::path(get, path = "/auth/sessions", tag = "auth",
    responses((status = 200, body = Paginated<SessionView>), (status = 401, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<Paginated<SessionView>>> {
    query.parse()?;
    sessions_of(&state, who.user.id, who.session_id)
        .await
        .map(Json)
}

/// Revokes one of the caller's own sessions (e.g. a lost laptop). Other users' sessions are 404.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem)))]
async fn revoke_session(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let owned = state
        .auth
        .live_sessions(who.user.id)
        .await?
        .iter()
        .any(|s| s.id == id);
    if !owned {
        return Err(ApiError::not_found("session"));
    }
    state
        .store
        .revoke_session(id, "revoked_by_user", state.now())
        .await?;
    record(
        &state,
        &who,
        &client,
        "session",
        "session.revoked",
        id,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
