//! What one page of a sync writes: its records ([`NewRecord`]), the records it reports gone at
//! the source ([`DeletedRecord`]), and the stream's state after it ([`SyncState`]). Plain values
//! that the page's write, its mirror into documents and the record reads share.

use std::borrow::Cow;

use crate::clock::Millis;

/// Where a stream's sync got to.
#[derive(Debug, Clone, Default)]
pub struct SyncState {
    /// The plugin's opaque state after the last stored page (`None`: from the start).
    pub state: Option<String>,
    /// The full-refresh cycle; records not seen by a completed cycle are deleted.
    pub cycle: i64,
    /// Whether the last run read to the end.
    pub complete: bool,
}

/// A record to store. Borrowed or owned: the sync engine stores the records a plugin read
/// without copying them again.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    /// The model: `work_item`, `comment`, `requirement`, `trace_link`, `person`, `document`,
    /// `raw`.
    pub kind: &'static str,
    /// The service's id.
    pub external_id: Cow<'a, str>,
    /// What people search by.
    pub title: Cow<'a, str>,
    /// Workflow status, where the model has one.
    pub status: Option<Cow<'a, str>>,
    /// When the service last changed it.
    pub source_updated_at: Option<Millis>,
    /// The whole record (JSON object).
    pub data: Cow<'a, str>,
}

/// A record a page reports gone at the source (contract 0.3.0): that record of the page's
/// connection and stream, if it has this kind.
#[derive(Debug, Clone)]
pub struct DeletedRecord<'a> {
    /// The model it was stored as.
    pub kind: &'static str,
    /// The service's id.
    pub external_id: Cow<'a, str>,
}
