//! The actions, against the fake JIRA: what they send (ADF for Cloud, wiki markup for Data
//! Center, accounts by id or name), what they answer, and how they refuse bad input.

use crate::support;

use agentic_sdk::Error;
use serde_json::{json, Value};
use support::{Deployment, FakeJira, STATUSES};

/// The last write: method and path under the API (`PUT issue/ED-2`), and the body.
fn last_write(jira: &FakeJira) -> (String, Value) {
    let write = jira.writes().pop().expect("a write");
    let path = write.path.splitn(5, '/').nth(4).unwrap_or_default();
    (format!("{} {path}", write.method), write.body)
}

#[test]
fn create_issue_sends_markdown_as_adf_to_cloud() {
    let jira = FakeJira::start(Deployment::Cloud, 4);
    let h = jira.harness();
    let config = jira.config(5);
    let out = h
        .invoke(&config, "create-issue", &json!({
            "project": "PR", "issue_type": "Story", "summary": "Checkout fails",
            "description": "When paying:\n\n1. add to cart\n2. pay with **card**\n\n```js\npay()\n```",
            "labels": ["checkout"], "priority": "2", "assignee": "5b10a2844c20165700ede203",
            "parent": "PR-1", "components": ["Web"], "fields": {"customfield_10010": 5}
        }))
        .expect("created");
    assert_eq!(out["key"], "PR-3");
    assert_eq!(out["url"], format!("{}/browse/PR-3", jira.url()));
    let (what, body) = last_write(&jira);
    assert_eq!(what, "POST issue");
    let fields = &body["fields"];
    assert_eq!(fields["project"], json!({"key": "PR"}));
    assert_eq!(fields["issuetype"], json!({"name": "Story"}));
    assert_eq!(fields["priority"], json!({"id": "2"}));
    assert_eq!(
        fields["assignee"],
        json!({"accountId": "5b10a2844c20165700ede203"})
    );
    assert_eq!(fields["parent"], json!({"key": "PR-1"}));
    assert_eq!(fields["components"], json!([{"name": "Web"}]));
    assert_eq!(fields["customfield_10010"], 5);
    assert_eq!(fields["description"]["type"], "doc");
    let kinds: Vec<&str> = fields["description"]["content"]
        .as_array()
        .expect("content")
        .iter()
        .map(|n| n["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["paragraph", "orderedList", "codeBlock"]);
    jira.assert_valid(); // ADF checked against its schema too
}

#[test]
fn data_center_gets_wiki_markup_and_user_names() {
    let jira = FakeJira::start(Deployment::DataCenter, 4);
    let h = jira.harness();
    let config = jira.config(5);
    h.invoke(&config, "create-issue", &json!({"project": "ED", "issue_type": "Bug", "summary": "s", "description": "Some **bold**\n\n- a", "assignee": "user3"}))
        .expect("created");
    let (_, body) = last_write(&jira);
    assert_eq!(body["fields"]["description"], "Some *bold*\n\n* a");
    assert_eq!(body["fields"]["assignee"], json!({"name": "user3"}));
    h.invoke(
        &config,
        "add-comment",
        &json!({"issue": "ED-1", "body": "See `x`"}),
    )
    .expect("comment");
    assert_eq!(last_write(&jira).1, json!({"body": "See {{x}}"}));
    jira.assert_valid();
}

#[test]
fn update_issue_sets_only_what_it_is_given() {
    let jira = FakeJira::start(Deployment::Cloud, 4);
    let h = jira.harness();
    let config = jira.config(5);
    let out = h
        .invoke(&config, "update-issue", &json!({"issue": "ED-2", "summary": "New title", "labels": [], "assignee": null, "description": ""}))
        .expect("updated");
    assert_eq!(
        out,
        json!({"issue": "ED-2", "updated": ["assignee", "description", "labels", "summary"]})
    );
    let (what, body) = last_write(&jira);
    assert_eq!(what, "PUT issue/ED-2");
    assert_eq!(
        body,
        json!({"fields": {"summary": "New title", "labels": [], "assignee": null, "description": null}})
    );
    // Nothing to do, or fields it does not know: refused before JIRA is asked.
    for input in [
        json!({"issue": "ED-2"}),
        json!({"issue": "ED-2", "colour": "red"}),
        json!({"summary": "no issue"}),
    ] {
        assert!(
            matches!(
                h.invoke(&config, "update-issue", &input),
                Err(Error::InvalidInput(_))
            ),
            "{input}"
        );
    }
    jira.assert_valid();
}

#[test]
fn add_comment_answers_with_a_link_to_it() {
    let jira = FakeJira::start(Deployment::Cloud, 4);
    let h = jira.harness();
    let out = h
        .invoke(&jira.config(5), "add-comment", &json!({"issue": "ED-1", "body": "Fixed in :status[v2]{\"color\":\"green\"}, thanks @team."}))
        .expect("comment");
    let id = out["id"].as_str().expect("id");
    assert_eq!(
        out["url"],
        format!("{}/browse/ED-1?focusedCommentId={id}", jira.url())
    );
    let body = &last_write(&jira).1["body"];
    assert_eq!(body["content"][0]["content"][1]["type"], "status");
    assert!(matches!(
        h.invoke(
            &jira.config(5),
            "add-comment",
            &json!({"issue": "ED-1", "body": "  "})
        ),
        Err(Error::InvalidInput(_))
    ));
    jira.assert_valid();
}

#[test]
fn transitions_are_found_by_id_name_or_target_status() {
    let jira = FakeJira::start(Deployment::Cloud, 6);
    let h = jira.harness();
    let config = jira.config(5);
    // ED-1 is issue 0, in "To Do".
    let out = h
        .invoke(
            &config,
            "transition-issue",
            &json!({"issue": "ED-1", "transition": "start progress", "comment": "On it"}),
        )
        .expect("by name");
    assert_eq!(
        out,
        json!({"issue": "ED-1", "transition": {"id": "12", "name": "Start Progress"}, "status": "In Progress"})
    );
    let (_, body) = last_write(&jira);
    assert_eq!(body["transition"], json!({"id": "12"}));
    assert_eq!(body["update"]["comment"][0]["add"]["body"]["type"], "doc");
    let out = h.invoke(&config, "transition-issue", &json!({"issue": "ED-1", "transition": "Done", "fields": {"resolution": {"name": "Fixed"}}})).expect("by status");
    assert_eq!(out["status"], STATUSES[2].0);
    assert_eq!(
        last_write(&jira).1["fields"],
        json!({"resolution": {"name": "Fixed"}})
    );
    let out = h
        .invoke(
            &config,
            "transition-issue",
            &json!({"issue": "ED-1", "transition": "11"}),
        )
        .expect("by id");
    assert_eq!(out["status"], "To Do");
    match h.invoke(
        &config,
        "transition-issue",
        &json!({"issue": "ED-1", "transition": "Archive"}),
    ) {
        Err(Error::InvalidInput(m)) => assert!(
            m.contains("Start Progress (→ In Progress)") && m.contains("Finish (→ Done)"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    jira.assert_valid();
}
