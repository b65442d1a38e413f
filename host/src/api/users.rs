use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Grant;
use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{present, ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{password, ClientInfo, Principal};
use crate::rbac::{Permission, Role};
use crate::store::users::{NewUser, User, UserChanges, UserFilter, UserKind};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, deactivate_user))
        .routes(routes!(list_user_sessions, revoke_user_sessions))
}

/// A person's account as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Login e-mail (lower-cased).
    pub email: Option<String>,
    /// Name shown in the UI.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// `false` once deactivated.
    pub active: bool,
    /// Creation time (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            active: u.is_active(),
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            created_at: u.created_at.to_datetime(),
            updated_at: u.updated_at.to_datetime(),
        }
    }
}

/// A new person's account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    /// Login e-mail; stored lower-cased; unique.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// Name shown in the UI (1–100 characters).
    #[schema(min_length = 1, max_length = 100, format = "line")]
    display_name: String,
    /// Initial password (12–256 characters).
    #[schema(format = Password, min_length = 12, max_length = 256)]
    password: String,
    /// Role.
    role: Role,
}

impl Validate for CreateUser {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.email("email", &self.email)
            .line("display_name", &self.display_name, 1, 100);
        if let Err(why) = password::check_strength(&self.password, Some(&self.email)) {
            c.push("password", why);
        }
        c.finish()
    }
}

/// Changes to an account; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateUser {
    /// New display name.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 100, format = "line", nullable = false)]
    display_name: Option<String>,
    /// New role. Refused when it would leave no active Administrator.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    role: Option<Role>,
    /// New password (ends every session of the user).
    #[serde(default, deserialize_with = "present")]
    #[schema(format = Password, min_length = 12, max_length = 256, nullable = false)]
    password: Option<String>,
    /// `false` deactivates (ends every session), `true` reactivates.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    active: Option<bool>,
}

impl Validate for UpdateUser {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(name) = &self.display_name {
            c.line("display_name", name, 1, 100);
        }
        if let Some(pw) = &self.password {
            if let Err(why) = password::check_strength(pw, None) {
                c.push("password", why);
            }
        }
        c.check(
            self.display_name.is_some()
                || self.role.is_some()
                || self.password.is_some()
                || self.active.is_some(),
            "",
            "give at least one of display_name, role, password, active",
        );
        c.finish()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListUsers {
    /// Case-insensitive substring of e-mail or display name.
    #[param(max_length = 100)]
    q: Option<String>,
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists people's accounts. Needs `users:read` (Administrator, Project Manager).
#[utoipa::path(get, path = "/users", tag = "users", params(ListUsers),
    responses((status = 200, body = Paginated<UserView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListUsers>,
) -> ApiResult<Json<Paginated<UserView>>> {
    who.require(Permission::UsersRead)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    if q.q.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::field("q", "must be at most 100 characters"));
    }
    let filter = UserFilter {
        kind: Some(UserKind::Human),
        query: q.q.as_deref(),
    };
    let page = state.store.list_users(&filter, after, limit).await?;
    Ok(Json(Paginated::from_page(page, UserView::from)))
}

/// Creates a person's account. Needs `users:manage` (Administrator).
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = Problem, description = "e-mail in use"),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    who.require(Permission::UsersManage)?;
    let body = body.parse().await?;
    who.require_grant(
        Grant::Role(body.role),
        &format!("creating an account with the {} role", body.role.title()),
    )?;
    let email = body.email.trim().to_lowercase();
    let hash = password::hash_off_thread(body.password).await?;
    let user = state
        .store
        .create_user(
            NewUser {
                kind: UserKind::Human,
                email: Some(&email),
                display_name: body.display_name.trim(),
                password_hash: Some(&hash),
                role: body.role,
            },
            state.now(),
        )
        .await?;
    record(
        &state,
        &who,
        &client,
        "user",
        "user.created",
        user.id,
        serde_json::json!({ "email": email, "role": user.role }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Reads one account. Needs `users:read`.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserView>> {
    who.require(Permission::UsersRead)?;
    Ok(Json(human(&state, id).await?.into()))
}

/// Changes an account: name, role, password, active. Needs `users:manage` (Administrator).
/// Deactivating or changing the password ends all the user's sessions.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "would remove the last Administrator"),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    who.require(Permission::UsersManage)?;
    let body = body.parse().await?;
    let before = human(&state, id).await?;
    // Whoever sets an account's password, role or activation can act as it: only a caller
    // holding everything the account holds may (a password reset of an Administrator needs an
    // Administrator), and a new role must be one the caller could grant.
    let change = if body.password.is_some() {
        Some("resetting the password of")
    } else if body.role.is_some_and(|r| r != before.role) {
        Some("changing the role of")
    } else if body.active == Some(true) && !before.is_active() {
        Some("reactivating")
    } else {
        None
    };
    if let Some(change) = change {
        who.require_grant(
            Grant::Role(before.role),
            &format!("{change} an account with the {} role", before.role.title()),
        )?;
    }
    if let Some(role) = body.role.filter(|r| *r != before.role) {
        who.require_grant(
            Grant::Role(role),
            &format!("giving an account the {} role", role.title()),
        )?;
    }
    if let Some(pw) = &body.password {
        password::check_strength(pw, before.email.as_deref())
            .map_err(|why| ApiError::field("password", why))?;
    }
    let password_changed = body.password.is_some();
    let password_hash = match body.password {
        Some(pw) => Some(password::hash_off_thread(pw).await?),
        None => None,
    };
    let changes = UserChanges {
        display_name: body.display_name.map(|n| n.trim().to_owned()),
        role: body.role,
        password_hash,
        deactivate: body.active.map(|a| !a),
    };
    let user = state.store.update_user(id, changes, state.now()).await?;
    if password_changed || !user.is_active() {
        state
            .store
            .revoke_user_sessions(id, None, "account_changed", state.now())
            .await?;
    }
    let detail = serde_json::json!({
        "role": (before.role != user.role).then(|| serde_json::json!({ "from": before.role, "to": user.role })),
        "active": (before.is_active() != user.is_active()).then_some(user.is_active()),
        "display_name_changed": before.display_name != user.display_name,
        "password_changed": password_changed,
    });
    record(&state, &who, &client, "user", "user.updated", id, detail).await?;
    Ok(Json(user.into()))
}

/// Deactivates an account and ends its sessions (idempotent). Needs `users:manage`.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 204), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "last Administrator"),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn deactivate_user(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Permission::UsersManage)?;
    human(&state, id).await?;
    let changes = UserChanges {
        deactivate: Some(true),
        ..Default::default()
    };
    state.store.update_user(id, changes, state.now()).await?;
    let ended = state
        .store
        .revoke_user_sessions(id, None, "account_deactivated", state.now())
        .await?;
    record(
        &state,
        &who,
        &client,
        "user",
        "user.deactivated",
        id,
        serde_json::json!({ "sessions_ended": ended }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a user's live sessions. Needs `users:manage`.
#[utoipa::path(get, path = "/users/{id}/sessions", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = Paginated<super::sessions::SessionView>), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_user_sessions(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Paginated<super::sessions::SessionView>>> {
    who.require(Permission::UsersManage)?;
    query.parse()?;
    human(&state, id).await?;
    super::sessions::sessions_of(&state, id, who.session_id)
        .await
        .map(Json)
}

/// Result of revoking sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many live sessions were ended.
    pub revoked: u64,
}

/// Ends every session of a user. Needs `users:manage`.
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = Revoked), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Revoked>> {
    who.require(Permission::UsersManage)?;
    human(&state, id).await?;
    let revoked = state
        .store
        .revoke_user_sessions(id, None, "revoked_by_admin", state.now())
        .await?;
    record(
        &state,
        &who,
        &client,
        "user",
        "user.sessions_revoked",
        id,
        serde_json::json!({ "revoked": revoked }),
    )
    .await?;
    Ok(Json(Revoked { revoked }))
}

/// A person's account by id; service accounts are managed under `/service-accounts`.
async fn human(state: &AppState, id: i64) -> ApiResult<User> {
    match state.store.get_user(id).await {
        Ok(u) if u.kind == UserKind::Human => Ok(u),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("user")),
        Err(e) => Err(e.into()),
    }
}
