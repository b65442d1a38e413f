//! The Rust bindings of every version of the `agentic:connector` world the host serves, generated
//! once for the whole host (the runtime, the sandbox and the page lift use them): async exports,
//! the WASI 0.2 interfaces taken from wasmtime-wasi and wasmtime-wasi-http, and store data that
//! is `Send`, since a call's store moves to the plugin threads.
//!
//! Each released version is generated from its frozen copy (`wit/frozen/<version>/`), the
//! current one from `wit/`. The rest of the host speaks the current version's types. 0.2.0 only
//! added functions to the `host` interface, so 0.1.0 takes its `types` from 0.2.0 (`with`);
//! 0.3.0 added a case to `record-data` (deletions), which changes `page`, so 0.2.0 keeps its own
//! generated types and this module converts at the boundary: what an older connector returns
//! (`spec`, `discover`, errors) becomes the current types, and its `host` calls reach the same
//! code (`super::sandbox`). Pages are lifted apart from these bindings, in the shape of the
//! component's own version (`super::lift`). A loaded component is one of the [`ConnectorPre`]
//! cases, picked from the contract it imports ([`WitVersion::imported_by`]); its exports are
//! called through [`Connector`], whatever the version.

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

/// `agentic:connector@0.3.0` (`wit/`): adds deletions in a page and `host.service-url`.
pub(super) mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "agentic:connector/connector@0.3.0",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

/// `agentic:connector@0.2.0`, frozen (`wit/frozen/0.2.0`), with its own types: its
/// `record-data` lacks `deleted`.
pub(super) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/frozen/0.2.0",
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

/// `agentic:connector@0.1.0`, frozen (`wit/frozen/0.1.0`), with the types of 0.2.0 (the same).
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

pub(super) use v0_2::agentic::connector::types as old;
pub(super) use v0_3::agentic::connector::{host, types};

use types::{ConnectorSpec, Error as ConnectorError, StreamSpec};

/// A version of the contract the host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WitVersion {
    /// `agentic:connector@0.1.0`, the first release (frozen).
    V0_1,
    /// `agentic:connector@0.2.0`: the connection's base URL and egress refusal reasons.
    V0_2,
    /// `agentic:connector@0.3.0`: deletions in a page, named service origins.
    V0_3,
}

impl WitVersion {
    /// Every version served, oldest first.
    pub const ALL: [WitVersion; 3] = [WitVersion::V0_1, WitVersion::V0_2, WitVersion::V0_3];

    /// The current contract (`wit/`), which the SDK targets.
    pub const NEWEST: WitVersion = WitVersion::V0_3;

    /// The semver version, as in `plugin.toml`'s `wit` field.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1 => "0.1.0",
            WitVersion::V0_2 => "0.2.0",
            WitVersion::V0_3 => "0.3.0",
        }
    }

    /// The served version named `version`, if it is one.
    pub fn parse(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == version)
    }

    /// The contract version a component was built against, read from the interfaces of ours it
    /// imports (`agentic:connector/host@0.1.0`, …): `Ok(None)` when it imports none (then the
    /// shape of its `read` export decides: see `runtime`); an error names a version the host
    /// does not serve, or a component that mixes versions.
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
                    Self::ALL.map(Self::as_str).join(", ")
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
    V0_3(v0_3::ConnectorPre<T>),
}

// Not derived: that would ask for `T: Clone`, and the pre-linked component is shared whatever
// the store data.
impl<T: 'static> Clone for ConnectorPre<T> {
    fn clone(&self) -> Self {
        match self {
            Self::V0_1(pre) => Self::V0_1(pre.clone()),
            Self::V0_2(pre) => Self::V0_2(pre.clone()),
            Self::V0_3(pre) => Self::V0_3(pre.clone()),
        }
    }
}

/// An instance's exports, whatever its contract version.
pub(super) enum Connector {
    V0_1(v0_1::Connector),
    V0_2(v0_2::Connector),
    V0_3(v0_3::Connector),
}

impl<T: Send + 'static> ConnectorPre<T> {
    /// Checks that `pre`'s exports are those of `version`'s world.
    pub(super) fn new(version: WitVersion, pre: InstancePre<T>) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V0_1 => Self::V0_1(v0_1::ConnectorPre::new(pre)?),
            WitVersion::V0_2 => Self::V0_2(v0_2::ConnectorPre::new(pre)?),
            WitVersion::V0_3 => Self::V0_3(v0_3::ConnectorPre::new(pre)?),
        })
    }

    /// The version it was linked for.
    pub(super) fn version(&self) -> WitVersion {
        match self {
            Self::V0_1(_) => WitVersion::V0_1,
            Self::V0_2(_) => WitVersion::V0_2,
            Self::V0_3(_) => WitVersion::V0_3,
        }
    }

    pub(super) fn instance_pre(&self) -> &InstancePre<T> {
        match self {
            Self::V0_1(pre) => pre.instance_pre(),
            Self::V0_2(pre) => pre.instance_pre(),
            Self::V0_3(pre) => pre.instance_pre(),
        }
    }

    pub(super) async fn instantiate_async(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Connector> {
        Ok(match self {
            Self::V0_1(pre) => Connector::V0_1(pre.instantiate_async(store).await?),
            Self::V0_2(pre) => Connector::V0_2(pre.instantiate_async(store).await?),
            Self::V0_3(pre) => Connector::V0_3(pre.instantiate_async(store).await?),
        })
    }
}

/// The same call on whichever version's bindings, its result in the current types: `$new`
/// converts what the versions before 0.3.0 return (their own generated types).
macro_rules! each_version {
    ($self:ident, $c:ident => $call:expr, $new:expr) => {
        match $self {
            Connector::V0_1($c) => $call.map($new),
            Connector::V0_2($c) => $call.map($new),
            Connector::V0_3($c) => $call,
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
        each_version!(self, c => c.call_spec(store).await, new_spec)
    }

    pub(super) async fn call_check<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
    ) -> wasmtime::Result<Result<String, ConnectorError>> {
        each_version!(self, c => c.call_check(store, config).await, |r| r.map_err(new_error))
    }

    pub(super) async fn call_discover<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
    ) -> wasmtime::Result<Result<Vec<StreamSpec>, ConnectorError>> {
        each_version!(self, c => c.call_discover(store, config).await, |r| r
            .map(|streams| streams.into_iter().map(new_stream).collect())
            .map_err(new_error))
    }

    pub(super) async fn call_invoke<T: Send>(
        &self,
        store: &mut Store<T>,
        config: &String,
        action: &String,
        input: &String,
    ) -> wasmtime::Result<Result<String, ConnectorError>> {
        each_version!(self, c => c.call_invoke(store, config, action, input).await, |r| r
            .map_err(new_error))
    }
}

/// A record kind of 0.2.0 (and 0.1.0) in the current types: the same cases.
pub(super) fn new_kind(kind: old::RecordKind) -> types::RecordKind {
    use types::RecordKind as K;
    match kind {
        old::RecordKind::Document => K::Document,
        old::RecordKind::WorkItem => K::WorkItem,
        old::RecordKind::Comment => K::Comment,
        old::RecordKind::Requirement => K::Requirement,
        old::RecordKind::TraceLink => K::TraceLink,
        old::RecordKind::Person => K::Person,
        old::RecordKind::Raw => K::Raw,
    }
}

/// A log level of 0.2.0 (and 0.1.0) in the current types.
pub(super) fn new_level(level: old::LogLevel) -> types::LogLevel {
    use types::LogLevel as L;
    match level {
        old::LogLevel::Trace => L::Trace,
        old::LogLevel::Debug => L::Debug,
        old::LogLevel::Info => L::Info,
        old::LogLevel::Warn => L::Warn,
        old::LogLevel::Error => L::Error,
    }
}

fn new_stream(s: old::StreamSpec) -> StreamSpec {
    StreamSpec {
        name: s.name,
        description: s.description,
        kind: new_kind(s.kind),
        incremental: s.incremental,
        schema: s.schema,
    }
}

fn new_spec(s: old::ConnectorSpec) -> ConnectorSpec {
    use types::AuthKind as A;
    ConnectorSpec {
        id: s.id,
        name: s.name,
        version: s.version,
        description: s.description,
        config_schema: s.config_schema,
        auth_kinds: s
            .auth_kinds
            .into_iter()
            .map(|k| match k {
                old::AuthKind::Anonymous => A::Anonymous,
                old::AuthKind::ApiToken => A::ApiToken,
                old::AuthKind::Basic => A::Basic,
                old::AuthKind::Bearer => A::Bearer,
                old::AuthKind::Oauth2AuthorizationCode => A::Oauth2AuthorizationCode,
                old::AuthKind::Oauth2ClientCredentials => A::Oauth2ClientCredentials,
                old::AuthKind::GoogleServiceAccount => A::GoogleServiceAccount,
                old::AuthKind::FormLogin => A::FormLogin,
            })
            .collect(),
        streams: s.streams.into_iter().map(new_stream).collect(),
        actions: s
            .actions
            .into_iter()
            .map(|a| types::ActionSpec {
                name: a.name,
                description: a.description,
                input_schema: a.input_schema,
                output_schema: a.output_schema,
            })
            .collect(),
    }
}

fn new_error(e: old::Error) -> ConnectorError {
    match e {
        old::Error::Config(m) => ConnectorError::Config(m),
        old::Error::Auth(m) => ConnectorError::Auth(m),
        old::Error::RateLimited(r) => ConnectorError::RateLimited(types::RateLimit {
            retry_after_secs: r.retry_after_secs,
            message: r.message,
        }),
        old::Error::Transient(m) => ConnectorError::Transient(m),
        old::Error::NotFound(m) => ConnectorError::NotFound(m),
        old::Error::InvalidInput(m) => ConnectorError::InvalidInput(m),
        old::Error::Internal(m) => ConnectorError::Internal(m),
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
        assert_eq!(WitVersion::parse("0.3.0"), Some(WitVersion::NEWEST));
        assert_eq!(WitVersion::parse("0.4.0"), None);
    }
}
