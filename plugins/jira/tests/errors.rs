//! JIRA's failures as the contract's errors: throttling with `Retry-After` or
//! `X-RateLimit-Reset` is `rate-limited` (the host reschedules), 5xx is `transient`, 401/403/404
//! are `auth`/`not-found` with what JIRA said and what to do, a wrong deployment is a `config`
//! error; bad states, streams, actions and inputs are refused.

use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentic_sdk::testing::Harness;
use agentic_sdk::Error;
use fake_jira::error as jira_error;
use jira::JiraConnector;
use serde_json::json;
use support::{Deployment, FakeJira, Response};

/// Reads `issues` once, with `failure` as JIRA's answer.
fn read_failing(mode: Deployment, failure: Response) -> Error {
    let jira = FakeJira::start(mode, 3);
    jira.with(|d| d.failures.push_back(failure));
    let error = jira
        .harness()
        .read(&jira.config(5), "issues", None)
        .expect_err("the read fails");
    jira.assert_valid();
    error
}

#[test]
fn throttling_becomes_rate_limited_with_the_delay_jira_asks_for() {
    let e = read_failing(
        Deployment::Cloud,
        jira_error(429, "Rate limit exceeded")
            .with_header("Retry-After", "30")
            .with_header("RateLimit-Reason", "jira-burst-based"),
    );
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_secs: 30,
                ..
            }
        ),
        "{e:?}"
    );
    // Atlassian's reset time, to the minute, without Retry-After.
    let in_two_minutes = SystemTime::now() + Duration::from_secs(120);
    let secs = in_two_minutes
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let reset = jira::time::jira_timestamp(secs * 1000, 0);
    let reset = format!("{}Z", &reset[..16]);
    match read_failing(
        Deployment::Cloud,
        jira_error(429, "slow down").with_header("X-RateLimit-Reset", &reset),
    ) {
        Error::RateLimited {
            retry_after_secs,
            message,
        } => {
            assert!(
                (59..=121).contains(&retry_after_secs),
                "{retry_after_secs} s until {reset}"
            );
            assert!(message.contains("429"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A 503 with a delay is throttling too; without one it is a passing failure.
    let e = read_failing(
        Deployment::DataCenter,
        Response::status(503).with_header("Retry-After", "5"),
    );
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_secs: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        read_failing(Deployment::Cloud, Response::status(503)),
        Error::Transient(_)
    ));
    assert!(matches!(
        read_failing(Deployment::Cloud, Response::status(502)),
        Error::Transient(_)
    ));
    // No delay at all: the SDK's default.
    let e = read_failing(Deployment::Cloud, Response::status(429));
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_secs: 60,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn refused_credentials_and_permissions_say_what_to_fix() {
    match read_failing(
        Deployment::Cloud,
        jira_error(401, "Client must be authenticated to access this resource."),
    ) {
        Error::Auth(m) => {
            assert!(
                m.contains("401")
                    && m.contains("API token")
                    && m.contains("Client must be authenticated"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match read_failing(Deployment::DataCenter, Response::status(401)) {
        Error::Auth(m) => assert!(m.contains("personal access token"), "{m}"),
        other => panic!("{other:?}"),
    }
    match read_failing(
        Deployment::Cloud,
        jira_error(
            403,
            "You do not have the permission to see the specified issue.",
        ),
    ) {
        Error::Auth(m) => assert!(
            m.contains("may not search issues") && m.contains("permission to see"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // GitHub-style exhausted budget on a 403 is throttling, not permissions.
    let e = read_failing(
        Deployment::Cloud,
        Response::status(403)
            .with_header("X-RateLimit-Remaining", "0")
            .with_header("Retry-After", "9"),
    );
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after_secs: 9,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn missing_things_are_not_found_with_jiras_words() {
    let jira = FakeJira::start(Deployment::Cloud, 3);
    let h = jira.harness();
    let config = jira.config(5);
    match h.invoke(
        &config,
        "add-comment",
        &json!({"issue": "NOPE-1", "body": "x"}),
    ) {
        Err(Error::NotFound(m)) => assert!(
            m.contains("comment on issue NOPE-1")
                && m.contains("404")
                && m.contains("Issue does not exist"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(h.read(&config, "sprints", None), Err(Error::NotFound(m)) if m.contains("issue-links"))
    );
    assert!(matches!(
        h.invoke(&config, "delete-issue", &json!({})),
        Err(Error::NotFound(_))
    ));
    jira.assert_valid();
}

#[test]
fn check_names_the_user_and_catches_a_wrong_deployment() {
    let cloud = FakeJira::start(Deployment::Cloud, 1);
    let message = cloud.harness().check(&cloud.config(5)).expect("check");
    assert_eq!(message, format!("connected to {} as User 0", cloud.url()));
    let dc = FakeJira::start(Deployment::DataCenter, 1);
    let h = dc.harness();
    let dc_config = dc.config(5);
    assert_eq!(
        h.check(&dc_config),
        Ok(format!("connected to {} as User 0", dc.url()))
    );
    // A Data Center server configured as Cloud: no REST v3 there.
    let mut wrong = dc_config.clone();
    wrong["deployment"] = json!("cloud");
    match h.check(&wrong) {
        Err(Error::Config(m)) => assert!(m.contains("data-center"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A configuration that does not parse, or that the connector refuses.
    assert!(
        matches!(h.check(&json!({"deployment": "server"})), Err(Error::Config(m)) if m.contains("deployment"))
    );
    assert!(
        matches!(h.check(&json!({"deployment": "cloud", "jql": "a = b ORDER BY c"})), Err(Error::Config(m)) if m.starts_with("jql"))
    );
    // The connection's base URL is checked, and there must be one (try-out calls have none).
    let bad_site = Harness::new(JiraConnector).with_base_url("ftp://jira.acme.internal");
    assert!(
        matches!(bad_site.check(&json!({"deployment": "cloud"})), Err(Error::Config(m)) if m.starts_with("the connection's base URL \"ftp://jira.acme.internal\" must start with https://"))
    );
    assert!(
        matches!(Harness::new(JiraConnector).check(&json!({"deployment": "cloud"})), Err(Error::Config(m)) if m.contains("no connection"))
    );
    // Only the second request of each server is the one-off /rest/api/3 probe of the wrong config.
    let violations = dc.violations();
    assert!(
        violations
            .iter()
            .all(|v| v.contains("not under /rest/api/2/")),
        "{violations:?}"
    );
}

#[test]
fn states_that_are_not_the_streams_are_invalid_input() {
    let jira = FakeJira::start(Deployment::Cloud, 2);
    let h = jira.harness();
    let config = jira.config(5);
    for (stream, state) in [
        ("issues", "12"),
        ("comments", "{\"v\":1,\"hw\":\"x\"}"),
        ("users", "abc"),
        ("projects", "{}"),
    ] {
        assert!(
            matches!(
                h.read(&config, stream, Some(state)),
                Err(Error::InvalidInput(_))
            ),
            "{stream} {state}"
        );
    }
}

#[test]
fn jiras_validation_errors_reach_the_user() {
    let jira = FakeJira::start(Deployment::Cloud, 2);
    let h = jira.harness();
    match h.invoke(
        &jira.config(5),
        "create-issue",
        &json!({"project": "XX", "issue_type": "Bug", "summary": "s"}),
    ) {
        Err(Error::InvalidInput(m)) => assert!(
            m.contains("create the issue") && m.contains("project: valid project is required"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    jira.assert_valid();
}

#[test]
fn the_credential_is_the_hosts_and_a_missing_one_is_an_auth_error() {
    let jira = FakeJira::start(Deployment::Cloud, 3);
    let config = jira.config(10);
    // With the connection's credential, as the host puts it on each request.
    let h = jira.harness();
    h.check(&config).expect("check with the credential");
    let pages = h.read_all(&config, "issues", None).expect("read");
    assert_eq!(pages.iter().map(|p| p.records.len()).sum::<usize>(), 3);
    let expected = "Basic Ym90QGV4YW1wbGUuY29tOkFUQVRUM3hGZkdGMC1jbG91ZC1hcGktdG9rZW4=";
    assert!(
        jira.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(expected)),
        "every request carries the API token as HTTP Basic"
    );
    let logs = format!("{:?}", h.take_logs());
    assert!(
        !logs.contains("ATATT3xFfGF0") && !logs.contains(expected),
        "{logs}"
    );
    // Without it (a connection whose credential is missing), JIRA's 401 is an auth error.
    let bare = Harness::new(JiraConnector).with_base_url(jira.url());
    match bare.check(&config) {
        Err(Error::Auth(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("{other:?}"),
    }
}
