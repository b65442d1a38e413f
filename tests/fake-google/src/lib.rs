//! # A fake Google (Drive v3, Calendar v3, Sheets v4, Docs v1) for tests
//!
//! [`Google::handle`] answers one HTTP request as Google would, without a network of its own:
//! the host's end-to-end stories serve it over axum (`agentic_tests::google`), the connector's
//! native tests over the SDK's `FakeServer`. Every request is first checked against Google's
//! discovery documents ([`discovery`]): method, path template, parameter names, types, enums,
//! required parameters and the `fields` selector; a request outside them is answered as Google
//! answers it (400/404) and recorded in [`Google::violations`], so "no violations" in a test
//! means the connector only sent what Google documents. Answers honour `fields` (partial
//! responses), page with `nextPageToken`, serve the changes feed (`changes.getStartPageToken`,
//! `changes.list`, `newStartPageToken`), files' `permissions` to those who may share them and
//! `permissions.list` (a shared drive's members to a member), calendar sync tokens (`nextSyncToken`, `410 Gone`
//! once expired), and quota errors, `5xx` and `403 insufficientPermissions` come on demand
//! ([`Google::fail`]).
//!
//! # Layout
//! - [`discovery`]: the generic validator; [`fields`]: partial responses.
//! - [`data`]: what the fake holds, and a generator with names of every Unicode class;
//!   [`sharing`]: files' permissions and shared drives' members, and who may see them.
//! - `drive` and `calendar`: the answers, one function per method id; `workspace`: the Sheets
//!   and Docs methods the connector uses.

pub mod data;
pub mod discovery;
pub mod fields;
pub mod sharing;

mod calendar;
mod drive;
mod json;
mod workspace;

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};

pub use data::Data;
pub use discovery::{Call, Discovery};

/// A request, as the transport received it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body: value.to_string().into_bytes(),
        }
    }

    /// Google's error format: `{"error": {"code", "message", "errors": [{domain, reason,
    /// message}], "status"}}`.
    pub fn error(status: u16, reason: &str, message: &str) -> Self {
        let grpc = match status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            410 => "ABORTED",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        };
        let domain = if reason.contains("RateLimit") || reason.contains("rateLimit") {
            "usageLimits"
        } else {
            "global"
        };
        Self::json(
            status,
            &json!({"error": {"code": status, "message": message, "status": grpc,
                "errors": [{"domain": domain, "reason": reason, "message": message}]}}),
        )
    }

    /// A body of `content_type`.
    pub fn bytes(content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The discovery method id it resolved to (empty when it did not).
    pub id: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

impl Seen {
    /// The value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A failure to answer instead of the next matching request.
#[derive(Debug, Clone)]
struct Failure {
    method_prefix: String,
    response: Response,
    times: usize,
}

/// Decides whether an `Authorization` header is a valid credential.
pub type Authorizer = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

#[derive(Default)]
struct Inner {
    data: Data,
    seen: Vec<Seen>,
    violations: Vec<String>,
    failures: Vec<Failure>,
}

/// The fake. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct Google {
    inner: Arc<Mutex<Inner>>,
    discovery: Arc<Discovery>,
    authorizer: Option<Authorizer>,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google").finish_non_exhaustive()
    }
}

/// Most items a page of `files.list` and `changes.list` holds (Google's maximum).
pub const MAX_PAGE_SIZE: usize = 1000;

impl Google {
    /// A fake serving `data`, accepting any credential (or none).
    pub fn new(data: Data) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                data,
                ..Inner::default()
            })),
            discovery: Arc::new(Discovery::google()),
            authorizer: None,
        }
    }

    /// Answers `401 UNAUTHENTICATED` unless `authorizer` accepts the request's
    /// `Authorization` header.
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// The same fake (same data, requests and failures) accepting any credential or none: for
    /// a native run of the connector beside one through the host, which injects credentials.
    #[must_use]
    pub fn anonymous(&self) -> Self {
        Self {
            authorizer: None,
            ..self.clone()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads or changes the data.
    pub fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.lock().data)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// Requests that did not fit the discovery documents (or Google's rules beyond them).
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Answers the next `times` requests whose method id starts with `method_prefix` (e.g.
    /// `drive.files.list`, `calendar.`) with `status` and Google's error of `reason`
    /// (`rateLimitExceeded`, `userRateLimitExceeded`, `insufficientPermissions`,
    /// `backendError`, `fullSyncRequired`, …), plus `headers`.
    pub fn fail(
        &self,
        method_prefix: &str,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        times: usize,
    ) {
        let message = match reason {
            "insufficientPermissions" => "Request had insufficient authentication scopes.",
            "rateLimitExceeded" => "Rate Limit Exceeded",
            "userRateLimitExceeded" => "User Rate Limit Exceeded",
            "fullSyncRequired" => "Sync token is no longer valid, a full sync is required.",
            _ => "We encountered an internal error. Please try again using truncated exponential backoff.",
        };
        let mut response = Response::error(status, reason, message);
        for (n, v) in headers {
            response.headers.push(((*n).into(), (*v).into()));
        }
        self.lock().failures.push(Failure {
            method_prefix: method_prefix.into(),
            response,
            times,
        });
    }

    /// Answers the next `times` requests whose method id starts with `method_prefix` with
    /// `response` as it is (malformed bodies, odd statuses).
    pub fn respond(&self, method_prefix: &str, response: Response, times: usize) {
        self.lock().failures.push(Failure {
            method_prefix: method_prefix.into(),
            response,
            times,
        });
    }

    /// Answers one request.
    pub fn handle(&self, request: &Request) -> Response {
        let resolved = self
            .discovery
            .resolve(&request.method, &request.path, &request.query);
        let mut inner = self.lock();
        inner.seen.push(Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            id: resolved.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            query: request.query.clone(),
            authorization: request.authorization.clone(),
        });
        let call = match resolved {
            Ok(call) => call,
            Err(v) => {
                inner.violations.push(format!(
                    "{} {}: {}",
                    request.method, request.path, v.message
                ));
                let reason = if v.status == 404 {
                    "notFound"
                } else {
                    "invalid"
                };
                return Response::error(v.status, reason, &v.message);
            }
        };
        if let Some(authorizer) = &self.authorizer {
            if !authorizer(request.authorization.as_deref()) {
                let mut r = Response::error(
                    401,
                    "authError",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                );
                r.headers.push((
                    "www-authenticate".into(),
                    "Bearer realm=\"https://accounts.google.com/\"".into(),
                ));
                return r;
            }
        }
        if let Some(at) = inner
            .failures
            .iter()
            .position(|f| call.id.starts_with(&f.method_prefix))
        {
            let failure = &mut inner.failures[at];
            failure.times -= 1;
            let response = failure.response.clone();
            if failure.times == 0 {
                inner.failures.remove(at);
            }
            return response;
        }
        let inner = &mut *inner;
        // A JSON body must fit the method's request schema.
        let is_json = request
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"));
        if is_json {
            let checked = serde_json::from_slice::<Value>(&request.body)
                .map_err(|e| discovery::Violation {
                    status: 400,
                    message: format!("{}: body is not JSON: {e}", call.id),
                })
                .and_then(|body| self.discovery.check_body(&call.id, &body));
            if let Err(v) = checked {
                inner.violations.push(v.message.clone());
                return Response::error(400, "invalid", &v.message);
            }
        }
        let answer = if call.id.starts_with("drive.") {
            drive::answer(&mut inner.data, &call, request, &self.discovery)
        } else if call.id.starts_with("sheets.") || call.id.starts_with("docs.") {
            workspace::answer(&mut inner.data, &call, request)
        } else {
            calendar::answer(&mut inner.data, &call, request, &self.discovery)
        };
        let mut response = match answer {
            Ok(r) => r,
            Err(rule) => {
                // Google's own rules beyond the document (e.g. `driveId` without
                // `includeItemsFromAllDrives`) are violations too, unless it is about data.
                if rule.violation {
                    inner
                        .violations
                        .push(format!("{}: {}", call.id, rule.response_text()));
                }
                rule.response
            }
        };
        // Partial responses: only what `fields` selects.
        if let Some(selector) = call.query.get("fields") {
            if response.status == 200 && call.query.get("alt").is_none_or(|a| a == "json") {
                if let (Ok(tree), Ok(value)) = (
                    fields::parse(selector),
                    serde_json::from_slice::<Value>(&response.body),
                ) {
                    response.body = fields::project(&value, &tree).to_string().into_bytes();
                }
            }
        }
        response
    }
}

/// Why a request was answered with an error.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    response: Response,
    /// Whether a well-behaved client would never have sent it.
    violation: bool,
}

impl Refusal {
    /// A request a correct client would not send.
    pub(crate) fn violation(status: u16, reason: &str, message: &str) -> Self {
        Self {
            response: Response::error(status, reason, message),
            violation: true,
        }
    }

    /// An answer about the data (not found, gone).
    pub(crate) fn answer(status: u16, reason: &str, message: &str) -> Self {
        Self {
            response: Response::error(status, reason, message),
            violation: false,
        }
    }

    fn response_text(&self) -> String {
        String::from_utf8_lossy(&self.response.body).into_owned()
    }
}

/// Percent-decodes a query string into pairs (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let un = |s: &str| discovery::percent_decode(&s.replace('+', " "));
            (un(k), un(v))
        })
        .collect()
}
