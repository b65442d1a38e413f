//! A fake GitHub REST API on the SDK's `FakeServer`, behaving as GitHub's documentation says:
//! every request is first checked against the published OpenAPI description (a request that
//! does not fit is answered 400 and remembered: [`FakeGithub::assert_conforms`]); lists filter
//! by `state` and `since` (inclusive), sort by `sort`/`direction`, page by `per_page`/`page`
//! (30 by default, at most 100) with a `Link` header whose URLs name the repository by id, as
//! GitHub's do (`/repositories/1000/issues?page=2`); each answer has an `ETag`, and a request
//! whose `If-None-Match` names it gets `304 Not Modified`. A pull request's reviews
//! (`…/pulls/{number}/reviews`) are listed in chronological order (by id), paged the same way,
//! and a number with no pull request is a `404`. Faults queued with
//! [`FakeGithub::fail_next`] answer the next requests instead.
//!
//! Writes (`POST …/issues`, `POST …/issues/{number}/comments`) have their JSON bodies checked
//! against the operation's request schema (and no undeclared field), create the object (a
//! comment updates its issue's `updated_at`, as on GitHub) and answer `201` with it.
//!
//! It answers at the root, as api.github.com, and under `/api/v3`, as GitHub Enterprise Server.
//!
//! Objects are GitHub's own: issues from the octokit fixture (`tests/fixtures/github/`), pull
//! requests and comments from the description's examples, with their fields set per item.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};
use agentic_sdk::time::parse_rfc3339;
use serde_json::{json, Value};

use super::openapi::Description;

/// The repository the fake serves.
pub const OWNER: &str = "octokit-fixture-org";
/// Its name.
pub const REPO: &str = "paginate-issues";
/// `owner/name`.
pub const REPOSITORY: &str = "octokit-fixture-org/paginate-issues";

/// What the fake holds; tests change it between reads.
#[derive(Debug, Default)]
pub struct Data {
    /// Issues and pull requests as the issues list shows them.
    pub issues: Vec<Value>,
    /// Pull requests as the pulls list shows them.
    pub pulls: Vec<Value>,
    /// Conversation comments.
    pub issue_comments: Vec<Value>,
    /// Review comments.
    pub review_comments: Vec<Value>,
    /// Pull request reviews (each names its pull request in `pull_request_url`).
    pub reviews: Vec<Value>,
    /// Answers given instead of the next requests' (after the description check).
    pub faults: VecDeque<FakeResponse>,
    /// Requests (and the fake's answers) that did not fit the description.
    pub violations: Vec<String>,
    /// `304` answers given.
    pub not_modified: usize,
    /// Writes accepted (`POST /issues`, `POST /issues/{n}/comments`): the path and the body.
    pub writes: Vec<(String, Value)>,
}

/// The running fake.
pub struct FakeGithub {
    server: FakeServer,
    data: Arc<Mutex<Data>>,
}

impl FakeGithub {
    /// Serves `data`, checking requests against `api`.
    pub fn start(api: Arc<Description>, data: Data) -> Self {
        let data = Arc::new(Mutex::new(data));
        let server = {
            let data = data.clone();
            FakeServer::start(move |request| {
                let mut data = data.lock().unwrap_or_else(PoisonError::into_inner);
                answer(&api, &mut data, request)
            })
        };
        Self { server, data }
    }

    /// The API's base URL (the connection's).
    pub fn url(&self) -> String {
        format!("{}/", self.server.url().trim_end_matches('/'))
    }

    /// Runs `f` on the data.
    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Answers the next request with `response` (after the description check).
    pub fn fail_next(&self, response: FakeResponse) {
        self.with(|d| d.faults.push_back(response));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    /// Panics listing every request, and every answer of the fake, that did not fit GitHub's
    /// description.
    pub fn assert_conforms(&self) {
        let violations = self.with(|d| d.violations.clone());
        assert!(
            violations.is_empty(),
            "requests or answers outside GitHub's OpenAPI description:\n{}",
            violations.join("\n")
        );
        assert!(!self.requests().is_empty(), "no request reached the fake");
    }
}

/// A GitHub error answer, its body shaped as the octokit errors fixture's (`message`,
/// `documentation_url`, without the validation `errors`) and its headers as GitHub sends them.
pub fn error(status: u16, message: &str) -> FakeResponse {
    static FIXTURE: &str =
        include_str!("../fixtures/github/octokit-fixtures_errors.normalized-fixture.json");
    let fixture: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let mut body = fixture[0]["response"].clone();
    body["message"] = json!(message);
    if let Some(fields) = body.as_object_mut() {
        fields.remove("errors");
    }
    FakeResponse::json(&body)
        .with_status(status)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_header("x-github-media-type", "github.v3; format=json")
}

/// GitHub Enterprise Server serves the same API under this prefix.
pub const ENTERPRISE_PREFIX: &str = "/api/v3";

fn answer(api: &Description, data: &mut Data, request: &FakeRequest) -> FakeResponse {
    let mut request = request.clone();
    if let Some(rest) = request.path.strip_prefix(ENTERPRISE_PREFIX) {
        request.path = rest.to_owned();
    }
    let request = &request;
    let template = match api.check(&request.method, &request.path, &request.query) {
        Ok(template) => template,
        Err(problems) => {
            data.violations.extend(problems.iter().cloned());
            return error(400, &problems.join("; "));
        }
    };
    if let Some(fault) = data.faults.pop_front() {
        return fault;
    }
    let repo = format!("/repos/{OWNER}/{REPO}");
    let Some(rest) = request.path.strip_prefix(&repo) else {
        return error(404, "Not Found");
    };
    if request.method == "POST" {
        let problems = api.check_request(&request.method, &template, &request.body);
        if !problems.is_empty() {
            data.violations.extend(problems.iter().cloned());
            return error(422, &problems.join("; "));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let created = match write(api, data, rest, &body) {
            Ok(created) => created,
            Err(response) => return response,
        };
        data.writes.push((rest.to_owned(), body));
        let problems = api.check_response(&request.method, &template, 201, &created);
        data.violations.extend(problems);
        return FakeResponse::json(&created)
            .with_status(201)
            .with_header("content-type", "application/json; charset=utf-8");
    }
    if let Some(number) = rest
        .strip_prefix("/pulls/")
        .and_then(|r| r.strip_suffix("/reviews"))
    {
        return reviews(api, data, request, &template, number, rest);
    }
    let (list, has_since) = match rest {
        "" => {
            let repo = repository(api);
            let problems = api.check_response(&request.method, &template, 200, &repo);
            data.violations.extend(problems);
            return conditional(request, &repo, None);
        }
        "/issues" => (&data.issues, true),
        "/pulls" => (&data.pulls, false),
        "/issues/comments" => (&data.issue_comments, true),
        "/pulls/comments" => (&data.review_comments, true),
        _ => return error(404, "Not Found"),
    };
    let (page, link) = match list_page(list, request, has_since, true, rest) {
        Ok(page) => page,
        Err(message) => return error(422, &message),
    };
    let page = Value::Array(page);
    let problems = api.check_response(&request.method, &template, 200, &page);
    data.violations.extend(problems);
    let response = conditional(request, &page, link);
    if response.status == 304 {
        data.not_modified += 1;
    }
    response
}

/// `GET …/pulls/{number}/reviews`: the pull request's reviews, oldest first, paged.
fn reviews(
    api: &Description,
    data: &mut Data,
    request: &FakeRequest,
    template: &str,
    number: &str,
    rest: &str,
) -> FakeResponse {
    let Some(number) = number
        .parse::<u64>()
        .ok()
        .filter(|n| data.pulls.iter().any(|p| p["number"].as_u64() == Some(*n)))
    else {
        return error(404, "Not Found");
    };
    let suffix = format!("/pulls/{number}");
    let list: Vec<Value> = data
        .reviews
        .iter()
        .filter(|r| {
            r["pull_request_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(&suffix))
        })
        .cloned()
        .collect();
    let (page, link) = match list_page(&list, request, false, false, rest) {
        Ok(page) => page,
        Err(message) => return error(422, &message),
    };
    let page = Value::Array(page);
    let problems = api.check_response(&request.method, template, 200, &page);
    data.violations.extend(problems);
    conditional(request, &page, link)
}

/// The answer with its ETag, or `304` when `If-None-Match` names it.
fn conditional(request: &FakeRequest, body: &Value, link: Option<String>) -> FakeResponse {
    let text = body.to_string();
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let mut response = if request.header("if-none-match") == Some(etag.as_str()) {
        FakeResponse::status(304)
    } else {
        FakeResponse::json(body).with_header("content-type", "application/json; charset=utf-8")
    };
    response = response
        .with_header("etag", &etag)
        .with_header("x-ratelimit-limit", "5000")
        .with_header("x-ratelimit-remaining", "4999")
        .with_header("x-ratelimit-resource", "core");
    if let Some(link) = link {
        response = response.with_header("link", &link);
    }
    response
}

fn time(item: &Value, field: &str) -> i64 {
    item[field].as_str().and_then(parse_rfc3339).unwrap_or(0)
}

/// One page of `list` as the request asks, and its `Link` header.
fn list_page(
    list: &[Value],
    request: &FakeRequest,
    has_since: bool,
    has_state: bool,
    rest: &str,
) -> Result<(Vec<Value>, Option<String>), String> {
    let state = if has_state {
        request.query("state").unwrap_or("open")
    } else {
        "all"
    };
    let since = match request.query("since").filter(|_| has_since) {
        Some(s) => Some(parse_rfc3339(s).ok_or(format!("since {s:?} is not a time"))?),
        None => None,
    };
    let sort_field = match request.query("sort").unwrap_or("created") {
        "updated" => "updated_at",
        _ => "created_at",
    };
    let mut items: Vec<&Value> = list
        .iter()
        .filter(|i| state == "all" || i.get("state").is_none() || i["state"] == state)
        .filter(|i| since.is_none_or(|s| time(i, "updated_at") >= s))
        .collect();
    items.sort_by_key(|i| (time(i, sort_field), i["id"].as_u64()));
    // Comments and reviews sort ascending by default, issues and pulls descending.
    let default_desc = !(rest.ends_with("/comments") || rest.ends_with("/reviews"));
    let desc = match request.query("direction") {
        Some(d) => d == "desc",
        None => default_desc,
    };
    if desc {
        items.reverse();
    }
    let per_page: usize = request
        .query("per_page")
        .map_or(Ok(30), str::parse)
        .map_err(|e| format!("per_page: {e}"))?;
    let per_page = per_page.clamp(1, 100);
    let page: usize = request
        .query("page")
        .map_or(Ok(1), str::parse)
        .map_err(|e| format!("page: {e}"))?;
    let start = (page.max(1) - 1) * per_page;
    let last = items.len().div_ceil(per_page).max(1);
    let body = items
        .iter()
        .skip(start)
        .take(per_page)
        .map(|v| (*v).clone())
        .collect();
    // GitHub's links name the repository by id and repeat the query with another page.
    let query: Vec<String> = request
        .query
        .iter()
        .filter(|(n, _)| n != "page")
        .map(|(n, v)| format!("{n}={}", agentic_sdk::http::encode(v)))
        .collect();
    let url = |p: usize| {
        format!(
            "<https://api.github.com/repositories/1000{rest}?{}&page={p}>",
            query.join("&")
        )
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        links.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    Ok((body, (!links.is_empty()).then(|| links.join(", "))))
}

/// The repository, from the description's example.
fn repository(api: &Description) -> Value {
    let mut repo = api.example("full-repository");
    repo["name"] = json!(REPO);
    repo["full_name"] = json!(REPOSITORY);
    repo["owner"]["login"] = json!(OWNER);
    repo["private"] = json!(false);
    repo["has_issues"] = json!(true);
    repo["open_issues_count"] = json!(4);
    // Required by the schema, missing from the example.
    repo["has_discussions"] = json!(false);
    repo
}

/// A minute after the newest `updated_at` the fake holds: the time of a write.
fn next_time(data: &Data) -> String {
    let newest = data
        .issues
        .iter()
        .chain(&data.issue_comments)
        .chain(&data.review_comments)
        .map(|i| time(i, "updated_at"))
        .max()
        .unwrap_or(0);
    agentic_sdk::time::format_rfc3339(newest + 60_000).replace(".000Z", "Z")
}

/// A write on `rest` (under the repository): the created object, as GitHub answers it.
fn write(
    api: &Description,
    data: &mut Data,
    rest: &str,
    body: &Value,
) -> Result<Value, FakeResponse> {
    let now = next_time(data);
    if rest == "/issues" {
        let number = data
            .issues
            .iter()
            .filter_map(|i| i["number"].as_u64())
            .max()
            .unwrap_or(0)
            + 1;
        let mut issue = super::issue(api, number, "", "", 0);
        issue["title"] = body["title"].clone();
        issue["body"] = body.get("body").cloned().unwrap_or(Value::Null);
        let labels: Vec<Value> = body["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(super::label)
            .collect();
        issue["labels"] = json!(labels);
        let assignees: Vec<Value> = body["assignees"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|login| super::user(api, login))
            .collect();
        issue["assignee"] = assignees.first().cloned().unwrap_or(Value::Null);
        issue["assignees"] = json!(assignees);
        issue["user"] = super::user(api, "sync-bot");
        issue["created_at"] = json!(now);
        issue["updated_at"] = json!(now);
        issue["comments"] = json!(0);
        data.issues.push(issue.clone());
        return Ok(issue);
    }
    let number = rest
        .strip_prefix("/issues/")
        .and_then(|r| r.strip_suffix("/comments"))
        .and_then(|n| n.parse::<u64>().ok());
    let Some(issue) = number.and_then(|n| data.issues.iter_mut().find(|i| i["number"] == n)) else {
        return Err(error(404, "Not Found"));
    };
    // A comment updates its issue, as on GitHub.
    issue["updated_at"] = json!(now);
    issue["comments"] = json!(issue["comments"].as_u64().unwrap_or(0) + 1);
    let number = issue["number"].as_u64().unwrap_or_default();
    let id = data
        .issue_comments
        .iter()
        .filter_map(|c| c["id"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let mut comment = super::issue_comment(api, id, number, "", 0);
    comment["body"] = body["body"].clone();
    comment["user"] = super::user(api, "sync-bot");
    comment["html_url"] = json!(format!(
        "https://github.com/{REPOSITORY}/issues/{number}#issuecomment-{id}"
    ));
    comment["created_at"] = json!(now);
    comment["updated_at"] = json!(now);
    data.issue_comments.push(comment.clone());
    Ok(comment)
}
