//! The actions of a `github` connection against the fake GitHub, which checks each write's
//! JSON body against the operation's request schema: what they send, what they answer (the
//! external ids the streams read back), how GitHub's refusals come out, and the input they
//! refuse before sending anything.

use agentic_sdk::Error;
use serde_json::{json, Value};

use super::fake::{error, REPOSITORY};
use super::{config, harness, ids, key, read_run, sample, start, UNICODE};

#[test]
fn comment_posts_markdown_on_the_issue_and_the_stream_reads_it_back() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    let (_, before) = read_run(&github, &cfg, "comments", None);
    let (_, issues_before) = read_run(&github, &cfg, "issues", None);
    let body = format!("Fixed in `main`:\n\n- **PROJ-7**\n\n{UNICODE}");
    // By key, by `#n`, by number; a pull request is an issue for comments.
    for (reference, number) in [(json!(key(3)), 3), (json!("#8"), 8), (json!(2), 2)] {
        let out = h
            .invoke(&cfg, "comment", &json!({"issue": reference, "body": body}))
            .expect("commented");
        assert_eq!(out["issue"], key(number));
        let id = out["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("issuecomment-"), "{id}");
        assert!(out["url"]
            .as_str()
            .expect("url")
            .ends_with(&id.replace("issuecomment-", "#issuecomment-")));
        let (path, sent) = github.with(|d| d.writes.last().cloned()).expect("a write");
        assert_eq!(path, format!("/issues/{number}/comments"));
        assert_eq!(sent, json!({"body": body}));
    }
    // The next incremental run reads the three comments, on their issues, as written; and the
    // issues they updated.
    let (new, _) = read_run(&github, &cfg, "comments", Some(&before));
    assert_eq!(new.len(), 3, "{:?}", ids(&new));
    for record in &new {
        let c = crate::record_json(record);
        assert_eq!(c["body"], body, "{c}");
    }
    let (touched, _) = read_run(&github, &cfg, "issues", Some(&issues_before));
    assert_eq!(ids(&touched), [key(3), key(2)]);
    github.assert_conforms();
}

#[test]
fn create_issue_sends_title_body_labels_and_assignees() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    let (_, before) = read_run(&github, &cfg, "issues", None);
    let out = h
        .invoke(
            &cfg,
            "create-issue",
            &json!({"title": format!("Checkout fails {UNICODE}"), "body": "Steps:\n\n1. pay",
                    "labels": ["bug", "ui"], "assignees": ["user-c"]}),
        )
        .expect("created");
    assert_eq!(out["key"], key(11));
    assert_eq!(out["number"], 11);
    assert_eq!(
        out["url"],
        format!("https://github.com/{REPOSITORY}/issues/11")
    );
    let (path, sent) = github.with(|d| d.writes.last().cloned()).expect("a write");
    assert_eq!(path, "/issues");
    assert_eq!(
        sent,
        json!({"title": format!("Checkout fails {UNICODE}"), "body": "Steps:\n\n1. pay",
               "labels": ["bug", "ui"], "assignees": ["user-c"]})
    );
    // Only a title: no empty fields sent.
    h.invoke(&cfg, "create-issue", &json!({"title": "Bare"}))
        .expect("created");
    let (_, sent) = github.with(|d| d.writes.last().cloned()).expect("a write");
    assert_eq!(sent, json!({"title": "Bare"}));
    let (new, _) = read_run(&github, &cfg, "issues", Some(&before));
    assert_eq!(ids(&new), [key(11), key(12)]);
    let first = crate::record_json(&new[0]);
    assert_eq!(first["labels"], json!(["bug", "ui"]));
    assert_eq!(first["assignee"], "user-c");
    assert_eq!(first["description"], "Steps:\n\n1. pay");
    github.assert_conforms();
}

#[test]
fn refusals_are_typed_and_say_what_github_said() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    let comment = json!({"issue": 3, "body": "hi"});
    let issue = json!({"title": "t"});
    // GitHub's validation failure, as its errors fixture shows it.
    let mut invalid = error(422, "Validation Failed");
    invalid.body = serde_json::to_vec(&json!({"message": "Validation Failed",
        "errors": [{"resource": "Issue", "code": "invalid", "field": "assignees"}],
        "documentation_url": "https://docs.github.com/rest"}))
    .expect("json");
    github.fail_next(invalid);
    match h.invoke(&cfg, "create-issue", &issue) {
        Err(Error::InvalidInput(m)) => {
            assert!(
                m.contains("Validation Failed") && m.contains("Issue assignees invalid"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    for (action, input) in [("comment", &comment), ("create-issue", &issue)] {
        github.fail_next(error(401, "Bad credentials"));
        assert!(matches!(h.invoke(&cfg, action, input), Err(Error::Auth(m)) if m.contains("401")));
        github.fail_next(error(
            403,
            "Resource not accessible by personal access token",
        ));
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::Auth(_))),
            "{action}"
        );
        github.fail_next(
            error(403, "You have exceeded a secondary rate limit.")
                .with_header("retry-after", "30"),
        );
        assert!(
            matches!(
                h.invoke(&cfg, action, input),
                Err(Error::RateLimited {
                    retry_after_secs: 30,
                    ..
                })
            ),
            "{action}"
        );
        github.fail_next(error(429, "Too Many Requests").with_header("retry-after", "5"));
        assert!(
            matches!(
                h.invoke(&cfg, action, input),
                Err(Error::RateLimited {
                    retry_after_secs: 5,
                    ..
                })
            ),
            "{action}"
        );
        github.fail_next(error(410, "Issues are disabled for this repo"));
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::Config(m)) if m.contains(REPOSITORY)),
            "{action}"
        );
        github.fail_next(error(503, "Service unavailable"));
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::Transient(_))),
            "{action}"
        );
        github.fail_next(
            agentic_sdk::testing::FakeResponse::status(201)
                .with_header("content-type", "application/json")
                .with_body("{\"id\": "),
        );
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::Internal(m)) if m.contains("unexpected response body")),
            "{action}"
        );
    }
    // No issue 99: not found, naming it.
    match h.invoke(&cfg, "comment", &json!({"issue": 99, "body": "hi"})) {
        Err(Error::NotFound(m)) => assert!(m.contains("#99") && m.contains(REPOSITORY), "{m}"),
        other => panic!("{other:?}"),
    }
    github.assert_conforms();
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    let bad: [(&str, Value); 8] = [
        (
            "comment",
            json!({"issue": "other-org/other#3", "body": "hi"}),
        ),
        ("comment", json!({"issue": "PROJ-3", "body": "hi"})),
        ("comment", json!({"issue": 0, "body": "hi"})),
        ("comment", json!({"issue": 3, "body": "  "})),
        ("comment", json!({"issue": 3})),
        ("create-issue", json!({"title": " "})),
        ("create-issue", json!({"title": "t", "milestone": 1})),
        ("create-issue", json!({"title": "t", "labels": [""]})),
    ];
    for (action, input) in &bad {
        assert!(
            matches!(h.invoke(&cfg, action, input), Err(Error::InvalidInput(_))),
            "{action} {input}"
        );
    }
    assert!(matches!(
        h.invoke(&cfg, "close", &json!({})),
        Err(Error::NotFound(_))
    ));
    // A git connection has no actions.
    let git = json!({"source": "git"});
    assert!(matches!(
        h.invoke(&git, "comment", &json!({"issue": 3, "body": "hi"})),
        Err(Error::InvalidInput(m)) if m.contains("github")
    ));
    // The key's repository is matched without regard to case, as GitHub's names are.
    h.invoke(
        &cfg,
        "comment",
        &json!({"issue": format!("{}#3", REPOSITORY.to_uppercase()), "body": "hi"}),
    )
    .expect("commented");
    assert_eq!(github.with(|d| d.writes.len()), 1);
}
