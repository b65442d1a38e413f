//! Talking to the host besides HTTP: log lines and progress reports.
//!
//! In the component these call the contract's `host` interface; the host tags each line with
//! plugin, connection and job, truncates and rate-limits them. Natively (tests) they print to
//! stderr and are recorded, so a test can assert on them through
//! [`crate::testing::Harness`]. Never log anything that could be secret.

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
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use imp::take_events;
#[cfg(not(target_arch = "wasm32"))]
pub use imp::HostEvent;

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

    fn record(event: HostEvent) {
        EVENTS.with(|events| events.borrow_mut().push(event));
    }

    /// Everything recorded on this thread since the last call.
    pub fn take_events() -> Vec<HostEvent> {
        EVENTS.with(|events| std::mem::take(&mut *events.borrow_mut()))
    }
}
