//! `agentic oidc …`: an identity provider's client secret into the vault.

use std::io::{IsTerminal, Read, Write};

use anyhow::Context;
use clap::Subcommand;

use crate::auth::oidc::secret;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::server;
use crate::store::audit::NewAuditEntry;
use crate::vault::Vault;

#[derive(Debug, Subcommand)]
pub(super) enum OidcCommand {
    /// Put a provider's client secret into the vault, replacing the one it had. The secret is
    /// read from standard input (never from the command line, where `ps` and the shell history
    /// would show it), e.g. `agentic oidc set-secret corp < secret.txt`; one line, a final line
    /// break ignored. The provider uses it when configured with `client_secret_vault = true`,
    /// from its next sign-in on, on every host.
    SetSecret {
        /// The provider's name (`[auth.oidc.providers.<name>]`).
        provider: String,
    },
}

pub(super) async fn run(config: Config, command: OidcCommand) -> anyhow::Result<()> {
    let OidcCommand::SetSecret { provider } = command;
    let Some(provider_config) = config.auth.oidc.providers.get(&provider) else {
        anyhow::bail!(
            "no identity provider named {provider:?} is configured (auth.oidc.providers.{provider})"
        );
    };
    let in_use = provider_config.client_secret_vault;
    if std::io::stdin().is_terminal() {
        anyhow::bail!(
            "give the client secret on standard input, e.g. `agentic oidc set-secret {provider} \
             < secret.txt`: typed on a terminal it would be shown on the screen"
        );
    }
    let mut input = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .take(secret::MAX_SECRET_BYTES as u64 + 3)
        .read_to_string(&mut input)
        .context("reading the client secret from standard input")?;
    let value = input.strip_suffix('\n').unwrap_or(&input);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if let Some(why) = secret::problem(value) {
        anyhow::bail!("the client secret on standard input {why}");
    }
    let store = server::open_store(&config).await?;
    let vault = Vault::open(store.clone(), config.vault_key_source()).await?;
    let now = SystemClock.now_ms();
    let replaced = secret::set(&store, &vault, &provider, value, now).await?;
    let entry = NewAuditEntry {
        actor_id: None,
        action: "identity_provider.client_secret_set",
        target_type: Some("identity_provider"),
        target_id: Some(provider.clone()),
        ip: None,
        detail: serde_json::json!({"replaced": replaced, "in_use": in_use, "via": "cli"}),
    };
    store.append_audit(entry, now).await?;
    let mut out = std::io::stdout();
    let what = if replaced { "replaced" } else { "stored" };
    writeln!(
        out,
        "the client secret of {provider} is {what} in the vault"
    )?;
    if !in_use {
        writeln!(
            out,
            "note: auth.oidc.providers.{provider} does not say client_secret_vault = true yet; \
             it keeps using its other secret until it does"
        )?;
    }
    store.close().await;
    Ok(())
}
