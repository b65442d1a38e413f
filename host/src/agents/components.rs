//! Where the host finds the components of its agent kinds: the built-in kinds' in a directory,
//! installed agent packages' in the plugin registry.
//!
//! They are built from the plugins workspace (`plugins/agents/*`, crates `agent-web-monitor`,
//! `agent-sync-assistant` and `agent-triage-assistant`) by `cargo xtask serve` / `cargo xtask test`, like the connector
//! components, into `<target>/wasm32-wasip2/release/agent_<kind>.wasm`. The host loads them
//! from `agents.component_dir` (`AGENTIC_AGENTS__COMPONENT_DIR`; `cargo xtask serve` sets it).
//! Without that directory, or without a kind's file in it, the kind does not run here:
//! `GET /agent-kinds` leaves it out and a deploy of it fails naming the missing file. A loaded
//! component is compiled once per process and kept.
//!
//! An installed package's kind ([`Components::kind`]) is resolved from the registry on each
//! use: the active version is read through the store's cache (which an install, upgrade,
//! rollback or uninstall on any host invalidates), and its component is compiled once per
//! content hash ([`crate::plugins::Registry`]), so the run after an upgrade uses the new one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::installed::{AgentKind, InstalledKind};
use super::Kind;
use crate::plugins::agent::AgentComponent;
use crate::plugins::registry::{Registry, RegistryError};

/// The agent components of a host.
pub struct Components {
    dir: Option<PathBuf>,
    plugins: Arc<Registry>,
    loaded: tokio::sync::Mutex<HashMap<&'static str, AgentComponent>>,
    /// Installed kinds by their active version's component hash (a schema compiled once).
    installed: Mutex<HashMap<String, Arc<InstalledKind>>>,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Components {
    /// Components read from `dir`, compiled with the plugin engine of `plugins`.
    pub fn new(dir: Option<PathBuf>, plugins: Arc<Registry>) -> Self {
        Self {
            dir,
            plugins,
            loaded: tokio::sync::Mutex::new(HashMap::new()),
            installed: Mutex::new(HashMap::new()),
        }
    }

    /// The kind named `name`: built in, or the active version of an installed agent package
    /// (`None`: neither).
    pub async fn kind(&self, name: &str) -> Result<Option<AgentKind>, RegistryError> {
        if let Some(k) = super::kind(name) {
            return Ok(Some(AgentKind::BuiltIn(k)));
        }
        if !crate::plugins::package::valid_id(name) {
            return Ok(None);
        }
        let active = match self.plugins.active_agent(name).await {
            Ok(active) => active,
            Err(RegistryError::NotFound(_) | RegistryError::WrongType { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut installed = self
            .installed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kind = installed
            .entry(active.sha256.clone())
            .or_insert_with(|| Arc::new(InstalledKind::new(active)))
            .clone();
        // Only active versions stay: the package's older ones are not validated against any more.
        installed.retain(|hash, k| k.id() != name || *hash == kind.active.sha256);
        Ok(Some(AgentKind::Installed(kind)))
    }

    /// The compiled component of `kind`, loading it on first use; the error says why it cannot
    /// run here (no component directory, no file, not an agent component).
    pub async fn get(&self, kind: &AgentKind) -> Result<AgentComponent, String> {
        match kind {
            AgentKind::BuiltIn(k) => self.built_in(k).await,
            AgentKind::Installed(k) => self
                .plugins
                .agent_component(&k.active)
                .await
                .map_err(|e| format!("agent package {} {}: {e}", k.id(), k.active.version)),
        }
    }

    async fn built_in(&self, kind: &Kind) -> Result<AgentComponent, String> {
        let Some(name) = kind.component else {
            return Err(format!("{} agents run outside the host", kind.name));
        };
        let mut loaded = self.loaded.lock().await;
        if let Some(component) = loaded.get(name) {
            return Ok(component.clone());
        }
        let Some(dir) = &self.dir else {
            return Err("no agent component directory is configured (agents.component_dir)".into());
        };
        let path = dir.join(format!("{name}.wasm"));
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let runtime = self.plugins.runtime().await.map_err(|e| e.to_string())?;
        let label = format!("agent:{}", kind.name);
        let component = tokio::task::spawn_blocking(move || runtime.load_agent(&label, &bytes))
            .await
            .map_err(|e| format!("loading the component: {e}"))?
            .map_err(|e| format!("{}: {e}", path.display()))?;
        loaded.insert(name, component.clone());
        Ok(component)
    }

    /// Whether `kind` can run on this host: `external` always can (it runs elsewhere); a
    /// component kind when its component loads.
    pub async fn runnable(&self, kind: &AgentKind) -> bool {
        !kind.runs_on_host() || self.get(kind).await.is_ok()
    }
}
