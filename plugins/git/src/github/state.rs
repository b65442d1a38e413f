//! Stream states of the GitHub streams: where a run stands, where the next run starts, and the
//! ETag that lets an unchanged repository cost no rate limit.
//!
//! **Oldest first, with `since`** ([`Ascending`]: issues, comments). GitHub's `Link: rel="next"`
//! walks pages of one query; but a list sorted by update time shifts under edits: an item edited
//! while the run reads moves to the end, every later item moves up one place, and the one that
//! crosses a page boundary would be skipped — for good, since it is older than where the next
//! run starts. So each page asks again from the newest update time read so far (`since`, the
//! first page) and drops the items already read at exactly that time; the `Link` header says whether more
//! follow, and page numbers are used only while a whole page shares one update time (a bulk
//! edit). Nothing is skipped; an item edited while it is read comes twice (stored once).
//!
//! **Newest first** ([`Descending`]: pull requests, whose list has no `since`, and the walk over
//! their reviews). Pages of
//! `sort=updated&direction=desc` are read until an item older than the last run's newest; an
//! item edited meanwhile moves to the front (read by the next run, which starts from this run's
//! newest) and pushes the rest down (one item read twice, none skipped).
//!
//! **ETags.** A run's first request carries `If-None-Match` with the ETag of the same URL's last
//! answer; GitHub's `304 Not Modified` costs no rate limit and ends the run with nothing read.

use agentic_sdk::time::parse_rfc3339;
use serde::{Deserialize, Serialize};

/// The ETag of a URL's last answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Etag {
    /// The URL (with its query) the answer was to.
    pub url: String,
    /// The `ETag` header, sent back as `If-None-Match`.
    pub value: String,
}

/// What one page of an answer held, for the state: each item's update time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `updated_at` as GitHub wrote it (`2017-10-10T16:00:00Z`).
    pub updated: String,
    /// The item's id.
    pub id: u64,
}

/// Orders two GitHub times (by instant; strings that are not times compare as text).
fn cmp_time(a: &str, b: &str) -> std::cmp::Ordering {
    match (parse_rfc3339(a), parse_rfc3339(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Serde helpers of the states here and in `reviews`: page 1 is the default, and left out.
pub(super) fn one() -> u32 {
    1
}

pub(super) fn is_one(page: &u32) -> bool {
    *page == 1
}

/// A `false` flag is left out.
pub(super) fn not(b: &bool) -> bool {
    !*b
}

/// The state of a stream read oldest first with `since` (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ascending {
    /// The newest update time read: the next request's `since` (inclusive at GitHub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Ids of the items read at exactly `since`, dropped when they come again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_since: Vec<u64>,
    /// Page of the `since` query (above 1 only while whole pages share one time).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub page: u32,
    /// A run is under way (false: the next read starts a run, and may ask conditionally).
    #[serde(default, skip_serializing_if = "not")]
    pub running: bool,
    /// The ETag of the last answer of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<Etag>,
}

impl Default for Ascending {
    fn default() -> Self {
        Self {
            since: None,
            at_since: Vec::new(),
            page: 1,
            running: false,
            etag: None,
        }
    }
}

impl Ascending {
    /// Whether the item was read on an earlier page (or run): drop it.
    pub fn already_read(&self, item: &Seen) -> bool {
        self.since.as_deref() == Some(item.updated.as_str()) && self.at_since.contains(&item.id)
    }

    /// The `If-None-Match` for a request to `url`: only a run's first request asks
    /// conditionally, with the ETag GitHub gave for the very same URL.
    pub fn if_none_match(&self, url: &str) -> Option<&str> {
        self.etag
            .as_ref()
            .filter(|e| !self.running && e.url == url)
            .map(|e| e.value.as_str())
    }

    /// The state after a page: `seen` lists every item GitHub returned (already-read ones
    /// included), `more` whether its `Link` header names a next page, `etag` the answer's.
    /// Returns the state and whether the run goes on.
    pub fn after(&self, seen: &[Seen], more: bool, etag: Option<Etag>) -> (Self, bool) {
        let newest = seen
            .iter()
            .map(|s| s.updated.as_str())
            .max_by(|a, b| cmp_time(a, b));
        let mut next = match newest {
            None => Self {
                page: 1,
                ..self.clone()
            },
            Some(t)
                if self
                    .since
                    .as_deref()
                    .is_some_and(|s| cmp_time(t, s).is_le()) =>
            {
                // The whole page shares the time asked from: go on by page number.
                let mut at_since = self.at_since.clone();
                at_since.extend(seen.iter().map(|s| s.id));
                at_since.sort_unstable();
                at_since.dedup();
                Self {
                    at_since,
                    page: if more { self.page + 1 } else { 1 },
                    ..self.clone()
                }
            }
            Some(t) => Self {
                since: Some(t.to_owned()),
                at_since: seen
                    .iter()
                    .filter(|s| s.updated == t)
                    .map(|s| s.id)
                    .collect(),
                page: 1,
                ..self.clone()
            },
        };
        let more = more && newest.is_some();
        next.running = more;
        if !more {
            next.etag = etag;
        }
        (next, more)
    }
}

/// The state of a stream read newest first, without `since` (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descending {
    /// The newest update time of the last complete run: this run stops below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Ids read at exactly `since` by the runs before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_since: Vec<u64>,
    /// The page to read (1 at the start of a run).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub page: u32,
    /// The newest update time this run has read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// Ids this run read at exactly `newest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_newest: Vec<u64>,
    /// The ETag of the first page (of this run while it runs, else of the last run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<Etag>,
}

impl Default for Descending {
    fn default() -> Self {
        Self {
            since: None,
            at_since: Vec::new(),
            page: 1,
            newest: None,
            at_newest: Vec::new(),
            etag: None,
        }
    }
}

/// What to do with one item of a newest-first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// New or changed since the last run: a record.
    Read,
    /// Read by the last run at the time it stopped at: skip it.
    Skip,
    /// Older than the last run's newest: it and everything after it was read already.
    Stop,
}

impl Descending {
    /// The `If-None-Match` for `url`: a run's first page asks conditionally.
    pub fn if_none_match(&self, url: &str) -> Option<&str> {
        self.etag
            .as_ref()
            .filter(|e| self.page == 1 && e.url == url)
            .map(|e| e.value.as_str())
    }

    /// Whether `item` is new to this sync.
    pub fn take(&self, item: &Seen) -> Take {
        match &self.since {
            None => Take::Read,
            Some(since) => match cmp_time(&item.updated, since) {
                std::cmp::Ordering::Less => Take::Stop,
                std::cmp::Ordering::Equal if self.at_since.contains(&item.id) => Take::Skip,
                _ => Take::Read,
            },
        }
    }

    /// The state after a page: `seen` every item GitHub returned, `more` whether its `Link`
    /// names a next page, `etag` the answer's. Returns the state and whether the run goes on.
    pub fn after(&self, seen: &[Seen], more: bool, etag: Option<Etag>) -> (Self, bool) {
        let mut next = self.clone();
        if self.page == 1 {
            next.etag = etag;
        }
        for s in seen {
            let newer = next
                .newest
                .as_deref()
                .is_none_or(|n| cmp_time(&s.updated, n).is_gt());
            if newer {
                next.newest = Some(s.updated.clone());
                next.at_newest = vec![s.id];
            } else if next.newest.as_deref() == Some(s.updated.as_str()) {
                next.at_newest.push(s.id);
            }
        }
        let stopped = seen.iter().any(|s| self.take(s) == Take::Stop);
        let more = more && !stopped && !seen.is_empty();
        if more {
            next.page = self.page + 1;
            return (next, true);
        }
        // The run is complete: the next one stops below what this one saw first.
        match next.newest.take() {
            Some(n) if next.since.as_deref() == Some(n.as_str()) => {
                next.at_since.append(&mut next.at_newest);
                next.at_since.sort_unstable();
                next.at_since.dedup();
            }
            Some(n)
                if next
                    .since
                    .as_deref()
                    .is_none_or(|s| cmp_time(&n, s).is_gt()) =>
            {
                next.since = Some(n);
                next.at_since = std::mem::take(&mut next.at_newest);
            }
            _ => {}
        }
        next.at_newest.clear();
        next.page = 1;
        (next, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(minute: u32, id: u64) -> Seen {
        Seen {
            updated: format!("2026-01-01T10:{minute:02}:00Z"),
            id,
        }
    }

    #[test]
    fn a_run_ending_inside_one_instant_starts_the_next_at_page_one() {
        let at = Ascending {
            since: Some(seen(5, 0).updated),
            at_since: vec![1],
            ..Ascending::default()
        };
        // A whole page at the instant asked from, more to come: page 2 of the same query.
        let (next, more) = at.after(&[seen(5, 1), seen(5, 2)], true, None);
        assert!(more);
        assert_eq!((next.page, next.at_since.clone()), (2, vec![1, 2]));
        // The last page shares the instant too: the run ends, and the next one asks page 1
        // again (page 2 would hide what is edited meanwhile, listed after the instant's items).
        let (last, more) = next.after(&[seen(5, 3)], false, None);
        assert!(!more);
        assert_eq!((last.page, last.running), (1, false));
        assert!(last.already_read(&seen(5, 3)) && !last.already_read(&seen(6, 3)));
    }

    #[test]
    fn newest_first_stops_at_the_last_runs_newest() {
        let first = Descending::default();
        let (mid, more) = first.after(&[seen(9, 1), seen(8, 2)], true, None);
        assert!(more && mid.page == 2);
        let (done, more) = mid.after(&[seen(7, 3)], false, None);
        assert!(!more);
        assert_eq!(
            (done.since.clone(), done.at_since.clone()),
            (Some(seen(9, 0).updated), vec![1])
        );
        assert_eq!(done.take(&seen(9, 1)), Take::Skip);
        assert_eq!(done.take(&seen(9, 4)), Take::Read);
        assert_eq!(done.take(&seen(10, 2)), Take::Read);
        assert_eq!(done.take(&seen(8, 2)), Take::Stop);
        // A page that reaches older items ends the run even when GitHub has more pages.
        let (_, more) = done.after(&[seen(10, 2), seen(8, 5)], true, None);
        assert!(!more);
    }
}
