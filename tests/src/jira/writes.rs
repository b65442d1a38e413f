//! What the fake does with the connector's writes (its actions): create an issue, edit one,
//! comment, list an issue's open transitions and take one. Each changes [`Data`], so a sync
//! after an action reads what the action wrote; every write request is also kept in `seen`
//! ([`super::FakeJira::writes`]).

use serde_json::{json, Value};

use super::{
    comment_json, find, Comment, Data, History, Issue, Seen, Text, PROJECTS, STATUSES, TYPES,
};

/// The transition that leads to status `to` (an index into [`STATUSES`]): its id and name.
fn transition(to: usize) -> (String, &'static str) {
    let name = ["Reopen", "Start Progress", "Done"][to];
    ((11 + 10 * to).to_string(), name)
}

fn missing(what: &str) -> (u16, Value) {
    (
        404,
        json!({"errorMessages": [format!("{what} does not exist or you do not have permission to see it.")], "errors": {}}),
    )
}

fn field_error(field: &str, message: &str) -> (u16, Value) {
    (
        400,
        json!({"errorMessages": [], "errors": {field: message}}),
    )
}

/// Rich text as the fake keeps it: what the connector sent, in this deployment's form.
fn text(data: &Data, value: &Value) -> Text {
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

fn next_id(data: &Data) -> u64 {
    let issues = data.issues.iter().map(|i| i.id);
    let nested = data.issues.iter().flat_map(|i| {
        i.comments
            .iter()
            .map(|c| c.id)
            .chain(i.histories.iter().map(|h| h.id))
    });
    issues.chain(nested).max().unwrap_or(90_000).max(90_000) + 1
}

fn position(data: &Data, key_or_id: &str) -> Option<usize> {
    let id = find(data, key_or_id)?.id;
    data.issues.iter().position(|i| i.id == id)
}

/// The answer to a write, or `None` for a request that is not one.
pub(super) fn route(
    data: &mut Data,
    method: &str,
    path: &[&str],
    seen: &Seen,
) -> Option<(u16, Value)> {
    Some(match (method, path) {
        ("POST", ["issue"]) => create(data, &seen.body),
        ("PUT", ["issue", issue]) => edit(data, issue, &seen.body),
        ("POST", ["issue", issue, "comment"]) => {
            let Some(n) = position(data, issue) else {
                return Some(missing("Issue"));
            };
            let at = now(data);
            let id = next_id(data);
            let comment = Comment {
                id,
                author: 0,
                body: text(data, &seen.body["body"]),
                created: at,
                updated: at,
            };
            data.issues[n].comments.push(comment);
            data.issues[n].updated = at;
            let issue = &data.issues[n];
            (
                201,
                comment_json(data, issue, issue.comments.last().expect("just pushed")),
            )
        }
        ("GET", ["issue", issue, "transitions"]) => {
            let Some(issue) = find(data, issue) else {
                return Some(missing("Issue"));
            };
            let open: Vec<Value> = (0..STATUSES.len())
                .filter(|&to| to != issue.status)
                .map(|to| {
                    let (id, name) = transition(to);
                    json!({"id": id, "name": name, "hasScreen": false, "isAvailable": true,
                           "to": {"id": (to + 1).to_string(), "name": STATUSES[to].0,
                                  "statusCategory": {"key": STATUSES[to].1}}})
                })
                .collect();
            (200, json!({"transitions": open}))
        }
        ("POST", ["issue", issue, "transitions"]) => take(data, issue, &seen.body),
        _ => return None,
    })
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
    let (id, at) = (next_id(data), now(data));
    let key = format!("{project_key}-{number}");
    let labels = fields["labels"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    data.issues.push(Issue {
        id,
        key: key.clone(),
        project,
        summary: summary.to_owned(),
        description: fields.get("description").map(|d| text(data, d)),
        status: 0,
        issue_type,
        priority: None,
        assignee: None,
        reporter: 0,
        labels,
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

fn edit(data: &mut Data, issue: &str, body: &Value) -> (u16, Value) {
    let Some(n) = position(data, issue) else {
        return missing("Issue");
    };
    let at = now(data);
    let issue = &mut data.issues[n];
    if let Some(summary) = body["fields"]["summary"].as_str() {
        issue.summary = summary.to_owned();
    }
    issue.updated = at;
    (204, Value::Null)
}

fn take(data: &mut Data, issue: &str, body: &Value) -> (u16, Value) {
    let Some(n) = position(data, issue) else {
        return missing("Issue");
    };
    let wanted = body["transition"]["id"].as_str().unwrap_or_default();
    let from = data.issues[n].status;
    let Some(to) = (0..STATUSES.len()).find(|&to| to != from && transition(to).0 == wanted) else {
        return field_error("transition", "Transition id is not valid for this issue.");
    };
    let (at, id) = (now(data), next_id(data));
    let comment = body
        .pointer("/update/comment/0/add/body")
        .map(|b| text(data, b));
    let issue = &mut data.issues[n];
    issue.status = to;
    issue.updated = at;
    issue.histories.push(History {
        id,
        author: 0,
        created: at,
        from,
        to,
    });
    if let Some(body) = comment {
        issue.comments.push(Comment {
            id: id + 1,
            author: 0,
            body,
            created: at,
            updated: at,
        });
    }
    (204, Value::Null)
}
