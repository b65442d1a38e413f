//! What the fake answers a valid request: reads (`myself`, searches, projects, users, an
//! issue, its comments, changelog and transitions) and the connector's writes (create, edit,
//! comment, transition), which change [`Data`] so that a sync after an action reads what it
//! wrote.

use serde_json::{json, Value};

use crate::answers::{
    comment_json, history_json, issue_json, project_json, transitions_json, user_json,
};
use crate::data::{Comment, Data, History, Issue, Text, PROJECTS, STATUSES, TYPES};
use crate::{jql, Request};

/// JIRA's error body.
pub(crate) fn error_body(message: &str) -> Value {
    json!({"errorMessages": [message], "errors": {}})
}

fn missing() -> (u16, Value) {
    let message = "Issue does not exist or you do not have permission to see it.";
    (404, error_body(message))
}

fn field_error(field: &str, message: &str) -> (u16, Value) {
    (
        400,
        json!({"errorMessages": [], "errors": {field: message}}),
    )
}

fn number(request: &Request, name: &str, default: usize) -> usize {
    (request.query(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn list(text: Option<&str>) -> Vec<String> {
    text.map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The answer to a valid request under `/rest/api/N/` (`path`: the segments after it): the
/// status and the JSON body (`Null`: none; with 404, a request the fake does not serve).
pub(crate) fn route(
    data: &mut Data,
    request: &Request,
    path: &[&str],
    body: &Value,
) -> (u16, Value) {
    let cloud = data.cloud();
    let issue = |key: &str| data.find(key);
    match (request.method.as_str(), path) {
        ("GET", ["myself"]) => (200, user_json(data, 0)),
        ("POST", ["search", "jql"]) if cloud => search(data, request, body),
        ("GET", ["search"]) if !cloud => search(data, request, body),
        ("GET", ["project", "search"]) if cloud => projects(data, request),
        ("GET", ["project"]) if !cloud => (
            200,
            Value::Array((0..PROJECTS.len()).map(|p| project_json(data, p)).collect()),
        ),
        ("GET", ["users", "search"]) if cloud => users(data, request),
        ("GET", ["user", "search"]) if !cloud => {
            if request.query("username") != Some(".") {
                let message = "The username query parameter was not provided";
                return (400, error_body(message));
            }
            users(data, request)
        }
        ("GET", ["issue", key]) => match issue(key) {
            Some(i) => {
                let fields = list(Some(request.query("fields").unwrap_or("*all")));
                let changelog = request
                    .query("expand")
                    .is_some_and(|e| e.contains("changelog"));
                (200, issue_json(data, i, &fields, changelog, true))
            }
            None => missing(),
        },
        ("GET", ["issue", key, "comment"]) => match issue(key) {
            Some(i) => {
                let (start, max) = (
                    number(request, "startAt", 0),
                    number(request, "maxResults", 100),
                );
                let issue = &data.issues[i];
                let comments: Vec<Value> = (issue.comments.iter().skip(start).take(max))
                    .map(|c| comment_json(data, issue, c))
                    .collect();
                (
                    200,
                    json!({"comments": comments, "maxResults": max, "startAt": start, "total": issue.comments.len()}),
                )
            }
            None => missing(),
        },
        ("GET", ["issue", key, "changelog"]) => match issue(key) {
            Some(i) => {
                let (start, max) = (
                    number(request, "startAt", 0),
                    number(request, "maxResults", 100),
                );
                let histories = &data.issues[i].histories;
                let values: Vec<Value> = (histories.iter().skip(start).take(max))
                    .map(|h| history_json(data, h))
                    .collect();
                let last = start + values.len() >= histories.len();
                (
                    200,
                    json!({"isLast": last, "maxResults": max, "startAt": start, "total": histories.len(), "values": values}),
                )
            }
            None => missing(),
        },
        ("GET", ["issue", key, "transitions"]) => match issue(key) {
            Some(i) => (200, transitions_json(data, i)),
            None => missing(),
        },
        ("POST", ["issue"]) => create(data, body),
        ("PUT", ["issue", key]) => match issue(key) {
            Some(i) => {
                let at = now(data);
                let issue = &mut data.issues[i];
                if let Some(summary) = body["fields"]["summary"].as_str() {
                    issue.summary = summary.to_owned();
                }
                issue.updated = at;
                (204, Value::Null)
            }
            None => missing(),
        },
        ("POST", ["issue", key, "comment"]) => match issue(key) {
            Some(i) => {
                let (at, id) = (now(data), data.new_id());
                let body = sent_text(data, &body["body"]);
                let issue = &mut data.issues[i];
                issue.comments.push(Comment {
                    id,
                    author: 0,
                    body,
                    created: at,
                    updated: at,
                });
                issue.updated = at;
                let issue = &data.issues[i];
                let comment = issue.comments.last().expect("just added");
                (201, comment_json(data, issue, comment))
            }
            None => missing(),
        },
        ("POST", ["issue", key, "transitions"]) => match issue(key) {
            Some(i) => transition(data, i, body),
            None => missing(),
        },
        _ => (404, Value::Null),
    }
}

/// Issues matching `filter`, as positions in search order.
fn matching(data: &Data, filter: Option<&jql::Filter>) -> Vec<usize> {
    let first = (filter.and_then(jql::Filter::updated_from)).map_or(0, |from| {
        (data.order).partition_point(|&i| data.issues[i].updated < from)
    });
    data.order[first..]
        .iter()
        .copied()
        .filter(|&i| filter.is_none_or(|f| f.matches(&data.issues[i])))
        .collect()
}

/// Cloud's `POST search/jql` (page tokens, `isLast`) or Data Center's `GET search` (`startAt`,
/// `total`).
fn search(data: &mut Data, request: &Request, body: &Value) -> (u16, Value) {
    let cloud = data.cloud();
    let (jql, fields, expand, max) = if cloud {
        let fields = (body["fields"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let max = body["maxResults"].as_u64().map_or(50, |m| m as usize);
        (body["jql"].as_str(), fields, body["expand"].as_str(), max)
    } else {
        let fields = list(request.query("fields"));
        let max = number(request, "maxResults", 50);
        (request.query("jql"), fields, request.query("expand"), max)
    };
    let (jql, max) = (jql.unwrap_or_default(), max.min(100));
    let changelog = expand.is_some_and(|e| e.contains("changelog"));
    let filter = match jql::parse(jql, data.tz_minutes, cloud) {
        Ok(filter) => filter,
        Err(message) => return (400, error_body(&message)),
    };
    // Tokens name the offset and the query they belong to, as opaque to the client as JIRA's.
    let digest = (jql.bytes()).fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let start = match body["nextPageToken"].as_str() {
        _ if !cloud => number(request, "startAt", 0),
        None => 0,
        Some(token) => {
            let offset = (token.split_once('.'))
                .filter(|(_, d)| *d == format!("{digest:x}"))
                .and_then(|(o, _)| o.parse().ok());
            match offset {
                Some(offset) if data.expire_tokens == 0 => offset,
                _ => {
                    data.expire_tokens = data.expire_tokens.saturating_sub(1);
                    let message = "The provided next page token is invalid or expired.";
                    return (400, error_body(message));
                }
            }
        }
    };
    let hits = matching(data, filter.as_ref());
    let issues: Vec<Value> = (hits.iter().skip(start).take(max))
        .map(|&i| issue_json(data, i, &fields, changelog, false))
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

/// Cloud's paged `GET project/search`, narrowed by `keys`.
fn projects(data: &Data, request: &Request) -> (u16, Value) {
    let (start, max) = (
        number(request, "startAt", 0),
        number(request, "maxResults", 50),
    );
    let keys = list(request.query("keys"));
    let all: Vec<usize> = (0..PROJECTS.len())
        .filter(|&p| keys.is_empty() || keys.iter().any(|k| k == PROJECTS[p]))
        .collect();
    let values: Vec<Value> = (all.iter().skip(start).take(max))
        .map(|&p| project_json(data, p))
        .collect();
    let last = start + values.len() >= all.len();
    (
        200,
        json!({"isLast": last, "maxResults": max, "startAt": start, "total": all.len(), "values": values}),
    )
}

fn users(data: &Data, request: &Request) -> (u16, Value) {
    let (start, max) = (
        number(request, "startAt", 0),
        number(request, "maxResults", 50),
    );
    let page = (start..data.users.len()).take(max);
    (
        200,
        Value::Array(page.map(|u| user_json(data, u)).collect()),
    )
}

/// Rich text as the connector sent it, in this deployment's form (no Markdown: tests read it
/// back through the connector).
fn sent_text(data: &Data, value: &Value) -> Text {
    Text {
        adf: if data.cloud() {
            value.clone()
        } else {
            Value::Null
        },
        wiki: value.as_str().unwrap_or_default().to_owned(),
        markdown: String::new(),
    }
}

/// A time after everything the fake holds, so a write is what an incremental sync sees next.
fn now(data: &Data) -> i64 {
    data.issues.iter().map(|i| i.updated).max().unwrap_or(0) + 60_000
}

fn create(data: &mut Data, body: &Value) -> (u16, Value) {
    let fields = &body["fields"];
    let project_key = fields["project"]["key"].as_str().unwrap_or_default();
    let Some(project) = PROJECTS.iter().position(|p| *p == project_key) else {
        return field_error("project", "valid project is required");
    };
    let type_name = fields["issuetype"]["name"].as_str().unwrap_or_default();
    let Some(issue_type) = TYPES.iter().position(|t| *t == type_name) else {
        return field_error("issuetype", "Specify a valid issue type");
    };
    let Some(summary) = fields["summary"].as_str().filter(|s| !s.is_empty()) else {
        return field_error("summary", "You must specify a summary of the issue.");
    };
    let number = data.issues.iter().filter(|i| i.project == project).count() + 1;
    let (id, at) = (data.new_id(), now(data));
    let key = format!("{project_key}-{number}");
    let labels = (fields["labels"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let description = fields.get("description").map(|d| sent_text(data, d));
    data.issues.push(Issue {
        id,
        key: key.clone(),
        project,
        summary: summary.to_owned(),
        description,
        status: 0,
        issue_type,
        priority: None,
        assignee: None,
        reporter: 0,
        labels,
        components: Vec::new(),
        parent: None,
        created: at,
        updated: at,
        comments: Vec::new(),
        links: Vec::new(),
        histories: Vec::new(),
    });
    (
        201,
        json!({"id": id.to_string(), "key": key, "self": format!("https://your-domain.atlassian.net/rest/api/3/issue/{id}")}),
    )
}

/// Takes the transition `body` names, with the comment it may carry.
fn transition(data: &mut Data, i: usize, body: &Value) -> (u16, Value) {
    let wanted = body["transition"]["id"].as_str().unwrap_or_default();
    let from = data.issues[i].status;
    let Some(to) = (0..STATUSES.len()).find(|&to| to != from && data.transitions[to].0 == wanted)
    else {
        let message = format!("Transition id '{wanted}' is not valid for this issue.");
        return field_error("transition", &message);
    };
    let (at, id) = (now(data), data.new_id());
    let comment = (body.pointer("/update/comment/0/add/body")).map(|b| sent_text(data, b));
    let comment_id = comment.as_ref().map(|_| data.new_id());
    let issue = &mut data.issues[i];
    issue.status = to;
    issue.updated = at;
    let author = 0;
    issue.histories.push(History {
        id,
        author,
        created: at,
        from,
        to,
    });
    if let (Some(body), Some(id)) = (comment, comment_id) {
        issue.comments.push(Comment {
            id,
            author,
            body,
            created: at,
            updated: at,
        });
    }
    (204, Value::Null)
}
