//! What the host keeps of a stream, played natively: [`Replica`] applies pages as the host's
//! sync stores them, so a connector's test can run a full read, change its fake service, run
//! an incremental read and assert on what a user would then see — records updated, and records
//! the connector reported gone ([`crate::Page::deleted`]) marked deleted.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Harness;
use crate::connector::Connector;
use crate::error::Error;
use crate::records::RecordData;
use crate::types::Page;

/// A stream's records as the host stores them, by external id, and the state its syncs got to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replica {
    records: BTreeMap<String, Stored>,
    state: Option<String>,
}

/// One stored record and whether it is deleted at the source.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    record: RecordData,
    deleted: bool,
}

/// What one [`Harness::sync`] did, as the host's sync report counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// Pages read.
    pub pages: u64,
    /// Records stored.
    pub records: u64,
    /// Records marked deleted (a deletion of a record the replica does not hold, or holds as
    /// another kind or deleted already, is not counted: the host ignores it too).
    pub deleted: u64,
}

impl Replica {
    /// An empty replica: nothing synced yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `page` as the host does in one transaction: its records upserted by external id
    /// (a record deleted before comes back), then its deletions marked, then its state kept.
    /// Returns how many records the deletions marked.
    pub fn apply(&mut self, page: &Page) -> u64 {
        for record in &page.records {
            self.records.insert(
                record.external_id().to_owned(),
                Stored {
                    record: record.clone(),
                    deleted: false,
                },
            );
        }
        let mut marked = 0;
        for gone in &page.deleted {
            if let Some(stored) = self.records.get_mut(&gone.external_id) {
                if stored.record.kind() == gone.kind && !stored.deleted {
                    stored.deleted = true;
                    marked += 1;
                }
            }
        }
        self.state = Some(page.state.clone());
        marked
    }

    /// The record `external_id`, deleted or not.
    pub fn get(&self, external_id: &str) -> Option<&RecordData> {
        self.records.get(external_id).map(|s| &s.record)
    }

    /// Whether the record `external_id` is held and marked deleted.
    pub fn is_deleted(&self, external_id: &str) -> bool {
        self.records.get(external_id).is_some_and(|s| s.deleted)
    }

    /// The external ids of the records not deleted, in order.
    pub fn live(&self) -> Vec<&str> {
        self.records
            .iter()
            .filter(|(_, s)| !s.deleted)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The state the last applied page ended at (where an incremental sync resumes).
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }
}

impl<C: Connector> Harness<C> {
    /// An incremental sync of `stream` into `replica`, as the host runs it: reads from the
    /// replica's state to the end of the stream, applying every page
    /// ([`Replica::apply`]).
    pub fn sync(
        &self,
        replica: &mut Replica,
        config: &Value,
        stream: &str,
    ) -> Result<Synced, Error> {
        let state = replica.state.clone();
        let pages = super::read_to_end(
            self,
            config,
            stream,
            state.as_deref(),
            super::DEFAULT_MAX_PAGES,
        )?;
        let mut synced = Synced::default();
        for page in &pages {
            synced.pages += 1;
            synced.records += page.records.len() as u64;
            synced.deleted += replica.apply(page);
        }
        Ok(synced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Document;
    use crate::types::{Deleted, RecordKind};

    fn doc(id: &str) -> RecordData {
        Document {
            external_id: id.into(),
            title: id.into(),
            ..Document::default()
        }
        .into()
    }

    #[test]
    fn deletions_mark_exactly_the_record_named_and_ignore_unknown_ones() {
        let mut replica = Replica::new();
        let first = Page {
            records: vec![doc("a"), doc("b")],
            state: "1".into(),
            ..Page::default()
        };
        assert_eq!(replica.apply(&first), 0);
        let second = Page {
            records: vec![doc("c")],
            state: "2".into(),
            ..Page::default()
        }
        .with_deleted(Deleted::new("a", RecordKind::Document))
        .with_deleted(Deleted::new("zz", RecordKind::Document))
        .with_deleted(Deleted::new("b", RecordKind::WorkItem));
        assert_eq!(replica.apply(&second), 1, "only `a` is a held document");
        assert!(replica.is_deleted("a"));
        assert_eq!(replica.live(), ["b", "c"]);
        assert_eq!(replica.state(), Some("2"));
        // Deleted again: already deleted, nothing counted. Sent again: it comes back.
        let again = Page::default().with_deleted(Deleted::new("a", RecordKind::Document));
        assert_eq!(replica.apply(&again), 0);
        let back = Page {
            records: vec![doc("a")],
            ..Page::default()
        };
        replica.apply(&back);
        assert!(!replica.is_deleted("a"));
    }
}
