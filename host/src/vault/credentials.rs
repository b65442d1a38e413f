//! Credentials of connections: what an API caller sends (write-only), how it is kept (JSON in
//! the vault), and how it is put on a plugin's requests (a [`CredentialProvider`]).
//!
//! Supported kinds: `anonymous`, `api-token` (e-mail + token as HTTP Basic, JIRA Cloud),
//! `basic` (user name + password) and `bearer` (a token or PAT). The OAuth 2.0, Google service
//! account and form-login kinds need host-side flows and are refused until they land.

use std::sync::Arc;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Vault;
use crate::plugins::{CredentialError, CredentialProvider};

/// A credential as an API caller gives it. Never serialised back, never printed.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
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
}

impl std::fmt::Debug for CredentialInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialInput({}, <redacted>)", self.kind())
    }
}

impl CredentialInput {
    /// The kind, as manifests name it.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialInput::Anonymous => "anonymous",
            CredentialInput::ApiToken { .. } => "api-token",
            CredentialInput::Basic { .. } => "basic",
            CredentialInput::Bearer { .. } => "bearer",
        }
    }

    /// Field problems (`credential.token`, …): empty values, control characters, sizes.
    pub fn problems(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        let mut check = |field: &str, value: &str, max: usize| {
            if value.is_empty() || value.len() > max {
                out.push((
                    format!("credential.{field}"),
                    "must be 1 to the allowed length",
                ));
            } else if value.chars().any(char::is_control) {
                out.push((
                    format!("credential.{field}"),
                    "may not contain control characters",
                ));
            }
        };
        match self {
            CredentialInput::Anonymous => {}
            CredentialInput::ApiToken { email, token } => {
                check("email", email, 320);
                check("token", token, 8192);
            }
            CredentialInput::Basic { username, password } => {
                check("username", username, 320);
                check("password", password, 8192);
            }
            CredentialInput::Bearer { token } => check("token", token, 8192),
        }
        out
    }

    /// What goes into the vault (`None` for anonymous).
    pub fn secret(&self) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            CredentialInput::Anonymous => None,
            other => serde_json::to_vec(other).ok().map(Zeroizing::new),
        }
    }
}

/// Puts a connection's vault credential on each request, read from the vault per request so a
/// replaced credential applies at once.
pub struct VaultCredential {
    vault: Arc<Vault>,
    secret_id: i64,
}

impl VaultCredential {
    /// The provider for a connection's secret.
    pub fn new(vault: Arc<Vault>, secret_id: i64) -> Self {
        Self { vault, secret_id }
    }
}

impl std::fmt::Debug for VaultCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultCredential(secret {})", self.secret_id)
    }
}

fn basic(user: &str, password: &str) -> Zeroizing<String> {
    let pair = Zeroizing::new(format!("{user}:{password}"));
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ))
}

impl CredentialProvider for VaultCredential {
    fn headers(&self) -> crate::plugins::egress::CredentialFuture<'_> {
        Box::pin(async move {
            let secret = self
                .vault
                .get(self.secret_id)
                .await
                .map_err(|e| CredentialError(format!("vault: {e}")))?;
            let input: CredentialInput = serde_json::from_slice(secret.expose())
                .map_err(|_| CredentialError("stored credential is unreadable".into()))?;
            let value: Zeroizing<String> = match &input {
                CredentialInput::Anonymous => return Ok(Vec::new()),
                CredentialInput::ApiToken { email, token } => basic(email, token),
                CredentialInput::Basic { username, password } => basic(username, password),
                CredentialInput::Bearer { token } => Zeroizing::new(format!("Bearer {token}")),
            };
            let mut header = HeaderValue::try_from(value.as_str())
                .map_err(|_| CredentialError("credential is not a valid header value".into()))?;
            header.set_sensitive(true);
            let out: Vec<(HeaderName, HeaderValue)> = vec![(AUTHORIZATION, header)];
            Ok(out)
        })
    }
}
