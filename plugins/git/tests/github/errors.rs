//! GitHub's failures as the contract's errors: primary and secondary rate limits with the wait
//! GitHub asks for, a refused credential, a missing repository, server errors, malformed
//! bodies — on every stream, and the state of a run survives them.

use std::time::{SystemTime, UNIX_EPOCH};

use agentic_sdk::testing::FakeResponse;
use agentic_sdk::Error;

use super::fake::error;
use super::{config, harness, ids, key, sample, start};

const STREAMS: [&str; 6] = [
    "issues",
    "pull-requests",
    "comments",
    "reviews",
    "people",
    "trace-links",
];

#[test]
fn rate_limits_wait_as_long_as_github_says() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    for stream in STREAMS {
        // Primary: the hour's budget is spent; wait until x-ratelimit-reset.
        github.fail_next(
            error(403, "API rate limit exceeded for user ID 1.")
                .with_header("x-ratelimit-limit", "5000")
                .with_header("x-ratelimit-remaining", "0")
                .with_header("x-ratelimit-reset", &(now + 120).to_string()),
        );
        match h.read(&cfg, stream, None) {
            Err(Error::RateLimited {
                retry_after_secs, ..
            }) => assert!(
                (1..=120).contains(&retry_after_secs),
                "{stream}: {retry_after_secs}"
            ),
            other => panic!("{stream}: {other:?}"),
        }
        // Secondary: 403 with retry-after.
        github.fail_next(
            error(403, "You have exceeded a secondary rate limit.")
                .with_header("retry-after", "30")
                .with_header("x-ratelimit-remaining", "4000"),
        );
        assert!(
            matches!(
                h.read(&cfg, stream, None),
                Err(Error::RateLimited {
                    retry_after_secs: 30,
                    ..
                })
            ),
            "{stream}"
        );
        // Secondary as 429.
        github.fail_next(error(429, "Too Many Requests").with_header("retry-after", "7"));
        assert!(
            matches!(
                h.read(&cfg, stream, None),
                Err(Error::RateLimited {
                    retry_after_secs: 7,
                    ..
                })
            ),
            "{stream}"
        );
        // Secondary with only GitHub's message: a minute, as GitHub's documentation advises.
        github.fail_next(error(
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ));
        assert!(
            matches!(
                h.read(&cfg, stream, None),
                Err(Error::RateLimited {
                    retry_after_secs: 60,
                    ..
                })
            ),
            "{stream}"
        );
    }
    github.assert_conforms();
}

#[test]
fn failures_are_typed_and_name_what_to_fix() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    for stream in STREAMS {
        github.fail_next(error(401, "Bad credentials"));
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Auth(m)) if m.contains("401")),
            "{stream}"
        );
        // A 403 that is no rate limit: the token lacks a permission.
        github.fail_next(error(
            403,
            "Resource not accessible by personal access token",
        ));
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Auth(_))),
            "{stream}"
        );
        github.fail_next(error(500, "Server Error"));
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Transient(_))),
            "{stream}"
        );
        github.fail_next(error(502, "Bad Gateway"));
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Transient(_))),
            "{stream}"
        );
        github.fail_next(
            FakeResponse::status(200)
                .with_header("content-type", "application/json")
                .with_body(r#"[{"id": 1, "number": "#),
        );
        assert!(
            matches!(h.read(&cfg, stream, None), Err(Error::Internal(m)) if m.contains("unexpected response body")),
            "{stream}"
        );
    }
    // A repository GitHub does not know (or the token may not see): a config error naming it.
    let missing = serde_json::json!({"source": "github", "repository": "octokit-fixture-org/nope"});
    for stream in STREAMS {
        match h.read(&missing, stream, None) {
            Err(Error::Config(m)) => {
                assert!(m.contains("octokit-fixture-org/nope"), "{m}");
            }
            other => panic!("{stream}: {other:?}"),
        }
    }
    match h.check(&missing) {
        Err(Error::Config(m)) => assert!(m.contains("octokit-fixture-org/nope"), "{m}"),
        other => panic!("{other:?}"),
    }
    github.assert_conforms();
}

#[test]
fn a_run_resumes_after_a_failure_where_it_stood() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(2);
    let first = h.read(&cfg, "issues", None).expect("page 1");
    assert!(first.has_more);
    github.fail_next(error(502, "Bad Gateway"));
    assert!(h.read(&cfg, "issues", Some(&first.state)).is_err());
    let rest = h
        .read_all(&cfg, "issues", Some(&first.state))
        .expect("the rest");
    let mut all = ids(&first.records);
    all.extend(rest.iter().flat_map(|p| ids(&p.records)));
    all.sort();
    let mut want: Vec<String> = (1..=7).map(key).collect();
    want.sort();
    assert_eq!(all, want);
    github.assert_conforms();
}
