//! The example's exact behaviour, which the host's tests rely on: messages, ids, keys, titles,
//! page boundaries, states, progress reports and error cases.

use crate::support;

use agentic_sdk::serde_json::json;
use agentic_sdk::testing::{Harness, HostEvent};
use agentic_sdk::{Error, LogLevel, RecordData, RecordKind, WorkItem};
use example::Example;

fn harness() -> Harness<Example> {
    Harness::new(Example)
}

fn work_items(records: &[RecordData]) -> Vec<&WorkItem> {
    records
        .iter()
        .map(|r| match r {
            RecordData::WorkItem(w) => w,
            other => panic!("expected work items, got {other:?}"),
        })
        .collect()
}

#[test]
fn the_spec_comes_from_the_manifest_and_the_crate() {
    let spec = harness().spec().expect("spec");
    assert_eq!(spec.id, "example");
    assert_eq!(spec.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(spec.streams.len(), 1);
    let items = &spec.streams[0];
    assert_eq!(
        (items.name.as_str(), items.kind, items.incremental),
        ("items", RecordKind::WorkItem, true)
    );
    assert_eq!(spec.actions[0].name, "echo");
    let schema = &spec.config_schema;
    assert_eq!(schema["properties"]["page_size"]["default"], 100);
    assert_eq!(schema["properties"]["items"]["maximum"], 100_000);
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn check_counts_the_items_and_logs() {
    let h = harness();
    assert_eq!(
        h.check(&json!({"items": 250, "page_size": 100})),
        Ok("250 items available".into())
    );
    assert_eq!(h.take_logs(), [(LogLevel::Info, "check called".to_owned())]);
    match h.check(&json!({})) {
        Err(Error::Config(message)) => assert!(message.contains("items"), "{message}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(
        matches!(h.check(&json!({"items": -1})), Err(Error::Config(m)) if m.starts_with("items"))
    );
}

#[test]
fn reads_page_deterministically_and_resume_from_any_state() {
    let h = harness();
    let config = json!({"items": 250, "page_size": 100});
    let pages = h.read_all(&config, "items", None).expect("full read");
    let states: Vec<&str> = pages.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(states, ["100", "200", "250"]);
    assert_eq!(
        pages.iter().map(|p| p.has_more).collect::<Vec<_>>(),
        [true, true, false]
    );
    let all: Vec<&WorkItem> = pages.iter().flat_map(|p| work_items(&p.records)).collect();
    assert_eq!(all.len(), 250);
    let item = all[41];
    assert_eq!(
        (
            item.external_id.as_str(),
            item.key.as_str(),
            item.title.as_str()
        ),
        ("42", "EX-42", "Item 42")
    );
    assert_eq!(
        (
            item.status.as_str(),
            item.item_type.as_str(),
            item.updated_at
        ),
        ("open", "task", Some(42))
    );
    // Progress: done = the last item returned, total = all items, once per page.
    let progress: Vec<HostEvent> = h.take_host_events();
    assert_eq!(
        progress,
        [100, 200, 250].map(|done| HostEvent::Progress(done, Some(250), "reading items".into()))
    );

    let resumed = h.read(&config, "items", Some("200")).expect("resume");
    assert_eq!(resumed.records.len(), 50);
    assert_eq!(resumed.records[0].external_id(), "201");
    assert!(!resumed.has_more);
    let from_start = h.read(&config, "items", Some("")).expect("empty state");
    assert_eq!(from_start.records[0].external_id(), "1");
    let past_the_end = h.read(&config, "items", Some("300")).expect("past the end");
    assert_eq!(
        (
            past_the_end.records.len(),
            past_the_end.state.as_str(),
            past_the_end.has_more
        ),
        (0, "250", false)
    );
}

#[test]
fn page_size_defaults_to_100_and_is_at_least_1() {
    let h = harness();
    assert_eq!(
        h.read(&json!({"items": 150}), "items", None)
            .expect("read")
            .records
            .len(),
        100
    );
    let tiny = h
        .read(&json!({"items": 5, "page_size": 0}), "items", None)
        .expect("read");
    assert_eq!((tiny.records.len(), tiny.state.as_str()), (1, "1"));
}

#[test]
fn unknown_streams_actions_and_bad_states_are_typed_errors() {
    let h = harness();
    let config = json!({"items": 3});
    assert!(matches!(
        h.read(&config, "nope", None),
        Err(Error::NotFound(_))
    ));
    assert!(
        matches!(h.read(&config, "items", Some("x")), Err(Error::InvalidInput(m)) if m.contains("\"x\""))
    );
    assert!(matches!(
        h.invoke(&config, "nope", &json!({})),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        h.invoke(&config, "echo", &json!({"a": 1})),
        Ok(json!({"a": 1}))
    );
    assert_eq!(h.discover(&config).expect("discover")[0].name, "items");
    assert!(matches!(h.discover(&json!({})), Err(Error::Config(_))));
}

#[test]
fn http_mode_reads_the_service_with_after_and_limit() {
    let service = support::tracker(5);
    let h = harness();
    let config = json!({"base_url": format!("{}/", service.url()), "page_size": 2});
    assert_eq!(h.check(&config), Ok("5 items available".into()));
    let pages = h.read_all(&config, "items", None).expect("read");
    let ids: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.records.iter().map(RecordData::external_id).collect())
        .collect();
    assert_eq!(ids, [vec!["1", "2"], vec!["3", "4"], vec!["5"]]);
    assert_eq!(
        pages.iter().map(|p| p.state.as_str()).collect::<Vec<_>>(),
        ["2", "4", "5"]
    );
    let second = work_items(&pages[0].records)[1];
    assert_eq!(
        (
            second.key.as_str(),
            second.title.as_str(),
            second.status.as_str(),
            second.updated_at
        ),
        ("EX-2", "Remote 2", "done", Some(1_700_000_000_002))
    );
    let asked: Vec<String> = service
        .requests()
        .iter()
        .map(|r| format!("{} {} {:?}", r.method, r.path, r.query))
        .collect();
    assert_eq!(
        asked,
        [
            r#"GET /status []"#,
            r#"GET /items [("after", ""), ("limit", "2")]"#,
            r#"GET /items [("after", "2"), ("limit", "2")]"#,
            r#"GET /items [("after", "4"), ("limit", "2")]"#,
        ]
    );
}

#[test]
fn http_failures_become_the_errors_the_host_acts_on() {
    use agentic_sdk::testing::{FakeResponse, FakeServer};
    let service = FakeServer::start(|request| match request.path.as_str() {
        "/busy/items" => FakeResponse::status(429).with_header("Retry-After", "42"),
        "/broken/items" => FakeResponse::status(502),
        "/locked/status" => FakeResponse::status(401),
        "/odd/items" => FakeResponse::json(&json!({"items": [{"id": 1}], "has_more": false})),
        _ => FakeResponse::status(404),
    });
    let h = harness();
    let config = |path: &str| json!({"base_url": format!("{}{path}", service.url())});
    assert_eq!(
        h.read(&config("/busy"), "items", None).map(|_| ()),
        Err(Error::RateLimited {
            retry_after_secs: 42,
            message: format!("GET {}/busy/items?after=&limit=100: 429", service.url())
        })
    );
    assert!(matches!(
        h.read(&config("/broken"), "items", None),
        Err(Error::Transient(_))
    ));
    assert!(matches!(h.check(&config("/locked")), Err(Error::Auth(_))));
    assert!(matches!(
        h.check(&config("/missing")),
        Err(Error::NotFound(_))
    ));
    assert!(
        matches!(h.read(&config("/odd"), "items", None), Err(Error::Internal(m)) if m.contains("title"))
    );
}
