//! Whether a file is what its manifest says: a WebAssembly component of the `agentic:connector`
//! world (a connector) or of the `agentic:agent` world (`type = "agent"`), of the contract
//! version the manifest names. Checked before signing, so a publisher learns in one line what
//! an administrator would otherwise learn at install (or a host at run time).
//!
//! Only the component's outer imports and exports are read (with `wasmparser`, no engine): the
//! connector world exports the functions in [`CONNECTOR_FUNCTIONS`] and imports the
//! `agentic:connector/…@<version>` interfaces whose version is the contract's; the agent world
//! exports `run` and imports `agentic:agent/…@<version>`. [`check`] picks by the manifest's
//! `type` and names the other world when a package holds the wrong one. The host still
//! compiles the component at install (and, for a connector, compares its `spec()` with the
//! manifest).

use std::collections::BTreeSet;

use wasmparser::{Encoding, Parser, Payload};

use crate::manifest::PackageType;
use crate::Manifest;

/// The functions every version of the connector world exports.
pub const CONNECTOR_FUNCTIONS: &[&str] = &["spec", "check", "discover", "read", "invoke"];

/// The WIT package of the contract, as it prefixes interface names (`agentic:connector/host@0.1.0`).
const CONTRACT: &str = "agentic:connector/";

/// The function the agent world exports.
pub const AGENT_FUNCTION: &str = "run";

/// The WIT package of the agent contract (`agentic:agent/platform@0.1.0`).
const AGENT_CONTRACT: &str = "agentic:agent/";

/// Why a file is not a connector component. Each is one line for the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (it does not start with \\0asm)")]
    NotWasm,
    /// A core module (`wasm32-unknown-unknown`, `wasm32-wasip1`), not a component.
    #[error("a core WebAssembly module, not a component: build it with `--target wasm32-wasip2`")]
    CoreModule,
    /// The bytes do not parse as a component.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// A component of some other world.
    #[error("a component of another world, not a connector: it does not export {}{}", .missing.join(", "), exports_note(.exports))]
    NotAConnector {
        /// Connector functions it lacks.
        missing: Vec<String>,
        /// What it does export.
        exports: Vec<String>,
    },
    /// A component of the other world than the manifest's `type` says.
    #[error(
        "{} component, but plugin.toml says type = \"{declared}\"{}",
        article(*.found),
        type_hint(*.declared)
    )]
    WrongType {
        /// What the component is.
        found: PackageType,
        /// What the manifest says.
        declared: PackageType,
    },
    /// An agent component that does not export `run` or imports no `agentic:agent` interface.
    #[error("a component of another world, not an agent: it does not {what}{}", exports_note(.exports))]
    NotAnAgent {
        /// What it lacks.
        what: String,
        /// What it does export.
        exports: Vec<String>,
    },
    /// An agent of another contract version than the manifest's `wit`.
    #[error(
        "an agent of contract version {}, but plugin.toml names wit = \"{wanted}\"",
        .found.join(" and ")
    )]
    WrongAgentVersion {
        /// The versions of the `agentic:agent` interfaces it uses.
        found: Vec<String>,
        /// The manifest's `wit`.
        wanted: String,
    },
    /// A connector of another contract version than the manifest's `wit`.
    #[error(
        "a connector of contract version {}, but plugin.toml names wit = \"{wanted}\"",
        .found.join(" and ")
    )]
    WrongVersion {
        /// The versions of the `agentic:connector` interfaces it uses.
        found: Vec<String>,
        /// The manifest's `wit`.
        wanted: String,
    },
}

fn article(found: PackageType) -> &'static str {
    match found {
        PackageType::Connector => "a connector",
        PackageType::Agent => "an agent",
    }
}

fn type_hint(declared: PackageType) -> &'static str {
    match declared {
        PackageType::Connector => " (or no type); an agent's manifest says type = \"agent\"",
        PackageType::Agent => "; a connector's manifest leaves type out",
    }
}

fn exports_note(exports: &[String]) -> String {
    if exports.is_empty() {
        " (it exports nothing)".to_owned()
    } else {
        format!(" (it exports {})", exports.join(", "))
    }
}

/// The outer imports and exports of a component.
#[derive(Debug, Default)]
struct Surface {
    imports: Vec<String>,
    exports: Vec<String>,
}

fn surface(bytes: &[u8]) -> Result<Surface, ComponentError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ComponentError::NotWasm);
    }
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid(e.to_string());
    let mut surface = Surface::default();
    // Nested modules and components have imports and exports of their own: only depth 0 counts.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => return Err(ComponentError::CoreModule),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    surface
                        .imports
                        .push(import.map_err(invalid)?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    surface
                        .exports
                        .push(export.map_err(invalid)?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(surface)
}

/// Checks that `component` is what `manifest` says it is (its `type`) of the contract version
/// `manifest.wit` names.
pub fn check(manifest: &Manifest, component: &[u8]) -> Result<(), ComponentError> {
    match manifest.package_type {
        PackageType::Connector => check_connector(manifest, component),
        PackageType::Agent => check_agent(manifest, component),
    }
}

/// The versions of the interfaces of the contract `prefix` the component imports or exports.
fn versions<'a>(surface: &'a Surface, prefix: &str) -> BTreeSet<&'a str> {
    surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter_map(|name| name.strip_prefix(prefix))
        .filter_map(|rest| rest.split_once('@').map(|(_, version)| version))
        .collect()
}

/// Whether the component looks like an agent: exports `run`, uses `agentic:agent`.
fn looks_like_agent(surface: &Surface) -> bool {
    surface.exports.iter().any(|e| e == AGENT_FUNCTION)
        && !versions(surface, AGENT_CONTRACT).is_empty()
}

/// Whether the component looks like a connector: uses `agentic:connector` or exports `spec`.
fn looks_like_connector(surface: &Surface) -> bool {
    !versions(surface, CONTRACT).is_empty() || surface.exports.iter().any(|e| e == "spec")
}

/// Checks that `component` is an agent of the contract version `manifest.wit` names.
pub fn check_agent(manifest: &Manifest, component: &[u8]) -> Result<(), ComponentError> {
    let surface = surface(component)?;
    if looks_like_connector(&surface) && !looks_like_agent(&surface) {
        return Err(ComponentError::WrongType {
            found: PackageType::Connector,
            declared: PackageType::Agent,
        });
    }
    let versions = versions(&surface, AGENT_CONTRACT);
    if !surface.exports.iter().any(|e| e == AGENT_FUNCTION) {
        return Err(ComponentError::NotAnAgent {
            what: format!("export {AGENT_FUNCTION}"),
            exports: surface.exports,
        });
    }
    if versions.is_empty() {
        return Err(ComponentError::NotAnAgent {
            what: format!("import any {AGENT_CONTRACT}… interface"),
            exports: surface.exports,
        });
    }
    if !versions.contains(manifest.wit.as_str()) {
        return Err(ComponentError::WrongAgentVersion {
            found: versions.into_iter().map(str::to_owned).collect(),
            wanted: manifest.wit.clone(),
        });
    }
    Ok(())
}

/// Checks that `component` is a connector of the contract version `manifest.wit` names.
pub fn check_connector(manifest: &Manifest, component: &[u8]) -> Result<(), ComponentError> {
    let surface = surface(component)?;
    if looks_like_agent(&surface) {
        return Err(ComponentError::WrongType {
            found: PackageType::Agent,
            declared: PackageType::Connector,
        });
    }
    let versions: BTreeSet<&str> = surface
        .imports
        .iter()
        .chain(&surface.exports)
        .filter_map(|name| name.strip_prefix(CONTRACT))
        .filter_map(|rest| rest.split_once('@').map(|(_, version)| version))
        .collect();
    // A world that exports its functions through an interface of the contract also counts.
    let through_interface = surface
        .exports
        .iter()
        .any(|e| e.starts_with(CONTRACT) && e.contains("/connector@"));
    let missing: Vec<String> = CONNECTOR_FUNCTIONS
        .iter()
        .filter(|f| !surface.exports.iter().any(|e| e == *f))
        .map(|f| (*f).to_owned())
        .collect();
    if (!missing.is_empty() && !through_interface) || versions.is_empty() {
        return Err(ComponentError::NotAConnector {
            missing: if missing.is_empty() {
                vec![format!("or import any {CONTRACT}… interface")]
            } else {
                missing
            },
            exports: surface.exports,
        });
    }
    if !versions.contains(manifest.wit.as_str()) {
        return Err(ComponentError::WrongVersion {
            found: versions.into_iter().map(str::to_owned).collect(),
            wanted: manifest.wit.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            "id = \"demo\"\nversion = \"1.0.0\"\nwit = \"0.1.0\"\nname = \"Demo\"\n\
             allowed_hosts = [\"*\"]\nauth_kinds = [\"bearer\"]\n",
        )
        .expect("manifest")
    }

    #[test]
    fn what_is_not_a_component_is_named() {
        let m = manifest();
        assert_eq!(
            check_connector(&m, b"PK\x03\x04 a zip file"),
            Err(ComponentError::NotWasm)
        );
        // The smallest core module: magic and version 1.
        assert_eq!(
            check_connector(&m, b"\0asm\x01\0\0\0"),
            Err(ComponentError::CoreModule)
        );
        // The smallest component: magic, version 0xd, layer 1. It exports nothing.
        let empty = check_connector(&m, b"\0asm\x0d\0\x01\0").expect_err("empty component");
        assert_eq!(
            empty.to_string(),
            "a component of another world, not a connector: it does not export spec, check, \
             discover, read, invoke (it exports nothing)"
        );
        assert!(matches!(
            check_connector(&m, b"\0asm\x0d\0\x01\0\x0b\xff"),
            Err(ComponentError::Invalid(_))
        ));
    }
}
