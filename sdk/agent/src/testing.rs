//! The native test harness: runs an agent in `cargo test` the way the host runs it.
//!
//! A [`Harness`] plays the host for one agent: it holds a project's records (which you add
//! with [`Harness::record`]), answers the platform calls under the same rules as the host — the
//! grant (the manifest's `needs`, or what [`Harness::grant`] sets), records only of the
//! project's connections, syncs and actions only on the connection the configuration names
//! (`connection_id`), the host's input limits — and lets HTTP out only to the manifest's
//! `allowed_hosts`, routing them to local fakes ([`Harness::route`];
//! [`FakeServer`] serves them). Runs follow each other as the host chains them: the state a
//! successful run returns is the next run's, a failed run keeps the previous one, the run
//! number counts up and a run after a failure is a `retry`. A sync you report with
//! [`Harness::sync_finished`] starts the next run as the host's event triggers do: only when
//! the configuration's `run_on` asks for it, on its `connection_id`.
//!
//! Differences from the host, on purpose: no sandbox limits (time, memory) — a test of those
//! belongs on the host; no audit log — [`RunResult::refusals`] lists the calls the host would
//! have refused and audited.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

pub use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};

use crate::agent::{dispatch, Agent, Event, Metric, Report, Run, SyncEvent, TriggerKind};
use crate::error::{Error, PlatformError};
use crate::platform::{LogLevel, Model, StoredRecord};

/// The host's side of the platform calls.
mod host;
pub(crate) use host::Host;
use host::RunLog;
pub use host::AGENT_COMMENTS;

/// The permissions the platform interface uses: the grant of [`Harness::new`].
const ALL_PERMISSIONS: [&str; 5] = [
    "records:read",
    "connections:sync",
    "jobs:read",
    "documents:manage",
    "connections:act",
];

type ActionHandler = Box<dyn FnMut(&Value) -> Result<Value, PlatformError>>;

thread_local! {
    /// The host of the run under way on this thread.
    static CURRENT: RefCell<Option<Rc<RefCell<Host>>>> = const { RefCell::new(None) };
}

/// Calls `f` with the host of the run under way, `None` outside a run. (An action handler
/// runs inside such a call: it must not make platform calls itself.)
pub(crate) fn with_host<T>(f: impl FnOnce(&mut Host) -> T) -> Option<T> {
    let host = CURRENT.with(|c| c.borrow().clone())?;
    let mut host = host.borrow_mut();
    Some(f(&mut host))
}

/// A document an agent wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenDocument {
    /// Its id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its Markdown text.
    pub markdown: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// The records it is linked to.
    pub records: Vec<i64>,
}

/// A comment an agent wrote on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenComment {
    /// The comment's record id.
    pub id: i64,
    /// The commented work item or requirement.
    pub record_id: i64,
    /// Its Markdown text.
    pub markdown: String,
}

/// A connector action an agent invoked.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The connection.
    pub connection_id: i64,
    /// The action's name.
    pub action: String,
    /// Its input.
    pub input: Value,
}

/// A sync an agent started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedSync {
    /// The job's id.
    pub job_id: i64,
    /// The connection.
    pub connection_id: i64,
    /// The stream, `None` for every stream.
    pub stream: Option<String>,
}

/// What one run did.
#[derive(Debug)]
pub struct RunResult {
    /// What the host told the run.
    pub run: Run,
    /// The run's report, or why it failed.
    pub result: Result<Report, Error>,
    /// Its log lines (at most 100, as the host keeps).
    pub logs: Vec<(LogLevel, String)>,
    /// Metrics: those emitted during the run, then the report's.
    pub metrics: Vec<Metric>,
    /// Events: those emitted during the run, then the report's.
    pub events: Vec<Event>,
    /// Documents it wrote.
    pub documents: Vec<WrittenDocument>,
    /// Comments it wrote.
    pub comments: Vec<WrittenComment>,
    /// Actions it invoked (and the host let through).
    pub actions: Vec<Invocation>,
    /// Syncs it started.
    pub syncs: Vec<StartedSync>,
    /// Platform calls and requests the host would have refused (and audited).
    pub refusals: Vec<String>,
}

impl RunResult {
    /// The report of a successful run; panics with the error otherwise.
    pub fn outcome(&self) -> &Report {
        match &self.result {
            Ok(report) => report,
            Err(e) => panic!("the run failed: {e}"),
        }
    }

    /// The error of a failed run; panics with the report otherwise.
    pub fn error(&self) -> &Error {
        match &self.result {
            Err(e) => e,
            Ok(report) => panic!("the run succeeded: {report:?}"),
        }
    }

    /// Whether the host counts the run as failed (an error, or a report with a problem).
    pub fn failed(&self) -> bool {
        self.result.as_ref().map_or(true, |r| r.problem.is_some())
    }

    /// The value of the last metric named `name`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .rev()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}

/// The host as one agent sees it. See the [module](self) docs.
pub struct Harness {
    host: Rc<RefCell<Host>>,
    schema: Option<jsonschema::Validator>,
    state: Option<String>,
    runs: u64,
    failures: u32,
    /// The latest sync reported since the last run.
    pending: Option<(TriggerKind, SyncEvent)>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("runs", &self.runs)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A host that grants every permission, lets HTTP out anywhere and checks no schema.
    pub fn new() -> Self {
        Self {
            host: Rc::new(RefCell::new(Host {
                grant: ALL_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect(),
                clock: 1_700_000_000_000,
                ..Host::default()
            })),
            schema: None,
            state: None,
            runs: 0,
            failures: 0,
            pending: None,
        }
    }

    /// A host as it installs the agent of this `plugin.toml`: the grant is its `needs`, HTTP
    /// may reach only its `allowed_hosts`, and each run's configuration must satisfy its
    /// `config_schema` (as the host checks it when an agent is created or changed).
    ///
    /// # Panics
    /// When the text is not such a manifest (a test's mistake).
    pub fn from_manifest(manifest: &str) -> Self {
        let table: toml::Table =
            toml::from_str(manifest).unwrap_or_else(|e| panic!("plugin.toml: {e}"));
        assert_eq!(
            table.get("type").and_then(|t| t.as_str()),
            Some("agent"),
            "plugin.toml: an agent's manifest says type = \"agent\""
        );
        let strings = |key: &str| -> Vec<String> {
            table
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let needs = strings("needs");
        for need in &needs {
            assert!(
                ALL_PERMISSIONS.contains(&need.as_str()),
                "plugin.toml: needs names {need:?}, not one of {ALL_PERMISSIONS:?}"
            );
        }
        let schema = table.get("config_schema").map(|s| {
            let schema = serde_json::to_value(s).unwrap_or_default();
            jsonschema::validator_for(&schema)
                .unwrap_or_else(|e| panic!("plugin.toml: config_schema is not a JSON Schema: {e}"))
        });
        let harness = Self::new();
        {
            let mut host = harness.host.borrow_mut();
            host.grant = needs.into_iter().collect();
            host.allowed_hosts = Some(strings("allowed_hosts"));
        }
        Self { schema, ..harness }
    }

    /// Replaces the grant: the permissions the agent's platform calls may use.
    #[must_use]
    pub fn grant(self, permissions: &[&str]) -> Self {
        self.host.borrow_mut().grant = permissions.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Adds a connection to the agent's project.
    #[must_use]
    pub fn connection(self, id: i64) -> Self {
        self.host.borrow_mut().connections.insert(id);
        self
    }

    /// Sends requests for `host` (as in the URL: `api.example.com`, or with its port) to
    /// `base_url` (`http://127.0.0.1:PORT`, a [`FakeServer`]), path and query kept.
    #[must_use]
    pub fn route(self, host: &str, base_url: &str) -> Self {
        self.host
            .borrow_mut()
            .routes
            .push((host.to_ascii_lowercase(), base_url.to_owned()));
        self
    }

    /// Handles action `action` of any connection with `handler` (its output, or the error
    /// the host would return). Actions without a handler are `not-found`.
    #[must_use]
    pub fn on_action(
        self,
        action: &str,
        handler: impl FnMut(&Value) -> Result<Value, PlatformError> + 'static,
    ) -> Self {
        self.host
            .borrow_mut()
            .actions
            .insert(action.to_owned(), Box::new(handler));
        self
    }

    /// Sets the host's clock (milliseconds since the epoch): the next run's `at`, and the
    /// `synced_at` of records stored from now on.
    pub fn set_clock(&mut self, at: i64) {
        self.host.borrow_mut().clock = at;
    }

    /// Stores a record as a sync would (a new one, or the same `external_id` of the
    /// connection's stream stored again, with a new `synced_at`); returns its id. The
    /// connection becomes one of the project's.
    pub fn record(
        &mut self,
        model: Model,
        connection_id: i64,
        stream: &str,
        external_id: &str,
        data: Value,
    ) -> i64 {
        let mut host = self.host.borrow_mut();
        host.connections.insert(connection_id);
        let synced_at = host.clock;
        if let Some((_, r)) = host.records.iter_mut().find(|(_, r)| {
            r.connection_id == connection_id && r.stream == stream && r.external_id == external_id
        }) {
            r.data = data;
            r.synced_at = synced_at;
            return r.id;
        }
        host.next_id += 1;
        let id = host.next_id;
        host.records.push((
            model,
            StoredRecord {
                id,
                connection_id,
                stream: stream.to_owned(),
                external_id: external_id.to_owned(),
                data,
                synced_at,
            },
        ));
        id
    }

    /// Removes a record, as a sync that found it deleted does.
    pub fn remove_record(&mut self, connection_id: i64, stream: &str, external_id: &str) {
        self.host.borrow_mut().records.retain(|(_, r)| {
            !(r.connection_id == connection_id
                && r.stream == stream
                && r.external_id == external_id)
        });
    }

    /// Moves a sync job the agent started on (`succeeded`, `dead`, …), as the queue would.
    pub fn finish_job(
        &mut self,
        job_id: i64,
        state: &str,
        result: Option<Value>,
        error: Option<&str>,
    ) {
        let mut host = self.host.borrow_mut();
        let at = host.clock;
        if let Some(job) = host.jobs.get_mut(&job_id) {
            job.state = state.to_owned();
            job.result = result;
            job.last_error = error.map(str::to_owned);
            job.finished_at = Some(at);
        }
    }

    /// Every document the agent wrote so far.
    pub fn documents(&self) -> Vec<WrittenDocument> {
        self.host.borrow().documents.clone()
    }

    /// Every comment the agent wrote so far.
    pub fn comments(&self) -> Vec<WrittenComment> {
        self.host.borrow().comments.clone()
    }

    /// Reports that a sync finished, as the host's sync handler tells the event triggers: if
    /// the configuration of the next [`Harness::run`] lists the event in `run_on` and names the
    /// event's connection (`connection_id`), that run is `records-changed` (records stored or
    /// deleted, and listed) or `sync-finished` with the event; otherwise the event is dropped.
    /// Of several syncs before a run, the latest counts.
    pub fn sync_finished(&mut self, event: SyncEvent) {
        let kind = if event.records_stored > 0 || event.records_deleted > 0 {
            TriggerKind::RecordsChanged
        } else {
            TriggerKind::SyncFinished
        };
        self.pending = Some((kind, event));
    }

    /// What starts the next run with `config`: the pending sync if the config asks for it
    /// (as the host's `triggers::wanted`), else a retry after a failure, else the schedule.
    fn trigger(&mut self, config: &Value) -> (TriggerKind, Option<SyncEvent>) {
        let run_on: Vec<&str> = config
            .get("run_on")
            .and_then(Value::as_array)
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let connection = config.get("connection_id").and_then(Value::as_i64);
        if let Some((kind, event)) = self.pending.take() {
            if connection == Some(event.connection_id) {
                let changed = kind == TriggerKind::RecordsChanged;
                if changed && run_on.contains(&"records-changed") {
                    return (TriggerKind::RecordsChanged, Some(event));
                }
                if run_on.contains(&"sync-finished") {
                    return (TriggerKind::SyncFinished, Some(event));
                }
            }
        }
        let kind = if self.failures > 0 {
            TriggerKind::Retry
        } else {
            TriggerKind::Schedule
        };
        (kind, None)
    }

    /// The state the next run gets.
    pub fn state(&self) -> Option<Value> {
        self.state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }

    /// Runs the agent once with `config`, as the host's next run of this deployment.
    pub fn run<A: Agent>(&mut self, config: Value) -> RunResult {
        self.runs += 1;
        let (trigger, event) = self.trigger(&config);
        let run = Run {
            trigger,
            number: self.runs,
            at: self.host.borrow().clock,
            consecutive_failures: self.failures,
            event,
        };
        {
            let mut host = self.host.borrow_mut();
            host.configured = config
                .get("connection_id")
                .and_then(Value::as_i64)
                .into_iter()
                .collect();
            host.run = RunLog::default();
        }
        let invalid: Vec<String> = self
            .schema
            .as_ref()
            .map(|s| {
                s.iter_errors(&config)
                    .map(|e| format!("config{}: {e}", e.instance_path))
                    .collect()
            })
            .unwrap_or_default();
        let result = if invalid.is_empty() {
            CURRENT.with(|c| *c.borrow_mut() = Some(self.host.clone()));
            let result = dispatch::<A>(&run, &config.to_string(), self.state.as_deref());
            CURRENT.with(|c| *c.borrow_mut() = None);
            result
        } else {
            Err(Error::Config(format!(
                "the host would refuse this configuration: {}",
                invalid.join("; ")
            )))
        };
        let log = std::mem::take(&mut self.host.borrow_mut().run);
        let result = result.map(|outcome| {
            self.state = Some(outcome.state);
            outcome.report
        });
        let failed = result.as_ref().map_or(true, |r| r.problem.is_some());
        self.failures = if failed { self.failures + 1 } else { 0 };
        let (mut metrics, mut events) = (log.metrics, log.events);
        if let Ok(report) = &result {
            metrics.extend(report.metrics.iter().cloned());
            events.extend(report.events.iter().cloned());
        }
        RunResult {
            run,
            result,
            logs: log.logs,
            metrics,
            events,
            documents: log.documents,
            comments: log.comments,
            actions: log.actions,
            syncs: log.syncs,
            refusals: log.refusals,
        }
    }
}
