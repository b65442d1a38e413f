//! Connector actions: how connectors push data into the services they connect (create an issue,
//! comment on it, move it along its workflow).
//!
//! An action is declared in the plugin's manifest (`[[actions]]`, with an input and an output
//! JSON Schema) and run by the component's `invoke` export. The host is the one that checks both
//! schemas: the input before any code runs (so a connector never sees input its author did not
//! declare), the output before anyone sees it (so callers can rely on the declared shape). The
//! call goes out through the connection's egress policy with its credential injected by the
//! host, exactly like `check` and syncs ([`crate::sync::connection_call`]).
//!
//! Used by the REST API (`POST …/connections/{cid}/actions/{action}`) and `agentic action run`.

use std::sync::Arc;

use serde_json::Value;

use crate::api::error::FieldError;
use crate::plugins::package::{Manifest, ManifestAction};
use crate::plugins::registry::{Registry, RegistryError};
use crate::plugins::{ConnectorError, PluginError};
use crate::store::connections::Connection;
use crate::vault::sessions::Sessions;

/// At most this many schema violations are reported for one input.
const MAX_ERRORS: usize = 20;

/// Why an action did not run, or ran and failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The plugin declares no action of this name.
    #[error("plugin {plugin} has no action {action:?} (actions: {known})")]
    Unknown {
        /// The connection's plugin.
        plugin: String,
        /// The name asked for.
        action: String,
        /// The names it declares, comma-separated (`none` when it declares none).
        known: String,
    },
    /// The input breaks the action's input schema; one entry per violation, on `input.<path>`.
    #[error("invalid input")]
    Input(Vec<FieldError>),
    /// The connection's base URL no longer fits the active plugin version's allowed hosts.
    #[error("{0}")]
    BaseUrl(String),
    /// The plugin could not be loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The call failed: a typed connector error, or a crash, timeout or limit.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The connector returned something that is not JSON or breaks the output schema: a bug
    /// in the connector, reported as such (the action may have taken effect).
    #[error("the connector's output for {action} breaks its output schema: {why}")]
    Output {
        /// The action.
        action: String,
        /// What is wrong with it.
        why: String,
    },
}

impl ActionError {
    /// A short word for the audit log and logs: `ok` is for success, then the connector's
    /// error kind (`auth`, `invalid-input`, …), `output` for a refused output, `failed` for
    /// crashes, timeouts and limits.
    pub fn outcome(&self) -> &'static str {
        match self {
            ActionError::Unknown { .. } => "unknown-action",
            ActionError::Input(_) => "invalid-input",
            ActionError::BaseUrl(_) => "config",
            ActionError::Registry(_) => "failed",
            ActionError::Output { .. } => "output",
            ActionError::Plugin(PluginError::Connector(e)) => connector_kind(e),
            ActionError::Plugin(_) => "failed",
        }
    }
}

/// The WIT name of a connector error's case.
pub fn connector_kind(e: &ConnectorError) -> &'static str {
    match e {
        ConnectorError::Auth(_) => "auth",
        ConnectorError::Config(_) => "config",
        ConnectorError::Transient(_) => "transient",
        ConnectorError::NotFound(_) => "not-found",
        ConnectorError::InvalidInput(_) => "invalid-input",
        ConnectorError::Internal(_) => "internal",
        ConnectorError::RateLimited(_) => "rate-limited",
    }
}

/// What a connector error says.
pub fn connector_message(e: &ConnectorError) -> &str {
    match e {
        ConnectorError::Auth(m)
        | ConnectorError::Config(m)
        | ConnectorError::Transient(m)
        | ConnectorError::NotFound(m)
        | ConnectorError::InvalidInput(m)
        | ConnectorError::Internal(m) => m,
        ConnectorError::RateLimited(r) => &r.message,
    }
}

/// The action `name` of `manifest`.
pub fn find<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m ManifestAction, ActionError> {
    manifest
        .actions
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = manifest.actions.iter().map(|a| a.name.as_str()).collect();
            ActionError::Unknown {
                plugin: manifest.id.clone(),
                action: name.to_owned(),
                known: if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                },
            }
        })
}

/// Every way `value` breaks `schema`, each on `<prefix>.<path>` (`input.labels.0`). A schema
/// that does not compile is reported on `prefix` itself (the manifest was checked at install,
/// so this is a host bug rather than a caller's).
pub fn violations(schema: &Value, value: &Value, prefix: &str) -> Vec<FieldError> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => return vec![FieldError::new(prefix, format!("unusable schema: {e}"))],
    };
    validator
        .iter_errors(value)
        .take(MAX_ERRORS)
        .map(|e| {
            let pointer = e.instance_path.to_string();
            FieldError::new(
                format!("{prefix}{}", pointer.replace('/', ".")),
                e.to_string(),
            )
        })
        .collect()
}

/// Runs `action` of `connection`'s plugin with `input`: the input checked against the action's
/// input schema, the call made through the connection's egress and credential, the output
/// parsed and checked against the output schema.
pub async fn run(
    plugins: &Registry,
    sessions: &Arc<Sessions>,
    connection: &Connection,
    action: &str,
    input: &Value,
) -> Result<Value, ActionError> {
    let (manifest, plugin) = plugins.active(&connection.plugin_id).await?;
    let declared = find(&manifest, action)?;
    let problems = violations(&declared.input_schema, input, "input");
    if !problems.is_empty() {
        return Err(ActionError::Input(problems));
    }
    let call = crate::sync::connection_call(&manifest, connection, sessions)
        .map_err(ActionError::BaseUrl)?;
    let runtime = plugins.runtime().await?;
    let text = runtime
        .invoke(
            &plugin,
            &call,
            &connection.config,
            action,
            &input.to_string(),
        )
        .await?;
    let output: Value = serde_json::from_str(&text).map_err(|e| ActionError::Output {
        action: action.to_owned(),
        why: format!("not JSON: {e}"),
    })?;
    let problems = violations(&declared.output_schema, &output, "output");
    if let Some(first) = problems.first() {
        return Err(ActionError::Output {
            action: action.to_owned(),
            why: format!("{}: {}", first.field, first.message),
        });
    }
    Ok(output)
}
