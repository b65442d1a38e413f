//! The SDK's acceptance suite on the connector, against the fake JIRA, Cloud and Data Center:
//! spec and manifest agree, configurations are checked, every stream reads to its end and
//! resumes from every intermediate state without repeats or gaps, actions answer to their
//! schemas — and every request the connector sent fits Atlassian's OpenAPI document.

use crate::support;

use agentic_sdk::testing::{acceptance, Acceptance, Report};
use jira::{JiraConnector, MANIFEST};
use serde_json::json;
use support::{Deployment, FakeJira};

/// The fake, the suite's report, and the comments, histories and links the fake served (before
/// the suite's actions wrote more).
fn run(mode: Deployment) -> (FakeJira, Report, [usize; 3]) {
    let jira = FakeJira::start(mode, 40);
    let served = jira.with(|d| {
        let sum = |f: fn(&fake_jira::Issue) -> usize| d.issues.iter().map(f).sum();
        [
            sum(|i| i.comments.len()),
            sum(|i| i.histories.len()),
            sum(|i| i.links.len()),
        ]
    });
    let report = acceptance::<JiraConnector>(&Acceptance {
        base_url: Some(jira.url()),
        credential: jira.credential(),
        config: jira.config(9),
        bad_config: json!({"deployment": "server"}),
        manifest: Some(MANIFEST),
        invocations: vec![
            (
                "create-issue",
                json!({"project": "ED", "issue_type": "Bug", "summary": "Broken", "description": "It **fails**:\n\n- always", "labels": ["x"], "priority": "High", "assignee": "user1", "components": ["API"]}),
            ),
            (
                "update-issue",
                json!({"issue": "ED-1", "summary": "Renamed", "assignee": null}),
            ),
            (
                "add-comment",
                json!({"issue": "ED-1", "body": "Looks *good* — see [docs](https://example.com)."}),
            ),
            (
                "transition-issue",
                json!({"issue": "ED-1", "transition": "Done", "comment": "Closing."}),
            ),
        ],
        ..Acceptance::default()
    });
    jira.assert_valid();
    (jira, report, served)
}

fn counts(report: &Report) -> Vec<(String, usize)> {
    report
        .streams
        .iter()
        .map(|s| (s.name.clone(), s.records))
        .collect()
}

#[test]
fn jira_cloud_passes_the_acceptance_suite() {
    let (jira, report, [comments, histories, links]) = run(Deployment::Cloud);
    assert_eq!(
        counts(&report),
        [
            ("projects".to_owned(), 2),
            ("issues".to_owned(), 40),
            ("comments".to_owned(), comments),
            ("issue-links".to_owned(), links),
            ("users".to_owned(), 7),
            ("changelog".to_owned(), histories),
        ]
    );
    assert!(report
        .streams
        .iter()
        .filter(|s| s.name != "projects")
        .all(|s| s.resumptions >= 1));
    // Cloud searches with POST search/jql and never the removed search.
    let requests = jira.requests();
    assert!(requests
        .iter()
        .any(|r| r.method == "POST" && r.path == "/rest/api/3/search/jql"));
    assert!(!requests.iter().any(|r| r.path == "/rest/api/3/search"));
}

#[test]
fn jira_data_center_passes_the_acceptance_suite() {
    let (jira, report, [comments, ..]) = run(Deployment::DataCenter);
    assert_eq!(report.streams[1].records, 40);
    assert_eq!(report.streams[2].records, comments);
    let requests = jira.requests();
    assert!(requests.iter().any(|r| r.method == "GET"
        && r.path == "/rest/api/2/search"
        && r.query("startAt").is_some()));
    assert!(requests.iter().all(|r| r.path.starts_with("/rest/api/2/")));
}
