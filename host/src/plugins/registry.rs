//! The plugin registry: the lifecycle of installed plugins, shared by the REST API and the CLI.
//!
//! Packages are verified (structure, manifest, trusted publisher, signature), compiled and
//! checked against our world, and their `spec()` compared with the manifest before anything is
//! written; the write is one transaction, so a refused or failed install leaves nothing behind.
//! The database is the source of truth for which version is active: [`Registry::active`] reads
//! it on every call (one indexed query) and keeps compiled components by content hash, so an
//! upgrade or rollback made by any host takes effect on the next call everywhere, without a
//! restart. Compiled code is also cached on disk, keyed by content hash and engine, so a
//! restart does not recompile.
//!
//! Agent packages (`type = "agent"`) live in the same registry, under the same trust,
//! signature, version and enablement rules; what differs for them — the component check, no
//! `spec()`, their compiled form, and that a connection can never use one — is in
//! [`super::agent_package`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::OnceCell;

use super::agent::AgentComponent;
use super::package::{component_hash, Manifest, Package, PackageType, PublicKey};
use super::runtime::{ConnectorSpec, Limits, Plugin, PluginError, Runtime};
use crate::clock::Clock;
use crate::store::audit::NewAuditEntry;
use crate::store::plugins::{InstalledPlugin, NewVersion, Publisher};
use crate::store::{Store, StoreError};

mod error;
pub use error::RegistryError;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Who is acting, for the audit log (`user` is `None` for the CLI).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The user, if acting over the API.
    pub user: Option<i64>,
    /// Their IP.
    pub ip: Option<String>,
}

/// The plugin registry of one host process.
pub struct Registry {
    pub(super) store: Store,
    clock: Arc<dyn Clock>,
    limits: Limits,
    pub(super) cache_dir: Option<PathBuf>,
    /// Created on first use: most processes (and most tests) never run a plugin, and an engine
    /// with a pooling allocator reserves a lot of address space.
    runtime: OnceCell<Arc<Runtime>>,
    /// Compiled components by content hash, with the plugin id they belong to: only a
    /// plugin's active version stays (see [`Registry::active`]).
    compiled: Mutex<HashMap<String, (String, Plugin)>>,
    /// The same for agent packages.
    pub(super) agents: Mutex<HashMap<String, (String, AgentComponent)>>,
    /// Ids an agent package may not take: the names of the host's built-in agent kinds,
    /// handed in by whoever builds the registry ([`Registry::reserve_agent_ids`]) so that the
    /// plugin layer does not import the agents layer that builds on it.
    pub(super) reserved_agent_ids: Vec<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `store`; compiled components are cached in `cache_dir` when given.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        limits: Limits,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            store,
            clock,
            limits,
            cache_dir,
            runtime: OnceCell::new(),
            compiled: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashMap::new()),
            reserved_agent_ids: Vec::new(),
        }
    }

    /// This registry refusing agent packages whose id is one of `ids` (the built-in kinds').
    pub fn reserve_agent_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.reserved_agent_ids
            .extend(ids.into_iter().map(Into::into));
        self
    }

    /// The engine, created on first use.
    pub async fn runtime(&self) -> Result<Arc<Runtime>> {
        let limits = self.limits.clone();
        let runtime = self
            .runtime
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Runtime::new(limits).map(Arc::new))
                    .await
                    .map_err(|e| PluginError::Engine(e.to_string()))?
            })
            .await?;
        Ok(runtime.clone())
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: &'static str,
        target_type: &'static str,
        target: &str,
        mut detail: serde_json::Value,
    ) -> Result<()> {
        if actor.user.is_none() {
            detail["via"] = json!("cli");
        }
        let entry = NewAuditEntry {
            actor_id: actor.user,
            action,
            target_type: Some(target_type),
            target_id: Some(target.to_owned()),
            ip: actor.ip.clone(),
            detail,
        };
        self.store.append_audit(entry, self.clock.now_ms()).await?;
        Ok(())
    }

    /// Trusts a publisher key for signing plugins.
    pub async fn trust(&self, actor: &Actor, name: &str, key: &str) -> Result<Publisher> {
        let key = PublicKey::parse(key)?.to_string();
        let publisher = self
            .store
            .add_publisher(name, &key, actor.user, self.clock.now_ms())
            .await
            .map_err(|e| match e {
                StoreError::Duplicate { .. } => RegistryError::Conflict(
                    "a publisher with this name or key is already trusted".into(),
                ),
                other => other.into(),
            })?;
        let detail = json!({"name": name, "public_key": key});
        self.audit(
            actor,
            "plugin_publisher.trusted",
            "plugin_publisher",
            &publisher.id.to_string(),
            detail,
        )
        .await?;
        Ok(publisher)
    }

    /// Stops trusting a publisher (refused while plugins it signed are installed).
    pub async fn untrust(&self, actor: &Actor, id: i64) -> Result<Publisher> {
        let publisher = self.store.remove_publisher(id).await.map_err(|e| match e {
            StoreError::NotFound => RegistryError::NotFound(format!("publisher {id}")),
            other => other.into(),
        })?;
        let detail = json!({"name": publisher.name, "public_key": publisher.public_key});
        self.audit(
            actor,
            "plugin_publisher.removed",
            "plugin_publisher",
            &id.to_string(),
            detail,
        )
        .await?;
        Ok(publisher)
    }

    /// Verifies and checks a package without storing it: the common part of install and
    /// upgrade. Returns the package, its signing publisher and its hash; its component is
    /// compiled (and kept) on the way, as a connector or as an agent by the manifest's type.
    async fn admit(&self, bytes: &[u8]) -> Result<(Package, Publisher, String)> {
        let package = super::package::open(bytes)?;
        let key = package.publisher_key.to_string();
        let publisher = self
            .store
            .publisher_by_key(&key)
            .await?
            .ok_or(RegistryError::UnknownPublisher(key))?;
        package.verify()?;
        let hash = component_hash(&package.component);
        if package.manifest.package_type == PackageType::Agent {
            self.admit_agent(&package, &hash).await?;
            return Ok((package, publisher, hash));
        }
        // An agent component signed as a connector is named for what it is; other problems
        // are the compiler's to find.
        if let Err(e @ agentic_package::ComponentError::WrongType { .. }) =
            agentic_package::check_connector(&package.manifest, &package.component)
        {
            return Err(RegistryError::NotAComponent(
                PackageType::Connector,
                e.to_string(),
            ));
        }
        let plugin = self
            .compile(&package.manifest.id, &hash, package.component.clone())
            .await
            .map_err(|e| match e {
                RegistryError::Runtime(PluginError::Invalid(m)) => {
                    RegistryError::NotAComponent(PackageType::Connector, m)
                }
                other => other,
            })?;
        if let Some(built) = plugin.contract() {
            if built.as_str() != package.manifest.wit {
                return Err(RegistryError::Mismatch(format!(
                    "wit: the manifest says {:?}, but plugin.wasm is built against \
                     agentic:connector@{built} (it imports that version's interfaces)",
                    package.manifest.wit
                )));
            }
        }
        let runtime = self.runtime().await?;
        let spec = runtime.spec(&plugin).await.map_err(|e| {
            RegistryError::NotAComponent(PackageType::Connector, format!("its spec() failed: {e}"))
        })?;
        agree(&package.manifest, &spec)?;
        Ok((package, publisher, hash))
    }

    fn new_version<'a>(
        package: &'a Package,
        publisher: &Publisher,
        hash: &'a str,
        actor: &Actor,
    ) -> NewVersion<'a> {
        NewVersion {
            plugin_id: &package.manifest.id,
            version: &package.manifest.version,
            wit_version: &package.manifest.wit,
            manifest: &package.manifest_text,
            component: &package.component,
            sha256: hash,
            publisher_id: publisher.id,
            installed_by: actor.user,
        }
    }

    /// Installs a plugin that is not installed yet; its version becomes active.
    pub async fn install(&self, actor: &Actor, bytes: &[u8]) -> Result<InstalledPlugin> {
        let (package, publisher, hash) = self.admit(bytes).await?;
        let id = package.manifest.id.clone();
        if let Ok(existing) = self.store.active_version(&id).await {
            return Err(RegistryError::AlreadyInstalled {
                id,
                active: existing.version,
            });
        }
        let version = Self::new_version(&package, &publisher, &hash, actor);
        self.store
            .install_plugin(&version, self.clock.now_ms())
            .await
            .map_err(|e| match e {
                StoreError::Duplicate { .. } => RegistryError::Conflict(format!(
                    "plugin {id} was installed concurrently; use upgrade"
                )),
                other => other.into(),
            })?;
        let detail = json!({"version": package.manifest.version, "sha256": hash, "publisher": publisher.name});
        self.audit(actor, "plugin.installed", "plugin", &id, detail)
            .await?;
        Ok(self.store.get_plugin(&id).await?)
    }

    /// Installs a newer version of an installed plugin (or re-activates an installed one) and
    /// makes it active; the version it replaces becomes the rollback target. `expected` is the
    /// plugin id the caller meant to upgrade, if it named one.
    ///
    /// A version not newer (by semver) than the active one is refused with
    /// [`RegistryError::NotNewer`] unless `force`: a replayed old package, signed and once
    /// trusted, must not silently bring back code with fixed flaws. `rollback` is the way back
    /// to the previous version; a forced downgrade is audited as `plugin.downgraded`.
    pub async fn upgrade(
        &self,
        actor: &Actor,
        expected: Option<&str>,
        bytes: &[u8],
        force: bool,
    ) -> Result<InstalledPlugin> {
        if let Some(expected) = expected {
            self.get(expected).await?;
        }
        let (package, publisher, hash) = self.admit(bytes).await?;
        let id = package.manifest.id.clone();
        // A plugin stays with its publisher: another trusted key may not replace it.
        let installed = self.store.get_plugin(&id).await.ok();
        if let Some(installed) = &installed {
            if let Some(active) = installed.active() {
                // ... and with its type: a connector's connections cannot run an agent.
                let is = Manifest::parse(&active.manifest)?.package_type;
                if is != package.manifest.package_type {
                    return Err(RegistryError::WrongType {
                        id,
                        is,
                        wanted: package.manifest.package_type,
                    });
                }
                if active.publisher != publisher.name {
                    return Err(RegistryError::Mismatch(format!(
                        "plugin {id} is published by {}, this package is signed by {}; uninstall \
                         it first to change publisher",
                        active.publisher, publisher.name
                    )));
                }
            }
        }
        if let Some(expected) = expected {
            if expected != id {
                return Err(RegistryError::Mismatch(format!(
                    "the package is plugin {id}, not {expected}"
                )));
            }
        }
        let offered = &package.manifest.version;
        let active = installed.as_ref().map(|p| p.active_version.as_str());
        let downgrade = active.is_some_and(|active| !newer(offered, active));
        if downgrade && !force {
            return Err(RegistryError::NotNewer {
                id,
                active: active.unwrap_or_default().to_owned(),
                offered: offered.clone(),
            });
        }
        let version = Self::new_version(&package, &publisher, &hash, actor);
        let previous = self
            .store
            // Guarded by the active version judged above: a concurrent change is refused.
            .upgrade_plugin(&version, active, self.clock.now_ms())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    RegistryError::NotFound(format!("plugin {id} (install it first)"))
                }
                other => other.into(),
            })?;
        let mut detail = json!({"from": previous, "to": package.manifest.version, "sha256": hash, "publisher": publisher.name});
        let action = if downgrade {
            detail["forced"] = json!(true);
            "plugin.downgraded"
        } else {
            "plugin.upgraded"
        };
        self.audit(actor, action, "plugin", &id, detail).await?;
        Ok(self.store.get_plugin(&id).await?)
    }

    /// Makes the previous version in the plugin's history active; a second rollback goes one
    /// version further back (never forward to the version just left).
    pub async fn rollback(&self, actor: &Actor, id: &str) -> Result<InstalledPlugin> {
        let (now_active, replaced) = self
            .store
            .rollback_plugin(id, self.clock.now_ms())
            .await
            .map_err(|e| not_found(e, id))?;
        let detail = json!({"from": replaced, "to": now_active});
        self.audit(actor, "plugin.rolled_back", "plugin", id, detail)
            .await?;
        Ok(self.store.get_plugin(id).await?)
    }

    /// Removes a plugin with all its versions and enablements.
    pub async fn uninstall(&self, actor: &Actor, id: &str) -> Result<()> {
        self.store
            .uninstall_plugin(id)
            .await
            .map_err(|e| not_found(e, id))?;
        // Its code goes from this process. Another host keeps its copy until the plugin is
        // active there again under another version: at most one component per plugin id.
        self.lock_compiled().retain(|_, (of, _)| of != id);
        self.lock_agents().retain(|_, (of, _)| of != id);
        self.audit(actor, "plugin.uninstalled", "plugin", id, json!({}))
            .await
    }

    /// Enables an installed plugin in a project; `false` if it already was.
    pub async fn enable(&self, actor: &Actor, project: i64, id: &str) -> Result<bool> {
        self.get(id).await?;
        let changed = self
            .store
            .enable_plugin(project, id, actor.user, self.clock.now_ms())
            .await?;
        if changed {
            self.audit(
                actor,
                "plugin.enabled",
                "plugin",
                id,
                json!({"project_id": project}),
            )
            .await?;
        }
        Ok(changed)
    }

    /// Disables a plugin in a project; `false` if it was not enabled.
    pub async fn disable(&self, actor: &Actor, project: i64, id: &str) -> Result<bool> {
        let changed = self.store.disable_plugin(project, id).await?;
        if changed {
            self.audit(
                actor,
                "plugin.disabled",
                "plugin",
                id,
                json!({"project_id": project}),
            )
            .await?;
        }
        Ok(changed)
    }

    /// One installed plugin.
    pub async fn get(&self, id: &str) -> Result<InstalledPlugin> {
        self.store
            .get_plugin(id)
            .await
            .map_err(|e| not_found(e, id))
    }

    /// The active version's manifest of a connector, without compiling anything (validating a
    /// connection needs only the manifest). An agent package is [`RegistryError::WrongType`].
    pub async fn manifest(&self, id: &str) -> Result<Manifest> {
        let active = self
            .store
            .active_version(id)
            .await
            .map_err(|e| not_found(e, id))?;
        connector(id, Manifest::parse(&active.manifest)?)
    }

    /// The active version of a connector, compiled, with its manifest. Reads the database on
    /// every call, so upgrades and rollbacks by any host apply at once. An agent package is
    /// [`RegistryError::WrongType`].
    pub async fn active(&self, id: &str) -> Result<(Manifest, Plugin)> {
        let active = self
            .store
            .active_version(id)
            .await
            .map_err(|e| not_found(e, id))?;
        let manifest = connector(id, Manifest::parse(&active.manifest)?)?;
        let cached = self
            .lock_compiled()
            .get(&active.sha256)
            .map(|(_, p)| p.clone());
        let plugin = match cached {
            Some(plugin) => plugin,
            None => {
                let bytes = self.store.plugin_component(id, &active.version).await?;
                // The bytes must be the ones the hash names (a reinstall in between, or
                // tampering in the database, must not run under the old name).
                if component_hash(&bytes) != active.sha256 {
                    return Err(RegistryError::Conflict(format!(
                        "plugin {id} changed while loading; try again"
                    )));
                }
                let plugin = self.compile(id, &active.sha256, bytes).await?;
                // A newly active version: the plugin's other versions are not run any more
                // (calls still running keep their own handle), so their code goes.
                self.lock_compiled()
                    .retain(|hash, (of, _)| of != id || *hash == active.sha256);
                plugin
            }
        };
        Ok((manifest, plugin))
    }

    fn lock_compiled(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Plugin)>> {
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn lock_agents(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, AgentComponent)>> {
        self.agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Compiles (or loads from the disk cache) off the async threads, and remembers the result.
    async fn compile(&self, id: &str, hash: &str, bytes: Vec<u8>) -> Result<Plugin> {
        if let Some((_, plugin)) = self.lock_compiled().get(hash) {
            return Ok(plugin.clone());
        }
        let runtime = self.runtime().await?;
        let (name, dir) = (id.to_owned(), self.cache_dir.clone());
        let plugin =
            tokio::task::spawn_blocking(move || runtime.load_cached(&name, &bytes, dir.as_deref()))
                .await
                .map_err(|e| PluginError::Engine(e.to_string()))??;
        self.lock_compiled()
            .insert(hash.to_owned(), (id.to_owned(), plugin.clone()));
        Ok(plugin)
    }
}

/// Whether semver `offered` is newer than `active` (both were checked as semver at install; a
/// version that does not parse is never newer).
fn newer(offered: &str, active: &str) -> bool {
    match (
        semver::Version::parse(offered),
        semver::Version::parse(active),
    ) {
        (Ok(offered), Ok(active)) => offered > active,
        _ => false,
    }
}

/// `manifest` if it is a connector's.
fn connector(id: &str, manifest: Manifest) -> Result<Manifest> {
    if manifest.package_type == PackageType::Connector {
        return Ok(manifest);
    }
    Err(RegistryError::WrongType {
        id: id.to_owned(),
        is: manifest.package_type,
        wanted: PackageType::Connector,
    })
}

pub(super) fn not_found(e: StoreError, id: &str) -> RegistryError {
    match e {
        StoreError::NotFound => RegistryError::NotFound(format!("plugin {id}")),
        other => other.into(),
    }
}

/// The component's own description must agree with the manifest the administrator approved.
fn agree(manifest: &Manifest, spec: &ConnectorSpec) -> Result<()> {
    let mismatch = |what: &str, manifest: &dyn std::fmt::Debug, spec: &dyn std::fmt::Debug| {
        Err(RegistryError::Mismatch(format!(
            "{what}: manifest says {manifest:?}, spec() says {spec:?}"
        )))
    };
    if spec.id != manifest.id {
        return mismatch("id", &manifest.id, &spec.id);
    }
    if spec.version != manifest.version {
        return mismatch("version", &manifest.version, &spec.version);
    }
    let schema: serde_json::Value = serde_json::from_str(&spec.config_schema)
        .map_err(|e| RegistryError::Mismatch(format!("spec() config schema is not JSON: {e}")))?;
    if schema != manifest.config_schema {
        return Err(RegistryError::Mismatch(
            "config_schema differs between the manifest and spec()".into(),
        ));
    }
    let mut declared: Vec<&str> = manifest.actions.iter().map(|a| a.name.as_str()).collect();
    let mut offered: Vec<&str> = spec.actions.iter().map(|a| a.name.as_str()).collect();
    declared.sort_unstable();
    offered.sort_unstable();
    if declared != offered {
        return mismatch("actions", &declared, &offered);
    }
    Ok(())
}
