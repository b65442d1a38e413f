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
            let sources = [
                p.client_secret.is_some(),
                p.client_secret_file.is_some(),
                p.client_secret_vault,
            ];
            if sources.into_iter().filter(|given| *given).count() > 1 {
                return Err(format!(
                    "{at}: give one of client_secret, client_secret_file or \
                     client_secret_vault = true"
                ));
            }
            super::algorithms(p).map_err(|e| format!("{at}.algorithms: {e}"))?;
            if p.algorithms.is_empty() {
                return Err(format!("{at}.algorithms must name at least one algorithm"));
            }
            if p.scim_link_claim
                .as_deref()
                .is_some_and(|c| c.is_empty() || c.split('.').any(str::is_empty) || c.len() > 200)
            {
                return Err(format!(
                    "{at}.scim_link_claim must be a claim name or dotted path, e.g. oid or sub"
                ));
            }
            let graph = url::Url::parse(&p.graph_url)
                .map_err(|_| format!("{at}.graph_url must be an absolute URL"))?;
            if !secure_or_loopback(&graph) || graph.query().is_some() {
                return Err(format!(
                    "{at}.graph_url must be an https URL without a query (http only on a \
                     loopback address)"
                ));
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
    /// The client secret is kept in the vault, encrypted like connection credentials, and set
    /// by an administrator (`agentic oidc set-secret <name>` or
    /// `PUT /api/v1/auth/oidc/<name>/client-secret`); setting it again replaces it at once.
    pub client_secret_vault: bool,
    /// Scopes asked for; `openid` is always included.
    pub scopes: Vec<String>,
    /// ID token signing algorithms accepted (`RS256`, `RS384`, `RS512`, `PS256`, `PS384`,
    /// `PS512`, `ES256`, `ES384`, `EdDSA`). Symmetric (`HS*`) and `none` are never accepted.
    pub algorithms: Vec<String>,
    /// Rules giving a role from the ID token's claims, tried in order; the first that matches
    /// decides. Re-evaluated at every sign-in.
    pub role_rules: Vec<RoleRule>,
    /// Where a SCIM-provisioned person's role comes from at sign-in: `token` (the rules on the
    /// ID token's claims, as for everyone) or `scim` (the role their SCIM groups gave them is
    /// kept: for providers whose tokens do not carry the groups SCIM pushes).
    pub role_source: RoleSource,
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
    /// The ID token claim (a dotted path) that holds the `externalId` the same provider gave a
    /// person it provisioned over SCIM: a first sign-in with no link yet is linked to the
    /// SCIM-provisioned account whose `externalId` equals it, so no e-mail address is needed.
    /// `oid` for Entra ID (map `externalId` to `objectId` in the provisioning), `sub` for Okta
    /// (whose `externalId` is the Okta user id). Unset: no such linking.
    pub scim_link_claim: Option<String>,
    /// Microsoft Graph, asked for a person's groups when an Entra ID token leaves them out
    /// (more than 200 groups: `_claim_names.groups`) and a role rule needs them. HTTPS only,
    /// except on a loopback address (tests). National clouds have their own
    /// (`https://graph.microsoft.us/v1.0`, `https://microsoftgraph.chinacloudapi.cn/v1.0`).
    pub graph_url: String,
}

/// Where a SCIM-provisioned person's role comes from when they sign in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleSource {
    /// The `role_rules` on the ID token's claims, at every sign-in.
    #[default]
    Token,
    /// The role SCIM gave them from their groups: a sign-in does not change it (nor needs a
    /// rule to match). People SCIM did not provision still get theirs from the token.
    Scim,
}

/// Microsoft Graph of the global Azure cloud.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// Whether `url` is HTTPS, or HTTP on a loopback address (a fake in the tests); the access token
/// is sent there.
pub fn secure_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            display_name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            client_secret_vault: false,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            algorithms: vec!["RS256".into()],
            role_rules: Vec::new(),
            default_role: None,
            allowed_email_domains: Vec::new(),
            allowed_tenants: Vec::new(),
            link_verified_email: false,
            post_logout_redirect_url: None,
            scim_link_claim: None,
            graph_url: DEFAULT_GRAPH_URL.into(),
            role_source: RoleSource::Token,
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
            .field("client_secret_vault", &self.client_secret_vault)
            .field("scopes", &self.scopes)
            .field("algorithms", &self.algorithms)
            .field("role_rules", &self.role_rules)
            .field("default_role", &self.default_role)
            .field("allowed_email_domains", &self.allowed_email_domains)
            .field("allowed_tenants", &self.allowed_tenants)
            .field("link_verified_email", &self.link_verified_email)
            .field("post_logout_redirect_url", &self.post_logout_redirect_url)
            .field("scim_link_claim", &self.scim_link_claim)
            .field("graph_url", &self.graph_url)
            .field("role_source", &self.role_source)
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
        let mut link = config.clone();
        link.providers
            .get_mut("entra")
            .expect("entra")
            .scim_link_claim = Some("".into());
        assert!(link.validate().is_err(), "an empty link claim is refused");
        let mut graph = config.clone();
        graph.providers.get_mut("entra").expect("entra").graph_url =
            "http://graph.example.com/v1.0".into();
        assert!(
            graph.validate().is_err(),
            "the access token goes over https only"
        );
        graph.providers.get_mut("entra").expect("entra").graph_url =
            "http://127.0.0.1:9/v1.0".into();
        assert_eq!(graph.validate(), Ok(()), "loopback fakes are allowed");
        let mut two = config.clone();
        two.providers
            .get_mut("entra")
            .expect("entra")
            .client_secret_vault = true;
        assert!(two.validate().is_err(), "one source of the secret");
        two.providers.get_mut("entra").expect("entra").client_secret = None;
        assert_eq!(two.validate(), Ok(()));
        let typo = "[providers.x]\nissuer = \"https://i\"\nclient_idd = \"c\"\n";
        assert!(
            toml::from_str::<OidcConfig>(typo).is_err(),
            "unknown keys are errors"
        );
    }
}
