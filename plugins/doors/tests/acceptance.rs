//! The SDK's acceptance suite on the connector, reading a real sample from a file server: spec
//! and manifest agree, configurations are checked, both streams read to their end and resume
//! from every intermediate state without repeats or gaps, the export answers to its schema.

use agentic_sdk::testing::{acceptance, Acceptance};
use doors::MANIFEST;
use serde_json::json;

use crate::support::{self, Files};

#[test]
fn the_connector_passes_the_acceptance_suite() {
    let files = Files::start();
    let name = "ci.eclipse.org__TC1800_E0000_S10_Reference_20210122_1256_jenkins__sample.reqif";
    files.put(
        name,
        std::fs::read(support::fixtures().join("reqif").join(name)).unwrap(),
    );
    let report = acceptance::<doors::DoorsConnector>(&Acceptance {
        base_url: Some(files.url()),
        config: support::config(name, 2),
        bad_config: json!({"reqif_path": "/files/x.reqif", "page_size": 0}),
        manifest: Some(MANIFEST),
        invocations: vec![(
            "export-reqif",
            json!({
                "title": "Brakes",
                "requirements": [
                    {"external_id": "R1", "identifier": "BR-1", "title": "Stop", "text": "The car **shall** stop.", "module": "Brakes"},
                    {"external_id": "R2", "identifier": "BR-2", "title": "ABS", "text": "", "module": "Brakes", "parent": "R1"}
                ],
                "links": [{"external_id": "L1", "source": "R2", "target": "R1", "link_type": "refines"}]
            }),
        )],
        ..Acceptance::default()
    });
    let counts: Vec<_> = report
        .streams
        .iter()
        .map(|s| (s.name.as_str(), s.records))
        .collect();
    assert_eq!(counts, [("requirements", 6), ("links", 0)]);
    assert!(report.streams[0].resumptions >= 2);
}
