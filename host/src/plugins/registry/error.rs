//! What the registry refuses, and why.

use crate::plugins::package::{PackageError, PackageType};
use crate::plugins::runtime::PluginError;
use crate::store::StoreError;

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The package is malformed, its manifest invalid or its signature bad.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Signed with a key no administrator trusts.
    #[error("the package is signed by an unknown publisher key {0}; an administrator must trust it first")]
    UnknownPublisher(String),
    /// The `.wasm` is not a component of the world its manifest's type names.
    #[error("plugin.wasm is not {} component: {}", article(*.0), .1)]
    NotAComponent(PackageType, String),
    /// A connector was needed (a connection, a plugin call) and the plugin is an agent
    /// package, or the other way round.
    #[error("plugin {id} is {} package, not {}", article(*.is), article(*.wanted))]
    WrongType {
        /// Plugin id.
        id: String,
        /// What it is.
        is: PackageType,
        /// What was needed.
        wanted: PackageType,
    },
    /// The component's `spec()` disagrees with its manifest.
    #[error("the component does not match its manifest: {0}")]
    Mismatch(String),
    /// `install` of a plugin that is installed already.
    #[error("plugin {id} is already installed (active version {active}); use upgrade")]
    AlreadyInstalled {
        /// Plugin id.
        id: String,
        /// Its active version.
        active: String,
    },
    /// `upgrade` to a version that is not newer than the active one, without `force`.
    #[error(
        "plugin {id}: version {offered} is not newer than the active version {active}; \
         roll back to return to the previous version, or force the upgrade to install an \
         older one"
    )]
    NotNewer {
        /// Plugin id.
        id: String,
        /// Its active version.
        active: String,
        /// The package's version.
        offered: String,
    },
    /// No such plugin, version or publisher.
    #[error("{0} not found")]
    NotFound(String),
    /// The operation conflicts with the registry's state.
    #[error("{0}")]
    Conflict(String),
    /// The plugin engine failed (start-up or a plugin call).
    #[error(transparent)]
    Runtime(#[from] PluginError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => RegistryError::Conflict(m),
            StoreError::Duplicate { constraint } => RegistryError::Conflict(constraint),
            other => RegistryError::Store(other),
        }
    }
}

fn article(t: PackageType) -> &'static str {
    match t {
        PackageType::Connector => "a connector",
        PackageType::Agent => "an agent",
    }
}
