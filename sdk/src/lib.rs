//! # agentic-sdk: connector plugins for the Agentic host
//!
//! A connector is a WebAssembly component (`wasm32-wasip2`) implementing the contract
//! `agentic:connector@0.3.0` (see `wit/connector.wit` and `docs/plugin-contract.md`). This crate
//! hides the generated bindings: implement [`Connector`] on a type, describe it in `plugin.toml`,
//! call [`register_connector!`], and build. The same code runs natively in `cargo test` through
//! the `testing` module, against a fake service, with the acceptance suite every plugin must pass.
//!
//! ```
//! use agentic_sdk::{
//!     register_connector, Connector, ConnectorSpec, Error, Page, RecordKind, StreamSpec,
//!     WorkItem,
//! };
//!
//! const MANIFEST: &str = r#"
//! id = "counter"
//! version = "0.1.0"
//! wit = "0.3.0"
//! name = "Counter"
//! description = "Counts to `to`, two per page."
//! allowed_hosts = []
//! auth_kinds = ["anonymous"]
//! [config_schema]
//! type = "object"
//! required = ["to"]
//! properties.to = { type = "integer", minimum = 0 }
//! "#;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     to: u32,
//! }
//!
//! #[derive(Default)]
//! struct Counter;
//!
//! impl Connector for Counter {
//!     type Config = Config;
//!
//!     fn spec(&self) -> Result<ConnectorSpec, Error> {
//!         Ok(ConnectorSpec::from_manifest(MANIFEST)?
//!             .with_stream(StreamSpec::new("numbers", RecordKind::WorkItem).incremental()))
//!     }
//!
//!     fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
//!         if stream != "numbers" {
//!             return Err(Error::NotFound(format!("no stream `{stream}`")));
//!         }
//!         let after: u32 = match state {
//!             None => 0,
//!             Some(s) => s.parse().map_err(|_| Error::InvalidInput(format!("state {s:?}")))?,
//!         };
//!         let end = (after + 2).min(config.to);
//!         let records = (after + 1..=end)
//!             .map(|n| WorkItem { external_id: n.to_string(), title: format!("#{n}"), ..Default::default() }.into())
//!             .collect();
//!         Ok(Page { records, state: end.to_string(), has_more: end < config.to, ..Page::default() })
//!     }
//! }
//!
//! register_connector!(Counter);
//!
//! # fn main() {
//! // In tests:
//! use agentic_sdk::testing::{acceptance, Acceptance};
//! use serde_json::json;
//! let report = acceptance::<Counter>(&Acceptance {
//!     config: json!({"to": 5}),
//!     bad_config: json!({}),
//!     manifest: Some(MANIFEST),
//!     ..Acceptance::default()
//! });
//! assert_eq!(report.streams[0].records, 5);
//! # }
//! ```
//!
//! # Layout
//!
//! - [`Connector`] and [`register_connector!`] (`connector`): what a plugin implements and how
//!   it becomes the component's exports.
//! - [`ConnectorSpec`], [`StreamSpec`], [`Page`] (with the [`Deleted`] records an incremental
//!   read reports), … (`types`), the records ([`WorkItem`],
//!   [`Document`], …, [`RecordData`]) and their JSON projection (`records`), and [`Error`]: the
//!   contract's types in Rust.
//! - [`Manifest`] (`manifest`): `plugin.toml`, the single source of id, version, configuration
//!   schema and actions.
//! - [`http`]: a blocking HTTP client over `wasi:http`, with JSON, pagination and the
//!   status-to-error mapping (including `Retry-After`).
//! - [`host`]: the host interface: [`log`], [`progress`], the connection's [`base_url`] (where
//!   the service lives: connectors do not ask for it in their configuration), the URLs of the
//!   service origins the manifest names ([`service_url`]) and [`host::egress_refusal`].
//! - `testing` (native builds only): harness, fake HTTP server, acceptance suite.
//!
//! Credentials are never the connector's business: the host stores them, adds them to every
//! outgoing request, and drops any `Authorization` or `Cookie` header a connector sets.

#![deny(missing_docs)]

// Lets the generated bindings and the exported macros name this crate `agentic_sdk` both here
// and in plugin crates.
extern crate self as agentic_sdk;

mod connector;
mod error;
pub mod host;
pub mod http;
mod manifest;
/// Stream states for cursor, `Link`, offset, `updated_since` and keyset paging.
pub mod paging;
mod records;
/// RFC 3339 times (as the host's API shows them) to Unix milliseconds (as records carry them).
pub mod time;
mod types;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod export;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod allocator;

/// Every plugin built with the SDK allocates small blocks from free lists and the rest with
/// talc, instead of wasi-libc's dlmalloc: a page of records is thousands of small strings, and
/// both are cheaper in WebAssembly (measured in `host/benches/transform.rs` and the JIRA sync
/// bench, docs/PERFORMANCE.md). A plugin instance lives for one call, or the pages of one
/// stream, so fragmentation has little time to build up.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator::new();
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wit;

pub use connector::Connector;
pub use error::Error;
pub use host::{base_url, log, progress, service_url};
pub use manifest::{is_semver, is_valid_id, Manifest, WIT_VERSION};
pub use records::{
    Attributes, Comment, Document, Person, RawRecord, RecordData, Requirement, TraceLink,
    UnixMillis, WorkItem,
};
pub use types::{
    ActionSpec, AuthKind, ConnectorSpec, Deleted, LogLevel, Page, RecordKind, StreamSpec,
};

/// Re-exported so plugins can write `agentic_sdk::serde_json::json!` without their own
/// dependency, and so its version always matches the SDK's `Value`.
pub use serde_json;

/// Implementation details of [`register_connector!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::export::Export;
    #[cfg(target_arch = "wasm32")]
    pub use wit_bindgen;

    /// Compiles only for [`Connector`](crate::Connector) types: the native expansion of
    /// [`register_connector!`](crate::register_connector).
    pub fn assert_connector<C: crate::Connector>() {}
}
