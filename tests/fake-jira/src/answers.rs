//! The fake's answers, shaped like Atlassian's examples: the issue of
//! `issue_get_200.example.json` and the response examples of the OpenAPI document.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::data::{
    Comment, Data, History, Issue, EMBEDDED_HISTORIES, LINK_TYPES, PRIORITIES, PROJECTS, STATUSES,
    TYPES,
};
use crate::openapi::openapi;

const ISSUE_EXAMPLE: &str =
    include_str!("../../../plugins/jira/tests/fixtures/issue_get_200.example.json");

fn issue_template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(ISSUE_EXAMPLE).expect("the example is JSON"))
}

/// A user, full (`myself`, user searches): Cloud's shaped like the example of `GET
/// users/search`, Data Center's with `key` and `name`.
pub(crate) fn user_json(data: &Data, u: usize) -> Value {
    static T: OnceLock<Value> = OnceLock::new();
    let user = &data.users[u];
    let mut json = if data.cloud() {
        let template = T
            .get_or_init(|| openapi().example("GET", "/rest/api/3/users/search", "200")[0].clone());
        let mut json = template.clone();
        json["accountId"] = json!(user.account_id);
        json["self"] = json!(format!(
            "https://your-domain.atlassian.net/rest/api/3/user?accountId={}",
            user.account_id
        ));
        if let Some(o) = json.as_object_mut() {
            o.remove("key");
            o.remove("name");
            o.remove("emailAddress");
        }
        json
    } else {
        json!({
            "self": format!("https://jira.example.com/rest/api/2/user?username={}", user.name),
            "key": user.key, "name": user.name, "timeZone": "Europe/Berlin",
        })
    };
    json["displayName"] = json!(user.display_name);
    json["active"] = json!(user.active);
    if let Some(email) = &user.email {
        json["emailAddress"] = json!(email);
    }
    json
}

/// A user as issues, comments and projects refer to them.
fn user_ref(data: &Data, u: usize) -> Value {
    let mut json = user_json(data, u);
    if let Some(o) = json.as_object_mut() {
        o.retain(|k, _| {
            [
                "accountId",
                "key",
                "name",
                "displayName",
                "active",
                "self",
                "emailAddress",
            ]
            .contains(&k.as_str())
        });
    }
    json
}

/// A project, shaped like the example of `GET project/search`.
pub(crate) fn project_json(data: &Data, p: usize) -> Value {
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

pub(crate) fn comment_json(data: &Data, issue: &Issue, c: &Comment) -> Value {
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

pub(crate) fn history_json(data: &Data, h: &History) -> Value {
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
}

/// A link as the issue on one side shows it, naming the `other` side.
fn link_json(data: &Data, id: u64, kind: usize, other: u64, outward: bool) -> Value {
    let (name, inward, outward_text) = LINK_TYPES[kind];
    let (key, status) = data
        .issue(other)
        .map_or((String::new(), 0), |i| (i.key.clone(), i.status));
    let side = json!({
        "id": other.to_string(), "key": key,
        "self": format!("https://your-domain.atlassian.net/rest/api/3/issue/{other}"),
        "fields": {"status": {"name": STATUSES[status].0, "iconUrl": "https://your-domain.atlassian.net/images/icons/statuses/open.png"}},
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

/// Issue `i` (a position in `issues`) with the fields asked for (`*all`, `*navigable`: all of
/// them); `whole`: as `GET issue` shows it (every comment; on Data Center every history), not
/// as a search does.
pub(crate) fn issue_json(
    data: &Data,
    i: usize,
    fields: &[String],
    changelog: bool,
    whole: bool,
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
    put("status", &|| {
        let (name, category) = STATUSES[issue.status];
        json!({"name": name, "id": (issue.status + 1).to_string(), "statusCategory": {"key": category, "id": issue.status + 2}})
    });
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
            (issue.components.iter())
                .map(|c| json!({"id": "10000", "name": c}))
                .collect(),
        )
    });
    put("parent", &|| {
        issue.parent.and_then(|p| data.issue(p)).map_or(
            Value::Null,
            |p| json!({"id": p.id.to_string(), "key": p.key, "fields": {"summary": p.summary}}),
        )
    });
    put("created", &|| data.stamp(issue.created));
    put("updated", &|| data.stamp(issue.updated));
    put("description", &|| {
        (issue.description.as_ref()).map_or(Value::Null, |d| data.text(d))
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
        let child =
            |&c: &usize| json!({"id": data.issues[c].id.to_string(), "key": data.issues[c].key});
        Value::Array(children.map(child).collect())
    });
    put("issuelinks", &|| {
        let outward = (issue.links.iter()).map(|l| link_json(data, l.id, l.kind, l.target, true));
        let inward = (data.inward.get(&issue.id).into_iter().flatten())
            .map(|&(id, kind, source)| link_json(data, id, kind, source, false));
        Value::Array(outward.chain(inward).collect())
    });
    let shown = if whole {
        issue.comments.len()
    } else {
        data.embedded_comments
    };
    put("comment", &|| {
        json!({
            "comments": issue.comments.iter().take(shown).map(|c| comment_json(data, issue, c)).collect::<Vec<_>>(),
            "maxResults": shown, "startAt": 0, "total": issue.comments.len(),
        })
    });
    let api = if data.cloud() { 3 } else { 2 };
    let mut json = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog",
        "id": issue.id.to_string(),
        "key": issue.key,
        "self": format!("https://your-domain.atlassian.net/rest/api/{api}/issue/{}", issue.id),
        "fields": out,
    });
    if changelog {
        // The latest first, as JIRA's search shows them (Data Center's issue: all of them).
        let limit = if !data.cloud() && whole {
            usize::MAX
        } else {
            EMBEDDED_HISTORIES
        };
        let histories: Vec<Value> = (issue.histories.iter().rev().take(limit))
            .map(|h| history_json(data, h))
            .collect();
        json["changelog"] = json!({"startAt": 0, "maxResults": histories.len(), "total": issue.histories.len(), "histories": histories});
    }
    json
}

/// The transitions the workflow offers issue `i`: to every status but its own.
pub(crate) fn transitions_json(data: &Data, i: usize) -> Value {
    let current = data.issues[i].status;
    let open: Vec<Value> = (0..STATUSES.len())
        .filter(|&to| to != current)
        .map(|to| {
            let (id, name) = data.transitions[to];
            json!({"id": id, "name": name, "hasScreen": false, "isAvailable": true,
                   "to": {"id": (to + 1).to_string(), "name": STATUSES[to].0,
                          "statusCategory": {"key": STATUSES[to].1}}})
        })
        .collect();
    json!({"transitions": open})
}
