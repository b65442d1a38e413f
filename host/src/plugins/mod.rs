//! Plugins: WebAssembly components run in a sandbox — connectors, and installed agent packages
//! ([`agent_package`]; agents run on the same sandbox through [`agent`]).
//!
//! [`runtime`] compiles components, checks that they implement the `agentic:connector` world,
//! and runs each call in a fresh instance (a stream's pages in one, through a `Reader`) under a
//! deadline, a memory cap and an output cap; [`lift`] turns a page into the rows the host stores;
//! [`egress`] mediates every HTTP request a plugin makes (declared hosts, the connection's base
//! URL, no private addresses unless allowed, host-injected credentials, request and body caps).

/// Agent components: the `agentic:agent` world on the same sandbox, with the `platform` import.
pub mod agent;
/// The generated bindings of every served version of the `agentic:agent` world.
mod agent_bindings;
/// Installed agent packages (`type = "agent"`): their install checks and compiled components.
pub mod agent_package;
/// The generated bindings of every served version of the `agentic:connector` world.
mod bindings;
/// The on-disk cache of compiled components.
mod component_cache;
/// The `plugins` section of the configuration.
pub mod config;
/// Outbound HTTP policy: the `wasi:http` send hook.
pub mod egress;
/// Why a plugin call failed: the runtime's one error.
mod error;
/// Where plugin calls run (threads apart from the API's) and how many at once (fair shares).
pub mod isolation;
/// Pages read by a plugin, lifted straight into the records the host stores.
pub mod lift;
/// Package files: manifest, component, signature.
pub mod package;
/// Reading a stream's pages: one at a time, or several through one instance.
mod reader;
/// Installed plugins: install, upgrade, rollback, enablement, the active version.
pub mod registry;
/// Engine, linker, compiled plugins, the exports as the host calls them.
pub mod runtime;
/// One call's store, host interface, deadline and error classification.
mod sandbox;

pub use egress::{
    CredentialError, CredentialProvider, EgressLimits, EgressPolicy, StaticCredential,
};
pub use error::PluginError;
pub use isolation::ShareLimits;
pub use lift::{kind_name, Deletion, Page, Record};
pub use reader::Reader;
pub use runtime::{
    Call, ConnectorError, Limits, Plugin, Progress, ProgressSink, Runtime, WitVersion,
};
