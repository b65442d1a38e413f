//! `agentic plugin …`: the publisher's side (new, keygen, sign, verify: `agentic-package`'s
//! commands, the same as the light `agentic-plugin` tool's), which needs no database, and the
//! administrator's side (trust, install, upgrade, …), which goes through the same
//! [`Registry`](crate::plugins::registry::Registry) as the REST API and is audited the same way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentic_package::commands::PublisherCommand;
use anyhow::Context;
use clap::Subcommand;

use super::table::Table;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::plugins::registry::{Actor, Registry};
use crate::server;

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// The publisher's commands (`new`, `keygen`, `sign`, `verify`): the same code as the
    /// light `agentic-plugin` tool, which needs no host build.
    #[command(flatten)]
    Publish(PublisherCommand),
    /// Trust a publisher key: packages it signs may be installed.
    Trust {
        /// Publisher name.
        name: String,
        /// Public key, `ed25519:<base64>`.
        public_key: String,
    },
    /// List trusted publisher keys (a table with headers).
    Publishers,
    /// Stop trusting a publisher (refused while plugins it signed are installed).
    Untrust {
        /// Publisher name.
        name: String,
    },
    /// Install a signed package of a plugin that is not installed yet.
    Install {
        /// The package file (`.agp`).
        package: PathBuf,
    },
    /// List installed plugins: id, type (connector or agent), active and previous version, all
    /// versions, the projects it is enabled in (a table with headers).
    List,
    /// Enable an installed plugin in a project.
    Enable {
        /// Plugin id.
        id: String,
        /// Project id.
        #[arg(long)]
        project: i64,
    },
    /// Disable a plugin in a project.
    Disable {
        /// Plugin id.
        id: String,
        /// Project id.
        #[arg(long)]
        project: i64,
    },
    /// Install a new version from a signed package and make it active (running hosts switch on
    /// their next call with Redis configured, else within cache.ttl_secs).
    Upgrade {
        /// The package file (`.agp`).
        package: PathBuf,
        /// Install it even if its version is not newer than the active one (a downgrade,
        /// audited as `plugin.downgraded`); `rollback` returns to the previous version without it.
        #[arg(long)]
        force: bool,
    },
    /// Make the previous version active again.
    Rollback {
        /// Plugin id.
        id: String,
    },
    /// Remove a plugin, all its versions and its enablement everywhere.
    Uninstall {
        /// Plugin id.
        id: String,
    },
}

impl PluginCommand {
    /// Whether it only reads an installation (so must not create one where there is none).
    pub(super) fn is_read_only(&self) -> bool {
        matches!(self, PluginCommand::List | PluginCommand::Publishers)
    }

    /// Whether the command works on files only (no configuration, no database).
    pub(super) fn is_offline(&self) -> bool {
        matches!(self, PluginCommand::Publish(_))
    }
}

/// Publisher-side commands: files only, no configuration or database.
pub(super) fn offline(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Publish(command) => {
            agentic_package::commands::run(
                command,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
            Ok(())
        }
        _ => anyhow::bail!("this plugin command needs the host's configuration"),
    }
}

fn read_package(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Administrator-side commands, on the configured database.
pub(super) async fn manage(config: Config, command: PluginCommand) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let registry = Registry::new(
        store.clone(),
        Arc::new(SystemClock),
        config.plugins.limits(),
        Some(config.plugin_cache_dir()),
    )
    .reserve_agent_ids(crate::agents::KINDS.iter().map(|k| k.name));
    let cli = Actor::default();
    let mut out = std::io::stdout();
    match command {
        PluginCommand::Trust { name, public_key } => {
            let p = registry.trust(&cli, &name, &public_key).await?;
            writeln!(out, "trusted {} ({})", p.name, p.public_key)?;
        }
        PluginCommand::Publishers => {
            let mut table = Table::new(&["ID", "NAME", "PUBLIC KEY"]).right(&[0]);
            for p in store.list_publishers().await? {
                table.row([p.id.to_string(), p.name, p.public_key]);
            }
            write!(out, "{table}")?;
        }
        PluginCommand::Untrust { name } => {
            let publisher = store
                .list_publishers()
                .await?
                .into_iter()
                .find(|p| p.name == name)
                .ok_or_else(|| anyhow::anyhow!("no trusted publisher named {name}"))?;
            registry.untrust(&cli, publisher.id).await?;
            writeln!(out, "no longer trusting {name}")?;
        }
        PluginCommand::Install { package } => {
            let p = registry.install(&cli, &read_package(&package)?).await?;
            writeln!(out, "installed {} {}", p.id, p.active_version)?;
        }
        PluginCommand::Upgrade { package, force } => {
            let p = registry
                .upgrade(&cli, None, &read_package(&package)?, force)
                .await?;
            writeln!(
                out,
                "{} {} is active (rollback returns to {})",
                p.id,
                p.active_version,
                p.previous_version.as_deref().unwrap_or("-")
            )?;
        }
        PluginCommand::Rollback { id } => {
            let p = registry.rollback(&cli, &id).await?;
            writeln!(out, "{} {} is active", p.id, p.active_version)?;
        }
        PluginCommand::Uninstall { id } => {
            registry.uninstall(&cli, &id).await?;
            writeln!(out, "uninstalled {id}")?;
        }
        PluginCommand::List => {
            let mut table = Table::new(&[
                "ID",
                "TYPE",
                "ACTIVE",
                "PREVIOUS",
                "VERSIONS",
                "ENABLED IN PROJECTS",
            ]);
            for p in store.list_plugins().await? {
                let versions: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
                let projects: Vec<String> = p.enabled_projects.iter().map(i64::to_string).collect();
                let kind = p
                    .active()
                    .and_then(|v| crate::plugins::package::Manifest::parse(&v.manifest).ok())
                    .map_or("?", |m| m.package_type.as_str());
                table.row([
                    p.id,
                    kind.to_owned(),
                    p.active_version,
                    p.previous_version.unwrap_or_else(|| "-".to_owned()),
                    versions.join(","),
                    if projects.is_empty() {
                        "-".to_owned()
                    } else {
                        projects.join(",")
                    },
                ]);
            }
            write!(out, "{table}")?;
        }
        PluginCommand::Enable { id, project } => {
            store
                .get_project(project)
                .await
                .map_err(|_| anyhow::anyhow!("no project {project}"))?;
            let changed = registry.enable(&cli, project, &id).await?;
            let what = if changed {
                "enabled"
            } else {
                "already enabled"
            };
            writeln!(out, "{id} {what} in project {project}")?;
        }
        PluginCommand::Disable { id, project } => {
            let changed = registry.disable(&cli, project, &id).await?;
            let what = if changed {
                "disabled"
            } else {
                "was not enabled"
            };
            writeln!(out, "{id} {what} in project {project}")?;
        }
        PluginCommand::Publish(_) => offline(command)?,
    }
    store.close().await;
    Ok(())
}
