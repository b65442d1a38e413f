//! How a run fails ([`Error`], the contract's `error`) and why the host refused or failed a
//! platform call ([`PlatformError`]).

use std::fmt;

/// Why a run failed. Every failure counts towards the agent turning unhealthy; the case tells
/// people what to fix. A failed run keeps the previous state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration cannot work; the text names the field and the problem.
    Config(String),
    /// What the agent watches is not as it should be.
    CheckFailed(String),
    /// A temporary failure; the next run may succeed.
    Transient(String),
    /// The host refused something the agent needs (egress, a platform call).
    Denied(String),
    /// A bug in the agent.
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (case, message) = match self {
            Error::Config(m) => ("configuration", m),
            Error::CheckFailed(m) => ("check failed", m),
            Error::Transient(m) => ("temporary failure", m),
            Error::Denied(m) => ("denied", m),
            Error::Internal(m) => ("internal error", m),
        };
        write!(f, "{case}: {message}")
    }
}

impl std::error::Error for Error {}

/// Why the host refused or failed a platform call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// The agent's grant does not cover it: a permission the deploying person did not have,
    /// or a connection its configuration does not name.
    Denied(String),
    /// No such object in the agent's project.
    NotFound(String),
    /// The input is invalid (a bad filter, an action input that breaks its schema).
    InvalidInput(String),
    /// The host or the service behind it failed; the same call may work later.
    Unavailable(String),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (case, message) = match self {
            PlatformError::Denied(m) => ("denied", m),
            PlatformError::NotFound(m) => ("not found", m),
            PlatformError::InvalidInput(m) => ("invalid input", m),
            PlatformError::Unavailable(m) => ("unavailable", m),
        };
        write!(f, "{case}: {message}")
    }
}

impl std::error::Error for PlatformError {}

/// So `?` on a platform call fails the run with the matching case: a refusal stays `denied`, a
/// missing object is a configuration that names something that is not there, an invalid
/// input is the agent's bug, an unavailable host or service is temporary.
impl From<PlatformError> for Error {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Denied(m) => Error::Denied(m),
            PlatformError::NotFound(m) => Error::Config(m),
            PlatformError::InvalidInput(m) => Error::Internal(m),
            PlatformError::Unavailable(m) => Error::Transient(m),
        }
    }
}
