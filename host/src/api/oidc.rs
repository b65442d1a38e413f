//! Single sign-on with OpenID Connect: the browser's round trip through an identity provider,
//! the hand-off of the platform's own session to the front end, and logout (RP-initiated and
//! back-channel).
//!
//! 1. `GET /auth/oidc/{provider}/login` redirects to the provider with `state`, `nonce` and a
//!    PKCE S256 challenge. The state is stored only as a hash; nonce and verifier wait in the
//!    vault; the sign-in must finish within ten minutes, once.
//! 2. `GET /auth/oidc/{provider}/callback` takes the state (single use), exchanges the code,
//!    verifies the ID token (`auth::oidc`), resolves the person (`auth::oidc::people`) and
//!    redirects to `auth.oidc.frontend_url#oidc_code=<code>`: a one-time code valid for one
//!    minute, in the fragment, which browsers never send to a server — no token ever appears in a
//!    URL that a proxy or server could log.
//! 3. `POST /auth/oidc/exchange` trades the code for the same access and refresh tokens a
//!    password login returns; the session starts then.
//!
//! The callback and the back-channel endpoint carry no API token: the single-use state, and the
//! provider's signature on the logout token, authenticate them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::TokenResponse;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use super::{AppState, Problem};
use crate::auth::oidc::people::{self, PeopleError};
use crate::auth::oidc::secret;
use crate::auth::oidc::OidcError;
use crate::auth::{random_token, token_hash, ClientInfo, Principal};
use crate::store::audit::NewAuditEntry;
use crate::store::oidc::{Handoff, PendingLogin};

/// How long a started sign-in waits for its callback.
const LOGIN_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// How long the front end has to exchange its one-time code.
const HANDOFF_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Largest back-channel logout request read.
const LOGOUT_BODY_MAX: usize = 16 * 1024;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(oidc_providers))
        .routes(routes!(oidc_login))
        .routes(routes!(oidc_callback))
        .routes(routes!(oidc_exchange))
        .routes(routes!(oidc_logout))
        .routes(routes!(oidc_backchannel_logout))
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::UnknownProvider(_) => ApiError::NotFound(e.to_string()),
            OidcError::Misconfigured(..) => ApiError::internal("OpenID Connect", e),
            // Names the provider and how to set the secret; the sign-in can work once it is.
            OidcError::SecretMissing(_) => ApiError::Unavailable(e.to_string()),
            OidcError::Vault(v) => v.into(),
            OidcError::Provider(..) => {
                tracing::warn!(error = %e, "identity provider failed");
                ApiError::BadGateway(
                    "the identity provider could not be reached or answered \
                                       unexpectedly; try again later"
                        .into(),
                )
            }
            OidcError::NotAdmitted(_) => ApiError::Forbidden(e.to_string()),
            OidcError::Refused(_) | OidcError::InvalidToken(_) => {
                ApiError::Unauthorized(e.to_string())
            }
            // The detail names what Graph did (status, malformed, too large), never the token.
            OidcError::Groups(_) => {
                tracing::warn!(error = %e, "reading groups from Microsoft Graph failed");
                ApiError::BadGateway(e.to_string())
            }
        }
    }
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::Refused(_) | PeopleError::Deactivated => {
                ApiError::Forbidden(e.to_string())
            }
            PeopleError::EmailTaken
            | PeopleError::ScimLinkAmbiguous
            | PeopleError::ScimLinkTaken
            | PeopleError::LastAdministrator => ApiError::Conflict(e.to_string()),
            PeopleError::Store(s) => s.into(),
        }
    }
}

/// The provider name in the path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ProviderPath {
    /// The provider's configured name.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub(super) provider: String,
}

/// One configured identity provider.
#[derive(Debug, Serialize, ToSchema)]
struct ProviderView {
    /// Name used in the URLs.
    name: String,
    /// Name to show on the login page.
    display_name: String,
    /// Where the login button sends the browser.
    login_url: String,
}

/// The configured identity providers.
#[derive(Debug, Serialize, ToSchema)]
struct ProviderList {
    /// Providers, by name.
    items: Vec<ProviderView>,
}

/// Lists the configured identity providers, for the login page (public).
#[utoipa::path(get, path = "/auth/oidc/providers", tag = "auth", security(()), params(NoQuery),
    responses((status = 200, body = ProviderList), (status = 400, body = Problem)))]
async fn oidc_providers(
    State(state): State<AppState>,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<ProviderList>> {
    query.parse()?;
    let items = state
        .auth
        .oidc()
        .providers()
        .map(|(name, shown)| ProviderView {
            name: name.to_owned(),
            display_name: shown.to_owned(),
            login_url: format!("/api/v1/auth/oidc/{name}/login"),
        })
        .collect();
    Ok(Json(ProviderList { items }))
}

/// The provider's redirect URI: `<public_url>/api/v1/auth/oidc/<provider>/callback`.
fn redirect_uri(state: &AppState, provider: &str) -> String {
    let base = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.listen));
    format!(
        "{}/api/v1/auth/oidc/{provider}/callback",
        base.trim_end_matches('/')
    )
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// Starts signing in with a provider: redirects the browser to it. Throttled per client IP
/// (`auth.login_per_ip_per_minute`; 429 with `Retry-After`).
#[utoipa::path(get, path = "/auth/oidc/{provider}/login", tag = "auth", security(()),
    params(ProviderPath, NoQuery),
    responses((status = 303, description = "To the identity provider's authorization endpoint"),
              (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 429, body = Problem), (status = 502, body = Problem)))]
async fn oidc_login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProviderPath>,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Response> {
    // Public: anyone may start signing in; the provider authenticates them. Each start stores
    // a pending sign-in and asks the provider, so starts are counted per client IP.
    state
        .auth
        .check_sso_start(&client)
        .map_err(|wait| ApiError::TooManyRequests {
            retry_after: wait.as_secs().max(1),
            detail: "too many sign-ins started from this address; wait before trying again".into(),
        })?;
    let oidc = state.auth.oidc();
    let config = oidc.provider_config(&path.provider)?;
    query.parse()?;
    let now = state.now();
    for secret in state.store.expired_oidc_logins(now).await? {
        state.vault.delete(secret).await?;
    }
    let secret = secret::resolve(&state.store, &state.vault, &path.provider, config).await?;
    let start = oidc
        .start(
            &path.provider,
            &redirect_uri(&state, &path.provider),
            secret,
        )
        .await?;
    let kept = serde_json::json!({"nonce": start.nonce, "verifier": start.verifier});
    let secret_id = state.vault.put(kept.to_string().as_bytes(), now).await?;
    let pending = PendingLogin {
        provider: path.provider.clone(),
        secret_id,
        expires_at: now + LOGIN_TTL,
    };
    state
        .store
        .create_oidc_login(&token_hash(&start.state), &pending)
        .await?;
    Ok(see_other(&start.url))
}

/// What the provider sends the browser back with. Unknown parameters are ignored here, unlike
/// everywhere else: providers add their own (`session_state`, `scope`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    /// The `state` of the sign-in (a missing one is 400, like an unknown or spent one).
    #[param(required = true, min_length = 1, max_length = 512)]
    state: Option<String>,
    /// The authorization code.
    #[param(max_length = 4096)]
    code: Option<String>,
    /// The issuer, when the provider sends it (RFC 9207); must be the provider's.
    #[param(max_length = 2000)]
    iss: Option<String>,
    /// The provider's error code, when the person or the provider declined.
    #[param(max_length = 200)]
    error: Option<String>,
    /// The provider's explanation.
    #[param(max_length = 2000)]
    error_description: Option<String>,
}

fn clean(text: Option<&str>, max: usize) -> String {
    text.unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// The provider's redirect back: verifies the sign-in and sends the browser to the front end
/// with a one-time code in the fragment (`#oidc_code=…`).
#[utoipa::path(get, path = "/auth/oidc/{provider}/callback", tag = "auth", security(()),
    params(ProviderPath, CallbackQuery),
    responses((status = 303, description = "To `auth.oidc.frontend_url#oidc_code=…`"),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 502, body = Problem)))]
async fn oidc_callback(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProviderPath>,
    query: ApiQuery<CallbackQuery>,
) -> ApiResult<Response> {
    // Public: the single-use state is the credential.
    let oidc = state.auth.oidc();
    let config = oidc.provider_config(&path.provider)?.clone();
    let query = query.parse()?;
    let flow_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| ApiError::BadRequest("the state parameter is missing".into()))?;
    let pending = state
        .store
        .take_oidc_login(&token_hash(flow_state))
        .await?
        .filter(|p| p.provider == path.provider)
        .ok_or_else(|| {
            ApiError::BadRequest("unknown or already used sign-in state: sign in again".into())
        })?;
    let kept = state.vault.get(pending.secret_id).await?;
    state.vault.delete(pending.secret_id).await?;
    let now = state.now();
    let failed = |reason: String| NewAuditEntry {
        actor_id: None,
        action: "auth.sso_failed",
        target_type: Some("identity_provider"),
        target_id: Some(path.provider.clone()),
        ip: client.ip.clone(),
        detail: serde_json::json!({"reason": reason}),
    };
    if pending.expires_at < now {
        return Err(ApiError::BadRequest(
            "the sign-in took longer than 10 minutes: sign in again".into(),
        ));
    }
    if let Some(error) = &query.error {
        let error = clean(Some(error), 100);
        let description = clean(query.error_description.as_deref(), 300);
        state
            .store
            .append_audit(failed(format!("{error}: {description}")), now)
            .await?;
        return Err(ApiError::Unauthorized(format!(
            "the identity provider did not sign you in: {error} {description}"
        )));
    }
    if query.iss.as_deref().is_some_and(|iss| iss != config.issuer) {
        state
            .store
            .append_audit(failed("iss parameter is not the provider's".into()), now)
            .await?;
        return Err(ApiError::Unauthorized(
            "the response names another issuer than the provider (RFC 9207)".into(),
        ));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| ApiError::BadRequest("the code parameter is missing".into()))?;
    let kept: serde_json::Value = serde_json::from_slice(kept.expose())
        .map_err(|e| ApiError::internal("the stored sign-in is unreadable", e))?;
    let (Some(nonce), Some(verifier)) = (kept["nonce"].as_str(), kept["verifier"].as_str()) else {
        return Err(ApiError::bug(
            "the stored sign-in lacks its nonce or verifier",
        ));
    };
    let redirect = redirect_uri(&state, &path.provider);
    let finished = match secret::resolve(&state.store, &state.vault, &path.provider, &config).await
    {
        Ok(secret) => {
            oidc.finish(&path.provider, &redirect, code, (nonce, verifier), secret)
                .await
        }
        Err(e) => Err(e),
    };
    let verified = match finished {
        Ok(v) => v,
        Err(e) => {
            state.store.append_audit(failed(e.to_string()), now).await?;
            return Err(e.into());
        }
    };
    let user = match people::resolve(
        &state.store,
        &path.provider,
        &config,
        &verified,
        client.ip.clone(),
        now,
    )
    .await
    {
        Ok(user) => user,
        Err(e) => {
            if !matches!(e, PeopleError::Store(_)) {
                let mut entry = failed(e.to_string());
                entry.detail["subject"] = verified.subject.clone().into();
                state.store.append_audit(entry, now).await?;
            }
            return Err(e.into());
        }
    };
    let frontend = oidc
        .frontend_url()
        .ok_or_else(|| ApiError::bug("auth.oidc.frontend_url is not configured"))?;
    let code = format!("aoc_{}", random_token(32));
    let handoff = Handoff {
        user_id: user.id,
        provider: path.provider.clone(),
        issuer: verified.issuer,
        subject: verified.subject,
        idp_sid: verified.idp_sid,
        expires_at: now + HANDOFF_TTL,
    };
    state
        .store
        .create_oidc_handoff(&token_hash(&code), &handoff)
        .await?;
    let base = frontend.split('#').next().unwrap_or(frontend);
    Ok(see_other(&format!("{base}#oidc_code={code}")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ExchangeRequest {
    /// The one-time code from the front end URL's fragment (`#oidc_code=…`).
    #[schema(min_length = 1, max_length = 256)]
    code: String,
}

impl Validate for ExchangeRequest {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Checks::default()
            .check(
                !self.code.is_empty() && self.code.chars().count() <= 256,
                "code",
                "must be 1 to 256 characters",
            )
            .finish()
    }
}

/// Trades a sign-in's one-time code for the session's tokens (the same as a password login
/// returns). Each code works once, within a minute.
#[utoipa::path(post, path = "/auth/oidc/exchange", tag = "auth", security(()),
    request_body = ExchangeRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn oidc_exchange(
    State(state): State<AppState>,
    client: ClientInfo,
    body: ApiJson<ExchangeRequest>,
) -> ApiResult<Json<TokenResponse>> {
    // Public: the one-time code is the credential.
    let body = body.parse().await?;
    let invalid = || ApiError::Unauthorized("unknown, used or expired sign-in code".into());
    let handoff = state
        .store
        .take_oidc_handoff(&token_hash(&body.code))
        .await?
        .ok_or_else(invalid)?;
    if handoff.expires_at < state.now() {
        return Err(invalid());
    }
    let user = state.store.get_user(handoff.user_id).await?;
    if !user.is_active() {
        return Err(ApiError::Forbidden("this account is deactivated".into()));
    }
    let detail = serde_json::json!({"provider": handoff.provider});
    let issued = state
        .auth
        .start_session(user, &client, "auth.sso_login", detail)
        .await?;
    state
        .store
        .link_oidc_session(issued.session.id, &handoff)
        .await?;
    Ok(Json(issued.into()))
}

/// Where to send the browser to end the provider's session too.
#[derive(Debug, Serialize, ToSchema)]
struct LoggedOut {
    /// The provider's `end_session_endpoint` with `client_id` and `post_logout_redirect_uri`
    /// (RP-initiated logout); `null` when the session did not come from single sign-on or the
    /// provider has no such endpoint.
    end_session_url: Option<String>,
}

/// Ends the caller's session here and answers where to send the browser so that the identity
/// provider ends its session too.
#[utoipa::path(post, path = "/auth/oidc/logout", tag = "auth",
    responses((status = 200, body = LoggedOut), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 502, body = Problem)))]
async fn oidc_logout(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
) -> ApiResult<Json<LoggedOut>> {
    let session = who.session_id.ok_or_else(|| {
        ApiError::BadRequest("API keys have no session; revoke the key instead".into())
    })?;
    let provider = state.store.oidc_session_provider(session).await?;
    let now = state.now();
    state.store.revoke_session(session, "logout", now).await?;
    super::audit::record(
        &state,
        &who,
        &client,
        "session",
        "auth.logout",
        session,
        serde_json::json!({"provider": provider}),
    )
    .await?;
    let end_session_url = match provider {
        // A provider removed from the configuration since: the session still ends here.
        Some(p) => match state.auth.oidc().end_session_url(&p).await {
            Ok(url) => url,
            Err(OidcError::UnknownProvider(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(Json(LoggedOut { end_session_url }))
}

/// The form the provider posts (Back-Channel Logout 1.0 §2.5).
#[derive(Deserialize, ToSchema)]
struct BackchannelForm {
    /// The provider's signed logout token.
    #[schema(min_length = 1, max_length = 16384)]
    logout_token: String,
}

/// OpenID Connect Back-Channel Logout 1.0: the provider tells the host that a person (or one of
/// their provider sessions) logged out; the sessions their sign-ins started here end at once.
/// Authenticated by the provider's signature on the logout token.
#[utoipa::path(post, path = "/auth/oidc/{provider}/backchannel-logout", tag = "auth", security(()),
    params(ProviderPath),
    request_body(content = BackchannelForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Sessions ended"), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 502, body = Problem)))]
async fn oidc_backchannel_logout(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProviderPath>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    // Public: the provider's signature on the token is the credential.
    let oidc = state.auth.oidc();
    oidc.provider_config(&path.provider)?;
    if body.len() > LOGOUT_BODY_MAX {
        return Err(ApiError::PayloadTooLarge(format!(
            "a logout request is at most {LOGOUT_BODY_MAX} bytes"
        )));
    }
    let form: BackchannelForm = serde_urlencoded::from_bytes(&body).map_err(|_| {
        ApiError::BadRequest("expected a form with a logout_token parameter".into())
    })?;
    let logout = oidc
        .verify_logout_token(&path.provider, &form.logout_token)
        .await
        .map_err(|e| match e {
            OidcError::InvalidToken(why) => {
                ApiError::BadRequest(format!("the logout token was rejected: {why}"))
            }
            other => other.into(),
        })?;
    let now = state.now();
    let sessions = state
        .store
        .oidc_sessions_of(
            &logout.issuer,
            logout.subject.as_deref(),
            logout.idp_sid.as_deref(),
        )
        .await?;
    for session in &sessions {
        state
            .store
            .revoke_session(*session, "backchannel_logout", now)
            .await?;
    }
    state
        .store
        .append_audit(
            NewAuditEntry {
                actor_id: None,
                action: "auth.backchannel_logout",
                target_type: Some("identity_provider"),
                target_id: Some(path.provider.clone()),
                ip: client.ip.clone(),
                detail: serde_json::json!({"sessions_ended": sessions.len(), "subject": logout.subject}),
            },
            now,
        )
        .await?;
    Ok(StatusCode::OK)
}
