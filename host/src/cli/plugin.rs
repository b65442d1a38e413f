//! `agentic plugin …`: the publisher's side (new, keygen, sign), which needs no database, and
//! the administrator's side (trust, install, upgrade, …), which goes through the same
//! [`Registry`](crate::plugins::registry::Registry) as the REST API and is audited the same way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::plugins::package::{Package, SigningKey};
use crate::plugins::registry::{Actor, Registry};
use crate::server;

#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Create a connector crate from the SDK template in DIR.
    New {
        /// Directory to create (must not exist).
        dir: PathBuf,
        /// Plugin id (default: the directory name).
        #[arg(long)]
        id: Option<String>,
        /// Human name (default: from the id).
        #[arg(long)]
        name: Option<String>,
        /// The agentic-sdk dependency, as Cargo.toml text (default: a path to this checkout's sdk/).
        #[arg(long)]
        sdk: Option<String>,
    },
    /// Generate a publisher signing key into KEY_FILE (mode 0600) and print its public key.
    Keygen {
        /// Where to write the private key (must not exist).
        key_file: PathBuf,
    },
    /// Sign a manifest and component into a package file.
    Sign {
        /// The publisher's key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The plugin's `plugin.toml`.
        #[arg(long)]
        manifest: PathBuf,
        /// The component (`.wasm`, built for wasm32-wasip2).
        #[arg(long)]
        component: PathBuf,
        /// The package to write (`.agp`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Trust a publisher key: packages it signs may be installed.
    Trust {
        /// Publisher name.
        name: String,
        /// Public key, `ed25519:<base64>`.
        public_key: String,
    },
    /// List trusted publisher keys.
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
    /// List installed plugins: id, active version, previous version, versions, projects.
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
    /// Whether the command works on files only (no configuration, no database).
    /// Whether it only reads an installation (so must not create one where there is none).
    pub(super) fn is_read_only(&self) -> bool {
        matches!(self, PluginCommand::List | PluginCommand::Publishers)
    }

    pub(super) fn is_offline(&self) -> bool {
        matches!(
            self,
            PluginCommand::New { .. } | PluginCommand::Keygen { .. } | PluginCommand::Sign { .. }
        )
    }
}

/// Publisher-side commands.
pub(super) fn offline(command: PluginCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match command {
        PluginCommand::New { dir, id, name, sdk } => {
            let created = super::template::create(&dir, id, name, sdk)?;
            writeln!(out, "created {} (plugin {created})", dir.display())?;
            writeln!(
                out,
                "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
                dir.display()
            )?;
        }
        PluginCommand::Keygen { key_file } => {
            let (key, pkcs8) = SigningKey::generate()?;
            write_private(&key_file, &pkcs8)?;
            writeln!(out, "{}", key.public_key())?;
            eprintln!(
                "private key written to {}; keep it secret. Give administrators the public key above.",
                key_file.display()
            );
        }
        PluginCommand::Sign {
            key,
            manifest,
            component,
            out: target,
        } => {
            let key_text = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let key = SigningKey::from_file_text(&key_text)?;
            let manifest_text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            let wasm = std::fs::read(&component)
                .with_context(|| format!("reading {}", component.display()))?;
            let package = Package::build(&key, &manifest_text, &wasm)?;
            std::fs::write(&target, package)
                .with_context(|| format!("writing {}", target.display()))?;
            writeln!(out, "{}", target.display())?;
        }
        _ => anyhow::bail!("this plugin command needs the host's configuration"),
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
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
        config.plugin_limits(),
        Some(config.plugin_cache_dir()),
    );
    let cli = Actor::default();
    let mut out = std::io::stdout();
    match command {
        PluginCommand::Trust { name, public_key } => {
            let p = registry.trust(&cli, &name, &public_key).await?;
            writeln!(out, "trusted {} ({})", p.name, p.public_key)?;
        }
        PluginCommand::Publishers => {
            for p in store.list_publishers().await? {
                writeln!(out, "{}\t{}\t{}", p.id, p.name, p.public_key)?;
            }
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
            for p in store.list_plugins().await? {
                let versions: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
                let projects: Vec<String> = p.enabled_projects.iter().map(i64::to_string).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    p.id,
                    p.active_version,
                    p.previous_version.as_deref().unwrap_or("-"),
                    versions.join(","),
                    if projects.is_empty() {
                        "-".to_owned()
                    } else {
                        projects.join(",")
                    }
                )?;
            }
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
        PluginCommand::New { .. } | PluginCommand::Keygen { .. } | PluginCommand::Sign { .. } => {
            offline(command)?;
        }
    }
    store.close().await;
    Ok(())
}
