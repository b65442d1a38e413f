//! # agentic-agent-sdk: agents for the Agentic host
//!
//! An agent is a WebAssembly component (`wasm32-wasip2`) of the contract `agentic:agent@0.2.0`
//! (`wit/agent.wit`, `docs/agent-contract.md`). The host calls it once per **run** — on its
//! interval or cron schedule, or after a sync of its connection ([`Run::event`]), each run a job on the durable queue, in a fresh sandboxed
//! instance — with its configuration and the state the previous run returned. This crate
//! hides the generated bindings: implement [`Agent`] on a type, describe it in `plugin.toml`
//! (`type = "agent"`), call [`register_agent!`], and build. The same code runs natively in
//! `cargo test` through [`testing::Harness`](crate::testing), which plays the host: the
//! platform calls against records you give it, the grant and connection rules the host
//! enforces, HTTP routed to local fakes.
//!
//! ```
//! use agentic_agent_sdk::{platform, register_agent, Agent, Error, Model, RecordQuery, Report, Run};
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     connection_id: i64,
//! }
//!
//! #[derive(Default, serde::Serialize, serde::Deserialize)]
//! struct State {
//!     runs: u64,
//! }
//!
//! #[derive(Default)]
//! struct OpenItems;
//!
//! impl Agent for OpenItems {
//!     type Config = Config;
//!     type State = State;
//!
//!     fn run(&self, _run: &Run, config: &Config, state: &mut State) -> Result<Report, Error> {
//!         let query = RecordQuery::new(Model::WorkItem)
//!             .connection(config.connection_id)
//!             .status("Open");
//!         let open = platform::records(query).count();
//!         state.runs += 1;
//!         Ok(Report::new(format!("{open} open work items")).metric("open_items", open as f64))
//!     }
//! }
//!
//! register_agent!(OpenItems);
//!
//! # fn main() {
//! // In tests:
//! use agentic_agent_sdk::testing::Harness;
//! use serde_json::json;
//! let mut host = Harness::new().grant(&["records:read"]).connection(7);
//! host.record(Model::WorkItem, 7, "issues", "A-1", json!({"title": "Crash", "status": "Open"}));
//! host.record(Model::WorkItem, 7, "issues", "A-2", json!({"title": "Typo", "status": "Done"}));
//! let run = host.run::<OpenItems>(json!({"connection_id": 7}));
//! assert_eq!(run.outcome().summary, "1 open work items");
//! # }
//! ```
//!
//! # Layout
//!
//! - [`Agent`], [`Run`], [`Report`] and [`register_agent!`] (`agent`): what an agent
//!   implements and how it becomes the component's export.
//! - [`platform`]: the host's `platform` interface — log, metrics, events, records, syncs,
//!   documents (linked to records), comments on records, connector actions — each call
//!   checked against the agent's grant.
//! - [`http`]: a blocking HTTP client over `wasi:http`, mediated by the host's egress rules;
//!   [`clock::Stopwatch`] to measure how long something took.
//! - [`Error`] and [`PlatformError`]: how a run fails and why the host refused a call.
//! - `testing` (native builds only): [`testing::Harness`](crate::testing).
//!
//! Credentials are never the agent's business: what it reaches through a connection (an
//! action, a model connection's base URL) carries the connection's credential, added by the
//! host; the agent never sees it.

#![deny(missing_docs)]

// Lets the generated bindings and the exported macros name this crate `agentic_agent_sdk`
// both here and in agent crates.
extern crate self as agentic_agent_sdk;

mod agent;
pub mod clock;
mod error;
pub mod http;
pub mod platform;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod export;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wit;

/// Agents built with the SDK allocate with talc, as connectors built with `agentic-sdk` do.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use agent::{Agent, Event, Metric, Report, Run, SyncEvent, TriggerKind};
pub use error::{Error, PlatformError};
pub use platform::{JobStatus, LogLevel, Model, RecordPage, RecordQuery, StoredRecord};

/// The `agentic:agent` contract version this SDK builds agents for (a manifest's `wit`).
pub const WIT_VERSION: &str = "0.2.0";

/// Re-exported so agents can write `agentic_agent_sdk::serde_json::json!` without their own
/// dependency, and so its version always matches the SDK's `Value`.
pub use serde_json;

/// Implementation details of [`register_agent!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::export::Export;
    #[cfg(target_arch = "wasm32")]
    pub use wit_bindgen;

    /// Compiles only for [`Agent`](crate::Agent) types: the native expansion of
    /// [`register_agent!`](crate::register_agent).
    pub fn assert_agent<A: crate::Agent>() {}
}
