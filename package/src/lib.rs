//! What a connector's or an agent's publisher and the Agentic host share.
//!
//! A publisher writes a connector (or an agent: `type = "agent"` in `plugin.toml`) from a
//! template, signs its manifest and component into a package, and hands the package to
//! administrators; the host opens and verifies the same
//! package at install. Both sides read the format from here, so the publisher's tool
//! (`agentic-plugin`, in `sdk/cli`) builds in a minute without the host's engine, database or
//! async runtime, and `agentic plugin new|keygen|sign|verify` in the host run the same code.
//!
//! # Layout
//!
//! - [`manifest`]: `plugin.toml`, parsed and checked field by field.
//! - [`keys`]: a publisher's Ed25519 signing key and its public form `ed25519:<base64>`.
//! - [`archive`]: the `.agp` package: build (sign), open, verify.
//! - [`component`]: whether a file is a WebAssembly component of the world its manifest's
//!   `type` names (connector or agent), read with `wasmparser` before anything is signed.
//! - [`template`]: the connector crate `new` creates (the SDK's `sdk/template/`).
//! - [`commands`]: `new`, `keygen`, `sign` and `verify` as clap subcommands, shared by both
//!   command lines.
//!
//! Which contract versions a host *runs* is not decided here: that belongs to the host, which
//! refuses unsupported packages at install. A publisher may sign for a newer host.
//!
//! # Example
//!
//! A package signed, opened and verified, as `sign` and a host's `install` do:
//!
//! ```
//! use agentic_package::{Package, SigningKey};
//!
//! let manifest = r#"
//! id = "demo"
//! version = "1.0.0"
//! wit = "0.1.0"
//! name = "Demo"
//! allowed_hosts = ["api.demo.example"]
//! auth_kinds = ["bearer"]
//! "#;
//! let (key, _pkcs8_to_keep_secret) = SigningKey::generate()?;
//! let bytes = Package::build(&key, manifest, b"\0asm...the component...")?;
//! let package = Package::open(&bytes)?;
//! package.verify()?;
//! assert_eq!(package.publisher_key, key.public_key());
//! # Ok::<(), agentic_package::PackageError>(())
//! ```

pub mod archive;
pub mod commands;
pub mod component;
pub mod keys;
pub mod manifest;
pub mod template;

pub use archive::{component_hash, Package, MAX_PACKAGE_BYTES};
pub use component::{check, check_agent, check_connector, ComponentError, CONNECTOR_FUNCTIONS};
pub use keys::{PublicKey, SigningKey};
pub use manifest::{
    origin_problem, valid_host_pattern, valid_id, Manifest, ManifestAction, PackageType,
    AGENT_NEEDS, AUTH_KINDS,
};

/// What is wrong with a package, its manifest or a key. The text is for the publisher signing
/// it or the administrator installing it.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a readable package archive, or its members are wrong.
    #[error("malformed package: {0}")]
    Malformed(String),
    /// The manifest does not parse or breaks a rule; names the field.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// The signature does not verify, or a key is unreadable.
    #[error("bad signature: {0}")]
    Signature(String),
}
