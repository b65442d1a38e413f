//! GitLab's documented endpoints as the fake checks them: the query parameters each list
//! takes (docs.gitlab.com `api/issues`, `api/merge_requests`, `api/notes`, `api/projects`,
//! `api/users`), with their types and enums, and the fields of the writes' JSON bodies.

use agentic_sdk::testing::FakeRequest;
use agentic_sdk::time::parse_rfc3339;
use serde_json::Value;

/// A documented parameter: its name and what its values may be.
pub type Param = (&'static str, Kind);

/// What a parameter's values may be.
#[derive(Clone, Copy)]
pub enum Kind {
    Int,
    Text,
    Time,
    Bool,
    OneOf(&'static [&'static str]),
}

pub const PAGING: [Param; 2] = [("page", Kind::Int), ("per_page", Kind::Int)];
pub const SORT: Param = ("sort", Kind::OneOf(&["asc", "desc"]));

/// `GET /projects/:id/issues` (api/issues.md, "List project issues").
pub const ISSUES: &[Param] = &[
    ("assignee_id", Kind::Int),
    ("assignee_username", Kind::Text),
    ("author_id", Kind::Int),
    ("author_username", Kind::Text),
    ("confidential", Kind::Bool),
    ("created_after", Kind::Time),
    ("created_before", Kind::Time),
    ("cursor", Kind::Text),
    ("due_date", Kind::Text),
    ("iids[]", Kind::Int),
    (
        "issue_type",
        Kind::OneOf(&["issue", "incident", "test_case", "task"]),
    ),
    ("labels", Kind::Text),
    ("milestone", Kind::Text),
    ("my_reaction_emoji", Kind::Text),
    (
        "order_by",
        Kind::OneOf(&[
            "created_at",
            "updated_at",
            "priority",
            "due_date",
            "relative_position",
            "label_priority",
            "milestone_due",
            "popularity",
            "weight",
            "title",
            "id",
        ]),
    ),
    ("pagination", Kind::OneOf(&["keyset"])),
    (
        "scope",
        Kind::OneOf(&["created_by_me", "assigned_to_me", "all"]),
    ),
    ("search", Kind::Text),
    SORT,
    ("state", Kind::OneOf(&["opened", "closed", "all"])),
    ("updated_after", Kind::Time),
    ("updated_before", Kind::Time),
    ("with_labels_details", Kind::Bool),
];

/// `GET /projects/:id/merge_requests` (api/merge_requests.md, "List project merge requests").
pub const MERGE_REQUESTS: &[Param] = &[
    ("author_id", Kind::Int),
    ("author_username", Kind::Text),
    ("assignee_id", Kind::Int),
    ("created_after", Kind::Time),
    ("created_before", Kind::Time),
    ("iids[]", Kind::Int),
    ("labels", Kind::Text),
    ("milestone", Kind::Text),
    (
        "order_by",
        Kind::OneOf(&["created_at", "title", "merged_at", "updated_at"]),
    ),
    ("reviewer_username", Kind::Text),
    (
        "scope",
        Kind::OneOf(&["created_by_me", "assigned_to_me", "reviews_for_me", "all"]),
    ),
    ("search", Kind::Text),
    SORT,
    ("source_branch", Kind::Text),
    (
        "state",
        Kind::OneOf(&["opened", "closed", "locked", "merged", "all"]),
    ),
    ("target_branch", Kind::Text),
    ("updated_after", Kind::Time),
    ("updated_before", Kind::Time),
    ("view", Kind::OneOf(&["simple"])),
    ("with_labels_details", Kind::Bool),
];

/// Writes take no query parameters here (their fields go in the JSON body).
pub const NONE: &[Param] = &[];
/// `GET …/notes` (api/notes.md).
pub const NOTES: &[Param] = &[
    SORT,
    ("order_by", Kind::OneOf(&["created_at", "updated_at"])),
];
/// `GET /projects/:id` (api/projects.md, "Get a single project").
pub const PROJECT_PARAMS: &[Param] = &[
    ("license", Kind::Bool),
    ("statistics", Kind::Bool),
    ("with_custom_attributes", Kind::Bool),
];
/// `GET /users` (api/users.md, "List users").
pub const USERS: &[Param] = &[
    ("username", Kind::Text),
    ("search", Kind::Text),
    ("active", Kind::Bool),
];
/// `POST /projects/:id/issues` body (api/issues.md, "New issue"); `title` required.
pub const NEW_ISSUE: &[&str] = &[
    "title",
    "description",
    "labels",
    "assignee_ids",
    "assignee_id",
    "confidential",
    "created_at",
    "due_date",
    "epic_id",
    "iid",
    "issue_type",
    "milestone_id",
    "weight",
];
/// `POST …/notes` body (api/notes.md); `body` required.
pub const NEW_NOTE: &[&str] = &[
    "body",
    "internal",
    "confidential",
    "created_at",
    "merge_request_diff_head_sha",
];

pub fn wrong(kind: Kind, value: &str) -> Option<String> {
    match kind {
        Kind::Int if value.parse::<i64>().is_err() => Some("not an integer".into()),
        Kind::Bool if !matches!(value, "true" | "false") => Some("not a boolean".into()),
        Kind::Time if parse_rfc3339(value).is_none() => Some("not an ISO 8601 time".into()),
        Kind::OneOf(allowed) if !allowed.contains(&value) => {
            Some(format!("not one of {allowed:?}"))
        }
        _ => None,
    }
}

/// Problems of the request's query against `params` (and the paging ones).
pub fn check_query(request: &FakeRequest, what: &str, params: &[Param]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in &request.query {
        match params.iter().chain(&PAGING).find(|(n, _)| n == name) {
            None => problems.push(format!(
                "{what}: query parameter {name:?} is not documented"
            )),
            Some((_, kind)) => {
                if let Some(why) = wrong(*kind, value) {
                    problems.push(format!("{what}: {name}={value:?}: {why}"));
                }
            }
        }
    }
    problems
}

/// Problems of a write's JSON body: documented fields only, `required` present.
pub fn check_body(body: &Value, what: &str, fields: &[&str], required: &str) -> Vec<String> {
    let Some(object) = body.as_object() else {
        return vec![format!("{what}: the body is not a JSON object")];
    };
    let mut problems: Vec<String> = object
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .map(|k| format!("{what}: field {k:?} is not documented"))
        .collect();
    if !object.get(required).is_some_and(Value::is_string) {
        problems.push(format!("{what}: {required} is required (a string)"));
    }
    problems
}
