//! OpenID Connect single sign-on: the relying party's side of the authorization code flow with
//! PKCE (S256), `state` and `nonce`, through the `openidconnect` crate.
//!
//! Each configured provider is discovered on first use (`/.well-known/openid-configuration`,
//! kept for an hour); its JWKS comes with the discovery and is fetched again when a token names a
//! key id the cached set does not hold (the provider rotated its key), at most once every
//! [`JWKS_REFETCH_MIN`], so a stream of forged `kid`s cannot make the host hammer the provider.
//!
//! The ID token is checked by the crate (signature against the JWKS with the configured
//! algorithm allow-list — never `none`, never HMAC —, `iss`, `aud`, `exp`, `nonce`) and here
//! (`azp`, `iat` within [`IAT_SKEW`] of now and not older than [`IAT_MAX_AGE`], `at_hash`). What
//! the platform then does with the person (who they are here, which role) is in `api::oidc`,
//! from the claims this module hands back; [`mapping`] holds the rules.
//!
//! The provider's admission rules (`allowed_tenants`, `allowed_email_domains`) are applied to
//! the verified claims here, before anything else: a token this provider does not admit goes
//! no further. Only then, when an Entra ID token leaves the groups out ("groups overage") and a
//! role rule needs them, [`graph`] reads them from Microsoft Graph with the sign-in's access
//! token, which is used for nothing else and never leaves this module.
//!
//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0) are verified in `logout`,
//! against the same keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::clock::Clock;

/// `[auth.oidc]` configuration.
pub mod config;
/// Entra ID groups overage: the groups from Microsoft Graph.
pub mod graph;
/// Back-channel logout tokens.
mod logout;
/// Claims → admission and role.
pub mod mapping;
/// Verified sign-in → the person here (provisioning, linking, role).
pub mod people;
/// The client secret: configuration, file or vault.
pub mod secret;

use config::{OidcConfig, ProviderConfig};

/// The client as built from discovered metadata (authorization endpoint set, token endpoint
/// and user-info endpoint as the provider says).
type CoreIdClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// How long discovered provider metadata is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The JWKS is fetched again for an unknown key id at most this often.
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(10);
/// Clock difference tolerated between the provider and this host (`iat` in the future).
const IAT_SKEW: i64 = 60;
/// An ID token issued longer ago than this is refused (it is used within seconds of issue).
const IAT_MAX_AGE: i64 = 600;
/// Longest wait for one request to a provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why single sign-on failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// No provider of that name is configured.
    #[error("no identity provider named {0:?} is configured")]
    UnknownProvider(String),
    /// The provider's configuration here is incomplete (no secret, bad issuer URL, …).
    #[error("identity provider {0} is misconfigured: {1}")]
    Misconfigured(String, String),
    /// The provider keeps its client secret in the vault (`client_secret_vault`) and none has
    /// been set: an administrator must set it (the message says how).
    #[error(
        "identity provider {0} keeps its client secret in the vault, and none has been set: an \
         administrator sets it with `agentic oidc set-secret {0}` (the secret on standard input) \
         or PUT /api/v1/auth/oidc/{0}/client-secret"
    )]
    SecretMissing(String),
    /// The vault holding the client secret failed.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// The provider could not be reached or answered nonsense (discovery, token, JWKS).
    #[error("identity provider {0} failed: {1}")]
    Provider(String, String),
    /// The provider refused the code (spent, wrong verifier, expired).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token (or logout token) failed a check.
    #[error("the identity provider's token was rejected: {0}")]
    InvalidToken(String),
    /// The verified token's tenant or e-mail domain may not sign in with this provider
    /// (`allowed_tenants`, `allowed_email_domains`); decided before anything else is done with
    /// the token.
    #[error(transparent)]
    NotAdmitted(#[from] mapping::Refusal),
    /// The ID token left the groups out (Entra ID's overage) and Microsoft Graph did not give
    /// them; the detail says why, without the access token.
    #[error(
        "the identity provider left this account's groups out of the token (too many groups) \
         and reading them from Microsoft Graph failed: {0}"
    )]
    Groups(String),
}

/// What a sign-in start hands the browser and keeps for the callback.
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL to redirect to.
    pub url: String,
    /// The `state` in that URL.
    pub state: String,
    /// The `nonce` in that URL.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge is in that URL.
    pub verifier: String,
}

/// A verified sign-in.
#[derive(Debug)]
pub struct Verified {
    /// The provider's issuer.
    pub issuer: String,
    /// The person's stable subject at the provider.
    pub subject: String,
    /// The provider's session id (`sid`), if it sent one.
    pub idp_sid: Option<String>,
    /// Every claim of the ID token, for the admission and role rules.
    pub claims: Value,
}

/// A verified back-channel logout: end the sessions of `subject`, or of `idp_sid`.
#[derive(Debug)]
pub struct Logout {
    /// The provider's issuer.
    pub issuer: String,
    /// The person, if named.
    pub subject: Option<String>,
    /// The provider's session, if named.
    pub idp_sid: Option<String>,
}

struct Discovered {
    metadata: ProviderMetadataWithLogout,
    fetched_at: Instant,
    /// When an unknown key id last made the host fetch the JWKS again.
    jwks_refetched_at: Option<Instant>,
}

struct Provider {
    name: String,
    config: ProviderConfig,
    discovered: Mutex<Option<Discovered>>,
}

/// The configured identity providers.
pub struct Oidc {
    providers: BTreeMap<String, Provider>,
    frontend_url: Option<String>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn now_chrono(clock: &dyn Clock) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(clock.now_ms().as_ms()).unwrap_or_default()
}

/// Parses the configured algorithm names; symmetric algorithms and `none` are refused.
fn algorithms(config: &ProviderConfig) -> Result<Vec<CoreJwsSigningAlgorithm>, String> {
    config
        .algorithms
        .iter()
        .map(|name| {
            if name.starts_with("HS") || name.eq_ignore_ascii_case("none") {
                return Err(format!(
                    "algorithm {name} is not accepted for ID tokens (only asymmetric signatures)"
                ));
            }
            serde_json::from_value(Value::String(name.clone()))
                .map_err(|_| format!("unknown signing algorithm {name}"))
        })
        .collect()
}

/// The payload of a compact JWT as JSON (no checks: only for tokens already verified).
fn payload(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

impl Oidc {
    /// The providers of `config`; nothing is fetched until a sign-in starts.
    pub fn new(config: &OidcConfig, clock: Arc<dyn Clock>) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|(name, c)| {
                let provider = Provider {
                    name: name.clone(),
                    config: c.clone(),
                    discovered: Mutex::new(None),
                };
                (name.clone(), provider)
            })
            .collect();
        // Redirects are never followed: an endpoint must answer itself (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            providers,
            frontend_url: config.frontend_url.clone(),
            http,
            clock,
        }
    }

    /// Names and display names of the configured providers.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.providers.values().map(|p| {
            let shown = p.config.display_name.as_deref().unwrap_or(&p.name);
            (p.name.as_str(), shown)
        })
    }

    /// A provider's configuration.
    pub fn provider_config(&self, name: &str) -> Result<&ProviderConfig, OidcError> {
        self.provider(name).map(|p| &p.config)
    }

    /// Where the browser goes after a sign-in (`auth.oidc.frontend_url`).
    pub fn frontend_url(&self) -> Option<&str> {
        self.frontend_url.as_deref()
    }

    fn provider(&self, name: &str) -> Result<&Provider, OidcError> {
        self.providers
            .get(name)
            .ok_or_else(|| OidcError::UnknownProvider(name.to_owned()))
    }

    /// The provider's metadata, discovered now if not cached or stale.
    async fn metadata(&self, p: &Provider) -> Result<ProviderMetadataWithLogout, OidcError> {
        let mut cached = p.discovered.lock().await;
        if let Some(d) = cached.as_ref() {
            if d.fetched_at.elapsed() < METADATA_TTL {
                return Ok(d.metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(p.config.issuer.clone())
            .map_err(|e| OidcError::Misconfigured(p.name.clone(), format!("issuer: {e}")))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Provider(p.name.clone(), format!("discovery: {e}")))?;
        *cached = Some(Discovered {
            metadata: metadata.clone(),
            fetched_at: Instant::now(),
            jwks_refetched_at: None,
        });
        Ok(metadata)
    }

    /// Fetches the JWKS again (the provider rotated its keys), unless it was fetched just now.
    /// Returns the metadata with the newest keys and whether they changed.
    async fn refetch_jwks(
        &self,
        p: &Provider,
    ) -> Result<(ProviderMetadataWithLogout, bool), OidcError> {
        let mut cached = p.discovered.lock().await;
        let Some(d) = cached.as_mut() else {
            drop(cached);
            return Ok((self.metadata(p).await?, true));
        };
        if d.jwks_refetched_at
            .is_some_and(|at| at.elapsed() < JWKS_REFETCH_MIN)
        {
            return Ok((d.metadata.clone(), false));
        }
        let jwks = CoreJsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| OidcError::Provider(p.name.clone(), format!("JWKS: {e}")))?;
        tracing::info!(provider = %p.name, keys = jwks.keys().len(), "fetched the identity provider's keys again");
        d.metadata = d.metadata.clone().set_jwks(jwks);
        d.jwks_refetched_at = Some(Instant::now());
        Ok((d.metadata.clone(), true))
    }

    /// Starts a sign-in: the authorization URL with `state`, `nonce` and a PKCE S256 challenge.
    /// `secret` is the provider's client secret ([`secret::resolve`]).
    pub async fn start(
        &self,
        name: &str,
        redirect_uri: &str,
        secret: Option<ClientSecret>,
    ) -> Result<LoginStart, OidcError> {
        let p = self.provider(name)?;
        let metadata = self.metadata(p).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::Misconfigured(p.name.clone(), format!("public_url: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                || CsrfToken::new(crate::auth::random_token(32)),
                || Nonce::new(crate::auth::random_token(32)),
            )
            .set_pkce_challenge(challenge);
        for scope in p.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(LoginStart {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges the code (with the PKCE verifier and the client secret,
    /// [`secret::resolve`]) and verifies the ID token.
    pub async fn finish(
        &self,
        name: &str,
        redirect_uri: &str,
        code: &str,
        (nonce, verifier): (&str, &str),
        secret: Option<ClientSecret>,
    ) -> Result<Verified, OidcError> {
        let p = self.provider(name)?;
        let algs =
            algorithms(&p.config).map_err(|e| OidcError::Misconfigured(p.name.clone(), e))?;
        let metadata = self.metadata(p).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::Misconfigured(p.name.clone(), format!("public_url: {e}")))?;
        let client_id = ClientId::new(p.config.client_id.clone());
        let client =
            CoreClient::from_provider_metadata(metadata, client_id.clone(), secret.clone())
                .set_redirect_uri(redirect.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(p.name.clone(), format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    OidcError::Refused(r.error().to_string())
                }
                // A response whose ID token does not even parse (a malformed or unknown `alg`,
                // claims of the wrong type) is a rejected token, not an unreachable provider.
                openidconnect::RequestTokenError::Parse(e, _) => {
                    OidcError::InvalidToken(format!("unreadable token response: {e}"))
                }
                other => OidcError::Provider(p.name.clone(), format!("token endpoint: {other}")),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());

        let mut checked =
            self.check_id_token(&client, id_token, &nonce, &algs, response.access_token())?;
        if checked.is_none() {
            // A key id the cached JWKS lacks: the provider may have rotated its keys.
            let (metadata, changed) = self.refetch_jwks(p).await?;
            if changed {
                let client = CoreClient::from_provider_metadata(metadata, client_id, secret)
                    .set_redirect_uri(redirect);
                checked =
                    self.check_id_token(&client, id_token, &nonce, &algs, response.access_token())?;
            }
        }
        let claims = checked.ok_or_else(|| {
            OidcError::InvalidToken("signed with a key the provider does not publish".into())
        })?;
        let mut raw = payload(&id_token.to_string())
            .ok_or_else(|| OidcError::InvalidToken("unreadable claims".into()))?;
        // azp (Core §3.1.3.7 steps 4–5): with several audiences the token must name us as the
        // party it was issued to; a present azp must always be us.
        let audiences = claims.audiences();
        match raw.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != p.config.client_id => {
                return Err(OidcError::InvalidToken(format!(
                    "azp names another client ({azp})"
                )))
            }
            None if audiences.len() > 1 => {
                return Err(OidcError::InvalidToken(
                    "several audiences and no azp claim".into(),
                ))
            }
            _ => {}
        }
        // Admission (tenant, e-mail domain) before anything else is done with the sign-in: a
        // token from a tenant this provider does not admit never makes the host send its
        // access token to Microsoft Graph.
        mapping::admit(&p.config, &raw)?;
        if mapping::groups_overage(&p.config, &raw) {
            let groups = graph::member_objects(
                &self.http,
                &p.config.graph_url,
                response.access_token().secret(),
            )
            .await
            .map_err(OidcError::Groups)?;
            tracing::info!(provider = %p.name, groups = groups.len(), "read the groups of an overage token from Microsoft Graph");
            mapping::set_groups(&mut raw, groups);
        }
        Ok(Verified {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            idp_sid: raw.get("sid").and_then(Value::as_str).map(str::to_owned),
            claims: raw,
        })
    }

    /// Verifies the ID token with the client's keys; `None` when no key has its key id.
    fn check_id_token(
        &self,
        client: &CoreIdClient,
        id_token: &CoreIdToken,
        nonce: &Nonce,
        algs: &[CoreJwsSigningAlgorithm],
        access_token: &openidconnect::AccessToken,
    ) -> Result<Option<CoreIdTokenClaims>, OidcError> {
        let now = self.clock.now_secs();
        let clock = self.clock.clone();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(algs.to_vec())
            .set_time_fn(move || now_chrono(clock.as_ref()))
            .set_issue_time_verifier_fn(move |iat: DateTime<Utc>| {
                let iat = iat.timestamp();
                if iat > now + IAT_SKEW {
                    Err(format!("issued in the future ({}s ahead)", iat - now))
                } else if iat < now - IAT_MAX_AGE {
                    Err(format!("issued too long ago ({}s)", now - iat))
                } else {
                    Ok(())
                }
            });
        let invalid = |e: &dyn std::fmt::Display| OidcError::InvalidToken(e.to_string());
        let claims = match id_token.claims(&verifier, nonce) {
            Ok(claims) => claims.clone(),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => return Ok(None),
            Err(e) => return Err(invalid(&e)),
        };
        // at_hash (Core §3.1.3.8): the access token is the one issued with this ID token.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
            let actual =
                AccessTokenHash::from_token(access_token, alg, key).map_err(|e| invalid(&e))?;
            if actual != *expected {
                return Err(OidcError::InvalidToken(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        Ok(Some(claims))
    }

    /// The provider's `end_session_endpoint` URL for RP-initiated logout, if it has one.
    pub async fn end_session_url(&self, name: &str) -> Result<Option<String>, OidcError> {
        let p = self.provider(name)?;
        let metadata = self.metadata(p).await?;
        let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let mut request = openidconnect::LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(p.config.client_id.clone()));
        let back = p
            .config
            .post_logout_redirect_url
            .as_deref()
            .or(self.frontend_url.as_deref());
        if let Some(back) = back.and_then(|u| PostLogoutRedirectUrl::new(u.to_owned()).ok()) {
            request = request.set_post_logout_redirect_uri(back);
        }
        Ok(Some(request.http_get_url().to_string()))
    }
}
