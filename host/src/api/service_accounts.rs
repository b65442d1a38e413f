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
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{mint_api_key, ClientInfo, Principal};
use crate::clock::Millis;
use crate::ids::{ApiKeyId, UserId};
use crate::rbac::{Permission, Role};
use crate::store::keys::{ApiKey, NewApiKey};
use crate::store::users::{NewUser, User, UserChanges, UserFilter, UserKind};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, deactivate_account))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// A service account: a non-human principal with a role, authenticating with API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    /// Id (usable wherever a user id is, e.g. project membership).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Role; keys can narrow it with scopes, never widen it.
    pub role: Role,
    /// `false` once deactivated (all keys stop working).
    pub active: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for ServiceAccountView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            active: u.is_active(),
            name: u.display_name,
            role: u.role,
            created_at: u.created_at.to_datetime(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    /// Name (1–100 characters).
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// Role.
    role: Role,
}

impl Validate for CreateAccount {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Checks::default().line("name", &self.name, 1, 100).finish()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListAccounts {
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists service accounts. Needs `service_accounts:manage` (Administrator).
#[utoipa::path(get, path = "/service-accounts", tag = "service-accounts", params(ListAccounts),
    responses((status = 200, body = Paginated<ServiceAccountView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_accounts(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListAccounts>,
) -> ApiResult<Json<Paginated<ServiceAccountView>>> {
    who.require(Permission::ServiceAccountsManage)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let filter = UserFilter {
        kind: Some(UserKind::Service),
        query: None,
    };
    let page = state.store.list_users(&filter, after, limit).await?;
    Ok(Json(Paginated::from_page(page, ServiceAccountView::from)))
}

/// Creates a service account. Needs `service_accounts:manage`. Add it to projects through the
/// members API like any user; it is subject to the same RBAC.
#[utoipa::path(post, path = "/service-accounts", tag = "service-accounts", request_body = CreateAccount,
    responses((status = 201, body = ServiceAccountView), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_account(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<CreateAccount>,
) -> ApiResult<(StatusCode, Json<ServiceAccountView>)> {
    who.require(Permission::ServiceAccountsManage)?;
    let body = body.parse().await?;
    who.require_grant(
        Grant::Role(body.role),
        &format!(
            "creating a service account with the {} role",
            body.role.title()
        ),
    )?;
    let new = NewUser {
        kind: UserKind::Service,
        email: None,
        display_name: body.name.trim(),
        password_hash: None,
        role: body.role,
    };
    let account = state.store.create_user(new, state.now()).await?;
    record(
        &state,
        &who,
        &client,
        "service_account",
        "service_account.created",
        account.id,
        serde_json::json!({ "name": account.display_name, "role": account.role }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(account.into())))
}

async fn service_account(state: &AppState, id: i64) -> ApiResult<User> {
    match state.store.get_user(id).await {
        Ok(u) if u.kind == UserKind::Service => Ok(u),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("service account")),
        Err(e) => Err(e.into()),
    }
}

/// Reads a service account. Needs `service_accounts:manage`.
#[utoipa::path(get, path = "/service-accounts/{id}", tag = "service-accounts",
    params(("id" = i64, Path, description = "Service account id")),
    responses((status = 200, body = ServiceAccountView), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_account(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ServiceAccountView>> {
    who.require(Permission::ServiceAccountsManage)?;
    Ok(Json(service_account(&state, id).await?.into()))
}

/// Deactivates a service account and revokes all its keys (idempotent).
#[utoipa::path(delete, path = "/service-accounts/{id}", tag = "service-accounts",
    params(("id" = i64, Path, description = "Service account id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn deactivate_account(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    who.require(Permission::ServiceAccountsManage)?;
    service_account(&state, id).await?;
    let changes = UserChanges {
        deactivate: Some(true),
        ..Default::default()
    };
    state.store.update_user(id, changes, state.now()).await?;
    let revoked = state.store.revoke_all_api_keys(id, state.now()).await?;
    record(
        &state,
        &who,
        &client,
        "service_account",
        "service_account.deactivated",
        id,
        serde_json::json!({ "keys_revoked": revoked }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API key's metadata (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: i64,
    /// Label.
    pub name: String,
    /// Public part of the key (`agk_<prefix>_…`), to recognise it in logs.
    pub prefix: String,
    /// Permissions the key is limited to.
    pub scopes: Vec<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Revocation time, if revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Last use (to a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: serde_json::from_str(&k.scopes).unwrap_or_default(),
            created_at: k.created_at.to_datetime(),
            expires_at: k.expires_at.to_datetime(),
            revoked_at: k.revoked_at.map(Millis::to_datetime),
            last_used_at: k.last_used_at.map(Millis::to_datetime),
        }
    }
}

/// A newly created key: `key` is shown this once and cannot be read again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's metadata.
    #[serde(flatten)]
    pub meta: ApiKeyView,
    /// The secret key, for `Authorization: Bearer`. Store it now.
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// Label (1–100 characters).
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// Permissions (e.g. `projects:read`); each must be granted by the account's role.
    #[schema(value_type = Vec<crate::rbac::Permission>, min_items = 1, max_items = 32)]
    scopes: Vec<String>,
    /// Lifetime in days (1–365, default 90).
    #[schema(minimum = 1, maximum = 365)]
    expires_in_days: Option<u32>,
}

impl Validate for CreateKey {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100);
        c.check(
            !self.scopes.is_empty() && self.scopes.len() <= 32,
            "scopes",
            "give 1 to 32 scopes",
        );
        for (i, s) in self.scopes.iter().enumerate() {
            c.check(
                Permission::parse(s).is_some(),
                &format!("scopes[{i}]"),
                "is not a known permission",
            );
        }
        if let Some(days) = self.expires_in_days {
            c.check(
                (1..=365).contains(&days),
                "expires_in_days",
                "must be between 1 and 365",
            );
        }
        c.finish()
    }
}

/// Lists a service account's keys (metadata only). Needs `service_accounts:manage`.
#[utoipa::path(get, path = "/service-accounts/{id}/keys", tag = "service-accounts",
    params(("id" = i64, Path, description = "Service account id")),
    responses((status = 200, body = Paginated<ApiKeyView>), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_keys(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Paginated<ApiKeyView>>> {
    who.require(Permission::ServiceAccountsManage)?;
    query.parse()?;
    service_account(&state, id).await?;
    let keys = state.store.list_api_keys(id).await?;
    Ok(Json(Paginated {
        items: keys.into_iter().map(ApiKeyView::from).collect(),
        next_cursor: None,
    }))
}

/// Issues an API key. The response holds the key once; only its hash is stored.
#[utoipa::path(post, path = "/service-accounts/{id}/keys", tag = "service-accounts",
    params(("id" = i64, Path, description = "Service account id")), request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_key(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    who.require(Permission::ServiceAccountsManage)?;
    let body = body.parse().await?;
    let account = service_account(&state, id).await?;
    if !account.is_active() {
        return Err(ApiError::Conflict(
            "the service account is deactivated".into(),
        ));
    }
    let wanted = body
        .scopes
        .iter()
        .map(|s| {
            Permission::parse(s).ok_or_else(|| ApiError::field("scopes", "unknown permission"))
        })
        .collect::<ApiResult<Vec<Permission>>>()?;
    who.require_grant(
        Grant::Scopes(&wanted),
        "issuing an API key with these scopes",
    )?;
    let mut scopes: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for (i, (s, p)) in body.scopes.iter().zip(wanted.iter().copied()).enumerate() {
        if !account.role.grants(p) {
            errors.push(FieldError::new(
                format!("scopes[{i}]"),
                format!("the {} role does not grant `{s}`", account.role.title()),
            ));
        }
        if !scopes.contains(&p.as_str()) {
            scopes.push(p.as_str());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let minted = mint_api_key();
    let now = state.now();
    let days = u64::from(body.expires_in_days.unwrap_or(90));
    let scopes_json =
        serde_json::to_string(&scopes).map_err(|e| ApiError::internal("key scopes", e))?;
    let key = state
        .store
        .create_api_key(
            NewApiKey {
                user_id: id,
                name: body.name.trim(),
                prefix: &minted.prefix,
                key_hash: &minted.hash,
                scopes: &scopes_json,
                expires_at: now + std::time::Duration::from_secs(days * 86_400),
            },
            now,
        )
        .await?;
    record(
        &state,
        &who,
        &client,
        "service_account",
        "api_key.created",
        id,
        serde_json::json!({ "key_id": key.id, "prefix": key.prefix, "scopes": scopes }),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            meta: key.into(),
            key: minted.key,
        }),
    ))
}

/// Revokes an API key at once (idempotent).
#[utoipa::path(delete, path = "/service-accounts/{id}/keys/{key_id}", tag = "service-accounts",
    params(("id" = i64, Path, description = "Service account id"), ("key_id" = i64, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn revoke_key(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath((id, key_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    who.require(Permission::ServiceAccountsManage)?;
    service_account(&state, id).await?;
    let key = state
        .store
        .revoke_api_key(UserId(id), ApiKeyId(key_id), state.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("API key"),
            other => other.into(),
        })?;
    record(
        &state,
        &who,
        &client,
        "service_account",
        "api_key.revoked",
        id,
        serde_json::json!({ "key_id": key.id, "prefix": key.prefix }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
