//! Mediated outbound HTTP for plugins: the `send_request` hook of `wasi:http`.
//!
//! A guest never opens a socket. Every request it makes reaches [`Egress::send_request`], which
//! lets it through only if
//! - the plugin has budget left ([`EgressLimits::max_requests_per_call`]),
//! - the host matches one of the plugin's declared host patterns **and** the request stays under
//!   the connection's base URL (same scheme, host, port and path prefix, no dot segments),
//! - the address is public, unless the connection allows private ones: IP literals are checked
//!   here, names by the resolver of the [`Clients`], so a DNS answer cannot smuggle in a private
//!   address after the check (no rebinding window). Link-local addresses (cloud metadata at
//!   169.254.169.254) are refused even then;
//! - its body fits [`EgressLimits::max_request_body`].
//!
//! The guest's `Authorization`, `Cookie` and `Proxy-Authorization` headers never get this far
//! (the forbidden-header filter refuses them when the guest sets them); the host adds the
//! connection's credential from a [`CredentialProvider`] instead, so a plugin never sees a
//! secret, and `Set-Cookie` is removed from responses. Redirects are not followed: a redirect to another origin is refused, one within the
//! origin is handed to the guest, whose next request is checked like any other. Every request
//! has a timeout no later than the call's own deadline, and response bodies are cut at
//! [`EgressLimits::max_response_body`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

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

/// What one call may reach: the plugin's declared hosts and the connection's base URL, whether
/// private addresses are allowed, and the credential to inject.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allowed_hosts: Vec<String>,
    base: url::Url,
    allow_private: bool,
    credential: Option<Arc<dyn CredentialProvider>>,
}

/// A policy that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl EgressPolicy {
    /// A policy for a connection whose service lives at `base_url` (e.g.
    /// `https://acme.atlassian.net/`), for a plugin that declared `allowed_hosts`
    /// (`api.example.com`, `*.atlassian.net`, or `*` for any host).
    pub fn new(allowed_hosts: &[String], base_url: &str) -> Result<Self, PolicyError> {
        let base = url::Url::parse(base_url)
            .map_err(|e| PolicyError(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(PolicyError("base URL must be http or https".into()));
        }
        let Some(host) = base.host_str() else {
            return Err(PolicyError("base URL has no host".into()));
        };
        if !base.username().is_empty() || base.password().is_some() {
            return Err(PolicyError(
                "base URL may not carry credentials; store them as the connection's credential"
                    .into(),
            ));
        }
        if !allowed_hosts.iter().any(|p| host_matches(p, host)) {
            return Err(PolicyError(format!(
                "host {host} is not among the plugin's allowed hosts ({})",
                allowed_hosts.join(", ")
            )));
        }
        Ok(Self {
            allowed_hosts: allowed_hosts.to_vec(),
            base,
            allow_private: false,
            credential: None,
        })
    }

    /// Allows private and loopback addresses (on-premises servers, local fakes in tests).
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Adds the connection's credential to every request.
    pub fn credential(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credential = Some(provider);
        self
    }

    /// Why `uri` may not be requested, if it may not. Web-automation tasks judge their
    /// requests by the same rules, with the request's own origin as the base.
    pub(crate) fn refusal(&self, uri: &http::Uri) -> Option<String> {
        let scheme = uri.scheme_str().unwrap_or_default();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            // The client would turn user:password@ into an Authorization header of the guest's.
            return Some("credentials in the URL are not allowed".into());
        }
        let Some(host) = uri.host() else {
            return Some("request has no host".into());
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allowed_hosts.iter().any(|p| host_matches(p, host)) {
            return Some(format!("host {host} is not declared by the plugin"));
        }
        let base_host = self.base.host_str().unwrap_or_default();
        let base_host = base_host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().or(default_port(scheme));
        if scheme != self.base.scheme()
            || !host.eq_ignore_ascii_case(base_host)
            || port != self.base.port_or_known_default()
        {
            return Some(format!(
                "{scheme}://{host} is outside the connection's base URL {}",
                self.base
            ));
        }
        let path = uri.path();
        if has_dot_segment(path) {
            return Some("path has dot segments".into());
        }
        let prefix = self.base.path().trim_end_matches('/');
        if !(path == prefix || path.starts_with(&format!("{prefix}/"))) {
            return Some(format!("path {path} is outside the base path {prefix}/"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if let Some(why) = ip_refusal(ip, self.allow_private) {
                return Some(format!("address {ip} is {why}"));
            }
        }
        None
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `*` matches every host, `*.example.com` every subdomain of example.com, anything else itself
/// (case-insensitively).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.len() > domain.len() + 1
                && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// `.` or `..` path segments, plain or percent-encoded, which could climb out of the base path.
/// Encoded slashes count as separators here (a server may decode them), but are allowed
/// otherwise: GitLab names projects `group%2Fproject`.
fn has_dot_segment(path: &str) -> bool {
    let lower = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/");
    lower
        .split(['/', '\\'])
        // `..;/` is `../` to Tomcat and Spring, which drop path parameters.
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .any(|segment| segment == "." || segment == "..")
}

/// Why an address may not be contacted, if it may not. Link-local is refused even when private
/// addresses are allowed: nothing a connector needs lives there, cloud metadata services do.
pub fn ip_refusal(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if METADATA.contains(&ip) {
        return Some("a cloud metadata service");
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        return Some("link-local");
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("not a unicast address");
    }
    if allow_private {
        return None;
    }
    let private = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        }
    };
    private.then_some("private or loopback, and the connection does not allow those")
}

/// Cloud metadata services outside link-local, refused even on private networks.
const METADATA: &[IpAddr] = &[
    IpAddr::V4(std::net::Ipv4Addr::new(100, 100, 100, 200)), // Alibaba Cloud
    IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)), // AWS (IPv6)
];

/// The IPv4 address an IPv6 address stands for, where one is embedded: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`)
/// and 6to4 (`2002::/16`). Those are judged by the IPv4 rules.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let tail = |hi: u16, lo: u16| std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
            Some(tail(hi, lo))
        }
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(tail(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(tail(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(tail(hi, lo)),
        _ => None,
    }
}

/// A resolver that drops the addresses a connection may not reach, so the checked address is
/// the one connected to.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

/// The resolver's refusal, found again in the error chain to tell the guest why.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses the connection may not reach")]
struct Prohibited {
    host: String,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| ip_refusal(addr.ip(), allow_private).is_none())
                .collect();
            if found.is_empty() {
                return Err(Box::new(Prohibited { host }) as Box<_>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP clients plugin requests go out through: one that reaches public addresses only and
/// one that may reach private ones. Shared by all calls, so connections are pooled.
#[derive(Debug, Clone)]
pub struct Clients {
    public: reqwest::Client,
    private: reqwest::Client,
}

impl Clients {
    /// Builds both clients (TLS with the webpki roots, no redirects, no proxy from the
    /// environment).
    pub fn new() -> Result<Self, String> {
        let build = |allow_private| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!(
                    "agentic-connector-host/",
                    env!("CARGO_PKG_VERSION")
                ))
                .dns_resolver(Arc::new(GuardedResolver { allow_private }))
                .build()
                .map_err(|e| e.to_string())
        };
        Ok(Self {
            public: build(false)?,
            private: build(true)?,
        })
    }

    /// The client for a connection: public addresses only, or private ones too.
    pub fn for_network(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private {
            &self.private
        } else {
            &self.public
        }
    }
}

/// The per-call hook state.
pub(crate) struct Egress {
    pub(crate) policy: Option<Arc<EgressPolicy>>,
    pub(crate) clients: Clients,
    pub(crate) limits: EgressLimits,
    pub(crate) deadline: Instant,
    pub(crate) plugin: Arc<str>,
    pub(crate) sent: u32,
    pub(crate) refused: u32,
    /// Requests of this call in flight at once: each may hold a request body in host memory.
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
}

/// Requests one call may have in flight at once (each buffers up to `max_request_body`).
pub(crate) const IN_FLIGHT_PER_CALL: usize = 8;

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl Egress {
    fn deny(&mut self, why: &str) -> SendFuture {
        self.refused += 1;
        // One warning per call is enough to explain; a flood of refusals must not flood the log.
        if self.refused == 1 {
            tracing::warn!(plugin = &*self.plugin, "plugin HTTP request refused: {why}");
        }
        metrics::counter!("agentic_plugin_http_requests_total", "outcome" => "refused")
            .increment(1);
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

impl wasmtime_wasi_http::WasiHttpHooks for Egress {
    fn forbidden_header_filter(&mut self) -> wasmtime_wasi_http::ForbiddenHeaderFilter {
        Arc::new(|name| {
            wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
                || name == http::header::AUTHORIZATION
                || name == http::header::COOKIE
                || name == http::header::PROXY_AUTHORIZATION
                || name.as_str().starts_with("proxy-")
        })
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let Some(policy) = self.policy.clone() else {
            return self.deny("this call has no connection, so no network");
        };
        if self.sent >= self.limits.max_requests_per_call {
            let why = format!(
                "more than {} requests in one call",
                self.limits.max_requests_per_call
            );
            return self.deny(&why);
        }
        if let Some(why) = policy.refusal(request.uri()) {
            return self.deny(&why);
        }
        if matches!(
            *request.method(),
            http::Method::TRACE | http::Method::CONNECT
        ) {
            // TRACE would echo the injected credential back to the guest.
            return self.deny("TRACE and CONNECT are not allowed");
        }
        self.sent += 1;
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = self.limits.request_timeout.min(remaining);
        let client = self.clients.for_network(policy.allow_private).clone();
        let (limits, plugin) = (self.limits.clone(), self.plugin.clone());
        let in_flight = self.in_flight.clone();
        Box::new(async move {
            let _permit = in_flight
                .acquire_owned()
                .await
                .map_err(|_| HttpError::ConnectionLimitReached)?;
            // One bound over everything before the response headers (the guest writing its body,
            // the credential provider, connecting); reqwest's own timeout covers the body.
            let response = tokio::time::timeout(
                timeout,
                forward(client, &policy, request, timeout, &limits, &plugin),
            )
            .await
            .unwrap_or(Err(HttpError::ConnectionTimeout));
            let outcome = if response.is_ok() { "sent" } else { "failed" };
            metrics::counter!("agentic_plugin_http_requests_total", "outcome" => outcome)
                .increment(1);
            let response = response?;
            let done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// Sends one checked request and returns the response with a capped body.
async fn forward(
    client: reqwest::Client,
    policy: &EgressPolicy,
    request: http::Request<WasiBody>,
    timeout: Duration,
    limits: &EgressLimits,
    plugin: &str,
) -> wasmtime_wasi_http::Result<http::Response<WasiBody>> {
    let (mut parts, body) = request.into_parts();
    let body = Limited::new(body, limits.max_request_body)
        .collect()
        .await
        .map_err(|e| match e.downcast::<HttpError>() {
            Ok(e) => *e,
            Err(_) => HttpError::HttpRequestBodySize(Some(limits.max_request_body as u64)),
        })?
        .to_bytes();
    parts.headers.remove(http::header::HOST);
    let url = parts.uri.to_string();
    let send = |headers: http::HeaderMap| {
        client
            .request(parts.method.clone(), &url)
            .headers(headers)
            .body(body.clone())
            .timeout(timeout)
            .send()
    };
    let started = Instant::now();
    let response = match &policy.credential {
        None => send(parts.headers.clone()).await.map_err(send_error)?,
        Some(credential) => {
            let mut headers = parts.headers.clone();
            match credential.headers().await {
                Ok(added) => headers.extend(added),
                Err(e) => return credential_failure(e, plugin),
            }
            let response = send(headers.clone()).await.map_err(send_error)?;
            if !refused(&response) {
                response
            } else {
                // An expired or revoked session: renew it (once for all requests sharing it)
                // and send this request again, once. A static credential stays refused.
                match credential.renew(&headers).await {
                    Ok(None) => response,
                    Ok(Some(renewed)) => {
                        let mut headers = parts.headers.clone();
                        headers.extend(renewed);
                        send(headers).await.map_err(send_error)?
                    }
                    Err(e) => return credential_failure(e, plugin),
                }
            }
        }
    };
    tracing::debug!(
        plugin,
        method = %parts.method,
        host = parts.uri.host().unwrap_or_default(),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "plugin HTTP request"
    );
    if response.status().is_redirection() {
        if let Some(location) = response.headers().get(http::header::LOCATION) {
            let target = location
                .to_str()
                .ok()
                .and_then(|l| response.url().join(l).ok());
            let same_origin = target
                .as_ref()
                .is_some_and(|t| t.origin() == response.url().origin());
            if !same_origin {
                tracing::warn!(plugin, "plugin HTTP redirect to another origin refused");
                return Err(HttpError::HttpRequestDenied);
            }
        }
    }
    let mut response = http::Response::from(response);
    // Session cookies are credentials: kept from the guest like the ones the host sends.
    response.headers_mut().remove(http::header::SET_COOKIE);
    let max = limits.max_response_body;
    Ok(response.map(|body| {
        Limited::new(body, max)
            .map_err(move |e| match e.downcast::<reqwest::Error>() {
                Ok(e) if e.is_timeout() => HttpError::HttpResponseTimeout,
                Ok(_) => HttpError::HttpResponseIncomplete,
                Err(_) => HttpError::HttpResponseBodySize(Some(max as u64)),
            })
            .boxed_unsync()
    }))
}

/// Whether the service refused the credential: `401`, or the login challenge of IBM Jazz
/// servers (DOORS Next), which answer `200` with `X-com-ibm-team-repository-web-auth-msg:
/// authrequired` when a session has ended.
fn refused(response: &reqwest::Response) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        || response
            .headers()
            .get("x-com-ibm-team-repository-web-auth-msg")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"authrequired"))
}

/// What the guest sees when the host has no credential to send: a refused credential is the
/// `401` the service would have sent (so connectors report an auth error people can act on),
/// an unavailable one an error of the request.
fn credential_failure(
    e: CredentialError,
    plugin: &str,
) -> wasmtime_wasi_http::Result<http::Response<WasiBody>> {
    match e {
        CredentialError::Refused(why) => {
            tracing::warn!(plugin, "credential refused: {why}");
            let body = serde_json::json!({
                "error": "credential_refused",
                "error_description": why,
            })
            .to_string();
            let body = http_body_util::Full::new(axum::body::Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync();
            let mut response = http::Response::new(body);
            *response.status_mut() = http::StatusCode::UNAUTHORIZED;
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        CredentialError::Unavailable(why) => {
            tracing::warn!(plugin, "credential unavailable: {why}");
            Err(HttpError::InternalError(Some(format!(
                "the connection's credential is unavailable: {why}"
            ))))
        }
    }
}

/// Whether a client failure is the guarded resolver refusing every address of a name.
pub(crate) fn is_prohibited(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<Prohibited>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Maps a client failure to the `wasi:http` error code the guest sees.
fn send_error(e: reqwest::Error) -> HttpError {
    if is_prohibited(&e) {
        return HttpError::DestinationIpProhibited;
    }
    if e.is_timeout() {
        HttpError::ConnectionTimeout
    } else if e.is_connect() {
        HttpError::ConnectionRefused
    } else {
        HttpError::HttpProtocolError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("*.atlassian.net", "acme.atlassian.net"));
        assert!(host_matches("*.atlassian.net", "ACME.Atlassian.NET"));
        assert!(!host_matches("*.atlassian.net", "atlassian.net"));
        assert!(!host_matches("*.atlassian.net", "evilatlassian.net"));
        assert!(!host_matches("*.atlassian.net", "atlassian.net.evil.com"));
        assert!(host_matches("api.github.com", "API.github.com"));
        assert!(!host_matches("api.github.com", "api.github.com.evil.com"));
    }

    #[test]
    fn addresses() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(ip_refusal(ip, false).is_some(), "{private} must be refused");
        }
        for link_local in ["169.254.169.254", "fe80::1"] {
            let ip: IpAddr = link_local.parse().expect("ip");
            assert!(
                ip_refusal(ip, true).is_some(),
                "{link_local} refused even when allowed"
            );
        }
        for smuggled in [
            "64:ff9b::a00:5",
            "2002:a00:1::1",
            "::a00:1",
            "fec0::1",
            "64:ff9b:1::a00:5",
        ] {
            let ip: IpAddr = smuggled.parse().expect("ip");
            assert!(
                ip_refusal(ip, false).is_some(),
                "{smuggled} hides a private address"
            );
        }
        for metadata in ["100.100.100.200", "fd00:ec2::254"] {
            let ip: IpAddr = metadata.parse().expect("ip");
            assert!(
                ip_refusal(ip, true).is_some(),
                "{metadata} refused even when allowed"
            );
        }
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        assert!(ip_refusal(public, false).is_none());
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(ip_refusal(loopback, true).is_none());
    }

    #[test]
    fn requests_stay_under_the_base_url() {
        let policy = EgressPolicy::new(&["*.example.com".into()], "https://acme.example.com/jira/")
            .expect("policy");
        let ok = |uri: &str| policy.refusal(&uri.parse().expect("uri"));
        assert_eq!(ok("https://acme.example.com/jira/rest/api/2/issue"), None);
        assert_eq!(ok("https://acme.example.com:443/jira"), None);
        assert!(ok("http://acme.example.com/jira/x").is_some(), "scheme");
        assert!(ok("https://acme.example.com:8443/jira/x").is_some(), "port");
        assert!(ok("https://other.example.com/jira/x").is_some(), "host");
        assert!(ok("https://acme.example.com/jira2/x").is_some(), "prefix");
        assert!(
            ok("https://acme.example.com/jira/../admin").is_some(),
            "dots"
        );
        assert!(
            ok("https://acme.example.com/jira/%2E%2E/admin").is_some(),
            "encoded dots"
        );
        assert!(
            ok("https://acme.example.com/jira/..%2fadmin").is_some(),
            "encoded slash"
        );
        assert!(
            ok("https://acme.example.com/jira/..;/admin").is_some(),
            "path parameter"
        );
        assert!(
            ok("https://acme.example.com/jira%2F..%2Fadmin").is_some(),
            "encoded slash before the base path"
        );
        assert_eq!(
            ok("https://acme.example.com/jira/api/v4/projects/group%2Fproject/issues"),
            None,
            "GitLab's encoded project paths"
        );
        assert!(
            ok("https://u:p@acme.example.com/jira/x").is_some(),
            "userinfo"
        );
        assert!(EgressPolicy::new(&["api.github.com".into()], "https://evil.com/").is_err());
        assert!(EgressPolicy::new(&["*".into()], "https://u:p@evil.com/").is_err());
        assert!(EgressPolicy::new(&["*".into()], "ftp://evil.com/").is_err());
    }
}
