//! A fake JIRA, Cloud or Data Center, for the connector's tests.
//!
//! Every request is first validated against Atlassian's OpenAPI document ([`openapi`]); a
//! request that does not fit is recorded in [`FakeJira::violations`] and answered 400, so a test
//! fails loudly. Rich text sent to Jira Cloud is validated against the ADF schema too. Answers
//! are built from Atlassian's example payloads (`issue_get_200.example.json` and the examples of
//! the document), with generated data: projects, users, issues with descriptions (some using
//! every ADF node), comments, histories, links and sub-tasks, timestamps in a configurable user
//! time zone. Searches honour the JQL the connector sends, the fields it asks for, `expand`,
//! page tokens (Cloud) and offsets with totals (Data Center); comments and histories beyond what
//! a search shows are served by their own paged endpoints.

#![allow(dead_code)] // Each test target uses part of the support.

mod answers;
pub mod jql;
pub mod openapi;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use agentic_sdk::testing::{Credential, FakeRequest, FakeResponse, FakeServer, Harness};
use jira::JiraConnector;
use serde_json::{json, Value};

use answers::{
    comment_json, comment_template, history_json, issue_json, project_json, transitions_json,
    user_json,
};
use openapi::OpenApi;

const ISSUE_EXAMPLE: &str = include_str!("../fixtures/issue_get_200.example.json");
const KITCHEN_SINK: &str = include_str!("../fixtures/adf-kitchen-sink.json");
const ADF_SCHEMA: &str = include_str!("../fixtures/adf-schema-v1-full.json");

/// The first issue's creation time: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
pub const PROJECTS: [&str; 2] = ["ED", "PR"];
pub const TYPES: [&str; 4] = ["Task", "Bug", "Story", "Sub-task"];
pub const STATUSES: [&str; 3] = ["To Do", "In Progress", "Done"];
pub const CATEGORIES: [&str; 3] = ["new", "indeterminate", "done"];
pub const PRIORITIES: [&str; 3] = ["High", "Medium", "Low"];
/// Comments a search shows per issue (JIRA shows a first page; the rest is paged).
pub const EMBEDDED_COMMENTS: usize = 5;
/// Histories a search shows per issue (the latest ones).
pub const EMBEDDED_HISTORIES: usize = 100;

/// Which JIRA the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Cloud,
    DataCenter,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub project: usize,
    pub summary: String,
    pub created: i64,
    pub updated: i64,
    pub status: usize,
    pub issue_type: usize,
    pub priority: Option<usize>,
    pub assignee: Option<usize>,
    pub reporter: usize,
    pub labels: Vec<String>,
    pub components: Vec<String>,
    pub parent: Option<u64>,
    pub description: Description,
    pub comments: Vec<CommentData>,
    pub histories: Vec<History>,
}

/// An issue's description, made into ADF when served (so 100 000 issues stay small).
#[derive(Debug, Clone)]
pub enum Description {
    None,
    /// The document using every ADF node and mark.
    KitchenSink,
    /// Two short blocks naming the issue's number.
    Simple(usize),
}

impl Description {
    fn adf(&self) -> Option<Value> {
        static SINK: OnceLock<Value> = OnceLock::new();
        match self {
            Description::None => None,
            Description::KitchenSink => Some(
                SINK.get_or_init(|| serde_json::from_str(KITCHEN_SINK).expect("json"))
                    .clone(),
            ),
            Description::Simple(i) => Some(json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": format!("Issue {i}: ")},
                    {"type": "text", "text": "steps", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": " to reproduce."}]},
                {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "open the page"}]}]}]}
            ]})),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CommentData {
    pub id: u64,
    pub author: usize,
    /// Plain text, served as one ADF paragraph (wiki markup on Data Center).
    pub body: String,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Clone)]
pub struct History {
    pub id: u64,
    pub author: usize,
    pub created: i64,
    pub from: usize,
    pub to: usize,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub id: u64,
    /// The issue on the outward side (`source blocks target`).
    pub source: u64,
    pub target: u64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub account_id: String,
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub active: bool,
}

/// What the fake holds; tests change it between reads.
pub struct Data {
    pub mode: Mode,
    /// The JIRA user's UTC offset (minutes): timestamps are written in it, JQL dates read in it.
    pub tz: i32,
    /// Sorted by (updated, key), as the connector's searches order.
    pub issues: Vec<Issue>,
    pub links: Vec<Link>,
    pub users: Vec<User>,
    /// Canned answers for the next requests (after validation), e.g. rate limits.
    pub failures: VecDeque<FakeResponse>,
    /// Every n-th request is refused with 429 and `Retry-After: 1`, as a tight rate limit does.
    pub throttle_every: Option<u64>,
    /// Requests answered or throttled so far (what `throttle_every` counts).
    pub served: u64,
    /// How many page tokens to refuse next (as when they expire).
    pub expire_tokens: u32,
    /// The credential every request must carry (as the host injects it), `None` to take any.
    pub credential: Option<Credential>,
    /// Answers are validated against the document's response schemas too.
    pub check_responses: bool,
    /// Time spent validating requests and building answers (for the benchmark).
    pub validate_time: Duration,
    pub answer_time: Duration,
    pub next_id: u64,
    /// Bodies of write requests, in order: (method and path, body).
    pub writes: Vec<(String, Value)>,
    /// Issue id → position in `issues`; issue key → position.
    index: HashMap<u64, usize>,
    keys: HashMap<String, usize>,
    /// Parent id → sub-task ids; issue id → its links (positions in `links`).
    children: HashMap<u64, Vec<u64>>,
    links_of: HashMap<u64, Vec<usize>>,
}

impl Data {
    /// Orders the issues as the connector's searches do.
    pub fn sort(&mut self) {
        self.issues.sort_by(|a, b| {
            a.updated
                .cmp(&b.updated)
                .then(a.project.cmp(&b.project))
                .then(key_number(&a.key).cmp(&key_number(&b.key)))
        });
        self.index = self
            .issues
            .iter()
            .enumerate()
            .map(|(n, i)| (i.id, n))
            .collect();
        self.keys = self
            .issues
            .iter()
            .enumerate()
            .map(|(n, i)| (i.key.clone(), n))
            .collect();
        self.children.clear();
        for issue in &self.issues {
            if let Some(parent) = issue.parent {
                self.children.entry(parent).or_default().push(issue.id);
            }
        }
        self.links_of.clear();
        for (n, link) in self.links.iter().enumerate() {
            self.links_of.entry(link.source).or_default().push(n);
            self.links_of.entry(link.target).or_default().push(n);
        }
    }

    /// Changes issue `id`: its `updated` becomes `at`.
    pub fn touch(&mut self, id: u64, at: i64) {
        if let Some(issue) = self.issues.iter_mut().find(|i| i.id == id) {
            issue.updated = at;
        }
        self.sort();
    }

    /// Adds a comment to issue `id` at `at` (the issue is updated then).
    pub fn comment(&mut self, id: u64, at: i64, text: &str) -> u64 {
        let comment_id = self.next_id;
        self.next_id += 1;
        if let Some(issue) = self.issues.iter_mut().find(|i| i.id == id) {
            issue.comments.push(CommentData {
                id: comment_id,
                author: 1,
                body: text.to_owned(),
                created: at,
                updated: at,
            });
            issue.updated = at;
        }
        self.sort();
        comment_id
    }

    pub fn issue(&self, id: u64) -> &Issue {
        &self.issues[self.index[&id]]
    }
}

fn key_number(key: &str) -> u64 {
    key.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn paragraph_doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// Generated data: `issues` issues over two projects, seven users.
pub fn generate(mode: Mode, issues: usize, tz: i32) -> Data {
    let users: Vec<User> = (0..7)
        .map(|u| User {
            account_id: format!("5b10a2844c20165700ede2{u:02}"),
            name: format!("user{u}"),
            display_name: format!("User {u}"),
            email: if u % 3 == 0 {
                String::new()
            } else {
                format!("user{u}@example.com")
            },
            active: u != 6,
        })
        .collect();
    let mut next_id = 50_000;
    let mut list = Vec::with_capacity(issues);
    let mut links = Vec::new();
    for i in 0..issues {
        let id = 10_000 + i as u64;
        let project = i % 2;
        let created = T0 + i as i64 * 60_000;
        // Updates 45 s apart, some at the same instant as the issue before.
        let updated = T0 + 3_600_000 + (i as i64 - i64::from(i % 10 == 4)) * 45_000;
        let comment_count = if i % 13 == 6 { 12 } else { i % 4 };
        let comments = (0..comment_count)
            .map(|k| {
                next_id += 1;
                let at = created + 1_000 * (k as i64 + 1);
                CommentData {
                    id: next_id,
                    author: (i + k) % 7,
                    body: format!("Comment {k} on issue {i} with **stars** & `ticks`"),
                    created: at,
                    updated: if k == 1 { at + 500 } else { at },
                }
            })
            .collect();
        let history_count = if i % 17 == 3 { 120 } else { i % 3 + 1 };
        let histories = (0..history_count)
            .map(|k| {
                next_id += 1;
                History {
                    id: next_id,
                    author: k % 7,
                    created: created + 100 * (k as i64 + 1),
                    from: k % 3,
                    to: (k + 1) % 3,
                }
            })
            .collect();
        if i % 3 == 0 && i > 0 {
            next_id += 1;
            links.push(Link {
                id: next_id,
                source: id,
                target: id - 1,
            });
        }
        let description = match i {
            _ if i % 50 == 0 => Description::KitchenSink,
            _ if i % 7 == 3 => Description::None,
            _ => Description::Simple(i),
        };
        list.push(Issue {
            id,
            key: format!("{}-{}", PROJECTS[project], i / 2 + 1),
            project,
            summary: format!("Issue number {i}"),
            created,
            updated,
            status: i % 3,
            issue_type: if i % 5 == 4 { 3 } else { i % 3 },
            priority: (i % 4 != 0).then_some(i % 3),
            assignee: (i % 6 != 0).then_some(i % 7),
            reporter: (i + 3) % 7,
            labels: match i % 4 {
                1 => vec!["backend".into()],
                2 => vec!["ui".into(), "customer".into()],
                _ => Vec::new(),
            },
            components: if i % 5 == 0 {
                vec!["API".into()]
            } else {
                Vec::new()
            },
            parent: (i % 5 == 4).then(|| id - 1),
            description,
            comments,
            histories,
        });
    }
    let mut data = Data {
        mode,
        tz,
        issues: list,
        links,
        users,
        failures: VecDeque::new(),
        throttle_every: None,
        served: 0,
        expire_tokens: 0,
        credential: None,
        check_responses: false,
        validate_time: Duration::ZERO,
        answer_time: Duration::ZERO,
        next_id,
        writes: Vec::new(),
        index: HashMap::new(),
        keys: HashMap::new(),
        children: HashMap::new(),
        links_of: HashMap::new(),
    };
    data.sort();
    data
}

/// A fake JIRA on a local port.
pub struct FakeJira {
    server: FakeServer,
    data: Arc<Mutex<Data>>,
    violations: Arc<Mutex<Vec<String>>>,
}

fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(OpenApi::load)
}

fn adf_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema: Value = serde_json::from_str(ADF_SCHEMA).expect("json");
        jsonschema::validator_for(&schema).expect("compiles")
    })
}

impl FakeJira {
    /// A fake of `mode` with `issues` generated issues, its user in UTC+1, that answers only
    /// requests carrying the credential of [`FakeJira::credential`]: an API token (Cloud) or a
    /// personal access token (Data Center).
    pub fn start(mode: Mode, issues: usize) -> Self {
        let mut data = generate(mode, issues, 60);
        data.credential = Some(match mode {
            Mode::Cloud => Credential::ApiToken {
                email: "bot@example.com".into(),
                token: "ATATT3xFfGF0-cloud-api-token".into(),
            },
            Mode::DataCenter => Credential::Bearer("NjE2OTk2-data-center-pat".into()),
        });
        Self::with_data(data)
    }

    /// The credential requests must carry, if any: what the connection would hold.
    pub fn credential(&self) -> Option<Credential> {
        self.with(|d| d.credential.clone())
    }

    /// A fake serving `data`.
    pub fn with_data(data: Data) -> Self {
        let data = Arc::new(Mutex::new(data));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let (data, violations) = (data.clone(), violations.clone());
            FakeServer::start(move |request| {
                let mut data = data.lock().unwrap_or_else(PoisonError::into_inner);
                let (response, problems) = handle(&mut data, request);
                if !problems.is_empty() {
                    violations
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(problems);
                }
                response
            })
        };
        Self {
            server,
            data,
            violations,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn mode(&self) -> Mode {
        self.with(|d| d.mode)
    }

    /// A configuration for the connector on this JIRA (whose address is the connection's base
    /// URL: see [`FakeJira::harness`]).
    pub fn config(&self, page_size: u32) -> Value {
        json!({
            "deployment": if self.mode() == Mode::Cloud { "cloud" } else { "data-center" },
            "page_size": page_size,
        })
    }

    /// The connector, called as for a connection whose base URL is this JIRA and whose
    /// credential is [`FakeJira::credential`] (put on each request as the host does).
    pub fn harness(&self) -> Harness<JiraConnector> {
        let harness = Harness::new(JiraConnector).with_base_url(self.url());
        match self.credential() {
            Some(credential) => harness.with_credential(credential),
            None => harness,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    /// Requests that did not fit the OpenAPI document (or ADF schema).
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fails the test if any request did not fit the document.
    pub fn assert_valid(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "requests outside Atlassian's OpenAPI document:\n{}",
            violations.join("\n")
        );
        assert!(!self.requests().is_empty(), "the fake saw no request");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

fn error(status: u16, message: &str) -> FakeResponse {
    FakeResponse::json(&json!({"errorMessages": [message], "errors": {}})).with_status(status)
}

/// Validates, then answers. Returns the answer and the problems found.
fn handle(data: &mut Data, request: &FakeRequest) -> (FakeResponse, Vec<String>) {
    let dc = data.mode == Mode::DataCenter;
    let version = if dc { "/rest/api/2/" } else { "/rest/api/3/" };
    let mut problems = Vec::new();
    if !request.path.starts_with(version) {
        problems.push(format!(
            "{} {}: not under {version}",
            request.method, request.path
        ));
        return (error(404, "not found"), problems);
    }
    if let Some(credential) = &data.credential {
        let expected = credential.headers();
        if request.header("authorization") != Some(expected[0].1.as_str()) {
            // What JIRA answers a request without (or with a wrong) credential.
            let answer = error(401, "Client must be authenticated to access this resource.")
                .with_header("WWW-Authenticate", "Basic realm=\"protected-area\"");
            return (answer, problems);
        }
    }
    let started = Instant::now();
    let op = match openapi().validate(
        &request.method,
        &request.path,
        &request.query,
        request.header("content-type"),
        &request.body,
        dc,
    ) {
        Ok(op) => op,
        Err(found) => {
            let answer = error(400, &found.join("; "));
            return (answer, found);
        }
    };
    if !dc && op.deprecated {
        problems.push(format!(
            "{} {}: deprecated, removed from Jira Cloud",
            request.method, op.path
        ));
        return (error(410, "The requested API has been removed."), problems);
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if !dc {
        for pointer in ["/fields/description", "/body", "/update/comment/0/add/body"] {
            if let Some(doc) = body.pointer(pointer).filter(|v| !v.is_null()) {
                let errors: Vec<String> = adf_schema()
                    .iter_errors(doc)
                    .take(3)
                    .map(|e| format!("{} {}: {pointer} is not ADF: {e}", request.method, op.path))
                    .collect();
                problems.extend(errors);
            }
        }
    }
    data.validate_time += started.elapsed();
    if let Some(failure) = data.failures.pop_front() {
        return (failure, problems);
    }
    data.served += 1;
    if data
        .throttle_every
        .is_some_and(|n| data.served.is_multiple_of(n))
    {
        return (
            error(429, "Rate limit exceeded").with_header("Retry-After", "1"),
            problems,
        );
    }
    let started = Instant::now();
    let path = &request.path[version.len()..];
    let segments: Vec<&str> = path.split('/').collect();
    let (status, answer) = route(data, request, &segments, &body);
    if data.check_responses && (200..300).contains(&status) && !answer.is_null() {
        problems.extend(openapi().check_response(op, status, &answer));
    }
    let response = if answer.is_null() {
        FakeResponse::status(status)
    } else {
        FakeResponse::json(&answer).with_status(status)
    };
    data.answer_time += started.elapsed();
    (response, problems)
}

fn route(data: &mut Data, request: &FakeRequest, path: &[&str], body: &Value) -> (u16, Value) {
    let method = request.method.as_str();
    let query = |name: &str| request.query(name);
    match (method, path) {
        ("GET", ["myself"]) => (200, user_json(data, 0)),
        ("POST", ["search", "jql"]) => search_cloud(data, body),
        ("GET", ["search"]) => search_dc(data, request),
        ("GET", ["project", "search"]) => projects_cloud(data, request),
        ("GET", ["project"]) => (
            200,
            Value::Array((0..PROJECTS.len()).map(|p| project_json(data, p)).collect()),
        ),
        ("GET", ["users", "search"]) => users_page(data, request),
        ("GET", ["user", "search"]) => users_page(data, request),
        ("GET", ["issue", key, "comment"]) => match find(data, key) {
            Some(i) => comments_page(data, i, request),
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
            ),
        },
        ("GET", ["issue", key, "changelog"]) => match find(data, key) {
            Some(i) => changelog_page(data, i, request),
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        ("GET", ["issue", key]) => match find(data, key) {
            Some(i) => {
                let fields: Vec<String> = query("fields")
                    .unwrap_or("*all")
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                let expand = query("expand").is_some_and(|e| e.contains("changelog"));
                (200, issue_json(data, i, &fields, expand, true))
            }
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        ("POST", ["issue"]) => create_issue(data, body),
        ("PUT", ["issue", key]) => match find(data, key) {
            Some(_) => {
                data.writes.push((format!("PUT issue/{key}"), body.clone()));
                (204, Value::Null)
            }
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        ("POST", ["issue", key, "comment"]) => match find(data, key) {
            Some(i) => {
                data.writes
                    .push((format!("POST issue/{key}/comment"), body.clone()));
                let id = data.next_id;
                data.next_id += 1;
                let mut comment = comment_template();
                comment["id"] = json!(id.to_string());
                comment["body"] = body["body"].clone();
                comment["self"] = json!(format!(
                    "https://your-domain.atlassian.net/rest/api/3/issue/{}/comment/{id}",
                    data.issues[i].id
                ));
                (201, comment)
            }
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        ("GET", ["issue", key, "transitions"]) => match find(data, key) {
            Some(i) => (200, transitions_json(data, i)),
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        ("POST", ["issue", key, "transitions"]) => match find(data, key) {
            Some(i) => {
                let wanted = body["transition"]["id"].as_str().unwrap_or_default();
                match wanted
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (11..11 + STATUSES.len()).contains(t))
                {
                    Some(t) => {
                        data.writes
                            .push((format!("POST issue/{key}/transitions"), body.clone()));
                        data.issues[i].status = t - 11;
                        (204, Value::Null)
                    }
                    None => (
                        400,
                        json!({"errorMessages": [format!("Transition id '{wanted}' is not valid for this issue.")], "errors": {}}),
                    ),
                }
            }
            None => (
                404,
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
            ),
        },
        _ => (404, json!({"errorMessages": ["not found"], "errors": {}})),
    }
}

/// The index of the issue with this key or id.
fn find(data: &Data, key: &str) -> Option<usize> {
    data.keys
        .get(key)
        .or_else(|| key.parse().ok().and_then(|id: u64| data.index.get(&id)))
        .copied()
}

/// Issues matching `jql` from index `start` of the sorted list: indices.
fn matching(data: &Data, jql: &str) -> Result<Vec<usize>, (u16, Value)> {
    let bad = |m: String| (400, json!({"errorMessages": [m], "errors": {}}));
    let filter =
        jql::parse(jql, data.tz).map_err(|e| bad(format!("Error in the JQL Query: {e}")))?;
    let Some(filter) = filter else {
        if data.mode == Mode::Cloud {
            return Err(bad("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into()));
        }
        return Ok((0..data.issues.len()).collect());
    };
    let start = filter
        .updated_from()
        .map_or(0, |from| data.issues.partition_point(|i| i.updated < from));
    let projects: Vec<String> = PROJECTS.iter().map(|p| (*p).to_owned()).collect();
    Ok((start..data.issues.len())
        .filter(|&i| filter.matches(&data.issues[i], &projects, &TYPES, &STATUSES))
        .collect())
}

fn search_cloud(data: &mut Data, body: &Value) -> (u16, Value) {
    let jql = body["jql"].as_str().unwrap_or_default();
    let max = body["maxResults"].as_u64().unwrap_or(50).min(100) as usize;
    let fields: Vec<String> = body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec!["id".into()]);
    let expand = body["expand"]
        .as_str()
        .is_some_and(|e| e.contains("changelog"));
    let hash = jql
        .bytes()
        .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let offset = match body["nextPageToken"].as_str() {
        None => 0,
        Some(token) => {
            let parsed = token
                .strip_prefix("page-")
                .and_then(|t| t.split_once('-'))
                .and_then(|(offset, h)| {
                    (h == format!("{hash:x}"))
                        .then(|| offset.parse::<usize>().ok())
                        .flatten()
                });
            if data.expire_tokens > 0 {
                data.expire_tokens -= 1;
                return (
                    400,
                    json!({"errorMessages": ["The provided next page token is invalid or expired."], "errors": {}}),
                );
            }
            match parsed {
                Some(offset) => offset,
                _ => {
                    return (
                        400,
                        json!({"errorMessages": ["The provided next page token is invalid or expired."], "errors": {}}),
                    )
                }
            }
        }
    };
    let hits = match matching(data, jql) {
        Ok(hits) => hits,
        Err(answer) => return answer,
    };
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|&i| issue_json(data, i, &fields, expand, false))
        .collect();
    let end = offset + page.len();
    let mut answer = json!({"issues": page, "isLast": end >= hits.len()});
    if end < hits.len() {
        answer["nextPageToken"] = json!(format!("page-{end}-{hash:x}"));
    }
    (200, answer)
}

fn search_dc(data: &mut Data, request: &FakeRequest) -> (u16, Value) {
    let jql = request.query("jql").unwrap_or_default();
    let start: usize = request
        .query("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = request
        .query("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
        .min(100);
    let fields: Vec<String> = request
        .query("fields")
        .unwrap_or("*navigable")
        .split(',')
        .map(str::to_owned)
        .collect();
    let expand = request
        .query("expand")
        .is_some_and(|e| e.contains("changelog"));
    let hits = match matching(data, jql) {
        Ok(hits) => hits,
        Err(answer) => return answer,
    };
    let issues: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|&i| issue_json(data, i, &fields, expand, false))
        .collect();
    (
        200,
        json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": issues}),
    )
}

fn projects_cloud(data: &Data, request: &FakeRequest) -> (u16, Value) {
    let start: usize = request
        .query("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = request
        .query("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let keys: Option<Vec<&str>> = request.query("keys").map(|k| k.split(',').collect());
    let all: Vec<usize> = (0..PROJECTS.len())
        .filter(|p| keys.as_ref().is_none_or(|k| k.contains(&PROJECTS[*p])))
        .collect();
    let values: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|&p| project_json(data, p))
        .collect();
    let last = start + values.len() >= all.len();
    (
        200,
        json!({"isLast": last, "maxResults": max, "startAt": start, "total": all.len(), "values": values}),
    )
}

fn users_page(data: &Data, request: &FakeRequest) -> (u16, Value) {
    let start: usize = request
        .query("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = request
        .query("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let users: Vec<Value> = (start..data.users.len())
        .take(max)
        .map(|u| user_json(data, u))
        .collect();
    (200, Value::Array(users))
}

fn comments_page(data: &Data, i: usize, request: &FakeRequest) -> (u16, Value) {
    let start: usize = request
        .query("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = request
        .query("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let issue = &data.issues[i];
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

fn changelog_page(data: &Data, i: usize, request: &FakeRequest) -> (u16, Value) {
    let start: usize = request
        .query("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = request
        .query("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let issue = &data.issues[i];
    let values: Vec<Value> = issue
        .histories
        .iter()
        .skip(start)
        .take(max)
        .map(|h| history_json(data, h))
        .collect();
    let last = start + values.len() >= issue.histories.len();
    (
        200,
        json!({"isLast": last, "maxResults": max, "startAt": start, "total": issue.histories.len(), "values": values}),
    )
}

fn create_issue(data: &mut Data, body: &Value) -> (u16, Value) {
    let fields = &body["fields"];
    let project_key = fields["project"]["key"].as_str();
    let project = match project_key.and_then(|k| PROJECTS.iter().position(|p| *p == k)) {
        Some(p) => p,
        None => {
            return (
                400,
                json!({"errorMessages": [], "errors": {"project": "valid project is required"}}),
            )
        }
    };
    if fields["summary"].as_str().is_none_or(str::is_empty) {
        return (
            400,
            json!({"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}),
        );
    }
    data.writes.push(("POST issue".into(), body.clone()));
    let id = data.next_id;
    data.next_id += 1;
    let number = data.issues.iter().filter(|i| i.project == project).count() + 1;
    let key = format!("{}-{number}", PROJECTS[project]);
    let mut created = openapi().example("POST", "/rest/api/3/issue", "201");
    created["id"] = json!(id.to_string());
    created["key"] = json!(key);
    created["self"] = json!(format!(
        "https://your-domain.atlassian.net/rest/api/3/issue/{id}"
    ));
    if let Some(object) = created.as_object_mut() {
        object.remove("transition");
        object.remove("watchers");
    }
    (201, created)
}
