//! The actions of a `gitlab` connection against the fake GitLab, which checks each write's
//! JSON body against the documented fields: a note on an issue or merge request, a new issue
//! with labels and assignees (usernames resolved to ids), GitLab's refusals, bad input.

use agentic_sdk::Error;
use serde_json::{json, Value};

use super::fake::{error, FakeGitlab, PROJECT};
use super::{config, harness, ids, key, mr_key, read_run, sample, UNICODE};

#[test]
fn comment_notes_an_issue_or_merge_request_and_the_stream_reads_it_back() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(100);
    let (_, before) = read_run(&gitlab, &cfg, "comments", None);
    let body = format!("Fixed in `main`:\n\n- **PROJ-7**\n\n{UNICODE}");
    for (reference, want, path) in [
        (json!(key(2)), key(2), "/issues/2/notes"),
        (json!("!2"), mr_key(2), "/merge_requests/2/notes"),
        (json!(6), key(6), "/issues/6/notes"),
        (
            json!(mr_key(3).to_uppercase()),
            mr_key(3),
            "/merge_requests/3/notes",
        ),
    ] {
        let out = h
            .invoke(&cfg, "comment", &json!({"issue": reference, "body": body}))
            .expect("noted");
        assert_eq!(out["issue"], want);
        let id = out["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("note_"), "{id}");
        assert!(
            out["url"]
                .as_str()
                .expect("url")
                .ends_with(&format!("#{id}")),
            "{out}"
        );
        let (written, sent) = gitlab.with(|d| d.writes.last().cloned()).expect("a write");
        assert!(written.ends_with(path), "{written}");
        assert_eq!(sent, json!({"body": body}));
    }
    let (new, _) = read_run(&gitlab, &cfg, "comments", Some(&before));
    let new: Vec<Value> = new.iter().map(crate::record_json).collect();
    let written: Vec<&Value> = new.iter().filter(|n| n["body"] == body).collect();
    assert_eq!(written.len(), 4, "{new:?}");
    gitlab.assert_conforms();
}

#[test]
fn create_issue_resolves_assignees_and_joins_labels() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(100);
    let (_, before) = read_run(&gitlab, &cfg, "issues", None);
    let out = h
        .invoke(
            &cfg,
            "create-issue",
            &json!({"title": format!("Checkout fails {UNICODE}"),
        "body": "Steps:\n\n1. pay", "labels": ["bug", "ui"], "assignees": ["carol"]}),
        )
        .expect("created");
    assert_eq!(out["key"], key(8));
    assert_eq!(out["number"], 8);
    assert_eq!(
        out["url"],
        format!("https://git.acme.example/gitlab/{PROJECT}/-/issues/8")
    );
    let carol = gitlab.with(|d| d.users[2]["id"].clone());
    let (_, sent) = gitlab.with(|d| d.writes.last().cloned()).expect("a write");
    assert_eq!(
        sent,
        json!({"title": format!("Checkout fails {UNICODE}"), "description": "Steps:\n\n1. pay",
        "labels": "bug,ui", "assignee_ids": [carol]})
    );
    h.invoke(&cfg, "create-issue", &json!({"title": "Bare"}))
        .expect("created");
    assert_eq!(
        gitlab
            .with(|d| d.writes.last().cloned())
            .expect("a write")
            .1,
        json!({"title": "Bare"})
    );
    let (new, _) = read_run(&gitlab, &cfg, "issues", Some(&before));
    assert_eq!(ids(&new), [key(8), key(9)]);
    let first = crate::record_json(&new[0]);
    assert_eq!(first["assignee"], "carol");
    assert_eq!(first["labels"], json!(["bug", "ui"]));
    gitlab.assert_conforms();
}

#[test]
fn refusals_are_typed_and_bad_input_sends_nothing() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(100);
    // GitLab's validation answer.
    gitlab.fail_next(FakeResponseExt::bad_request());
    match h.invoke(&cfg, "create-issue", &json!({"title": "t"})) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("is too long"), "{m}"),
        other => panic!("{other:?}"),
    }
    gitlab.fail_next(error(403, "403 Forbidden"));
    assert!(matches!(
        h.invoke(&cfg, "create-issue", &json!({"title": "t"})),
        Err(Error::Auth(_))
    ));
    gitlab.fail_next(error(429, "Retry later").with_header("retry-after", "9"));
    assert!(matches!(
        h.invoke(&cfg, "create-issue", &json!({"title": "t"})),
        Err(Error::RateLimited {
            retry_after_secs: 9,
            ..
        })
    ));
    match h.invoke(&cfg, "comment", &json!({"issue": "!99", "body": "hi"})) {
        Err(Error::NotFound(m)) => assert!(
            m.contains("merge request !99") && m.contains(PROJECT),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match h.invoke(
        &cfg,
        "create-issue",
        &json!({"title": "t", "assignees": ["nobody"]}),
    ) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("nobody"), "{m}"),
        other => panic!("{other:?}"),
    }
    let writes = gitlab.with(|d| d.writes.len());
    let bad: [(&str, Value); 6] = [
        (
            "comment",
            json!({"issue": "other/group/project#3", "body": "hi"}),
        ),
        ("comment", json!({"issue": "PROJ-3", "body": "hi"})),
        ("comment", json!({"issue": "#0", "body": "hi"})),
        ("comment", json!({"issue": 3, "body": " "})),
        ("create-issue", json!({"title": "t", "labels": ["a,b"]})),
        ("create-issue", json!({"title": "t", "weight": 3})),
    ];
    for (action, input) in &bad {
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::InvalidInput(_))),
            "{action} {input}"
        );
    }
    assert_eq!(gitlab.with(|d| d.writes.len()), writes, "nothing written");
    gitlab.assert_conforms();
}

/// GitLab's `400` for a write it refuses (`{"message": {"field": ["why"]}}`).
struct FakeResponseExt;

impl FakeResponseExt {
    fn bad_request() -> agentic_sdk::testing::FakeResponse {
        agentic_sdk::testing::FakeResponse::json(
            &json!({"message": {"title": ["is too long (maximum is 255 characters)"]}}),
        )
        .with_status(400)
    }
}
