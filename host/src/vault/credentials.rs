//! Credentials of connections: what an API caller sends (write-only), and how it is kept (JSON
//! in the vault, with the session the host obtained from it). How it is put on a plugin's
//! requests is [`super::provider`]'s.
//!
//! Static kinds go on each request as they are: `anonymous`, `api-token` (e-mail + token as
//! HTTP Basic, JIRA Cloud), `basic` (user name + password) and `bearer` (a token or PAT).
//! Session kinds are exchanged by the host for something short-lived first (see
//! [`super::sessions`]): `oauth2-authorization-code` (PKCE, browser consent, refresh tokens),
//! `oauth2-client-credentials`, `google-service-account` (RFC 7523 JWT bearer) and `form-login`
//! (IBM Jazz / DOORS Next `j_security_check`, a session cookie).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::clock::Millis;

/// A credential as an API caller gives it. Never serialised back to a caller, never printed.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CredentialInput {
    /// No credential.
    Anonymous,
    /// E-mail (or user name) and API token, sent as HTTP Basic.
    ApiToken {
        /// Account e-mail or user name.
        email: String,
        /// The API token.
        token: String,
    },
    /// User name and password, sent as HTTP Basic.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A bearer token or personal access token.
    Bearer {
        /// The token.
        token: String,
    },
    /// OAuth 2.0 authorization code with PKCE (RFC 6749 §4.1, RFC 7636). After saving, a user
    /// consents in the browser (`POST …/connections/{cid}/authorize`); the host keeps the tokens
    /// and refreshes them.
    #[serde(rename = "oauth2-authorization-code")]
    OAuth2AuthorizationCode {
        /// The client id registered with the provider.
        client_id: String,
        /// The client secret (absent for public clients).
        #[serde(default)]
        client_secret: Option<String>,
        /// The provider's authorization endpoint, e.g. `https://auth.atlassian.com/authorize`.
        authorize_url: String,
        /// The provider's token endpoint, e.g. `https://auth.atlassian.com/oauth/token`.
        token_url: String,
        /// Scopes to ask for, e.g. `read:jira-work`, `offline_access`.
        #[serde(default)]
        scopes: Vec<String>,
        /// Extra authorization request parameters, e.g. Atlassian's `audience` and `prompt`.
        #[serde(default)]
        authorize_params: BTreeMap<String, String>,
        /// How the client authenticates at the token endpoint.
        #[serde(default)]
        client_auth: ClientAuth,
    },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): the host asks for a token whenever the last
    /// one expires.
    #[serde(rename = "oauth2-client-credentials")]
    OAuth2ClientCredentials {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
        /// The provider's token endpoint.
        token_url: String,
        /// Scopes to ask for.
        #[serde(default)]
        scopes: Vec<String>,
        /// An `audience` parameter, for providers that want one.
        #[serde(default)]
        audience: Option<String>,
        /// How the client authenticates at the token endpoint.
        #[serde(default)]
        client_auth: ClientAuth,
    },
    /// A Google service account key: the host signs an RS256 JWT assertion (RFC 7523) and
    /// exchanges it for an access token.
    GoogleServiceAccount {
        /// The key file's JSON, as downloaded from Google Cloud.
        key: ServiceAccountKey,
        /// Scopes, e.g. `https://www.googleapis.com/auth/drive.readonly`.
        scopes: Vec<String>,
        /// A user to act as (domain-wide delegation), sent as the assertion's `sub`.
        #[serde(default)]
        subject: Option<String>,
    },
    /// A form login (IBM Jazz / DOORS Next `j_security_check`): the host logs in, keeps the
    /// session cookies and logs in again when the server asks for it.
    FormLogin {
        /// User name.
        username: String,
        /// Password.
        password: String,
        /// The login form's action; defaults to `<base URL>/j_security_check`. Must be on the
        /// connection's origin.
        #[serde(default)]
        login_url: Option<String>,
    },
}

/// How an OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1, the default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// The fields of a Google service account key file the host uses; others are ignored.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountKey {
    /// Must be `service_account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account's e-mail: the assertion's issuer.
    pub client_email: String,
    /// The RSA private key, PEM.
    pub private_key: String,
    /// The key's id, sent as the JWT `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where assertions are exchanged.
    #[serde(default = "google_token_uri")]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccountKey({}, <redacted>)", self.client_email)
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session(<redacted>, expires_at: {:?})", self.expires_at)
    }
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoredCredential({:?}, {:?})",
            self.credential, self.session
        )
    }
}

fn google_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl std::fmt::Debug for CredentialInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialInput({}, <redacted>)", self.kind())
    }
}

impl Drop for CredentialInput {
    fn drop(&mut self) {
        let wipe = |s: &mut String| s.zeroize();
        match self {
            CredentialInput::Anonymous => {}
            CredentialInput::ApiToken { token, .. } | CredentialInput::Bearer { token } => {
                wipe(token)
            }
            CredentialInput::Basic { password, .. }
            | CredentialInput::FormLogin { password, .. } => wipe(password),
            CredentialInput::OAuth2AuthorizationCode { client_secret, .. } => {
                if let Some(s) = client_secret {
                    wipe(s)
                }
            }
            CredentialInput::OAuth2ClientCredentials { client_secret, .. } => wipe(client_secret),
            CredentialInput::GoogleServiceAccount { key, .. } => wipe(&mut key.private_key),
        }
    }
}

/// A field problem: (`credential.token`, what is wrong).
pub type Problem = (String, String);

impl CredentialInput {
    /// The kind, as manifests name it.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialInput::Anonymous => "anonymous",
            CredentialInput::ApiToken { .. } => "api-token",
            CredentialInput::Basic { .. } => "basic",
            CredentialInput::Bearer { .. } => "bearer",
            CredentialInput::OAuth2AuthorizationCode { .. } => "oauth2-authorization-code",
            CredentialInput::OAuth2ClientCredentials { .. } => "oauth2-client-credentials",
            CredentialInput::GoogleServiceAccount { .. } => "google-service-account",
            CredentialInput::FormLogin { .. } => "form-login",
        }
    }

    /// Whether the host must obtain a session (token, cookie) from it before use.
    pub fn has_session(&self) -> bool {
        !matches!(
            self,
            CredentialInput::Anonymous
                | CredentialInput::ApiToken { .. }
                | CredentialInput::Basic { .. }
                | CredentialInput::Bearer { .. }
        )
    }

    /// Field problems (`credential.token`, …): empty values, control characters, sizes, and
    /// endpoint URLs that a credential may not be sent to. `base_url` is the connection's;
    /// `allow_private` whether it may reach private networks (then plain http is accepted too).
    pub fn problems(&self, base_url: &str, allow_private: bool) -> Vec<Problem> {
        let mut out: Vec<Problem> = Vec::new();
        let text = |out: &mut Vec<Problem>, field: &str, value: &str, max: usize| {
            if value.is_empty() || value.len() > max {
                out.push((
                    format!("credential.{field}"),
                    format!("must be 1 to {max} bytes"),
                ));
            } else if value.chars().any(char::is_control) {
                out.push((
                    format!("credential.{field}"),
                    "may not contain control characters".into(),
                ));
            }
        };
        match self {
            CredentialInput::Anonymous => {}
            CredentialInput::ApiToken { email, token } => {
                text(&mut out, "email", email, 320);
                text(&mut out, "token", token, 8192);
            }
            CredentialInput::Basic { username, password } => {
                text(&mut out, "username", username, 320);
                text(&mut out, "password", password, 8192);
            }
            CredentialInput::Bearer { token } => text(&mut out, "token", token, 8192),
            CredentialInput::OAuth2AuthorizationCode {
                client_id,
                client_secret,
                scopes,
                authorize_params,
                ..
            } => {
                text(&mut out, "client_id", client_id, 512);
                if let Some(secret) = client_secret {
                    text(&mut out, "client_secret", secret, 4096);
                }
                for scope in scopes {
                    text(&mut out, "scopes", scope, 512);
                }
                if authorize_params.len() > 16 {
                    text(&mut out, "authorize_params", "", 0);
                }
                for (name, value) in authorize_params {
                    text(&mut out, "authorize_params", name, 128);
                    text(&mut out, "authorize_params", value, 1024);
                    if RESERVED_PARAMS.contains(&name.as_str()) {
                        out.push((
                            "credential.authorize_params".into(),
                            format!("{name} is set by the host"),
                        ));
                    }
                }
            }
            CredentialInput::OAuth2ClientCredentials {
                client_id,
                client_secret,
                scopes,
                audience,
                ..
            } => {
                text(&mut out, "client_id", client_id, 512);
                text(&mut out, "client_secret", client_secret, 4096);
                for scope in scopes {
                    text(&mut out, "scopes", scope, 512);
                }
                if let Some(audience) = audience {
                    text(&mut out, "audience", audience, 1024);
                }
            }
            CredentialInput::GoogleServiceAccount {
                key,
                scopes,
                subject,
            } => {
                if key.kind != "service_account" {
                    out.push((
                        "credential.key.type".into(),
                        "must be service_account (a service account key file)".into(),
                    ));
                }
                text(&mut out, "key.client_email", &key.client_email, 320);
                if key.private_key.len() > 16 << 10
                    || jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).is_err()
                {
                    out.push((
                        "credential.key.private_key".into(),
                        "must be an RSA private key in PEM".into(),
                    ));
                }
                if scopes.is_empty() {
                    text(&mut out, "scopes", "", 512);
                }
                for scope in scopes {
                    text(&mut out, "scopes", scope, 512);
                }
                if let Some(subject) = subject {
                    text(&mut out, "subject", subject, 320);
                }
            }
            CredentialInput::FormLogin {
                username, password, ..
            } => {
                text(&mut out, "username", username, 320);
                text(&mut out, "password", password, 8192);
            }
        }
        for (field, url) in self.endpoints(base_url) {
            if let Some(why) = endpoint_problem(&url, base_url, field == "login_url", allow_private)
            {
                out.push((format!("credential.{field}"), why));
            }
        }
        out
    }

    /// The URLs the host will send this credential to, by field name.
    fn endpoints(&self, base_url: &str) -> Vec<(&'static str, String)> {
        match self {
            CredentialInput::OAuth2AuthorizationCode {
                authorize_url,
                token_url,
                ..
            } => vec![
                ("authorize_url", authorize_url.clone()),
                ("token_url", token_url.clone()),
            ],
            CredentialInput::OAuth2ClientCredentials { token_url, .. } => {
                vec![("token_url", token_url.clone())]
            }
            CredentialInput::GoogleServiceAccount { key, .. } => {
                vec![("key.token_uri", key.token_uri.clone())]
            }
            CredentialInput::FormLogin { .. } => {
                vec![("login_url", self.login_url(base_url).unwrap_or_default())]
            }
            _ => Vec::new(),
        }
    }

    /// Where a form login posts to.
    pub fn login_url(&self, base_url: &str) -> Option<String> {
        match self {
            CredentialInput::FormLogin { login_url, .. } => Some(match login_url {
                Some(url) => url.clone(),
                None => format!("{}/j_security_check", base_url.trim_end_matches('/')),
            }),
            _ => None,
        }
    }

    /// What goes into the vault (`None` for anonymous).
    pub fn secret(&self) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            CredentialInput::Anonymous => None,
            other => StoredCredential {
                credential: other.clone(),
                session: None,
            }
            .to_bytes()
            .ok(),
        }
    }
}

/// Authorization request parameters the host sets itself.
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// Why a credential may not be sent to `url`: not http(s), credentials in it, clear text
/// without a private-network allowance, or (for a login form) another origin than the
/// connection's.
fn endpoint_problem(
    url: &str,
    base_url: &str,
    same_origin: bool,
    allow_private: bool,
) -> Option<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Some("must be an absolute URL".into());
    };
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Some("must be an http(s) URL with a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || url.len() > 2048 {
        return Some("may not carry credentials and must be at most 2048 bytes".into());
    }
    if parsed.scheme() != "https" && !allow_private {
        return Some("must use https (credentials are never sent in clear text)".into());
    }
    if same_origin {
        let base = url::Url::parse(base_url).ok()?;
        if base.origin() != parsed.origin() {
            return Some(format!(
                "must be on the connection's origin {}",
                base.origin().ascii_serialization()
            ));
        }
    }
    None
}

/// What a session kind obtained: tokens or cookies, and when they stop working.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct Session {
    /// OAuth access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// OAuth refresh token (authorization code only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Cookies of a form login, as a `Cookie` header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<String>,
    /// When the access token expires (epoch ms); `None`: until refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for s in [
            &mut self.access_token,
            &mut self.refresh_token,
            &mut self.cookies,
        ]
        .into_iter()
        .flatten()
        {
            s.zeroize();
        }
    }
}

/// Renew this long before an access token expires, so a request never leaves with one that
/// dies in flight.
pub const EXPIRY_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

impl Session {
    /// Whether it can authenticate a request now.
    pub fn usable(&self, now: Millis) -> bool {
        (self.access_token.is_some() || self.cookies.is_some())
            && self.expires_at.is_none_or(|at| now + EXPIRY_MARGIN < at)
    }
}

/// A credential as the vault keeps it: what the caller gave and the session obtained from it.
#[derive(Deserialize, Serialize)]
pub struct StoredCredential {
    /// The caller's credential.
    pub credential: CredentialInput,
    /// The current session, for session kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

impl StoredCredential {
    /// Parses a vault plaintext.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The vault plaintext.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        serde_json::to_vec(self).map(Zeroizing::new)
    }
}

/// `Basic base64(user:password)`.
pub(crate) fn basic(user: &str, password: &str) -> Zeroizing<String> {
    let pair = Zeroizing::new(format!("{user}:{password}"));
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ))
}
