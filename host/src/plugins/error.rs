//! Why a plugin call failed ([`PluginError`]): the one error of the plugin runtime, shared by
//! the sandbox, the instance shares, the agents and the registry. A trap, panic, timeout or
//! exceeded limit becomes one; it never reaches the rest of the host.

use std::time::Duration;

use super::bindings::types::Error as ConnectorError;

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
