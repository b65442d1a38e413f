//! Plugin packages: a `plugin.toml` manifest, a component and an Ed25519 signature over both.
//!
//! A package file (`.agp`) is an uncompressed tar archive with exactly three members:
//! `plugin.toml`, `plugin.wasm` and `plugin.sig`. The signature file is JSON,
//! `{"publisher_key": "ed25519:<base64>", "signature": "<base64>"}`, and signs
//! `agentic-plugin-v1\0 ‖ SHA-256(manifest) ‖ SHA-256(component)`, so neither part can be
//! swapped without the publisher's key. Everything here is pure (no database, no engine):
//! [`Package::open`] parses and checks structure, [`Package::verify`] the signature against
//! the key the package names (which the host then looks up among trusted publishers).

use std::io::Read;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Manifest, PackageError, PublicKey, SigningKey};

/// Largest package accepted, in bytes.
pub const MAX_PACKAGE_BYTES: usize = 64 << 20;
const MAX_MANIFEST_BYTES: u64 = 256 << 10;
const MAX_SIGNATURE_BYTES: u64 = 4 << 10;

/// The signature member of a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    publisher_key: String,
    signature: String,
}

fn signed_message(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    let mut message = b"agentic-plugin-v1\0".to_vec();
    message.extend_from_slice(&Sha256::digest(manifest));
    message.extend_from_slice(&Sha256::digest(component));
    message
}

/// Hex SHA-256 of the component: its identity in the registry and the compile cache.
pub fn component_hash(component: &[u8]) -> String {
    Sha256::digest(component)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An opened package: its parts, not yet trusted.
#[derive(Debug, Clone)]
pub struct Package {
    /// The parsed, validated manifest.
    pub manifest: Manifest,
    /// The manifest as written (kept verbatim: the signature covers these bytes).
    pub manifest_text: String,
    /// The component bytes.
    pub component: Vec<u8>,
    /// The key the package claims to be signed with.
    pub publisher_key: PublicKey,
    signature: Vec<u8>,
}

impl Package {
    /// Signs a manifest and component into package bytes. The manifest is validated; the
    /// component is not looked at (see [`crate::check_connector`], which the `sign` command
    /// runs first), so tests can package anything.
    pub fn build(
        key: &SigningKey,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<Vec<u8>, PackageError> {
        Manifest::parse(manifest_text)?;
        let signature = key.sign(&signed_message(manifest_text.as_bytes(), component));
        let sig = serde_json::to_vec(&SignatureFile {
            publisher_key: key.public_key().to_string(),
            signature: B64.encode(signature),
        })
        .map_err(|e| PackageError::Malformed(e.to_string()))?;
        let mut archive = tar::Builder::new(Vec::new());
        for (name, bytes) in [
            ("plugin.toml", manifest_text.as_bytes()),
            ("plugin.wasm", component),
            ("plugin.sig", &sig),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            archive
                .append_data(&mut header, name, bytes)
                .map_err(|e| PackageError::Malformed(e.to_string()))?;
        }
        archive
            .into_inner()
            .map_err(|e| PackageError::Malformed(e.to_string()))
    }

    /// Reads package bytes: exactly the three members, each within its size cap, and a valid
    /// manifest. The signature is parsed but not yet checked (see [`Package::verify`]), and
    /// whether a host runs the manifest's contract version is for the host to say.
    pub fn open(bytes: &[u8]) -> Result<Self, PackageError> {
        if bytes.len() > MAX_PACKAGE_BYTES {
            return Err(PackageError::Malformed(format!(
                "larger than {} MiB",
                MAX_PACKAGE_BYTES >> 20
            )));
        }
        let malformed =
            |e: std::io::Error| PackageError::Malformed(format!("not a package archive: {e}"));
        let mut archive = tar::Archive::new(bytes);
        let (mut manifest, mut component, mut sig) = (None, None, None);
        for entry in archive.entries().map_err(malformed)? {
            let mut entry = entry.map_err(malformed)?;
            if !entry.header().entry_type().is_file() {
                return Err(PackageError::Malformed(
                    "only plain files may be in a package".into(),
                ));
            }
            let path = entry
                .path()
                .map_err(malformed)?
                .to_string_lossy()
                .into_owned();
            let (slot, cap) = match path.as_str() {
                "plugin.toml" => (&mut manifest, MAX_MANIFEST_BYTES),
                "plugin.wasm" => (&mut component, MAX_PACKAGE_BYTES as u64),
                "plugin.sig" => (&mut sig, MAX_SIGNATURE_BYTES),
                other => {
                    return Err(PackageError::Malformed(format!(
                        "unexpected member {other:?} (a package holds plugin.toml, plugin.wasm and plugin.sig)"
                    )))
                }
            };
            if slot.is_some() {
                return Err(PackageError::Malformed(format!("{path} appears twice")));
            }
            if entry.size() > cap {
                return Err(PackageError::Malformed(format!("{path} is too large")));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data).map_err(malformed)?;
            *slot = Some(data);
        }
        let missing = |name: &str| PackageError::Malformed(format!("{name} is missing"));
        let manifest_bytes = manifest.ok_or_else(|| missing("plugin.toml"))?;
        let component = component.ok_or_else(|| missing("plugin.wasm"))?;
        let sig = sig.ok_or_else(|| missing("plugin.sig"))?;
        let manifest_text = String::from_utf8(manifest_bytes)
            .map_err(|_| PackageError::Manifest("plugin.toml is not UTF-8".into()))?;
        let manifest = Manifest::parse(&manifest_text)?;
        let sig: SignatureFile = serde_json::from_slice(&sig)
            .map_err(|e| PackageError::Signature(format!("plugin.sig: {e}")))?;
        let publisher_key = PublicKey::parse(&sig.publisher_key)?;
        let signature = B64
            .decode(&sig.signature)
            .map_err(|_| PackageError::Signature("plugin.sig: signature is not base64".into()))?;
        Ok(Self {
            manifest,
            manifest_text,
            component,
            publisher_key,
            signature,
        })
    }

    /// Checks the signature against the key the package names (which the caller has found
    /// among the trusted publishers).
    pub fn verify(&self) -> Result<(), PackageError> {
        let message = signed_message(self.manifest_text.as_bytes(), &self.component);
        if self.publisher_key.verifies(&message, &self.signature) {
            return Ok(());
        }
        Err(PackageError::Signature(
            "the signature does not match the manifest and component".into(),
        ))
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
allowed_hosts = ["*"]
auth_kinds = ["bearer"]
"#;

    #[test]
    fn a_signed_package_round_trips_and_verifies() {
        let (key, _) = SigningKey::generate().expect("key");
        let bytes = Package::build(&key, MANIFEST, b"\0asm fake").expect("build");
        let package = Package::open(&bytes).expect("open");
        assert_eq!(package.manifest.id, "demo");
        assert_eq!(package.manifest_text, MANIFEST);
        assert_eq!(package.component, b"\0asm fake");
        assert_eq!(package.publisher_key, key.public_key());
        package.verify().expect("verifies");
    }

    #[test]
    fn a_package_for_a_contract_version_no_host_runs_yet_still_opens() {
        let (key, _) = SigningKey::generate().expect("key");
        let future = MANIFEST.replace(r#"wit = "0.1.0""#, r#"wit = "9.0.0""#);
        let bytes = Package::build(&key, &future, b"x").expect("build");
        assert_eq!(Package::open(&bytes).expect("open").manifest.wit, "9.0.0");
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let (key, _) = SigningKey::generate().expect("key");
        let bytes = Package::build(&key, MANIFEST, b"component").expect("build");
        let mut package = Package::open(&bytes).expect("open");
        package.component.push(0);
        assert!(matches!(package.verify(), Err(PackageError::Signature(_))));
        let mut package = Package::open(&bytes).expect("open");
        package.manifest_text.push(' ');
        assert!(package.verify().is_err());
        let (other, _) = SigningKey::generate().expect("key");
        let mut package = Package::open(&bytes).expect("open");
        package.publisher_key = other.public_key();
        assert!(package.verify().is_err());
    }

    #[test]
    fn archives_with_wrong_members_are_refused() {
        let mut archive = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        archive
            .append_data(&mut header, "evil.txt", &b"x"[..])
            .expect("append");
        let bytes = archive.into_inner().expect("tar");
        assert!(matches!(
            Package::open(&bytes),
            Err(PackageError::Malformed(_))
        ));
        assert!(matches!(
            Package::open(b"not a tar at all, just text"),
            Err(PackageError::Malformed(_))
        ));
    }
}
