//! Plugin packages: a `plugin.toml` manifest, a component and an ed25519 signature over both.
//!
//! A package file (`.agp`) is an uncompressed tar archive with exactly three members:
//! `plugin.toml`, `plugin.wasm` and `plugin.sig`. The signature file is JSON,
//! `{"publisher_key": "ed25519:<base64>", "signature": "<base64>"}`, and signs
//! `agentic-plugin-v1\0 ‖ SHA-256(manifest) ‖ SHA-256(component)`, so neither part can be
//! swapped without the publisher's key. Everything here is pure (no database, no engine):
//! [`Package::open`] parses and verifies structure, [`Package::verify`] the signature against
//! a trusted key, [`Manifest::validate`] the manifest's content.

use std::collections::HashSet;
use std::io::Read;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Contract versions this host runs. A package built against another one is refused at install.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// Largest package accepted, in bytes.
pub const MAX_PACKAGE_BYTES: usize = 64 << 20;
const MAX_MANIFEST_BYTES: u64 = 256 << 10;
const MAX_SIGNATURE_BYTES: u64 = 4 << 10;

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

/// What is wrong with a package. The text is for the administrator installing it.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a readable package archive, or its members are wrong.
    #[error("malformed package: {0}")]
    Malformed(String),
    /// The manifest does not parse or breaks a rule; names the field.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    Signature(String),
}

/// An action as declared in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
pub(crate) fn valid_host_pattern(p: &str) -> bool {
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

    /// Whether this host runs the manifest's contract version (checked at install, not when
    /// signing: a publisher may target a newer host than the one signing).
    pub fn require_supported_wit(&self) -> Result<(), PackageError> {
        if SUPPORTED_WIT_VERSIONS.contains(&self.wit.as_str()) {
            return Ok(());
        }
        Err(manifest_error(
            "wit",
            format!(
                "contract version {} is not supported by this host (supported: {})",
                self.wit,
                SUPPORTED_WIT_VERSIONS.join(", ")
            ),
        ))
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

/// The signature member of a package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    publisher_key: String,
    signature: String,
}

/// A publisher's public key, `ed25519:<base64 of 32 bytes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses the `ed25519:<base64>` form.
    pub fn parse(s: &str) -> Result<Self, PackageError> {
        let bad = || {
            PackageError::Signature(
                "a publisher key looks like ed25519:<base64 of 32 bytes>".into(),
            )
        };
        let b64 = s.trim().strip_prefix("ed25519:").ok_or_else(bad)?;
        let bytes = B64.decode(b64).map_err(|_| bad())?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519:{}", B64.encode(self.0))
    }
}

/// A publisher's signing key (PKCS#8), as `agentic plugin keygen` writes it.
#[derive(Debug)]
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// A new random key and its PKCS#8 encoding (base64), to be stored by the publisher.
    pub fn generate() -> Result<(Self, String), PackageError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| PackageError::Signature("could not generate a key".into()))?;
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, B64.encode(pkcs8.as_ref())))
    }

    /// Reads the base64 PKCS#8 text of a key file.
    pub fn from_file_text(text: &str) -> Result<Self, PackageError> {
        let der = B64
            .decode(text.trim())
            .map_err(|_| PackageError::Signature("the key file is not base64 PKCS#8".into()))?;
        Self::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, PackageError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(Self)
            .map_err(|_| PackageError::Signature("not an Ed25519 PKCS#8 key".into()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(bytes)
    }
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
    /// Signs a manifest and component into package bytes.
    pub fn build(
        key: &SigningKey,
        manifest_text: &str,
        component: &[u8],
    ) -> Result<Vec<u8>, PackageError> {
        Manifest::parse(manifest_text)?;
        let signature = key
            .0
            .sign(&signed_message(manifest_text.as_bytes(), component));
        let sig = serde_json::to_vec(&SignatureFile {
            publisher_key: key.public_key().to_string(),
            signature: B64.encode(signature.as_ref()),
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
    /// manifest. The signature is parsed but not yet checked (see [`Package::verify`]).
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
        manifest.require_supported_wit()?;
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
        UnparsedPublicKey::new(&ED25519, self.publisher_key.0)
            .verify(
                &signed_message(self.manifest_text.as_bytes(), &self.component),
                &self.signature,
            )
            .map_err(|_| {
                PackageError::Signature(
                    "the signature does not match the manifest and component".into(),
                )
            })
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
    fn a_signed_package_round_trips_and_verifies() {
        let (key, pkcs8) = SigningKey::generate().expect("key");
        let bytes = Package::build(&key, MANIFEST, b"\0asm fake").expect("build");
        let package = Package::open(&bytes).expect("open");
        assert_eq!(package.manifest.id, "demo");
        assert_eq!(package.publisher_key, key.public_key());
        package.verify().expect("verifies");
        let again = SigningKey::from_file_text(&pkcs8).expect("reload");
        assert_eq!(again.public_key(), key.public_key());
        let text = key.public_key().to_string();
        assert_eq!(PublicKey::parse(&text).expect("parse"), key.public_key());
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
        let future = Manifest::parse(&MANIFEST.replace(r#"wit = "0.1.0""#, r#"wit = "9.0.0""#))
            .expect("a future contract version parses");
        assert!(future.require_supported_wit().is_err());
        assert!(bad("api.example.org", "https://api.example.org/x").starts_with("allowed_hosts:"));
        assert!(bad(r#"["bearer"]"#, r#"["magic"]"#).starts_with("auth_kinds:"));
        assert!(bad(r#"type = "object""#, "type = 7").starts_with("config_schema:"));
        assert!(bad("name = \"Demo\"", "name = \"Demo\"\nextra = 1").contains("extra"));
        assert!(bad(r#"name = "echo""#, r#"name = "Echo!""#).starts_with("actions[0].name"));
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
