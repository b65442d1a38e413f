//! A fake JIRA for end-to-end syncs through the host: Jira Cloud (REST v3) or Data Center
//! (REST v2), serving what the JIRA connector (`plugins/jira`) calls, in the shapes of
//! Atlassian's public API (the example payloads in `plugins/jira/tests/fixtures`, copied from
//! Atlassian's OpenAPI document).
//!
//! Served: `GET myself`; Cloud `POST search/jql` (explicit `fields`, `expand`, `nextPageToken`,
//! `isLast`), Data Center `GET search` (`startAt`, `maxResults`, `total`); `GET
//! issue/{id}/comment` (comments beyond the ones a search embeds); Cloud `GET project/search`,
//! Data Center `GET project`; Cloud `GET users/search`, Data Center `GET user/search`. Searches
//! understand the JQL the connector writes: `updated >= "yyyy-MM-dd HH:mm"` in the JIRA user's
//! time zone and its `ORDER BY updated ASC, key ASC`; anything else is JIRA's 400.
//!
//! Every request is validated before it is answered, and what does not fit is recorded in
//! [`FakeJira::violations`] (and answered 400, or 410 for the search Cloud removed): the path and
//! method must be an operation of Atlassian's OpenAPI document
//! (`plugins/jira/tests/fixtures/jira-openapi-extract.json`; Data Center's v2 paths checked
//! against their v3 twins), query parameters declared with values of their types and required
//! ones present, a JSON body valid against the operation's schema, searches with explicit
//! `fields` and JQL JIRA takes (bounded, on Cloud), no cookie. The credential is checked like JIRA does (401 when
//! wrong) and every `Authorization` received is kept, so tests can see what the host injected.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The connector's writes (actions): issues created, edited, commented on and transitioned.
mod writes;

const OPENAPI: &str = include_str!("../../plugins/jira/tests/fixtures/jira-openapi-extract.json");
const ISSUE_EXAMPLE: &str =
    include_str!("../../plugins/jira/tests/fixtures/issue_get_200.example.json");

/// Project keys; issue `n` is in project `n % 2`.
pub const PROJECTS: [&str; 2] = ["ED", "PR"];
/// Status names and their categories.
pub const STATUSES: [(&str, &str); 3] = [
    ("To Do", "new"),
    ("In Progress", "indeterminate"),
    ("Done", "done"),
];
/// Issue type names (the last is a sub-task type).
pub const TYPES: [&str; 4] = ["Task", "Bug", "Story", "Sub-task"];
/// Priority names.
pub const PRIORITIES: [&str; 3] = ["High", "Medium", "Low"];
/// Link types: name, inward and outward description.
pub const LINK_TYPES: [(&str, &str, &str); 2] = [
    ("Blocks", "is blocked by", "blocks"),
    ("Relates", "relates to", "relates to"),
];
/// Comments a search embeds per issue; the rest come from `GET issue/{id}/comment`.
pub const EMBEDDED_COMMENTS: usize = 2;
/// The first issue's creation: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// Which JIRA the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// Jira Cloud: REST v3, ADF rich text, users by `accountId`, HTTP Basic (e-mail, API token).
    Cloud,
    /// Jira Data Center: REST v2, wiki markup, users by `key`, a personal access token.
    DataCenter,
}

/// Rich text written three ways: ADF (Cloud), wiki markup (Data Center), and the Markdown the
/// connector's documented dialect makes of either (what tests expect to find stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// Atlassian Document Format.
    pub adf: Value,
    /// Data Center wiki markup.
    pub wiki: String,
    /// The Markdown expected.
    pub markdown: String,
}

/// An issue.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Numeric id.
    pub id: u64,
    /// `ED-3`.
    pub key: String,
    /// Index into [`PROJECTS`].
    pub project: usize,
    /// Summary.
    pub summary: String,
    /// Description, if any.
    pub description: Option<Text>,
    /// Index into [`STATUSES`].
    pub status: usize,
    /// Index into [`TYPES`].
    pub issue_type: usize,
    /// Index into [`PRIORITIES`].
    pub priority: Option<usize>,
    /// Index into the users.
    pub assignee: Option<usize>,
    /// Index into the users.
    pub reporter: usize,
    /// Labels.
    pub labels: Vec<String>,
    /// Parent issue id (sub-tasks).
    pub parent: Option<u64>,
    /// Created (Unix ms).
    pub created: i64,
    /// Updated (Unix ms).
    pub updated: i64,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Links on this issue's outward side (`this blocks target`).
    pub links: Vec<Link>,
    /// Change history, oldest first.
    pub histories: Vec<History>,
}

/// A comment.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Id.
    pub id: u64,
    /// Index into the users.
    pub author: usize,
    /// Body.
    pub body: Text,
    /// Created (Unix ms).
    pub created: i64,
    /// Updated (Unix ms).
    pub updated: i64,
}

/// A link from the issue holding it to `target`.
#[derive(Debug, Clone)]
pub struct Link {
    /// Id.
    pub id: u64,
    /// The inward issue's id.
    pub target: u64,
    /// Index into [`LINK_TYPES`].
    pub kind: usize,
}

/// A status change.
#[derive(Debug, Clone)]
pub struct History {
    /// Id.
    pub id: u64,
    /// Index into the users.
    pub author: usize,
    /// When (Unix ms).
    pub created: i64,
    /// Status before and after (indices into [`STATUSES`]).
    pub from: usize,
    /// After.
    pub to: usize,
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    /// Cloud account id.
    pub account_id: String,
    /// Data Center user name.
    pub name: String,
    /// Data Center user key.
    pub key: String,
    /// Display name.
    pub display_name: String,
    /// E-mail (Cloud hides some).
    pub email: Option<String>,
    /// Active.
    pub active: bool,
}

impl User {
    /// The id the connector gives this user's person (and uses for assignees).
    pub fn person_id(&self, deployment: Deployment) -> &str {
        match deployment {
            Deployment::Cloud => &self.account_id,
            Deployment::DataCenter => &self.key,
        }
    }
}

/// A canned answer for the next request (after validation).
#[derive(Debug, Clone)]
pub struct Failure {
    /// Status.
    pub status: u16,
    /// Extra headers, e.g. `Retry-After`.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
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
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The search's JQL (Cloud body or Data Center query).
    pub fn jql(&self) -> Option<&str> {
        self.body["jql"].as_str().or_else(|| self.query("jql"))
    }
}

/// What the fake serves; tests change it between syncs.
#[derive(Debug)]
pub struct Data {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// The JIRA user's UTC offset in minutes: timestamps are written in it, JQL dates read in it.
    pub tz_minutes: i32,
    /// Issues (any order).
    pub issues: Vec<Issue>,
    /// Users; the first is the connection's.
    pub users: Vec<User>,
    /// Answers for the next requests, e.g. a rate limit.
    pub failures: VecDeque<Failure>,
    /// The `Authorization` JIRA accepts (`None`: anonymous access, as a site that lets anyone
    /// browse; the native benchmark's harness sends no credential).
    pub authorization: Option<String>,
    /// Time spent answering (validating, building and serialising), for the benchmark.
    pub busy: std::time::Duration,
    /// Every request, in order.
    pub seen: Vec<Seen>,
    /// Requests that did not fit the document or the rules above.
    pub violations: Vec<String>,
    /// Positions of the issues in search order (updated, project, number), rebuilt after every
    /// change ([`FakeJira::with`]) so that 100 000 issues serve fast.
    order: Vec<usize>,
    /// Issue id → position in `issues`.
    by_id: HashMap<u64, usize>,
    /// Parent id → positions of its sub-tasks.
    children: HashMap<u64, Vec<usize>>,
    /// Issue id → links on its inward side: (link id, kind, outward issue id).
    inward: HashMap<u64, Vec<(u64, usize, u64)>>,
}

/// The descriptions issues get (cycling; every third issue has none).
pub fn descriptions() -> Vec<Text> {
    let adf_text = |text: &str, marks: Value| {
        if marks.is_null() {
            json!({"type": "text", "text": text})
        } else {
            json!({"type": "text", "text": text, "marks": marks})
        }
    };
    let item = |text: &str| json!({"type": "listItem", "content": [{"type": "paragraph", "content": [adf_text(text, Value::Null)]}]});
    vec![
        Text {
            adf: json!({"type": "doc", "version": 1, "content": [
                {"type": "heading", "attrs": {"level": 2}, "content": [adf_text("Steps", Value::Null)]},
                {"type": "paragraph", "content": [
                    adf_text("Open the ", Value::Null),
                    adf_text("checkout", json!([{"type": "strong"}])),
                    adf_text(" page", Value::Null)]},
                {"type": "bulletList", "content": [item("click Pay"), item("see the error")]}
            ]}),
            wiki: "h2. Steps\n\nOpen the *checkout* page\n\n* click Pay\n* see the error".into(),
            markdown: "## Steps\n\nOpen the **checkout** page\n\n- click Pay\n- see the error"
                .into(),
        },
        Text {
            adf: json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    adf_text("Use ", Value::Null),
                    adf_text("retry()", json!([{"type": "code"}])),
                    adf_text(" and ", Value::Null),
                    adf_text("wait", json!([{"type": "em"}])),
                    adf_text(" twice", Value::Null)]},
                {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [adf_text("let x = 1;", Value::Null)]}
            ]}),
            wiki: "Use {{retry()}} and _wait_ twice\n\n{code:rust}\nlet x = 1;\n{code}".into(),
            markdown: "Use `retry()` and *wait* twice\n\n```rust\nlet x = 1;\n```".into(),
        },
    ]
}

/// A comment body: `Comment {n}: **done**`.
pub fn comment_text(n: u64) -> Text {
    Text {
        adf: json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": format!("Comment {n}: ")},
            {"type": "text", "text": "done", "marks": [{"type": "strong"}]}]}]}),
        wiki: format!("Comment {n}: *done*"),
        markdown: format!("Comment {n}: **done**"),
    }
}

impl Data {
    /// `issues` generated issues over two projects and five users (the last inactive), the
    /// JIRA user in UTC+2. Issue `n` is updated an hour after T0 plus `n` minutes; every third
    /// has no description, every fifth is a sub-task of the one before, issue 4 has more
    /// comments than a search embeds, every fourth links to the one before.
    pub fn generate(deployment: Deployment, issues: usize, authorization: &str) -> Self {
        let users = (0..5)
            .map(|u| User {
                account_id: format!("5b10a2844c20165700ede2{u:02}"),
                name: format!("user{u}"),
                key: format!("JIRAUSER{}", 10_100 + u),
                display_name: format!("User {u}"),
                email: (u % 3 != 2).then(|| format!("user{u}@example.com")),
                active: u != 4,
            })
            .collect();
        let texts = descriptions();
        let mut next_id = 50_000_u64;
        let mut list = Vec::new();
        for n in 0..issues {
            let id = 10_000 + n as u64;
            let created = T0 + n as i64 * 60_000;
            let comments = (0..if n == 4 { 5 } else { n % 3 })
                .map(|k| {
                    next_id += 1;
                    Comment {
                        id: next_id,
                        author: (n + k) % 4,
                        body: comment_text(next_id),
                        created: created + 1_000 * (k as i64 + 1),
                        updated: created + 1_000 * (k as i64 + 1),
                    }
                })
                .collect();
            let histories = (0..1 + n % 2)
                .map(|k| {
                    next_id += 1;
                    History {
                        id: next_id,
                        author: k % 4,
                        created: created + 100 * (k as i64 + 1),
                        from: k % 3,
                        to: (k + 1) % 3,
                    }
                })
                .collect();
            let links = if n % 4 == 3 {
                next_id += 1;
                vec![Link {
                    id: next_id,
                    target: id - 1,
                    kind: n % 2,
                }]
            } else {
                Vec::new()
            };
            list.push(Issue {
                id,
                key: format!("{}-{}", PROJECTS[n % 2], n / 2 + 1),
                project: n % 2,
                summary: format!("Issue number {n}"),
                description: (n % 3 != 2).then(|| texts[n % texts.len()].clone()),
                status: n % 3,
                issue_type: if n % 5 == 4 { 3 } else { n % 3 },
                priority: (n % 4 != 0).then_some(n % 3),
                assignee: (n % 6 != 0).then_some(n % 4),
                reporter: (n + 1) % 4,
                labels: match n % 3 {
                    1 => vec!["backend".into()],
                    2 => vec!["ui".into(), "customer".into()],
                    _ => Vec::new(),
                },
                parent: (n % 5 == 4).then(|| id - 1),
                created,
                updated: T0 + 3_600_000 + n as i64 * 60_000,
                comments,
                links,
                histories,
            });
        }
        let mut data = Self {
            deployment,
            tz_minutes: 120,
            issues: list,
            users,
            failures: VecDeque::new(),
            authorization: Some(authorization.to_owned()),
            busy: std::time::Duration::ZERO,
            seen: Vec::new(),
            violations: Vec::new(),
            order: Vec::new(),
            by_id: HashMap::new(),
            children: HashMap::new(),
            inward: HashMap::new(),
        };
        data.reindex();
        data
    }

    /// Rebuilds the search order and the lookups from `issues`.
    fn reindex(&mut self) {
        let number = |key: &str| -> u64 {
            key.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        self.order = (0..self.issues.len()).collect();
        let issues = &self.issues;
        self.order
            .sort_by_key(|&i| (issues[i].updated, issues[i].project, number(&issues[i].key)));
        self.by_id = issues.iter().enumerate().map(|(n, i)| (i.id, n)).collect();
        self.children.clear();
        self.inward.clear();
        for (n, issue) in issues.iter().enumerate() {
            if let Some(parent) = issue.parent {
                self.children.entry(parent).or_default().push(n);
            }
            for link in &issue.links {
                self.inward
                    .entry(link.target)
                    .or_default()
                    .push((link.id, link.kind, issue.id));
            }
        }
    }

    /// The issue with this key.
    pub fn issue_mut(&mut self, key: &str) -> &mut Issue {
        self.issues
            .iter_mut()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("no issue {key}"))
    }

    /// The issue with this id.
    pub fn issue(&self, id: u64) -> Option<&Issue> {
        match self.by_id.get(&id) {
            Some(&n) if self.issues.get(n).is_some_and(|i| i.id == id) => Some(&self.issues[n]),
            _ => self.issues.iter().find(|i| i.id == id),
        }
    }

    fn cloud(&self) -> bool {
        self.deployment == Deployment::Cloud
    }

    fn text(&self, text: &Text) -> Value {
        if self.cloud() {
            text.adf.clone()
        } else {
            json!(text.wiki)
        }
    }

    fn stamp(&self, ms: i64) -> Value {
        json!(jira_timestamp(ms, self.tz_minutes))
    }
}

/// A JIRA timestamp: `2023-11-15T00:13:20.000+0200`.
pub fn jira_timestamp(ms: i64, tz_minutes: i32) -> String {
    let offset = time::UtcOffset::from_whole_seconds(tz_minutes * 60).expect("offset");
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .to_offset(offset);
    let sign = if tz_minutes < 0 { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
        tz_minutes.abs() / 60,
        tz_minutes.abs() % 60
    )
}

/// A fake JIRA on a local port.
#[derive(Debug, Clone)]
pub struct FakeJira {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    data: Arc<Mutex<Data>>,
}

impl FakeJira {
    /// Starts serving `data`.
    pub async fn start(data: Data) -> Self {
        let data = Arc::new(Mutex::new(data));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(data.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            data,
        }
    }

    /// Reads or changes what the fake holds.
    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        let mut data = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut data);
        data.reindex();
        out
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.with(|d| d.seen.clone())
    }

    /// The requests that change data (the connector's actions), in order.
    pub fn writes(&self) -> Vec<Seen> {
        self.with(|d| {
            d.seen
                .iter()
                .filter(|s| s.method != "GET" && !s.path.contains("/search"))
                .cloned()
                .collect()
        })
    }

    /// Requests that did not fit.
    pub fn violations(&self) -> Vec<String> {
        self.with(|d| d.violations.clone())
    }

    /// Answers the next request with `status`, these headers and a JIRA error body.
    pub fn fail_next(&self, status: u16, headers: &[(&str, &str)]) {
        self.with(|d| {
            d.failures.push_back(Failure {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
                body: json!({"errorMessages": ["Rate limit exceeded."], "errors": {}}),
            });
        });
    }
}

fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    if body.is_null() {
        return status.into_response();
    }
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json;charset=UTF-8",
        )],
        body.to_string(),
    )
        .into_response()
}

fn jira_error(status: u16, message: &str) -> Response {
    answer(status, &json!({"errorMessages": [message], "errors": {}}))
}

async fn handle(
    State(data): State<Arc<Mutex<Data>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut data = data.lock().unwrap_or_else(PoisonError::into_inner);
    let started = std::time::Instant::now();
    let response = respond(&mut data, &method, &uri, &headers, &body);
    data.busy += started.elapsed();
    response
}

/// Validates a request, then answers it.
fn respond(
    data: &mut Data,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
        authorization: header("authorization").map(str::to_owned),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    };
    data.seen.push(seen.clone());
    let context = format!("{method} {}", uri.path());
    let version = if data.cloud() {
        "/rest/api/3/"
    } else {
        "/rest/api/2/"
    };
    let Some(rest) = uri.path().strip_prefix(version) else {
        data.violations
            .push(format!("{context}: not under {version}"));
        return jira_error(404, "not found");
    };
    let mut problems = match openapi().check(
        method.as_str(),
        &uri.path().replacen("/rest/api/2/", "/rest/api/3/", 1),
        &query,
        header("content-type"),
        body,
        !data.cloud(),
    ) {
        Ok(deprecated) if deprecated && data.cloud() => {
            data.violations
                .push(format!("{context}: removed from Jira Cloud"));
            return jira_error(410, "The requested API has been removed. Please migrate.");
        }
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    };
    if header("cookie").is_some() {
        problems.push(format!("{context}: a cookie was sent"));
    }
    if !header("accept").is_some_and(|a| a.contains("application/json")) {
        problems.push(format!("{context}: without accept: application/json"));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if matches!(segments.as_slice(), ["search", ..]) {
        let fields: Vec<String> = if data.cloud() {
            seen.body["fields"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            seen.query("fields")
                .map(|f| f.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        if fields.is_empty() || fields.iter().any(|f| f.starts_with('*')) {
            problems.push(format!(
                "{context}: the fields are not listed explicitly: {fields:?}"
            ));
        }
        // The connector writes its JQL itself: JQL JIRA would refuse is its bug.
        let jql = seen.jql().unwrap_or_default();
        if let Err(why) = parse_jql(jql, data.tz_minutes, data.cloud()) {
            problems.push(format!("{context}: {why}"));
        }
    }
    if !problems.is_empty() {
        let message = problems.join("; ");
        data.violations.extend(problems);
        return jira_error(400, &message);
    }
    if data.authorization.is_some() && seen.authorization != data.authorization {
        return answer(
            401,
            &json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
        );
    }
    if let Some(failure) = data.failures.pop_front() {
        let mut response = answer(failure.status, &failure.body);
        for (name, value) in failure.headers {
            response.headers_mut().insert(
                HeaderName::try_from(name).expect("header name"),
                HeaderValue::try_from(value).expect("header value"),
            );
        }
        return response;
    }
    let (status, body) = match writes::route(data, method.as_str(), &segments, &seen) {
        Some(answer) => answer,
        None => route(data, method.as_str(), &segments, &seen),
    };
    if status == 404 && body.is_null() {
        data.violations
            .push(format!("{context}: the fake does not serve it"));
        return jira_error(404, "not found");
    }
    answer(status, &body)
}

fn number(seen: &Seen, name: &str, default: usize) -> usize {
    seen.query(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn route(data: &Data, method: &str, path: &[&str], seen: &Seen) -> (u16, Value) {
    match (method, path) {
        ("GET", ["myself"]) => (200, user_json(data, 0)),
        ("POST", ["search", "jql"]) if data.cloud() => search(data, seen),
        ("GET", ["search"]) if !data.cloud() => search(data, seen),
        ("GET", ["issue", id, "comment"]) => {
            let Some(issue) = find(data, id) else {
                return (
                    404,
                    json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
                );
            };
            let start = number(seen, "startAt", 0);
            let max = number(seen, "maxResults", 100);
            let comments: Vec<Value> = issue
                .comments
                .iter()
                .skip(start)
                .take(max)
                .map(|c| comment_json(data, issue, c))
                .collect();
            (
                200,
                json!({"comments": comments, "maxResults": max, "startAt": start, "total": issue.comments.len()}),
            )
        }
        ("GET", ["project", "search"]) if data.cloud() => {
            let start = number(seen, "startAt", 0);
            let max = number(seen, "maxResults", 50);
            let values: Vec<Value> = (0..PROJECTS.len())
                .skip(start)
                .take(max)
                .map(|p| project_json(data, p))
                .collect();
            let last = start + values.len() >= PROJECTS.len();
            (
                200,
                json!({"isLast": last, "maxResults": max, "startAt": start, "total": PROJECTS.len(), "values": values}),
            )
        }
        ("GET", ["project"]) if !data.cloud() => (
            200,
            Value::Array((0..PROJECTS.len()).map(|p| project_json(data, p)).collect()),
        ),
        ("GET", ["users", "search"]) if data.cloud() => users(data, seen),
        ("GET", ["user", "search"]) if !data.cloud() => {
            if seen.query("username") != Some(".") {
                return (
                    400,
                    json!({"errorMessages": ["The username query parameter was not provided"], "errors": {}}),
                );
            }
            users(data, seen)
        }
        _ => (404, Value::Null),
    }
}

fn find<'d>(data: &'d Data, key_or_id: &str) -> Option<&'d Issue> {
    key_or_id
        .parse()
        .ok()
        .and_then(|id| data.issue(id))
        .or_else(|| data.issues.iter().find(|i| i.key == key_or_id))
}

fn users(data: &Data, seen: &Seen) -> (u16, Value) {
    let start = number(seen, "startAt", 0);
    let max = number(seen, "maxResults", 50);
    let page: Vec<Value> = (start..data.users.len())
        .take(max)
        .map(|u| user_json(data, u))
        .collect();
    (200, Value::Array(page))
}

/// The JQL's lower bound on `updated` (`None`: unbounded), or JIRA's 400.
fn parse_jql(jql: &str, tz_minutes: i32, cloud: bool) -> Result<Option<i64>, String> {
    let Some(filter) = jql.strip_suffix("ORDER BY updated ASC, key ASC") else {
        return Err(format!(
            "Error in the JQL Query: unexpected ordering in {jql:?}"
        ));
    };
    let mut from = None;
    for clause in filter.split(" AND ").filter(|c| !c.trim().is_empty()) {
        let date = clause
            .trim()
            .strip_prefix("updated >= \"")
            .and_then(|d| d.strip_suffix('"'))
            .ok_or_else(|| format!("Error in the JQL Query: the fake does not know {clause:?}"))?;
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
        let local = time::PrimitiveDateTime::parse(date, format)
            .map_err(|e| format!("Date value '{date}' for field 'updated' is invalid: {e}"))?;
        let offset = time::UtcOffset::from_whole_seconds(tz_minutes * 60).expect("offset");
        let ms = local.assume_offset(offset).unix_timestamp() * 1000;
        from = Some(from.map_or(ms, |f: i64| f.max(ms)));
    }
    if from.is_none() && cloud {
        return Err("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into());
    }
    Ok(from)
}

fn search(data: &Data, seen: &Seen) -> (u16, Value) {
    let cloud = data.cloud();
    let jql = seen.jql().unwrap_or_default();
    let from = match parse_jql(jql, data.tz_minutes, cloud) {
        Ok(from) => from,
        Err(message) => return (400, json!({"errorMessages": [message], "errors": {}})),
    };
    let (fields, expand, max): (Vec<String>, String, usize) = if cloud {
        (
            seen.body["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            seen.body["expand"].as_str().unwrap_or_default().to_owned(),
            seen.body["maxResults"].as_u64().unwrap_or(50) as usize,
        )
    } else {
        (
            seen.query("fields")
                .unwrap_or_default()
                .split(',')
                .map(str::to_owned)
                .collect(),
            seen.query("expand").unwrap_or_default().to_owned(),
            number(seen, "maxResults", 50),
        )
    };
    let max = max.min(100);
    let first = from.map_or(0, |f| {
        data.order.partition_point(|&i| data.issues[i].updated < f)
    });
    let hits: Vec<&Issue> = data.order[first..]
        .iter()
        .map(|&i| &data.issues[i])
        .collect();
    // Tokens name the offset and the query they belong to, as opaque to the client as JIRA's.
    let digest = jql
        .bytes()
        .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let start = if cloud {
        match seen.body["nextPageToken"].as_str() {
            None => 0,
            Some(token) => match token
                .split_once('.')
                .filter(|(_, d)| *d == format!("{digest:x}"))
                .and_then(|(o, _)| o.parse().ok())
            {
                Some(offset) => offset,
                None => {
                    return (
                        400,
                        json!({"errorMessages": ["The provided next page token is invalid or expired."], "errors": {}}),
                    )
                }
            },
        }
    } else {
        number(seen, "startAt", 0)
    };
    let issues: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|i| issue_json(data, i, &fields, expand.contains("changelog")))
        .collect();
    let end = start + issues.len();
    if cloud {
        let mut page = json!({"issues": issues, "isLast": end >= hits.len()});
        if end < hits.len() {
            page["nextPageToken"] = json!(format!("{end}.{digest:x}"));
        }
        (200, page)
    } else {
        (
            200,
            json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": issues}),
        )
    }
}

fn issue_template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(ISSUE_EXAMPLE).expect("the example is JSON"))
}

/// A user, full (`myself`, user searches).
fn user_json(data: &Data, u: usize) -> Value {
    let user = &data.users[u];
    let mut json = if data.cloud() {
        json!({
            "self": format!("https://your-domain.atlassian.net/rest/api/3/user?accountId={}", user.account_id),
            "accountId": user.account_id, "accountType": "atlassian",
            "displayName": user.display_name, "active": user.active,
            "timeZone": "Europe/Athens", "locale": "en_US",
        })
    } else {
        json!({
            "self": format!("https://jira.example.com/rest/api/2/user?username={}", user.name),
            "key": user.key, "name": user.name,
            "displayName": user.display_name, "active": user.active, "timeZone": "Europe/Athens",
        })
    };
    if let Some(email) = &user.email {
        json["emailAddress"] = json!(email);
    }
    json
}

/// A user as issues and comments refer to them.
fn user_ref(data: &Data, u: usize) -> Value {
    let mut json = user_json(data, u);
    if let Some(o) = json.as_object_mut() {
        o.remove("timeZone");
        o.remove("locale");
    }
    json
}

fn project_json(data: &Data, p: usize) -> Value {
    let mut project = issue_template()["fields"]["project"].clone();
    let api = if data.cloud() { 3 } else { 2 };
    project["id"] = json!((10_000 + p).to_string());
    project["key"] = json!(PROJECTS[p]);
    project["name"] = json!(format!("Project {}", PROJECTS[p]));
    project["self"] = json!(format!(
        "https://your-domain.atlassian.net/rest/api/{api}/project/{}",
        10_000 + p
    ));
    project["projectTypeKey"] = json!("software");
    if let Some(o) = project.as_object_mut() {
        o.remove("insight");
    }
    project
}

fn comment_json(data: &Data, issue: &Issue, c: &Comment) -> Value {
    let mut json = issue_template()["fields"]["comment"][0].clone();
    json["id"] = json!(c.id.to_string());
    json["self"] = json!(format!(
        "https://your-domain.atlassian.net/rest/api/3/issue/{}/comment/{}",
        issue.id, c.id
    ));
    json["author"] = user_ref(data, c.author);
    json["updateAuthor"] = user_ref(data, c.author);
    json["body"] = data.text(&c.body);
    json["created"] = data.stamp(c.created);
    json["updated"] = data.stamp(c.updated);
    if let Some(o) = json.as_object_mut() {
        o.remove("visibility");
    }
    json
}

fn link_json(data: &Data, id: u64, kind: usize, other: u64, outward: bool) -> Value {
    let (name, inward, outward_text) = LINK_TYPES[kind];
    let key = data.issue(other).map(|i| i.key.clone()).unwrap_or_default();
    let side = json!({
        "id": other.to_string(), "key": key,
        "self": format!("https://your-domain.atlassian.net/rest/api/3/issue/{other}"),
        "fields": {"status": {"name": "Open", "iconUrl": "https://your-domain.atlassian.net/images/icons/statuses/open.png"}},
    });
    let mut json = json!({
        "id": id.to_string(),
        "type": {"id": (10_000 + kind).to_string(), "name": name, "inward": inward, "outward": outward_text},
    });
    json[if outward {
        "outwardIssue"
    } else {
        "inwardIssue"
    }] = side;
    json
}

/// An issue with only the fields asked for, as a search returns it.
fn issue_json(data: &Data, issue: &Issue, fields: &[String], changelog: bool) -> Value {
    let mut out = Map::new();
    for field in fields {
        let value = match field.as_str() {
            "summary" => json!(issue.summary),
            "status" => {
                let (name, category) = STATUSES[issue.status];
                json!({"name": name, "id": (issue.status + 1).to_string(), "statusCategory": {"key": category, "id": issue.status + 2}})
            }
            "issuetype" => {
                json!({"name": TYPES[issue.issue_type], "id": (10_001 + issue.issue_type).to_string(), "subtask": issue.issue_type == 3})
            }
            "priority" => issue.priority.map_or(Value::Null, |p| {
                json!({"name": PRIORITIES[p], "id": (p + 1).to_string()})
            }),
            "assignee" => issue.assignee.map_or(Value::Null, |u| user_ref(data, u)),
            "reporter" => user_ref(data, issue.reporter),
            "labels" => json!(issue.labels),
            "components" | "fixVersions" => json!([]),
            "parent" => issue.parent.and_then(|p| data.issue(p)).map_or(Value::Null, |p| {
                json!({"id": p.id.to_string(), "key": p.key, "fields": {"summary": p.summary}})
            }),
            "subtasks" => Value::Array(
                data.children
                    .get(&issue.id)
                    .into_iter()
                    .flatten()
                    .map(|&c| json!({"id": data.issues[c].id.to_string(), "key": data.issues[c].key}))
                    .collect(),
            ),
            "created" => data.stamp(issue.created),
            "updated" => data.stamp(issue.updated),
            "description" => issue
                .description
                .as_ref()
                .map_or(Value::Null, |d| data.text(d)),
            "project" => {
                let p = project_json(data, issue.project);
                json!({"id": p["id"], "key": p["key"], "name": p["name"], "self": p["self"], "projectTypeKey": "software"})
            }
            "resolution" => {
                if issue.status == 2 {
                    json!({"name": "Done", "id": "10000"})
                } else {
                    Value::Null
                }
            }
            "duedate" => Value::Null,
            "issuelinks" => {
                let outward = issue
                    .links
                    .iter()
                    .map(|l| link_json(data, l.id, l.kind, l.target, true));
                let inward = data
                    .inward
                    .get(&issue.id)
                    .into_iter()
                    .flatten()
                    .map(|&(id, kind, source)| link_json(data, id, kind, source, false));
                Value::Array(outward.chain(inward).collect())
            }
            "comment" => json!({
                "comments": issue.comments.iter().take(EMBEDDED_COMMENTS).map(|c| comment_json(data, issue, c)).collect::<Vec<_>>(),
                "maxResults": EMBEDDED_COMMENTS, "startAt": 0, "total": issue.comments.len(),
            }),
            _ => continue,
        };
        out.insert(field.clone(), value);
    }
    let api = if data.cloud() { 3 } else { 2 };
    let mut json = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id.to_string(),
        "key": issue.key,
        "self": format!("https://your-domain.atlassian.net/rest/api/{api}/issue/{}", issue.id),
        "fields": out,
    });
    if changelog {
        // All of them here (few): the latest first, as JIRA shows them.
        let histories: Vec<Value> = issue
            .histories
            .iter()
            .rev()
            .map(|h| {
                json!({
                    "id": h.id.to_string(),
                    "author": user_ref(data, h.author),
                    "created": data.stamp(h.created),
                    "items": [{
                        "field": "status", "fieldtype": "jira", "fieldId": "status",
                        "from": (h.from + 1).to_string(), "fromString": STATUSES[h.from].0,
                        "to": (h.to + 1).to_string(), "toString": STATUSES[h.to].0,
                    }],
                })
            })
            .collect();
        json["changelog"] = json!({"startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories});
    }
    json
}

// ---------------------------------------------------------------------------------------------
// Atlassian's OpenAPI document, as far as requests go.

struct Param {
    name: String,
    location: String,
    required: bool,
    kind: String,
    validator: jsonschema::Validator,
}

struct Operation {
    method: String,
    path: String,
    deprecated: bool,
    params: Vec<Param>,
    /// Whether a body is required, and its schema.
    body: Option<(bool, jsonschema::Validator)>,
}

struct OpenApi {
    operations: Vec<Operation>,
}

/// Query parameters Data Center's REST v2 takes that the Cloud document does not declare.
const DATA_CENTER_EXTRAS: &[(&str, &str)] = &[("/rest/api/3/user/search", "includeInactive")];

fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the OpenAPI extract is JSON");
        let schemas = agentic_sdk::testing::openapi_schema(&doc["components"]["schemas"]);
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if !["get", "post", "put", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let schema = agentic_sdk::testing::openapi_schema(&p["schema"]);
                        Param {
                            name: p["name"].as_str().unwrap_or_default().to_owned(),
                            location: p["in"].as_str().unwrap_or_default().to_owned(),
                            required: p["required"].as_bool().unwrap_or(false),
                            kind: schema["type"].as_str().unwrap_or("string").to_owned(),
                            validator: compile(&schema, &schemas),
                        }
                    })
                    .collect();
                let body = op.get("requestBody").and_then(|rb| {
                    let schema = rb.pointer("/content/application~1json/schema")?;
                    let required = rb["required"].as_bool().unwrap_or(false);
                    Some((
                        required,
                        compile(&agentic_sdk::testing::openapi_schema(schema), &schemas),
                    ))
                });
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    deprecated: op["deprecated"].as_bool().unwrap_or(false),
                    params,
                    body,
                });
            }
        }
        OpenApi { operations }
    })
}

impl OpenApi {
    /// Whether the operation is deprecated, or what does not fit.
    fn check(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: &[u8],
        data_center: bool,
    ) -> Result<bool, Vec<String>> {
        let fits = |template: &str| {
            let (t, p): (Vec<&str>, Vec<&str>) =
                (template.split('/').collect(), path.split('/').collect());
            t.len() == p.len()
                && t.iter()
                    .zip(&p)
                    .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
        };
        let on_path: Vec<&Operation> = self.operations.iter().filter(|o| fits(&o.path)).collect();
        if on_path.is_empty() {
            return Err(vec![format!(
                "{method} {path}: no such path in the document"
            )]);
        }
        let Some(op) = on_path.into_iter().find(|o| o.method == method) else {
            return Err(vec![format!("{method} {path}: the path has no {method}")]);
        };
        let context = format!("{method} {}", op.path);
        let mut problems = Vec::new();
        for (name, text) in query {
            let Some(param) = op
                .params
                .iter()
                .find(|p| p.location == "query" && p.name == *name)
            else {
                if !(data_center && DATA_CENTER_EXTRAS.contains(&(op.path.as_str(), name.as_str())))
                {
                    problems.push(format!(
                        "{context}: query parameter {name:?} is not declared"
                    ));
                }
                continue;
            };
            let value = match param.kind.as_str() {
                "integer" => text
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|e| e.to_string()),
                "boolean" => text
                    .parse::<bool>()
                    .map(Value::from)
                    .map_err(|e| e.to_string()),
                "array" => Ok(json!(text.split(',').collect::<Vec<_>>())),
                _ => Ok(json!(text)),
            };
            match value {
                Ok(value) => problems.extend(
                    param
                        .validator
                        .iter_errors(&value)
                        .map(|e| format!("{context}: {name} = {text:?}: {e}")),
                ),
                Err(e) => problems.push(format!("{context}: {name} = {text:?}: {e}")),
            }
        }
        for param in op
            .params
            .iter()
            .filter(|p| p.location == "query" && p.required)
        {
            if !query.iter().any(|(n, _)| *n == param.name) {
                problems.push(format!(
                    "{context}: query parameter {} is required",
                    param.name
                ));
            }
        }
        match (&op.body, body.is_empty()) {
            (None, false) => problems.push(format!("{context}: takes no body")),
            (Some((true, _)), true) => problems.push(format!("{context}: the body is required")),
            (Some((_, validator)), false) => {
                if !content_type.is_some_and(|c| c.starts_with("application/json")) {
                    problems.push(format!(
                        "{context}: a body without content-type application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(json) => problems.extend(
                        validator
                            .iter_errors(&json)
                            .map(|e| format!("{context}: body: {e} at {}", e.instance_path)),
                    ),
                    Err(e) => problems.push(format!("{context}: the body is not JSON: {e}")),
                }
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(op.deprecated)
        } else {
            Err(problems)
        }
    }
}

/// A draft 4 validator for `schema`, resolving `$ref`s into the document's components.
fn compile(schema: &Value, schemas: &Value) -> jsonschema::Validator {
    let root = json!({"components": {"schemas": schemas}, "allOf": [schema]});
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}
