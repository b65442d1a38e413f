//! The `send_request` hook of `wasi:http`: checks a guest's request against its call's
//! [`EgressPolicy`] and budget, sends it through the shared [`Clients`] with the connection's
//! credential added, and hands back a response with the secret redacted and the body capped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::addresses::ip_refusal;
use super::policy::method_refusal;
use super::redact::{RedactedBody, Secrets};
use super::{CredentialError, EgressLimits, EgressPolicy};

/// A resolver that drops the addresses a connection may not reach, so the checked address is
/// the one connected to.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

/// The resolver's refusal, found again in the error chain to tell the guest why.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to addresses the connection may not reach (private or loopback ones \
     unless the connection allows them; link-local and metadata ones never)"
)]
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
    /// The call's latest request and why it was refused, if it was (`host.egress-refusal`).
    pub(crate) latest: Latest,
}

/// The call's latest request (by the order the guest handed them over) and why the host
/// refused it, if it did. Shared with the requests in flight: a refusal found after the hook
/// returned (the resolver's, a redirect's) is recorded only if no later request started since.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latest(Arc<std::sync::Mutex<(u64, Option<String>)>>);

/// Longest refusal reason kept (a refused path is the guest's and may be long).
const MAX_REASON_BYTES: usize = 1024;

impl Latest {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<String>)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new request starts; returns its number.
    fn start(&self) -> u64 {
        let mut latest = self.lock();
        latest.0 += 1;
        latest.1 = None;
        latest.0
    }

    /// Request `number` was refused for `why`.
    fn refuse(&self, number: u64, why: &str) {
        let mut latest = self.lock();
        if latest.0 == number {
            latest.1 = Some(crate::plugins::sandbox::cut(
                why.to_owned(),
                MAX_REASON_BYTES,
            ));
        }
    }

    /// Why the latest request was refused, if it was.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.lock().1.clone()
    }

    /// Forgets the requests so far (a reused instance's next call starts afresh).
    pub(crate) fn reset(&self) {
        *self.lock() = (0, None);
    }
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
        let number = self.latest.start();
        self.latest.refuse(number, why);
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
            return self
                .deny("this call has no connection, so no network (try-out calls have none)");
        };
        if self.sent >= self.limits.max_requests_per_call {
            let why = format!(
                "more than {} requests in one call",
                self.limits.max_requests_per_call
            );
            return self.deny(&why);
        }
        if let Some(why) = method_refusal(request.method()) {
            return self.deny(&why);
        }
        if let Some(why) = policy.refusal(request.uri()) {
            return self.deny(&why);
        }
        self.sent += 1;
        let number = self.latest.start();
        let latest = self.latest.clone();
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
            .unwrap_or(Err(Refusable::Error(HttpError::ConnectionTimeout)))
            .map_err(|e| match e {
                Refusable::Error(e) => e,
                Refusable::Refused(code, why) => {
                    latest.refuse(number, &why);
                    code
                }
            });
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

/// How a checked request failed: an error like any other, or a refusal by the egress rules
/// found only while sending (a name that resolves only to addresses the connection may not
/// reach, a redirect out of the origin), with its reason for `host.egress-refusal`.
enum Refusable {
    Error(HttpError),
    Refused(HttpError, String),
}

impl From<HttpError> for Refusable {
    fn from(e: HttpError) -> Self {
        Refusable::Error(e)
    }
}

/// Maps a client failure to what the guest sees; the resolver's refusal says why.
fn send_failure(e: reqwest::Error) -> Refusable {
    match prohibited(&e) {
        Some(why) => Refusable::Refused(HttpError::DestinationIpProhibited, why.to_string()),
        None => Refusable::Error(send_error(e)),
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
) -> Result<http::Response<WasiBody>, Refusable> {
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
    if policy.credential.is_some() {
        // A compressed echo would carry the secret past redaction: ask for the plain body
        // (every server must accept `identity`) and refuse any other below.
        parts.headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
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
    // Every secret this request carries, to be kept out of what the guest reads back.
    let mut secrets = Secrets::default();
    let response = match &policy.credential {
        None => send(parts.headers.clone()).await.map_err(send_failure)?,
        Some(credential) => {
            let mut headers = parts.headers.clone();
            match credential.headers().await {
                Ok(added) => {
                    secrets.add_headers(added.iter().map(|(n, v)| (n, v)));
                    headers.extend(added);
                }
                Err(e) => return Ok(credential_failure(e, plugin)?),
            }
            let response = send(headers.clone()).await.map_err(send_failure)?;
            if !refused(&response) {
                response
            } else {
                // An expired or revoked session: renew it (once for all requests sharing it)
                // and send this request again, once. A static credential stays refused.
                match credential.renew(&headers).await {
                    Ok(None) => response,
                    Ok(Some(renewed)) => {
                        secrets.add_headers(renewed.iter().map(|(n, v)| (n, v)));
                        let mut headers = parts.headers.clone();
                        headers.extend(renewed);
                        send(headers).await.map_err(send_failure)?
                    }
                    Err(e) => return Ok(credential_failure(e, plugin)?),
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
                let to = target.map_or_else(|| "an invalid location".into(), |t| t.to_string());
                return Err(Refusable::Refused(
                    HttpError::HttpRequestDenied,
                    format!(
                        "the response redirected to {}, another origin than {}",
                        crate::plugins::sandbox::cut(to, 256),
                        response.url().origin().ascii_serialization()
                    ),
                ));
            }
        }
    }
    let mut response = http::Response::from(response);
    // Session cookies are credentials: kept from the guest like the ones the host sends.
    response.headers_mut().remove(http::header::SET_COOKIE);
    let redactor = policy.redactors.redactor(&secrets);
    if let Some(redactor) = &redactor {
        let coding = response.headers().get(http::header::CONTENT_ENCODING);
        if let Some(coding) = coding.filter(|c| !c.as_bytes().eq_ignore_ascii_case(b"identity")) {
            tracing::warn!(
                plugin,
                "compressed response to a request with a credential refused"
            );
            return Err(Refusable::Error(HttpError::HttpResponseContentCoding(
                coding.to_str().ok().map(str::to_owned),
            )));
        }
        redactor.headers(response.headers_mut());
        if parts.method != http::Method::HEAD {
            // Redaction may change the body's length; the guest reads it to its end instead.
            response.headers_mut().remove(http::header::CONTENT_LENGTH);
        }
    }
    let max = limits.max_response_body;
    Ok(response.map(|body| {
        let body = Limited::new(body, max)
            .map_err(move |e| match e.downcast::<reqwest::Error>() {
                Ok(e) if e.is_timeout() => HttpError::HttpResponseTimeout,
                Ok(_) => HttpError::HttpResponseIncomplete,
                Err(_) => HttpError::HttpResponseBodySize(Some(max as u64)),
            })
            .boxed_unsync();
        match redactor {
            Some(redactor) => RedactedBody::new(body, redactor).boxed_unsync(),
            None => body,
        }
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
    prohibited(e).is_some()
}

/// The guarded resolver's refusal in a client failure's chain, if it is there.
fn prohibited(e: &reqwest::Error) -> Option<&Prohibited> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<Prohibited>() {
            return Some(refusal);
        }
        source = s.source();
    }
    None
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
