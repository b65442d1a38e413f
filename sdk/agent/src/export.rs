//! The component's export: the generated `Guest` trait implemented for any [`Agent`]. Only in
//! `wasm32` builds.

use std::marker::PhantomData;

use crate::agent::{dispatch, Agent, Run, SyncEvent, TriggerKind};
use crate::error::Error;
use crate::wit::agentic::agent::types as wit;

/// The type [`register_agent!`](crate::register_agent) exports.
#[derive(Debug)]
pub struct Export<A>(PhantomData<A>);

impl<A: Agent> crate::wit::Guest for Export<A> {
    fn run(
        trigger: wit::Trigger,
        config: String,
        state: Option<String>,
    ) -> Result<wit::Outcome, wit::Error> {
        let run = Run {
            trigger: match trigger.kind {
                wit::TriggerKind::Schedule => TriggerKind::Schedule,
                wit::TriggerKind::Retry => TriggerKind::Retry,
                wit::TriggerKind::SyncFinished => TriggerKind::SyncFinished,
                wit::TriggerKind::RecordsChanged => TriggerKind::RecordsChanged,
            },
            number: trigger.run,
            at: trigger.at,
            consecutive_failures: trigger.consecutive_failures,
            event: trigger.event.map(|e| SyncEvent {
                connection_id: e.connection_id,
                stream: e.stream,
                sync_job_id: e.sync_job_id,
                records_stored: e.records_stored,
                records_deleted: e.records_deleted,
                at: e.at,
            }),
        };
        let outcome = dispatch::<A>(&run, &config, state.as_deref()).map_err(error)?;
        let report = outcome.report;
        Ok(wit::Outcome {
            state: Some(outcome.state),
            metrics: report
                .metrics
                .into_iter()
                .map(|m| wit::Metric {
                    name: m.name,
                    value: m.value,
                })
                .collect(),
            events: report
                .events
                .into_iter()
                .map(|e| wit::Event {
                    kind: e.kind,
                    message: e.message,
                })
                .collect(),
            summary: report.summary,
            problem: report.problem,
        })
    }
}

fn error(e: Error) -> wit::Error {
    match e {
        Error::Config(m) => wit::Error::Config(m),
        Error::CheckFailed(m) => wit::Error::CheckFailed(m),
        Error::Transient(m) => wit::Error::Transient(m),
        Error::Denied(m) => wit::Error::Denied(m),
        Error::Internal(m) => wit::Error::Internal(m),
    }
}
