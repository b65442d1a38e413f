//! Stream states for the paging shapes real APIs have, so a `read` resumes exactly where the last
//! page ended: no page skipped, no record repeated (what the acceptance suite checks).
//!
//! Each state is small, serialises to the page's `state` string, and is read back with
//! `resume(state)`. The `read` of a stream then follows one pattern: resume, fetch the page the
//! state names, build the [`Page`] with the state's `page` method.
//!
//! | the API pages by | use | what a sync guarantees |
//! |---|---|---|
//! | an opaque cursor / next token (`nextPageToken`, `cursor`) | [`Cursor`](crate::paging::Cursor) | what the service's cursor guarantees |
//! | a `Link: <…>; rel="next"` header (GitHub, GitLab) | [`NextLink`](crate::paging::NextLink) | the same, by URL |
//! | `offset`/`limit` with a `total` | [`Offset`](crate::paging::Offset) | a full read of a list that does not change meanwhile |
//! | page numbers with an `updated_since` filter (helpdesks) | [`Since`](crate::paging::Since) | no record skipped, even one edited mid-sync; a record may come twice in one run when it is edited while read |
//! | keyset on `(updated, id)` | [`Keyset`](crate::paging::Keyset) | no record skipped or repeated, edits mid-sync included |
//!
//! States are JSON objects, so a state written by one version of a connector stays readable
//! when fields are added (unknown fields are refused: a state from another stream is an error,
//! not a silent restart).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::records::RecordData;
use crate::types::Page;

/// Reads a stream's state of type `T` (`None` or empty: the first run, `T::default()`); a
/// state that is not a `T` is `InvalidInput` naming it. For connectors whose state is a
/// type of their own (several cursors, an ETag beside a paging state).
pub fn resume<T: DeserializeOwned + Default>(state: Option<&str>) -> Result<T, Error> {
    match state {
        None | Some("") => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("not a state of this stream ({e}): {s:?}"))),
    }
}

fn page<T: Serialize>(records: Vec<RecordData>, state: &T, has_more: bool) -> Page {
    Page {
        records,
        // A struct of strings and integers always serialises.
        state: serde_json::to_string(state).unwrap_or_default(),
        has_more,
        deleted: Vec::new(),
    }
}

/// An opaque cursor handed back by the service (`nextPageToken`, `next_cursor`, …).
///
/// ```
/// use agentic_sdk::paging::Cursor;
/// // First read: no cursor yet.
/// let state = Cursor::resume(None).unwrap();
/// assert_eq!(state.cursor(), None);
/// // The service answered with records and `"nextPageToken": "abc"`.
/// let page = state.page(vec![], Some("abc".into()));
/// assert!(page.has_more);
/// // The next read sends `pageToken=abc`.
/// let state = Cursor::resume(Some(&page.state)).unwrap();
/// assert_eq!(state.cursor(), Some("abc"));
/// // The last page has no token: the run ends; a later run starts over.
/// assert!(!state.page(vec![], None).has_more);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl Cursor {
    /// The state `read` was given (`None`: the first page).
    pub fn resume(state: Option<&str>) -> Result<Self, Error> {
        resume(state)
    }

    /// The cursor to send, `None` for the first page.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// This page, with the service's next cursor (`None` on its last page).
    pub fn page(&self, records: Vec<RecordData>, next: Option<String>) -> Page {
        let has_more = next.is_some();
        page(records, &Cursor { cursor: next }, has_more)
    }
}

/// The `rel="next"` URL of a `Link` header ([`crate::http::Response::next_link`]).
///
/// ```
/// use agentic_sdk::paging::NextLink;
/// let state = NextLink::resume(None).unwrap();
/// let first = "https://api.example.com/issues?per_page=100";
/// assert_eq!(state.url(first), first);
/// // The answer carried `Link: <https://api.example.com/issues?page=2&per_page=100>; rel="next"`.
/// let page = state.page(vec![], Some("https://api.example.com/issues?page=2&per_page=100".into()));
/// let state = NextLink::resume(Some(&page.state)).unwrap();
/// assert_eq!(state.url(first), "https://api.example.com/issues?page=2&per_page=100");
/// ```
///
/// The host's egress rules still apply to the URL the service hands back: a `next` link outside
/// the connection's base URL is refused, whatever the service says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextLink {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

impl NextLink {
    /// The state `read` was given.
    pub fn resume(state: Option<&str>) -> Result<Self, Error> {
        resume(state)
    }

    /// The URL to fetch: the stored next link, else `first`.
    pub fn url<'a>(&'a self, first: &'a str) -> &'a str {
        self.next.as_deref().unwrap_or(first)
    }

    /// This page, with the answer's next link (`None` on the last page).
    pub fn page(&self, records: Vec<RecordData>, next: Option<String>) -> Page {
        let has_more = next.is_some();
        page(records, &NextLink { next }, has_more)
    }
}

/// `offset`/`limit` paging, with the `total` the service reports when it does.
///
/// Guarantee: a full read of a list that does not change while it is read. A record inserted
/// or deleted before the offset meanwhile shifts the rest by one (one record skipped or read
/// twice); prefer [`Keyset`] where the API can sort and filter by a key.
///
/// ```
/// use agentic_sdk::paging::Offset;
/// let state = Offset::resume(None).unwrap();
/// assert_eq!(state.offset(), 0);
/// // 100 records came back, the service says there are 250.
/// let page = state.page(vec![], 100, Some(250));
/// let state = Offset::resume(Some(&page.state)).unwrap();
/// assert_eq!(state.offset(), 100);
/// // Without a total, a short page is the last one.
/// assert!(!state.page(vec![], 40, None).has_more);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offset {
    offset: u64,
    /// The page size the first page was asked with; a short page ends the run when there is
    /// no total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
}

impl Offset {
    /// The state `read` was given.
    pub fn resume(state: Option<&str>) -> Result<Self, Error> {
        resume(state)
    }

    /// The offset to ask for.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// This page: `received` records came back (the page's length as the service counted it,
    /// before any filtering), and the service's `total`, if it reports one. Without a total,
    /// the run ends at the first page shorter than the first one.
    pub fn page(&self, records: Vec<RecordData>, received: u64, total: Option<u64>) -> Page {
        let offset = self.offset + received;
        let limit = self.limit.or(Some(received)).filter(|l| *l > 0);
        let has_more = match total {
            Some(total) => received > 0 && offset < total,
            None => received > 0 && limit.is_some_and(|l| received >= l),
        };
        page(records, &Offset { offset, limit }, has_more)
    }
}

/// Page numbers with an `updated_since` filter, sorted by update time: the common helpdesk
/// shape (`GET /tickets?updated_since=…&page=2&order_by=updated_at`).
///
/// Plain page numbers skip records: a ticket edited during the sync moves to the end of the
/// list, every later ticket moves up one place, and the one that crossed the page boundary is
/// never read — and never again, since its update time is older than the next sync's start.
/// So this state does not count pages within a run: each page asks again from the newest update
/// time read so far (`updated_since` inclusive, page 1), and drops the records already read at
/// exactly that time. Page numbers are used only while a whole page shares one update time.
///
/// Guarantee, with an inclusive `updated_since` and a stable order within one update time: no
/// record is skipped, including records edited mid-sync; a record edited while it is read can
/// come twice (the host stores it once, by external id). The next sync starts from the newest
/// update time read, so it fetches only what changed since, plus what shares that instant.
///
/// ```
/// use agentic_sdk::paging::Since;
/// let state = Since::resume(None).unwrap();
/// assert_eq!((state.updated_since(), state.page_number()), (None, 1));
/// // Page 1 brought tickets 7 (updated at 100) and 9 (updated at 120).
/// let page = state.page(vec![], &[(100, "7"), (120, "9")], true);
/// let state = Since::resume(Some(&page.state)).unwrap();
/// // The next request asks again from 120, page 1, and skips ticket 9 when it comes again.
/// assert_eq!((state.updated_since(), state.page_number()), (Some(120), 1));
/// assert!(state.already_read(120, "9"));
/// assert!(!state.already_read(120, "10"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The newest update time read (inclusive filter for the next request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    /// The records read at exactly `since`, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    at_since: Vec<String>,
    /// Page of the `since` query to ask for (above 1 only while pages share one time).
    #[serde(default = "first_page", skip_serializing_if = "is_first_page")]
    page: u32,
}

fn first_page() -> u32 {
    1
}

fn is_first_page(page: &u32) -> bool {
    *page == 1
}

impl Since {
    /// The state `read` was given.
    pub fn resume(state: Option<&str>) -> Result<Self, Error> {
        let mut state: Self = resume(state)?;
        state.page = state.page.max(1);
        Ok(state)
    }

    /// The `updated_since` to send (`None`: the first sync reads everything).
    pub fn updated_since(&self) -> Option<i64> {
        self.since
    }

    /// The page number to send.
    pub fn page_number(&self) -> u32 {
        self.page
    }

    /// Whether the record `id` updated at `updated` was read on an earlier page: drop it.
    pub fn already_read(&self, updated: i64, id: &str) -> bool {
        self.since == Some(updated) && self.at_since.iter().any(|r| r == id)
    }

    /// This page. `read` lists the `(updated, id)` of every record the service returned, in its
    /// order (already-read ones included); `more` is whether the service says another page
    /// follows.
    pub fn page(&self, records: Vec<RecordData>, read: &[(i64, &str)], more: bool) -> Page {
        let newest = read.iter().map(|(t, _)| *t).max();
        let mut next = match newest {
            // Nothing came back: the run ends where it stood.
            None => Since {
                page: 1,
                ..self.clone()
            },
            Some(t) if Some(t) == self.since => {
                // The whole page shares the time already asked from: go on by page number.
                let mut at_since = self.at_since.clone();
                at_since.extend(read.iter().map(|(_, id)| (*id).to_owned()));
                at_since.sort();
                at_since.dedup();
                Since {
                    since: self.since,
                    at_since,
                    page: self.page + 1,
                }
            }
            Some(t) => Since {
                since: Some(t),
                at_since: read
                    .iter()
                    .filter(|(u, _)| *u == t)
                    .map(|(_, id)| (*id).to_owned())
                    .collect(),
                page: 1,
            },
        };
        if !more {
            // The run ends here. The next one asks from `since` again at page 1: the records
            // of the shared instant are dropped as already read, and those changed since sort
            // after them. Starting at a later page would skip the first of those.
            next.page = 1;
        }
        page(records, &next, more && newest.is_some())
    }
}

/// Keyset paging on `(updated, id)`: the API is asked for records after the last one read
/// (`updated > u OR (updated = u AND id > i)`, sorted by both), as SQL-backed APIs and search
/// APIs with `search_after` allow.
///
/// Guarantee: no record skipped or repeated, edits mid-sync included (an edited record moves
/// past the key and is read later in the same run, once).
///
/// ```
/// use agentic_sdk::paging::Keyset;
/// let state = Keyset::resume(None).unwrap();
/// assert_eq!(state.after(), None);
/// let page = state.page(vec![], Some((1_700_000_000_000, "42".into())), true);
/// let state = Keyset::resume(Some(&page.state)).unwrap();
/// assert_eq!(state.after(), Some((1_700_000_000_000, "42")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

impl Keyset {
    /// The state `read` was given.
    pub fn resume(state: Option<&str>) -> Result<Self, Error> {
        resume(state)
    }

    /// The key to read after, `None` for the first page.
    pub fn after(&self) -> Option<(i64, &str)> {
        Some((self.updated?, self.id.as_deref()?))
    }

    /// This page, with the key of its last record (`None` when it was empty: the run ends where
    /// it stood, and the next sync asks from the same key).
    pub fn page(&self, records: Vec<RecordData>, last: Option<(i64, String)>, more: bool) -> Page {
        match last {
            Some((updated, id)) => page(
                records,
                &Keyset {
                    updated: Some(updated),
                    id: Some(id),
                },
                more,
            ),
            None => page(records, self, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A helpdesk API: tickets `(updated, id)`, `updated_since` inclusive, sorted by
    /// `(updated, id)`, pages of `size`.
    struct Helpdesk {
        tickets: Vec<(i64, String)>,
        size: usize,
    }

    impl Helpdesk {
        fn list(&self, since: Option<i64>, page: u32) -> (Vec<(i64, String)>, bool) {
            let mut all: Vec<_> = self
                .tickets
                .iter()
                .filter(|(t, _)| since.is_none_or(|s| *t >= s))
                .cloned()
                .collect();
            all.sort();
            let start = (page as usize - 1) * self.size;
            let end = (start + self.size).min(all.len());
            let items = all.get(start..end).unwrap_or_default().to_vec();
            (items, end < all.len())
        }

        fn edit(&mut self, id: &str, at: i64) {
            if let Some(t) = self.tickets.iter_mut().find(|(_, i)| i == id) {
                t.0 = at;
            }
        }
    }

    /// Reads a whole run with [`Since`], editing ticket `edit` after the first page.
    fn sync_with_since(
        api: &mut Helpdesk,
        state: Option<String>,
        edit: Option<(&str, i64)>,
    ) -> (Vec<String>, String) {
        let mut state = state;
        let mut seen = Vec::new();
        for n in 0.. {
            let s = Since::resume(state.as_deref()).expect("state");
            let (items, more) = api.list(s.updated_since(), s.page_number());
            let read: Vec<(i64, &str)> = items.iter().map(|(t, id)| (*t, id.as_str())).collect();
            seen.extend(
                read.iter()
                    .filter(|(t, id)| !s.already_read(*t, id))
                    .map(|(_, id)| (*id).to_owned()),
            );
            let page = s.page(Vec::new(), &read, more);
            state = Some(page.state);
            if n == 0 {
                if let Some((id, at)) = edit {
                    api.edit(id, at);
                }
            }
            if !page.has_more {
                break;
            }
        }
        (seen, state.unwrap_or_default())
    }

    fn helpdesk() -> Helpdesk {
        Helpdesk {
            tickets: (1..=9).map(|n| (n * 10, n.to_string())).collect(),
            size: 3,
        }
    }

    #[test]
    fn plain_page_numbers_skip_a_ticket_edited_mid_sync_and_since_does_not() {
        // Plain page numbers: ticket 2 is edited after page 1, so every later ticket moves up
        // one place and ticket 4 crosses into page 1, already read: it is never seen.
        let mut api = helpdesk();
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let (items, more) = api.list(None, page);
            seen.extend(items.into_iter().map(|(_, id)| id));
            if page == 1 {
                api.edit("2", 100);
            }
            if !more {
                break;
            }
            page += 1;
        }
        assert!(
            !seen.contains(&"4".to_owned()),
            "the naive walk skips ticket 4: {seen:?}"
        );

        // Since: every ticket is read; the edited one twice (stored once by the host).
        let mut api = helpdesk();
        let (seen, _) = sync_with_since(&mut api, None, Some(("2", 100)));
        for n in 1..=9 {
            assert!(
                seen.contains(&n.to_string()),
                "ticket {n} missing from {seen:?}"
            );
        }
        assert_eq!(seen.iter().filter(|id| *id == "2").count(), 2);
    }

    #[test]
    fn the_next_sync_reads_only_what_changed_and_pages_through_a_shared_instant() {
        let mut api = helpdesk();
        let (_, state) = sync_with_since(&mut api, None, None);
        // Nothing changed: the next run reads nothing new.
        let (seen, state) = sync_with_since(&mut api, Some(state), None);
        assert!(seen.is_empty(), "{seen:?}");
        // Seven tickets edited at one instant, more than a page: page numbers carry the run.
        for n in 1..=7 {
            api.edit(&n.to_string(), 500);
        }
        let (mut seen, state) = sync_with_since(&mut api, Some(state), None);
        seen.sort();
        assert_eq!(seen, ["1", "2", "3", "4", "5", "6", "7"]);
        // That run ended on a page of the shared instant: the next run starts again at page 1
        // of it, so a ticket edited since (sorted after the instant's seven) is read.
        api.edit("8", 600);
        let (seen, _) = sync_with_since(&mut api, Some(state), None);
        assert_eq!(seen, ["8"]);
    }

    #[test]
    fn states_round_trip_and_refuse_another_streams_state() {
        let page = Keyset::default().page(Vec::new(), Some((5, "a".into())), true);
        assert_eq!(
            Keyset::resume(Some(&page.state)).expect("state").after(),
            Some((5, "a"))
        );
        assert!(Cursor::resume(Some(&page.state)).is_err());
        assert!(Offset::resume(Some("not json")).is_err());
        let page = Offset::default().page(Vec::new(), 0, None);
        assert!(!page.has_more);
    }
}
