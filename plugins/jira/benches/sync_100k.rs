//! How fast the connector reads: a full read of the `issues` stream of a 100 000-issue Jira
//! Cloud, natively, against the fake JIRA (`tests/fake-jira`), 100 issues per page, as the host's
//! sync loop calls `read`. Run with `cargo bench -p jira` (`ISSUES=…` for another size).
//!
//! It prints records per second and where the time went: the fake (validating each request
//! against the OpenAPI document, building and serialising the page), the connector's own work
//! on a page (parsing JIRA's JSON, turning issues into work items, ADF into Markdown, the
//! state), measured apart on the same pages, and the rest (loopback HTTP, one connection per
//! request, and the harness). In the host the connector runs as WebAssembly, behind wasi:http:
//! this is the native bound.

#[path = "../tests/support.rs"]
mod support;

use std::time::{Duration, Instant};

use agentic_sdk::http::Request;
use jira::config::Config;
use serde_json::{json, Value};
use support::{Data, Deployment, FakeJira};

fn main() {
    let issues: usize = std::env::var("ISSUES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let jira = FakeJira::with_data(Data::generate(Deployment::Cloud, issues, 60));
    println!(
        "fake JIRA with {issues} issues ready in {:.1?}",
        started.elapsed()
    );
    let config = jira.config(100);
    let h = jira.harness();

    let started = Instant::now();
    let (mut records, mut pages, mut state_bytes) = (0_usize, 0_usize, 0_usize);
    let mut state: Option<String> = None;
    loop {
        let page = h.read(&config, "issues", state.as_deref()).expect("read");
        records += page.records.len();
        pages += 1;
        state_bytes = state_bytes.max(page.state.len());
        h.take_host_events();
        if !page.has_more {
            break;
        }
        state = Some(page.state);
    }
    let total = started.elapsed();
    assert_eq!(records, issues, "every issue once");
    jira.assert_valid();
    let (validate, answer) = jira.with(|d| (d.validate_time, d.answer_time));

    // The connector's own work on pages like these, without HTTP: parse and transform.
    let body = json!({
        "jql": "updated >= \"1970-01-01 00:00\" ORDER BY updated ASC, key ASC",
        "maxResults": 100,
        "fields": jira::transform::ISSUE_FIELDS,
    });
    let raw = Request::post(format!("{}/rest/api/3/search/jql", jira.url()))
        .header("accept", "application/json")
        .json(&body)
        .expect("json")
        .send()
        .expect("page")
        .body;
    let parsed: Config = serde_json::from_value(config.clone()).expect("config");
    let rounds = (pages / 10).max(1);
    let started = Instant::now();
    for _ in 0..rounds {
        let page: Value = serde_json::from_slice(&raw).expect("json");
        for issue in page["issues"].as_array().expect("issues") {
            std::hint::black_box(jira::transform::work_item(issue, &parsed));
        }
    }
    let per_page = started.elapsed() / rounds as u32;
    let connector = per_page * pages as u32;
    let page: Value = serde_json::from_slice(&raw).expect("json");
    let started = Instant::now();
    for _ in 0..rounds {
        for issue in page["issues"].as_array().expect("issues") {
            std::hint::black_box(jira::adf::to_markdown(&issue["fields"]["description"]));
        }
    }
    let markdown = started.elapsed() / rounds as u32 * pages as u32;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(serde_json::from_slice::<Value>(&raw).expect("json"));
    }
    let parsing = started.elapsed() / rounds as u32 * pages as u32;

    let secs = |d: Duration| d.as_secs_f64();
    let share = |d: Duration| 100.0 * secs(d) / secs(total);
    let rest = total.saturating_sub(validate + answer + connector);
    println!(
        "read {records} issues in {pages} pages in {:.2} s: {:.0} records/s ({} KB per page, state ≤ {state_bytes} bytes)",
        secs(total),
        records as f64 / secs(total),
        raw.len() / 1024,
    );
    println!(
        "  fake: validating requests  {:6.2} s  {:4.1} %",
        secs(validate),
        share(validate)
    );
    println!(
        "  fake: building answers     {:6.2} s  {:4.1} %",
        secs(answer),
        share(answer)
    );
    println!(
        "  connector: parse+transform {:6.2} s  {:4.1} %  ({:.0} records/s alone)",
        secs(connector),
        share(connector),
        100.0 / secs(per_page)
    );
    println!(
        "    of which JSON parsing    {:6.2} s  {:4.1} %",
        secs(parsing),
        share(parsing)
    );
    println!(
        "    of which ADF → Markdown  {:6.2} s  {:4.1} %",
        secs(markdown),
        share(markdown)
    );
    println!(
        "  HTTP, harness, the rest    {:6.2} s  {:4.1} %",
        secs(rest),
        share(rest)
    );
}
