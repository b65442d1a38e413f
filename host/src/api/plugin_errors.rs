//! How a failed plugin call answers an API request: the one mapping from [`PluginError`] (and
//! [`ActionError`], which wraps it) to [`ApiError`], so every handler that calls a connector says
//! the same thing for the same failure.
//!
//! A connector's typed error is about the request or the service behind it, and the response says
//! which: its `config` and `invalid-input` errors point at the request's field (422) or, for a saved
//! connection, at its configuration (409); `not-found` is 404, `rate-limited` 429 with the
//! connector's `Retry-After`; `auth`, `transient` and `internal` are the service's or the
//! connector's failure (502) with the connector's message. A trap, timeout or limit is the
//! plugin's failure (502) saying which. A component the engine refuses to load is the host's
//! (500, cause logged).

use super::error::ApiError;
use crate::actions::ActionError;
use crate::plugins::{ConnectorError, PluginError};

/// What the failed call ran on, which decides where the connector's `config` and
/// `invalid-input` errors point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallOn {
    /// A configuration and a state in the request body (a try-out `discover` or `read`, the
    /// `check` of a connection being saved): the request's `config` and `state` fields.
    Request,
    /// A saved connection's configuration, with the request's `input` (an action): a refused
    /// configuration is a conflict with what is saved, refused input the request's `input`.
    Connection,
}

/// The response to a failed plugin call made for `on`.
pub(crate) fn plugin_error(e: PluginError, on: CallOn) -> ApiError {
    match e {
        PluginError::Connector(c) => connector_error(c, on),
        // The engine could not load or run a component it accepted: the host's failure.
        e @ (PluginError::Invalid(_) | PluginError::Engine(_)) => {
            ApiError::internal("plugin runtime", e)
        }
        e @ (PluginError::Timeout(_)
        | PluginError::MemoryLimit(_)
        | PluginError::OutputTooLarge { .. }
        | PluginError::InvalidOutput(_)
        | PluginError::Trap(_)) => ApiError::PluginFailed(e.to_string()),
    }
}

fn connector_error(c: ConnectorError, on: CallOn) -> ApiError {
    match (c, on) {
        (ConnectorError::Config(m), CallOn::Request) => ApiError::field("config", m),
        (ConnectorError::Config(m), CallOn::Connection) => ApiError::Conflict(format!(
            "the connector refuses the connection's configuration: {m}"
        )),
        (ConnectorError::InvalidInput(m), CallOn::Request) => ApiError::field("state", m),
        (ConnectorError::InvalidInput(m), CallOn::Connection) => ApiError::field("input", m),
        (ConnectorError::NotFound(m), _) => ApiError::NotFound(m),
        (ConnectorError::RateLimited(r), _) => ApiError::TooManyRequests {
            retry_after: u64::from(r.retry_after_secs),
            detail: r.message,
        },
        (ConnectorError::Auth(m), _) => {
            ApiError::PluginFailed(format!("the service refused the credential: {m}"))
        }
        (ConnectorError::Transient(m), _) => {
            ApiError::PluginFailed(format!("the service failed: {m}"))
        }
        (ConnectorError::Internal(m), _) => {
            ApiError::PluginFailed(format!("the connector failed: {m}"))
        }
    }
}

/// A failed action: refused before the connector ran (unknown action, input against the
/// schema, a base URL the plugin no longer allows), failed in it, or answered in a shape the
/// action does not declare.
impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            e @ ActionError::Unknown { .. } => ApiError::NotFound(e.to_string()),
            ActionError::Input(errors) => ApiError::Validation(errors),
            ActionError::BaseUrl(m) => ApiError::Conflict(m),
            ActionError::Registry(e) => e.into(),
            e @ ActionError::Output { .. } => ApiError::PluginFailed(e.to_string()),
            ActionError::Plugin(e) => plugin_error(e, CallOn::Connection),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn a_connector_error_points_where_the_call_took_it_from() {
        let config = || PluginError::Connector(ConnectorError::Config("no project key".into()));
        let on_request = plugin_error(config(), CallOn::Request);
        assert!(
            matches!(&on_request, ApiError::Validation(f) if f[0].field == "config"),
            "{on_request:?}"
        );
        let on_connection = plugin_error(config(), CallOn::Connection);
        assert_eq!(on_connection.status(), StatusCode::CONFLICT);
        let input = PluginError::Connector(ConnectorError::InvalidInput("bad".into()));
        assert!(matches!(
            plugin_error(input, CallOn::Connection),
            ApiError::Validation(f) if f[0].field == "input"
        ));
        let missing = PluginError::Connector(ConnectorError::NotFound("no issue ABC-1".into()));
        assert_eq!(
            plugin_error(missing, CallOn::Connection).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_plugin_failing_is_a_502_and_the_engine_failing_a_500() {
        let auth = PluginError::Connector(ConnectorError::Auth("token revoked".into()));
        let e = plugin_error(auth, CallOn::Request);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            e.to_string(),
            "the service refused the credential: token revoked"
        );
        let slow = plugin_error(
            PluginError::Timeout(Duration::from_secs(30)),
            CallOn::Connection,
        );
        assert_eq!(slow.status(), StatusCode::BAD_GATEWAY);
        let engine = plugin_error(PluginError::Engine("no cache".into()), CallOn::Request);
        assert_eq!(engine.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            super::super::error::chain(&engine).ends_with("plugin engine: no cache"),
            "{engine:?}"
        );
    }
}
