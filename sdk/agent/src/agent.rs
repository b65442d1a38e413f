//! What an agent implements ([`Agent`]), what one run gets ([`Run`]) and returns ([`Report`]),
//! and the glue both the component export and the native harness call ([`dispatch`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::platform::{self, LogLevel};

/// Largest state the host keeps between runs (bytes of JSON); a bigger one fails the run.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// An agent: one step of work, called once per run.
///
/// The host deserializes `Config` from the agent's configuration (validated against the
/// manifest's `config_schema` before it is stored) and `State` from what the previous run
/// returned. Between runs nothing survives but the state: every run is a fresh instance.
pub trait Agent: Default {
    /// The agent's configuration. A change made while the agent is deployed reaches the next
    /// run.
    type Config: DeserializeOwned;
    /// What the agent remembers between runs (at most 64 KiB as JSON). The first run of a
    /// deployment gets `Default::default()`; so does a run whose stored state no longer
    /// deserializes (after an upgrade changed its shape), with a warning in the log.
    type State: Serialize + DeserializeOwned + Default;

    /// One run. On `Ok` the host keeps `state` as it is when `run` returns; on `Err` the run
    /// failed and the host keeps the previous state (to keep a new state while reporting a
    /// failing check, return `Ok` with [`Report::problem`]).
    fn run(
        &self,
        run: &Run,
        config: &Self::Config,
        state: &mut Self::State,
    ) -> Result<Report, Error>;
}

/// Why the host started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// The agent's interval or cron schedule came round.
    Schedule,
    /// The previous run failed; this one comes after a backoff.
    Retry,
    /// A sync of the agent's connection finished (its `run_on` lists `sync-finished`);
    /// [`Run::event`] says which.
    SyncFinished,
    /// A sync of the agent's connection stored or deleted records (its `run_on` lists
    /// `records-changed`); [`Run::event`] says which and how many.
    RecordsChanged,
}

/// The sync that started an event-triggered run. Events arriving before the run starts are
/// gathered into it; the latest is the one given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent {
    /// The connection whose sync finished (the one the configuration names).
    pub connection_id: i64,
    /// The stream that was synced.
    pub stream: String,
    /// The sync job ([`platform::sync_job`] tells its result).
    pub sync_job_id: i64,
    /// Records the sync stored (new or changed; a full sync stores every record it reads).
    pub records_stored: u64,
    /// Records the sync marked deleted.
    pub records_deleted: u64,
    /// When the sync finished: milliseconds since the epoch, the host's clock.
    pub at: i64,
}

/// What the host tells a run about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Why it started.
    pub trigger: TriggerKind,
    /// Its number in the deployment, counting from 1.
    pub number: u64,
    /// When the host started it: milliseconds since 1970-01-01T00:00:00Z, the host's clock.
    pub at: i64,
    /// Failed runs in a row before this one.
    pub consecutive_failures: u32,
    /// The sync event of a [`TriggerKind::SyncFinished`] or [`TriggerKind::RecordsChanged`]
    /// run; `None` for the other kinds.
    pub event: Option<SyncEvent>,
}

/// A number a run measured. Names are 1–64 characters of letters, digits, `_`, `.`, `-` and
/// `:`; the host drops others, and values that are not finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name, e.g. `latency_ms`.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// Something that happened, for people watching the agent (its event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// A short machine-readable kind (1–64 characters), e.g. `stream-failed`.
    pub kind: String,
    /// What happened, in words (the host keeps 1024 characters).
    pub message: String,
}

/// What a successful run reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// One line for people: what the run did.
    pub summary: String,
    /// The run worked but found what the agent watches failing: it counts as a failed run
    /// towards health (with this as its error) and the state is still kept.
    pub problem: Option<String>,
    /// Numbers measured by the run (besides those sent with [`platform::emit_metric`]).
    pub metrics: Vec<Metric>,
    /// Events of the run (besides those sent with [`platform::emit_event`]).
    pub events: Vec<Event>,
}

impl Report {
    /// A report with this summary.
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            ..Self::default()
        }
    }

    /// The run found what it watches failing (see [`Report::problem`]).
    #[must_use]
    pub fn problem(mut self, problem: impl Into<String>) -> Self {
        self.problem = Some(problem.into());
        self
    }

    /// Adds a metric.
    #[must_use]
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.push(Metric {
            name: name.into(),
            value,
        });
        self
    }

    /// Adds an event.
    #[must_use]
    pub fn event(mut self, kind: impl Into<String>, message: impl Into<String>) -> Self {
        self.events.push(Event {
            kind: kind.into(),
            message: message.into(),
        });
        self
    }
}

/// A run's result as the contract carries it: the report and the state to keep, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What the run reported.
    pub report: Report,
    /// The state for the next run.
    pub state: String,
}

/// Runs `A` once on the contract's JSON texts: the body of the component's `run` export and of
/// the harness, so both treat configuration and state alike.
pub(crate) fn dispatch<A: Agent>(
    run: &Run,
    config: &str,
    state: Option<&str>,
) -> Result<Outcome, Error> {
    let config: A::Config = {
        let mut de = serde_json::Deserializer::from_str(config);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!(".{path}")
            };
            Error::Config(format!("config{at}: {}", e.into_inner()))
        })?
    };
    let mut state: A::State = match state {
        None => A::State::default(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
            platform::log(
                LogLevel::Warn,
                &format!("the stored state does not fit this version of the agent ({e}); starting afresh"),
            );
            A::State::default()
        }),
    };
    let report = A::default().run(run, &config, &mut state)?;
    let state = serde_json::to_string(&state)
        .map_err(|e| Error::Internal(format!("the state does not serialize: {e}")))?;
    if state.len() > MAX_STATE_BYTES {
        return Err(Error::Internal(format!(
            "the state is {} bytes, over the host's {MAX_STATE_BYTES}",
            state.len()
        )));
    }
    Ok(Outcome { report, state })
}

/// Makes `$agent` (a type implementing [`Agent`]) the component's `run` export.
///
/// Natively (in `cargo test`) it only checks that the type is an agent; tests run it through
/// [`testing::Harness`](crate::testing::Harness).
#[macro_export]
macro_rules! register_agent {
    ($agent:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __AgenticAgentExport = $crate::__private::Export<$agent>;
    $crate::wit::__export_agent!(__AgenticAgentExport with_types_in $crate::wit);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = $crate::__private::assert_agent::<$agent>;
    };
}
