//! What a connector declares about itself: its spec, streams, actions, credential kinds, and the
//! page a `read` returns. Mirrors the contract's `types` interface with Rust-friendly field types:
//! JSON schemas are [`serde_json::Value`] rather than text, so they can be built with
//! [`serde_json::json!`] and checked by the test harness.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::records::RecordData;

/// What a connector is and can do. Build it from `plugin.toml` with
/// [`ConnectorSpec::from_manifest`] and add streams with [`ConnectorSpec::with_stream`]: the host
/// refuses to install a component whose spec disagrees with its manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorSpec {
    /// Identifier, e.g. `jira`: lower-case letters, digits and `-`, 2 to 64 characters.
    pub id: String,
    /// Human name, e.g. `JIRA`.
    pub name: String,
    /// The connector's own semver version.
    pub version: String,
    /// One paragraph for administrators.
    pub description: String,
    /// JSON Schema of the connection configuration (never secrets: the host keeps those).
    pub config_schema: Value,
    /// The credential kinds the connector works with.
    pub auth_kinds: Vec<AuthKind>,
    /// Streams that can always be read; `discover` may find more.
    pub streams: Vec<StreamSpec>,
    /// Operations on the external service.
    pub actions: Vec<ActionSpec>,
}

impl ConnectorSpec {
    /// Adds a stream; streams come from code because they are not part of the manifest.
    #[must_use]
    pub fn with_stream(mut self, stream: StreamSpec) -> Self {
        self.streams.push(stream);
        self
    }
}

/// A stream of records a connector can read.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Identifier, unique within the connector (e.g. `issues`).
    pub name: String,
    /// What the stream holds, for people choosing what to sync.
    pub description: String,
    /// The internal model of its records.
    pub kind: RecordKind,
    /// Whether `read` can resume from a state to fetch only changes since then.
    pub incremental: bool,
    /// JSON Schema of the stream's records in their JSON projection (see
    /// [`RecordData::to_json`]).
    pub schema: Value,
}

impl StreamSpec {
    /// A full-refresh stream of `kind` whose schema is the kind's standard one
    /// ([`RecordKind::schema`]); refine it with the `with_*` methods.
    pub fn new(name: impl Into<String>, kind: RecordKind) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            kind,
            incremental: false,
            schema: kind.schema(),
        }
    }

    /// Sets the description people see when they choose what to sync.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Marks the stream incremental: `read` resumes from a state and returns only what changed.
    #[must_use]
    pub fn incremental(mut self) -> Self {
        self.incremental = true;
        self
    }

    /// Replaces the standard schema, e.g. to describe the `attributes` of this service.
    #[must_use]
    pub fn with_schema(mut self, schema: Value) -> Self {
        self.schema = schema;
        self
    }
}

/// An operation a connector can perform on the external service (push, transition, …). Declared
/// in `plugin.toml` under `[[actions]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// Identifier, unique within the connector (e.g. `create-issue`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output.
    pub output_schema: Value,
}

/// How a connection authenticates. The host stores the secret and adds it to every outgoing
/// request; the connector only declares which kinds it supports and never sees the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// No credential (public APIs, test fakes).
    Anonymous,
    /// E-mail or user name plus API token, sent as HTTP Basic (JIRA Cloud).
    ApiToken,
    /// User name and password, sent as HTTP Basic.
    Basic,
    /// A bearer token or personal access token (JIRA Data Center, GitHub, GitLab).
    Bearer,
    /// OAuth 2.0 authorization code with PKCE; the host runs the flow and refreshes tokens.
    #[serde(rename = "oauth2-authorization-code")]
    OAuth2AuthorizationCode,
    /// OAuth 2.0 client credentials.
    #[serde(rename = "oauth2-client-credentials")]
    OAuth2ClientCredentials,
    /// Google service account, JWT bearer grant (RFC 7523).
    GoogleServiceAccount,
    /// Form login with a session cookie kept by the host (IBM DOORS Next).
    FormLogin,
}

/// The internal model a stream's records are transformed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// [`crate::Document`] records.
    Document,
    /// [`crate::WorkItem`] records.
    WorkItem,
    /// [`crate::Comment`] records.
    Comment,
    /// [`crate::Requirement`] records.
    Requirement,
    /// [`crate::TraceLink`] records.
    TraceLink,
    /// [`crate::Person`] records.
    Person,
    /// [`crate::RawRecord`]s: data the internal models do not cover.
    Raw,
}

impl RecordKind {
    /// The contract's name of the kind (`work-item`, …), for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Document => "document",
            RecordKind::WorkItem => "work-item",
            RecordKind::Comment => "comment",
            RecordKind::Requirement => "requirement",
            RecordKind::TraceLink => "trace-link",
            RecordKind::Person => "person",
            RecordKind::Raw => "raw",
        }
    }
}

/// One page of a stream: what `read` returns. The host stores the records, the deletions and
/// `state` in one transaction and calls `read` again with `state` while `has_more` is true.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<RecordData>,
    /// Records of this stream that are gone at the source (deleted, trashed, no longer
    /// visible), as an incremental read learns of them (a changes feed's removals, say): the
    /// host marks each deleted in the page's transaction and unmirrors its document, rather
    /// than waiting for the next full sync to notice. Sent after the page's records, so a
    /// record listed here and in `records` ends deleted; one the host does not have is
    /// ignored. [`Page::with_deleted`] adds one.
    pub deleted: Vec<Deleted>,
    /// Opaque state for the next `read` (a cursor, a timestamp, …). The same state must always
    /// yield the page after it: no page skipped, no record repeated. Keep it small.
    pub state: String,
    /// Whether another page follows now; `false` ends this sync run.
    pub has_more: bool,
}

impl Page {
    /// The same page, also reporting that the record `external_id` of `kind` is gone.
    ///
    /// ```
    /// use agentic_sdk::{Deleted, Page, RecordKind};
    /// let page = Page::default().with_deleted(Deleted::new("file-9", RecordKind::Document));
    /// assert_eq!(page.deleted[0].external_id, "file-9");
    /// ```
    pub fn with_deleted(mut self, deleted: Deleted) -> Self {
        self.deleted.push(deleted);
        self
    }
}

/// A record the service says is gone: its external id, as its records carried it, and the
/// model it was stored as (a stream holds one kind, so usually the stream's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Deleted {
    /// The service's id of the record that is gone.
    pub external_id: String,
    /// Its internal model.
    pub kind: RecordKind,
}

impl Deleted {
    /// The record `external_id` of `kind` is gone.
    pub fn new(external_id: impl Into<String>, kind: RecordKind) -> Self {
        Self {
            external_id: external_id.into(),
            kind,
        }
    }
}

/// Severity of a log line sent to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the connector handled.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// Lower-case name, as printed by the native harness.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_kinds_use_the_contract_names() {
        let names: Vec<AuthKind> = serde_json::from_value(serde_json::json!([
            "anonymous",
            "api-token",
            "basic",
            "bearer",
            "oauth2-authorization-code",
            "oauth2-client-credentials",
            "google-service-account",
            "form-login"
        ]))
        .expect("every contract name parses");
        assert_eq!(names.len(), 8);
        assert_eq!(names[4], AuthKind::OAuth2AuthorizationCode);
        assert_eq!(names[6], AuthKind::GoogleServiceAccount);
    }

    #[test]
    fn a_new_stream_carries_its_kind_schema_and_is_full_refresh() {
        let s = StreamSpec::new("issues", RecordKind::WorkItem).with_description("Issues");
        assert!(!s.incremental);
        assert_eq!(s.schema, RecordKind::WorkItem.schema());
        assert!(s.incremental().incremental);
    }
}
