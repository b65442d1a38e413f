//! Incremental syncs: after a full read, only what changed comes back; a run resumes from each
//! of its states with nothing repeated or lost; the overlap window picks up changes JIRA's index
//! shows late; JQL dates are in the JIRA user's time zone; issues sharing an update instant
//! across page boundaries; expired page tokens; rate limits in the middle of a run.

use crate::support;

use std::collections::BTreeSet;

use agentic_sdk::testing::Harness;
use agentic_sdk::{Error, Page, RecordData};
use jira::JiraConnector;
use serde_json::Value;
use support::{Data, Deployment, FakeJira, Response, T0};

fn ids(pages: &[Page]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.records.iter().map(|r| r.external_id().to_owned()))
        .collect()
}

fn last_state(pages: &[Page]) -> String {
    pages.last().map(|p| p.state.clone()).unwrap_or_default()
}

/// Reads to the end from `state`, then checks that resuming from every state of that read
/// gives exactly the records after it; returns the pages.
fn read_and_resume(
    h: &Harness<JiraConnector>,
    config: &Value,
    stream: &str,
    state: Option<&str>,
) -> Vec<Page> {
    let pages = h.read_all(config, stream, state).expect("read");
    let all = ids(&pages);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "{stream}: a read repeats records: {all:?}"
    );
    let mut before = 0;
    for page in &pages[..pages.len().saturating_sub(1)] {
        before += page.records.len();
        let rest = ids(&h
            .read_all(config, stream, Some(&page.state))
            .expect("resume"));
        assert_eq!(
            rest,
            all[before..],
            "{stream}: resuming from {}",
            page.state
        );
    }
    pages
}

fn jql_sent(jira: &FakeJira) -> Vec<String> {
    jira.requests()
        .iter()
        .filter_map(|r| match jira.deployment() {
            Deployment::Cloud => serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|b| b["jql"].as_str().map(str::to_owned)),
            Deployment::DataCenter => r.query("jql").map(str::to_owned),
        })
        .collect()
}

fn changes_after_a_full_read(mode: Deployment) {
    let jira = FakeJira::start(mode, 23);
    let h = jira.harness();
    let config = jira.config(4);
    let full = read_and_resume(&h, &config, "issues", None);
    assert_eq!(ids(&full).len(), 23);
    let comments = h.read_all(&config, "comments", None).expect("comments");
    let state = last_state(&full);
    let comment_state = last_state(&comments);
    // Nothing changed: nothing comes back.
    let again = h.read_all(&config, "issues", Some(&state)).expect("again");
    assert_eq!(ids(&again), Vec::<String>::new());
    // Two issues change, a third gets a comment, well after the last change read.
    let hw = jira
        .with(|d| d.issues.last().map(|i| i.updated))
        .expect("issues");
    let new_comment = jira.with(|d| {
        d.touch(10_003, hw + 600_000);
        d.touch(10_011, hw + 660_000);
        d.comment(10_005, hw + 700_000, "A new comment")
    });
    let changed = read_and_resume(&h, &config, "issues", Some(&state));
    assert_eq!(ids(&changed), ["10003", "10011", "10005"]);
    let changed_comments = h
        .read_all(&config, "comments", Some(&comment_state))
        .expect("comments");
    assert_eq!(
        ids(&changed_comments),
        [new_comment.to_string()],
        "only the new comment"
    );
    // And then nothing again.
    let state = last_state(&changed);
    assert_eq!(
        ids(&h.read_all(&config, "issues", Some(&state)).expect("read")),
        Vec::<String>::new()
    );
    // A full read (no state) reads everything again, so deletions can be found.
    assert_eq!(
        ids(&h.read_all(&config, "issues", None).expect("full")).len(),
        23
    );
    // The incremental search starts a little before the last change, in whole minutes.
    let sent = jql_sent(&jira);
    assert!(
        sent.iter()
            .any(|j| j.starts_with("updated >= \"2023-11-15 ")),
        "{sent:#?}"
    );
    assert!(sent
        .iter()
        .all(|j| j.ends_with("ORDER BY updated ASC, key ASC")));
    jira.assert_valid();
}

#[test]
fn cloud_incremental_reads_return_only_changes() {
    changes_after_a_full_read(Deployment::Cloud);
}

#[test]
fn data_center_incremental_reads_return_only_changes() {
    changes_after_a_full_read(Deployment::DataCenter);
}

#[test]
fn changes_indexed_late_within_the_overlap_window_are_read() {
    for mode in [Deployment::Cloud, Deployment::DataCenter] {
        let jira = FakeJira::start(mode, 12);
        let h = jira.harness();
        let config = jira.config(5);
        let state = last_state(&h.read_all(&config, "issues", None).expect("full"));
        let hw = jira
            .with(|d| d.issues.last().map(|i| i.updated))
            .expect("issues");
        // Updated two minutes before the last change read (inside the 5-minute window), but
        // only visible now; and one updated long before (outside: not read again).
        jira.with(|d| {
            d.touch(10_002, hw - 120_000);
            d.touch(10_004, hw - 3_600_000);
        });
        let late = h.read_all(&config, "issues", Some(&state)).expect("late");
        assert_eq!(ids(&late), ["10002"], "{mode:?}");
        jira.assert_valid();
    }
}

#[test]
fn jql_dates_are_written_in_the_jira_users_time_zone() {
    // The JIRA user is in UTC−5: the fake writes timestamps and reads JQL dates there. Were
    // the connector to write JQL dates in UTC, its searches would start five hours late and
    // miss the change below.
    let jira = FakeJira::with_data(Data::generate(Deployment::Cloud, 10, -300));
    let h = jira.harness();
    let config = jira.config(4);
    let state = last_state(&h.read_all(&config, "issues", None).expect("full"));
    let hw = jira
        .with(|d| d.issues.last().map(|i| i.updated))
        .expect("issues");
    jira.with(|d| d.touch(10_001, hw + 60_000));
    let changed = h
        .read_all(&config, "issues", Some(&state))
        .expect("incremental");
    assert_eq!(ids(&changed), ["10001"]);
    let window_start = jira::time::jql_date(jira::time::floor_minute(hw - 300_000), -300);
    let sent = jql_sent(&jira);
    assert!(
        sent.iter()
            .any(|j| j.contains(&format!("updated >= \"{window_start}\""))),
        "{window_start} not in {sent:#?}"
    );
    jira.assert_valid();
}

#[test]
fn issues_updated_at_one_instant_split_across_pages_are_read_once() {
    for mode in [Deployment::Cloud, Deployment::DataCenter] {
        let mut data = Data::generate(mode, 30, 0);
        // Twelve issues updated in the same minute, seven at the very same millisecond.
        for (n, issue) in data.issues.iter_mut().enumerate().skip(10).take(12) {
            issue.updated = T0 + 7_200_000 + if n < 17 { 0 } else { n as i64 * 1_000 };
        }
        let jira = FakeJira::with_data(data);
        let h = jira.harness();
        let config = jira.config(5);
        let pages = read_and_resume(&h, &config, "issues", None);
        assert_eq!(ids(&pages).len(), 30, "{mode:?}");
        // And incrementally from the middle of the tie.
        let state = last_state(&pages);
        assert!(
            h.read_all(&config, "issues", Some(&state)).expect("again")[0]
                .records
                .is_empty()
        );
        jira.assert_valid();
    }
}

#[test]
fn an_expired_page_token_restarts_the_search_without_repeats() {
    let jira = FakeJira::start(Deployment::Cloud, 20);
    let h = jira.harness();
    let config = jira.config(4);
    let first = h.read(&config, "issues", None).expect("first page");
    jira.with(|d| d.expire_tokens = 1);
    let rest = h
        .read_all(&config, "issues", Some(&first.state))
        .expect("the rest");
    let mut all = ids(&[first]);
    all.extend(ids(&rest));
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (20, 20), "{all:?}");
    let logs = h.take_logs();
    assert!(
        logs.iter()
            .any(|(_, l)| l.contains("page token was refused")),
        "{logs:?}"
    );
    jira.assert_valid();
}

#[test]
fn a_rate_limit_mid_run_loses_nothing_when_the_host_retries_the_state() {
    let jira = FakeJira::start(Deployment::Cloud, 15);
    let h = jira.harness();
    let config = jira.config(4);
    let mut pages = vec![h.read(&config, "issues", None).expect("page 1")];
    jira.with(|d| {
        d.failures
            .push_back(Response::status(429).with_header("Retry-After", "7"))
    });
    let state = pages[0].state.clone();
    match h.read(&config, "issues", Some(&state)) {
        Err(Error::RateLimited {
            retry_after_secs, ..
        }) => assert_eq!(retry_after_secs, 7),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // The host reschedules and calls again with the same state.
    pages.extend(h.read_all(&config, "issues", Some(&state)).expect("retry"));
    assert_eq!(ids(&pages).len(), 15);
    jira.assert_valid();
}

#[test]
fn child_streams_follow_their_issues_incrementally() {
    let jira = FakeJira::start(Deployment::Cloud, 20);
    let h = jira.harness();
    let config = jira.config(6);
    let mut states = Vec::new();
    for stream in ["issue-links", "changelog"] {
        let pages = read_and_resume(&h, &config, stream, None);
        states.push(last_state(&pages));
    }
    let hw = jira
        .with(|d| d.issues.last().map(|i| i.updated))
        .expect("issues");
    jira.with(|d| {
        let issue = d.issues.iter_mut().find(|i| i.id == 10_006).expect("issue");
        issue.histories.push(support::History {
            id: 99_999,
            author: 1,
            created: hw + 60_000,
            from: 0,
            to: 2,
        });
        d.touch(10_006, hw + 60_000);
    });
    let link = jira.with(|d| {
        let issue = d.issue(10_006).expect("issue");
        issue.links.first().map(|l| l.id.to_string())
    });
    let links = h
        .read_all(&config, "issue-links", Some(&states[0]))
        .expect("links");
    assert_eq!(
        ids(&links),
        [link.expect("issue 10006 has an outward link")],
        "read again with its issue"
    );
    let histories = h
        .read_all(&config, "changelog", Some(&states[1]))
        .expect("changelog");
    assert_eq!(ids(&histories), ["99999"], "only the new change");
    let records: Vec<&RecordData> = histories.iter().flat_map(|p| &p.records).collect();
    let RecordData::Raw(raw) = records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(raw.data["issue_key"], "ED-4");
    assert_eq!(raw.data["items"][0]["to_string"], "Done");
    jira.assert_valid();
}

#[test]
fn full_refresh_streams_start_over_on_the_next_sync() {
    // The host starts every sync from the stored state; projects and users end with an empty
    // one, so the next sync reads them all again.
    let jira = FakeJira::start(Deployment::Cloud, 2);
    let h = jira.harness();
    let config = jira.config(3);
    for (stream, count) in [("projects", 2), ("users", 7)] {
        let first = h.read_all(&config, stream, None).expect("first");
        assert_eq!(last_state(&first), "", "{stream}");
        let next = h
            .read_all(&config, stream, Some(&last_state(&first)))
            .expect("next");
        assert_eq!(ids(&next).len(), count, "{stream}");
    }
}
