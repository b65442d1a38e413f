//! Running a connector natively, in plain `cargo test` (not in `wasm32` builds).
//!
//! - [`Harness`] calls a connector the way the host does — JSON configuration in, through the
//!   same glue as the component's exports, with the connection's base URL
//!   ([`Harness::with_base_url`]) — and records what it logged and reported.
//! - [`FakeServer`] is a tiny HTTP server on `127.0.0.1` answering with a closure, for
//!   connectors that call a service: the SDK's [`crate::http`] client talks to it natively.
//! - [`Replica`] plays what the host stores of a stream, page after page, deletions included
//!   ([`Harness::sync`]), so a test can assert on what an incremental sync leaves.
//! - [`acceptance`] is the suite every plugin passes: a valid spec and schemas, `check`, `discover`,
//!   full reads, resumption from every intermediate state, schema-conformant records.
//!
//! ```
//! use agentic_sdk::testing::{FakeResponse, FakeServer};
//! use serde_json::json;
//!
//! let server = FakeServer::start(|request| match request.path.as_str() {
//!     "/status" => FakeResponse::json(&json!({"ok": true})),
//!     _ => FakeResponse::status(404),
//! });
//! let status: serde_json::Value =
//!     agentic_sdk::http::get_json(&format!("{}/status", server.url())).unwrap();
//! assert_eq!(status, json!({"ok": true}));
//! assert_eq!(server.requests()[0].path, "/status");
//! ```

mod acceptance;
mod cassette;
mod credential;
mod fake_server;
mod replica;
mod schema;

use serde_json::Value;

use crate::connector::{dispatch, Connector};
use crate::error::Error;
use crate::types::{ConnectorSpec, LogLevel, Page, StreamSpec};

pub use crate::host::HostEvent;
pub use acceptance::{acceptance, run_acceptance, Acceptance, Expected, Report, StreamReport};
pub use cassette::{Body, Cassette, Exchange, Recorder, Replayer, BASE_URL_PLACEHOLDER};
pub(crate) use credential::{redact, secrets};
pub use credential::{Credential, REDACTED};
pub use fake_server::{FakeRequest, FakeResponse, FakeServer};
pub use replica::{Replica, Synced};
pub use schema::{openapi_schema, schema_problem, validate};

/// Most pages [`Harness::read_all`] reads before deciding a stream never ends.
pub const DEFAULT_MAX_PAGES: usize = 10_000;

/// Calls a connector as the host would, natively. Configuration and input are JSON values; they
/// go through the same parsing as in the component, so errors are the ones the host would get.
/// Like the host, it gives the connector the connection's base URL during each call
/// ([`Harness::with_base_url`], [`crate::host::base_url`]).
#[derive(Debug, Default)]
pub struct Harness<C> {
    connector: C,
    base_url: Option<String>,
    credential: Option<Credential>,
    origins: Vec<(String, String)>,
}

impl<C: Connector> Harness<C> {
    /// A harness around `connector` (usually `C::default()`, as the host makes it), for calls
    /// without a connection (no base URL), like the host's try-out calls.
    pub fn new(connector: C) -> Self {
        Self {
            connector,
            base_url: None,
            credential: None,
            origins: Vec::new(),
        }
    }

    /// Calls as for a connection whose service origin `name` (declared in the manifest's
    /// `[origins]`) is at `url`: [`crate::host::service_url`] answers it during every call, as
    /// the host answers with the connection's override or the manifest's URL.
    pub fn with_service_url(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        let name = name.into();
        self.origins.retain(|(n, _)| *n != name);
        self.origins.push((name, url.into()));
        self
    }

    /// Calls as for a connection whose base URL is `url` (typically a
    /// [`FakeServer::url`]): [`crate::host::base_url`] answers it during every call, as the
    /// host answers with the connection's.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The base URL the calls are made with, if any.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// Calls as for a connection with `credential`: the native transport puts it on every
    /// request of the calls, asks for an uncompressed answer and redacts the secret from what
    /// the connector reads back, as the host does ([`Credential`] says what is left out). The
    /// connector itself never sees it, as in the component.
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// The credential the calls are made with, if any.
    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// Runs `call` with the connection's base URL and credential in place, when the harness
    /// has them.
    fn host<T>(&self, call: impl FnOnce() -> T) -> T {
        let with_origins = || match self.origins.is_empty() {
            true => call(),
            false => crate::host::with_service_urls(self.origins.clone(), call),
        };
        let with_url = || match &self.base_url {
            Some(url) => crate::host::with_base_url(Some(url), with_origins),
            None => with_origins(),
        };
        // Without its own, the harness leaves an outer one in place (run_acceptance's).
        match &self.credential {
            Some(credential) => crate::host::with_credential(Some(credential.headers()), with_url),
            None => with_url(),
        }
    }

    /// The connector itself, for calling its own helper methods.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// `spec()` (without a base URL, as the host calls it).
    pub fn spec(&self) -> Result<ConnectorSpec, Error> {
        dispatch::spec(&self.connector)
    }

    /// `check(config)`.
    pub fn check(&self, config: &Value) -> Result<String, Error> {
        self.host(|| dispatch::check(&self.connector, &config.to_string()))
    }

    /// `discover(config)`.
    pub fn discover(&self, config: &Value) -> Result<Vec<StreamSpec>, Error> {
        self.host(|| dispatch::discover(&self.connector, &config.to_string()))
    }

    /// `read(config, stream, state)`: one page.
    pub fn read(&self, config: &Value, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        self.host(|| dispatch::read(&self.connector, &config.to_string(), stream, state))
    }

    /// Reads `stream` from `state` to its end, as the host's sync loop does, and returns every
    /// page. Fails with [`Error::Internal`] when a page says `has_more` without moving its state
    /// on, or after [`DEFAULT_MAX_PAGES`] pages.
    pub fn read_all(
        &self,
        config: &Value,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Vec<Page>, Error> {
        read_to_end(self, config, stream, state, DEFAULT_MAX_PAGES)
    }

    /// `invoke(config, action, input)`.
    pub fn invoke(&self, config: &Value, action: &str, input: &Value) -> Result<Value, Error> {
        let output = self.host(|| {
            dispatch::invoke(
                &self.connector,
                &config.to_string(),
                action,
                &input.to_string(),
            )
        })?;
        serde_json::from_str(&output)
            .map_err(|e| Error::Internal(format!("output of `{action}` is not JSON: {e}")))
    }

    /// The `log` and `progress` calls made on this thread since the last call, in order.
    pub fn take_host_events(&self) -> Vec<HostEvent> {
        crate::host::take_events()
    }

    /// The log lines among [`Harness::take_host_events`] (progress reports are discarded).
    pub fn take_logs(&self) -> Vec<(LogLevel, String)> {
        self.take_host_events()
            .into_iter()
            .filter_map(|event| match event {
                HostEvent::Log(level, line) => Some((level, line)),
                HostEvent::Progress(..) => None,
            })
            .collect()
    }
}

/// The host's sync loop, bounded: pages until `has_more` is false.
pub(crate) fn read_to_end<C: Connector>(
    harness: &Harness<C>,
    config: &Value,
    stream: &str,
    state: Option<&str>,
    max_pages: usize,
) -> Result<Vec<Page>, Error> {
    let mut pages: Vec<Page> = Vec::new();
    let mut state = state.map(str::to_owned);
    loop {
        if pages.len() >= max_pages {
            return Err(Error::Internal(format!(
                "stream `{stream}` still has more after {max_pages} pages"
            )));
        }
        let page = harness.read(config, stream, state.as_deref())?;
        let has_more = page.has_more;
        if has_more && state.as_deref() == Some(page.state.as_str()) {
            return Err(Error::Internal(format!(
                "stream `{stream}`: the page after state {:?} says has_more but returns the same \
                 state, so the host would read it forever",
                page.state
            )));
        }
        state = Some(page.state.clone());
        pages.push(page);
        if !has_more {
            return Ok(pages);
        }
    }
}
