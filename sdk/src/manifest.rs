//! `plugin.toml`, the single source of a connector's identity, configuration schema and actions.
//!
//! The host reads the same file at install and refuses a component whose `spec()` disagrees
//! with it (id, version, configuration schema, action names). Building the spec from the manifest
//! with [`ConnectorSpec::from_manifest`] makes that agreement automatic:
//!
//! ```
//! # use agentic_sdk::{ConnectorSpec, RecordKind, StreamSpec};
//! const MANIFEST: &str = r#"
//! id = "demo"
//! version = "1.0.0"
//! wit = "0.3.0"
//! name = "Demo"
//! description = "A demonstration."
//! allowed_hosts = ["api.demo.example"]
//! auth_kinds = ["bearer"]
//! [config_schema]
//! type = "object"
//! "#;
//! let spec = ConnectorSpec::from_manifest(MANIFEST)?
//!     .with_stream(StreamSpec::new("issues", RecordKind::WorkItem));
//! assert_eq!(spec.id, "demo");
//! # Ok::<(), agentic_sdk::Error>(())
//! ```

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;
use crate::types::{ActionSpec, AuthKind, ConnectorSpec};

/// The version of the `agentic:connector` contract this SDK's bindings implement; a manifest's
/// `wit` must name it.
pub const WIT_VERSION: &str = "0.3.0";

/// A parsed and checked `plugin.toml`. Streams are not in it: they come from code.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lower-case letters, digits and `-`, 2 to 64 characters; equals `spec().id`.
    pub id: String,
    /// Semver; equals `spec().version`.
    pub version: String,
    /// The `agentic:connector` version the component targets.
    pub wit: String,
    /// Human name.
    pub name: String,
    /// One paragraph for administrators.
    pub description: String,
    /// Host patterns the connector may call (`api.example.com`, `*.example.com`, or `*` for any
    /// host, when the connection's base URL decides).
    pub allowed_hosts: Vec<String>,
    /// The credential kinds the connector works with.
    pub auth_kinds: Vec<AuthKind>,
    /// JSON Schema of the connection configuration, written as TOML.
    pub config_schema: Value,
    /// The actions, from `[[actions]]` tables.
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
    /// Service origins besides the connection's base URL, by name (`[origins]`, e.g.
    /// `sheets = "https://sheets.googleapis.com/"`): each connection may override them, and
    /// the connector asks for the effective URL with [`crate::service_url`].
    #[serde(default)]
    pub origins: std::collections::BTreeMap<String, String>,
}

impl Manifest {
    /// Parses and checks a manifest. Errors are [`Error::Internal`]: a broken manifest is a bug
    /// in the connector, and the native tests find it before the host does.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| Error::Internal(format!("plugin.toml: {e}")))?;
        manifest
            .check()
            .map_err(|why| Error::Internal(format!("plugin.toml: {why}")))?;
        Ok(manifest)
    }

    /// The connector spec this manifest declares, without streams.
    pub fn into_spec(self) -> ConnectorSpec {
        ConnectorSpec {
            id: self.id,
            name: self.name,
            version: self.version,
            description: self.description,
            config_schema: self.config_schema,
            auth_kinds: self.auth_kinds,
            streams: Vec::new(),
            actions: self.actions,
        }
    }

    fn check(&self) -> Result<(), String> {
        if !is_valid_id(&self.id) {
            return Err(format!(
                "id {:?}: use 2 to 64 lower-case letters, digits and '-'",
                self.id
            ));
        }
        if !is_semver(&self.version) {
            return Err(format!(
                "version {:?} is not a semver version (e.g. 1.2.3)",
                self.version
            ));
        }
        if self.wit != WIT_VERSION {
            return Err(format!(
                "wit {:?}: this SDK implements agentic:connector@{WIT_VERSION}",
                self.wit
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name is empty".into());
        }
        if let Some(host) = self.allowed_hosts.iter().find(|h| !is_host_pattern(h)) {
            return Err(format!(
                "allowed_hosts: {host:?} is not a host name, `*.domain` or `*`"
            ));
        }
        for (name, url) in &self.origins {
            if !is_valid_id(name) {
                return Err(format!(
                    "origins: name {name:?}: use 2 to 64 lower-case letters, digits and '-'"
                ));
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("origins.{name}: {url:?} is not an http(s) URL"));
            }
        }
        if self.auth_kinds.is_empty() {
            return Err(
                "auth_kinds is empty (list \"anonymous\" when no credential is needed)".into(),
            );
        }
        if !self.config_schema.is_object() {
            return Err("config_schema must be a table (a JSON Schema object)".into());
        }
        let mut names = HashSet::new();
        for action in &self.actions {
            if !is_valid_id(&action.name) {
                return Err(format!(
                    "action {:?}: use lower-case letters, digits and '-'",
                    action.name
                ));
            }
            if !names.insert(action.name.as_str()) {
                return Err(format!("action {:?} is declared twice", action.name));
            }
            if !action.input_schema.is_object() || !action.output_schema.is_object() {
                return Err(format!(
                    "action {:?}: input_schema and output_schema must be tables",
                    action.name
                ));
            }
        }
        Ok(())
    }
}

impl ConnectorSpec {
    /// The spec declared by a `plugin.toml` (usually `include_str!("../plugin.toml")`), with no
    /// streams yet; add them with [`ConnectorSpec::with_stream`].
    pub fn from_manifest(text: &str) -> Result<Self, Error> {
        Manifest::parse(text).map(Manifest::into_spec)
    }
}

/// Whether `id` is 2 to 64 lower-case ASCII letters, digits and `-` (the host's rule for plugin
/// ids; also applied to action names).
pub fn is_valid_id(id: &str) -> bool {
    (2..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `version` is `MAJOR.MINOR.PATCH` with an optional `-pre-release` and `+build`, as
/// semver 2.0 writes it.
pub fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    let dotted = |text: &str| {
        text.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(dotted)
        && build.is_none_or(dotted)
}

fn is_host_pattern(pattern: &str) -> bool {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    pattern == "*"
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GOOD: &str = r#"
id = "example"
version = "0.2.0"
wit = "0.3.0"
name = "Example"
description = "One paragraph for administrators."
allowed_hosts = ["*.example.com"]
auth_kinds = ["anonymous", "bearer"]
[config_schema]
type = "object"
required = ["items"]
[config_schema.properties.items]
type = "integer"
minimum = 0
[[actions]]
name = "echo"
description = "Returns its input."
[actions.input_schema]
type = "object"
[actions.output_schema]
type = "object"
"#;

    #[test]
    fn a_manifest_becomes_the_spec_with_its_schema_as_json() {
        let spec = ConnectorSpec::from_manifest(GOOD).expect("valid manifest");
        assert_eq!(spec.id, "example");
        assert_eq!(spec.version, "0.2.0");
        assert_eq!(spec.auth_kinds, [AuthKind::Anonymous, AuthKind::Bearer]);
        assert_eq!(
            spec.config_schema,
            json!({"type": "object", "required": ["items"],
                   "properties": {"items": {"type": "integer", "minimum": 0}}})
        );
        assert_eq!(spec.actions[0].name, "echo");
        assert_eq!(spec.actions[0].input_schema, json!({"type": "object"}));
        assert!(spec.streams.is_empty());
    }

    fn refused(text: &str) -> String {
        match Manifest::parse(text) {
            Err(Error::Internal(why)) => why,
            other => panic!("expected an internal error, got {other:?}"),
        }
    }

    #[test]
    fn broken_manifests_are_refused_naming_the_field() {
        assert!(refused(&GOOD.replace("\"example\"", "\"Example!\"")).contains("id"));
        assert!(refused(&GOOD.replace("\"0.2.0\"", "\"0.2\"")).contains("version"));
        assert!(refused(&GOOD.replace("wit = \"0.3.0\"", "wit = \"9.0.0\"")).contains("wit"));
        assert!(refused(&GOOD.replace("*.example.com", "https://x/")).contains("allowed_hosts"));
        assert!(refused(&GOOD.replace("\"anonymous\", \"bearer\"", "\"magic\"")).contains("magic"));
        assert!(refused(&format!("extra = 1\n{GOOD}")).contains("extra"));
        let twice = format!(
            "{GOOD}\n[[actions]]\nname = \"echo\"\ndescription = \"again\"\n\
             [actions.input_schema]\n[actions.output_schema]\n"
        );
        assert!(refused(&twice).contains("twice"));
    }

    #[test]
    fn semver_follows_the_spec() {
        for ok in [
            "0.1.0",
            "1.2.3",
            "10.0.0-alpha.1",
            "1.0.0+build.5",
            "1.0.0-rc-1+x",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "1.2",
            "01.2.3",
            "1.2.3-",
            "1.2.3+",
            "a.b.c",
            "1.2.3.4",
            "1.2.3-a..b",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_short_lower_case_words() {
        assert!(is_valid_id("my-tracker2"));
        for bad in ["x", "My", "a_b", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }
}
