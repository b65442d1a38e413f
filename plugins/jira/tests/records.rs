//! What the records hold: work items with every field the issue asks for, people referred to
//! by account id (Cloud) or user key (Data Center), Markdown text, links from their outward
//! side, raw projects and histories — and the requests that asked for them.

use crate::support;

use agentic_sdk::{RecordData, WorkItem};
use serde_json::{json, Value};
use support::{Deployment, FakeJira, T0};

fn records(jira: &FakeJira, config: &Value, stream: &str) -> Vec<RecordData> {
    jira.harness()
        .read_all(config, stream, None)
        .expect("read")
        .into_iter()
        .flat_map(|p| p.records)
        .collect()
}

fn work_items(records: Vec<RecordData>) -> Vec<WorkItem> {
    records
        .into_iter()
        .map(|r| match r {
            RecordData::WorkItem(w) => w,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn cloud_issues_become_complete_work_items() {
    let jira = FakeJira::start(Deployment::Cloud, 12);
    let mut config = jira.config(20);
    config["custom_fields"] = json!(["customfield_10010"]);
    let items = work_items(records(&jira, &config, "issues"));
    let by_key = |key: &str| {
        items
            .iter()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("{key}"))
    };
    // Issue 0: ED-1, the kitchen-sink description.
    let first = by_key("ED-1");
    assert_eq!(
        (first.external_id.as_str(), first.title.as_str()),
        ("10000", "Issue number 0")
    );
    assert_eq!(
        (first.status.as_str(), first.item_type.as_str()),
        ("To Do", "Task")
    );
    assert_eq!(first.priority, None);
    assert_eq!(first.assignee, None);
    assert_eq!(first.reporter.as_deref(), Some("5b10a2844c20165700ede203"));
    assert_eq!(
        first.url.as_deref(),
        Some(format!("{}/browse/ED-1", jira.url()).as_str())
    );
    assert_eq!(first.created_at, Some(T0));
    assert_eq!(first.updated_at, Some(T0 + 3_600_000));
    assert!(
        first
            .description
            .starts_with("# Release checklist \\#\n\nPlain, **bold**"),
        "{}",
        first.description
    );
    assert_eq!(
        first.attributes["project"],
        json!({"id": "10000", "key": "ED", "name": "Project ED"})
    );
    assert_eq!(first.attributes["components"], json!(["API"]));
    assert_eq!(first.attributes["status_category"], "new");
    assert_eq!(first.attributes["description_format"], "adf");
    // Issue 4: ED-3, a sub-task of issue 3 (PR-2).
    let sub = by_key("ED-3");
    assert_eq!(
        (sub.item_type.as_str(), sub.parent.as_deref()),
        ("Sub-task", Some("10003"))
    );
    assert_eq!(sub.attributes["parent_key"], "PR-2");
    assert_eq!(by_key("PR-2").attributes["subtasks"], json!(["ED-3"]));
    // Issue 1: labels, priority, assignee; issue 3: no description.
    let second = by_key("PR-1");
    assert_eq!(second.labels, ["backend"]);
    assert_eq!(second.priority.as_deref(), Some("Medium"));
    assert_eq!(second.assignee.as_deref(), Some("5b10a2844c20165700ede201"));
    assert_eq!(
        second.description,
        "Issue 1: **steps** to reproduce.\n\n- open the page"
    );
    assert_eq!(by_key("PR-2").description, "");
    // Explicit fields, never JIRA's default (the id only).
    let requests = jira.requests();
    let search: Value = serde_json::from_slice(
        &requests
            .iter()
            .find(|r| r.path.ends_with("/search/jql"))
            .expect("a search")
            .body,
    )
    .expect("json");
    let fields: Vec<&str> = search["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in [
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
        "customfield_10010",
    ] {
        assert!(fields.contains(&f), "{f} not asked for: {fields:?}");
    }
    jira.assert_valid();
}

#[test]
fn data_center_people_are_user_keys_and_text_is_wiki_markup_read_as_markdown() {
    let jira = FakeJira::start(Deployment::DataCenter, 6);
    let config = jira.config(20);
    let items = work_items(records(&jira, &config, "issues"));
    let second = items.iter().find(|i| i.key == "PR-1").expect("PR-1");
    assert_eq!(second.assignee.as_deref(), Some("JIRAUSER10101"));
    assert_eq!(
        second.description,
        "Issue 1: **steps** to reproduce.\n\n- open the page"
    );
    assert_eq!(second.attributes["description_format"], "wiki");
    let people = records(&jira, &config, "users");
    let RecordData::Person(p) = &people[1] else {
        panic!("{people:?}")
    };
    assert_eq!(
        (
            p.external_id.as_str(),
            p.display_name.as_str(),
            p.email.as_deref()
        ),
        ("JIRAUSER10101", "User 1", Some("user1@example.com"))
    );
    jira.assert_valid();
}

#[test]
fn people_projects_links_comments_and_histories() {
    let jira = FakeJira::start(Deployment::Cloud, 20);
    let config = jira.config(50);
    let people = records(&jira, &config, "users");
    let persons: Vec<_> = people
        .iter()
        .map(|r| match r {
            RecordData::Person(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(persons.len(), 7);
    assert_eq!(
        persons[0].email, None,
        "hidden by the user's privacy settings"
    );
    assert!(!persons[6].active);
    let projects = records(&jira, &config, "projects");
    let RecordData::Raw(ed) = &projects[0] else {
        panic!("{projects:?}")
    };
    assert_eq!(ed.external_id, "10000");
    assert_eq!(ed.data["key"], "ED");
    assert_eq!(ed.data["lead"], "5b10a2844c20165700ede200");
    assert_eq!(ed.data["url"], format!("{}/browse/ED", jira.url()));
    // Each link once, from its outward side.
    let links = records(&jira, &config, "issue-links");
    assert_eq!(
        links.len(),
        jira.with(|d| d.issues.iter().map(|i| i.links.len()).sum::<usize>())
    );
    let RecordData::TraceLink(link) = &links[0] else {
        panic!("{links:?}")
    };
    assert_eq!(
        (
            link.source.as_str(),
            link.target.as_str(),
            link.link_type.as_str()
        ),
        ("10003", "10002", "Blocks")
    );
    // Issue 6 has twelve comments: five come with the search, the rest from its own endpoint.
    let comments = records(&jira, &config, "comments");
    let of_six: Vec<_> = comments
        .iter()
        .filter_map(|r| match r {
            RecordData::Comment(c) if c.parent_external_id == "10006" => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(of_six.len(), 12);
    assert_eq!(
        of_six[0].body,
        "Comment 0 on issue 6 with \\*\\*stars\\*\\* & \\`ticks\\`"
    );
    assert!(jira
        .requests()
        .iter()
        .any(|r| r.path == "/rest/api/3/issue/10006/comment" && r.query("startAt") == Some("5")));
    // Issue 3 has 120 changes: the search shows the latest 100, the rest comes page by page.
    let histories = records(&jira, &config, "changelog");
    let of_three = histories
        .iter()
        .filter(|r| matches!(r, RecordData::Raw(h) if h.data["issue_id"] == "10003"))
        .count();
    assert_eq!(of_three, 120);
    assert!(jira
        .requests()
        .iter()
        .any(|r| r.path == "/rest/api/3/issue/10003/changelog"));
    jira.assert_valid();
}

#[test]
fn configured_projects_and_jql_narrow_every_search() {
    let jira = FakeJira::start(Deployment::Cloud, 16);
    let mut config = jira.config(50);
    config["projects"] = json!(["PR"]);
    config["jql"] = json!("labels = backend OR labels = ui");
    let items = work_items(records(&jira, &config, "issues"));
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i.key.starts_with("PR-")
        && (i.labels.contains(&"backend".to_owned()) || i.labels.contains(&"ui".to_owned()))));
    let projects = records(&jira, &config, "projects");
    assert_eq!(projects.len(), 1);
    assert!(jira
        .requests()
        .iter()
        .any(|r| r.query("keys") == Some("PR")));
    jira.assert_valid();
}
