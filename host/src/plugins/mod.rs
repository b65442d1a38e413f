//! Connector plugins: WebAssembly components run in a sandbox.
//!
//! [`runtime`] compiles components, checks that they implement the `agentic:connector` world,
//! and runs each call in a fresh instance under a deadline, a memory cap and an output cap.
//!
//! Status (issue "Connector runtime"): the runtime and its limits are in place; outbound HTTP
//! is refused for every request until the mediated egress (allowed hosts, private-address rules,
//! credential injection) lands, and packages, signatures, the registry and the SDK follow.

/// Engine, linker, per-call sandbox and error classification.
pub mod runtime;

pub use runtime::{ConnectorError, Limits, Plugin, PluginError, Runtime};
