//! Reading GitLab's lists: pages, states and the streams built on them.
//!
//! **Oldest first by `updated_at`, from `updated_after`.** Every list asks
//! `order_by=updated_at&sort=asc&updated_after=<the newest update time read>` (inclusive at
//! GitLab: the items already read at exactly that time are dropped), the same scheme as
//! GitHub's `since` ([`Ascending`]). A run's state is that time, so the next run reads only what
//! changed.
//!
//! **Keyset pages where GitLab offers them.** The issues list asks `pagination=keyset`
//! (GitLab 18.3 and later): the answer's `Link: rel="next"` carries a cursor on
//! (`updated_at`, `id`), stable under edits, and the next page follows it (its query, on the
//! connection's own base URL: a self-managed instance with a wrong `external_url` writes links
//! to another host). Lists without keyset pagination (merge requests, notes, and issues on an
//! older GitLab, which ignores the parameter) answer with `x-next-page`; those pages ask again
//! from the newest time read, and use page numbers only while a whole page shares one time —
//! an offset into a list that shifts under edits would skip items.
//!
//! **Notes** have no project-wide list: the `comments` stream walks the issues, then the merge
//! requests, changed since the last run (a new note changes its item's `updated_at`), and reads
//! each one's notes, a page per call. An item that disappeared meanwhile (`404`) is skipped.
//! `people` walks the same way, for the notes' authors.
//!
//! **Approvals** of a merge request (`…/merge_requests/:iid/approvals`) are read with each
//! merge request the `merge-requests` stream reads (one request each): there is no list of
//! approvals to ask what changed, so an approval is seen when its merge request's `updated_at`
//! moves.

use agentic_sdk::http::{endpoint, Request, Response};
use agentic_sdk::paging::resume;
use agentic_sdk::{Error, LogLevel, Page, RecordData};
use serde::{Deserialize, Serialize};

use super::model::{self, Approvals, Item, Kind, Note};
use super::{error_for_status, json, project_path, send};
use crate::config::Config;
use crate::github::state::{Ascending, Seen};

/// Usernames a `people` run remembers to return each person once.
const MAX_REMEMBERED_PEOPLE: usize = 2000;

/// Where a list stands: the `updated_after` scheme's state, and the keyset `next` page of the
/// run under way (its query).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListState {
    /// The newest update time read, the ids read at it, the page number (offset lists).
    #[serde(default)]
    pub at: Ascending,
    /// The query of the `Link: rel="next"` of a keyset page, while the run goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The list's own URL: `projects/:id/issues` or `…/merge_requests`.
fn list_base(config: &Config, kind: Kind) -> Result<String, Error> {
    endpoint(&format!("{}/{}", project_path(config)?, kind.collection()))
}

/// The first request of a list from `at`.
fn list_url(config: &Config, kind: Kind, at: &Ascending) -> Result<String, Error> {
    let mut request = Request::get(list_base(config, kind)?);
    if kind == Kind::Issue && at.page == 1 {
        request = request.query("pagination", "keyset");
    }
    request = request
        .query("scope", "all")
        .query("order_by", "updated_at")
        .query("sort", "asc")
        .query("per_page", config.per_page.to_string());
    if kind == Kind::MergeRequest {
        request = request.query("state", "all");
    }
    if let Some(since) = &at.since {
        request = request.query("updated_after", since);
    }
    if at.page > 1 {
        request = request.query("page", at.page.to_string());
    }
    Ok(request.url)
}

/// `x-next-page`, when the answer has it: `Some(true)` when a page follows (offset pages).
fn offset_more(response: &Response) -> Option<bool> {
    response.header("x-next-page").map(|n| !n.trim().is_empty())
}

/// One page of a list: the items not read before, the next state, whether more follow.
pub fn page(
    config: &Config,
    kind: Kind,
    state: &ListState,
) -> Result<(Vec<Item>, ListState, bool), Error> {
    let url = match &state.next {
        Some(query) => format!("{}?{query}", list_base(config, kind)?),
        None => list_url(config, kind, &state.at)?,
    };
    let response = error_for_status(config, send(&url)?)?;
    let items: Vec<Item> = json(&response)?;
    let seen: Vec<Seen> = items.iter().map(Item::seen).collect();
    let (cursor, more) = match offset_more(&response) {
        Some(more) => (None, more),
        None => {
            let query = response
                .next_link()
                .and_then(|link| link.split_once('?').map(|(_, q)| q.to_owned()));
            let more = query.is_some();
            (query, more)
        }
    };
    let (mut at, more) = state.at.after(&seen, more, None);
    let next = cursor.filter(|_| more);
    if next.is_some() {
        // The cursor goes on from the last item: no page numbers.
        at.page = 1;
    }
    let fresh = items
        .into_iter()
        .zip(&seen)
        .filter(|(_, s)| !state.at.already_read(s))
        .map(|(item, _)| item)
        .collect();
    Ok((fresh, ListState { at, next }, more))
}

fn page_of(
    records: Vec<RecordData>,
    state: &impl Serialize,
    has_more: bool,
) -> Result<Page, Error> {
    Ok(Page {
        records,
        state: serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?,
        has_more,
        deleted: Vec::new(),
    })
}

/// `issues` and `merge-requests`: a page of work items; each merge request with its
/// approvers, one request each (so at most `per_page` more a page).
pub fn items(config: &Config, kind: Kind, state: Option<&str>) -> Result<Page, Error> {
    let at: ListState = resume(state)?;
    let project = config.gitlab_project()?;
    let (items, next, more) = page(config, kind, &at)?;
    let mut records = Vec::with_capacity(items.len());
    for item in &items {
        let approved_by = match kind {
            Kind::Issue => None,
            Kind::MergeRequest => approvals(config, item, project)?,
        };
        records.push(model::work_item(
            project,
            kind,
            item,
            approved_by.as_deref(),
        ));
    }
    page_of(records, &next, more)
}

/// The usernames of a merge request's approvers (`GET …/merge_requests/:iid/approvals`);
/// `None` when it was deleted since it was listed.
fn approvals(config: &Config, item: &Item, project: &str) -> Result<Option<Vec<String>>, Error> {
    let url = endpoint(&format!(
        "{}/merge_requests/{}/approvals",
        project_path(config)?,
        item.iid
    ))?;
    let response = send(&url)?;
    if response.status == 404 {
        agentic_sdk::host::log(
            LogLevel::Info,
            &format!(
                "{}: gone since it was listed, its approvals not read",
                item.key(project, Kind::MergeRequest.sigil())
            ),
        );
        return Ok(None);
    }
    let approvals: Approvals = json(&error_for_status(config, response)?)?;
    Ok(Some(approvals.usernames()))
}

/// Which list a stream over both is reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Phase {
    /// The issues.
    #[default]
    Issues,
    /// The merge requests.
    MergeRequests,
    /// Both read (the `comments` stream may still have notes to read).
    Done,
}

/// An item whose notes the `comments` stream reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Noteable {
    merge_request: bool,
    iid: u64,
    key: String,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// The state of the streams over issues and merge requests (`people`, `trace-links`,
/// `comments`): each list's, which one is read, and what the stream itself needs.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Both {
    #[serde(default)]
    phase: Phase,
    #[serde(default)]
    issues: ListState,
    #[serde(default)]
    merge_requests: ListState,
    /// `people`: the usernames this run returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    returned: Vec<String>,
    /// `comments` and `people`: the items whose notes are still to read, the first one being
    /// read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queue: Vec<Noteable>,
    /// `comments` and `people`: the page of the first item's notes.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    notes_page: u32,
}

impl Default for Both {
    fn default() -> Self {
        Self {
            phase: Phase::Issues,
            issues: ListState::default(),
            merge_requests: ListState::default(),
            returned: Vec::new(),
            queue: Vec::new(),
            notes_page: 1,
        }
    }
}

impl Both {
    fn resume(state: Option<&str>) -> Result<Self, Error> {
        let mut both: Both = resume(state)?;
        if both.phase == Phase::Done && both.queue.is_empty() {
            both.phase = Phase::Issues;
        }
        Ok(both)
    }

    /// The next page of the list being read; moves to the next list at its end.
    fn page(&mut self, config: &Config) -> Result<(Kind, Vec<Item>), Error> {
        let (kind, list) = match self.phase {
            Phase::MergeRequests => (Kind::MergeRequest, &mut self.merge_requests),
            _ => (Kind::Issue, &mut self.issues),
        };
        let (items, next, more) = page(config, kind, list)?;
        *list = next;
        if !more {
            self.phase = match kind {
                Kind::Issue => Phase::MergeRequests,
                Kind::MergeRequest => Phase::Done,
            };
        }
        Ok((kind, items))
    }

    /// Whether the run goes on; at its end, the state the next run starts from.
    fn finish(&mut self) -> bool {
        let more = self.phase != Phase::Done || !self.queue.is_empty();
        if !more {
            self.phase = Phase::Issues;
            self.returned.clear();
            self.notes_page = 1;
        }
        more
    }
}

/// `people`: authors and assignees of the changed issues and merge requests and the authors
/// of their notes (read as `comments` reads them), each once a run.
pub fn people(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let mut both = Both::resume(state)?;
    let (items, notes) = notes_step(config, &mut both)?;
    let mut records = Vec::new();
    let people = items
        .iter()
        .flat_map(model::people)
        .chain(notes.iter().filter_map(|(_, n)| model::note_author(n)));
    for person in people {
        let id = person.external_id().to_owned();
        if !both.returned.contains(&id) {
            if both.returned.len() < MAX_REMEMBERED_PEOPLE {
                both.returned.push(id);
            }
            records.push(person);
        }
    }
    let more = both.finish();
    page_of(records, &both, more)
}

/// `trace-links`: keys named in titles and descriptions.
pub fn trace_links(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let patterns = config.patterns()?;
    let project = config.gitlab_project()?;
    let mut both = Both::resume(state)?;
    let (kind, items) = both.page(config)?;
    let records = items
        .iter()
        .flat_map(|i| model::trace_links(project, kind, i, &patterns))
        .collect();
    let more = both.finish();
    page_of(records, &both, more)
}

/// `comments`: a page of the first queued item's notes, or, with none queued, the next page of
/// changed items to queue.
pub fn notes(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let mut both = Both::resume(state)?;
    let (_, notes) = notes_step(config, &mut both)?;
    let records = notes
        .iter()
        .filter_map(|(key, n)| model::note(key, n))
        .collect();
    let more = both.finish();
    page_of(records, &both, more)
}

/// What a step of the notes walk read: items of a list page, or a page of one item's notes,
/// each with the item's key.
type Step = (Vec<Item>, Vec<(String, Note)>);

/// One step of a walk over the notes of changed items: a page of the first queued item's notes
/// (each with the item's key), or, with none queued, the next page of changed items (returned,
/// and those with notes queued).
fn notes_step(config: &Config, both: &mut Both) -> Result<Step, Error> {
    let project = config.gitlab_project()?;
    let Some(item) = both.queue.first().cloned() else {
        let (kind, items) = both.page(config)?;
        both.queue = items
            .iter()
            // GitLab counts the notes people wrote: none, nothing to read.
            .filter(|i| i.user_notes_count != Some(0))
            .map(|i| Noteable {
                merge_request: kind == Kind::MergeRequest,
                iid: i.iid,
                key: i.key(project, kind.sigil()),
            })
            .collect();
        return Ok((items, Vec::new()));
    };
    let collection = if item.merge_request {
        Kind::MergeRequest
    } else {
        Kind::Issue
    }
    .collection();
    let mut request = Request::get(endpoint(&format!(
        "{}/{collection}/{}/notes",
        project_path(config)?,
        item.iid
    ))?)
    .query("sort", "asc")
    .query("order_by", "updated_at")
    .query("per_page", config.per_page.to_string());
    if both.notes_page > 1 {
        request = request.query("page", both.notes_page.to_string());
    }
    let response = send(&request.url)?;
    let (notes, more) = if response.status == 404 {
        agentic_sdk::host::log(
            LogLevel::Info,
            &format!("{}: gone since it was listed, its notes skipped", item.key),
        );
        (Vec::new(), false)
    } else {
        let response = error_for_status(config, response)?;
        let notes: Vec<Note> = json(&response)?;
        let more = offset_more(&response).unwrap_or(false) && !notes.is_empty();
        (notes, more)
    };
    if more {
        both.notes_page += 1;
    } else {
        both.queue.remove(0);
        both.notes_page = 1;
    }
    let key = item.key;
    Ok((
        Vec::new(),
        notes.into_iter().map(|n| (key.clone(), n)).collect(),
    ))
}
