//! Event triggers: an agent whose configuration lists `run_on` events runs when a sync of the
//! connection it names (`connection_id`) finishes, besides its schedule.
//!
//! - `sync-finished`: a sync of one of the connection's streams succeeded;
//! - `records-changed`: such a sync stored or deleted at least one record (a full-mode sync
//!   stores every record it reads again, so it counts as a change).
//!
//! The sync handler tells [`Triggers`] when a stream's sync has stored its last page
//! ([`SyncListener`]). For each running agent of the project that asks for the event, the event
//! becomes the agent's *pending event* and its queued next run is made due
//! `agents.event_delay_secs` (10) later, unless it is due sooner
//! ([`Store::bring_agent_run_forward`]); runs stay one at a time. The delay gathers the events
//! of one sync — each stream is a job of its own, finishing a little apart — into one run:
//! events arriving before a run starts are coalesced into it (the latest is kept). A run that
//! is under way when an event arrives is not disturbed: when it is recorded, the waiting event
//! makes the run after it due at once. The run records what started it (`triggered_by`) and
//! tells its component ([`trigger_of`]): contract 0.2.0 gives the event's kind with the
//! connection, stream, sync job and record counts; 0.1.0, whose `trigger-kind` has no event
//! cases, gets `schedule` (`crate::plugins::agent::AgentWitVersion`).
//!
//! Nothing is lost when the host stops between the sync and the agent's run: the pending event
//! and the brought-forward run are in the database. A failure to trigger is logged and never
//! fails the sync.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{Clock, Millis};
use crate::plugins::agent::{SyncEvent as TriggerEvent, Trigger, TriggerKind};
use crate::store::connections::Connection;
use crate::store::Store;
use crate::sync::{SyncListener, SyncReport};

/// A sync of one of the connection's streams succeeded.
pub const SYNC_FINISHED: &str = "sync-finished";
/// A sync stored or deleted records.
pub const RECORDS_CHANGED: &str = "records-changed";
/// The events an agent's `run_on` may list.
pub const EVENTS: [&str; 2] = [SYNC_FINISHED, RECORDS_CHANGED];

/// The event that brought a run forward, as the agent's pending event keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEvent {
    /// [`SYNC_FINISHED`] or [`RECORDS_CHANGED`].
    pub kind: String,
    /// The connection.
    pub connection_id: i64,
    /// The stream whose sync finished.
    pub stream: String,
    /// The sync job.
    pub job_id: i64,
    /// Records it stored.
    pub records: u64,
    /// Records it marked deleted.
    pub deleted: u64,
    /// When it finished.
    pub at: Millis,
}

/// What started a run and what its component is told: the pending event that brought the run
/// forward (`sync-finished`, `records-changed`, with its details), else `retry` after a failed
/// run, else `schedule`. Returns the trigger and the run's `triggered_by`.
pub fn trigger_of(
    pending: Option<&str>,
    retry: bool,
    run: i64,
    at: Millis,
    consecutive_failures: i64,
) -> (Trigger, &'static str) {
    let event = pending.and_then(|p| serde_json::from_str::<SyncEvent>(p).ok());
    let (kind, triggered_by) = match event.as_ref().map(|e| e.kind.as_str()) {
        Some(SYNC_FINISHED) => (TriggerKind::SyncFinished, SYNC_FINISHED),
        Some(RECORDS_CHANGED) => (TriggerKind::RecordsChanged, RECORDS_CHANGED),
        _ if retry => (TriggerKind::Retry, "retry"),
        _ => (TriggerKind::Schedule, "schedule"),
    };
    let event = event
        .filter(|_| {
            matches!(
                kind,
                TriggerKind::SyncFinished | TriggerKind::RecordsChanged
            )
        })
        .map(|e| TriggerEvent {
            connection_id: e.connection_id,
            stream: e.stream,
            sync_job_id: e.job_id,
            records_stored: e.records,
            records_deleted: e.deleted,
            at: e.at.as_ms(),
        });
    let trigger = Trigger {
        kind,
        run: u64::try_from(run).unwrap_or(0),
        at: at.as_ms(),
        consecutive_failures: u32::try_from(consecutive_failures).unwrap_or(u32::MAX),
        event,
    };
    (trigger, triggered_by)
}

/// Which event a finished sync is for an agent configured with `config`, if it asks for one:
/// `records-changed` when it lists that and records changed, else `sync-finished` when it
/// lists that.
pub fn wanted(config: &Value, connection_id: i64, report: &SyncReport) -> Option<&'static str> {
    if config.get("connection_id").and_then(Value::as_i64) != Some(connection_id) {
        return None;
    }
    let run_on: Vec<&str> = config
        .get("run_on")
        .and_then(Value::as_array)
        .map(|events| events.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let changed = report.records > 0 || report.deleted > 0;
    if changed && run_on.contains(&RECORDS_CHANGED) {
        Some(RECORDS_CHANGED)
    } else if run_on.contains(&SYNC_FINISHED) {
        Some(SYNC_FINISHED)
    } else {
        None
    }
}

/// Brings forward the runs of agents that asked for a sync's event.
pub struct Triggers {
    store: Store,
    clock: Arc<dyn Clock>,
    delay: Duration,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Triggers")
    }
}

impl Triggers {
    /// Triggers on `store`, making runs due `delay_secs` after an event.
    pub fn new(store: Store, clock: Arc<dyn Clock>, delay_secs: u64) -> Self {
        Self {
            store,
            clock,
            delay: Duration::from_secs(delay_secs),
        }
    }

    async fn fire(
        &self,
        connection: &Connection,
        stream: &str,
        job_id: i64,
        report: &SyncReport,
    ) -> Result<(), crate::store::StoreError> {
        let agents = self
            .store
            .running_component_agents(connection.project_id)
            .await?;
        for agent in agents {
            let config: Value = serde_json::from_str(&agent.config).unwrap_or_default();
            let Some(kind) = wanted(&config, connection.id, report) else {
                continue;
            };
            let now = self.clock.now_ms();
            let event = SyncEvent {
                kind: kind.to_owned(),
                connection_id: connection.id,
                stream: stream.to_owned(),
                job_id,
                records: report.records,
                deleted: report.deleted,
                at: now,
            };
            let text = serde_json::to_string(&event).unwrap_or_default();
            let due = now + self.delay;
            if self
                .store
                .bring_agent_run_forward(agent.id, &text, due)
                .await?
            {
                tracing::info!(
                    agent = agent.id,
                    event = kind,
                    job = job_id,
                    "agent run brought forward"
                );
            }
        }
        Ok(())
    }
}

impl SyncListener for Triggers {
    fn finished<'a>(
        &'a self,
        connection: &'a Connection,
        stream: &'a str,
        job_id: i64,
        report: &'a SyncReport,
    ) -> crate::sync::ListenerFuture<'a> {
        Box::pin(async move {
            if let Err(e) = self.fire(connection, stream, job_id, report).await {
                tracing::warn!(
                    connection = connection.id,
                    job = job_id,
                    "could not trigger the agents of a finished sync: {e}"
                );
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(records: u64, deleted: u64) -> SyncReport {
        SyncReport {
            records,
            pages: 1,
            deleted,
        }
    }

    #[test]
    fn an_agent_gets_the_event_it_asked_for_on_its_own_connection_only() {
        let both = json!({"connection_id": 7, "run_on": ["sync-finished", "records-changed"]});
        assert_eq!(wanted(&both, 7, &report(3, 0)), Some(RECORDS_CHANGED));
        assert_eq!(wanted(&both, 7, &report(0, 1)), Some(RECORDS_CHANGED));
        assert_eq!(wanted(&both, 7, &report(0, 0)), Some(SYNC_FINISHED));
        assert_eq!(wanted(&both, 8, &report(3, 0)), None);
        let changes = json!({"connection_id": 7, "run_on": ["records-changed"]});
        assert_eq!(wanted(&changes, 7, &report(0, 0)), None);
        assert_eq!(wanted(&json!({"connection_id": 7}), 7, &report(3, 0)), None);
    }

    #[test]
    fn a_run_is_told_the_event_that_started_it_else_retry_or_schedule() {
        let event = SyncEvent {
            kind: RECORDS_CHANGED.into(),
            connection_id: 7,
            stream: "issues".into(),
            job_id: 42,
            records: 3,
            deleted: 1,
            at: Millis::from_ms(1_000),
        };
        let pending = serde_json::to_string(&event).expect("json");
        let (trigger, by) = trigger_of(Some(&pending), true, 5, Millis::from_ms(2_000), 1);
        assert_eq!(by, RECORDS_CHANGED);
        assert_eq!(trigger.kind, TriggerKind::RecordsChanged);
        let told = trigger.event.expect("the event");
        assert_eq!(
            (told.connection_id, told.stream.as_str(), told.sync_job_id),
            (7, "issues", 42)
        );
        assert_eq!(
            (told.records_stored, told.records_deleted, told.at),
            (3, 1, 1_000)
        );
        assert_eq!(
            (trigger.run, trigger.at, trigger.consecutive_failures),
            (5, 2_000, 1)
        );

        let (trigger, by) = trigger_of(None, true, 2, Millis::EPOCH, 1);
        assert_eq!((trigger.kind, by), (TriggerKind::Retry, "retry"));
        assert!(trigger.event.is_none());
        let (trigger, by) = trigger_of(Some("not json"), false, 2, Millis::EPOCH, 0);
        assert_eq!((trigger.kind, by), (TriggerKind::Schedule, "schedule"));
    }
}
