//! JIRA's JSON as the internal models: issues as work items, comments as comments, issue links
//! as trace links, users as people; projects and change histories as raw records.
//!
//! People are referred to by their Cloud `accountId`, or on Data Center by their user `key`
//! (stable across renames) or else `name`. Rich text becomes Markdown: ADF on Cloud (see
//! [`crate::adf`]), wiki markup on Data Center (see [`crate::wiki`]).

use agentic_sdk::serde_json::{json, Map, Value};
use agentic_sdk::{Comment, Person, RawRecord, RecordData, TraceLink, WorkItem};

use crate::config::Config;
use crate::scan::issue_id;
use crate::{adf, time, wiki};

/// The fields a work item is made of (custom fields come on top).
pub const ISSUE_FIELDS: [&str; 17] = [
    "summary",
    "status",
    "issuetype",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "components",
    "parent",
    "created",
    "updated",
    "description",
    "project",
    "resolution",
    "duedate",
    "fixVersions",
    "subtasks",
];

fn str_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A user's id: Cloud `accountId`, Data Center `key` or `name`.
pub fn person_id(user: &Value) -> Option<String> {
    ["accountId", "key", "name"]
        .iter()
        .find_map(|k| user[*k].as_str().filter(|s| !s.is_empty()))
        .map(str::to_owned)
}

/// A time field as Unix milliseconds.
fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => time::millis(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Rich text as Markdown: ADF (Cloud) or wiki markup (Data Center).
pub fn markdown(value: &Value, config: &Config) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) if config.is_cloud() => s.clone(),
        Value::String(s) => wiki::to_markdown(s),
        other => adf::to_markdown(other),
    }
}

fn names(value: &Value) -> Vec<Value> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str())
                .map(|n| Value::String(n.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// An issue as a work item.
pub fn work_item(issue: &Value, config: &Config) -> RecordData {
    let fields = &issue["fields"];
    let key = issue["key"].as_str().unwrap_or_default().to_owned();
    let mut attributes = Map::new();
    let mut put = |name: &str, value: Value| {
        if !value.is_null() && value != json!([]) {
            attributes.insert(name.to_owned(), value);
        }
    };
    put(
        "project",
        match fields["project"].as_object() {
            Some(p) => json!({"id": p.get("id"), "key": p.get("key"), "name": p.get("name")}),
            None => Value::Null,
        },
    );
    put("components", Value::Array(names(&fields["components"])));
    put("fix_versions", Value::Array(names(&fields["fixVersions"])));
    put("resolution", fields["resolution"]["name"].clone());
    put("due_date", fields["duedate"].clone());
    put(
        "status_category",
        fields["status"]["statusCategory"]["key"].clone(),
    );
    put("parent_key", fields["parent"]["key"].clone());
    put(
        "subtasks",
        Value::Array(
            fields["subtasks"]
                .as_array()
                .map(|s| s.iter().filter_map(|t| t.get("key").cloned()).collect())
                .unwrap_or_default(),
        ),
    );
    if let Some(epic) = &config.epic_link_field {
        put("epic_key", fields[epic.as_str()].clone());
    }
    let custom: Map<String, Value> = config
        .custom_fields
        .iter()
        .filter_map(|f| {
            fields
                .get(f)
                .filter(|v| !v.is_null())
                .map(|v| (f.clone(), v.clone()))
        })
        .collect();
    if !custom.is_empty() {
        put("custom_fields", Value::Object(custom));
    }
    put(
        "description_format",
        json!(if config.is_cloud() { "adf" } else { "wiki" }),
    );
    WorkItem {
        external_id: issue_id(issue),
        title: fields["summary"].as_str().unwrap_or_default().to_owned(),
        description: markdown(&fields["description"], config),
        status: str_at(fields, "/status/name")
            .unwrap_or_default()
            .to_owned(),
        item_type: str_at(fields, "/issuetype/name")
            .unwrap_or_default()
            .to_owned(),
        priority: str_at(fields, "/priority/name").map(str::to_owned),
        assignee: person_id(&fields["assignee"]),
        reporter: person_id(&fields["reporter"]),
        labels: fields["labels"]
            .as_array()
            .map(|l| l.iter().filter_map(text).collect())
            .unwrap_or_default(),
        parent: text(&fields["parent"]["id"]),
        url: (!key.is_empty()).then(|| config.browse_url(&key)),
        created_at: millis(&fields["created"]),
        updated_at: millis(&fields["updated"]),
        attributes,
        key,
    }
    .into()
}

/// A comment on the issue `issue_id`.
pub fn comment(comment: &Value, issue_id: &str, config: &Config) -> Option<RecordData> {
    let id = text(&comment["id"])?;
    Some(
        Comment {
            external_id: id,
            parent_external_id: issue_id.to_owned(),
            author: person_id(&comment["author"]),
            body: markdown(&comment["body"], config),
            created_at: millis(&comment["created"]),
            updated_at: millis(&comment["updated"]),
        }
        .into(),
    )
}

/// When a comment last changed (Unix ms).
pub fn comment_time(comment: &Value) -> Option<i64> {
    millis(&comment["updated"]).or_else(|| millis(&comment["created"]))
}

/// The links of an issue it is the source of (the outward side): each link once, from the
/// issue that `blocks`, `clones`, `relates to` the other.
pub fn trace_links(issue: &Value) -> Vec<RecordData> {
    let source = issue_id(issue);
    issue["fields"]["issuelinks"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|link| {
                    let target = text(&link["outwardIssue"]["id"])?;
                    let link_type = str_at(link, "/type/name")
                        .filter(|n| !n.is_empty())
                        .or_else(|| str_at(link, "/type/outward"))
                        .unwrap_or("relates to");
                    Some(
                        TraceLink {
                            external_id: text(&link["id"])?,
                            source: source.clone(),
                            target,
                            link_type: link_type.to_owned(),
                        }
                        .into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A user as a person.
pub fn person(user: &Value) -> Option<RecordData> {
    Some(
        Person {
            external_id: person_id(user)?,
            display_name: user["displayName"].as_str().unwrap_or_default().to_owned(),
            email: user["emailAddress"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
            active: user["active"].as_bool().unwrap_or(true),
        }
        .into(),
    )
}

/// A project as a raw record.
pub fn project(project: &Value, config: &Config) -> Option<RecordData> {
    let id = text(&project["id"])?;
    let key = project["key"].as_str().unwrap_or_default();
    let data = json!({
        "key": key,
        "name": project["name"],
        "project_type": project["projectTypeKey"],
        "lead": person_id(&project["lead"]),
        "category": project["projectCategory"]["name"],
        "simplified": project["simplified"],
        "url": format!("{}/browse/{key}", config.site()),
    });
    Some(
        RawRecord {
            external_id: id,
            data: data.as_object().cloned().unwrap_or_default(),
        }
        .into(),
    )
}

/// One change of an issue's history as a raw record.
pub fn history(history: &Value, issue: &Value) -> Option<RecordData> {
    let id = text(&history["id"])?;
    let items: Vec<Value> = history["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    json!({
                        "field": i["field"], "field_id": i["fieldId"],
                        "from": i["from"], "from_string": i["fromString"],
                        "to": i["to"], "to_string": i["toString"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let data = json!({
        "issue_id": issue_id(issue),
        "issue_key": issue["key"],
        "author": person_id(&history["author"]),
        "created_at": millis(&history["created"]),
        "items": items,
    });
    Some(
        RawRecord {
            external_id: id,
            data: data.as_object().cloned().unwrap_or_default(),
        }
        .into(),
    )
}

/// When a history entry was made (Unix ms).
pub fn history_time(history: &Value) -> Option<i64> {
    millis(&history["created"])
}
