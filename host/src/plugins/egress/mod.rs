//! Mediated outbound HTTP for plugins: the `send_request` hook of `wasi:http`.
//!
//! A guest never opens a socket. Every request it makes reaches the hook in [`forward`], which
//! lets it through only if
//! - the plugin has budget left ([`EgressLimits::max_requests_per_call`]),
//! - its method is one of `GET HEAD POST PUT PATCH DELETE OPTIONS`, spelled exactly so (methods
//!   are case-sensitive; `TRACE` and its look-alikes would echo the injected credential),
//! - the host matches one of the plugin's declared host patterns **and** the request stays under
//!   the connection's base URL (same scheme, host, port and path prefix, no dot segments, no
//!   dot or slash encoded twice),
//! - the address is public, unless the connection allows private ones: IP literals are checked
//!   here, names by the resolver of the [`Clients`], so a DNS answer cannot smuggle in a private
//!   address after the check (no rebinding window). Link-local addresses (cloud metadata at
//!   169.254.169.254) are refused even then, and a connection cannot be created on one
//!   ([`base_url_refusal`]);
//! - its body fits [`EgressLimits::max_request_body`].
//!
//! The guest's `Authorization`, `Cookie` and `Proxy-Authorization` headers never get this far
//! (the forbidden-header filter refuses them when the guest sets them); the host adds the
//! connection's credential from a [`CredentialProvider`] instead, so a plugin never sees a
//! secret: `Set-Cookie` is removed from responses, and the secret a request carried is
//! replaced by `[REDACTED]` in the response's headers and body ([`redact`]), so a service that
//! echoes requests cannot hand it back. Redirects are not followed: a redirect to another origin
//! is refused, one within the origin is handed to the guest, whose next request is checked like
//! any other. Every request has a timeout no later than the call's own deadline, and response
//! bodies are cut at [`EgressLimits::max_response_body`].
//!
//! # Layout
//! - [`policy`]: what may be requested (hosts, base URL, paths, methods);
//! - [`addresses`]: which addresses may be reached, and which base URLs no connection may have;
//! - [`forward`]: the hook itself, the clients and their guarded resolver, credential injection;
//! - [`redact`]: the forms of an injected secret and their removal from responses.

use std::future::Future;
use std::pin::Pin;

use http::header::{HeaderName, HeaderValue};
use std::time::Duration;

/// Which addresses a plugin may reach; base URLs no connection may have.
pub mod addresses;
/// The `send_request` hook, the HTTP clients and their guarded resolver.
pub mod forward;
/// What a connection's plugin may request: hosts, base URL, paths, methods.
pub mod policy;
/// Keeps injected secrets out of what the guest reads back.
pub mod redact;

pub use addresses::{base_url_refusal, ip_refusal};
pub use forward::Clients;
pub(crate) use forward::{is_prohibited, Egress, Latest, IN_FLIGHT_PER_CALL};
pub use policy::{host_matches, EgressPolicy, PolicyError};

/// Caps on one plugin call's HTTP traffic.
#[derive(Debug, Clone)]
pub struct EgressLimits {
    /// Requests one call may send; the next one is refused.
    pub max_requests_per_call: u32,
    /// Largest request body, in bytes.
    pub max_request_body: usize,
    /// Largest response body, in bytes; the body stream fails past it.
    pub max_response_body: usize,
    /// Budget of one request, from sending to the end of its body (never past the call's deadline).
    pub request_timeout: Duration,
}

impl Default for EgressLimits {
    fn default() -> Self {
        Self {
            max_requests_per_call: 1_000,
            max_request_body: 10 << 20,
            max_response_body: 32 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a credential could not be added to a request. The text is for people: never a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The service refused the credential and only a person can fix it (re-authorize, replace
    /// the credential). The plugin sees a `401` with this text, as if the service had said it.
    #[error("{0}")]
    Refused(String),
    /// The credential could not be used just now (token endpoint down, vault unreadable).
    #[error("{0}")]
    Unavailable(String),
}

/// The headers a [`CredentialProvider`] puts on a request.
pub type CredentialHeaders = Vec<(HeaderName, HeaderValue)>;

/// The future [`CredentialProvider::headers`] returns.
pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CredentialHeaders, CredentialError>> + Send + 'a>>;

/// The future [`CredentialProvider::renew`] returns: new headers to retry with, if any.
pub type RenewFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<CredentialHeaders>, CredentialError>> + Send + 'a>>;

/// Supplies the headers that authenticate a connection's requests (the vault implements it
/// for stored secrets, refreshing OAuth tokens as needed). Values should be marked sensitive.
pub trait CredentialProvider: Send + Sync + std::fmt::Debug {
    /// Headers to add to the next request.
    fn headers(&self) -> CredentialFuture<'_>;

    /// The service refused a request sent with `sent` (401, or a login challenge): headers to
    /// send it again with once, when renewing the session can help. Static credentials cannot.
    fn renew<'a>(&'a self, sent: &'a http::HeaderMap) -> RenewFuture<'a> {
        let _ = sent;
        Box::pin(async { Ok(None) })
    }
}

/// A fixed set of headers, e.g. `Authorization: Bearer …` for a personal access token.
#[derive(Clone)]
pub struct StaticCredential(Vec<(HeaderName, HeaderValue)>);

impl StaticCredential {
    /// A bearer token.
    pub fn bearer(token: &str) -> Result<Self, CredentialError> {
        let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            CredentialError::Refused("the token is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        Ok(Self(vec![(http::header::AUTHORIZATION, value)]))
    }

    /// HTTP Basic: `Basic base64(user:password)`.
    pub fn basic(user: &str, password: &str) -> Result<Self, CredentialError> {
        use base64::Engine as _;
        let pair = zeroize::Zeroizing::new(format!("{user}:{password}"));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .map_err(|_| CredentialError::Refused("the pair is not a valid header value".into()))?;
        value.set_sensitive(true);
        Ok(Self(vec![(http::header::AUTHORIZATION, value)]))
    }
}

impl std::fmt::Debug for StaticCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticCredential(<redacted>)")
    }
}

impl CredentialProvider for StaticCredential {
    fn headers(&self) -> CredentialFuture<'_> {
        let headers = self.0.clone();
        Box::pin(async move { Ok(headers) })
    }
}
