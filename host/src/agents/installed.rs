//! Agent kinds from installed agent packages, beside the built-in [`super::KINDS`].
//!
//! An administrator installs a signed package whose `plugin.toml` says `type = "agent"`
//! (`crate::plugins::agent_package`); its id becomes a kind name. Such a kind:
//! - is offered in a project once the package is enabled there (`PUT
//!   /projects/{id}/plugins/{plugin_id}`, as for connectors); an agent's create, config change,
//!   deploy and each run check that;
//! - validates an agent's config against the manifest's `config_schema` with the **host's
//!   properties** added where the author did not declare them ([`host_properties`]): the
//!   scheduler, health and alerts read `interval_secs` (default 300, at least 60), `cron`,
//!   `unhealthy_after` (default 3), `alert_webhook_url` and `allow_private_network` from every
//!   component kind's config, so an author need not repeat them. `connection_id`, when the
//!   author declares it, binds the agent to one connection of its project as for built-ins,
//!   and then `run_on` (event triggers, `super::triggers`) is added too;
//! - grants a deployed agent the manifest's `needs` that the deploying person holds;
//! - reaches over HTTP only the manifest's `allowed_hosts` (any http(s) origin and path on
//!   them; none when empty), private and loopback addresses only with `allow_private_network`
//!   (which only an Administrator may set), and never with a credential;
//! - runs the package's active version: each run reads which one that is, so the run after an
//!   upgrade or rollback uses the new component.

use std::sync::Arc;

use serde_json::{json, Map, Value};

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

/// The properties the host reads from every component kind's config, as JSON Schema, for a
/// package schema that does not declare them itself.
pub fn host_properties() -> Map<String, Value> {
    let webhook = "Slack-compatible webhook told when the agent turns unhealthy or recovers.";
    let props = json!({
        "interval_secs": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 300,
                          "description": "Seconds between runs (added by the host)."},
        "cron": {"type": "string", "minLength": 9, "maxLength": 128,
                 "description": "Run at these times (UTC) instead of every interval_secs: five fields, minute first, or six, seconds first; firings at least 60 s apart (added by the host)."},
        "unhealthy_after": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3,
                            "description": "Failed runs in a row that make the agent unhealthy (added by the host)."},
        "alert_webhook_url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000,
                              "description": webhook},
        "allow_private_network": {"type": "boolean", "default": false,
                                  "description": "Let the agent reach private or loopback addresses of its allowed hosts, and the webhook (Administrators only; added by the host)."}
    });
    match props {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `run_on` as the host reads it (`agents::triggers`), for a package schema that declares a
/// `connection_id` and no `run_on` of its own.
fn run_on_property() -> Value {
    json!({"type": "array", "maxItems": 2, "uniqueItems": true,
           "items": {"type": "string", "enum": crate::agents::triggers::EVENTS},
           "description": "Also run soon after a sync of connection_id finishes (`sync-finished`) or stores or deletes records (`records-changed`), besides the schedule (added by the host)."})
}

/// `schema` (an object schema: the package crate checks) with [`host_properties`] added where
/// it has none of that name, and `run_on` where it declares a `connection_id`.
fn effective_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(root) = &mut schema {
        let properties = root
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            // Event triggers need the connection the agent is bound to: offered only then.
            if properties.contains_key("connection_id") {
                properties.entry("run_on").or_insert_with(run_on_property);
            }
            for (name, property) in host_properties() {
                properties.entry(name).or_insert(property);
            }
        }
    }
    schema
}

impl InstalledKind {
    /// The kind of `active`.
    pub fn new(active: ActiveAgent) -> Self {
        let schema = effective_schema(&active.manifest.config_schema);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_adds_its_properties_without_overriding_the_authors() {
        let author = json!({
            "type": "object", "additionalProperties": false, "required": ["url"],
            "properties": {
                "url": {"type": "string"},
                "interval_secs": {"type": "integer", "minimum": 600, "default": 3600}
            }
        });
        let schema = effective_schema(&author);
        let props = &schema["properties"];
        assert_eq!(
            props["interval_secs"]["minimum"], 600,
            "the author's own wins"
        );
        assert_eq!(props["unhealthy_after"]["default"], 3);
        assert_eq!(props["allow_private_network"]["type"], "boolean");
        assert!(
            props.get("connection_id").is_none(),
            "only the author binds connections"
        );
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        assert!(validator.is_valid(&json!({"url": "x", "unhealthy_after": 2})));
        assert!(!validator.is_valid(&json!({"url": "x", "colour": "red"})));
        let bare = effective_schema(&json!({"type": "object"}));
        assert_eq!(bare["properties"]["interval_secs"]["default"], 300);
        assert!(
            props.get("run_on").is_none() && bare["properties"].get("run_on").is_none(),
            "event triggers need a connection"
        );
        let bound = effective_schema(&json!({"type": "object", "additionalProperties": false,
            "properties": {"connection_id": {"type": "integer"}}}));
        let validator = jsonschema::validator_for(&bound).expect("compiles");
        assert!(validator.is_valid(&json!({"connection_id": 7, "run_on": ["records-changed"]})));
        assert!(!validator.is_valid(&json!({"connection_id": 7, "run_on": ["job-finished"]})));
    }
}
