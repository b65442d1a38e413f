//! GitHub objects onto the internal models, text kept exactly; the source decides the streams;
//! the description check itself refuses what GitHub does not declare.

use agentic_sdk::testing::Harness;
use agentic_sdk::{Error, RecordData};
use git::GitConnector;
use serde_json::json;

use super::fake::REPOSITORY;
use super::{
    at, config, issue, issue_comment, key, openapi, pull, read_run, review_comment, sample, start,
    UNICODE,
};

fn work_items(records: &[RecordData]) -> Vec<&agentic_sdk::WorkItem> {
    records
        .iter()
        .map(|r| match r {
            RecordData::WorkItem(w) => w,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn issues_map_onto_work_items() {
    let Some(github) = start(sample) else { return };
    let (records, _) = read_run(&github, &config(100), "issues", None);
    let items = work_items(&records);
    let one = items.iter().find(|w| w.key == key(1)).expect("#1");
    assert_eq!(one.external_id, key(1));
    assert_eq!(one.title, "Issue 1");
    assert_eq!(one.status, "open");
    assert_eq!(one.item_type, "issue");
    assert_eq!(one.labels, ["bug", "ui"]);
    assert_eq!(one.assignee.as_deref(), Some("user-c"));
    assert_eq!(one.attributes["assignees"], json!(["user-c", "user-a"]));
    assert_eq!(one.reporter.as_deref(), Some("user-a"));
    assert_eq!(
        one.url.as_deref(),
        Some(format!("https://github.com/{REPOSITORY}/issues/1").as_str())
    );
    assert_eq!(one.created_at, agentic_sdk::time::parse_rfc3339(&at(0)));
    assert_eq!(one.updated_at, agentic_sdk::time::parse_rfc3339(&at(1)));
    assert_eq!(one.attributes["number"], json!(1));
    let seven = items.iter().find(|w| w.key == key(7)).expect("#7");
    assert_eq!(seven.status, "closed");
    assert_eq!(seven.attributes["state_reason"], json!("completed"));
    assert_eq!(
        seven.attributes["closed_at"],
        json!(agentic_sdk::time::parse_rfc3339(&at(6)))
    );
    // Pull requests are in GitHub's issues list, not in this stream.
    assert!(items.iter().all(|w| w.item_type == "issue"));
    assert_eq!(items.len(), 7);
}

#[test]
fn pull_requests_carry_refs_merged_and_draft() {
    let Some(github) = start(sample) else { return };
    let (records, _) = read_run(&github, &config(100), "pull-requests", None);
    let items = work_items(&records);
    assert_eq!(
        items.iter().map(|w| w.key.clone()).collect::<Vec<_>>(),
        [key(10), key(9), key(8)],
        "newest first"
    );
    let merged = items[2];
    assert_eq!(merged.item_type, "pull-request");
    assert_eq!(merged.status, "merged");
    assert_eq!(merged.attributes["merged"], json!(true));
    assert_eq!(merged.attributes["head"]["ref"], json!("feature-8"));
    assert_eq!(merged.attributes["base"]["ref"], json!("main"));
    assert_eq!(merged.description, "Fixes PROJ-7 and PROJ-12");
    let draft = items[1];
    assert_eq!(draft.status, "open");
    assert_eq!(draft.attributes["draft"], json!(true));
    assert_eq!(draft.attributes["merged"], json!(false));
}

#[test]
fn comments_land_on_their_issue_or_pull_request() {
    let Some(github) = start(sample) else { return };
    let (records, _) = read_run(&github, &config(100), "comments", None);
    let on: Vec<(String, String)> = records
        .iter()
        .map(|r| match r {
            RecordData::Comment(c) => (c.external_id.clone(), c.parent_external_id.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        on,
        [
            ("issuecomment-1".into(), key(1)),
            ("issuecomment-2".into(), key(1)),
            ("issuecomment-3".into(), key(8)),
            ("issuecomment-4".into(), key(3)),
            ("discussion_r11".into(), key(8)),
            ("discussion_r12".into(), key(8)),
            ("discussion_r13".into(), key(9)),
        ]
    );
}

#[test]
fn text_of_every_unicode_class_arrives_unchanged() {
    let Some(github) = start(|api| {
        let mut data = super::fake::Data::default();
        data.issues.push(issue(
            api,
            1,
            UNICODE,
            &format!("{UNICODE}\n\n**bold** PROJ-5"),
            1,
        ));
        let (p, i) = pull(api, 2, UNICODE, UNICODE, 2);
        data.pulls.push(p);
        data.issues.push(i);
        data.issue_comments
            .push(issue_comment(api, 1, 1, UNICODE, 3));
        data.review_comments
            .push(review_comment(api, 2, 2, UNICODE, 4));
        data
    }) else {
        return;
    };
    let cfg = config(100);
    let (issues, _) = read_run(&github, &cfg, "issues", None);
    let items = work_items(&issues);
    assert_eq!(items[0].title, UNICODE);
    assert_eq!(
        items[0].description,
        format!("{UNICODE}\n\n**bold** PROJ-5")
    );
    let (pulls, _) = read_run(&github, &cfg, "pull-requests", None);
    assert_eq!(work_items(&pulls)[0].title, UNICODE);
    assert_eq!(work_items(&pulls)[0].description, UNICODE);
    let (comments, _) = read_run(&github, &cfg, "comments", None);
    for c in &comments {
        let RecordData::Comment(c) = c else {
            panic!("{c:?}")
        };
        assert_eq!(c.body, UNICODE);
    }
    assert_eq!(comments.len(), 2);
    let (links, _) = read_run(&github, &cfg, "trace-links", None);
    assert_eq!(super::ids(&links), [format!("{}:PROJ-5", key(1))]);
    github.assert_conforms();
}

#[test]
fn the_source_decides_the_streams() {
    let h = Harness::new(GitConnector);
    let names = |config: serde_json::Value| -> Vec<String> {
        h.discover(&config)
            .expect("discover")
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(
        names(json!({})),
        ["commits", "people", "trace-links", "files", "refs"]
    );
    assert_eq!(
        names(config(100)),
        [
            "issues",
            "pull-requests",
            "comments",
            "reviews",
            "people",
            "trace-links"
        ]
    );
    for (bad, says) in [
        (json!({"source": "github"}), "owner/name"),
        (
            json!({"source": "github", "repository": "no-slash"}),
            "owner/name",
        ),
        (
            json!({"source": "github", "repository": "a/.."}),
            "owner/name",
        ),
        (json!({"repository": "a/b"}), "source = \"github\""),
        (
            json!({"source": "github", "repository": "a/b", "per_page": 101}),
            "per_page",
        ),
    ] {
        match h.discover(&bad) {
            Err(Error::Config(m)) => assert!(m.contains(says), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert_eq!(
        names(json!({"source": "gitlab", "project": "acme/widgets"})),
        [
            "issues",
            "merge-requests",
            "comments",
            "people",
            "trace-links"
        ]
    );
    // spec() lists every stream of every source once.
    let spec = h.spec().expect("spec");
    let all: Vec<&str> = spec.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        all,
        [
            "commits",
            "people",
            "trace-links",
            "files",
            "refs",
            "issues",
            "pull-requests",
            "comments",
            "reviews",
            "merge-requests"
        ]
    );
}

#[test]
fn the_description_check_refuses_what_github_does_not_declare() {
    let Some(api) = openapi::description() else {
        return;
    };
    let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    let repo = "/repos/o/r";
    assert_eq!(
        api.check(
            "GET",
            &format!("{repo}/issues/comments"),
            &q(&[("since", "x")])
        ),
        Ok("/repos/{owner}/{repo}/issues/comments".to_owned())
    );
    // The pulls list has no `since`: the connector reads it newest first instead.
    assert!(api
        .check("GET", &format!("{repo}/pulls"), &q(&[("since", &at(1))]))
        .is_err());
    assert!(api
        .check(
            "GET",
            &format!("{repo}/issues"),
            &q(&[("state", "everything")])
        )
        .is_err());
    assert!(api
        .check(
            "GET",
            &format!("{repo}/issues"),
            &q(&[("per_page", "many")])
        )
        .is_err());
    assert!(api
        .check("POST", &format!("{repo}/issues/comments"), &[])
        .is_err());
    // The Link header's URLs name the repository by id, a path the description has not.
    assert!(api.check("GET", "/repositories/1000/issues", &[]).is_err());
}
