//! The browser half of OAuth 2.0 authorization code connections (RFC 6749 §4.1 with PKCE,
//! RFC 7636): `POST …/connections/{cid}/authorize` hands the caller the provider's consent URL;
//! the provider sends the browser back to `GET /oauth/callback`, where the host exchanges the
//! code for tokens it keeps in the vault.
//!
//! The callback carries no API token (it is a browser redirect from the provider), so the
//! `state` authenticates it: 256 random bits, stored only as a hash, bound to the connection,
//! its credential and the user who started the flow, usable once, for ten minutes. The PKCE
//! verifier waits in the vault meanwhile.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use oauth2::PkceCodeChallenge;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::record;
use super::connection_access::{load, ConnectionPath};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::{AppState, Problem};
use crate::auth::{random_token, token_hash, ClientInfo, Principal};
use crate::plugins::CredentialError;
use crate::rbac::Permission;
use crate::store::audit::NewAuditEntry;
use crate::store::oauth::Authorization;
use crate::store::StoreError;
use crate::vault::credentials::StoredCredential;
use crate::vault::flows;
use crate::vault::sessions::SessionTarget;

/// How long a started authorization waits for its callback.
const FLOW_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_authorization))
        .routes(routes!(callback))
}

/// Where to send the browser after the callback.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartAuthorization {
    /// A path on this host's site (`/settings/connections`), or a URL on one of the
    /// `http.cors_allowed_origins`; the callback redirects there with `?connection=<id>&status=…`.
    /// Without it the callback answers JSON.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2000, format = "line")]
    return_to: Option<String>,
}

impl Validate for StartAuthorization {
    fn validate(&self) -> Result<(), Vec<super::error::FieldError>> {
        let mut c = Checks::default();
        if let Some(to) = &self.return_to {
            c.line("return_to", to, 1, 2000);
        }
        c.finish()
    }
}

/// The consent URL to open in the browser.
#[derive(Debug, Serialize, ToSchema)]
struct AuthorizationStarted {
    /// The provider's authorization URL, with `state` and the PKCE challenge.
    authorization_url: String,
    /// The redirect URI the provider must have registered for the client.
    redirect_uri: String,
    /// When the flow must be finished by.
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// `return_to` must stay on this site or a configured front end: never an open redirect.
fn return_to_allowed(to: &str, cors: &[String]) -> bool {
    if to.starts_with('/') && !to.starts_with("//") && !to.contains('\\') {
        return true;
    }
    url::Url::parse(to).is_ok_and(|u| {
        let origin = u.origin().ascii_serialization();
        cors.iter()
            .any(|allowed| allowed.trim_end_matches('/') == origin)
    })
}

/// Starts the authorization of an `oauth2-authorization-code` connection: answers the URL the
/// user must open to consent. Needs `connections:manage` and membership.
#[utoipa::path(post, path = "/projects/{id}/connections/{cid}/authorize", tag = "connections",
    params(("id" = i64, Path, description = "Project id"), ("cid" = i64, Path, description = "Connection id")),
    request_body = StartAuthorization,
    responses((status = 200, body = AuthorizationStarted), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn start_authorization(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ConnectionPath>,
    body: ApiJson<StartAuthorization>,
) -> ApiResult<Json<AuthorizationStarted>> {
    let connection = load(&state, &who, &path, Permission::ConnectionsManage).await?;
    let body = body.parse().await?;
    let secret_id = match (connection.credential_kind.as_str(), connection.secret_id) {
        ("oauth2-authorization-code", Some(id)) => id,
        (kind, _) => {
            return Err(ApiError::Conflict(format!(
                "this connection's credential is {kind}; only oauth2-authorization-code \
                 connections are authorized in the browser"
            )))
        }
    };
    if let Some(to) = &body.return_to {
        if !return_to_allowed(to, &state.config.http.cors_allowed_origins) {
            return Err(ApiError::field(
                "return_to",
                "must be a path on this site or a URL on a configured front-end origin",
            ));
        }
    }
    let now = state.now();
    // Flows nobody finished: their verifiers (and, by cascade, the flows) go.
    for verifier in state.store.expired_authorizations(now).await? {
        state.vault.delete(verifier).await?;
    }
    let secret = state.vault.get(secret_id).await?;
    let stored = StoredCredential::from_bytes(secret.expose())
        .map_err(|e| ApiError::internal("the stored credential is unreadable", e))?;
    let flow_state = random_token(32);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect_uri = state.config.oauth_redirect_uri();
    let url = flows::authorization_url(&stored.credential, &redirect_uri, &flow_state, challenge)
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let verifier_secret_id = state.vault.put(verifier.secret().as_bytes(), now).await?;
    let expires_at = now + FLOW_TTL;
    let flow = Authorization {
        connection_id: connection.id,
        secret_id,
        verifier_secret_id,
        user_id: who.user.id,
        return_to: body.return_to.clone(),
        expires_at,
    };
    state
        .store
        .create_authorization(&token_hash(&flow_state), &flow)
        .await?;
    record(
        &state,
        &who,
        &client,
        "connection",
        "credential.authorization_started",
        connection.id,
        serde_json::json!({"kind": connection.credential_kind}),
    )
    .await?;
    Ok(Json(AuthorizationStarted {
        authorization_url: url,
        redirect_uri,
        expires_at: expires_at.to_datetime(),
    }))
}

/// What the provider sends the browser back with (RFC 6749 §4.1.2). Unknown parameters are
/// ignored here, unlike everywhere else: providers add their own (`scope`, `session_state`, `iss`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    /// The `state` of the flow (a missing one is 400, like an unknown or spent one).
    #[param(required = true, min_length = 1, max_length = 512)]
    state: Option<String>,
    /// The authorization code.
    code: Option<String>,
    /// The provider's error code, when the user or provider declined.
    error: Option<String>,
    /// The provider's explanation.
    error_description: Option<String>,
}

/// The outcome of a callback, when no `return_to` was given.
#[derive(Debug, Serialize, ToSchema)]
struct Authorized {
    /// The connection authorized.
    connection_id: i64,
    /// Its project.
    project_id: i64,
    /// `authorized`.
    status: &'static str,
}

/// The provider's redirect back to the host: exchanges the code for tokens and keeps them in
/// the vault. Needs no API token: the single-use `state` authenticates it.
#[utoipa::path(get, path = "/oauth/callback", tag = "connections", security(()),
    params(CallbackQuery),
    responses((status = 200, body = Authorized), (status = 303, description = "Back to `return_to`"),
              (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 502, body = Problem)))]
async fn callback(
    State(state): State<AppState>,
    client: ClientInfo,
    query: ApiQuery<CallbackQuery>,
) -> ApiResult<Response> {
    // Public: the single-use `state` is the credential, so there is no permission to check first.
    let query = query.parse()?;
    let flow_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| ApiError::BadRequest("the state parameter is missing".into()))?;
    let flow = state
        .store
        .take_authorization(&token_hash(flow_state))
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "unknown or already used authorization state: start the authorization again".into(),
            )
        })?;
    let verifier = state.vault.get(flow.verifier_secret_id).await?;
    state.vault.delete(flow.verifier_secret_id).await?;
    let now = state.now();
    let audit = |action: &'static str, detail: serde_json::Value| NewAuditEntry {
        actor_id: Some(flow.user_id),
        action,
        target_type: Some("connection"),
        target_id: Some(flow.connection_id.to_string()),
        ip: client.ip.clone(),
        detail,
    };
    if flow.expires_at < now {
        return Err(ApiError::BadRequest(
            "the authorization expired (10 minutes): start it again".into(),
        ));
    }
    if let Some(error) = &query.error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let description: String = query
            .error_description
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        state
            .store
            .append_audit(
                audit(
                    "credential.authorization_failed",
                    serde_json::json!({"error": error, "description": description}),
                ),
                now,
            )
            .await?;
        return Err(ApiError::BadRequest(format!(
            "the provider did not authorize the connection: {error} {description}"
        )));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| ApiError::BadRequest("the code parameter is missing".into()))?;
    let connection = state
        .store
        .connection_by_id(flow.connection_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("connection"),
            other => other.into(),
        })?;
    if connection.secret_id != Some(flow.secret_id) {
        return Err(ApiError::Conflict(
            "the connection's credential was replaced after this authorization started: start it again"
                .into(),
        ));
    }
    let target = SessionTarget {
        secret_id: flow.secret_id,
        connection_id: connection.id,
        base_url: connection.base_url.clone(),
        allow_private: connection.allow_private_network,
    };
    let verifier = std::str::from_utf8(verifier.expose())
        .map_err(|e| ApiError::internal("the stored verifier is unreadable", e))?;
    let redirect_uri = state.config.oauth_redirect_uri();
    if let Err(e) = state
        .sessions
        .authorize(&target, code, verifier, &redirect_uri)
        .await
    {
        state
            .store
            .append_audit(
                audit(
                    "credential.authorization_failed",
                    serde_json::json!({"reason": e.to_string()}),
                ),
                now,
            )
            .await?;
        return Err(match e {
            CredentialError::Refused(why) => ApiError::BadRequest(why),
            CredentialError::Unavailable(why) => ApiError::BadGateway(why),
        });
    }
    state
        .store
        .append_audit(
            audit(
                "credential.authorized",
                serde_json::json!({"kind": connection.credential_kind}),
            ),
            now,
        )
        .await?;
    Ok(match flow.return_to {
        Some(to) => {
            let sep = if to.contains('?') { '&' } else { '?' };
            let location = format!("{to}{sep}connection={}&status=authorized", connection.id);
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        None => Json(Authorized {
            connection_id: connection.id,
            project_id: connection.project_id,
            status: "authorized",
        })
        .into_response(),
    })
}
