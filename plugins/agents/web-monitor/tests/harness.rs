//! The web-monitor's logic in the agent SDK's harness, against a local fake page. (The
//! component itself runs on the host in the agent stories of `tests/`.)

use agent_web_monitor::WebMonitor;
use agentic_agent_sdk::serde_json::json;
use agentic_agent_sdk::testing::{FakeResponse, FakeServer, Harness};
use agentic_agent_sdk::{Error, TriggerKind};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

/// A page whose status the test sets, with a fixed body.
fn page(status: Arc<AtomicU16>) -> FakeServer {
    FakeServer::start(move |_| {
        FakeResponse::status(status.load(Ordering::SeqCst))
            .with_body("<h1>All systems operational</h1>")
    })
}

#[test]
fn a_healthy_page_is_measured_and_a_failing_one_is_a_problem_that_keeps_the_state() {
    let status = Arc::new(AtomicU16::new(200));
    let fake = page(status.clone());
    let mut host = Harness::new().route("status.example.com", &fake.url());
    let config =
        json!({"url": "https://status.example.com/health?full=1", "keyword": "operational"});

    let run = host.run::<WebMonitor>(config.clone());
    assert!(!run.failed(), "{:?}", run.result);
    assert!(run
        .outcome()
        .summary
        .starts_with("https://status.example.com/health?full=1 answered 200 in "));
    assert!(run.outcome().summary.ends_with(" with the keyword"));
    assert_eq!(
        (run.metric("status"), run.metric("keyword_found")),
        (Some(200.0), Some(1.0))
    );
    assert_eq!(run.metric("bytes"), Some(32.0));
    assert!(run.metric("latency_ms").is_some_and(|ms| ms >= 0.0));
    assert_eq!(fake.requests()[0].path, "/health");
    assert_eq!(fake.requests()[0].query("full"), Some("1"));

    status.store(503, Ordering::SeqCst);
    let run = host.run::<WebMonitor>(config.clone());
    assert!(run.failed());
    assert_eq!(
        run.outcome().problem.as_deref(),
        Some("https://status.example.com/health?full=1: status 503 (expected 2xx)")
    );
    // A problem is a failed run whose state is kept.
    assert_eq!(host.state(), Some(json!({"checks": 2, "last_status": 503})));

    status.store(200, Ordering::SeqCst);
    let run = host.run::<WebMonitor>(
        json!({"url": "https://status.example.com/", "keyword": "degraded", "expect_status": 200}),
    );
    assert_eq!(
        run.run.trigger,
        TriggerKind::Retry,
        "a run after a failed one is a retry"
    );
    assert_eq!(run.run.consecutive_failures, 1);
    assert_eq!(
        run.outcome().problem.as_deref(),
        Some("https://status.example.com/: the page does not contain \"degraded\"")
    );
    assert_eq!(run.metric("keyword_found"), Some(0.0));
}

#[test]
fn an_unreachable_page_is_a_problem_and_a_refused_one_fails_the_run_as_denied() {
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let mut host = Harness::new().route("down.example.com", &format!("http://{addr}"));
    let run = host.run::<WebMonitor>(json!({"url": "http://down.example.com/"}));
    let problem = run.outcome().problem.clone().unwrap_or_default();
    assert!(
        problem.starts_with("http://down.example.com/ is unreachable: "),
        "{problem}"
    );
    assert_eq!(
        host.state(),
        Some(json!({"checks": 1, "last_status": null}))
    );

    // A host outside the manifest's allowed hosts: the host refuses, the run is denied.
    let mut host = Harness::from_manifest(
        r#"
type = "agent"
id = "uptime"
version = "0.1.0"
wit = "0.1.0"
name = "Uptime"
allowed_hosts = ["*.example.com"]
needs = []
[config_schema]
type = "object"
required = ["url"]
"#,
    );
    let run = host.run::<WebMonitor>(json!({"url": "https://example.org/"}));
    assert!(
        matches!(run.error(), Error::Denied(why) if why.contains("example.org is not among the manifest's allowed_hosts (*.example.com)")),
        "{:?}",
        run.result
    );
    assert_eq!(run.refusals.len(), 1);
    assert_eq!(
        host.state(),
        None,
        "a failed run keeps the previous (no) state"
    );

    let run = host.run::<WebMonitor>(json!({"timeout_secs": 5}));
    assert!(
        matches!(run.error(), Error::Config(why) if why.contains("url")),
        "{:?}",
        run.result
    );
}
