//! The host's `platform` interface: what an agent may read and do besides HTTP.
//!
//! Every call is checked by the host against the agent's **grant** — the permissions of the
//! manifest's `needs` that the person who deployed the agent holds, fixed at deploy — and
//! written to the audit log. Records come only from the agent's project; `start_sync`,
//! `sync_job` and `invoke_action` reach only the connection its configuration names
//! (`connection_id`). A refused call is a [`PlatformError::Denied`] naming what is missing; `?`
//! turns any platform error into the run's [`Error`](crate::Error).
//!
//! In a component the calls go to the host; in native tests to the
//! [`Harness`](crate::testing::Harness) running the agent, which enforces the same rules.

use serde_json::Value;

use crate::error::PlatformError;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the agent recovered from.
    Warn,
    /// A failure.
    Error,
}

/// The internal models of a project's records, as connectors fill them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    /// Documents (pages, files).
    Document,
    /// Issues, tickets, tasks.
    WorkItem,
    /// Comments on work items.
    Comment,
    /// Requirements.
    Requirement,
    /// Links between records.
    TraceLink,
    /// People of the external service.
    Person,
    /// Records of no internal model.
    Raw,
}

impl Model {
    /// The model's name in the REST API (`work_item`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Document => "document",
            Model::WorkItem => "work_item",
            Model::Comment => "comment",
            Model::Requirement => "requirement",
            Model::TraceLink => "trace_link",
            Model::Person => "person",
            Model::Raw => "raw",
        }
    }
}

/// Largest page the host serves.
pub const MAX_LIMIT: u32 = 200;

/// A filtered page of the project's records, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// Which model.
    pub model: Model,
    /// Only from this connection of the project.
    pub connection_id: Option<i64>,
    /// Only with this exact status.
    pub status: Option<String>,
    /// Only those whose title contains this (case-insensitive).
    pub text: Option<String>,
    /// Only records with an id greater than this (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Page size, 1–200.
    pub limit: u32,
}

impl RecordQuery {
    /// Every record of `model` in the project, 100 a page.
    pub fn new(model: Model) -> Self {
        Self {
            model,
            connection_id: None,
            status: None,
            text: None,
            after: None,
            limit: 100,
        }
    }

    /// Only records of this connection.
    #[must_use]
    pub fn connection(mut self, id: i64) -> Self {
        self.connection_id = Some(id);
        self
    }

    /// Only records with this status.
    #[must_use]
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only records whose title contains `text` (case-insensitive).
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Records after this id.
    #[must_use]
    pub fn after(mut self, id: i64) -> Self {
        self.after = Some(id);
        self
    }

    /// Page size (clamped to 1–200).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.clamp(1, MAX_LIMIT);
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The host's id.
    pub id: i64,
    /// The connection it came from.
    pub connection_id: i64,
    /// The stream it came from.
    pub stream: String,
    /// The service's id.
    pub external_id: String,
    /// The record as the list endpoints of the REST API show it (`title`, `status`, …).
    pub data: Value,
    /// When the host last stored it (a sync stores an item again when the service changed
    /// it): milliseconds since the epoch.
    pub synced_at: i64,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// The records, by id.
    pub records: Vec<StoredRecord>,
    /// Pass as [`RecordQuery::after`] for the next page; `None` on the last page.
    pub next_after: Option<i64>,
}

/// Where a sync job the agent started is.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// The job's id.
    pub id: i64,
    /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
    pub state: String,
    /// The job's output once it succeeded (for a sync: records, pages, deleted).
    pub result: Option<Value>,
    /// Why it last failed.
    pub last_error: Option<String>,
    /// When it finished, if it did (milliseconds since the epoch).
    pub finished_at: Option<i64>,
}

/// Writes a line to the host's log, tagged with the agent. Lines are cut to 2048 characters
/// and at most 100 a run are kept; never log secrets.
pub fn log(level: LogLevel, message: &str) {
    imp::log(level, message);
}

/// Records a metric of this run, even if the run then fails (see [`Metric`](crate::Metric)
/// for the naming rules).
pub fn emit_metric(name: &str, value: f64) {
    imp::emit_metric(name, value);
}

/// Records an event of this run, even if the run then fails.
pub fn emit_event(kind: &str, message: &str) {
    imp::emit_event(kind, message);
}

/// One page of the project's records. Needs `records:read`; a connection outside the
/// project is [`PlatformError::NotFound`].
pub fn query_records(query: &RecordQuery) -> Result<RecordPage, PlatformError> {
    imp::query_records(query)
}

/// Every record `query` matches, page after page (from `query.after` on); the iterator ends
/// after the first error, which it yields.
pub fn records(query: RecordQuery) -> Records {
    Records {
        query: Some(query),
        page: Vec::new().into_iter(),
    }
}

/// The iterator of [`records`].
#[derive(Debug)]
pub struct Records {
    /// The query of the next page; `None` once the last page was read or a call failed.
    query: Option<RecordQuery>,
    page: std::vec::IntoIter<StoredRecord>,
}

impl Iterator for Records {
    type Item = Result<StoredRecord, PlatformError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.page.next() {
                return Some(Ok(record));
            }
            let query = self.query.take()?;
            match query_records(&query) {
                Ok(page) => {
                    self.query = page.next_after.map(|after| query.after(after));
                    self.page = page.records.into_iter();
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Starts an incremental sync of `stream` (every stream when `None`) of the connection the
/// agent's configuration names; returns the job's id. Needs `connections:sync`.
pub fn start_sync(connection_id: i64, stream: Option<&str>) -> Result<i64, PlatformError> {
    imp::start_sync(connection_id, stream)
}

/// Where a sync job of the agent's connection is. Needs `jobs:read`.
pub fn sync_job(job_id: i64) -> Result<JobStatus, PlatformError> {
    imp::sync_job(job_id)
}

/// Writes a new Markdown document in the agent's project and returns its id: `title` (1–200
/// characters, one line), `markdown` (1 byte to 1 MiB), at most 32 `tags` of 1–64
/// characters. Needs `documents:manage`; the document is created in the name of the person
/// who deployed the agent, and its metadata names the agent. To link it to records, use
/// [`write_linked_document`].
pub fn write_document(title: &str, markdown: &str, tags: &[String]) -> Result<i64, PlatformError> {
    imp::write_document(title, markdown, tags, &[])
}

/// [`write_document`], linked to at most 32 `records` of the project (their
/// [`StoredRecord::id`]s): the REST API shows the links in the document's metadata
/// (`"records": […]`). A record that is not the project's is [`PlatformError::NotFound`].
pub fn write_linked_document(
    title: &str,
    markdown: &str,
    tags: &[String],
    records: &[i64],
) -> Result<i64, PlatformError> {
    imp::write_document(title, markdown, tags, records)
}

/// Largest comment the host accepts (bytes).
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

/// Writes a comment (`markdown`, 1 byte to 64 KiB) on a work item or requirement of the
/// project (`record_id`, its [`StoredRecord::id`]) and returns the comment's record id. The
/// comment is a [`Model::Comment`] record of the host (author `agent:<id>`), listed with the
/// project's comments; it is not posted to the service (use [`invoke_action`] for that).
/// Needs `documents:manage`; another project's record is [`PlatformError::NotFound`], a
/// record of another model [`PlatformError::InvalidInput`].
pub fn comment_on_record(record_id: i64, markdown: &str) -> Result<i64, PlatformError> {
    imp::comment_on_record(record_id, markdown)
}

/// Runs a connector action on the connection the agent's configuration names, through that
/// connection's egress and credential (the agent never sees the credential); returns the
/// action's output. The input and output are checked against the action's schemas. Needs
/// `connections:act`.
pub fn invoke_action(
    connection_id: i64,
    action: &str,
    input: &Value,
) -> Result<Value, PlatformError> {
    imp::invoke_action(connection_id, action, input)
}

/// JSON text from the host, as a value (the host only sends JSON; anything else is its bug).
#[cfg(target_arch = "wasm32")]
fn parse(text: &str) -> Result<Value, PlatformError> {
    serde_json::from_str(text)
        .map_err(|e| PlatformError::Unavailable(format!("the host sent invalid JSON: {e}")))
}

#[cfg(target_arch = "wasm32")]
mod imp {
    //! The calls as imports of the component.

    use serde_json::Value;

    use super::{parse, JobStatus, LogLevel, Model, RecordPage, RecordQuery, StoredRecord};
    use crate::error::PlatformError;
    use crate::wit::agentic::agent::platform as host;
    use crate::wit::agentic::agent::types as wit;

    pub(super) fn log(level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => wit::LogLevel::Trace,
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        host::log(level, message);
    }

    pub(super) fn emit_metric(name: &str, value: f64) {
        host::emit_metric(name, value);
    }

    pub(super) fn emit_event(kind: &str, message: &str) {
        host::emit_event(kind, message);
    }

    fn error(e: wit::PlatformError) -> PlatformError {
        match e {
            wit::PlatformError::Denied(m) => PlatformError::Denied(m),
            wit::PlatformError::NotFound(m) => PlatformError::NotFound(m),
            wit::PlatformError::InvalidInput(m) => PlatformError::InvalidInput(m),
            wit::PlatformError::Unavailable(m) => PlatformError::Unavailable(m),
        }
    }

    pub(super) fn query_records(query: &RecordQuery) -> Result<RecordPage, PlatformError> {
        let model = match query.model {
            Model::Document => wit::Model::Document,
            Model::WorkItem => wit::Model::WorkItem,
            Model::Comment => wit::Model::Comment,
            Model::Requirement => wit::Model::Requirement,
            Model::TraceLink => wit::Model::TraceLink,
            Model::Person => wit::Model::Person,
            Model::Raw => wit::Model::Raw,
        };
        let page = host::query_records(&wit::RecordQuery {
            model,
            connection_id: query.connection_id,
            status: query.status.clone(),
            text: query.text.clone(),
            after: query.after,
            limit: query.limit,
        })
        .map_err(error)?;
        let records = page
            .records
            .into_iter()
            .map(|r| {
                Ok(StoredRecord {
                    id: r.id,
                    connection_id: r.connection_id,
                    stream: r.stream,
                    external_id: r.external_id,
                    data: parse(&r.data)?,
                    synced_at: r.synced_at,
                })
            })
            .collect::<Result<_, PlatformError>>()?;
        Ok(RecordPage {
            records,
            next_after: page.next_after,
        })
    }

    pub(super) fn start_sync(
        connection_id: i64,
        stream: Option<&str>,
    ) -> Result<i64, PlatformError> {
        host::start_sync(connection_id, stream).map_err(error)
    }

    pub(super) fn sync_job(job_id: i64) -> Result<JobStatus, PlatformError> {
        let job = host::sync_job(job_id).map_err(error)?;
        Ok(JobStatus {
            id: job.id,
            state: job.state,
            result: job.result.as_deref().map(parse).transpose()?,
            last_error: job.last_error,
            finished_at: job.finished_at,
        })
    }

    pub(super) fn write_document(
        title: &str,
        markdown: &str,
        tags: &[String],
        records: &[i64],
    ) -> Result<i64, PlatformError> {
        host::write_document(title, markdown, tags, records).map_err(error)
    }

    pub(super) fn comment_on_record(record_id: i64, markdown: &str) -> Result<i64, PlatformError> {
        host::comment_on_record(record_id, markdown).map_err(error)
    }

    pub(super) fn invoke_action(
        connection_id: i64,
        action: &str,
        input: &Value,
    ) -> Result<Value, PlatformError> {
        let output =
            host::invoke_action(connection_id, action, &input.to_string()).map_err(error)?;
        parse(&output)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    //! The calls answered by the harness running the agent on this thread.

    use serde_json::Value;

    use super::{JobStatus, LogLevel, RecordPage, RecordQuery};
    use crate::error::PlatformError;
    use crate::testing::with_host;

    pub(super) fn log(level: LogLevel, message: &str) {
        with_host(|h| h.log(level, message)).unwrap_or_else(|| {
            // Outside a harness (a unit test calling agent code directly) the line still shows.
            eprintln!("[agent {level:?}] {message}");
        });
    }

    pub(super) fn emit_metric(name: &str, value: f64) {
        let _ = with_host(|h| h.emit_metric(name, value));
    }

    pub(super) fn emit_event(kind: &str, message: &str) {
        let _ = with_host(|h| h.emit_event(kind, message));
    }

    fn no_harness<T>() -> Result<T, PlatformError> {
        Err(PlatformError::Unavailable(
            "no host: run the agent through agentic_agent_sdk::testing::Harness".into(),
        ))
    }

    pub(super) fn query_records(query: &RecordQuery) -> Result<RecordPage, PlatformError> {
        with_host(|h| h.query_records(query)).unwrap_or_else(no_harness)
    }

    pub(super) fn start_sync(
        connection_id: i64,
        stream: Option<&str>,
    ) -> Result<i64, PlatformError> {
        with_host(|h| h.start_sync(connection_id, stream)).unwrap_or_else(no_harness)
    }

    pub(super) fn sync_job(job_id: i64) -> Result<JobStatus, PlatformError> {
        with_host(|h| h.sync_job(job_id)).unwrap_or_else(no_harness)
    }

    pub(super) fn write_document(
        title: &str,
        markdown: &str,
        tags: &[String],
        records: &[i64],
    ) -> Result<i64, PlatformError> {
        with_host(|h| h.write_document(title, markdown, tags, records)).unwrap_or_else(no_harness)
    }

    pub(super) fn comment_on_record(record_id: i64, markdown: &str) -> Result<i64, PlatformError> {
        with_host(|h| h.comment_on_record(record_id, markdown)).unwrap_or_else(no_harness)
    }

    pub(super) fn invoke_action(
        connection_id: i64,
        action: &str,
        input: &Value,
    ) -> Result<Value, PlatformError> {
        with_host(|h| h.invoke_action(connection_id, action, input)).unwrap_or_else(no_harness)
    }
}
