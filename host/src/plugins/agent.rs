//! Agent components: the `agentic:agent` world (`wit/agent.wit`, and the frozen versions
//! [`super::agent_bindings`] serves) on the connector sandbox.
//!
//! An agent runs exactly as a connector call does — a fresh instance per run from an
//! `InstancePre` on the pooling allocator, on the plugin threads within a fair share, under the
//! wall-clock deadline, the memory cap and the output cap of [`super::Limits`], with outbound
//! HTTP through the egress hook of its [`Call`] — and in addition imports the `platform`
//! interface, which reaches the host through a [`Platform`] the caller supplies (the agents
//! layer checks the agent's grant and audits each call there). Platform calls are host calls,
//! which epochs do not interrupt, so each is bounded by the run's deadline here.
//!
//! What the agent reports while it runs (`emit-metric`, `emit-event`) is collected in its
//! store and returned with the result in a [`RunReport`], also when the run fails: a failing
//! check still measured its latency.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::Component;

use super::agent_bindings::v0_2::agentic::agent::{platform, types};
use super::agent_bindings::AgentPre;
use super::error::PluginError;
use super::runtime::Runtime;
use super::sandbox::GuestState;
use super::Call;

pub use super::agent_bindings::AgentWitVersion;
pub use types::{
    Error as AgentError, Event as AgentEvent, JobStatus, LogLevel as AgentLogLevel,
    Metric as AgentMetric, Model, Outcome, PlatformError, RecordPage, RecordQuery, StoredRecord,
    SyncEvent, Trigger, TriggerKind,
};

/// Most metrics and events one run may report through the platform; the rest are dropped.
pub const MAX_REPORTED: usize = 256;

/// The future a [`Platform`] call returns.
pub type PlatformFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, PlatformError>> + Send + 'a>>;

/// The host side of `agentic:agent/platform`: what an agent may ask of the platform. The
/// implementation checks every call against the agent's grant and audits it.
pub trait Platform: Send + Sync {
    /// `query-records`.
    fn query_records(&self, query: RecordQuery) -> PlatformFuture<'_, RecordPage>;
    /// `start-sync`.
    fn start_sync(&self, connection_id: i64, stream: Option<String>) -> PlatformFuture<'_, i64>;
    /// `sync-job`.
    fn sync_job(&self, job_id: i64) -> PlatformFuture<'_, JobStatus>;
    /// `write-document` (0.1.0 components link no records).
    fn write_document(
        &self,
        title: String,
        markdown: String,
        tags: Vec<String>,
        records: Vec<i64>,
    ) -> PlatformFuture<'_, i64>;
    /// `comment-on-record` (0.2.0).
    fn comment_on_record(&self, record_id: i64, markdown: String) -> PlatformFuture<'_, i64>;
    /// `invoke-action`.
    fn invoke_action(
        &self,
        connection_id: i64,
        action: String,
        input: String,
    ) -> PlatformFuture<'_, String>;
}

/// What an agent run collects in its store.
pub(crate) struct AgentScope {
    platform: Arc<dyn Platform>,
    metrics: Vec<AgentMetric>,
    events: Vec<AgentEvent>,
    /// Reports dropped past [`MAX_REPORTED`].
    dropped: u64,
}

/// A compiled, pre-linked agent component.
#[derive(Clone)]
pub struct AgentComponent {
    name: Arc<str>,
    pre: AgentPre,
}

impl AgentComponent {
    /// The contract version the component was built against (and is run with).
    pub fn wit_version(&self) -> AgentWitVersion {
        self.pre.version()
    }
}

impl std::fmt::Debug for AgentComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentComponent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The agent returned a typed error.
    #[error("{}", describe(.0))]
    Agent(AgentError),
    /// The sandbox stopped it: trap, timeout, memory or output limit.
    #[error(transparent)]
    Sandbox(#[from] PluginError),
}

/// The case and text of an agent's error, as people read it.
fn describe(e: &AgentError) -> String {
    match e {
        AgentError::Config(m) => format!("config: {m}"),
        AgentError::CheckFailed(m) => format!("check failed: {m}"),
        AgentError::Transient(m) => format!("transient: {m}"),
        AgentError::Denied(m) => format!("denied: {m}"),
        AgentError::Internal(m) => format!("internal: {m}"),
    }
}

/// One run's result with what the agent reported on the way.
#[derive(Debug)]
pub struct RunReport {
    /// The outcome, or why the run failed.
    pub result: Result<Outcome, RunError>,
    /// Metrics sent with `platform.emit-metric`.
    pub metrics: Vec<AgentMetric>,
    /// Events sent with `platform.emit-event`.
    pub events: Vec<AgentEvent>,
    /// Why the host refused the run's latest outgoing request, if it did.
    pub refusal: Option<String>,
}

impl Runtime {
    /// Compiles `bytes` and checks that it is a component of a served version of the `agent`
    /// world (the one whose interfaces it imports) whose imports the host provides. (The agents layer keeps what it loaded: built-in agents are few.)
    pub fn load_agent(&self, name: &str, bytes: &[u8]) -> Result<AgentComponent, PluginError> {
        self.load_agent_cached(name, bytes, None)
    }

    /// Like [`Runtime::load_agent`], with the compiled code cached in `dir` as connectors' is
    /// (installed agent packages: compiled once, not again after a restart).
    pub fn load_agent_cached(
        &self,
        name: &str,
        bytes: &[u8],
        dir: Option<&std::path::Path>,
    ) -> Result<AgentComponent, PluginError> {
        let component = match dir {
            Some(dir) => self.compile_cached(bytes, dir)?,
            None => Component::new(&self.sandbox.engine, bytes)
                .map_err(|e| PluginError::Invalid(format!("{e:#}")))?,
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let version = AgentWitVersion::imported_by(&self.sandbox.engine, &component)
            .map_err(PluginError::Invalid)?
            .unwrap_or(AgentWitVersion::NEWEST);
        let pre = AgentPre::new(version, pre).map_err(|e| {
            PluginError::Invalid(format!(
                "does not implement the agentic:agent@{version} world: {e:#}"
            ))
        })?;
        Ok(AgentComponent {
            name: name.into(),
            pre,
        })
    }

    /// Runs `run(trigger, config, state)` of `agent` in a fresh instance on the plugin threads,
    /// with `call`'s egress and `platform` behind the `platform` interface.
    pub async fn run_agent(
        &self,
        agent: &AgentComponent,
        call: &Call,
        platform: Arc<dyn Platform>,
        trigger: Trigger,
        config: &str,
        state: Option<&str>,
    ) -> RunReport {
        let share = match self.shares.acquire(&agent.name, call.connection).await {
            Ok(share) => share,
            Err(e) => return failed(e),
        };
        let (sandbox, agent, call) = (self.sandbox.clone(), agent.clone(), call.clone());
        let (config, state) = (config.to_owned(), state.map(str::to_owned));
        let ran = self
            .threads
            .run(async move {
                let _share = share;
                let started = Instant::now();
                let mut store = sandbox.store_named(agent.name.clone(), &call);
                store.data_mut().agent = Some(AgentScope {
                    platform,
                    metrics: Vec::new(),
                    events: Vec::new(),
                    dropped: 0,
                });
                let result = sandbox
                    .bounded(agent.pre.run(&mut store, trigger, &config, state.as_ref()))
                    .await;
                sandbox.finished_named(&store, &agent.name, "run", started);
                let refusal = store.data().refusal();
                let result = match result {
                    Ok(Ok(outcome)) => sandbox
                        .cap(outcome_size(&outcome))
                        .map(|()| outcome)
                        .map_err(RunError::Sandbox),
                    Ok(Err(e)) => Err(RunError::Agent(cut_error(
                        e,
                        sandbox.limits.max_message_bytes,
                        refusal.as_deref(),
                    ))),
                    Err(e) => Err(RunError::Sandbox(sandbox.classify(&store, e))),
                };
                let scope = store.data_mut().agent.take();
                let (metrics, events, dropped) = scope.map_or((Vec::new(), Vec::new(), 0), |s| {
                    (s.metrics, s.events, s.dropped)
                });
                if dropped > 0 {
                    tracing::warn!(
                        agent = &*agent.name,
                        dropped,
                        "agent reports over the per-run budget were dropped"
                    );
                }
                Ok(RunReport {
                    result,
                    metrics,
                    events,
                    refusal,
                })
            })
            .await;
        ran.unwrap_or_else(failed)
    }
}

fn failed(e: PluginError) -> RunReport {
    RunReport {
        result: Err(RunError::Sandbox(e)),
        metrics: Vec::new(),
        events: Vec::new(),
        refusal: None,
    }
}

fn outcome_size(o: &Outcome) -> usize {
    o.state.as_ref().map_or(0, String::len)
        + o.summary.len()
        + o.metrics.iter().map(|m| m.name.len() + 8).sum::<usize>()
        + o.events
            .iter()
            .map(|e| e.kind.len() + e.message.len())
            .sum::<usize>()
}

/// An agent's error with its text cut to `max` bytes, naming the host's egress refusal when the
/// agent's text does not already.
fn cut_error(e: AgentError, max: usize, refusal: Option<&str>) -> AgentError {
    let text = |m: String| {
        let m = match refusal {
            Some(why) if !m.contains(why) => format!("{m} (the host refused the request: {why})"),
            _ => m,
        };
        super::sandbox::cut(m, max)
    };
    match e {
        AgentError::Config(m) => AgentError::Config(text(m)),
        AgentError::CheckFailed(m) => AgentError::CheckFailed(text(m)),
        AgentError::Transient(m) => AgentError::Transient(text(m)),
        AgentError::Denied(m) => AgentError::Denied(text(m)),
        AgentError::Internal(m) => AgentError::Internal(text(m)),
    }
}

impl types::Host for GuestState {}

/// Runs a platform call on behalf of the guest, bounded by the run's deadline (epochs do not
/// interrupt host calls).
async fn bounded<T>(deadline: Instant, call: PlatformFuture<'_, T>) -> Result<T, PlatformError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, call).await {
        Ok(result) => result,
        Err(_) => Err(PlatformError::Unavailable(
            "the run's deadline passed during the platform call".into(),
        )),
    }
}

fn no_platform() -> PlatformError {
    PlatformError::Denied("this component is not running as an agent".into())
}

impl GuestState {
    fn platform(&self) -> Result<(Arc<dyn Platform>, Instant), PlatformError> {
        self.agent
            .as_ref()
            .map(|a| (a.platform.clone(), self.deadline()))
            .ok_or_else(no_platform)
    }

    fn report(&mut self, push: impl FnOnce(&mut AgentScope)) {
        if let Some(scope) = &mut self.agent {
            if scope.metrics.len() + scope.events.len() >= MAX_REPORTED {
                scope.dropped += 1;
            } else {
                push(scope);
            }
        }
    }
}

impl platform::Host for GuestState {
    async fn log(&mut self, level: AgentLogLevel, message: String) {
        use super::runtime::LogLevel;
        let level = match level {
            AgentLogLevel::Trace => LogLevel::Trace,
            AgentLogLevel::Debug => LogLevel::Debug,
            AgentLogLevel::Info => LogLevel::Info,
            AgentLogLevel::Warn => LogLevel::Warn,
            AgentLogLevel::Error => LogLevel::Error,
        };
        self.guest_log(level, message);
    }

    async fn emit_metric(&mut self, name: String, value: f64) {
        self.report(|s| s.metrics.push(AgentMetric { name, value }));
    }

    async fn emit_event(&mut self, kind: String, message: String) {
        self.report(|s| s.events.push(AgentEvent { kind, message }));
    }

    async fn query_records(&mut self, query: RecordQuery) -> Result<RecordPage, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(deadline, platform.query_records(query)).await
    }

    async fn start_sync(
        &mut self,
        connection_id: i64,
        stream: Option<String>,
    ) -> Result<i64, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(deadline, platform.start_sync(connection_id, stream)).await
    }

    async fn sync_job(&mut self, job_id: i64) -> Result<JobStatus, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(deadline, platform.sync_job(job_id)).await
    }

    async fn write_document(
        &mut self,
        title: String,
        markdown: String,
        tags: Vec<String>,
        records: Vec<i64>,
    ) -> Result<i64, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(
            deadline,
            platform.write_document(title, markdown, tags, records),
        )
        .await
    }

    async fn comment_on_record(
        &mut self,
        record_id: i64,
        markdown: String,
    ) -> Result<i64, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(deadline, platform.comment_on_record(record_id, markdown)).await
    }

    async fn invoke_action(
        &mut self,
        connection_id: i64,
        action: String,
        input: String,
    ) -> Result<String, PlatformError> {
        let (platform, deadline) = self.platform()?;
        bounded(
            deadline,
            platform.invoke_action(connection_id, action, input),
        )
        .await
    }
}
