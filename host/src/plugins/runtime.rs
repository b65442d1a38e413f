//! The wasmtime runtime for connector components.
//!
//! One [`Runtime`] per host: an engine with the component model, async support, epoch
//! interruption and the pooling allocator, and one linker with WASI 0.2 (with an empty context:
//! no files, no environment, no sockets allowed) plus `wasi:http` and our `host` interface.
//! A [`Plugin`] is a compiled component pre-linked once (`InstancePre`); every call
//! instantiates it afresh, so no state leaks between calls or connections (the pages of one
//! stream read through a [`Reader`](super::Reader) share an instance: see there), and runs
//! - on threads apart from the API's, within its plugin's and connection's share of instances
//!   ([`super::isolation`]): a guest that spins never slows the API or another plugin;
//! - under a wall-clock deadline ([`Limits::call_timeout`]): a ticker thread advances the epoch
//!   every 10 ms; at each tick the guest yields to the other calls on the plugin threads and the
//!   deadline is checked against the clock, so even a guest spinning without calling the host is
//!   stopped on time however many others run (host calls have timeouts of their own, and the
//!   whole call is bounded too);
//! - a linear-memory cap ([`Limits::memory_bytes`]) that traps on the failed `memory.grow`;
//! - an output cap ([`Limits::max_output_bytes`]) on what the call returns, and a cap on the
//!   text of errors and messages ([`Limits::max_message_bytes`]);
//! - the egress rules of its [`Call`] (see [`super::egress`]): no policy, no network.
//!
//! A trap, panic, timeout or exceeded limit becomes a [`PluginError`]; it never reaches the
//! rest of the host.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, ComponentExportIndex, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::egress::{Clients, EgressLimits};
use super::isolation::{PluginThreads, ShareLimits, Shares};
use super::sandbox::{cut, EpochTicker, GuestState, Sandbox};

pub use super::sandbox::{Call, Progress, ProgressSink, LOG_LINES_PER_CALL};

pub use super::bindings::WitVersion;
pub use super::error::PluginError;
pub use bindings::types::{
    ConnectorSpec, Error as ConnectorError, LogLevel, RecordKind, StreamSpec,
};

/// Resource limits of every plugin call.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one call, enforced by epoch interruption.
    pub call_timeout: Duration,
    /// Largest linear memory a guest may grow to, in bytes.
    pub memory_bytes: usize,
    /// Largest result a call may return (strings and records), in bytes.
    pub max_output_bytes: usize,
    /// Longest text a connector error or a `check` message may carry, in bytes; the rest is
    /// cut (a plugin's error text reaches API clients and job records).
    pub max_message_bytes: usize,
    /// Instances that may exist at once: in all (the pooling allocator's slots), per plugin and
    /// per connection.
    pub shares: ShareLimits,
    /// Threads plugin calls run on, apart from the API's.
    pub threads: usize,
    /// Caps on each call's outbound HTTP.
    pub egress: EgressLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            max_output_bytes: 16 << 20,
            max_message_bytes: 4 << 10,
            shares: ShareLimits::default(),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            egress: EgressLimits::default(),
        }
    }
}

/// The plugin engine of one host.
pub struct Runtime {
    pub(super) sandbox: Sandbox,
    pub(super) linker: Linker<GuestState>,
    pub(super) shares: Shares,
    pub(super) threads: PluginThreads,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.sandbox.limits)
            .finish_non_exhaustive()
    }
}

/// A compiled, pre-linked connector component.
#[derive(Clone)]
pub struct Plugin {
    pub(super) name: Arc<str>,
    pub(super) pre: bindings::ConnectorPre<GuestState>,
    /// The `read` export, called through [`Lifted`](super::lift::Lifted) rather than the
    /// generated binding.
    pub(super) read: ComponentExportIndex,
    /// The contract version named by the component's imports, if it imports any of ours.
    contract: Option<WitVersion>,
}

impl Plugin {
    /// The contract version the component was built against, as its imports say
    /// (`agentic:connector/host@0.1.0`, …); `None` when it imports none of our interfaces
    /// (then nothing in it depends on the version: the exports are the same in all).
    pub fn contract(&self) -> Option<WitVersion> {
        self.contract
    }

    /// The contract version the host runs it with: the one it imports, else the newest.
    pub fn wit_version(&self) -> WitVersion {
        self.pre.version()
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Runs one export in a fresh instance on the plugin threads, within the call's share:
/// `call!(runtime, plugin, ctx, "export", |connector, store| export call)`; the call expression
/// owns what it uses (it runs as a task of its own). Instantiation and the call share the
/// store's deadline and limits; a failure of either is classified by [`Sandbox::classify`].
/// Returns the export's result with the reason the host refused the call's latest request, if
/// it did ([`Sandbox::connector_error`] names it in a connector error).
macro_rules! call {
    ($runtime:expr, $plugin:expr, $ctx:expr, $export:literal, |$c:ident, $store:ident| $call:expr) => {{
        let runtime: &Runtime = $runtime;
        let share = runtime
            .shares
            .acquire(&$plugin.name, $ctx.connection)
            .await?;
        let (sandbox, plugin, ctx) = (runtime.sandbox.clone(), $plugin.clone(), $ctx.clone());
        runtime
            .threads
            .run(async move {
                let _share = share;
                let started = Instant::now();
                let mut store = sandbox.store(&plugin, &ctx);
                let result = sandbox
                    .bounded(async {
                        let $c = plugin.pre.instantiate_async(&mut store).await?;
                        let $store = &mut store;
                        $call.await
                    })
                    .await;
                sandbox.finished(&store, &plugin, $export, started);
                // Why the call's latest request was refused, for the error's text.
                let refusal = store.data().refusal();
                result
                    .map(|value| (value, refusal))
                    .map_err(|e| sandbox.classify(&store, e))
            })
            .await
    }};
}

fn engine_error(e: impl std::fmt::Display) -> PluginError {
    PluginError::Engine(e.to_string())
}

impl Runtime {
    /// Builds the engine and linker.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let mut pool = PoolingAllocationConfig::default();
        let n = limits.shares.instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(32)
            // Returning a slot's memory to the kernel costs a TLB shootdown on every other core;
            // batching 32 returns into one halved the per-call latency and doubled concurrent
            // throughput on 2 cores (docs/PERFORMANCE.md).
            .decommit_batch_size(32);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `AGENTIC_PLUGIN_PERFMAP=1` names the compiled guest code for `perf` (a perf map in
        // /tmp), to profile plugins in production-like runs.
        if std::env::var_os("AGENTIC_PLUGIN_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        // Every served version's `host` interface: `…/host@0.1.0`, `…/host@0.2.0`, … are
        // distinct names to wasmtime (0.x minor versions are not semver-compatible).
        bindings::host::add_to_linker::<GuestState, wasmtime::component::HasSelf<GuestState>>(
            &mut linker,
            |state| state,
        )
        .map_err(engine_error)?;
        bindings::v0_2::agentic::connector::host::add_to_linker::<
            GuestState,
            wasmtime::component::HasSelf<GuestState>,
        >(&mut linker, |state| state)
        .map_err(engine_error)?;
        bindings::v0_1::agentic::connector::host::add_to_linker::<
            GuestState,
            wasmtime::component::HasSelf<GuestState>,
        >(&mut linker, |state| state)
        .map_err(engine_error)?;
        // Agents (`agentic:agent/platform`) share the engine, sandbox and threads.
        super::agent_bindings::add_to_linker(&mut linker).map_err(engine_error)?;
        let ticker = EpochTicker::start(&engine);
        let clients = Clients::new().map_err(engine_error)?;
        let threads = PluginThreads::start(limits.threads)?;
        Ok(Self {
            shares: Shares::new(limits.shares),
            sandbox: Sandbox {
                engine,
                limits: Arc::new(limits),
                clients,
            },
            linker,
            threads,
            _ticker: ticker,
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.sandbox.limits
    }

    /// Compiles `bytes` and checks that it is a component of the `connector` world whose imports
    /// the host provides.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let component = Component::new(&self.sandbox.engine, bytes)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        self.link(name, &component)
    }

    /// Like [`Runtime::load`], with the compiled code cached in `dir` under the component's
    /// SHA-256 and the engine's compatibility hash, so a restart or a second host on the same
    /// disk does not compile again. A cache entry that cannot be used is recompiled.
    pub fn load_cached(
        &self,
        name: &str,
        bytes: &[u8],
        dir: Option<&Path>,
    ) -> Result<Plugin, PluginError> {
        let Some(dir) = dir else {
            return self.load(name, bytes);
        };
        let component = self.compile_cached(bytes, dir)?;
        self.link(name, &component)
    }

    /// Links a component for the contract version it imports. One that imports none of ours
    /// is linked for the newest version whose exports it has: the exports are the same in every
    /// version but for `read`'s page, which 0.3.0 extended.
    fn link(&self, name: &str, component: &Component) -> Result<Plugin, PluginError> {
        let contract = WitVersion::imported_by(&self.sandbox.engine, component)
            .map_err(PluginError::Invalid)?;
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        let pre = match contract {
            Some(version) => bindings::ConnectorPre::new(version, pre),
            None => bindings::ConnectorPre::new(WitVersion::NEWEST, pre.clone())
                .or_else(|_| bindings::ConnectorPre::new(WitVersion::V0_2, pre)),
        }
        .map_err(|e| {
            let version = contract.unwrap_or(WitVersion::NEWEST);
            PluginError::Invalid(format!(
                "does not implement the agentic:connector@{version} world: {e:#}"
            ))
        })?;
        let read = component
            .get_export_index(None, "read")
            .ok_or_else(|| PluginError::Invalid("no `read` export".into()))?;
        Ok(Plugin {
            name: name.into(),
            pre,
            read,
            contract,
        })
    }
}

impl Runtime {
    /// `spec()`. Runs without network: a spec is static.
    pub async fn spec(&self, plugin: &Plugin) -> Result<ConnectorSpec, PluginError> {
        let (spec, _) = call!(self, plugin, Call::default(), "spec", |c, store| c
            .call_spec(store))?;
        self.sandbox.cap(spec_size(&spec))?;
        Ok(spec)
    }

    /// `check(config)`.
    pub async fn check(
        &self,
        plugin: &Plugin,
        call: &Call,
        config: &str,
    ) -> Result<String, PluginError> {
        let config = config.to_owned();
        let (message, refusal) = call!(self, plugin, call, "check", |c, store| c
            .call_check(store, &config))?;
        let message = message.map_err(|e| self.sandbox.connector_error(e, refusal))?;
        self.sandbox.cap(message.len())?;
        Ok(cut(message, self.sandbox.limits.max_message_bytes))
    }

    /// `discover(config)`.
    pub async fn discover(
        &self,
        plugin: &Plugin,
        call: &Call,
        config: &str,
    ) -> Result<Vec<StreamSpec>, PluginError> {
        let config = config.to_owned();
        let (streams, refusal) = call!(self, plugin, call, "discover", |c, store| c
            .call_discover(store, &config))?;
        let streams = streams.map_err(|e| self.sandbox.connector_error(e, refusal))?;
        self.sandbox.cap(streams.iter().map(stream_size).sum())?;
        Ok(streams)
    }

    /// `invoke(config, action, input)`.
    pub async fn invoke(
        &self,
        plugin: &Plugin,
        call: &Call,
        config: &str,
        action: &str,
        input: &str,
    ) -> Result<String, PluginError> {
        let (config, action, input) = (config.to_owned(), action.to_owned(), input.to_owned());
        let (output, refusal) = call!(self, plugin, call, "invoke", |c, store| c
            .call_invoke(store, &config, &action, &input))?;
        let output = output.map_err(|e| self.sandbox.connector_error(e, refusal))?;
        self.sandbox.cap(output.len())?;
        Ok(output)
    }
}

fn stream_size(s: &StreamSpec) -> usize {
    s.name.len() + s.description.len() + s.schema.len()
}

fn spec_size(s: &ConnectorSpec) -> usize {
    s.id.len()
        + s.name.len()
        + s.version.len()
        + s.description.len()
        + s.config_schema.len()
        + s.streams.iter().map(stream_size).sum::<usize>()
        + s.actions
            .iter()
            .map(|a| {
                a.name.len() + a.description.len() + a.input_schema.len() + a.output_schema.len()
            })
            .sum::<usize>()
}
