//! The acceptance suite passes a correct connector and names each flaw of broken ones. The
//! connector under test pages `items` numbered work items three at a time; `flaw` in its
//! configuration breaks one thing on purpose.

use std::cell::Cell;

use agentic_sdk::testing::{acceptance, run_acceptance, Acceptance, Expected, Harness, HostEvent};
use agentic_sdk::{
    progress, Connector, ConnectorSpec, Error, LogLevel, Page, Person, RecordKind, StreamSpec,
    WorkItem,
};
use serde_json::{json, Value};

const MANIFEST: &str = r#"
id = "flawed"
version = "1.0.0"
wit = "0.3.0"
name = "Flawed"
description = "Breaks on request."
allowed_hosts = ["*"]
auth_kinds = ["anonymous"]
[config_schema]
type = "object"
required = ["items"]
properties.items = { type = "integer", minimum = 0 }
properties.flaw = { type = "string" }
[[actions]]
name = "double"
description = "Doubles `n`."
input_schema = { type = "object", required = ["n"], properties.n = { type = "integer" } }
output_schema = { type = "object", required = ["n"], properties.n = { type = "integer" } }
"#;

thread_local! {
    // `read` calls so far on this test's thread: the `skip` flaw misbehaves only after the
    // suite's full read (three pages), like a service whose order drifts between calls.
    static READS: Cell<u32> = const { Cell::new(0) };
}

#[derive(serde::Deserialize)]
struct Config {
    items: Option<u64>,
    #[serde(default)]
    flaw: String,
}

#[derive(Default)]
struct Flawed;

impl Connector for Flawed {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        Ok(ConnectorSpec::from_manifest(MANIFEST)?
            .with_stream(StreamSpec::new("items", RecordKind::WorkItem).incremental()))
    }

    fn check(&self, config: &Config) -> Result<String, Error> {
        match (config.items, config.flaw.as_str()) {
            (_, "accept-bad") => Ok("fine, probably".into()),
            (Some(n), _) => Ok(format!("{n} items")),
            (None, _) => Err(Error::Config("items: required".into())),
        }
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        if stream != "items" {
            return Err(Error::NotFound(stream.into()));
        }
        let total = config
            .items
            .ok_or_else(|| Error::Config("items: required".into()))?;
        let after: u64 = state
            .map_or(Ok(0), str::parse)
            .map_err(|_| Error::InvalidInput(format!("state {state:?}")))?;
        let reads = READS.with(|r| r.replace(r.get() + 1)) + 1;
        let first = match (config.flaw.as_str(), state) {
            ("repeat", Some(_)) => after,
            ("skip", Some(_)) if reads > 3 => after + 2,
            _ => after + 1,
        };
        let end = (first + 2).min(total);
        let records = (first..=end)
            .map(|n| {
                if config.flaw == "kind" && n == 5 {
                    Person {
                        external_id: n.to_string(),
                        ..Person::default()
                    }
                    .into()
                } else if config.flaw == "schema" && n == 2 {
                    WorkItem::default().into()
                } else {
                    WorkItem {
                        external_id: n.to_string(),
                        key: format!("F-{n}"),
                        ..WorkItem::default()
                    }
                    .into()
                }
            })
            .collect();
        progress(end, Some(total), "reading");
        if config.flaw == "endless" {
            return Ok(Page {
                records,
                state: "0".into(),
                has_more: true,
                deleted: Vec::new(),
            });
        }
        // `skip-page`: the first page hands on a state past the second page, as a connector
        // that adds the page size to an offset twice would; everything read stays consistent.
        let next = if config.flaw == "skip-page" && end == 3 {
            6
        } else {
            end
        };
        // `restart`: the last page's state starts over, as a cursor's last page does.
        let state = if config.flaw == "restart" && next >= total {
            String::new()
        } else {
            next.to_string()
        };
        Ok(Page {
            records,
            state,
            has_more: next < total,
            deleted: Vec::new(),
        })
    }

    fn invoke(&self, _: &Config, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "double" => Ok(json!({"n": input["n"].as_i64().unwrap_or(0) * 2})),
            other => Err(Error::NotFound(other.into())),
        }
    }
}

fn suite(flaw: &str) -> Acceptance {
    Acceptance {
        config: json!({"items": 7, "flaw": flaw}),
        bad_config: json!({"flaw": flaw}),
        manifest: Some(MANIFEST),
        invocations: vec![("double", json!({"n": 21}))],
        max_pages: Some(50),
        base_url: None,
        expected: vec![("items", Expected::Count(7))],
        credential: None,
    }
}

fn failures(flaw: &str) -> Vec<String> {
    run_acceptance(&Harness::new(Flawed), &suite(flaw)).expect_err("the flaw is found")
}

fn assert_one_failure_containing(flaw: &str, expected: &[&str]) {
    let failures = failures(flaw);
    assert!(
        failures
            .iter()
            .any(|f| expected.iter().all(|e| f.contains(e))),
        "flaw {flaw}: no failure mentions {expected:?}: {failures:#?}"
    );
}

#[test]
fn a_correct_connector_passes_and_every_page_is_resumed_from() {
    let report = acceptance::<Flawed>(&suite(""));
    assert_eq!(report.streams.len(), 1);
    let items = &report.streams[0];
    assert_eq!((items.pages, items.records, items.resumptions), (3, 7, 2));
}

#[test]
fn resuming_with_a_repeated_record_is_named_with_state_and_record() {
    assert_one_failure_containing(
        "repeat",
        &[
            "stream `items`",
            "resuming from state \"3\"",
            "repeats records already read: \"3\"",
        ],
    );
}

#[test]
fn an_incremental_stream_whose_last_state_starts_over_is_told_what_to_declare() {
    assert_one_failure_containing(
        "restart",
        &[
            "an incremental read again from the final state \"\"",
            "repeats records already read",
            "needs a stream without `incremental()`",
        ],
    );
}

#[test]
fn resuming_past_a_record_is_named() {
    assert_one_failure_containing("skip", &["state \"3\"", "skips records: \"4\""]);
}

#[test]
fn a_read_that_jumps_over_a_page_fails_only_against_the_expected_records() {
    // Consistent in itself: every resumption agrees with the full read.
    let without = Acceptance {
        expected: Vec::new(),
        ..suite("skip-page")
    };
    let report = run_acceptance(&Harness::new(Flawed), &without).expect("nothing else sees it");
    assert_eq!(report.streams[0].records, 4);
    assert_one_failure_containing(
        "skip-page",
        &["stream `items`", "returns 4 records, the test expects 7"],
    );
    let by_id = Acceptance {
        expected: vec![(
            "items",
            Expected::Ids((1..=7).map(|n| n.to_string()).collect()),
        )],
        ..suite("skip-page")
    };
    let failures = run_acceptance(&Harness::new(Flawed), &by_id).expect_err("ids missing");
    assert!(
        failures
            .iter()
            .any(|f| f.contains("misses expected records: \"4\", \"5\", \"6\"")),
        "{failures:#?}"
    );
}

#[test]
fn records_of_the_wrong_kind_or_shape_are_named() {
    assert_one_failure_containing(
        "kind",
        &["record \"5\"", "a person record in a work-item stream"],
    );
    assert_one_failure_containing("schema", &["record \"\"", "empty external id"]);
    assert_one_failure_containing("schema", &["does not match the stream schema"]);
}

#[test]
fn a_check_that_accepts_a_bad_config_fails() {
    assert_one_failure_containing("accept-bad", &["check(bad_config) succeeded"]);
}

#[test]
fn a_stream_that_never_ends_fails_instead_of_hanging() {
    assert_one_failure_containing("endless", &["stream `items`", "read it forever"]);
}

#[test]
fn a_spec_that_disagrees_with_the_manifest_is_named() {
    let other = Box::leak(MANIFEST.replace("1.0.0", "1.0.1").into_boxed_str());
    let failures = run_acceptance(
        &Harness::new(Flawed),
        &Acceptance {
            manifest: Some(other),
            ..suite("")
        },
    )
    .expect_err("versions differ");
    assert_eq!(
        failures,
        ["spec version \"1.0.0\" differs from plugin.toml's \"1.0.1\""]
    );
}

#[test]
fn the_harness_records_host_calls_and_parses_config_like_the_host() {
    let harness = Harness::new(Flawed);
    let page = harness
        .read(&json!({"items": 2}), "items", Some(""))
        .expect("an empty state reads from the start");
    assert_eq!(page.records.len(), 2);
    assert_eq!(
        harness.take_host_events(),
        [HostEvent::Progress(2, Some(2), "reading".into())]
    );
    assert!(harness.take_logs().is_empty());
    match harness.check(&json!({"items": "seven"})) {
        Err(Error::Config(m)) => assert!(m.starts_with("items:"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        harness.invoke(&json!({"items": 0}), "double", &json!({"n": 4})),
        Ok(json!({"n": 8}))
    );
    agentic_sdk::log(LogLevel::Warn, "careful");
    assert_eq!(
        harness.take_logs(),
        [(LogLevel::Warn, "careful".to_owned())]
    );
}
