//! The `auth` section of the configuration: sessions, JWTs, login limits, single sign-on and
//! provisioning.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Identity and session settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a JWT access token. Short, because a token cannot be recalled once issued;
    /// the session check on every request still stops a revoked session at once.
    pub access_token_ttl_secs: u64,
    /// A session unused for this long is over.
    pub idle_timeout_secs: u64,
    /// A session this old is over, however active.
    pub absolute_timeout_secs: u64,
    /// JWT `iss` claim written and required.
    pub issuer: String,
    /// JWT `aud` claim written and required.
    pub audience: String,
    /// Directory of Ed25519 signing keys (PKCS#8 PEM). Share it between hosts of one cluster.
    pub signing_key_dir: Option<PathBuf>,
    /// Login attempts allowed per account per minute.
    pub login_per_account_per_minute: u32,
    /// Login attempts allowed per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// OpenID Connect single sign-on providers (`docs/IDENTITY.md`).
    pub oidc: crate::auth::oidc::config::OidcConfig,
    /// SCIM 2.0 provisioning: which role rules give provisioned people their role
    /// (`docs/IDENTITY.md`).
    pub scim: crate::auth::scim::ScimConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 60 * 60,
            issuer: "agentic".into(),
            audience: "agentic-api".into(),
            signing_key_dir: None,
            login_per_account_per_minute: 10,
            login_per_ip_per_minute: 60,
            oidc: Default::default(),
            scim: Default::default(),
        }
    }
}

impl AuthConfig {
    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.access_token_ttl_secs == 0
            || self.idle_timeout_secs == 0
            || self.absolute_timeout_secs == 0
        {
            return Err("auth timeouts must be greater than zero".into());
        }
        if self.idle_timeout_secs > self.absolute_timeout_secs {
            return Err("auth.idle_timeout_secs may not exceed auth.absolute_timeout_secs".into());
        }
        if self.login_per_account_per_minute == 0 || self.login_per_ip_per_minute == 0 {
            return Err("login rate limits must be greater than zero".into());
        }
        self.oidc.validate()?;
        self.scim.validate(&self.oidc)
    }
}
