//! An agent built against the frozen contract `agentic:agent@0.1.0`
//! (`wit/frozen/agent-0.1.0`) with wit-bindgen directly, as agents were built before 0.2.0:
//! the host keeps serving that version, and `tests/tests/agent_contract.rs` installs this
//! component as a package and runs it to prove it. Each run logs, counts the work items of
//! the configured `connection_id` (`platform.query-records`), writes a document
//! (`platform.write-document`, 0.1.0's signature, without links) and answers
//! `<trigger kind> run <n>: <count> work items, document <id>` as its summary, with the count
//! as the metric `work_items`.

// The generated import glue flattens a record argument into many parameters.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit/frozen/agent-0.1.0",
    world: "agentic:agent/agent@0.1.0",
    generate_all,
});

use agentic::agent::platform;
use agentic::agent::types::{LogLevel, Metric, Model, PlatformError, RecordQuery, TriggerKind};

struct ContractAgent;

fn said(e: PlatformError) -> Error {
    match e {
        PlatformError::Denied(m) => Error::Denied(m),
        PlatformError::NotFound(m) | PlatformError::InvalidInput(m) => Error::Config(m),
        PlatformError::Unavailable(m) => Error::Transient(m),
    }
}

impl Guest for ContractAgent {
    fn run(trigger: Trigger, config: String, _state: Option<String>) -> Result<Outcome, Error> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| Error::Config(e.to_string()))?;
        let connection = config["connection_id"]
            .as_i64()
            .ok_or_else(|| Error::Config("connection_id: missing".into()))?;
        let kind = match trigger.kind {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Retry => "retry",
        };
        platform::log(LogLevel::Info, &format!("run {} ({kind})", trigger.run));
        let query = RecordQuery {
            model: Model::WorkItem,
            connection_id: Some(connection),
            status: None,
            text: None,
            after: None,
            limit: 200,
        };
        let items = platform::query_records(&query).map_err(said)?.records.len();
        let document = platform::write_document(
            &format!("Contract 0.1.0 run {}", trigger.run),
            &format!("# Run {}\n\n{items} work items.", trigger.run),
            &["contract-0-1".to_owned()],
        )
        .map_err(said)?;
        Ok(Outcome {
            state: None,
            metrics: vec![Metric {
                name: "work_items".into(),
                value: items as f64,
            }],
            events: Vec::new(),
            summary: format!(
                "{kind} run {}: {items} work items, document {document}",
                trigger.run
            ),
            problem: None,
        })
    }
}

export!(ContractAgent);
