//! The wasmtime runtime for connector components.
//!
//! One [`Runtime`] per host: an engine with the component model, async support, epoch
//! interruption and the pooling allocator, and one linker with WASI 0.2 (with an empty context:
//! no files, no environment, no sockets allowed) plus `wasi:http` and our `host` interface.
//! A [`Plugin`] is a compiled component pre-linked once (`InstancePre`); every call
//! instantiates it afresh, so no state leaks between calls or connections (the pages of one
//! stream read through a [`Reader`] share an instance: see there), and runs
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

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, ComponentExportIndex, Instance, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use super::bindings;
use super::egress::{Clients, EgressLimits};
use super::isolation::{PluginThreads, Share, ShareLimits, Shares};
use super::sandbox::{cut, EpochTicker, GuestState, Sandbox};

pub use super::sandbox::{Call, Progress, ProgressSink, LOG_LINES_PER_CALL};

pub use super::bindings::WitVersion;
pub use bindings::types::{
    ConnectorSpec, Error as ConnectorError, LogLevel, RecordKind, StreamSpec,
};

use super::lift::{Lifted, Page, RecordDataView, RecordView};

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

/// Why a plugin call failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component, or it does not implement our world.
    #[error("not a connector component: {0}")]
    Invalid(String),
    /// The call ran past its deadline and was stopped.
    #[error("plugin call exceeded its {0:?} time limit")]
    Timeout(Duration),
    /// The guest tried to grow its memory past the cap.
    #[error("plugin exceeded its memory limit of {0} bytes (the host's plugins.memory_mib)")]
    MemoryLimit(usize),
    /// The result was larger than allowed.
    #[error("plugin returned {size} bytes, more than the {limit}-byte limit")]
    OutputTooLarge {
        /// Bytes returned.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// What the guest returned breaks the contract (a string that is not UTF-8, say).
    #[error("plugin output refused: {0}")]
    InvalidOutput(String),
    /// The guest trapped (including Rust panics, which abort).
    #[error("plugin crashed: {0}")]
    Trap(String),
    /// The connector reported a typed error.
    #[error("connector error: {0:?}")]
    Connector(ConnectorError),
    /// The engine could not be set up (start-up only).
    #[error("plugin engine: {0}")]
    Engine(String),
}

/// Writes a compiled component into the cache directory (mode 0700), atomically.
fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    // A name no other writer (thread or process) uses, created fresh, synced before it is
    // renamed into place: a reader sees a whole entry or none.
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
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
    pre: bindings::ConnectorPre<GuestState>,
    /// The `read` export, called through [`Lifted`] rather than the generated binding.
    read: ComponentExportIndex,
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
        super::agent::add_to_linker(&mut linker).map_err(engine_error)?;
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

    /// Compiles `bytes`, or reads its compiled code from the cache in `dir` (see
    /// [`Runtime::load_cached`]); agent components are cached the same way.
    pub(super) fn compile_cached(
        &self,
        bytes: &[u8],
        dir: &Path,
    ) -> Result<Component, PluginError> {
        let mut engine_key = std::hash::DefaultHasher::new();
        self.sandbox
            .engine
            .precompile_compatibility_hash()
            .hash(&mut engine_key);
        let path = dir.join(format!(
            "{}-{:016x}.cwasm",
            super::package::component_hash(bytes),
            engine_key.finish()
        ));
        if let Some(component) = self.cached_component(&path) {
            return Ok(component);
        }
        let component = Component::new(&self.sandbox.engine, bytes)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        if let Err(e) = write_cache(dir, &path, &component) {
            tracing::warn!(path = %path.display(), "could not cache compiled plugin: {e}");
        }
        Ok(component)
    }

    /// Reads a compiled component from the cache.
    ///
    /// This is the one `unsafe` call of the host (besides the trait impls of `super::lift`):
    /// wasmtime runs precompiled machine code as is, so the file must be one this engine wrote.
    /// It is: the cache directory is created by the host with mode 0700 inside its data
    /// directory, entries are written whole (temp file and rename) by [`write_cache`], and the
    /// name binds the entry to the component's hash and to this engine's configuration
    /// (wasmtime also refuses code from another version or configuration). Whoever can write
    /// that directory can already replace the host binary.
    #[allow(unsafe_code)]
    fn cached_component(&self, path: &Path) -> Option<Component> {
        // Read into memory rather than mapping the file: a mapped file changed underneath a
        // running host (truncated, rewritten) would crash it with SIGBUS.
        let bytes = std::fs::read(path).ok()?;
        // SAFETY: see above: the bytes were produced by `Component::serialize` of an engine with
        // this configuration, in a directory only the host can write.
        match unsafe { Component::deserialize(&self.sandbox.engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compiled plugin: {e:#}");
                let _ = std::fs::remove_file(path);
                None
            }
        }
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

    /// `read(config, stream, state)`: one page in an instance of its own (see [`Reader`] to
    /// read several pages of a stream).
    pub async fn read(
        &self,
        plugin: &Plugin,
        call: &Call,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Page, PluginError> {
        self.reader(plugin, call).read(config, stream, state).await
    }

    /// A [`Reader`] of `plugin`'s pages under `call`.
    pub fn reader<'r>(&'r self, plugin: &'r Plugin, call: &'r Call) -> Reader<'r> {
        Reader {
            runtime: self,
            plugin,
            call,
            live: None,
        }
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

/// The `read` export as called: config, stream, state in; a page lifted into rows out, in the
/// shape of the component's contract version (0.3.0's `record-data` has `deleted`).
type ReadParams<'a> = (&'a str, &'a str, Option<&'a str>);
type ReadResults = (Result<Lifted<RecordDataView>, ConnectorError>,);
type OldReadResults = (Result<Lifted<RecordView>, ConnectorError>,);

/// Reads consecutive pages of one stream of one connection through one instance.
///
/// Why not a fresh instance per page, as every other call gets: a page is the unit a sync
/// loops over, and a fresh instance costs its instantiation and, more, the page faults of
/// touching fresh linear memory again for every page (docs/PERFORMANCE.md). Reusing it across
/// the pages of one stream shares guest state only between calls that carry the same
/// configuration and credential. Each call still has its own deadline, request budget and log
/// budget; an instance that failed in any way but a typed connector error (trap, timeout,
/// memory cap, refused output, a call dropped half-way) is discarded, and the next page gets a
/// fresh one.
pub struct Reader<'r> {
    runtime: &'r Runtime,
    plugin: &'r Plugin,
    call: &'r Call,
    live: Option<Live>,
}

/// An instance kept between the pages of a stream, with the share it holds.
struct Live {
    store: Store<GuestState>,
    instance: Instance,
    share: Share,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("plugin", &self.plugin.name)
            .field("instance", &self.live.is_some())
            .finish()
    }
}

impl Reader<'_> {
    /// `read(config, stream, state)`: one page, lifted straight into the records the host
    /// stores ([`super::lift`]).
    pub async fn read(
        &mut self,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Page, PluginError> {
        let runtime = self.runtime;
        // Taken out for the call: dropped with it if the call fails or is dropped half-way.
        let live = match self.live.take() {
            Some(mut live) => {
                runtime.sandbox.arm(&mut live.store);
                Ok(live)
            }
            None => Err(runtime
                .shares
                .acquire(&self.plugin.name, self.call.connection)
                .await?),
        };
        let (sandbox, plugin, call) = (
            runtime.sandbox.clone(),
            self.plugin.clone(),
            self.call.clone(),
        );
        let (config, stream, state) = (
            config.to_owned(),
            stream.to_owned(),
            state.map(str::to_owned),
        );
        let (live, result) = runtime
            .threads
            .run(async move {
                let started = Instant::now();
                let (mut store, instance, share) = match live {
                    Ok(live) => (live.store, Some(live.instance), live.share),
                    Err(share) => (sandbox.store(&plugin, &call), None, share),
                };
                let outcome = sandbox
                    .bounded(async {
                        let instance = match instance {
                            Some(instance) => instance,
                            None => {
                                plugin
                                    .pre
                                    .instance_pre()
                                    .instantiate_async(&mut store)
                                    .await?
                            }
                        };
                        // Looked up each call: a typed lookup is cheap next to a page.
                        let params = (config.as_str(), stream.as_str(), state.as_deref());
                        let result = if plugin.wit_version() == WitVersion::V0_3 {
                            let read = instance.get_typed_func::<ReadParams<'_>, ReadResults>(
                                &mut store,
                                &plugin.read,
                            )?;
                            read.call_async(&mut store, params).await?.0.map(|l| l.0)
                        } else {
                            let read = instance.get_typed_func::<ReadParams<'_>, OldReadResults>(
                                &mut store,
                                &plugin.read,
                            )?;
                            read.call_async(&mut store, params).await?.0.map(|l| l.0)
                        };
                        wasmtime::Result::Ok((instance, result))
                    })
                    .await;
                sandbox.finished(&store, &plugin, "read", started);
                Ok(match outcome {
                    // A typed connector error leaves the instance as sound as a page does.
                    Ok((instance, result)) => {
                        let refusal = store.data().refusal();
                        let result = result.map_err(|e| sandbox.connector_error(e, refusal));
                        (
                            Some(Live {
                                store,
                                instance,
                                share,
                            }),
                            result,
                        )
                    }
                    Err(e) => (None, Err(sandbox.classify(&store, e))),
                })
            })
            .await?;
        self.live = live;
        let page = result?;
        runtime.sandbox.cap(page.text_bytes)?;
        Ok(page)
    }
}
