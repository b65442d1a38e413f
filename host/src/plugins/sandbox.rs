//! One call's sandbox: the store data a guest runs with (an empty WASI context, the HTTP
//! context with its egress hooks, the memory limiter, log and progress budgets), the host
//! interface it may call, the epoch ticker, and [`Sandbox`], which builds a store for each call,
//! arms its wall-clock deadline and classifies its failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings;
use super::bindings::types::{Error as ConnectorError, LogLevel};
use super::egress::{Clients, Egress, EgressPolicy, Latest};
use super::error::PluginError;
use super::lift::LiftError;
use super::runtime::{Limits, Plugin};

/// Per-call store data: an empty WASI context (no preopened directories, no environment, no
/// network), the HTTP context with its egress hooks, and the limiter.
pub(super) struct GuestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: Egress,
    limiter: MemoryLimiter,
    plugin: Arc<str>,
    /// Log lines this call may still write; then they are counted and dropped.
    log_budget: u32,
    /// Log lines dropped for exceeding the budget.
    logs_dropped: u64,
    progress: Option<ProgressSink>,
    /// The connection's base URL as the egress policy parsed it (`host.base-url`).
    base_url: Option<String>,
    /// An agent's run: its platform and what it reported (`None` for connector calls).
    pub(super) agent: Option<super::agent::AgentScope>,
}

/// Progress a plugin reported during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all, when the plugin knows.
    pub total: Option<u64>,
    /// A short message (at most 256 characters).
    pub message: String,
}

/// Where a call's progress goes (the job running it, which shows it to users).
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// What a call may do besides computing: reach the network under a connection's policy, and
/// report progress. The default reaches nothing and reports nowhere.
#[derive(Clone, Default)]
pub struct Call {
    /// Outbound HTTP rules and credential; `None` refuses every request.
    pub egress: Option<Arc<EgressPolicy>>,
    /// Receives `host.progress` reports.
    pub progress: Option<ProgressSink>,
    /// The connection the call is made for: its calls share its fair share of instances.
    pub connection: Option<i64>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("egress", &self.egress)
            .field("progress", &self.progress.is_some())
            .field("connection", &self.connection)
            .finish()
    }
}

/// Log lines one call may write; a guest must not be able to flood the host's logs.
pub const LOG_LINES_PER_CALL: u32 = 100;

impl GuestState {
    /// Writes a guest's log line within the call's budget (connectors and agents alike).
    pub(super) fn guest_log(&mut self, level: LogLevel, message: String) {
        bindings::host::Host::log(self, level, message);
    }

    /// When the call's deadline passes.
    pub(super) fn deadline(&self) -> Instant {
        self.egress.deadline
    }

    /// Why the host refused the call's latest outgoing request, if it did.
    pub(super) fn refusal(&self) -> Option<String> {
        self.egress.latest.refusal()
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl bindings::types::Host for GuestState {}

/// The `host` interface of the current contract. Older versions' `host` delegates here.
impl bindings::host::Host for GuestState {
    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_budget == 0 {
            self.logs_dropped += 1;
            return;
        }
        self.log_budget -= 1;
        let message: String = message.chars().take(2048).collect();
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace | LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn progress(&mut self, done: u64, total: Option<u64>, message: String) {
        let message: String = message.chars().take(256).collect();
        tracing::debug!(plugin = &*self.plugin, done, total, "{message}");
        if let Some(sink) = &self.progress {
            sink(Progress {
                done,
                total,
                message,
            });
        }
    }

    fn base_url(&mut self) -> Option<String> {
        self.base_url.clone()
    }

    fn egress_refusal(&mut self) -> Option<String> {
        self.egress.latest.refusal()
    }

    fn service_url(&mut self, name: String) -> Option<String> {
        let policy = self.egress.policy.as_ref()?;
        policy.service_url(&name).map(ToString::to_string)
    }
}

impl bindings::old::Host for GuestState {}

/// `agentic:connector/host@0.2.0`: the same functions, minus those added since, in 0.2.0's
/// types.
impl bindings::v0_2::agentic::connector::host::Host for GuestState {
    fn log(&mut self, level: bindings::old::LogLevel, message: String) {
        bindings::host::Host::log(self, bindings::new_level(level), message);
    }

    fn progress(&mut self, done: u64, total: Option<u64>, message: String) {
        bindings::host::Host::progress(self, done, total, message);
    }

    fn base_url(&mut self) -> Option<String> {
        bindings::host::Host::base_url(self)
    }

    fn egress_refusal(&mut self) -> Option<String> {
        bindings::host::Host::egress_refusal(self)
    }
}

/// `agentic:connector/host@0.1.0`: the same functions, minus those added since.
impl bindings::v0_1::agentic::connector::host::Host for GuestState {
    fn log(&mut self, level: bindings::old::LogLevel, message: String) {
        bindings::host::Host::log(self, bindings::new_level(level), message);
    }

    fn progress(&mut self, done: u64, total: Option<u64>, message: String) {
        bindings::host::Host::progress(self, done, total, message);
    }
}

/// Caps linear memory and remembers whether the cap was hit, so the resulting trap can be told
/// apart from other traps.
struct MemoryLimiter {
    max: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.max);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Advances the engine's epoch every tick, on a thread of its own (outside the async executor,
/// so a spinning guest cannot starve it).
pub(super) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

const TICK: Duration = Duration::from_millis(10);

impl EpochTicker {
    pub(super) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("agentic-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a call needs of the engine once it runs on the plugin threads: cheap to clone, so each
/// call's task owns its copy.
#[derive(Clone)]
pub(super) struct Sandbox {
    pub(super) engine: Engine,
    pub(super) limits: Arc<Limits>,
    pub(super) clients: Clients,
}

impl Sandbox {
    pub(super) fn store(&self, plugin: &Plugin, call: &Call) -> Store<GuestState> {
        self.store_named(plugin.name.clone(), call)
    }

    /// A store for a call of the component named `name` (a plugin or an agent).
    pub(super) fn store_named(&self, name: Arc<str>, call: &Call) -> Store<GuestState> {
        let state = GuestState {
            wasi: WasiCtxBuilder::new().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress: Egress {
                policy: call.egress.clone(),
                clients: self.clients.clone(),
                limits: self.limits.egress.clone(),
                deadline: Instant::now() + self.limits.call_timeout,
                plugin: name.clone(),
                sent: 0,
                refused: 0,
                latest: Latest::default(),
                in_flight: Arc::new(tokio::sync::Semaphore::new(
                    super::egress::IN_FLIGHT_PER_CALL,
                )),
            },
            limiter: MemoryLimiter {
                max: self.limits.memory_bytes,
                hit: false,
            },
            plugin: name,
            log_budget: LOG_LINES_PER_CALL,
            logs_dropped: 0,
            progress: call.progress.clone(),
            base_url: call
                .egress
                .as_ref()
                .and_then(|p| p.base_url())
                .map(ToString::to_string),
            agent: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Called at every epoch tick: the deadline is the clock's, not a count of ticks the
        // guest happened to be running for, and yielding lets every other call on the plugin
        // threads run between two ticks of a guest that never calls the host.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().egress.deadline {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            Ok(wasmtime::UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store
    }

    /// Readies a store that served a call for the next: a fresh deadline, request budget and
    /// log budget, as a new store would have.
    pub(super) fn arm(&self, store: &mut Store<GuestState>) {
        let state = store.data_mut();
        state.egress.deadline = Instant::now() + self.limits.call_timeout;
        state.egress.sent = 0;
        state.egress.refused = 0;
        state.egress.latest.reset();
        state.log_budget = LOG_LINES_PER_CALL;
        state.logs_dropped = 0;
        store.set_epoch_deadline(1);
    }

    /// Bounds a call as a whole: epochs do not interrupt a host call, so a guest waiting in one
    /// (an HTTP response, say) is stopped here, a little after the deadline the host calls
    /// themselves keep.
    pub(super) async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let limit = self.limits.call_timeout + HOST_CALL_GRACE;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::Trap::Interrupt.into()),
        }
    }

    /// Maps a wasmtime failure to what happened, using what the store saw.
    pub(super) fn classify(
        &self,
        store: &Store<GuestState>,
        error: wasmtime::Error,
    ) -> PluginError {
        if store.data().limiter.hit {
            return PluginError::MemoryLimit(self.limits.memory_bytes);
        }
        match error.downcast_ref::<LiftError>() {
            Some(LiftError::TooLarge { size, .. }) => {
                return PluginError::OutputTooLarge {
                    size: usize::try_from(*size).unwrap_or(usize::MAX),
                    limit: self.limits.max_output_bytes,
                }
            }
            Some(invalid @ LiftError::Invalid(_)) => {
                return PluginError::InvalidOutput(invalid.to_string())
            }
            None => {}
        }
        let timed_out = Instant::now() >= store.data().egress.deadline;
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => PluginError::Timeout(self.limits.call_timeout),
            _ if timed_out => PluginError::Timeout(self.limits.call_timeout),
            _ => PluginError::Trap(cut(format!("{error:#}"), self.limits.max_message_bytes)),
        }
    }

    /// After every call: one warning for the log lines the guest wrote past its budget, and
    /// the call's duration per plugin and export (installed plugins are few, so the label set
    /// stays small).
    pub(super) fn finished(
        &self,
        store: &Store<GuestState>,
        plugin: &Plugin,
        export: &'static str,
        started: Instant,
    ) {
        self.finished_named(store, &plugin.name, export, started);
    }

    /// [`Sandbox::finished`] for a component known by name (agents).
    pub(super) fn finished_named(
        &self,
        store: &Store<GuestState>,
        name: &Arc<str>,
        export: &'static str,
        started: Instant,
    ) {
        let data = store.data();
        if data.logs_dropped > 0 {
            tracing::warn!(
                plugin = &*data.plugin,
                dropped = data.logs_dropped,
                "plugin log lines over the per-call budget were dropped"
            );
        }
        metrics::histogram!("agentic_plugin_call_seconds", "plugin" => name.to_string(), "export" => export)
            .record(started.elapsed().as_secs_f64());
    }

    pub(super) fn cap(&self, size: usize) -> Result<(), PluginError> {
        if size > self.limits.max_output_bytes {
            return Err(PluginError::OutputTooLarge {
                size,
                limit: self.limits.max_output_bytes,
            });
        }
        Ok(())
    }

    /// A typed connector error with its text cut to [`Limits::max_message_bytes`]. When the
    /// host refused the call's latest request (`refusal`) and the text does not say why
    /// already, the reason is added: connectors built against 0.1.0 cannot ask for it, and
    /// people fixing the connection need the rule, not "request denied".
    pub(super) fn connector_error(
        &self,
        error: ConnectorError,
        refusal: Option<String>,
    ) -> PluginError {
        let max = self.limits.max_message_bytes;
        let text = |m: String| {
            let m = match &refusal {
                Some(why) if !m.contains(why.as_str()) => {
                    format!("{m} (the host refused the request: {why})")
                }
                _ => m,
            };
            cut(m, max)
        };
        PluginError::Connector(match error {
            ConnectorError::Config(m) => ConnectorError::Config(text(m)),
            ConnectorError::Auth(m) => ConnectorError::Auth(text(m)),
            ConnectorError::RateLimited(mut r) => {
                r.message = text(r.message);
                ConnectorError::RateLimited(r)
            }
            ConnectorError::Transient(m) => ConnectorError::Transient(text(m)),
            ConnectorError::NotFound(m) => ConnectorError::NotFound(text(m)),
            ConnectorError::InvalidInput(m) => ConnectorError::InvalidInput(text(m)),
            ConnectorError::Internal(m) => ConnectorError::Internal(text(m)),
        })
    }
}

/// How long after its deadline a call that is stuck in a host call is dropped.
const HOST_CALL_GRACE: Duration = Duration::from_secs(1);

/// `text` cut to at most `max` bytes (at a character boundary), saying how much was cut.
pub(super) fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!("… [cut: {total} bytes in all]"));
    text
}
