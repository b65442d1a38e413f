//! Talking to the host besides HTTP: log lines, progress reports, the connection's base URL,
//! the URLs of its named service origins, and why the host refused a request.
//!
//! In the component these call the contract's `host` interface; the host tags each line with
//! plugin, connection and job, truncates and rate-limits them. Natively (tests) log lines and
//! progress print to stderr and are recorded, so a test can assert on them through
//! [`crate::testing::Harness`], and the base URL is the one the harness was given
//! ([`crate::testing::Harness::with_base_url`]). Never log anything that could be secret.

use crate::types::LogLevel;

/// Writes a line to the host's log.
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message);
}

/// Reports progress of the current call: `done` out of `total` (when known), with a short
/// message people see on long reads and actions.
pub fn progress(done: u64, total: Option<u64>, message: &str) {
    imp::progress(done, total, message);
}

/// The connection's base URL: where the service lives, e.g. `https://acme.atlassian.net/`.
///
/// It is part of the connection (the host confines every request of the connection under it),
/// so a connector takes it from here instead of asking for it again in its configuration. The
/// host gives it as it parsed it: scheme and host in lower case, a path of at least `/`.
/// `None` when the call has no connection: `spec`, and the try-out `discover` and `read`
/// calls, which have no network either. [`crate::http::endpoint`] joins a path to it.
///
/// ```
/// use agentic_sdk::testing::Harness;
/// use agentic_sdk::{host, Connector, ConnectorSpec, Error, Page};
///
/// #[derive(Default)]
/// struct Tracker;
///
/// impl Connector for Tracker {
///     type Config = serde_json::Value;
///
///     fn check(&self, _config: &Self::Config) -> Result<String, Error> {
///         let base = host::base_url()
///             .ok_or_else(|| Error::Config("this call has no connection".into()))?;
///         Ok(format!("would call {base}api/status"))
///     }
///     # fn spec(&self) -> Result<ConnectorSpec, Error> { Err(Error::Internal("unused".into())) }
///     # fn read(&self, _: &Self::Config, s: &str, _: Option<&str>) -> Result<Page, Error> {
///     #     Err(Error::NotFound(s.into()))
///     # }
/// }
///
/// // Natively, the harness plays the host of a connection on https://tracker.example.com/.
/// let harness = Harness::new(Tracker).with_base_url("https://tracker.example.com/");
/// let said = harness.check(&serde_json::json!({})).unwrap();
/// assert_eq!(said, "would call https://tracker.example.com/api/status");
/// // Without a connection (a try-out call, or outside any call) there is none.
/// assert!(Harness::new(Tracker).check(&serde_json::json!({})).is_err());
/// assert_eq!(host::base_url(), None);
/// ```
pub fn base_url() -> Option<String> {
    imp::base_url()
}

/// The connection's URL of the service origin `name` that the plugin's manifest declares
/// (`[origins]` in `plugin.toml`, e.g. `sheets = "https://sheets.googleapis.com/"`): the
/// connection's override if it has one (a proxy, a fake in tests), else the manifest's URL.
/// Requests under it are let through with the connection's credential, as under the base URL.
/// `None` for a name the manifest does not declare, and when the call has no connection.
/// Natively, the harness answers the origins it was given
/// ([`crate::testing::Harness::with_service_url`]).
pub fn service_url(name: &str) -> Option<String> {
    imp::service_url(name)
}

/// Why the host refused the latest request of this call, in words for people (which rule: the
/// base URL, the allowed hosts, a private address, the method, the request budget, no network
/// in a try-out call); `None` when the host let it through, or natively. The SDK's HTTP client
/// puts it into the error of a refused request itself.
pub fn egress_refusal() -> Option<String> {
    imp::egress_refusal()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::types::LogLevel;
    use crate::wit::agentic::connector::{host, types};

    pub fn log(level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => types::LogLevel::Trace,
            LogLevel::Debug => types::LogLevel::Debug,
            LogLevel::Info => types::LogLevel::Info,
            LogLevel::Warn => types::LogLevel::Warn,
            LogLevel::Error => types::LogLevel::Error,
        };
        host::log(level, message);
    }

    pub fn progress(done: u64, total: Option<u64>, message: &str) {
        host::progress(done, total, message);
    }

    pub fn base_url() -> Option<String> {
        host::base_url()
    }

    pub fn service_url(name: &str) -> Option<String> {
        host::service_url(name)
    }

    pub fn egress_refusal() -> Option<String> {
        host::egress_refusal()
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use imp::HostEvent;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use imp::{
    credential_headers, take_events, with_base_url, with_credential, with_service_urls,
};

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;

    use crate::types::LogLevel;

    /// One call a connector made to the host interface, as recorded natively.
    #[derive(Debug, Clone, PartialEq)]
    pub enum HostEvent {
        /// A `log` call.
        Log(LogLevel, String),
        /// A `progress` call.
        Progress(u64, Option<u64>, String),
    }

    thread_local! {
        // Per thread, as the harness calls the connector on the test's own thread: parallel
        // tests do not see each other's lines.
        static EVENTS: RefCell<Vec<HostEvent>> = const { RefCell::new(Vec::new()) };
        // The base URL of the connection the harness is calling for, during its calls.
        static BASE_URL: RefCell<Option<String>> = const { RefCell::new(None) };
        // The headers the host would add to each request of those calls (the connection's
        // credential, `crate::testing::Credential`); the native transport adds them.
        static CREDENTIAL: RefCell<Option<Vec<(String, String)>>> = const { RefCell::new(None) };
        // The connection's service origins by name, during the harness's calls.
        static ORIGINS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn log(level: LogLevel, message: &str) {
        eprintln!("[plugin {}] {message}", level.as_str());
        record(HostEvent::Log(level, message.to_owned()));
    }

    pub fn progress(done: u64, total: Option<u64>, message: &str) {
        match total {
            Some(total) => eprintln!("[plugin progress] {done}/{total} {message}"),
            None => eprintln!("[plugin progress] {done} {message}"),
        }
        record(HostEvent::Progress(done, total, message.to_owned()));
    }

    pub fn base_url() -> Option<String> {
        BASE_URL.with(|url| url.borrow().clone())
    }

    pub fn service_url(name: &str) -> Option<String> {
        ORIGINS.with(|origins| {
            origins
                .borrow()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, url)| url.clone())
        })
    }

    /// Runs `call` with `origins` as the connection's service origins (the previous ones are
    /// restored after, even if `call` panics).
    pub fn with_service_urls<T>(origins: Vec<(String, String)>, call: impl FnOnce() -> T) -> T {
        struct Restore(Vec<(String, String)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = std::mem::take(&mut self.0);
                ORIGINS.with(|o| *o.borrow_mut() = previous);
            }
        }
        let previous = ORIGINS.with(|current| current.replace(origins));
        let _restore = Restore(previous);
        call()
    }

    /// The native transport refuses nothing.
    pub fn egress_refusal() -> Option<String> {
        None
    }

    /// Runs `call` with `url` as the connection's base URL (the previous one is restored after,
    /// even if `call` panics).
    pub fn with_base_url<T>(url: Option<&str>, call: impl FnOnce() -> T) -> T {
        struct Restore(Option<String>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                BASE_URL.with(|url| *url.borrow_mut() = previous);
            }
        }
        let previous = BASE_URL.with(|current| current.replace(url.map(str::to_owned)));
        let _restore = Restore(previous);
        call()
    }

    /// Runs `call` with `headers` as the connection's credential (the previous one is restored
    /// after, even if `call` panics).
    pub fn with_credential<T>(
        headers: Option<Vec<(String, String)>>,
        call: impl FnOnce() -> T,
    ) -> T {
        struct Restore(Option<Vec<(String, String)>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CREDENTIAL.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CREDENTIAL.with(|current| current.replace(headers));
        let _restore = Restore(previous);
        call()
    }

    /// The headers the host would add to a request made now, if the call has a credential.
    pub fn credential_headers() -> Option<Vec<(String, String)>> {
        CREDENTIAL.with(|c| c.borrow().clone())
    }

    fn record(event: HostEvent) {
        EVENTS.with(|events| events.borrow_mut().push(event));
    }

    /// Everything recorded on this thread since the last call.
    pub fn take_events() -> Vec<HostEvent> {
        EVENTS.with(|events| std::mem::take(&mut *events.borrow_mut()))
    }
}
