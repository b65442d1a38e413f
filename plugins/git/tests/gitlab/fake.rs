//! A fake GitLab REST API v4 on the SDK's `FakeServer`, following GitLab's API documentation
//! (docs.gitlab.com `api/rest`, `api/issues`, `api/merge_requests`, `api/notes`, `api/users`,
//! `api/merge_request_approvals`):
//!
//! - it answers under a path prefix, as a self-managed instance at
//!   `https://git.acme.example/gitlab/api/v4/` does, and names the project by its numeric id or
//!   its URL-encoded full path in one segment (`acme%2Fplatform%2Fwidgets`: a path with bare
//!   slashes is a 404, as at GitLab);
//! - every request is checked against the documented endpoints: the method and path, each
//!   query parameter one the page lists, with a value of its type or enum (`updated_after` an
//!   ISO 8601 time); a write's JSON body has only documented fields, the required ones present.
//!   A request that does not fit is answered `400` and remembered ([`FakeGitlab::assert_conforms`]);
//! - a token, when set, must come as `Authorization: Bearer` (else `401 Unauthorized`);
//! - lists filter by `state` and `updated_after` (inclusive), sort by `order_by`/`sort` (ties
//!   by id), and page: `pagination=keyset` on the issues list (when [`Data::keyset`]) with a
//!   cursor in `Link: rel="next"` and no other paging headers; else offset pages with
//!   `x-page`, `x-per-page`, `x-next-page` (empty on the last page), `x-total`,
//!   `x-total-pages` and a `Link` header (20 a page by default, at most 100);
//! - creating a note updates its item's `updated_at`, as GitLab does;
//! - a merge request's approvals (`…/merge_requests/:iid/approvals`) answer with the merge
//!   request's fields and `approved_by: [{user}]`, as the approvals API documents.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};
use agentic_sdk::time::{format_rfc3339, parse_rfc3339};
use serde_json::{json, Value};

use super::documented::{
    check_body, check_query, Param, ISSUES, MERGE_REQUESTS, NEW_ISSUE, NEW_NOTE, NONE, NOTES,
    PROJECT_PARAMS, USERS,
};

/// The project's numeric id.
pub const PROJECT_ID: u64 = 42;
/// Its full path.
pub const PROJECT: &str = "acme/platform/widgets";
/// Where the API is served, as on a self-managed instance under `/gitlab`.
pub const PREFIX: &str = "/gitlab/api/v4";

/// What the fake holds; tests change it between reads.
#[derive(Debug, Default)]
pub struct Data {
    /// Issues, as GitLab's issue objects.
    pub issues: Vec<Value>,
    /// Merge requests.
    pub merge_requests: Vec<Value>,
    /// Notes by (`merge_request`, iid).
    pub notes: Vec<((bool, u64), Value)>,
    /// Approvals: the merge request's iid and the approving user.
    pub approvals: Vec<(u64, Value)>,
    /// Users `GET /users?username=` finds.
    pub users: Vec<Value>,
    /// The token a request must carry as `Authorization: Bearer`, when set.
    pub token: Option<String>,
    /// Whether the issues list pages by keyset when asked (GitLab 18.3 and later).
    pub keyset: bool,
    /// Answers given instead of the next requests' (after the documentation check).
    pub faults: VecDeque<FakeResponse>,
    /// Requests that did not fit the documentation.
    pub violations: Vec<String>,
    /// Writes accepted: the path under the project and the body.
    pub writes: Vec<(String, Value)>,
}

/// The running fake.
pub struct FakeGitlab {
    server: FakeServer,
    data: Arc<Mutex<Data>>,
}

impl FakeGitlab {
    /// Serves `data`.
    pub fn start(data: Data) -> Self {
        let data = Arc::new(Mutex::new(data));
        let server = {
            let data = data.clone();
            FakeServer::start(move |request| {
                let mut data = data.lock().unwrap_or_else(PoisonError::into_inner);
                answer(&mut data, request)
            })
        };
        Self { server, data }
    }

    /// The API's base URL (the connection's), with the instance's path prefix.
    pub fn url(&self) -> String {
        format!("{}{PREFIX}/", self.server.url().trim_end_matches('/'))
    }

    /// Runs `f` on the data.
    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Answers the next request with `response`.
    pub fn fail_next(&self, response: FakeResponse) {
        self.with(|d| d.faults.push_back(response));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    /// Panics listing every request that did not fit GitLab's documentation.
    pub fn assert_conforms(&self) {
        let violations = self.with(|d| d.violations.clone());
        assert!(
            violations.is_empty(),
            "requests outside GitLab's documented API:\n{}",
            violations.join("\n")
        );
        assert!(!self.requests().is_empty(), "no request reached the fake");
    }
}

/// A GitLab error answer: `{"message": …}`, as GitLab's API sends them.
pub fn error(status: u16, message: &str) -> FakeResponse {
    FakeResponse::json(&json!({ "message": message }))
        .with_status(status)
        .with_header("content-type", "application/json")
}

fn time(item: &Value, field: &str) -> i64 {
    item[field].as_str().and_then(parse_rfc3339).unwrap_or(0)
}

/// GitLab's time format, with milliseconds.
pub fn gitlab_time(ms: i64) -> String {
    format_rfc3339(ms)
}

fn answer(data: &mut Data, request: &FakeRequest) -> FakeResponse {
    let Some(rest) = request.raw_path.strip_prefix(PREFIX) else {
        return error(404, "404 Not Found");
    };
    if let Some(token) = &data.token {
        if request.header("authorization") != Some(format!("Bearer {token}").as_str()) {
            return error(401, "401 Unauthorized");
        }
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let project_ok = |s: &str| s == PROJECT_ID.to_string() || s == PROJECT.replace('/', "%2F");
    // Which documented endpoint, with the item it names.
    let (what, params, item): (&str, &[Param], Option<(bool, u64)>) =
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["users"]) => ("GET /users", USERS, None),
            (_, ["projects", p, ..]) if !project_ok(p) => {
                return error(404, "404 Project Not Found")
            }
            ("GET", ["projects", _]) => ("GET /projects/:id", PROJECT_PARAMS, None),
            ("GET", ["projects", _, "issues"]) => ("GET /projects/:id/issues", ISSUES, None),
            ("POST", ["projects", _, "issues"]) => ("POST /projects/:id/issues", NONE, None),
            ("GET", ["projects", _, "merge_requests"]) => {
                ("GET /projects/:id/merge_requests", MERGE_REQUESTS, None)
            }
            ("GET", ["projects", _, "merge_requests", iid, "approvals"])
                if iid.parse::<u64>().is_ok() =>
            {
                (
                    "GET /projects/:id/merge_requests/:iid/approvals",
                    NONE,
                    Some((true, iid.parse().unwrap_or(0))),
                )
            }
            (m, ["projects", _, c @ ("issues" | "merge_requests"), iid, rest @ ..])
                if iid.parse::<u64>().is_ok()
                    && (rest.is_empty() && m == "GET"
                        || rest == ["notes"] && matches!(m, "GET" | "POST")) =>
            {
                let what = match (m, rest.is_empty()) {
                    ("GET", true) => "GET /projects/:id/…/:iid",
                    ("GET", false) => "GET /projects/:id/…/:iid/notes",
                    _ => "POST /projects/:id/…/:iid/notes",
                };
                let params: &[Param] = if what.ends_with("notes") && m == "GET" {
                    NOTES
                } else {
                    NONE
                };
                (
                    what,
                    params,
                    Some((*c == "merge_requests", iid.parse().unwrap_or(0))),
                )
            }
            _ => {
                let problem = format!(
                    "{} {rest}: no such endpoint in GitLab's API documentation",
                    request.method
                );
                data.violations.push(problem.clone());
                return error(400, &problem);
            }
        };
    let mut problems = check_query(request, what, params);
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if request.method == "POST" {
        problems.extend(match what {
            "POST /projects/:id/issues" => check_body(&body, what, NEW_ISSUE, "title"),
            _ => check_body(&body, what, NEW_NOTE, "body"),
        });
    }
    if !problems.is_empty() {
        data.violations.extend(problems.iter().cloned());
        return error(400, &problems.join("; "));
    }
    if let Some(fault) = data.faults.pop_front() {
        return fault;
    }
    match what {
        "GET /users" => {
            let username = request.query("username").unwrap_or_default();
            let found: Vec<Value> = data
                .users
                .iter()
                .filter(|u| u["username"] == username)
                .cloned()
                .collect();
            FakeResponse::json(&json!(found))
        }
        "GET /projects/:id" => FakeResponse::json(&project(data)),
        "GET /projects/:id/issues" => list(&data.issues, request, data.keyset),
        "GET /projects/:id/merge_requests" => list(&data.merge_requests, request, false),
        "POST /projects/:id/issues" => create_issue(data, &body),
        _ => {
            let (mr, iid) = item.unwrap_or_default();
            let items = if mr {
                &mut data.merge_requests
            } else {
                &mut data.issues
            };
            let Some(found) = items.iter_mut().find(|i| i["iid"] == iid) else {
                return error(404, "404 Not found");
            };
            match what {
                "GET /projects/:id/…/:iid" => FakeResponse::json(found),
                "GET /projects/:id/merge_requests/:iid/approvals" => {
                    let approved_by: Vec<Value> = data
                        .approvals
                        .iter()
                        .filter(|(i, _)| *i == iid)
                        .map(|(_, user)| json!({ "user": user }))
                        .collect();
                    FakeResponse::json(&approvals(found, approved_by))
                }
                "GET /projects/:id/…/:iid/notes" => {
                    let notes: Vec<Value> = data
                        .notes
                        .iter()
                        .filter(|(k, _)| *k == (mr, iid))
                        .map(|(_, n)| n.clone())
                        .collect();
                    list(&notes, request, false)
                }
                _ => {
                    let now = next_time(&data.issues, &data.merge_requests);
                    let items = if mr {
                        &mut data.merge_requests
                    } else {
                        &mut data.issues
                    };
                    let found = items
                        .iter_mut()
                        .find(|i| i["iid"] == iid)
                        .expect("found above");
                    found["updated_at"] = json!(now);
                    found["user_notes_count"] =
                        json!(found["user_notes_count"].as_u64().unwrap_or(0) + 1);
                    let id = data
                        .notes
                        .iter()
                        .filter_map(|(_, n)| n["id"].as_u64())
                        .max()
                        .unwrap_or(0)
                        + 1;
                    let text = body["body"].as_str().unwrap_or_default();
                    let mut note = super::note(id, text, "sync-bot", &now, false);
                    note["noteable_type"] = json!(if mr { "MergeRequest" } else { "Issue" });
                    note["noteable_iid"] = json!(iid);
                    data.notes.push(((mr, iid), note.clone()));
                    data.writes.push((rest.to_owned(), body));
                    FakeResponse::json(&note).with_status(201)
                }
            }
        }
    }
}

/// A minute after the newest `updated_at`: the time of a write.
fn next_time(issues: &[Value], merge_requests: &[Value]) -> String {
    let newest = issues
        .iter()
        .chain(merge_requests)
        .map(|i| time(i, "updated_at"))
        .max()
        .unwrap_or(0);
    gitlab_time(newest + 60_000)
}

fn create_issue(data: &mut Data, body: &Value) -> FakeResponse {
    let iid = data
        .issues
        .iter()
        .filter_map(|i| i["iid"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let now = next_time(&data.issues, &data.merge_requests);
    let mut issue = super::issue(
        iid,
        body["title"].as_str().unwrap_or_default(),
        body["description"].as_str(),
        &now,
    );
    issue["created_at"] = json!(now);
    issue["author"] = super::user("sync-bot", "Sync Bot");
    let labels: Vec<&str> = body["labels"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|l| !l.is_empty())
        .collect();
    issue["labels"] = json!(labels);
    let assignees: Vec<Value> = body["assignee_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| data.users.iter().find(|u| u["id"] == *id).cloned())
        .collect();
    issue["assignee"] = assignees.first().cloned().unwrap_or(Value::Null);
    issue["assignees"] = json!(assignees);
    data.issues.push(issue.clone());
    data.writes.push(("/issues".into(), body.clone()));
    FakeResponse::json(&issue).with_status(201)
}

/// A merge request's approval state as `GET …/merge_requests/:iid/approvals` answers it.
fn approvals(mr: &Value, approved_by: Vec<Value>) -> Value {
    let approved = !approved_by.is_empty();
    json!({"id": mr["id"], "iid": mr["iid"], "project_id": PROJECT_ID, "title": mr["title"],
        "description": mr["description"], "state": mr["state"], "created_at": mr["created_at"],
        "updated_at": mr["updated_at"], "merge_status": mr["merge_status"], "approved": approved,
        "approvals_required": 0, "approvals_left": 0, "require_password_to_approve": false,
        "approved_by": approved_by, "suggested_approvers": [], "approvers": [],
        "approver_groups": [], "user_has_approved": false, "user_can_approve": true,
        "approval_rules_left": [], "has_approval_rules": false,
        "merge_request_approvers_available": false, "multiple_approval_rules_available": false,
        "invalid_approvers_rules": []})
}

fn project(data: &Data) -> Value {
    let open = data
        .issues
        .iter()
        .filter(|i| i["state"] == "opened")
        .count();
    json!({"id": PROJECT_ID, "name": "widgets", "path": "widgets", "path_with_namespace": PROJECT,
        "name_with_namespace": "Acme / Platform / widgets", "visibility": "private",
        "web_url": format!("https://git.acme.example/gitlab/{PROJECT}"), "default_branch": "main",
        "issues_enabled": true, "merge_requests_enabled": true, "open_issues_count": open})
}

/// One page of `list` as the request asks.
fn list(list: &[Value], request: &FakeRequest, keyset: bool) -> FakeResponse {
    let state = request.query("state").unwrap_or("all");
    let after = request.query("updated_after").and_then(parse_rfc3339);
    let field = match request.query("order_by").unwrap_or("created_at") {
        "updated_at" => "updated_at",
        _ => "created_at",
    };
    let mut items: Vec<&Value> = list
        .iter()
        .filter(|i| state == "all" || i.get("state").is_none() || i["state"] == state)
        .filter(|i| after.is_none_or(|a| time(i, "updated_at") >= a))
        .collect();
    items.sort_by_key(|i| (time(i, field), i["id"].as_u64()));
    if request.query("sort").unwrap_or("desc") == "desc" {
        items.reverse();
    }
    let per_page = request
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(20usize)
        .clamp(1, 100);
    let base = format!("https://git.acme.example{}", request.raw_path);
    let query = |extra: &str| {
        let mut q: Vec<String> = request
            .query
            .iter()
            .filter(|(n, _)| n != "page" && n != "cursor")
            .map(|(n, v)| format!("{n}={}", agentic_sdk::http::encode(v)))
            .collect();
        q.push(extra.to_owned());
        q.join("&")
    };
    if keyset && request.query("pagination") == Some("keyset") {
        // The cursor is the last item's sort key; the next page starts after it.
        let start = match request.query("cursor") {
            Some(c) => {
                let (t, id) = c.split_once('_').unwrap_or_default();
                let key = (t.parse::<i64>().unwrap_or(0), id.parse::<u64>().ok());
                items
                    .iter()
                    .position(|i| (time(i, field), i["id"].as_u64()) > key)
                    .unwrap_or(items.len())
            }
            None => 0,
        };
        let page: Vec<Value> = items
            .iter()
            .skip(start)
            .take(per_page)
            .map(|v| (*v).clone())
            .collect();
        let mut response = FakeResponse::json(&json!(page));
        if start + per_page < items.len() {
            let last = page.last().expect("a full page");
            let cursor = format!("{}_{}", time(last, field), last["id"]);
            response = response.with_header(
                "link",
                &format!(
                    "<{base}?{}>; rel=\"next\"",
                    query(&format!("cursor={cursor}"))
                ),
            );
        }
        return response;
    }
    let page: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|v| (*v).clone())
        .collect();
    let link =
        |p: usize, rel: &str| format!("<{base}?{}>; rel=\"{rel}\"", query(&format!("page={p}")));
    let mut links = vec![link(1, "first"), link(pages, "last")];
    let next = if page < pages {
        links.push(link(page + 1, "next"));
        (page + 1).to_string()
    } else {
        String::new()
    };
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    FakeResponse::json(&json!(body))
        .with_header("x-page", &page.to_string())
        .with_header("x-per-page", &per_page.to_string())
        .with_header("x-next-page", &next)
        .with_header(
            "x-prev-page",
            &if page > 1 {
                (page - 1).to_string()
            } else {
                String::new()
            },
        )
        .with_header("x-total", &items.len().to_string())
        .with_header("x-total-pages", &pages.to_string())
        .with_header("link", &links.join(", "))
}
