//! Agent kinds from installed agent packages, beside the built-in [`super::KINDS`].
//!
//! An administrator installs a signed package whose `plugin.toml` says `type = "agent"`
//! (`crate::plugins::agent_package`); its id becomes a kind name. Such a kind:
//! - is offered in a project once the package is enabled there (`PUT
//!   /projects/{id}/plugins/{plugin_id}`, as for connectors); an agent's create, config change,
//!   deploy and each run check that;
//! - validates an agent's config against the manifest's `config_schema` with the **host's
//!   properties** added where the author did not declare them ([`super::schema`], the same
//!   ones every built-in component kind gets), so an author need not repeat them.
//!   `connection_id`, when the author declares it, binds the agent to one connection of its
//!   project as for built-ins, and then `run_on` (event triggers, `super::triggers`) is added
//!   too;
//! - grants a deployed agent the manifest's `needs` that the deploying person holds;
//! - reaches over HTTP only the manifest's `allowed_hosts` (any http(s) origin and path on
//!   them; none when empty), private and loopback addresses only with `allow_private_network`
//!   (which only an Administrator may set), and never with a credential;
//! - runs the package's active version: each run reads which one that is, so the run after an
//!   upgrade or rollback uses the new component.

use std::sync::Arc;

use serde_json::Value;

use crate::plugins::agent_package::ActiveAgent;
use crate::rbac::Permission;

/// An installed agent package as a kind: the active version's manifest, its config schema as
/// agents are validated against it, and its needs as permissions.
pub struct InstalledKind {
    /// The active version.
    pub active: ActiveAgent,
    schema: Value,
    validator: Option<jsonschema::Validator>,
    needs: Vec<Permission>,
}

impl std::fmt::Debug for InstalledKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstalledKind")
            .field("id", &self.active.manifest.id)
            .field("version", &self.active.version)
            .finish_non_exhaustive()
    }
}

impl InstalledKind {
    /// The kind of `active`.
    pub fn new(active: ActiveAgent) -> Self {
        // Event triggers need the connection the agent is bound to: offered only then.
        let config_schema = &active.manifest.config_schema;
        let events = config_schema.pointer("/properties/connection_id").is_some();
        let schema = super::schema::effective(config_schema, events);
        let validator = jsonschema::validator_for(&schema).ok();
        let needs = active
            .manifest
            .needs()
            .iter()
            .filter_map(|n| Permission::parse(n))
            .collect();
        Self {
            active,
            schema,
            validator,
            needs,
        }
    }

    /// The package id: the kind's name.
    pub fn id(&self) -> &str {
        &self.active.manifest.id
    }

    /// The manifest's description (its name when it has none).
    pub fn description(&self) -> &str {
        let m = &self.active.manifest;
        if m.description.trim().is_empty() {
            &m.name
        } else {
            &m.description
        }
    }

    /// The config schema agents are validated against (the manifest's and the host's
    /// properties).
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The compiled schema (`None`: it does not compile, which the install checks prevent).
    pub fn validator(&self) -> Option<&jsonschema::Validator> {
        self.validator.as_ref()
    }

    /// The manifest's needs.
    pub fn needs(&self) -> &[Permission] {
        &self.needs
    }
}

/// A kind as the host uses it: built in, or an installed package.
#[derive(Debug, Clone)]
pub enum AgentKind {
    /// One of [`super::KINDS`].
    BuiltIn(&'static super::Kind),
    /// An installed agent package.
    Installed(Arc<InstalledKind>),
}

impl AgentKind {
    /// The name agents are created with.
    pub fn name(&self) -> &str {
        match self {
            AgentKind::BuiltIn(k) => k.name,
            AgentKind::Installed(k) => k.id(),
        }
    }

    /// What it does.
    pub fn description(&self) -> &str {
        match self {
            AgentKind::BuiltIn(k) => k.description,
            AgentKind::Installed(k) => k.description(),
        }
    }

    /// JSON Schema of its config.
    pub fn schema(&self) -> Value {
        match self {
            AgentKind::BuiltIn(k) => k.schema(),
            AgentKind::Installed(k) => k.schema().clone(),
        }
    }

    /// The permissions its platform calls may use, if the deploying person holds them.
    pub fn needs(&self) -> &[Permission] {
        match self {
            AgentKind::BuiltIn(k) => k.needs,
            AgentKind::Installed(k) => k.needs(),
        }
    }

    /// Whether this host runs it (every kind but `external`).
    pub fn runs_on_host(&self) -> bool {
        match self {
            AgentKind::BuiltIn(k) => k.component.is_some(),
            AgentKind::Installed(_) => true,
        }
    }

    /// The built-in kind, if it is one.
    pub fn built_in(&self) -> Option<&'static super::Kind> {
        match self {
            AgentKind::BuiltIn(k) => Some(k),
            AgentKind::Installed(_) => None,
        }
    }

    pub(super) fn validator(&self) -> Option<&jsonschema::Validator> {
        match self {
            AgentKind::BuiltIn(k) => k.validator(),
            AgentKind::Installed(k) => k.validator(),
        }
    }
}
