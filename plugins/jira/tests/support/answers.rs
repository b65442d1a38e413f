//! The fake's answers, shaped like Atlassian's examples: the issue of
//! `issue_get_200.example.json` and the response examples of the OpenAPI document.

use std::sync::OnceLock;

use jira::time::jira_timestamp;
use serde_json::{json, Map, Value};

use super::{
    openapi, paragraph_doc, CommentData, Data, History, Issue, Link, Mode, CATEGORIES,
    EMBEDDED_COMMENTS, EMBEDDED_HISTORIES, ISSUE_EXAMPLE, PRIORITIES, PROJECTS, STATUSES, TYPES,
};

fn issue_template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(ISSUE_EXAMPLE).expect("json"))
}

pub(super) fn comment_template() -> Value {
    openapi().example("GET", "/rest/api/3/issue/{issueIdOrKey}/comment", "200")["comments"][0]
        .clone()
}

fn stamp(data: &Data, ms: i64) -> Value {
    json!(jira_timestamp(ms, data.tz))
}

/// A user, shaped like the example of `GET myself` (Data Center: with `key` and `name`).
pub(super) fn user_json(data: &Data, u: usize) -> Value {
    static T: OnceLock<Value> = OnceLock::new();
    let template =
        T.get_or_init(|| openapi().example("GET", "/rest/api/3/users/search", "200")[0].clone());
    let user = &data.users[u];
    let mut json = template.clone();
    json["displayName"] = json!(user.display_name);
    json["active"] = json!(user.active);
    if !user.email.is_empty() {
        json["emailAddress"] = json!(user.email);
    }
    if data.mode == Mode::Cloud {
        json["accountId"] = json!(user.account_id);
        json["self"] = json!(format!(
            "https://your-domain.atlassian.net/rest/api/3/user?accountId={}",
            user.account_id
        ));
        if let Some(o) = json.as_object_mut() {
            o.remove("key");
            o.remove("name");
        }
    } else {
        json = json!({
            "self": format!("https://jira.example.com/rest/api/2/user?username={}", user.name),
            "key": format!("JIRAUSER{}", 10_100 + u),
            "name": user.name,
            "emailAddress": user.email,
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": "Europe/Berlin",
        });
    }
    json
}

fn user_ref(data: &Data, u: usize) -> Value {
    let full = user_json(data, u);
    let keep = [
        "accountId",
        "key",
        "name",
        "displayName",
        "active",
        "self",
        "emailAddress",
    ];
    Value::Object(
        full.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| keep.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

pub(super) fn project_json(data: &Data, p: usize) -> Value {
    static T: OnceLock<Value> = OnceLock::new();
    let template = T.get_or_init(|| {
        openapi().example("GET", "/rest/api/3/project/search", "200")["values"][0].clone()
    });
    let mut json = template.clone();
    json["id"] = json!((10_000 + p).to_string());
    json["key"] = json!(PROJECTS[p]);
    json["name"] = json!(format!("Project {}", PROJECTS[p]));
    json["projectTypeKey"] = json!("software");
    json["lead"] = user_ref(data, p);
    json
}

fn project_ref(p: usize) -> Value {
    let mut project = issue_template()["fields"]["project"].clone();
    project["id"] = json!((10_000 + p).to_string());
    project["key"] = json!(PROJECTS[p]);
    project["name"] = json!(format!("Project {}", PROJECTS[p]));
    project
}

fn text_json(data: &Data, doc: &Value) -> Value {
    match data.mode {
        Mode::Cloud => doc.clone(),
        // Data Center keeps wiki markup.
        Mode::DataCenter => json!(jira::wiki::from_markdown(&jira::adf::to_markdown(doc))),
    }
}

pub(super) fn comment_json(data: &Data, issue: &Issue, c: &CommentData) -> Value {
    let mut json = issue_template()["fields"]["comment"][0].clone();
    json["id"] = json!(c.id.to_string());
    json["self"] = json!(format!(
        "https://your-domain.atlassian.net/rest/api/3/issue/{}/comment/{}",
        issue.id, c.id
    ));
    json["author"] = user_ref(data, c.author);
    json["updateAuthor"] = user_ref(data, c.author);
    json["body"] = text_json(data, &paragraph_doc(&c.body));
    json["created"] = stamp(data, c.created);
    json["updated"] = stamp(data, c.updated);
    if let Some(o) = json.as_object_mut() {
        o.remove("visibility");
    }
    json
}

pub(super) fn history_json(data: &Data, h: &History) -> Value {
    json!({
        "id": h.id.to_string(),
        "author": user_ref(data, h.author),
        "created": stamp(data, h.created),
        "items": [{
            "field": "status", "fieldtype": "jira", "fieldId": "status",
            "from": (h.from + 1).to_string(), "fromString": STATUSES[h.from],
            "to": (h.to + 1).to_string(), "toString": STATUSES[h.to],
        }],
    })
}

fn link_json(data: &Data, link: &Link, outward: bool) -> Value {
    let mut json = issue_template()["fields"]["issuelinks"][0].clone();
    let other_id = if outward { link.target } else { link.source };
    let other = data.issue(other_id);
    json["id"] = json!(link.id.to_string());
    json["type"] =
        json!({"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"});
    let side = json!({
        "id": other.id.to_string(),
        "key": other.key,
        "self": format!("https://your-domain.atlassian.net/rest/api/3/issue/{}", other.id),
        "fields": {"status": {"name": STATUSES[other.status], "iconUrl": "https://your-domain.atlassian.net/images/icons/statuses/open.png"}},
    });
    let object = json.as_object_mut().expect("object");
    object.remove("outwardIssue");
    object.remove("inwardIssue");
    object.insert(
        if outward {
            "outwardIssue"
        } else {
            "inwardIssue"
        }
        .into(),
        side,
    );
    json
}

/// An issue with the fields asked for (`*all`/`*navigable`: all of them).
pub(super) fn issue_json(
    data: &Data,
    i: usize,
    fields: &[String],
    changelog: bool,
    all_comments: bool,
) -> Value {
    let issue = &data.issues[i];
    let all = fields.iter().any(|f| f == "*all" || f == "*navigable");
    let wants = |f: &str| all || fields.iter().any(|x| x == f);
    let mut out = Map::new();
    // Only what was asked for is built.
    let mut put = |name: &str, value: &dyn Fn() -> Value| {
        if wants(name) {
            out.insert(name.to_owned(), value());
        }
    };
    put("summary", &|| json!(issue.summary));
    put(
        "status",
        &|| json!({"name": STATUSES[issue.status], "id": (issue.status + 1).to_string(), "statusCategory": {"key": CATEGORIES[issue.status], "id": issue.status + 2}}),
    );
    put(
        "issuetype",
        &|| json!({"name": TYPES[issue.issue_type], "id": (10_001 + issue.issue_type).to_string(), "subtask": issue.issue_type == 3}),
    );
    put("priority", &|| {
        issue.priority.map_or(
            Value::Null,
            |p| json!({"name": PRIORITIES[p], "id": (p + 1).to_string()}),
        )
    });
    put("assignee", &|| {
        issue.assignee.map_or(Value::Null, |u| user_ref(data, u))
    });
    put("reporter", &|| user_ref(data, issue.reporter));
    put("labels", &|| json!(issue.labels));
    put("components", &|| {
        Value::Array(
            issue
                .components
                .iter()
                .map(|c| json!({"id": "10000", "name": c}))
                .collect(),
        )
    });
    put("parent", &|| {
        issue.parent.map_or(Value::Null, |p| {
            let parent = data.issue(p);
            json!({"id": parent.id.to_string(), "key": parent.key, "fields": {"summary": parent.summary}})
        })
    });
    put("created", &|| stamp(data, issue.created));
    put("updated", &|| stamp(data, issue.updated));
    put("description", &|| {
        issue
            .description
            .adf()
            .map_or(Value::Null, |d| text_json(data, &d))
    });
    put("project", &|| project_ref(issue.project));
    put("resolution", &|| {
        if issue.status == 2 {
            json!({"name": "Done", "id": "10000"})
        } else {
            Value::Null
        }
    });
    put("duedate", &|| {
        if issue.id.is_multiple_of(2) {
            json!("2024-12-31")
        } else {
            Value::Null
        }
    });
    put("fixVersions", &|| json!([]));
    put("subtasks", &|| {
        let children = data.children.get(&issue.id).into_iter().flatten();
        Value::Array(
            children
                .map(|c| json!({"id": c.to_string(), "key": data.issue(*c).key}))
                .collect(),
        )
    });
    put("issuelinks", &|| {
        let links = data.links_of.get(&issue.id).into_iter().flatten();
        Value::Array(
            links
                .map(|&l| link_json(data, &data.links[l], data.links[l].source == issue.id))
                .collect(),
        )
    });
    let shown = if all_comments {
        issue.comments.len()
    } else {
        EMBEDDED_COMMENTS
    };
    put("comment", &|| {
        json!({
            "comments": issue.comments.iter().take(shown).map(|c| comment_json(data, issue, c)).collect::<Vec<_>>(),
            "maxResults": shown, "startAt": 0, "total": issue.comments.len(),
        })
    });
    let mut json = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog",
        "id": issue.id.to_string(),
        "key": issue.key,
        "self": format!("https://your-domain.atlassian.net/rest/api/3/issue/{}", issue.id),
        "fields": out,
    });
    if changelog {
        // The latest first, as JIRA's search shows them (Data Center's issue: all of them).
        let limit = if data.mode == Mode::DataCenter && all_comments {
            usize::MAX
        } else {
            EMBEDDED_HISTORIES
        };
        let histories: Vec<Value> = issue
            .histories
            .iter()
            .rev()
            .take(limit)
            .map(|h| history_json(data, h))
            .collect();
        json["changelog"] = json!({"startAt": 0, "maxResults": histories.len(), "total": issue.histories.len(), "histories": histories});
    }
    json
}

pub(super) fn transitions_json(data: &Data, i: usize) -> Value {
    let template = openapi().example("GET", "/rest/api/3/issue/{issueIdOrKey}/transitions", "200")
        ["transitions"][0]
        .clone();
    let current = data.issues[i].status;
    let transitions: Vec<Value> = (0..STATUSES.len())
        .filter(|s| *s != current)
        .map(|s| {
            let mut t = template.clone();
            t["id"] = json!((11 + s).to_string());
            t["name"] = json!(["Reopen", "Start Progress", "Finish"][s]);
            t["to"]["name"] = json!(STATUSES[s]);
            t["to"]["id"] = json!((s + 1).to_string());
            t["hasScreen"] = json!(false);
            if let Some(o) = t.as_object_mut() {
                o.remove("fields");
            }
            t
        })
        .collect();
    json!({"transitions": transitions})
}
