//! Plugin packages. The format — `plugin.toml`, publisher keys, the signed `.agp` archive — is
//! the `agentic-package` crate's, shared with the publisher's tool `agentic-plugin`, and is
//! re-exported here so the host names it in one place. What is the host's own is which
//! contract versions it runs — of `agentic:connector` for connectors, of `agentic:agent` for
//! agent packages: [`open`] refuses the others at install.

pub use agentic_package::{
    component_hash, valid_host_pattern, valid_id, Manifest, ManifestAction, Package, PackageError,
    PackageType, PublicKey, SigningKey, AGENT_NEEDS, AUTH_KINDS, MAX_PACKAGE_BYTES,
};

/// Connector contract versions this host runs. A package built against another one is refused
/// at install.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// Agent contract versions (`agentic:agent`) this host runs.
pub const SUPPORTED_AGENT_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// Opens package bytes ([`Package::open`]: structure and manifest; the signature is parsed,
/// not yet checked) and refuses a contract version this host does not run.
pub fn open(bytes: &[u8]) -> Result<Package, PackageError> {
    let package = Package::open(bytes)?;
    require_supported_wit(&package.manifest)?;
    Ok(package)
}

/// Whether this host runs the manifest's contract version (checked at install, not when
/// signing: a publisher may target a newer host than the one signing).
pub fn require_supported_wit(manifest: &Manifest) -> Result<(), PackageError> {
    let (supported, world) = match manifest.package_type {
        PackageType::Connector => (SUPPORTED_WIT_VERSIONS, ""),
        PackageType::Agent => (SUPPORTED_AGENT_WIT_VERSIONS, "agent "),
    };
    if supported.contains(&manifest.wit.as_str()) {
        return Ok(());
    }
    Err(PackageError::Manifest(format!(
        "wit: {world}contract version {} is not supported by this host (supported: {})",
        manifest.wit,
        supported.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_for_a_contract_version_this_host_does_not_run_is_refused() {
        let manifest = |wit: &str| {
            format!(
                "id = \"demo\"\nversion = \"1.0.0\"\nwit = \"{wit}\"\nname = \"Demo\"\n\
                 allowed_hosts = [\"*\"]\nauth_kinds = [\"bearer\"]\n"
            )
        };
        let (key, _) = SigningKey::generate().expect("key");
        for wit in SUPPORTED_WIT_VERSIONS {
            let bytes = Package::build(&key, &manifest(wit), b"component").expect("build");
            open(&bytes).expect("a supported version opens");
        }
        let bytes = Package::build(&key, &manifest("9.0.0"), b"component").expect("build");
        match open(&bytes) {
            Err(PackageError::Manifest(m)) => assert!(
                m.starts_with("wit: contract version 9.0.0 is not supported"),
                "{m}"
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let agent = |wit: &str| {
            format!(
                "type = \"agent\"\nid = \"demo\"\nversion = \"1.0.0\"\nwit = \"{wit}\"\n\
                 name = \"Demo\"\nallowed_hosts = []\n"
            )
        };
        for wit in SUPPORTED_AGENT_WIT_VERSIONS {
            let bytes = Package::build(&key, &agent(wit), b"component").expect("build");
            open(&bytes).expect("a supported agent contract opens");
        }
        let bytes = Package::build(&key, &agent("0.3.0"), b"component").expect("build");
        match open(&bytes) {
            Err(PackageError::Manifest(m)) => assert!(
                m.starts_with("wit: agent contract version 0.3.0 is not supported"),
                "{m}"
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
