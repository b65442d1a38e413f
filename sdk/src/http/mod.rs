//! A small blocking HTTP client for connectors.
//!
//! In the component it sends through `wasi:http/outgoing-handler`, which the host mediates:
//! only the plugin's declared hosts, matching the connection's base URL; no private addresses
//! unless the connection allows them; bounded bodies, request counts and time. The host also
//! **adds the connection's credential** and drops any `Authorization`, `Cookie` or `Proxy-*`
//! header the guest sets — so a connector never handles secrets, and this client drops those
//! headers itself (with a warning) to behave the same everywhere. Natively (tests) the same API
//! speaks plain HTTP/1.1 over `std::net`, enough for `testing::FakeServer`.
//!
//! ```no_run
//! use agentic_sdk::http::{self, Request};
//! # fn demo() -> Result<(), agentic_sdk::Error> {
//! #[derive(serde::Deserialize)]
//! struct Status { items: u64 }
//! let status: Status = http::get_json("https://tracker.example.com/api/status")?;
//! let created: serde_json::Value = Request::post("https://tracker.example.com/api/issues")
//!     .json(&serde_json::json!({"title": "Broken"}))?
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # let _ = (status.items, created); Ok(()) }
//! ```
//!
//! Status codes become typed errors with [`Response::error_for_status`] (see [`status_error`]
//! for the mapping, including `Retry-After`), and [`paginate`] walks cursor- or link-paginated
//! listings. [`endpoint`] builds URLs under the connection's base URL. A request the host
//! refuses is an [`Error::Config`] that says which rule refused it
//! ([`crate::host::egress_refusal`]).

mod paginate;
mod status;
mod stream;
pub(crate) mod url;

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod wasi;

#[cfg(not(target_arch = "wasm32"))]
use native as transport;
#[cfg(target_arch = "wasm32")]
use wasi as transport;

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::host;
use crate::types::LogLevel;

pub use paginate::{paginate, Batch, Paginate};
pub use stream::BodyStream;

/// `path` under the connection's base URL ([`crate::host::base_url`]): `endpoint("/api/issues")`
/// on a connection at `https://tracker.example.com/v2/` is
/// `https://tracker.example.com/v2/api/issues` (one slash between them, whatever each has).
/// A call without a connection (a try-out call) gets an [`Error::Config`] saying so.
///
/// ```
/// use agentic_sdk::http::endpoint;
/// // Natively, outside a harness call, there is no connection:
/// assert!(matches!(endpoint("/status"), Err(agentic_sdk::Error::Config(_))));
/// ```
pub fn endpoint(path: &str) -> Result<String, Error> {
    let base = host::base_url().ok_or_else(|| {
        Error::Config(
            "this call has no connection, so no base URL to call (try-out calls have none)".into(),
        )
    })?;
    Ok(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}
/// The URL of `path` under the connection's service origin `name` (declared under `[origins]` in
/// `plugin.toml`: the connection's override, else the manifest's URL; see
/// [`crate::service_url`]). A name the manifest does not declare, or a call without a
/// connection, is an [`Error::Config`] saying so.
///
/// ```
/// use agentic_sdk::http::origin_endpoint;
/// // Natively, outside a harness call, there is no connection:
/// assert!(matches!(origin_endpoint("sheets", "/v4/x"), Err(agentic_sdk::Error::Config(_))));
/// ```
pub fn origin_endpoint(name: &str, path: &str) -> Result<String, Error> {
    let base = host::service_url(name).ok_or_else(|| {
        Error::Config(format!(
            "no service origin {name:?}: the plugin's manifest does not declare it under \
             [origins], or this call has no connection"
        ))
    })?;
    Ok(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}

pub use status::{retry_after_secs, status_error, DEFAULT_RETRY_AFTER_SECS};
pub use url::encode;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// `OPTIONS`
    Options,
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outgoing request, built step by step and sent with [`Request::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// Absolute `http://` or `https://` URL, with its query.
    pub url: String,
    /// Header names and values, in order. Credentials are not set here: the host adds them.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Appends `name=value` to the query, percent-encoding both.
    #[must_use]
    pub fn query(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.url = url::with_query(&self.url, name, value.as_ref());
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
            .map_err(|e| Error::Internal(format!("request body for {}: {e}", self.url)))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sends the request and returns the response, whatever its status; use
    /// [`Response::error_for_status`] to turn failures into typed errors. Failing to reach the
    /// service is [`Error::Transient`]; a request the host's egress policy refuses is
    /// [`Error::Config`] (the base URL or the allowed hosts need fixing).
    ///
    /// Redirects within the same origin (scheme, host and port) are followed, up to
    /// [`MAX_REDIRECTS`]; the host refuses redirects to other origins, so those come back as the
    /// 3xx response.
    pub fn send(self) -> Result<Response, Error> {
        self.follow(transport::send, |r| (r.status, r.header("location")))
    }

    /// Sends with `send` and follows redirects within the origin as [`Request::send`] says;
    /// `head` reads an answer's status and `Location`. One loop for answers read whole and
    /// answers streamed ([`Request::send_streaming`]).
    fn follow<R>(
        mut self,
        send: impl Fn(&Request) -> Result<R, Error>,
        head: impl Fn(&R) -> (u16, Option<&str>),
    ) -> Result<R, Error> {
        self.drop_host_owned_headers();
        let mut response = send(&self)?;
        for _ in 0..MAX_REDIRECTS {
            let (status, location) = head(&response);
            match self.redirected(status, location) {
                Some(next) => self = next,
                None => break,
            }
            response = send(&self)?;
        }
        Ok(response)
    }

    /// Drops the headers the host owns, with a warning when there were any.
    fn drop_host_owned_headers(&mut self) {
        let before = self.headers.len();
        self.headers.retain(|(name, _)| !is_host_owned_header(name));
        if self.headers.len() != before {
            host::log(
                LogLevel::Warn,
                "dropped Authorization/Cookie/Proxy-* request headers: the host adds the credential",
            );
        }
    }

    /// The request to send next when a response with `status` and `location` redirects within
    /// the origin: `303` (and `301` or `302` after a `POST`) continues with a `GET` without
    /// body, as browsers do.
    fn redirected(&self, status: u16, location: Option<&str>) -> Option<Request> {
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        let url = url::resolve(&self.url, location?)?;
        if !url::same_origin(&self.url, &url) {
            return None;
        }
        let mut next = Request {
            url,
            ..self.clone()
        };
        let to_get = status == 303 && self.method != Method::Head
            || matches!(status, 301 | 302) && self.method == Method::Post;
        if to_get {
            next.method = Method::Get;
            next.body.clear();
            next.headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        }
        Some(next)
    }
}

/// Sends `request` exactly as it is — no header dropped, no redirect followed: the test
/// harness's recorder passes on what the connector's requests carried, and the agent SDK's
/// harness sends an agent's requests with it (agents follow no redirects).
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub fn send_raw(request: &Request) -> Result<Response, Error> {
    transport::send(request)
}

/// Redirects [`Request::send`] follows before returning the last 3xx response.
pub const MAX_REDIRECTS: usize = 5;

/// Headers the host owns: it drops the guest's and adds the connection's credential.
fn is_host_owned_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization" || name == "cookie" || name.starts_with("proxy-")
}

/// A response, with its whole body read.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The request's method, for error messages.
    pub method: Method,
    /// The request's URL, for error messages.
    pub url: String,
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
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Parses the body as JSON. A body that does not match `T` is [`Error::Internal`] naming
    /// the field: the service answered something the connector does not understand.
    /// Anything after the JSON value but whitespace is refused too.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // Parsed without tracking the path first: tracking it costs on every value of every
        // page, and only a failure needs it, so a failure is parsed again to name the field.
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let plain = match T::deserialize(&mut de).and_then(|value| de.end().map(|()| value)) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let (path, why) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => (e.path().to_string(), e.inner().to_string()),
            // Only what followed the value was wrong.
            Ok(_) => (".".to_owned(), plain.to_string()),
        };
        Err(Error::Internal(format!(
            "{} {}: unexpected response body at `{path}`: {why}",
            self.method, self.url
        )))
    }

    /// `Ok(self)` for a 2xx status, else the typed error [`status_error`] maps it to.
    pub fn error_for_status(self) -> Result<Self, Error> {
        match status_error(&self, std::time::SystemTime::now()) {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    /// The `rel="next"` target of the `Link` header (GitHub, GitLab and others paginate so).
    pub fn next_link(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("link"))
            .flat_map(|(_, v)| v.split(','))
            .find_map(|link| {
                let (target, params) = link.split_once(';')?;
                let is_next = params.split(';').any(|p| {
                    let p = p.trim().to_ascii_lowercase();
                    p == "rel=\"next\"" || p == "rel=next"
                });
                let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
                is_next.then(|| target.to_owned())
            })
    }
}

/// `GET url` with `accept: application/json`, checked with [`Response::error_for_status`] and
/// parsed as `T`.
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, Error> {
    Request::get(url)
        .header("accept", "application/json")
        .send()?
        .error_for_status()?
        .json()
}

/// `POST url` with `body` as JSON, checked and parsed like [`get_json`].
pub fn post_json<T: DeserializeOwned, B: Serialize + ?Sized>(
    url: &str,
    body: &B,
) -> Result<T, Error> {
    Request::post(url)
        .header("accept", "application/json")
        .json(body)?
        .send()?
        .error_for_status()?
        .json()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: br#"{"items": [1, "two"]}"#.to_vec(),
            method: Method::Get,
            url: "http://svc/list".into(),
        }
    }

    #[test]
    fn requests_build_queries_and_json_bodies() {
        let r = Request::post("http://svc/a?x=1")
            .query("q", "a b&c")
            .json(&serde_json::json!({"k": 1}))
            .expect("json body");
        assert_eq!(r.url, "http://svc/a?x=1&q=a%20b%26c");
        assert_eq!(
            r.headers,
            [("content-type".into(), "application/json".into())]
        );
        assert_eq!(r.body, br#"{"k":1}"#);
    }

    #[test]
    fn credential_headers_belong_to_the_host() {
        for name in ["Authorization", "cookie", "Proxy-Authorization"] {
            assert!(is_host_owned_header(name), "{name}");
        }
        assert!(!is_host_owned_header("accept"));
    }

    #[test]
    fn json_errors_name_the_field_that_did_not_match() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Listing {
            items: Vec<u64>,
        }
        let err = response(&[])
            .json::<Listing>()
            .expect_err("second item is a string");
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("items[1]") && m.contains("GET http://svc/list")),
            "{err}"
        );
        let mut ok = response(&[]);
        ok.body = br#"{"items": [1, 2]} "#.to_vec();
        assert_eq!(
            ok.json::<Listing>().expect("whitespace after").items,
            [1, 2]
        );
        ok.body = br#"{"items": [1, 2]} {"items": []}"#.to_vec();
        let err = ok.json::<Listing>().expect_err("a second value");
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("trailing characters")),
            "{err}"
        );
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        let r = response(&[(
            "Link",
            r#"<https://api/x?page=1>; rel="prev", <https://api/x?page=3>; rel="next""#,
        )]);
        assert_eq!(r.next_link().as_deref(), Some("https://api/x?page=3"));
        assert_eq!(response(&[]).next_link(), None);
        assert_eq!(r.header("link").map(|l| l.len() > 10), Some(true));
    }

    #[test]
    fn endpoints_join_the_connections_base_url_with_one_slash() {
        let joined = crate::host::with_base_url(Some("https://t.example/v2/"), || {
            (endpoint("/api/x"), endpoint("api/y"))
        });
        assert_eq!(joined.0.as_deref(), Ok("https://t.example/v2/api/x"));
        assert_eq!(joined.1.as_deref(), Ok("https://t.example/v2/api/y"));
        let bare = crate::host::with_base_url(Some("https://t.example"), || endpoint("/a"));
        assert_eq!(bare.as_deref(), Ok("https://t.example/a"));
        // Outside the call the base URL is gone again.
        assert!(matches!(endpoint("/a"), Err(Error::Config(_))));
    }
}
