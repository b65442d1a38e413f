//! GitLab's failures as the contract's errors — a refused token, a missing project, rate limits
//! with `Retry-After` or `RateLimit-Reset`, server errors, malformed bodies, an HTML page — on
//! every stream, and a run resumes where it stood after one.

use std::time::{SystemTime, UNIX_EPOCH};

use agentic_sdk::testing::{Credential, FakeResponse, Harness};
use agentic_sdk::Error;
use git::GitConnector;
use serde_json::json;

use super::fake::{error, FakeGitlab};
use super::{config, harness, ids, key, sample};

const STREAMS: [&str; 5] = [
    "issues",
    "merge-requests",
    "comments",
    "people",
    "trace-links",
];

#[test]
fn failures_are_typed_and_name_what_to_fix() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(100);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    for stream in STREAMS {
        gitlab.fail_next(error(429, "Retry later").with_header("retry-after", "17"));
        assert!(
            matches!(
                h.read(&cfg, stream, None),
                Err(Error::RateLimited {
                    retry_after_secs: 17,
                    ..
                })
            ),
            "{stream}"
        );
        // GitLab's RateLimit-Reset: a Unix time.
        gitlab.fail_next(
            error(429, "Retry later")
                .with_header("ratelimit-reset", &(now + 90).to_string())
                .with_header("ratelimit-remaining", "0"),
        );
        match h.read(&cfg, stream, None) {
            Err(Error::RateLimited {
                retry_after_secs, ..
            }) => assert!(
                (1..=90).contains(&retry_after_secs),
                "{stream}: {retry_after_secs}"
            ),
            other => panic!("{stream}: {other:?}"),
        }
        gitlab.fail_next(error(403, "403 Forbidden"));
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Auth(m)) if m.contains("403")),
            "{stream}"
        );
        for status in [500, 502, 503] {
            gitlab.fail_next(error(status, "Whoops"));
            assert!(
                matches!(h.read(&cfg, stream, None), Err(Error::Transient(_))),
                "{stream} {status}"
            );
        }
        gitlab.fail_next(
            FakeResponse::status(200)
                .with_header("content-type", "application/json")
                .with_body(r#"[{"id": 1, "iid": "#),
        );
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Internal(m)) if m.contains("unexpected response body")),
            "{stream}"
        );
        gitlab.fail_next(
            FakeResponse::status(200)
                .with_header("content-type", "application/json")
                .with_body(r#"[{"id": 1}]"#),
        );
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Internal(m)) if m.contains("iid")),
            "{stream}"
        );
        gitlab.fail_next(
            FakeResponse::status(200)
                .with_header("content-type", "text/html; charset=utf-8")
                .with_body("<!DOCTYPE html><html><body>Sign in</body></html>"),
        );
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Config(m)) if m.contains("HTML")),
            "{stream}"
        );
    }
    // No token, or a wrong one: GitLab's 401.
    let anonymous = Harness::new(GitConnector).with_base_url(gitlab.url());
    let wrong = Harness::new(GitConnector)
        .with_base_url(gitlab.url())
        .with_credential(Credential::Bearer("nope".into()));
    for h in [anonymous, wrong] {
        assert!(matches!(h.read(&cfg, "issues", None), Err(Error::Auth(m)) if m.contains("401")));
        assert!(matches!(h.check(&cfg), Err(Error::Auth(_))));
    }
    // A project GitLab does not have (or hides): a config error naming it.
    let missing = json!({"source": "gitlab", "project": "acme/nope"});
    for stream in STREAMS {
        match h.read(&missing, stream, None) {
            Err(Error::Config(m)) => assert!(m.contains("acme/nope"), "{m}"),
            other => panic!("{stream}: {other:?}"),
        }
    }
    gitlab.assert_conforms();
}

#[test]
fn a_run_resumes_after_a_failure_where_it_stood() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(2);
    let first = h.read(&cfg, "issues", None).expect("page 1");
    assert!(first.has_more);
    gitlab.fail_next(error(502, "Bad Gateway"));
    assert!(h.read(&cfg, "issues", Some(&first.state)).is_err());
    let rest = h
        .read_all(&cfg, "issues", Some(&first.state))
        .expect("the rest");
    let mut all = ids(&first.records);
    all.extend(rest.iter().flat_map(|p| ids(&p.records)));
    assert_eq!(all, (1..=7).map(key).collect::<Vec<_>>());
    gitlab.assert_conforms();
}

#[test]
fn an_item_deleted_between_the_list_and_its_notes_is_skipped() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    let cfg = config(100);
    // The first page queues the items with notes; then issue 1 goes.
    let queued = h.read(&cfg, "comments", None).expect("the list");
    gitlab.with(|d| d.issues.retain(|i| i["iid"] != 1));
    let rest = h
        .read_all(&cfg, "comments", Some(&queued.state))
        .expect("the rest");
    let got: Vec<String> = rest.iter().flat_map(|p| ids(&p.records)).collect();
    assert_eq!(got, ["note_4", "note_5"]);
}

#[test]
fn a_merge_request_gone_before_its_approvals_are_read_is_kept_without_them() {
    let gitlab = FakeGitlab::start(sample());
    let h = harness(&gitlab);
    // The list names !9, which is deleted before its approvals are asked for (GitLab: 404).
    let gone = super::merge_request(9, "Gone", "", &super::at(9));
    gitlab.fail_next(FakeResponse::json(&json!([gone])).with_header("x-next-page", ""));
    let page = h
        .read(&config(100), "merge-requests", None)
        .expect("the page");
    assert_eq!(ids(&page.records), [super::mr_key(9)]);
    let item = crate::record_json(&page.records[0]);
    assert_eq!(item["attributes"]["approved_by"], json!(null));
    // Any other failure of the approvals fails the page, which is read again.
    gitlab.fail_next(
        FakeResponse::json(&json!([super::merge_request(1, "M", "", &super::at(4))]))
            .with_header("x-next-page", ""),
    );
    gitlab.fail_next(error(502, "Bad Gateway"));
    assert!(matches!(
        h.read(&config(100), "merge-requests", None),
        Err(Error::Transient(_))
    ));
    gitlab.assert_conforms();
}
