//! Where the host finds the components of its built-in agent kinds.
//!
//! They are built from the plugins workspace (`plugins/agents/*`, crates `agent-web-monitor`,
//! `agent-sync-assistant` and `agent-triage-assistant`) by `cargo xtask serve` / `cargo xtask test`, like the connector
//! components, into `<target>/wasm32-wasip2/release/agent_<kind>.wasm`. The host loads them
//! from `agents.component_dir` (`AGENTIC_AGENTS__COMPONENT_DIR`; `cargo xtask serve` sets it).
//! Without that directory, or without a kind's file in it, the kind does not run here:
//! `GET /agent-kinds` leaves it out and a deploy of it fails naming the missing file. A loaded
//! component is compiled once per process and kept.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::Kind;
use crate::plugins::agent::AgentComponent;
use crate::plugins::registry::Registry;

/// The built-in agent components of a host.
pub struct Components {
    dir: Option<PathBuf>,
    plugins: Arc<Registry>,
    loaded: tokio::sync::Mutex<HashMap<&'static str, AgentComponent>>,
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
        }
    }

    /// The compiled component of `kind`, loading it on first use; the error says why it cannot
    /// run here (no component directory, no file, not an agent component).
    pub async fn get(&self, kind: &Kind) -> Result<AgentComponent, String> {
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
    pub async fn runnable(&self, kind: &Kind) -> bool {
        kind.component.is_none() || self.get(kind).await.is_ok()
    }
}
