//! Fakes of the identity providers and services the host authenticates to, following their
//! public documentation, bound to a local port:
//!
//! - an OAuth 2.0 authorization server: authorization code with PKCE S256 (RFC 6749 §4.1,
//!   RFC 7636 §4.6), refresh tokens rotated on every use as Atlassian does (a used refresh token
//!   is `invalid_grant`), client credentials (§4.4), client authentication by HTTP Basic or
//!   form body (§2.3.1), errors as JSON `{error, error_description}` (§5.2);
//! - Google's token endpoint for service accounts: an RS256 JWT assertion (RFC 7523) verified
//!   with the public half of the test key in `tests/fixtures/google-auth`;
//! - an IBM Jazz (DOORS Next) server: form login at `/rm/j_security_check`, session cookies,
//!   `X-com-ibm-team-repository-web-auth-msg: authrequired` on a protected resource once the
//!   session is gone, `authfailed` on a bad password;
//! - a protected API at `/api/status` (bearer) and `/rm/status` (session cookie) answering the
//!   example connector's `GET /status`;
//! - ReqIF exports of the Jazz server at `/rm/reqif/{name}` (session cookie, the same
//!   `authrequired` challenge), the files the DOORS connector imports ([`Provider::put_reqif`]);
//! - DOORS Next's OSLC RM service (`rootservices`, catalog, service provider, shape, paged
//!   queries: [`crate::doors::next`]) under `/rm/`, behind the same session.
//!
//! Everything the host sends is recorded so tests can count token requests and inspect them.
//!
//! [`Provider::put_reqif`]: crate::providers::Provider::put_reqif

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The client the fake authorization server knows.
pub const CLIENT_ID: &str = "client-7f3a";
/// Its secret.
pub const CLIENT_SECRET: &str = "client-secret-5be1c29d";
/// The Jazz user.
pub const JAZZ_USER: &str = "alice";
/// Her password.
pub const JAZZ_PASSWORD: &str = "jazz-pass-90d1e6";

/// A code the fake issued when the "user" consented.
#[derive(Debug, Clone)]
struct CodeGrant {
    redirect_uri: String,
    challenge: String,
}

/// What the fake knows and saw.
#[derive(Debug, Default)]
pub struct Seen {
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashSet<String>,
    access_tokens: HashSet<String>,
    jazz_sessions: HashSet<String>,
    /// `grant_type` of every token request, in order.
    pub token_requests: Vec<String>,
    /// Claims of every verified service-account assertion.
    pub assertions: Vec<serde_json::Value>,
    /// Form logins attempted.
    pub logins: u32,
    /// `Authorization` or `Cookie` of every request to a protected resource.
    pub presented: Vec<String>,
    /// Every token ever issued (access and refresh), to scan for.
    pub issued: Vec<String>,
    /// ReqIF exports served at `/rm/reqif/{name}`.
    reqif: HashMap<String, Vec<u8>>,
    /// Successful downloads of ReqIF exports.
    pub reqif_downloads: u32,
    /// The DOORS Next (OSLC RM) server's data.
    pub next: crate::doors::next::NextData,
    seq: u32,
}

/// The fake, running.
#[derive(Debug, Clone)]
pub struct Provider {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    /// Delay of each token response, to widen race windows.
    delay: Arc<Mutex<Duration>>,
}

impl Provider {
    /// Starts the fake on a free port.
    pub async fn start() -> Self {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let state = (seen.clone(), delay.clone());
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/google/token", post(google_token))
            .route("/api/status", get(api_status))
            .route("/rm/j_security_check", post(jazz_login))
            .route("/rm/status", get(jazz_status))
            .route("/rm/reqif/{name}", get(jazz_reqif))
            .route("/rm/{*path}", get(jazz_oslc))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            seen,
            delay,
        }
    }

    /// What the fake saw so far.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().expect("lock")
    }

    /// Token requests with this grant type.
    pub fn token_requests(&self, grant: &str) -> usize {
        self.seen()
            .token_requests
            .iter()
            .filter(|g| g.as_str() == grant)
            .count()
    }

    /// Makes token responses take `delay`.
    pub fn slow_tokens(&self, delay: Duration) {
        *self.delay.lock().expect("lock") = delay;
    }

    /// The user consents to the authorization request at `authorization_url`: checks what a
    /// provider checks (client, response type, PKCE method) and returns the code it would
    /// redirect with.
    pub fn consent(&self, authorization_url: &str) -> String {
        let url = url::Url::parse(authorization_url).expect("authorization URL");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(
            q.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        let challenge = q.get("code_challenge").expect("PKCE challenge").clone();
        let redirect_uri = q.get("redirect_uri").expect("redirect_uri").clone();
        let mut seen = self.seen();
        seen.seq += 1;
        let code = format!("code-{}-{}", seen.seq, uuid::Uuid::new_v4().simple());
        seen.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri,
                challenge,
            },
        );
        code
    }

    /// Whether `token` is an access token the fake issued and has not revoked (for the fake
    /// services behind it, such as `crate::google`).
    pub fn accepts_access_token(&self, token: &str) -> bool {
        self.seen().access_tokens.contains(token)
    }

    /// The provider revokes every access token (the next use is a 401).
    pub fn revoke_access_tokens(&self) {
        self.seen().access_tokens.clear();
    }

    /// The provider revokes every refresh token (the next refresh is `invalid_grant`).
    pub fn revoke_refresh_tokens(&self) {
        self.seen().refresh_tokens.clear();
    }

    /// The Jazz server ends every session.
    pub fn end_jazz_sessions(&self) {
        self.seen().jazz_sessions.clear();
    }

    /// Serves `bytes` as the ReqIF export `/rm/reqif/{name}` (replacing what was there).
    pub fn put_reqif(&self, name: &str, bytes: Vec<u8>) {
        self.seen().reqif.insert(name.to_owned(), bytes);
    }
}

type Shared = (Arc<Mutex<Seen>>, Arc<Mutex<Duration>>);

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

/// The client's id and secret, from HTTP Basic or the form (RFC 6749 §2.3.1).
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        // Basic credentials are form-urlencoded first (§2.3.1).
        let un = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((un(id)?, un(secret)?));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

fn issue(seen: &mut Seen, refresh: bool, scope: &str) -> Response {
    seen.seq += 1;
    let access = format!("at-{}-{}", seen.seq, uuid::Uuid::new_v4().simple());
    seen.access_tokens.insert(access.clone());
    seen.issued.push(access.clone());
    let mut body = json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": scope,
    });
    if refresh {
        let token = format!("rt-{}-{}", seen.seq, uuid::Uuid::new_v4().simple());
        seen.refresh_tokens.insert(token.clone());
        seen.issued.push(token.clone());
        body["refresh_token"] = json!(token);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn token(
    State((seen, delay)): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let wait = *delay.lock().expect("lock");
    tokio::time::sleep(wait).await;
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let mut seen = seen.lock().expect("lock");
    seen.token_requests.push(grant.clone());
    if client_of(&headers, &form) != Some((CLIENT_ID.into(), CLIENT_SECRET.into())) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    }
    match grant.as_str() {
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(grant) = seen.codes.remove(&code) else {
                return oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "Invalid authorization code",
                );
            };
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "redirect_uri does not match",
                );
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if verifier.len() < 43 || computed != grant.challenge {
                return oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "PKCE verification failed",
                );
            }
            issue(&mut seen, true, "read:jira-work offline_access")
        }
        "refresh_token" => {
            let token = form.get("refresh_token").cloned().unwrap_or_default();
            // Rotating refresh tokens: each works once.
            if !seen.refresh_tokens.remove(&token) {
                return oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "Unknown or invalid refresh token.",
                );
            }
            issue(&mut seen, true, "read:jira-work offline_access")
        }
        "client_credentials" => {
            let scope = form.get("scope").cloned().unwrap_or_default();
            issue(&mut seen, false, &scope)
        }
        other => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("{other} is not supported"),
        ),
    }
}

/// The public key of the fixture service account.
fn google_public_key() -> jsonwebtoken::DecodingKey {
    let pem = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/google-auth/privatekey.pub"),
    )
    .expect("fixture public key");
    jsonwebtoken::DecodingKey::from_rsa_pem(&pem).expect("RSA public key")
}

async fn google_token(
    State((seen, _)): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut seen = seen.lock().expect("lock");
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    seen.token_requests.push(grant.clone());
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type",
        );
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = match jsonwebtoken::decode::<serde_json::Value>(
        &assertion,
        &google_public_key(),
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                &format!("Invalid JWT Signature: {e}"),
            )
        }
    };
    let iat = claims["iat"].as_i64().unwrap_or_default();
    let exp = claims["exp"].as_i64().unwrap_or_default();
    if exp - iat > 3600 || exp <= iat || claims["scope"].as_str().unwrap_or_default().is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT: lifetime or scope",
        );
    }
    seen.assertions.push(claims);
    issue(&mut seen, false, "")
}

async fn api_status(State((seen, _)): State<Shared>, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut seen = seen.lock().expect("lock");
    seen.presented.push(auth.clone());
    let valid = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| seen.access_tokens.contains(t));
    if valid {
        (StatusCode::OK, json!({"items": 3}).to_string()).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            json!({"message": "Unauthorized"}).to_string(),
        )
            .into_response()
    }
}

async fn jazz_login(
    State((seen, _)): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut seen = seen.lock().expect("lock");
    seen.logins += 1;
    let ok = form.get("j_username").map(String::as_str) == Some(JAZZ_USER)
        && form.get("j_password").map(String::as_str) == Some(JAZZ_PASSWORD);
    if !ok {
        return (
            StatusCode::FOUND,
            [
                (header::LOCATION, "/rm/auth/authfailed"),
                (
                    header::HeaderName::from_static("x-com-ibm-team-repository-web-auth-msg"),
                    "authfailed",
                ),
            ],
        )
            .into_response();
    }
    seen.seq += 1;
    let session = format!("{}{}", seen.seq, uuid::Uuid::new_v4().simple());
    seen.jazz_sessions.insert(session.clone());
    seen.issued.push(session.clone());
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, "/rm/".parse().expect("location"));
    headers.append(
        header::SET_COOKIE,
        format!("JSESSIONID={session}; Path=/rm; Secure; HttpOnly")
            .parse()
            .expect("cookie"),
    );
    headers.append(
        header::SET_COOKIE,
        "LtpaToken2=ltpa-opaque; Path=/; HttpOnly"
            .parse()
            .expect("cookie"),
    );
    (StatusCode::FOUND, headers).into_response()
}

/// Whether the request presents a live Jazz session; records what it presented.
fn jazz_session(seen: &mut Seen, headers: &HeaderMap) -> bool {
    let cookies = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.presented.push(cookies.clone());
    cookies.split(';').map(str::trim).any(|pair| {
        pair.strip_prefix("JSESSIONID=")
            .is_some_and(|s| seen.jazz_sessions.contains(s))
    })
}

/// Jazz's answer to a request that needs a session: 200 with a login page and this header.
fn jazz_challenge() -> Response {
    (
        StatusCode::OK,
        [(
            header::HeaderName::from_static("x-com-ibm-team-repository-web-auth-msg"),
            "authrequired",
        )],
        "<html><body>Log in</body></html>",
    )
        .into_response()
}

async fn jazz_status(State((seen, _)): State<Shared>, headers: HeaderMap) -> Response {
    let mut seen = seen.lock().expect("lock");
    if jazz_session(&mut seen, &headers) {
        (StatusCode::OK, json!({"items": 5}).to_string()).into_response()
    } else {
        jazz_challenge()
    }
}

async fn jazz_reqif(
    State((seen, _)): State<Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut seen = seen.lock().expect("lock");
    if !jazz_session(&mut seen, &headers) {
        return jazz_challenge();
    }
    match seen.reqif.get(&name).cloned() {
        Some(bytes) => {
            seen.reqif_downloads += 1;
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                bytes,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn jazz_oslc(
    State((seen, _)): State<Shared>,
    uri: axum::http::Uri,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut seen = seen.lock().expect("lock");
    if !jazz_session(&mut seen, &headers) {
        return jazz_challenge();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let configuration = headers
        .get("configuration-context")
        .and_then(|h| h.to_str().ok());
    let (status, body) = crate::doors::next::answer(
        &mut seen.next,
        &format!("http://{host}"),
        uri.path(),
        &query,
        configuration,
    );
    (
        StatusCode::from_u16(status).expect("status"),
        [(header::CONTENT_TYPE, "application/rdf+xml")],
        body,
    )
        .into_response()
}
