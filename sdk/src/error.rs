//! The typed error every connector call returns (the contract's `error` variant).
//!
//! The host decides what to do from the case alone — `RateLimited` and `Transient` are retried,
//! the others are shown to the user — so pick the case carefully and put what a person needs to
//! fix the problem in the text. Never put secrets in it.

use std::fmt;

/// Why a connector call failed. Mirrors `agentic:connector/types.error` case for case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The connection's configuration is wrong; the text names the field and the problem.
    Config(String),
    /// The external service refused the credential the host injected.
    Auth(String),
    /// The external service asked to slow down; the host reschedules the job after the delay.
    RateLimited {
        /// Seconds to wait before calling again (from `Retry-After` or the service's own header).
        retry_after_secs: u32,
        /// What the service said.
        message: String,
    },
    /// A temporary failure (timeout, 5xx, connection reset); the same call may succeed later.
    Transient(String),
    /// The stream, action or external object asked for does not exist.
    NotFound(String),
    /// The input of an action, or the state given to `read`, is invalid.
    InvalidInput(String),
    /// A bug in the connector (or a service answer it does not understand).
    Internal(String),
}

impl Error {
    /// The contract's name of the case (`config`, `rate-limited`, …), for messages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Auth(_) => "auth",
            Error::RateLimited { .. } => "rate-limited",
            Error::Transient(_) => "transient",
            Error::NotFound(_) => "not-found",
            Error::InvalidInput(_) => "invalid-input",
            Error::Internal(_) => "internal",
        }
    }

    /// The human text of the error, without its case.
    pub fn message(&self) -> &str {
        match self {
            Error::Config(m)
            | Error::Auth(m)
            | Error::Transient(m)
            | Error::NotFound(m)
            | Error::InvalidInput(m)
            | Error::Internal(m) => m,
            Error::RateLimited { message, .. } => message,
        }
    }

    /// Whether the host retries the call by itself (`rate-limited` and `transient`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Transient(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::RateLimited {
                retry_after_secs,
                message,
            } => write!(
                f,
                "rate-limited (retry after {retry_after_secs} s): {message}"
            ),
            other => write!(f, "{}: {}", other.kind(), other.message()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_case_and_the_message() {
        assert_eq!(
            Error::Config("items: required".into()).to_string(),
            "config: items: required"
        );
        let limited = Error::RateLimited {
            retry_after_secs: 30,
            message: "slow down".into(),
        };
        assert_eq!(
            limited.to_string(),
            "rate-limited (retry after 30 s): slow down"
        );
        assert_eq!(limited.message(), "slow down");
    }

    #[test]
    fn only_rate_limits_and_transient_failures_are_retried() {
        assert!(Error::Transient("reset".into()).is_retryable());
        assert!(Error::RateLimited {
            retry_after_secs: 1,
            message: String::new()
        }
        .is_retryable());
        for e in [
            Error::Config(String::new()),
            Error::Auth(String::new()),
            Error::NotFound(String::new()),
            Error::InvalidInput(String::new()),
            Error::Internal(String::new()),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }
}
