//! The exchanges that turn a session-kind credential into a session: OAuth 2.0 (authorization
//! code with PKCE, refresh, client credentials, through the `oauth2` crate), the Google service
//! account JWT bearer grant (RFC 7523, signed with `jsonwebtoken`), and the IBM Jazz form login.
//!
//! Every exchange goes out through the egress clients (no redirects followed, the guarded
//! resolver, private addresses only for connections allowed them), under a timeout, and reads
//! at most [`MAX_RESPONSE`] bytes back. Errors name what went wrong in words a person can act
//! on; they never carry a token, and a provider's response body is never logged.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::credentials::{ClientAuth, CredentialInput, Session};
use crate::clock::Millis;
use crate::plugins::CredentialError;

/// Largest token-endpoint or login response read.
pub const MAX_RESPONSE: usize = 64 << 10;
/// Budget of one exchange.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Assumed lifetime of a token whose response gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A transport failure, in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

/// Sends one request with the connection's client; the response body is cut at
/// [`MAX_RESPONSE`].
async fn send(
    client: &reqwest::Client,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let (parts, body) = request.into_parts();
    let mut response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| TransportError(describe(&e)))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| TransportError(describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(TransportError(format!(
                "the response is larger than {MAX_RESPONSE} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// A reqwest error without its URL's query (which never holds secrets here, but need not be
/// repeated) and with the cause that matters.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    match e.url() {
        Some(url) => format!(
            "request to {}{} {what}",
            url.origin().ascii_serialization(),
            url.path()
        ),
        None => format!("request {what}"),
    }
}

/// The `oauth2` crate's view of a connection's HTTP client.
struct Transport<'a>(&'a reqwest::Client);

type TransportFuture<'c> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http::Response<Vec<u8>>, TransportError>>
            + Send
            + 'c,
    >,
>;

impl<'c> oauth2::AsyncHttpClient<'c> for Transport<'_> {
    type Error = TransportError;
    type Future = TransportFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn oauth_client(
    client_id: &str,
    client_secret: Option<&str>,
    token_url: &str,
    auth: ClientAuth,
) -> Result<TokenClient, CredentialError> {
    let token_url = TokenUrl::new(token_url.to_owned())
        .map_err(|_| CredentialError::Refused("the token URL is not a URL".into()))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_token_uri(token_url)
        .set_auth_type(match auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Body => AuthType::RequestBody,
        });
    if let Some(secret) = client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.to_owned()));
    }
    Ok(client)
}

/// Maps a token-endpoint failure: the provider refusing the grant or the client needs a
/// person; anything else may pass.
fn token_error<RE: std::error::Error>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    what: &str,
) -> CredentialError {
    use oauth2::basic::BasicErrorResponseType as Kind;
    match e {
        RequestTokenError::ServerResponse(response) => {
            let description = response
                .error_description()
                .map(|d| format!(": {}", bounded(d)))
                .unwrap_or_default();
            let message = format!(
                "{what}: refused by the provider ({}{description})",
                response.error()
            );
            match response.error() {
                Kind::InvalidGrant
                | Kind::InvalidClient
                | Kind::UnauthorizedClient
                | Kind::InvalidScope
                | Kind::UnsupportedGrantType => CredentialError::Refused(message),
                _ => CredentialError::Unavailable(message),
            }
        }
        RequestTokenError::Request(e) => CredentialError::Unavailable(format!("{what}: {e}")),
        // The body is not repeated: it may hold tokens.
        RequestTokenError::Parse(..) => CredentialError::Unavailable(format!(
            "{what}: the provider's response is not a token response"
        )),
        RequestTokenError::Other(m) => {
            CredentialError::Unavailable(format!("{what}: {}", bounded(&m)))
        }
    }
}

/// Provider text, cut to a length fit for an error message and without control characters.
fn bounded(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn session_from<TR: TokenResponse>(
    token: &TR,
    previous_refresh: Option<&str>,
    now: Millis,
) -> Session {
    let lifetime = token.expires_in().unwrap_or(DEFAULT_LIFETIME);
    Session {
        access_token: Some(token.access_token().secret().clone()),
        // Providers that rotate refresh tokens (Atlassian) send a new one; others keep the old.
        refresh_token: token
            .refresh_token()
            .map(|t| t.secret().clone())
            .or_else(|| previous_refresh.map(str::to_owned)),
        cookies: None,
        expires_at: Some(now + lifetime),
    }
}

/// The browser URL that asks the user to consent, for an authorization code credential.
pub fn authorization_url(
    credential: &CredentialInput,
    redirect_uri: &str,
    state: &str,
    challenge: PkceCodeChallenge,
) -> Result<String, CredentialError> {
    let CredentialInput::OAuth2AuthorizationCode {
        client_id,
        authorize_url,
        scopes,
        authorize_params,
        ..
    } = credential
    else {
        return Err(CredentialError::Refused(
            "not an authorization code credential".into(),
        ));
    };
    let auth_url = AuthUrl::new(authorize_url.clone())
        .map_err(|_| CredentialError::Refused("the authorization URL is not a URL".into()))?;
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|_| CredentialError::Unavailable("the host's public URL is not a URL".into()))?;
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(auth_url)
        .set_redirect_uri(redirect);
    let state = state.to_owned();
    let mut request = client
        .authorize_url(move || CsrfToken::new(state))
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    for (name, value) in authorize_params {
        request = request.add_extra_param(name.as_str(), value.as_str());
    }
    Ok(request.url().0.to_string())
}

/// Exchanges an authorization code (with its PKCE verifier) for the first session.
pub async fn exchange_code(
    http: &reqwest::Client,
    credential: &CredentialInput,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
    now: Millis,
) -> Result<Session, CredentialError> {
    let CredentialInput::OAuth2AuthorizationCode {
        client_id,
        client_secret,
        token_url,
        client_auth,
        ..
    } = credential
    else {
        return Err(CredentialError::Refused(
            "not an authorization code credential".into(),
        ));
    };
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|_| CredentialError::Unavailable("the host's public URL is not a URL".into()))?;
    let client = oauth_client(client_id, client_secret.as_deref(), token_url, *client_auth)?
        .set_redirect_uri(redirect);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request_async(&Transport(http))
        .await
        .map_err(|e| token_error(e, "the authorization code"))?;
    Ok(session_from(&token, None, now))
}

/// Obtains a new session for a credential: a refresh, a client-credentials grant, a signed
/// assertion or a login, depending on its kind. `previous` is the session being replaced.
pub async fn renew(
    http: &reqwest::Client,
    credential: &CredentialInput,
    previous: Option<&Session>,
    base_url: &str,
    now: Millis,
) -> Result<Session, CredentialError> {
    let transport = Transport(http);
    match credential {
        CredentialInput::OAuth2AuthorizationCode {
            client_id,
            client_secret,
            token_url,
            client_auth,
            ..
        } => {
            let Some(refresh) = previous.and_then(|s| s.refresh_token.as_deref()) else {
                return Err(CredentialError::Refused(
                    "the connection is not authorized (or the provider sent no refresh token): \
                     authorize it again"
                        .into(),
                ));
            };
            let client =
                oauth_client(client_id, client_secret.as_deref(), token_url, *client_auth)?;
            let token = client
                .exchange_refresh_token(&RefreshToken::new(refresh.to_owned()))
                .request_async(&transport)
                .await
                .map_err(|e| token_error(e, "the refresh token"))?;
            Ok(session_from(&token, Some(refresh), now))
        }
        CredentialInput::OAuth2ClientCredentials {
            client_id,
            client_secret,
            token_url,
            scopes,
            audience,
            client_auth,
        } => {
            let client = oauth_client(client_id, Some(client_secret), token_url, *client_auth)?;
            let mut request = client.exchange_client_credentials();
            for scope in scopes {
                request = request.add_scope(Scope::new(scope.clone()));
            }
            if let Some(audience) = audience {
                request = request.add_extra_param("audience", audience.as_str());
            }
            let token = request
                .request_async(&transport)
                .await
                .map_err(|e| token_error(e, "the client credentials"))?;
            Ok(session_from(&token, None, now))
        }
        CredentialInput::GoogleServiceAccount {
            key,
            scopes,
            subject,
        } => google_assertion(http, key, scopes, subject.as_deref(), now).await,
        CredentialInput::FormLogin { .. } => form_login(http, credential, base_url).await,
        _ => Err(CredentialError::Refused(format!(
            "{} credentials have no session",
            credential.kind()
        ))),
    }
}

/// The claims of a Google service account assertion (RFC 7523 §3).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: String,
    aud: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

/// What a token endpoint answers to an assertion.
#[derive(Deserialize)]
struct AssertionToken {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

async fn google_assertion(
    http: &reqwest::Client,
    key: &super::credentials::ServiceAccountKey,
    scopes: &[String],
    subject: Option<&str>,
    now: Millis,
) -> Result<Session, CredentialError> {
    let iat = now.as_secs();
    let claims = AssertionClaims {
        iss: &key.client_email,
        scope: scopes.join(" "),
        aud: &key.token_uri,
        iat,
        exp: iat + 3600,
        sub: subject,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    let signing =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|_| {
            CredentialError::Refused("the service account's private key is not RSA PEM".into())
        })?;
    let assertion = zeroize::Zeroizing::new(
        jsonwebtoken::encode(&header, &claims, &signing)
            .map_err(|e| CredentialError::Refused(format!("signing the assertion failed: {e}")))?,
    );
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &assertion)
        .finish();
    let request = http::Request::post(&key.token_uri)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json")
        .body(form.into_bytes())
        .map_err(|_| CredentialError::Refused("the token URI is not a URL".into()))?;
    let response = send(http, request)
        .await
        .map_err(|e| CredentialError::Unavailable(format!("the service account: {e}")))?;
    if !response.status().is_success() {
        let why = serde_json::from_slice::<OAuthError>(response.body())
            .map(|e| {
                let description = e
                    .error_description
                    .map(|d| format!(": {}", bounded(&d)))
                    .unwrap_or_default();
                format!("{}{description}", bounded(&e.error))
            })
            .unwrap_or_else(|_| format!("HTTP {}", response.status()));
        let message = format!("the service account was refused by the provider ({why})");
        return Err(if response.status().is_client_error() {
            CredentialError::Refused(message)
        } else {
            CredentialError::Unavailable(message)
        });
    }
    let token: AssertionToken = serde_json::from_slice(response.body()).map_err(|_| {
        CredentialError::Unavailable(
            "the service account: the provider's response is not a token response".into(),
        )
    })?;
    // A lifetime below zero is an expired token: now.
    let lifetime = token.expires_in.map_or(DEFAULT_LIFETIME, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    });
    Ok(Session {
        access_token: Some(token.access_token),
        refresh_token: None,
        cookies: None,
        expires_at: Some(now + lifetime),
    })
}

/// The IBM Jazz form login (DOORS Next, and every Jazz application): `j_username` and
/// `j_password` posted to `j_security_check`; a failure is signalled by
/// `X-com-ibm-team-repository-web-auth-msg: authfailed` or a redirect to `…/authfailed`,
/// success by the session cookies set.
async fn form_login(
    http: &reqwest::Client,
    credential: &CredentialInput,
    base_url: &str,
) -> Result<Session, CredentialError> {
    let CredentialInput::FormLogin {
        username, password, ..
    } = credential
    else {
        return Err(CredentialError::Refused("not a form login".into()));
    };
    let login = credential.login_url(base_url).unwrap_or_default();
    let form = zeroize::Zeroizing::new(
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("j_username", username)
            .append_pair("j_password", password)
            .finish(),
    );
    let request = http::Request::post(&login)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form.as_bytes().to_vec())
        .map_err(|_| CredentialError::Refused("the login URL is not a URL".into()))?;
    let response = send(http, request)
        .await
        .map_err(|e| CredentialError::Unavailable(format!("the login: {e}")))?;
    let headers = response.headers();
    let failed = headers
        .get("x-com-ibm-team-repository-web-auth-msg")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"authfailed"))
        || headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.contains("authfailed"))
        || matches!(response.status().as_u16(), 401 | 403);
    if failed {
        return Err(CredentialError::Refused(
            "the server refused the user name or password".into(),
        ));
    }
    if response.status().is_server_error() {
        return Err(CredentialError::Unavailable(format!(
            "the login answered HTTP {}",
            response.status()
        )));
    }
    let cookies: Vec<&str> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .map(str::trim)
        .filter(|pair| pair.contains('=') && !pair.ends_with('='))
        .collect();
    if cookies.is_empty() {
        return Err(CredentialError::Refused(
            "the login set no session cookie (is login_url the form's action?)".into(),
        ));
    }
    Ok(Session {
        access_token: None,
        refresh_token: None,
        cookies: Some(cookies.join("; ")),
        expires_at: None,
    })
}
