//! Configuration of OpenID Connect single sign-on: `[auth.oidc]` and one
//! `[auth.oidc.providers.<name>]` table per identity provider (see `docs/IDENTITY.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::rbac::Role;

/// Single sign-on settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Where the browser is sent after a successful sign-in, with `#oidc_code=<one-time code>`
    /// in the fragment (never sent to a server, so never in an access log); the front end
    /// exchanges the code at `POST /api/v1/auth/oidc/exchange` for the session's tokens.
    /// Required as soon as a provider is configured.
    pub frontend_url: Option<String>,
    /// The identity providers, by the name used in the URLs (`/auth/oidc/<name>/login`).
    pub providers: BTreeMap<String, ProviderConfig>,
}

impl OidcConfig {
    /// Checks what start-up can: names usable in URLs, URLs that parse, one source of the
    /// secret, known asymmetric algorithms, a front end to land on.
    pub fn validate(&self) -> Result<(), String> {
        if self.providers.is_empty() {
            return Ok(());
        }
        let front = self.frontend_url.as_deref().unwrap_or_default();
        if url::Url::parse(front).is_err() {
            return Err(
                "auth.oidc.frontend_url must be set to an absolute URL when an identity \
                        provider is configured"
                    .into(),
            );
        }
        for (name, p) in &self.providers {
            let at = format!("auth.oidc.providers.{name}");
            let good_name = name.len() <= 64
                && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !good_name {
                return Err(format!(
                    "{at}: a provider name is 1-64 lower-case letters, digits, _ or -"
                ));
            }
            if url::Url::parse(&p.issuer).is_err() {
                return Err(format!("{at}.issuer must be an absolute URL"));
            }
            if p.client_id.is_empty() {
                return Err(format!("{at}.client_id is required"));
            }
            if p.client_secret.is_some() && p.client_secret_file.is_some() {
                return Err(format!(
                    "{at}: give client_secret or client_secret_file, not both"
                ));
            }
            super::algorithms(p).map_err(|e| format!("{at}.algorithms: {e}"))?;
            if p.algorithms.is_empty() {
                return Err(format!("{at}.algorithms must name at least one algorithm"));
            }
        }
        Ok(())
    }
}

/// One identity provider.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name shown on the login page.
    pub display_name: Option<String>,
    /// The issuer URL exactly as the provider states it (`iss`); discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Client id registered at the provider.
    pub client_id: String,
    /// Client secret, given inline (prefer the environment variable or a file).
    pub client_secret: Option<String>,
    /// A file holding the client secret (trailing whitespace ignored), e.g. a mounted secret.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always included.
    pub scopes: Vec<String>,
    /// ID token signing algorithms accepted (`RS256`, `RS384`, `RS512`, `PS256`, `PS384`,
    /// `PS512`, `ES256`, `ES384`, `EdDSA`). Symmetric (`HS*`) and `none` are never accepted.
    pub algorithms: Vec<String>,
    /// Rules giving a role from the ID token's claims, tried in order; the first that matches
    /// decides. Re-evaluated at every sign-in.
    pub role_rules: Vec<RoleRule>,
    /// The role of a person no rule matches; without it such a person cannot sign in.
    pub default_role: Option<Role>,
    /// If not empty, only people whose verified e-mail is in one of these domains may sign in.
    pub allowed_email_domains: Vec<String>,
    /// If not empty, only tokens whose `tid` (Entra ID tenant) or `hd` (Google Workspace
    /// domain) claim is one of these are accepted.
    pub allowed_tenants: Vec<String>,
    /// Whether a first sign-in may take over an existing local account with the same e-mail,
    /// when the provider says the e-mail is verified. Off, such a sign-in is refused.
    pub link_verified_email: bool,
    /// Where the provider sends the browser after RP-initiated logout (registered there as a
    /// post-logout redirect URI). Defaults to `auth.oidc.frontend_url`.
    pub post_logout_redirect_url: Option<String>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            display_name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            algorithms: vec!["RS256".into()],
            role_rules: Vec::new(),
            default_role: None,
            allowed_email_domains: Vec::new(),
            allowed_tenants: Vec::new(),
            link_verified_email: false,
            post_logout_redirect_url: None,
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("algorithms", &self.algorithms)
            .field("role_rules", &self.role_rules)
            .field("default_role", &self.default_role)
            .field("allowed_email_domains", &self.allowed_email_domains)
            .field("allowed_tenants", &self.allowed_tenants)
            .field("link_verified_email", &self.link_verified_email)
            .field("post_logout_redirect_url", &self.post_logout_redirect_url)
            .finish()
    }
}

/// `claim` (a dotted path into the ID token's claims, e.g. `groups`, `roles`,
/// `realm_access.roles`, `hd`) equals `value` or is a list containing it → `role`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// Dotted path of the claim.
    pub claim: String,
    /// The value (or one list element) that matches.
    pub value: String,
    /// The role it gives.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_from_toml_and_the_secret_stays_out_of_debug() {
        let text = r#"
            frontend_url = "https://app.example.com/sso"
            [providers.entra]
            issuer = "https://login.microsoftonline.com/t/v2.0"
            client_id = "c"
            client_secret = "super-secret-value"
            allowed_tenants = ["t"]
            [[providers.entra.role_rules]]
            claim = "roles"
            value = "Agentic.Admin"
            role = "administrator"
        "#;
        let config: OidcConfig = toml::from_str(text).expect("parses");
        let entra = &config.providers["entra"];
        assert_eq!(entra.role_rules[0].role, Role::Administrator);
        assert_eq!(entra.algorithms, ["RS256"]);
        assert_eq!(entra.scopes, ["openid", "email", "profile"]);
        assert!(!format!("{config:?}").contains("super-secret-value"));
        assert_eq!(config.validate(), Ok(()));
        let mut upper = config.clone();
        let p = upper.providers.remove("entra").expect("entra");
        upper.providers.insert("Entra".into(), p);
        assert!(upper.validate().is_err(), "names are lower-case");
        let mut hs = config.clone();
        hs.providers.get_mut("entra").expect("entra").algorithms = vec!["HS256".into()];
        assert!(hs.validate().is_err(), "symmetric algorithms are refused");
        let typo = "[providers.x]\nissuer = \"https://i\"\nclient_idd = \"c\"\n";
        assert!(
            toml::from_str::<OidcConfig>(typo).is_err(),
            "unknown keys are errors"
        );
    }
}
