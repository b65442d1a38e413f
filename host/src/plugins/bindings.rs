//! The Rust bindings of every version of the `agentic:connector` world the host serves, generated
//! once for the whole host (the runtime, the sandbox and the page lift use them): async exports,
//! the WASI 0.2 interfaces taken from wasmtime-wasi and wasmtime-wasi-http, and store data that
//! is `Send`, since a call's store moves to the plugin threads.
//!
//! Each released version is generated from its frozen copy (`wit/frozen/<version>/`), the
//! current one from `wit/`. Minor versions only add functions to the `host` interface, so the
//! older worlds take their `types` from the newest one (`with`): the rest of the host knows one
//! set of types (wasmtime checks them against each component by structure and names). A loaded
//! component is one of the [`ConnectorPre`] cases, picked from the contract it imports
//! ([`WitVersion::imported_by`]); its exports are called through [`Connector`], whatever the
//! version, and its `host` imports all reach the same code (`super::sandbox`).

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

/// `agentic:connector@0.2.0` (`wit/`): adds `host.base-url` and `host.egress-refusal`.
pub(super) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "agentic:connector/connector@0.2.0",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

/// `agentic:connector@0.1.0`, frozen (`wit/frozen/0.1.0`), with the types of 0.2.0.
pub(super) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/frozen/0.1.0",
        world: "agentic:connector/connector@0.1.0",
        exports: { default: async },
        with: {
            "agentic:connector/types": super::v0_2::agentic::connector::types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

pub(super) use v0_2::agentic::connector::{host, types};

use types::{ConnectorSpec, Error as ConnectorError, StreamSpec};

/// A version of the contract the host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WitVersion {
    /// `agentic:connector@0.1.0`, the first release (frozen).
    V0_1,
    /// `agentic:connector@0.2.0`: the connection's base URL and egress refusal reasons.
    V0_2,
}

impl WitVersion {
    /// Every version served, oldest first.
    pub const ALL: [WitVersion; 2] = [WitVersion::V0_1, WitVersion::V0_2];

    /// The current contract (`wit/`), which the SDK targets.
    pub const NEWEST: WitVersion = WitVersion::V0_2;

    /// The semver version, as in `plugin.toml`'s `wit` field.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1 => "0.1.0",
            WitVersion::V0_2 => "0.2.0",
        }
    }

    /// The served version named `version`, if it is one.
    pub fn parse(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == version)
    }

    /// The contract version a component was built against, read from the interfaces of ours it
    /// imports (`agentic:connector/host@0.1.0`, …): `Ok(None)` when it imports none (its
    /// exports are the same in every version, so any version can run it); an error names a
    /// version the host does not serve, or a component that mixes versions.
    pub fn imported_by(engine: &Engine, component: &Component) -> Result<Option<Self>, String> {
        let mut found: Option<(Self, String)> = None;
        for (name, _) in component.component_type().imports(engine) {
            let Some(versioned) = name.strip_prefix("agentic:connector/") else {
                continue;
            };
            let version = versioned.split_once('@').map_or("", |(_, v)| v);
            let Some(served) = Self::parse(version) else {
                return Err(format!(
                    "it imports {name}: this host serves agentic:connector {}",
                    Self::ALL.map(Self::as_str).join(" and ")
                ));
            };
            match &found {
                Some((seen, first)) if *seen != served => {
                    return Err(format!(
                        "it imports both {first} and {name}: one contract version per component"
                    ))
                }
                Some(_) => {}
                None => found = Some((served, name.to_owned())),
            }
        }
        Ok(found.map(|(version, _)| version))
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component pre-linked for its contract version.
pub(super) enum ConnectorPre<T: 'static> {
    V0_1(v0_1::ConnectorPre<T>),
    V0_2(v0_2::ConnectorPre<T>),
}

// Not derived: that would ask for `T: Clone`, and the pre-linked component is shared whatever
// the store data.
impl<T: 'static> Clone for ConnectorPre<T> {
    fn clone(&self) -> Self {
        match self {
            Self::V0_1(pre) => Self::V0_1(pre.clone()),
            Self::V0_2(pre) => Self::V0_2(pre.clone()),
        }
    }
}

/// An instance's exports, whatever its contract version.
pub(super) enum Connector {
    V0_1(v0_1::Connector),
    V0_2(v0_2::Connector),
}

impl<T: Send + 'static> ConnectorPre<T> {
    /// Checks that `pre`'s exports are those of `version`'s world.
    pub(super) fn new(version: WitVersion, pre: InstancePre<T>) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V0_1 => Self::V0_1(v0_1::ConnectorPre::new(pre)?),
            WitVersion::V0_2 => Self::V0_2(v0_2::ConnectorPre::new(pre)?),
        })
    }

    /// The version it was linked for.
    pub(super) fn version(&self) -> WitVersion {
        match self {
            Self::V0_1(_) => WitVersion::V0_1,
            Self::V0_2(_) => WitVersion::V0_2,
        }
    }

    pub(super) fn instance_pre(&self) -> &InstancePre<T> {
        match self {
            Self::V0_1(pre) => pre.instance_pre(),
            Self::V0_2(pre) => pre.instance_pre(),
        }
    }

    pub(super) async fn instantiate_async(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Connector> {
        Ok(match self {
            Self::V0_1(pre) => Connector::V0_1(pre.instantiate_async(store).await?),
            Self::V0_2(pre) => Connector::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// The same call on whichever version's bindings: they take and return the same types.
macro_rules! each_version {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            Connector::V0_1($c) => $call,
            Connector::V0_2($c) => $call,
        }
    };
}

// The generated bindings take `&String`; so do these, rather than copy every argument.
#[allow(clippy::ptr_arg)]
impl Connector {
    pub(super) async fn call_spec<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<ConnectorSpec> {
        each_version!(self, c => c.call_spec(store).await)
    }

    pub(super) async fn call_check<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
    ) -> wasmtime::Result<Result<String, ConnectorError>> {
        each_version!(self, c => c.call_check(store, config).await)
    }

    pub(super) async fn call_discover<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
    ) -> wasmtime::Result<Result<Vec<StreamSpec>, ConnectorError>> {
        each_version!(self, c => c.call_discover(store, config).await)
    }

    pub(super) async fn call_invoke<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
        action: &String,
        input: &String,
    ) -> wasmtime::Result<Result<String, ConnectorError>> {
        each_version!(self, c => c.call_invoke(store, config, action, input).await)
    }
}

#[cfg(test)]
mod tests {
    use super::WitVersion;

    #[test]
    fn the_package_check_admits_exactly_the_versions_served() {
        assert_eq!(
            super::super::package::SUPPORTED_WIT_VERSIONS,
            WitVersion::ALL.map(WitVersion::as_str)
        );
        assert_eq!(WitVersion::parse("0.2.0"), Some(WitVersion::NEWEST));
        assert_eq!(WitVersion::parse("0.3.0"), None);
    }
}
