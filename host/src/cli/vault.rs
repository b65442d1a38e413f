//! `agentic vault …`: inspect and rotate the credential vault's key.

use std::io::Write;

use clap::Subcommand;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::server;
use crate::vault::Vault;

#[derive(Debug, Subcommand)]
pub(super) enum VaultCommand {
    /// Show the current public key and how many secrets each key holds.
    Status,
    /// Generate a new key and re-encrypt every secret to it while hosts keep serving. Safe to
    /// interrupt: every secret stays readable, and running it again finishes the rotation.
    Rotate,
}

pub(super) async fn run(config: Config, command: VaultCommand) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let vault = Vault::open(store.clone(), config.vault_key_source()).await?;
    let mut out = std::io::stdout();
    match command {
        VaultCommand::Status => {
            let status = vault.status().await?;
            writeln!(out, "current key: {}", status.current)?;
            for (key, n) in status.secrets_by_key {
                writeln!(out, "{n}\tsecrets under {key}")?;
            }
        }
        VaultCommand::Rotate => {
            let before = vault.status().await?.current;
            let done = vault.rotate(SystemClock.now_ms(), |_| true).await?;
            let after = vault.status().await?.current;
            let entry = crate::store::audit::NewAuditEntry {
                actor_id: None,
                action: "vault.rotated",
                target_type: Some("vault"),
                target_id: None,
                ip: None,
                detail: serde_json::json!({"from": before, "to": after, "secrets": done, "via": "cli"}),
            };
            store.append_audit(entry, SystemClock.now_ms()).await?;
            writeln!(out, "rotated {done} secrets to {after}")?;
        }
    }
    store.close().await;
    Ok(())
}
