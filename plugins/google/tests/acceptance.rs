//! The SDK's acceptance suite: spec, check, discover, full reads, resumption from every
//! intermediate state, schema-conformant records, for every stream.

use agentic_sdk::testing::{run_acceptance, Acceptance};
use serde_json::json;

use crate::support::{folder_config, Fake};

#[test]
fn the_connector_passes_the_acceptance_suite() {
    let fake = Fake::start(14);
    let report = run_acceptance(
        &fake.harness,
        &Acceptance {
            config: folder_config(),
            bad_config: json!({}),
            manifest: Some(google::MANIFEST),
        invocations: vec![
            ("create-doc", json!({"name": "Notes", "markdown": "# Notes\n", "folder_id": "1Specs"})),
            ("create-event", json!({"summary": "Sync", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:30:00Z"})),
        ],
            ..Acceptance::default()
        },
    )
    .unwrap_or_else(|failures| panic!("{failures:#?}"));
    let counts: Vec<(String, usize)> = report
        .streams
        .iter()
        .map(|s| (s.name.clone(), s.records))
        .collect();
    assert_eq!(counts[0], ("files".to_owned(), 15), "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n > 0), "{counts:?}");
    fake.assert_no_violations();
}
