//! The fake JIRA itself: it refuses requests outside Atlassian's OpenAPI document (so the other
//! tests' "no violations" means something), and its own answers fit the document's response
//! schemas. And the connector reads Atlassian's verbatim example search answer.

use crate::support;

use agentic_sdk::http::Request;
use agentic_sdk::testing::{FakeResponse, FakeServer, Harness};
use agentic_sdk::RecordData;
use jira::JiraConnector;
use serde_json::{json, Value};
use support::{Deployment, FakeJira};

fn send(request: Request) -> u16 {
    let request = request.header("accept", "application/json");
    request.send().expect("the fake answers").status
}

#[test]
fn requests_outside_the_document_are_refused_and_recorded() {
    let jira = FakeJira::start(Deployment::Cloud, 3);
    // Sent straight from the test, with no host to add the credential: only the document counts.
    jira.with(|d| d.authorization = None);
    let url = |path: &str| format!("{}/rest/api/3/{path}", jira.url());
    let good = json!({"jql": "project = ED ORDER BY updated ASC, key ASC", "maxResults": 5, "fields": ["summary"]});
    assert_eq!(
        send(Request::post(url("search/jql")).json(&good).expect("json")),
        200
    );
    assert!(jira.violations().is_empty(), "{:?}", jira.violations());
    let cases = [
        (Request::get(url("no/such/path")), "no such path"),
        (Request::delete(url("myself")), "has no DELETE"),
        (
            Request::get(url("myself")).query("verbose", "1"),
            "\"verbose\" is not declared",
        ),
        (
            Request::get(url("users/search")).query("maxResults", "many"),
            "maxResults",
        ),
        (Request::post(url("search/jql")), "body is required"),
        (
            Request::post(url("search/jql"))
                .json(&json!({"jql": "x", "startAt": 0}))
                .expect("json"),
            "startAt",
        ),
        (
            Request::post(url("search/jql"))
                .json(&json!({"jql": 7}))
                .expect("json"),
            "jql",
        ),
        (
            Request::get(url("myself")).json(&json!({})).expect("json"),
            "takes no body",
        ),
        (
            Request::get(url("search")).query("jql", "project = ED"),
            "deprecated",
        ),
        (
            Request::post(url("issue/ED-1/comment"))
                .json(&json!({"body": {"type": "doc", "content": [{"type": "nope"}]}}))
                .expect("json"),
            "not ADF",
        ),
    ];
    for (i, (request, expected)) in cases.into_iter().enumerate() {
        let before = jira.violations().len();
        let status = send(request);
        assert!(
            status == 400 || status == 410 || status == 201,
            "case {i}: {status}"
        );
        let violations = jira.violations();
        assert!(
            violations[before..].iter().any(|v| v.contains(expected)),
            "case {i}: expected a violation mentioning {expected:?}, got {:#?}",
            &violations[before..]
        );
    }
}

#[test]
fn the_fakes_answers_fit_the_documents_response_schemas() {
    for mode in [Deployment::Cloud, Deployment::DataCenter] {
        let jira = FakeJira::start(mode, 30);
        jira.with(|d| d.check_responses = true);
        let h = jira.harness();
        let config = jira.config(10);
        assert!(h.check(&config).is_ok());
        for stream in [
            "projects",
            "issues",
            "comments",
            "issue-links",
            "users",
            "changelog",
        ] {
            h.read_all(&config, stream, None)
                .unwrap_or_else(|e| panic!("{stream}: {e}"));
        }
        for (action, input) in [
            (
                "create-issue",
                json!({"project": "PR", "issue_type": "Task", "summary": "New"}),
            ),
            ("add-comment", json!({"issue": "PR-1", "body": "Hi"})),
            (
                "transition-issue",
                json!({"issue": "PR-1", "transition": "Done"}),
            ),
        ] {
            h.invoke(&config, action, &input)
                .unwrap_or_else(|e| panic!("{action}: {e}"));
        }
        jira.assert_valid();
    }
}

#[test]
fn atlassians_example_search_answer_reads_as_records() {
    let example: Value =
        serde_json::from_str(include_str!("fixtures/search_jql_200.example.json")).expect("json");
    let server = FakeServer::start(move |request| match request.path.as_str() {
        "/rest/api/3/search/jql" => FakeResponse::json(&example),
        _ => FakeResponse::status(404),
    });
    let config = json!({"deployment": "cloud"});
    let h = Harness::new(JiraConnector).with_base_url(server.url());
    let page = h.read(&config, "issues", None).expect("the example reads");
    assert!(!page.has_more, "isLast: true");
    let RecordData::WorkItem(item) = &page.records[0] else {
        panic!("{:?}", page.records)
    };
    assert_eq!(
        (item.external_id.as_str(), item.key.as_str()),
        ("10002", "ED-1")
    );
    assert_eq!(item.description, "Main order flow broken");
    assert_eq!(item.attributes["project"]["key"], "EX");
    let links = h.read(&config, "issue-links", None).expect("links");
    let RecordData::TraceLink(link) = &links.records[0] else {
        panic!("{:?}", links.records)
    };
    assert_eq!(
        (
            link.source.as_str(),
            link.target.as_str(),
            link.link_type.as_str()
        ),
        ("10002", "10004L", "Dependent")
    );
    assert_eq!(
        links.records.len(),
        1,
        "the inward link belongs to the other issue"
    );
    let comments = h.read(&config, "comments", None).expect("comments");
    let RecordData::Comment(comment) = &comments.records[0] else {
        panic!("{:?}", comments.records)
    };
    assert_eq!(
        (
            comment.external_id.as_str(),
            comment.parent_external_id.as_str()
        ),
        ("10000", "10002")
    );
    assert!(comment.body.starts_with("Lorem ipsum"));
    assert_eq!(comment.author.as_deref(), Some("5b10a2844c20165700ede21g"));
}
