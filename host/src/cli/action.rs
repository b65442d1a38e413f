//! `agentic action list|run`: a connection's actions from the shell, run in this process with
//! the same checks as the API (input and output schemas, the connection's egress and
//! credential), audited with `via: cli`.

use std::io::{Read, Write};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use super::table::Table;
use crate::actions::ActionError;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::server;
use crate::store::audit::NewAuditEntry;

/// `agentic action …`.
#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Lists the actions a connection's plugin offers: a table of names and descriptions.
    List {
        /// The connection's id.
        connection: i64,
    },
    /// Runs an action of a connection and prints its output (JSON).
    Run {
        /// The connection's id.
        connection: i64,
        /// The action's name (see `agentic action list`).
        action: String,
        /// The input: JSON text, `@file` to read it from a file, or `@-` from standard input.
        #[arg(long, default_value = "{}")]
        input: String,
    },
}

/// Reads `--input`.
fn read_input(input: &str) -> anyhow::Result<serde_json::Value> {
    let text = match input.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => input.to_owned(),
    };
    serde_json::from_str(&text).context("--input is not JSON")
}

/// `agentic action …`.
pub async fn run(config: Config, command: ActionCommand) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let state = server::state(config, store.clone(), Arc::new(SystemClock)).await?;
    let mut out = std::io::stdout();
    let id = match &command {
        ActionCommand::List { connection } | ActionCommand::Run { connection, .. } => *connection,
    };
    let connection = store
        .connection_by_id(id)
        .await
        .with_context(|| format!("connection {id}"))?;
    match command {
        ActionCommand::List { .. } => {
            let manifest = state.plugins.manifest(&connection.plugin_id).await?;
            let mut table = Table::new(&["ACTION", "DESCRIPTION"]);
            for action in manifest.actions {
                table.row([action.name, action.description]);
            }
            write!(out, "{table}")?;
        }
        ActionCommand::Run { action, input, .. } => {
            let input = read_input(&input)?;
            if !store
                .plugin_enabled(connection.project_id, &connection.plugin_id)
                .await?
            {
                anyhow::bail!(
                    "plugin {} is not enabled in the connection's project",
                    connection.plugin_id
                );
            }
            let result = crate::actions::run(
                &state.plugins,
                &state.sessions,
                &connection,
                &action,
                &input,
            )
            .await;
            let ran = !matches!(
                result,
                Err(ActionError::Unknown { .. } | ActionError::Input(_) | ActionError::BaseUrl(_))
            );
            if ran {
                let outcome = result.as_ref().map_or_else(ActionError::outcome, |_| "ok");
                let entry = NewAuditEntry {
                    actor_id: None,
                    action: "action.run",
                    target_type: Some("connection"),
                    target_id: Some(connection.id.to_string()),
                    ip: None,
                    detail: json!({
                        "plugin_id": connection.plugin_id, "action": action,
                        "outcome": outcome, "via": "cli",
                    }),
                };
                store.append_audit(entry, state.now()).await?;
            }
            store.close().await;
            let output = result.map_err(|e| match e {
                ActionError::Input(errors) => {
                    let why: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect();
                    anyhow::anyhow!("invalid input: {}", why.join("; "))
                }
                ActionError::Plugin(crate::plugins::PluginError::Connector(c)) => {
                    let kind = crate::actions::connector_kind(&c);
                    anyhow::anyhow!("{kind}: {}", crate::actions::connector_message(&c))
                }
                other => anyhow::anyhow!("{other}"),
            })?;
            writeln!(out, "{}", serde_json::to_string_pretty(&output)?)?;
            return Ok(());
        }
    }
    store.close().await;
    Ok(())
}
