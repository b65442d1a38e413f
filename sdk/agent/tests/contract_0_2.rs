//! What contract 0.2.0 added, as the harness plays it with the host's rules: the sync event
//! that starts a run (only when `run_on` asks for it, on the configured connection), comments
//! on work items and requirements, documents linked to records.

use agentic_agent_sdk::platform;
use agentic_agent_sdk::serde_json::{self, json, Value};
use agentic_agent_sdk::testing::{Harness, AGENT_COMMENTS};
use agentic_agent_sdk::{
    register_agent, Agent, Error, Model, RecordQuery, Report, Run, SyncEvent, TriggerKind,
};
use serde::Deserialize;

/// Comments on the records a `records-changed` run was told about, or does what `call` says.
#[derive(Default)]
struct Annotator;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    call: String,
    #[serde(default)]
    target: i64,
    #[serde(default)]
    links: Vec<i64>,
}

impl Agent for Annotator {
    type Config = Config;
    type State = ();

    fn run(&self, run: &Run, config: &Config, _: &mut ()) -> Result<Report, Error> {
        match config.call.as_str() {
            "comment" => {
                let id = platform::comment_on_record(config.target, "Looks like a duplicate.")?;
                Ok(Report::new(format!("comment {id}")))
            }
            "list" => {
                let page = platform::query_records(&RecordQuery::new(Model::Comment))?;
                let shown: Vec<_> = page
                    .records
                    .iter()
                    .map(|r| json!({"id": r.id, "stream": r.stream, "data": r.data}))
                    .collect();
                Ok(Report::new(json!(shown).to_string()))
            }
            "link" => {
                let id = platform::write_linked_document("Triage", "# Triage", &[], &config.links)?;
                Ok(Report::new(format!("document {id}")))
            }
            _ => {
                let said = match &run.event {
                    Some(e) => format!(
                        "{:?}: connection {} stream {} job {} stored {} deleted {}",
                        run.trigger,
                        e.connection_id,
                        e.stream,
                        e.sync_job_id,
                        e.records_stored,
                        e.records_deleted
                    ),
                    None => format!("{:?}", run.trigger),
                };
                Ok(Report::new(said))
            }
        }
    }
}

register_agent!(Annotator);

fn event(connection_id: i64, stored: u64) -> SyncEvent {
    SyncEvent {
        connection_id,
        stream: "issues".into(),
        sync_job_id: 42,
        records_stored: stored,
        records_deleted: 0,
        at: 1_700_000_000_000,
    }
}

#[test]
fn a_run_hears_of_the_sync_its_run_on_asks_for_on_its_connection_only() {
    let mut host = Harness::new().connection(7);
    let config = json!({"connection_id": 7, "run_on": ["sync-finished", "records-changed"]});

    host.sync_finished(event(7, 3));
    let run = host.run::<Annotator>(config.clone());
    assert_eq!(run.run.trigger, TriggerKind::RecordsChanged);
    assert_eq!(
        run.outcome().summary,
        "RecordsChanged: connection 7 stream issues job 42 stored 3 deleted 0"
    );

    // Nothing stored: `sync-finished`. The event is used up by the run it started.
    host.sync_finished(event(7, 0));
    let run = host.run::<Annotator>(config.clone());
    assert_eq!(run.run.trigger, TriggerKind::SyncFinished);
    assert_eq!(run.run.event.as_ref().map(|e| e.records_stored), Some(0));
    let run = host.run::<Annotator>(config);
    assert_eq!(
        (run.run.trigger, run.run.event),
        (TriggerKind::Schedule, None)
    );

    // Another connection's sync, or an event the config does not list: a scheduled run.
    host.sync_finished(event(8, 3));
    let run = host.run::<Annotator>(json!({"connection_id": 7, "run_on": ["records-changed"]}));
    assert_eq!(run.run.trigger, TriggerKind::Schedule);
    host.sync_finished(event(7, 0));
    let run = host.run::<Annotator>(json!({"connection_id": 7, "run_on": ["records-changed"]}));
    assert_eq!(run.run.trigger, TriggerKind::Schedule);
}

#[test]
fn comments_go_on_work_items_and_requirements_of_the_project_with_the_grant() {
    let mut host = Harness::new();
    let item = host.record(
        Model::WorkItem,
        7,
        "issues",
        "T-1",
        json!({"title": "Crash"}),
    );
    let person = host.record(Model::Person, 7, "users", "u1", json!({"name": "Ann"}));

    let run = host.run::<Annotator>(json!({"call": "comment", "target": item}));
    let id = run
        .outcome()
        .summary
        .trim_start_matches("comment ")
        .to_owned();
    assert_eq!(run.comments.len(), 1);
    assert_eq!(run.comments[0].record_id, item);
    assert_eq!(id, run.comments[0].id.to_string());
    // The comment is a record of the project, as the host stores it.
    let run = host.run::<Annotator>(json!({"call": "list"}));
    let listed: Value = serde_json::from_str(&run.outcome().summary).expect("json");
    assert_eq!(listed[0]["id"].to_string(), id);
    assert_eq!(listed[0]["stream"], AGENT_COMMENTS);
    assert_eq!(listed[0]["data"]["parent_external_id"], "T-1");
    assert_eq!(listed[0]["data"]["parent_id"], item);
    assert_eq!(listed[0]["data"]["body"], "Looks like a duplicate.");

    let run = host.run::<Annotator>(json!({"call": "comment", "target": person}));
    assert!(
        matches!(run.error(), Error::Internal(m) if m.contains("work items and requirements")),
        "{:?}",
        run.result
    );
    let run = host.run::<Annotator>(json!({"call": "comment", "target": 999}));
    assert!(
        matches!(run.error(), Error::Config(m) if m.contains("no record 999")),
        "{:?}",
        run.result
    );
    assert_eq!(run.refusals.len(), 1);

    let mut host = Harness::new().grant(&["records:read"]);
    let item = host.record(
        Model::WorkItem,
        7,
        "issues",
        "T-1",
        json!({"title": "Crash"}),
    );
    let run = host.run::<Annotator>(json!({"call": "comment", "target": item}));
    assert!(
        matches!(run.error(), Error::Denied(m) if m.contains("documents:manage")),
        "{:?}",
        run.result
    );
    assert!(host.comments().is_empty());
}

#[test]
fn a_document_links_only_records_of_the_project() {
    let mut host = Harness::new();
    let a = host.record(Model::WorkItem, 7, "issues", "T-1", json!({"title": "A"}));
    let b = host.record(Model::Requirement, 7, "reqs", "R-1", json!({"title": "B"}));
    let run = host.run::<Annotator>(json!({"call": "link", "links": [a, b, a]}));
    let _ = run.outcome();
    assert_eq!(
        host.documents()[0].records,
        [a, b],
        "deduplicated, in order"
    );

    let run = host.run::<Annotator>(json!({"call": "link", "links": [a, 999]}));
    assert!(
        matches!(run.error(), Error::Config(m) if m.contains("no record 999")),
        "{:?}",
        run.result
    );
    let many: Vec<i64> = (0..33).collect();
    let run = host.run::<Annotator>(json!({"call": "link", "links": many}));
    assert!(
        matches!(run.error(), Error::Internal(m) if m.contains("at most 32")),
        "{:?}",
        run.result
    );
    assert_eq!(host.documents().len(), 1);
}
