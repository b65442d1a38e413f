//! Installed agent packages: `.agp` packages whose manifest says `type = "agent"`.
//!
//! They are installed, upgraded, rolled back, enabled per project and uninstalled exactly as
//! connectors are ([`Registry`]: same endpoints and CLI, same trusted publishers, same
//! signature check, same version rules), and stored in the same tables. What is theirs:
//! - at install, the component must be an agent of the manifest's `agentic:agent` version
//!   (read with `wasmparser`, then compiled and linked against the `agent` world; there is no
//!   `spec()` to compare), and the id must not be a built-in agent kind's name;
//! - their compiled form is an [`AgentComponent`], kept by content hash like a connector's
//!   and cached on disk the same way, so the version a run finds active is compiled once;
//! - a connection can never use one: [`Registry::manifest`] and [`Registry::active`] answer
//!   [`RegistryError::WrongType`] for them.
//!
//! How an installed package becomes an agent kind (its config schema, grant, egress) is
//! `crate::agents`'s business.

use super::agent::AgentComponent;
use super::error::PluginError;
use super::package::{component_hash, Manifest, Package, PackageType};
use super::registry::{not_found, Registry, RegistryError};

/// The active version of an installed agent package.
#[derive(Debug, Clone)]
pub struct ActiveAgent {
    /// Its manifest.
    pub manifest: Manifest,
    /// The active version.
    pub version: String,
    /// SHA-256 of its component: which compiled form runs.
    pub sha256: String,
}

impl Registry {
    /// The agent-specific part of an install or upgrade: the component is an agent of the
    /// manifest's contract version and compiles against the `agent` world; the id is not a
    /// built-in kind's.
    pub(super) async fn admit_agent(
        &self,
        package: &Package,
        hash: &str,
    ) -> Result<(), RegistryError> {
        let id = &package.manifest.id;
        if self.reserved_agent_ids.iter().any(|r| r == id) {
            return Err(RegistryError::Package(
                agentic_package::PackageError::Manifest(format!(
                    "id: {id} is the name of a built-in agent kind; choose another id"
                )),
            ));
        }
        agentic_package::check_agent(&package.manifest, &package.component)
            .map_err(|e| RegistryError::NotAComponent(PackageType::Agent, e.to_string()))?;
        self.compile_agent(id, hash, package.component.clone())
            .await
            .map_err(|e| match e {
                RegistryError::Runtime(PluginError::Invalid(m)) => {
                    RegistryError::NotAComponent(PackageType::Agent, m)
                }
                other => other,
            })?;
        Ok(())
    }

    /// The active version of an installed agent package, without compiling anything (a
    /// connector is [`RegistryError::WrongType`]). Through the store's cache, so an upgrade or
    /// rollback on any host applies at the next read.
    pub async fn active_agent(&self, id: &str) -> Result<ActiveAgent, RegistryError> {
        let active = self
            .store
            .active_version(id)
            .await
            .map_err(|e| not_found(e, id))?;
        let manifest = Manifest::parse(&active.manifest)?;
        if manifest.package_type != PackageType::Agent {
            return Err(RegistryError::WrongType {
                id: id.to_owned(),
                is: manifest.package_type,
                wanted: PackageType::Agent,
            });
        }
        Ok(ActiveAgent {
            manifest,
            version: active.version,
            sha256: active.sha256,
        })
    }

    /// The compiled component of `agent` (from [`Registry::active_agent`]): compiled once per
    /// content hash and process (and on disk), the package's other versions dropped.
    pub async fn agent_component(
        &self,
        agent: &ActiveAgent,
    ) -> Result<AgentComponent, RegistryError> {
        let id = &agent.manifest.id;
        if let Some((_, component)) = self.lock_agents().get(&agent.sha256) {
            return Ok(component.clone());
        }
        let bytes = self
            .store
            .plugin_component(id, &agent.version)
            .await
            .map_err(|e| not_found(e, id))?;
        if component_hash(&bytes) != agent.sha256 {
            return Err(RegistryError::Conflict(format!(
                "agent package {id} changed while loading; try again"
            )));
        }
        let component = self.compile_agent(id, &agent.sha256, bytes).await?;
        self.lock_agents()
            .retain(|hash, (of, _)| of != id || *hash == agent.sha256);
        Ok(component)
    }

    async fn compile_agent(
        &self,
        id: &str,
        hash: &str,
        bytes: Vec<u8>,
    ) -> Result<AgentComponent, RegistryError> {
        if let Some((_, component)) = self.lock_agents().get(hash) {
            return Ok(component.clone());
        }
        let runtime = self.runtime().await?;
        let (label, dir) = (format!("agent:{id}"), self.cache_dir.clone());
        let component = tokio::task::spawn_blocking(move || {
            runtime.load_agent_cached(&label, &bytes, dir.as_deref())
        })
        .await
        .map_err(|e| PluginError::Engine(e.to_string()))??;
        self.lock_agents()
            .insert(hash.to_owned(), (id.to_owned(), component.clone()));
        Ok(component)
    }
}
