//! `plugin.toml`: what an administrator sees and the host enforces before running any code.
//! Unknown keys are refused and every field is checked, so a mistake is found when the
//! publisher signs, not when an administrator installs.
//!
//! A package is a connector (the default: `type` absent or `type = "connector"`) or an agent
//! (`type = "agent"`). The two share the id, version, contract version, name, description,
//! allowed hosts and config schema; a connector also names the credential kinds it works with
//! and its actions, an agent the permissions its platform calls may use (`needs`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::PackageError;

/// The credential kinds a manifest may name (the WIT `auth-kind` cases).
pub const AUTH_KINDS: &[&str] = &[
    "anonymous",
    "api-token",
    "basic",
    "bearer",
    "oauth2-authorization-code",
    "oauth2-client-credentials",
    "google-service-account",
    "form-login",
];

/// An action as declared in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ManifestAction {
    /// Identifier, unique within the plugin.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the input.
    #[serde(default = "any_object")]
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output.
    #[serde(default = "any_object")]
    pub output_schema: serde_json::Value,
}

fn any_object() -> serde_json::Value {
    serde_json::json!({"type": "object"})
}

/// What a package holds: which world its component targets and who runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    /// A connector of the `agentic:connector` world, used by connections (the default, so
    /// every manifest written before agents existed stays valid).
    #[default]
    Connector,
    /// An agent of the `agentic:agent` world, deployed as an agent kind.
    Agent,
}

impl PackageType {
    /// The manifest's spelling: `connector` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Connector => "connector",
            PackageType::Agent => "agent",
        }
    }

    fn is_connector(&self) -> bool {
        *self == PackageType::Connector
    }
}

impl std::fmt::Display for PackageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The permissions an agent's `needs` may name: those the `agentic:agent/platform` calls are
/// checked against (`query-records`, `start-sync`, `sync-job`, `write-document`,
/// `invoke-action`), by their RBAC names. The host grants a deployed agent those of its needs
/// the deploying person holds, never more.
pub const AGENT_NEEDS: &[&str] = &[
    "records:read",
    "connections:sync",
    "jobs:read",
    "documents:manage",
    "connections:act",
];

/// `plugin.toml`: what an administrator sees and the host enforces before running any code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `connector` (the default) or `agent`.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "PackageType::is_connector"
    )]
    pub package_type: PackageType,
    /// Identifier (`jira`): lower-case letters, digits and `-`, 2 to 64 characters.
    pub id: String,
    /// The plugin's semver version.
    pub version: String,
    /// The contract version the component targets: of `agentic:connector` for a connector, of
    /// `agentic:agent` for an agent.
    pub wit: String,
    /// Human name.
    pub name: String,
    /// One paragraph for administrators.
    #[serde(default)]
    pub description: String,
    /// Host patterns the plugin may call: `api.example.com`, `*.example.com`, or `*` (any
    /// host; the connection's base URL then decides).
    pub allowed_hosts: Vec<String>,
    /// Credential kinds the plugin works with (connectors; an agent has none: it never holds
    /// a credential).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_kinds: Vec<String>,
    /// JSON Schema of a connection's configuration (connectors) or of an agent's config
    /// (agents: an object schema).
    #[serde(default = "any_object")]
    pub config_schema: serde_json::Value,
    /// Actions the plugin offers (connectors only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ManifestAction>,
    /// Connectors only: service origins besides the connection's base URL, by name (`[origins]`,
    /// e.g. `sheets = "https://sheets.googleapis.com/"`): requests under them are let through
    /// with the connection's credential, as under the base URL; each connection may override
    /// the URL (a proxy, a fake), and the connector reads the effective one with
    /// `host.service-url` (contract 0.3.0). Each URL's host must match `allowed_hosts`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub origins: std::collections::BTreeMap<String, String>,
    /// Agents only: the permissions its platform calls may use, a subset of [`AGENT_NEEDS`]
    /// (absent = none). Connectors must leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
}

fn manifest_error(field: &str, why: impl std::fmt::Display) -> PackageError {
    PackageError::Manifest(format!("{field}: {why}"))
}

/// Whether `s` is a valid plugin id.
pub fn valid_id(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `p` is a host pattern: `*`, `*.example.com`, a host name or an IP address.
pub fn valid_host_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let host = p.strip_prefix("*.").unwrap_or(p);
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// What is wrong with `url` as a service origin of a plugin that declared `allowed_hosts`, if
/// anything: an absolute http(s) URL without user, password, query or fragment, on a declared
/// host. The host checks it again, with the connection's override, when it builds the egress
/// policy.
pub fn origin_problem(url: &str, allowed_hosts: &[String]) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Some(format!("{url:?} is not an http or https URL"));
    };
    if url.len() > 2000 || url.contains(['?', '#', ' ']) {
        return Some(format!(
            "{url:?}: at most 2000 characters, without query, fragment or spaces"
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Some(format!("{url:?} may not carry a user or password"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Some(format!("{url:?} has no host"));
    }
    let declared = allowed_hosts.iter().any(|p| {
        p == "*"
            || p.eq_ignore_ascii_case(host)
            || p.strip_prefix("*.").is_some_and(|d| {
                host.len() > d.len() + 1
                    && host[host.len() - d.len()..].eq_ignore_ascii_case(d)
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'
            })
    });
    if !declared {
        return Some(format!(
            "host {host} is not among allowed_hosts ({})",
            allowed_hosts.join(", ")
        ));
    }
    None
}

fn check_schema(field: &str, schema: &serde_json::Value) -> Result<(), PackageError> {
    jsonschema::meta::validate(schema)
        .map_err(|e| manifest_error(field, format!("not a valid JSON Schema: {e}")))?;
    // Also compile it: a schema that is well-formed but unusable (an unresolvable `$ref`) would
    // otherwise fail every connection later.
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| manifest_error(field, format!("cannot be used: {e}")))
}

impl Manifest {
    /// Parses `plugin.toml` text (unknown keys are refused) and validates it.
    pub fn parse(text: &str) -> Result<Self, PackageError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| PackageError::Manifest(e.message().to_owned()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), PackageError> {
        if !valid_id(&self.id) {
            return Err(manifest_error(
                "id",
                "2 to 64 lower-case letters, digits and '-', not starting or ending with '-'",
            ));
        }
        semver::Version::parse(&self.version)
            .map_err(|e| manifest_error("version", format!("not a semver version: {e}")))?;
        semver::Version::parse(&self.wit)
            .map_err(|e| manifest_error("wit", format!("not a semver version: {e}")))?;
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err(manifest_error("name", "1 to 100 characters"));
        }
        if self.description.chars().count() > 2000 {
            return Err(manifest_error("description", "at most 2000 characters"));
        }
        if self.allowed_hosts.len() > 32 {
            return Err(manifest_error("allowed_hosts", "at most 32 patterns"));
        }
        for host in &self.allowed_hosts {
            if !valid_host_pattern(host) {
                return Err(manifest_error(
                    "allowed_hosts",
                    format!(
                        "{host:?} is not a host name, `*.domain` or `*` (no scheme, port or path)"
                    ),
                ));
            }
        }
        check_schema("config_schema", &self.config_schema)?;
        match self.package_type {
            PackageType::Connector => self.validate_connector()?,
            PackageType::Agent => self.validate_agent()?,
        }
        for (i, action) in self.actions.iter().enumerate() {
            check_schema(&format!("actions[{i}].input_schema"), &action.input_schema)?;
            check_schema(
                &format!("actions[{i}].output_schema"),
                &action.output_schema,
            )?;
        }
        Ok(())
    }

    /// The needs of an agent (none for a connector).
    pub fn needs(&self) -> &[String] {
        self.needs.as_deref().unwrap_or_default()
    }

    fn validate_connector(&self) -> Result<(), PackageError> {
        if self.needs.is_some() {
            return Err(manifest_error(
                "needs",
                "only agents (type = \"agent\") declare needs; a connector's calls are \
                 limited by its connection",
            ));
        }
        if self.auth_kinds.is_empty() {
            return Err(manifest_error("auth_kinds", "name at least one"));
        }
        if self.origins.len() > 16 {
            return Err(manifest_error("origins", "at most 16 origins"));
        }
        for (name, url) in &self.origins {
            if !valid_id(name) {
                return Err(manifest_error(
                    "origins",
                    format!("name {name:?}: 2 to 64 lower-case letters, digits and '-'"),
                ));
            }
            if let Some(why) = origin_problem(url, &self.allowed_hosts) {
                return Err(manifest_error(&format!("origins.{name}"), why));
            }
        }
        for kind in &self.auth_kinds {
            if !AUTH_KINDS.contains(&kind.as_str()) {
                return Err(manifest_error(
                    "auth_kinds",
                    format!("unknown kind {kind:?} (known: {})", AUTH_KINDS.join(", ")),
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, action) in self.actions.iter().enumerate() {
            if !valid_id(&action.name) {
                return Err(manifest_error(
                    &format!("actions[{i}].name"),
                    "lower-case letters, digits and '-'",
                ));
            }
            if !names.insert(&action.name) {
                return Err(manifest_error(
                    &format!("actions[{i}].name"),
                    format!("{} is declared twice", action.name),
                ));
            }
        }
        Ok(())
    }

    fn validate_agent(&self) -> Result<(), PackageError> {
        if !self.origins.is_empty() {
            return Err(manifest_error(
                "origins",
                "an agent has no connection, so no service origins; leave it out",
            ));
        }
        if !self.auth_kinds.is_empty() {
            return Err(manifest_error(
                "auth_kinds",
                "an agent has no credential kinds (it never holds a credential); leave it out",
            ));
        }
        if !self.actions.is_empty() {
            return Err(manifest_error(
                "actions",
                "an agent offers no actions (it may invoke a connection's); leave it out",
            ));
        }
        let mut seen = HashSet::new();
        for need in self.needs() {
            if !AGENT_NEEDS.contains(&need.as_str()) {
                return Err(manifest_error(
                    "needs",
                    format!(
                        "{need:?} is not a permission the platform calls use (they use: {})",
                        AGENT_NEEDS.join(", ")
                    ),
                ));
            }
            if !seen.insert(need) {
                return Err(manifest_error("needs", format!("{need} is named twice")));
            }
        }
        if self
            .config_schema
            .get("type")
            .and_then(serde_json::Value::as_str)
            != Some("object")
        {
            return Err(manifest_error(
                "config_schema",
                "an agent's config is a JSON object: the schema must say type = \"object\"",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
id = "demo"
version = "1.2.3"
wit = "0.1.0"
name = "Demo"
allowed_hosts = ["*.example.com", "api.example.org"]
auth_kinds = ["bearer"]
[config_schema]
type = "object"
[[actions]]
name = "echo"
"#;

    #[test]
    fn manifests_are_checked_field_by_field() {
        let bad = |from: &str, to: &str| {
            let text = MANIFEST.replace(from, to);
            match Manifest::parse(&text) {
                Err(PackageError::Manifest(m)) => m,
                other => panic!("{to}: expected a manifest error, got {other:?}"),
            }
        };
        assert!(bad(r#"id = "demo""#, r#"id = "Demo!""#).starts_with("id:"));
        assert!(bad("1.2.3", "one").starts_with("version:"));
        assert!(bad(r#"wit = "0.1.0""#, r#"wit = "zero""#).starts_with("wit:"));
        Manifest::parse(&MANIFEST.replace(r#"wit = "0.1.0""#, r#"wit = "9.0.0""#))
            .expect("a future contract version parses: the host decides what it runs");
        assert!(bad("api.example.org", "https://api.example.org/x").starts_with("allowed_hosts:"));
        assert!(bad(r#"["bearer"]"#, r#"["magic"]"#).starts_with("auth_kinds:"));
        assert!(bad(r#"type = "object""#, "type = 7").starts_with("config_schema:"));
        assert!(bad("name = \"Demo\"", "name = \"Demo\"\nextra = 1").contains("extra"));
        assert!(bad(r#"name = "echo""#, r#"name = "Echo!""#).starts_with("actions[0].name"));
    }

    #[test]
    fn origins_are_named_http_urls_on_declared_hosts() {
        let with = |origins: &str| format!("{MANIFEST}[origins]\n{origins}\n");
        let m = Manifest::parse(&with(r#"sheets = "https://sheets.example.com/""#))
            .expect("an origin on a declared host");
        assert_eq!(m.origins["sheets"], "https://sheets.example.com/");
        let bad = |origins: &str| match Manifest::parse(&with(origins)) {
            Err(PackageError::Manifest(m)) => m,
            other => panic!("{origins}: expected a manifest error, got {other:?}"),
        };
        let m = bad(r#"sheets = "https://sheets.googleapis.com/""#);
        assert!(
            m.starts_with("origins.sheets: host sheets.googleapis.com"),
            "{m}"
        );
        assert!(bad(r#"sheets = "ftp://a.example.com/""#).starts_with("origins.sheets:"));
        assert!(bad(r#"sheets = "https://u:p@a.example.com/""#).contains("user or password"));
        assert!(bad(r#"Sheets = "https://a.example.com/""#).starts_with("origins: name"));
        // `*.example.com` is a subdomain pattern: the bare domain is not under it.
        assert!(bad(r#"xy = "https://example.com/""#).contains("not among allowed_hosts"));
    }

    const AGENT: &str = r#"type = "agent"
id = "stale-issues"
version = "0.1.0"
wit = "0.1.0"
name = "Stale issues"
description = "Writes a weekly report."
allowed_hosts = []
needs = ["records:read", "documents:manage"]
[config_schema]
type = "object"
"#;

    #[test]
    fn an_agent_manifest_parses_with_its_needs() {
        let m = Manifest::parse(AGENT).expect("agent manifest");
        assert_eq!(m.package_type, PackageType::Agent);
        assert_eq!(m.needs(), ["records:read", "documents:manage"]);
        assert!(m.auth_kinds.is_empty() && m.actions.is_empty());
        let none = Manifest::parse(
            &AGENT.replace("needs = [\"records:read\", \"documents:manage\"]\n", ""),
        )
        .expect("needs may be absent");
        assert!(none.needs().is_empty());
        // Absent type: a connector, as every manifest written before agents.
        assert_eq!(
            Manifest::parse(MANIFEST).expect("connector").package_type,
            PackageType::Connector
        );
    }

    #[test]
    fn agent_and_connector_fields_do_not_mix() {
        let bad = |text: String| match Manifest::parse(&text) {
            Err(PackageError::Manifest(m)) => m,
            other => panic!("expected a manifest error, got {other:?}"),
        };
        let needs = bad(AGENT.replace("records:read", "users:manage"));
        assert!(
            needs.starts_with("needs:") && needs.contains("users:manage"),
            "{needs}"
        );
        assert!(
            bad(AGENT.replace("\"documents:manage\"", "\"records:read\"")).starts_with("needs:")
        );
        assert!(bad(AGENT.replace(
            "allowed_hosts = []",
            "allowed_hosts = []\nauth_kinds = [\"bearer\"]"
        ))
        .starts_with("auth_kinds:"));
        assert!(bad(format!("{AGENT}[[actions]]\nname = \"echo\"\n")).starts_with("actions:"));
        assert!(bad(AGENT.replace("type = \"object\"", "type = \"array\""))
            .starts_with("config_schema:"));
        assert!(bad(AGENT.replace("type = \"agent\"", "type = \"robot\"")).contains("robot"));
        assert!(
            bad(MANIFEST.replace("auth_kinds", "needs = []\nauth_kinds")).starts_with("needs:")
        );
    }
}
