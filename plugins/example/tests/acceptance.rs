//! The SDK's acceptance suite, on both modes of the example connector.

use crate::support;

use agentic_sdk::serde_json::json;
use agentic_sdk::testing::{acceptance, Acceptance, Expected};
use example::{Example, MANIFEST};

#[test]
fn the_in_memory_mode_passes_the_acceptance_suite() {
    let report = acceptance::<Example>(&Acceptance {
        config: json!({"items": 250, "page_size": 100}),
        bad_config: json!({}),
        manifest: Some(MANIFEST),
        invocations: vec![("echo", json!({"a": 1}))],
        expected: vec![("items", Expected::Count(250))],
        ..Acceptance::default()
    });
    let items = &report.streams[0];
    assert_eq!(
        (
            items.name.as_str(),
            items.pages,
            items.records,
            items.resumptions
        ),
        ("items", 3, 250, 2)
    );
}

#[test]
fn the_http_mode_passes_the_acceptance_suite_against_a_fake_service() {
    let service = support::tracker(25);
    let report = acceptance::<Example>(&Acceptance {
        config: json!({"base_url": service.url(), "page_size": 10}),
        bad_config: json!({"page_size": 10}),
        manifest: Some(MANIFEST),
        invocations: vec![("echo", json!({"a": 1}))],
        expected: vec![("items", Expected::Count(25))],
        ..Acceptance::default()
    });
    let items = &report.streams[0];
    assert_eq!((items.pages, items.records, items.resumptions), (3, 25, 2));
    assert!(
        service.requests().iter().any(|r| r.path == "/status"),
        "check called the service"
    );
}
