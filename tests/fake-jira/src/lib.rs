//! # A fake JIRA (Cloud REST v3, Data Center REST v2) for tests
//!
//! [`Jira::handle`] answers one HTTP request as JIRA would, without a network of its own: the
//! host's end-to-end stories serve it over axum (`agentic_tests::jira`), the JIRA connector's
//! native tests over the SDK's `FakeServer` (`plugins/jira/tests/support.rs`).
//!
//! Every request is validated before it is answered, and what does not fit is recorded in
//! [`Jira::violations`] (and answered 400, or 410 for the search Cloud removed), so "no
//! violations" in a test means the connector only sent what JIRA documents: it must be under
//! the deployment's `/rest/api/N/`, a path and method of Atlassian's OpenAPI document
//! ([`openapi`]; Data Center's v2 paths checked against their v3 twins) with its path and query
//! parameters declared and typed, the required ones present, a JSON body valid against the
//! operation's schema, Cloud rich text valid ADF, `accept: application/json`, no cookie;
//! searches must list their fields and send JQL JIRA takes ([`jql`]; bounded, on Cloud). The
//! credential is checked as JIRA checks it (401, an answer and not a violation) and every request
//! is kept ([`Jira::seen`]), so tests see what the host injected and what the actions wrote.
//!
//! Answers are built from Atlassian's example payloads with generated [`Data`]: searches honour
//! the JQL, the fields asked for, `expand`, page tokens (Cloud) and offsets with totals (Data
//! Center); comments and histories beyond what a search shows have their own paged endpoints;
//! the connector's actions change the data. Failures come on demand: any canned answer next
//! (rate limits, 5xx, malformed bodies: [`Data::failures`]), a 429 every n-th request, expired
//! page tokens.
//!
//! # Layout
//! - [`data`]: what the fake holds, and its generator.
//! - [`openapi`]: the validator; [`jql`]: the JQL subset.
//! - `routes`: the answer to each operation, `answers`: their JSON shapes.

pub mod data;
pub mod jql;
pub mod openapi;

mod answers;
mod routes;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::Value;

pub use data::{
    comment_text, descriptions, jira_timestamp, Comment, Data, Deployment, History, Issue, Link,
    Text, User, EMBEDDED_HISTORIES, LINK_TYPES, PRIORITIES, PROJECTS, STATUSES, T0, TYPES,
};
use openapi::openapi;

/// A request as the transport received it, and an answer: the SDK's fake server's own types,
/// which the connector's tests serve as they are and the host's stories convert from and to axum.
pub use agentic_sdk::testing::{FakeRequest as Request, FakeResponse as Response};

/// A 200 with a JSON body, as JIRA sends it (`application/json;charset=UTF-8`).
pub fn json(value: &Value) -> Response {
    Response::status(200)
        .with_header("content-type", "application/json;charset=UTF-8")
        .with_body(value.to_string())
}

/// JIRA's error: `{"errorMessages": [message], "errors": {}}`.
pub fn error(status: u16, message: &str) -> Response {
    json(&routes::error_body(message)).with_status(status)
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, as received.
    pub authorization: Option<String>,
    /// Parsed JSON body (`Null` when none).
    pub body: Value,
}

impl Seen {
    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        (self.query.iter().find(|(n, _)| n == name)).map(|(_, v)| v.as_str())
    }

    /// The search's JQL (Cloud body or Data Center query).
    pub fn jql(&self) -> Option<&str> {
        self.body["jql"].as_str().or_else(|| self.query("jql"))
    }
}

/// The fake. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct Jira {
    data: Arc<Mutex<Data>>,
}

impl std::fmt::Debug for Jira {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jira").finish_non_exhaustive()
    }
}

impl Jira {
    /// A fake serving `data`.
    pub fn new(mut data: Data) -> Self {
        data.reindex();
        Self {
            data: Arc::new(Mutex::new(data)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads or changes what the fake holds (the search order follows the changes).
    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        let mut data = self.lock();
        let out = f(&mut data);
        data.reindex();
        out
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// The requests that change data (the connector's actions), in order.
    pub fn writes(&self) -> Vec<Seen> {
        self.lock().writes()
    }

    /// Requests that did not fit.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Answers the next valid request with `status`, these headers and a JIRA error body.
    pub fn fail_next(&self, status: u16, headers: &[(&str, &str)]) {
        let failure = (headers.iter())
            .fold(error(status, "Rate limit exceeded."), |r, (name, value)| {
                r.with_header(name, value)
            });
        self.lock().failures.push_back(failure);
    }

    /// Answers one request.
    pub fn handle(&self, request: &Request) -> Response {
        let mut data = self.lock();
        let data = &mut *data;
        let started = Instant::now();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        data.seen.push(Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            authorization: request.header("authorization").map(str::to_owned),
            body: body.clone(),
        });
        let context = format!("{} {}", request.method, request.path);
        let version = if data.cloud() {
            "/rest/api/3/"
        } else {
            "/rest/api/2/"
        };
        let Some(rest) = request.path.strip_prefix(version) else {
            data.violations
                .push(format!("{context}: not under {version}"));
            return error(404, "not found");
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let validated = openapi().validate(
            &request.method,
            &request.path,
            &request.query,
            request.header("content-type"),
            &request.body,
            !data.cloud(),
        );
        let (op, mut problems) = match validated {
            Ok(op) if op.deprecated && data.cloud() => {
                data.violations.push(format!(
                    "{} {}: deprecated, removed from Jira Cloud",
                    request.method, op.path
                ));
                return error(410, "The requested API has been removed. Please migrate.");
            }
            Ok(op) => (Some(op), Vec::new()),
            Err(problems) => (None, problems),
        };
        problems.extend(rules(data, request, &segments, &body));
        if !problems.is_empty() {
            let message = problems.join("; ");
            data.violations.extend(problems);
            return error(400, &message);
        }
        data.validate_time += started.elapsed();
        if data.authorization.is_some()
            && request.header("authorization") != data.authorization.as_deref()
        {
            let message = "Client must be authenticated to access this resource.";
            return error(401, message)
                .with_header("www-authenticate", "Basic realm=\"protected-area\"");
        }
        if let Some(failure) = data.failures.pop_front() {
            return failure;
        }
        data.served += 1;
        if (data.throttle_every).is_some_and(|n| data.served.is_multiple_of(n)) {
            return error(429, "Rate limit exceeded").with_header("retry-after", "1");
        }
        let started = Instant::now();
        let (status, answer) = routes::route(data, request, &segments, &body);
        if request.method != "GET" && segments[0] != "search" {
            data.reindex(); // a write: the search order follows it
        }
        if status == 404 && answer.is_null() {
            data.violations
                .push(format!("{context}: the fake does not serve it"));
            return error(404, "not found");
        }
        let checked = data.check_responses && (200..300).contains(&status) && !answer.is_null();
        if let Some(op) = op.filter(|_| checked) {
            let found = openapi().check_response(op, status, &answer);
            data.violations.extend(found);
        }
        let response = if answer.is_null() {
            Response::status(status)
        } else {
            json(&answer).with_status(status)
        };
        data.answer_time += started.elapsed();
        response
    }
}

/// What JIRA's document does not say but JIRA (or the connector's contract) wants.
fn rules(data: &Data, request: &Request, path: &[&str], body: &Value) -> Vec<String> {
    let context = format!("{} {}", request.method, request.path);
    let mut problems = Vec::new();
    if request.header("cookie").is_some() {
        problems.push(format!("{context}: a cookie was sent"));
    }
    if !(request.header("accept")).is_some_and(|a| a.contains("application/json")) {
        problems.push(format!("{context}: without accept: application/json"));
    }
    if data.cloud() {
        for pointer in ["/fields/description", "/body", "/update/comment/0/add/body"] {
            if let Some(doc) = body.pointer(pointer).filter(|v| !v.is_null()) {
                let found = openapi::adf_problems(doc).into_iter();
                problems.extend(found.map(|e| format!("{context}: {pointer} is not ADF: {e}")));
            }
        }
    }
    if path.first() == Some(&"search") {
        let fields: Vec<&str> = if data.cloud() {
            (body["fields"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect()
        } else {
            (request.query("fields")).map_or(Vec::new(), |f| f.split(',').collect())
        };
        if fields.is_empty() || fields.iter().any(|f| f.starts_with('*')) {
            problems.push(format!(
                "{context}: the fields are not listed explicitly: {fields:?}"
            ));
        }
        let jql = (body["jql"].as_str()).or_else(|| request.query("jql"));
        if let Err(why) = jql::parse(jql.unwrap_or_default(), data.tz_minutes, data.cloud()) {
            problems.push(format!("{context}: {why}"));
        }
    }
    problems
}
