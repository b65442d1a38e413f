//! A blocking HTTP client over `wasi:http`, mediated by the host.
//!
//! The host lets an agent's requests out only under its egress rules: the hosts the manifest's
//! `allowed_hosts` names (for the built-in kinds, the URL their configuration names), no
//! private or loopback addresses unless an Administrator allowed them on the agent, no
//! `Authorization`/`Cookie` headers from the guest, bounded bodies, request counts and time.
//! A request it refuses is [`HttpError::Refused`] (the run's error then names the rule). No
//! redirect is followed: a 3xx is the response.
//!
//! The builder mirrors `agentic_sdk::http`'s on purpose (one shape to learn), but the two
//! cannot share code in a component: a crate that links `agentic-sdk` carries the connector
//! world's bindings, which an agent must not. Natively the harness sends through
//! `agentic-sdk`'s transport.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// Response bytes read by default; the rest is left unread and [`Response::truncated`] set.
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Why a request did not get a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host's egress rules refused it (a host the agent may not reach, a private address).
    Refused(String),
    /// It went out and failed: DNS, connection, TLS, timeout, a body cut short, a bad URL.
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Refused(m) => write!(f, "refused by the host: {m}"),
            HttpError::Failed(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A refusal fails the run as `denied`; anything else as temporary.
impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Refused(_) => Error::Denied(e.to_string()),
            HttpError::Failed(_) => Error::Transient(e.to_string()),
        }
    }
}

/// An outgoing request, built step by step and sent with [`Request::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// Absolute `http://` or `https://` URL, with its query.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// Response bytes read at most.
    pub max_body: usize,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its `content-type`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::Internal(format!("the request body does not serialize: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Reads at most `bytes` of the response body.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sends the request and reads the response (its body up to [`Request::max_body`]). Any
    /// status is a response; check it with [`Response::status`].
    pub fn send(self) -> Result<Response, HttpError> {
        transport::send(&self)
    }
}

/// A response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body, up to the request's `max_body`.
    pub body: Vec<u8>,
    /// Whether the body was longer than `max_body` (and cut).
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; a body that does not parse as `T` is a temporary failure naming the
    /// field (the service answered something unexpected).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            Error::Transient(format!(
                "the answer (status {}) is not the JSON expected at {}: {}",
                self.status,
                e.path(),
                e.inner()
            ))
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `scheme`, `authority` and `path?query` of an absolute http(s) URL.
fn split(url: &str) -> Result<(&str, &str, &str), HttpError> {
    let bad = || HttpError::Failed(format!("{url}: not an absolute http(s) URL"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(bad());
    }
    let path = path.split('#').next().unwrap_or_default();
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

#[cfg(target_arch = "wasm32")]
mod transport {
    //! One request over `wasi:http/outgoing-handler`: handed to the host before its body is
    //! written, so the host streams it; then the guest blocks on the response.

    use super::{split, HttpError, Method, Request, Response};
    use crate::wit::wasi::http::outgoing_handler;
    use crate::wit::wasi::http::types::{
        self as http, ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, Scheme,
    };
    use crate::wit::wasi::io::streams::StreamError;

    /// Largest write `blocking-write-and-flush` accepts in one call.
    const WRITE_CHUNK: usize = 4096;
    /// Bytes asked for per read.
    const READ_CHUNK: u64 = 64 * 1024;

    pub(super) fn send(request: &Request) -> Result<Response, HttpError> {
        let (scheme, authority, path) = split(&request.url)?;
        let fail = |what: String| {
            HttpError::Failed(format!(
                "{} {}: {what}",
                request.method.as_str(),
                request.url
            ))
        };
        let fields = Fields::new();
        for (name, value) in &request.headers {
            // The host forbids some headers (credentials are its business): those are dropped.
            let _ = fields.append(name, value.as_bytes());
        }
        let outgoing = OutgoingRequest::new(fields);
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_method(&method(request.method))
            .map_err(|()| fail("invalid method".into()))?;
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| fail("invalid scheme".into()))?;
        outgoing
            .set_authority(Some(authority))
            .map_err(|()| fail("invalid host".into()))?;
        outgoing
            .set_path_with_query(Some(path))
            .map_err(|()| fail("invalid path".into()))?;
        let body = outgoing
            .body()
            .map_err(|()| fail("request body taken twice".into()))?;
        let pending = outgoing_handler::handle(outgoing, None).map_err(|e| code(&fail, &e))?;
        if !request.body.is_empty() {
            if let Ok(stream) = body.write() {
                for chunk in request.body.chunks(WRITE_CHUNK) {
                    if stream.blocking_write_and_flush(chunk).is_err() {
                        break;
                    }
                }
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| code(&fail, &e))?;
        pending.subscribe().block();
        let incoming = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(code(&fail, &e)),
            Some(Err(())) | None => return Err(fail("response future consumed twice".into())),
        };
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let body = incoming
            .consume()
            .map_err(|()| fail("response body taken twice".into()))?;
        let stream = body
            .stream()
            .map_err(|()| fail("response body taken twice".into()))?;
        let mut bytes = Vec::new();
        let mut truncated = false;
        loop {
            if bytes.len() >= request.max_body {
                truncated = true;
                break;
            }
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http::http_error_code(&e) {
                        Some(c) => code(&fail, &c),
                        None => fail(format!("reading the body: {}", e.to_debug_string())),
                    })
                }
            }
        }
        if bytes.len() > request.max_body {
            bytes.truncate(request.max_body);
            truncated = true;
        }
        drop(stream);
        if !truncated {
            drop(IncomingBody::finish(body));
        }
        Ok(Response {
            status,
            headers,
            body: bytes,
            truncated,
        })
    }

    fn method(method: Method) -> http::Method {
        match method {
            Method::Get => http::Method::Get,
            Method::Head => http::Method::Head,
            Method::Post => http::Method::Post,
            Method::Put => http::Method::Put,
            Method::Patch => http::Method::Patch,
            Method::Delete => http::Method::Delete,
        }
    }

    fn code(fail: &dyn Fn(String) -> HttpError, code: &ErrorCode) -> HttpError {
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
                HttpError::Refused(format!("{code:?}"))
            }
            other => fail(format!("{other:?}")),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod transport {
    //! Natively the harness plays the host: it applies the manifest's `allowed_hosts`, routes
    //! hosts to local fakes, and sends with the connector SDK's plain HTTP/1.1 transport.

    use super::{split, HttpError, Method, Request, Response};
    use crate::testing::with_host;

    pub(super) fn send(request: &Request) -> Result<Response, HttpError> {
        let (scheme, authority, path) = split(&request.url)?;
        let base = with_host(|h| h.egress(authority))
            .unwrap_or(Ok(None))?
            .unwrap_or_else(|| format!("{scheme}://{authority}"));
        let method = match request.method {
            Method::Get => agentic_sdk::http::Method::Get,
            Method::Head => agentic_sdk::http::Method::Head,
            Method::Post => agentic_sdk::http::Method::Post,
            Method::Put => agentic_sdk::http::Method::Put,
            Method::Patch => agentic_sdk::http::Method::Patch,
            Method::Delete => agentic_sdk::http::Method::Delete,
        };
        // As the host: the guest's credential headers never leave.
        let headers = request
            .headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie")
            })
            .cloned()
            .collect();
        let out = agentic_sdk::http::Request {
            method,
            url: format!("{}{path}", base.trim_end_matches('/')),
            headers,
            body: request.body.clone(),
        };
        let response =
            agentic_sdk::http::send_raw(&out).map_err(|e| HttpError::Failed(e.to_string()))?;
        let mut body = response.body;
        let truncated = body.len() > request.max_body;
        body.truncate(request.max_body);
        Ok(Response {
            status: response.status,
            headers: response.headers,
            body,
            truncated,
        })
    }
}
