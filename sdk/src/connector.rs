//! The [`Connector`] trait a plugin implements, and the glue between it and the contract.
//!
//! The contract passes JSON text; the trait takes typed values. [`dispatch`] converts between
//! the two and is the one path every call takes, in the component (through
//! [`register_connector!`](crate::register_connector)) and in native tests (through
//! [`crate::testing::Harness`]), so a connector behaves the same in both.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;
use crate::types::{ConnectorSpec, Page, StreamSpec};

/// A connector: what the host calls. Implement it on a `Default` type and register that type
/// with [`register_connector!`](crate::register_connector).
///
/// The host makes a fresh instance for every call (the pages of one stream in one sync run may
/// share one), and the SDK a fresh value of the type: hold no state between calls, in the type
/// or in statics; everything a call needs comes from `config`, `state` and the service.
pub trait Connector: Default {
    /// The connection's configuration (never secrets), parsed from JSON. The host has already
    /// validated it against the spec's `config_schema`; a value that still does not parse is
    /// refused with an [`Error::Config`] naming the field.
    type Config: DeserializeOwned;

    /// Describes the connector. Usually
    /// `ConnectorSpec::from_manifest(include_str!("../plugin.toml"))` plus the streams. Called
    /// once per installed version; must not do I/O. An error here is a connector bug: the
    /// component traps and the host refuses to install it.
    fn spec(&self) -> Result<ConnectorSpec, Error>;

    /// Checks that `config` is usable and the credential works, with one cheap call to the
    /// service, and returns a message for the user (e.g. "connected as jane@example.com").
    /// Defaults to accepting any configuration that parsed.
    fn check(&self, config: &Self::Config) -> Result<String, Error> {
        let _ = config;
        Ok("configuration accepted".into())
    }

    /// Lists the streams available with this configuration (e.g. one per project). Defaults to
    /// the spec's streams.
    fn discover(&self, config: &Self::Config) -> Result<Vec<StreamSpec>, Error> {
        let _ = config;
        Ok(self.spec()?.streams)
    }

    /// Reads one page of `stream`, starting after `state` (`None` at the start of a full read).
    /// The same state must always yield the same next page: the host resumes a killed sync from
    /// the last state it committed. Unknown streams are [`Error::NotFound`].
    fn read(&self, config: &Self::Config, stream: &str, state: Option<&str>)
        -> Result<Page, Error>;

    /// Performs `action` with `input` (matching the action's input schema) and returns output
    /// matching its output schema. Defaults to [`Error::NotFound`]: override it when the
    /// manifest declares actions.
    fn invoke(&self, config: &Self::Config, action: &str, input: Value) -> Result<Value, Error> {
        let _ = (config, input);
        Err(Error::NotFound(format!("no action `{action}`")))
    }
}

/// The contract-level calls: JSON text in, typed values or JSON text out.
pub(crate) mod dispatch {
    use super::*;

    /// Parses the configuration, naming the offending field on failure.
    pub fn config<C: Connector>(json: &str) -> Result<C::Config, Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                Error::Config(format!("configuration: {}", e.inner()))
            } else {
                Error::Config(format!("{path}: {}", e.inner()))
            }
        })
    }

    /// `spec()`.
    pub fn spec<C: Connector>(connector: &C) -> Result<ConnectorSpec, Error> {
        connector.spec()
    }

    /// `check(config)`.
    pub fn check<C: Connector>(connector: &C, config: &str) -> Result<String, Error> {
        connector.check(&self::config::<C>(config)?)
    }

    /// `discover(config)`.
    pub fn discover<C: Connector>(connector: &C, config: &str) -> Result<Vec<StreamSpec>, Error> {
        connector.discover(&self::config::<C>(config)?)
    }

    /// `read(config, stream, state)`; an empty state means "from the start", like `none`.
    pub fn read<C: Connector>(
        connector: &C,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Page, Error> {
        let state = state.filter(|s| !s.is_empty());
        connector.read(&self::config::<C>(config)?, stream, state)
    }

    /// `invoke(config, action, input)`.
    pub fn invoke<C: Connector>(
        connector: &C,
        config: &str,
        action: &str,
        input: &str,
    ) -> Result<String, Error> {
        let config = self::config::<C>(config)?;
        let input: Value = serde_json::from_str(input)
            .map_err(|e| Error::InvalidInput(format!("input of `{action}` is not JSON: {e}")))?;
        let output = connector.invoke(&config, action, input)?;
        serde_json::to_string(&output)
            .map_err(|e| Error::Internal(format!("output of `{action}`: {e}")))
    }
}

/// Exports a [`Connector`] type as the component's implementation of the contract. Invoke it
/// once, at the top level of the plugin crate:
///
/// ```
/// # use agentic_sdk::{Connector, ConnectorSpec, Error, Page};
/// #[derive(Default)]
/// struct Demo;
/// impl Connector for Demo {
///     type Config = serde_json::Value;
///     fn spec(&self) -> Result<ConnectorSpec, Error> {
///         ConnectorSpec::from_manifest(DEMO_MANIFEST)
///     }
///     fn read(&self, _: &Self::Config, stream: &str, _: Option<&str>) -> Result<Page, Error> {
///         Err(Error::NotFound(format!("no stream {stream}")))
///     }
/// }
/// agentic_sdk::register_connector!(Demo);
/// # const DEMO_MANIFEST: &str = "";
/// # fn main() {}
/// ```
///
/// In a `wasm32` build this emits the component's exports; natively it only checks that the
/// type implements [`Connector`], so the same crate also builds for tests.
#[macro_export]
macro_rules! register_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __AgenticConnectorExport = $crate::__private::Export<$connector>;
    $crate::wit::__export_connector!(__AgenticConnectorExport with_types_in $crate::wit);
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = $crate::__private::assert_connector::<$connector>;
    };
}
