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
//! number counts up and a run after a failure is a `retry`.
//!
//! Differences from the host, on purpose: no sandbox limits (time, memory) — a test of those
//! belongs on the host; no audit log — [`RunResult::refusals`] lists the calls the host would
//! have refused and audited.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use serde_json::Value;

pub use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};

use crate::agent::{dispatch, Agent, Event, Metric, Report, Run, TriggerKind};
use crate::error::{Error, PlatformError};
use crate::http::HttpError;
use crate::platform::{JobStatus, LogLevel, Model, RecordPage, RecordQuery, StoredRecord};

/// Log lines the host keeps per run.
const MAX_LOG_LINES: usize = 100;
/// Largest document the host accepts (bytes).
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
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

    /// The state the next run gets.
    pub fn state(&self) -> Option<Value> {
        self.state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }

    /// Runs the agent once with `config`, as the host's next run of this deployment.
    pub fn run<A: Agent>(&mut self, config: Value) -> RunResult {
        self.runs += 1;
        let run = Run {
            trigger: if self.failures > 0 {
                TriggerKind::Retry
            } else {
                TriggerKind::Schedule
            },
            number: self.runs,
            at: self.host.borrow().clock,
            consecutive_failures: self.failures,
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
            actions: log.actions,
            syncs: log.syncs,
            refusals: log.refusals,
        }
    }
}

/// What one run did, collected by the host.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    logs: Vec<(LogLevel, String)>,
    metrics: Vec<Metric>,
    events: Vec<Event>,
    documents: Vec<WrittenDocument>,
    actions: Vec<Invocation>,
    syncs: Vec<StartedSync>,
    refusals: Vec<String>,
}

/// The harness's host: the project, the grant and the run under way.
#[derive(Default)]
pub(crate) struct Host {
    grant: BTreeSet<String>,
    connections: BTreeSet<i64>,
    configured: BTreeSet<i64>,
    allowed_hosts: Option<Vec<String>>,
    routes: Vec<(String, String)>,
    records: Vec<(Model, StoredRecord)>,
    jobs: BTreeMap<i64, JobStatus>,
    actions: HashMap<String, ActionHandler>,
    documents: Vec<WrittenDocument>,
    next_id: i64,
    clock: i64,
    run: RunLog,
}

impl Host {
    /// Records a refusal as the host audits it, and returns it.
    fn refuse(&mut self, e: PlatformError) -> PlatformError {
        self.run.refusals.push(e.to_string());
        e
    }

    fn require(&mut self, permission: &str) -> Result<(), PlatformError> {
        if self.grant.contains(permission) {
            return Ok(());
        }
        let held = if self.grant.is_empty() {
            "nothing".to_owned()
        } else {
            self.grant.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        Err(self.refuse(PlatformError::Denied(format!(
            "the agent's grant does not include {permission} (it holds: {held})"
        ))))
    }

    fn configured(&mut self, connection_id: i64) -> Result<(), PlatformError> {
        if !self.connections.contains(&connection_id) {
            return Err(self.refuse(PlatformError::NotFound(format!(
                "the agent's project has no connection {connection_id}"
            ))));
        }
        if !self.configured.contains(&connection_id) {
            return Err(self.refuse(PlatformError::Denied(format!(
                "connection {connection_id} is not one the agent's configuration names"
            ))));
        }
        Ok(())
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        if self.run.logs.len() < MAX_LOG_LINES {
            self.run
                .logs
                .push((level, message.chars().take(2048).collect()));
        }
    }

    pub(crate) fn emit_metric(&mut self, name: &str, value: f64) {
        self.run.metrics.push(Metric {
            name: name.to_owned(),
            value,
        });
    }

    pub(crate) fn emit_event(&mut self, kind: &str, message: &str) {
        self.run.events.push(Event {
            kind: kind.to_owned(),
            message: message.to_owned(),
        });
    }

    pub(crate) fn query_records(
        &mut self,
        query: &RecordQuery,
    ) -> Result<RecordPage, PlatformError> {
        self.require("records:read")?;
        if !(1..=crate::platform::MAX_LIMIT).contains(&query.limit) {
            return Err(PlatformError::InvalidInput(format!(
                "limit {} is not 1–200",
                query.limit
            )));
        }
        if let Some(id) = query.connection_id {
            if !self.connections.contains(&id) {
                return Err(self.refuse(PlatformError::NotFound(format!(
                    "the agent's project has no connection {id}"
                ))));
            }
        }
        let text = query.text.as_deref().map(str::to_lowercase);
        let mut matching: Vec<&StoredRecord> = self
            .records
            .iter()
            .filter(|(model, r)| {
                *model == query.model
                    && query.connection_id.is_none_or(|c| r.connection_id == c)
                    && query.after.is_none_or(|a| r.id > a)
                    && query
                        .status
                        .as_deref()
                        .is_none_or(|s| r.data["status"].as_str() == Some(s))
                    && text.as_deref().is_none_or(|t| {
                        r.data["title"]
                            .as_str()
                            .is_some_and(|title| title.to_lowercase().contains(t))
                    })
            })
            .map(|(_, r)| r)
            .collect();
        matching.sort_by_key(|r| r.id);
        let limit = query.limit as usize;
        let next_after = (matching.len() > limit).then(|| matching[limit - 1].id);
        Ok(RecordPage {
            records: matching.into_iter().take(limit).cloned().collect(),
            next_after,
        })
    }

    pub(crate) fn start_sync(
        &mut self,
        connection_id: i64,
        stream: Option<&str>,
    ) -> Result<i64, PlatformError> {
        self.require("connections:sync")?;
        self.configured(connection_id)?;
        self.next_id += 1;
        let job_id = self.next_id;
        self.jobs.insert(
            job_id,
            JobStatus {
                id: job_id,
                state: "queued".into(),
                result: None,
                last_error: None,
                finished_at: None,
            },
        );
        self.run.syncs.push(StartedSync {
            job_id,
            connection_id,
            stream: stream.map(str::to_owned),
        });
        Ok(job_id)
    }

    pub(crate) fn sync_job(&mut self, job_id: i64) -> Result<JobStatus, PlatformError> {
        self.require("jobs:read")?;
        match self.jobs.get(&job_id) {
            Some(job) => Ok(job.clone()),
            None => Err(self.refuse(PlatformError::NotFound(format!(
                "no sync job {job_id} of the agent's connections"
            )))),
        }
    }

    pub(crate) fn write_document(
        &mut self,
        title: &str,
        markdown: &str,
        tags: &[String],
    ) -> Result<i64, PlatformError> {
        self.require("documents:manage")?;
        let invalid = |m: &str| Err(PlatformError::InvalidInput(m.to_owned()));
        if title.trim().is_empty() || title.chars().count() > 200 || title.contains(['\n', '\r']) {
            return invalid("title: 1 to 200 characters on one line");
        }
        if markdown.is_empty() || markdown.len() > MAX_DOCUMENT_BYTES {
            return invalid("markdown: 1 byte to 1 MiB");
        }
        if tags.len() > 32 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 64) {
            return invalid("tags: at most 32, each 1 to 64 characters");
        }
        self.next_id += 1;
        let document = WrittenDocument {
            id: self.next_id,
            title: title.to_owned(),
            markdown: markdown.to_owned(),
            tags: tags.to_vec(),
        };
        self.documents.push(document.clone());
        self.run.documents.push(document);
        Ok(self.next_id)
    }

    pub(crate) fn invoke_action(
        &mut self,
        connection_id: i64,
        action: &str,
        input: &Value,
    ) -> Result<Value, PlatformError> {
        self.require("connections:act")?;
        self.configured(connection_id)?;
        let Some(handler) = self.actions.get_mut(action) else {
            return Err(PlatformError::NotFound(format!(
                "the connection's plugin has no action {action:?}"
            )));
        };
        let output = handler(input)?;
        self.run.actions.push(Invocation {
            connection_id,
            action: action.to_owned(),
            input: input.clone(),
        });
        Ok(output)
    }

    /// Where a request to `authority` goes: refused outside the manifest's allowed hosts, a
    /// route's base URL, or `None` (as addressed).
    pub(crate) fn egress(&mut self, authority: &str) -> Result<Option<String>, HttpError> {
        let authority = authority.to_ascii_lowercase();
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    authority.as_str()
                }
            });
        if let Some(allowed) = &self.allowed_hosts {
            if !allowed.iter().any(|pattern| host_matches(pattern, host)) {
                let why = format!(
                    "{host} is not among the manifest's allowed_hosts ({})",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
                self.run.refusals.push(why.clone());
                return Err(HttpError::Refused(why));
            }
        }
        Ok(self
            .routes
            .iter()
            .find(|(h, _)| *h == authority || *h == host)
            .map(|(_, base)| base.clone()))
    }
}

/// Whether `host` matches an `allowed_hosts` pattern: `*`, `*.example.com` (subdomains only)
/// or an exact name, as the host matches them.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        _ if pattern == "*" => true,
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn host_patterns_match_as_the_host_matches_them() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evil-example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil"));
    }
}
