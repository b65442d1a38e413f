//! `plugin.toml`: what an administrator sees and the host enforces before running any code.
//! Unknown keys are refused and every field is checked, so a mistake is found when the
//! publisher signs, not when an administrator installs.

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

/// `plugin.toml`: what an administrator sees and the host enforces before running any code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Identifier (`jira`): lower-case letters, digits and `-`, 2 to 64 characters.
    pub id: String,
    /// The plugin's semver version.
    pub version: String,
    /// The `agentic:connector` contract version the component targets.
    pub wit: String,
    /// Human name.
    pub name: String,
    /// One paragraph for administrators.
    #[serde(default)]
    pub description: String,
    /// Host patterns the plugin may call: `api.example.com`, `*.example.com`, or `*` (any
    /// host; the connection's base URL then decides).
    pub allowed_hosts: Vec<String>,
    /// Credential kinds the plugin works with.
    pub auth_kinds: Vec<String>,
    /// JSON Schema of a connection's configuration.
    #[serde(default = "any_object")]
    pub config_schema: serde_json::Value,
    /// Actions the plugin offers.
    #[serde(default)]
    pub actions: Vec<ManifestAction>,
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
        if self.auth_kinds.is_empty() {
            return Err(manifest_error("auth_kinds", "name at least one"));
        }
        for kind in &self.auth_kinds {
            if !AUTH_KINDS.contains(&kind.as_str()) {
                return Err(manifest_error(
                    "auth_kinds",
                    format!("unknown kind {kind:?} (known: {})", AUTH_KINDS.join(", ")),
                ));
            }
        }
        check_schema("config_schema", &self.config_schema)?;
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
            check_schema(&format!("actions[{i}].input_schema"), &action.input_schema)?;
            check_schema(
                &format!("actions[{i}].output_schema"),
                &action.output_schema,
            )?;
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
}
