//! The DOORS Next streams by the server's Tracked Resource Set (OSLC TRS 2.0/3.0), when
//! `rootservices` advertises one: the set is a *base* (the member resources, paged by LDP) and
//! a *change log* (Creation, Modification and Deletion events, each with a `trs:order`, newest
//! first, older segments linked by `trs:previous`).
//!
//! - The first run remembers the change log's newest event (the cutoff), then reads the base a
//!   page at a time, fetching each member: what changes meanwhile is both read here and
//!   replayed by the next run, which is harmless (records are upserted).
//! - Later runs walk the change log from its newest event back to the cutoff and apply the
//!   events after it, oldest first, `page_size` a read: a created or modified resource is
//!   fetched and emitted again (a resource modified several times in one read is fetched once).
//! - A change log that no longer reaches the cutoff (truncated, or rebased by the server) is a
//!   full re-read of the base.
//!
//! Deletions: a Deletion event of a resource is reported as the deletion of its requirement
//! (contract 0.3.0, `Page::deleted`) in the requirements stream, so the host marks it deleted
//! at once; the resource is gone, so its links (whose ids name its statements) cannot be named
//! and leave the links stream at its next full sync, which reads the base.
//!
//! The state stays small: the cutoff and the run's position (a base page and an offset, or the
//! last event applied and the run's target); each read walks the change log again from the
//! top rather than carrying the pending events.

use std::collections::HashMap;

use agentic_sdk::serde_json::{self, Value};
use agentic_sdk::{http, Deleted, Error, LogLevel, Page, RecordData, RecordKind};
use oxrdf::{Graph, NamedNodeRef, SubjectRef, TermRef};
use serde::{Deserialize, Serialize};

use super::discovery::{query_capabilities, QueryCapability, Shapes};
use super::streams::{links, requirement, REQUIREMENTS};
use super::{get_graph, get_graph_if_exists, iri, iris, ns, text};
use crate::config::Config;

/// Change log segments one read walks at most: a longer way back to the cutoff costs about as
/// much as the base, which is read instead.
pub const MAX_LOG_SEGMENTS: usize = 100;

const RDF_NIL: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil";

/// The Tracked Resource Set `rootservices` advertises (`trs:trackedResourceSet` of a TRS
/// provider, the one for the RM domain first), `None` when it advertises none.
pub fn discover(config: &Config) -> Result<Option<String>, Error> {
    let rootservices = http::endpoint("/rootservices")?;
    let graph = get_graph(config, &rootservices)?;
    let property = iri(ns::TRS, "trackedResourceSet");
    let mut found: Vec<(bool, String)> = graph
        .triples_for_predicate(NamedNodeRef::new_unchecked(&property))
        .filter_map(|t| match t.object {
            TermRef::NamedNode(n) => {
                let domains = iris(&graph, t.subject, &iri(ns::OSLC, "domain"));
                let rm = domains.iter().any(|d| d == ns::OSLC_RM);
                Some((!rm, n.as_str().to_owned()))
            }
            _ => None,
        })
        .collect();
    found.sort();
    Ok(found.into_iter().next().map(|(_, url)| url))
}

/// Whether `state` is a TRS read position (rather than a query run's).
pub fn is_trs_state(state: &str) -> bool {
    serde_json::from_str::<Value>(state).is_ok_and(|v| v.get("trs").is_some())
}

/// A change log event, by its order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Mark {
    /// `trs:order` (0: before any event, the change log was empty).
    order: u64,
    /// The event's URI (for messages).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    event: String,
}

/// Where a TRS read is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Position {
    /// The last event applied: later runs start after it. `None`: the base was never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cutoff: Option<Mark>,
    /// The run under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<Run>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
enum Run {
    /// Reading the base: `page` from member `offset`; `target` becomes the cutoff at the end.
    Base {
        page: String,
        offset: usize,
        target: Mark,
    },
    /// Applying the events after `done` up to `target`.
    Changes { target: Mark, done: Mark },
}

#[derive(Serialize, Deserialize)]
struct TrsState {
    trs: Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Creation,
    Modification,
    Deletion,
}

#[derive(Debug, Clone)]
struct Event {
    uri: String,
    order: u64,
    kind: Kind,
    changed: String,
}

/// The Tracked Resource Set's own document: the base's URL and the change log's first segment.
struct Head {
    base: String,
    events: Vec<Event>,
    previous: Option<String>,
}

impl Head {
    fn newest(&self) -> Mark {
        self.events
            .iter()
            .max_by_key(|e| e.order)
            .map(|e| Mark {
                order: e.order,
                event: e.uri.clone(),
            })
            .unwrap_or_default()
    }
}

/// One page of `stream` read through the Tracked Resource Set at `trs`.
pub fn read(config: &Config, stream: &str, state: Option<&str>, trs: &str) -> Result<Page, Error> {
    let mut position = match state {
        Some(s) if is_trs_state(s) => {
            serde_json::from_str::<TrsState>(s)
                .map_err(|e| {
                    Error::InvalidInput(format!("state {s:?} is not a TRS read position: {e}"))
                })?
                .trs
        }
        // No state, or a query run's (the server offers a TRS since): from the base.
        _ => Position::default(),
    };
    let mut reader = Reader {
        config,
        stream,
        trs,
        capabilities: query_capabilities(config)?,
        shapes: Shapes::default(),
    };
    match position.run.take() {
        Some(Run::Base {
            page,
            offset,
            target,
        }) => reader.base(position, page, offset, target),
        Some(Run::Changes { target, done }) => {
            let head = reader.head()?;
            reader.changes(position, head, target, done)
        }
        None => {
            let head = reader.head()?;
            let newest = head.newest();
            match position.cutoff.clone() {
                None => reader.base(position, head.base, 0, newest),
                Some(cutoff) if newest.order == cutoff.order => Ok(finish(cutoff, Vec::new())),
                Some(cutoff) if newest.order < cutoff.order => {
                    log_rebase(trs, &cutoff);
                    reader.base(position, head.base, 0, newest)
                }
                Some(cutoff) => reader.changes(position, head, newest, cutoff),
            }
        }
    }
}

fn log_rebase(trs: &str, cutoff: &Mark) {
    agentic_sdk::log(
        LogLevel::Warn,
        &format!(
            "the change log of {trs} no longer reaches event {} (order {}): reading the base again",
            cutoff.event, cutoff.order
        ),
    );
}

struct Reader<'a> {
    config: &'a Config,
    stream: &'a str,
    trs: &'a str,
    capabilities: Vec<QueryCapability>,
    shapes: Shapes,
}

impl Reader<'_> {
    fn head(&self) -> Result<Head, Error> {
        let graph = get_graph(self.config, self.trs)?;
        let set = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(self.trs));
        let base = iris(&graph, set, &iri(ns::TRS, "base"))
            .pop()
            .ok_or_else(|| Error::Internal(format!("{}: the TRS names no trs:base", self.trs)))?;
        let log = graph
            .objects_for_subject_predicate(
                set,
                NamedNodeRef::new_unchecked(&iri(ns::TRS, "changeLog")),
            )
            .find_map(as_subject);
        let (events, previous) = match log {
            Some(log) => segment(&graph, log),
            None => (Vec::new(), None),
        };
        Ok(Head {
            base,
            events,
            previous,
        })
    }

    /// One base page's members from `offset`, `page_size` of them.
    fn base(
        &mut self,
        mut position: Position,
        page: String,
        offset: usize,
        target: Mark,
    ) -> Result<Page, Error> {
        let graph = get_graph(self.config, &page)?;
        let mut members: Vec<String> = [iri(ns::RDFS, "member"), iri(ns::LDP, "member")]
            .iter()
            .flat_map(|p| {
                graph
                    .triples_for_predicate(NamedNodeRef::new_unchecked(p))
                    .filter_map(|t| match t.object {
                        TermRef::NamedNode(n) => Some(n.as_str().to_owned()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        members.sort();
        members.dedup();
        let next = graph
            .triples_for_predicate(NamedNodeRef::new_unchecked(&iri(ns::LDP, "nextPage")))
            .find_map(|t| match t.object {
                TermRef::NamedNode(n) if n.as_str() != RDF_NIL && n.as_str() != page => {
                    Some(n.as_str().to_owned())
                }
                _ => None,
            });
        let end = offset
            .saturating_add(self.config.page_size as usize)
            .min(members.len());
        let mut records = Vec::new();
        for member in members.get(offset..end).unwrap_or_default() {
            records.extend(self.records(member)?);
        }
        position.run = if end < members.len() {
            Some(Run::Base {
                page,
                offset: end,
                target,
            })
        } else if let Some(next) = next {
            Some(Run::Base {
                page: next,
                offset: 0,
                target,
            })
        } else {
            return Ok(finish(target, records));
        };
        Ok(page_of(position, records, true))
    }

    /// The events after `done` up to `target`, oldest first, `page_size` of them.
    fn changes(
        &mut self,
        mut position: Position,
        head: Head,
        target: Mark,
        done: Mark,
    ) -> Result<Page, Error> {
        let mut pending: Vec<Event> = Vec::new();
        // A cutoff before any event: the whole log is after it.
        let mut reached = done.order == 0;
        let (mut events, mut previous) = (head.events, head.previous);
        let mut segments = 1;
        loop {
            for event in events {
                if event.order <= done.order {
                    reached = true;
                } else if event.order <= target.order {
                    pending.push(event);
                }
            }
            if reached {
                break;
            }
            let Some(url) = previous.take() else { break };
            if segments >= MAX_LOG_SEGMENTS {
                agentic_sdk::log(
                    LogLevel::Warn,
                    &format!(
                        "{} change log segments without reaching the cutoff",
                        segments
                    ),
                );
                break;
            }
            segments += 1;
            let Some(graph) = get_graph_if_exists(self.config, &url)? else {
                break;
            };
            let node = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(&url));
            let node = if graph.triples_for_subject(node).next().is_some() {
                node
            } else {
                match graph
                    .subjects_for_predicate_object(
                        NamedNodeRef::new_unchecked(&iri(ns::RDF, "type")),
                        NamedNodeRef::new_unchecked(&iri(ns::TRS, "ChangeLog")),
                    )
                    .next()
                {
                    Some(n) => n,
                    None => break,
                }
            };
            (events, previous) = segment(&graph, node);
        }
        if !reached {
            log_rebase(self.trs, &done);
            let head = self.head()?;
            let newest = head.newest();
            position.run = None;
            return self.base(position, head.base, 0, newest);
        }
        pending.sort_by_key(|e| e.order);
        pending.dedup_by_key(|e| e.order);
        let take = pending.len().min(self.config.page_size as usize);
        let batch = &pending[..take];
        // Each resource once: at its last event in the batch.
        let last: HashMap<&str, usize> = batch
            .iter()
            .enumerate()
            .map(|(i, e)| (e.changed.as_str(), i))
            .collect();
        let mut records = Vec::new();
        let mut deleted = Vec::new();
        let mut unnamed = 0;
        for (i, event) in batch.iter().enumerate() {
            if last.get(event.changed.as_str()) != Some(&i) {
                continue;
            }
            match event.kind {
                Kind::Creation | Kind::Modification => {
                    records.extend(self.records(&event.changed)?)
                }
                // A requirement's external id is its resource URL; a deleted resource that was
                // no requirement of this connection is ignored by the host.
                Kind::Deletion if self.stream == REQUIREMENTS => {
                    deleted.push(Deleted::new(event.changed.clone(), RecordKind::Requirement))
                }
                Kind::Deletion => unnamed += 1,
            }
        }
        if unnamed > 0 {
            agentic_sdk::log(
                LogLevel::Info,
                &format!(
                    "{unnamed} resources deleted in DOORS Next: their links leave at the next \
                     full sync"
                ),
            );
        }
        match batch.last() {
            Some(event) if take < pending.len() => {
                position.run = Some(Run::Changes {
                    target,
                    done: Mark {
                        order: event.order,
                        event: event.uri.clone(),
                    },
                });
                Ok(Page {
                    deleted,
                    ..page_of(position, records, true)
                })
            }
            _ => Ok(Page {
                deleted,
                ..finish(target, records)
            }),
        }
    }

    /// A member resource's records: a requirement (of a configured project area) or its
    /// links; nothing for other resources (folders, collections, …) or one gone since.
    fn records(&mut self, url: &str) -> Result<Vec<RecordData>, Error> {
        let Some(graph) = get_graph_if_exists(self.config, url)? else {
            return Ok(Vec::new());
        };
        let subject = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(url));
        let types = iris(&graph, subject, &iri(ns::RDF, "type"));
        if !types.contains(&iri(ns::OSLC_RM, "Requirement")) {
            return Ok(Vec::new());
        }
        let provider = iris(&graph, subject, &iri(ns::OSLC, "serviceProvider")).pop();
        let project_area = match provider {
            Some(p) => match self.capabilities.iter().find(|c| c.provider == p) {
                Some(c) => c.title.clone(),
                // A project area not configured.
                None if !self.config.project_areas.is_empty() => return Ok(Vec::new()),
                None => String::new(),
            },
            None if self.capabilities.len() == 1 => self.capabilities[0].title.clone(),
            None => String::new(),
        };
        Ok(if self.stream == REQUIREMENTS {
            vec![requirement(self.config, &graph, url, &project_area, &mut self.shapes).into()]
        } else {
            links(self.config, &graph, url)
                .into_iter()
                .map(RecordData::from)
                .collect()
        })
    }
}

fn as_subject(term: TermRef<'_>) -> Option<SubjectRef<'_>> {
    match term {
        TermRef::NamedNode(n) => Some(SubjectRef::NamedNode(n)),
        TermRef::BlankNode(b) => Some(SubjectRef::BlankNode(b)),
        _ => None,
    }
}

/// A change log segment's events and the older segment's URL.
fn segment(graph: &Graph, log: SubjectRef<'_>) -> (Vec<Event>, Option<String>) {
    let mut events = Vec::new();
    for term in graph
        .objects_for_subject_predicate(log, NamedNodeRef::new_unchecked(&iri(ns::TRS, "change")))
    {
        let Some(event) = as_subject(term) else {
            continue;
        };
        let types = iris(graph, event, &iri(ns::RDF, "type"));
        let kind = if types.contains(&iri(ns::TRS, "Creation")) {
            Kind::Creation
        } else if types.contains(&iri(ns::TRS, "Modification")) {
            Kind::Modification
        } else if types.contains(&iri(ns::TRS, "Deletion")) {
            Kind::Deletion
        } else {
            continue;
        };
        let changed = iris(graph, event, &iri(ns::TRS, "changed")).pop();
        let order = text(graph, event, &iri(ns::TRS, "order")).and_then(|o| o.trim().parse().ok());
        let (Some(changed), Some(order)) = (changed, order) else {
            continue;
        };
        let uri = match event {
            SubjectRef::NamedNode(n) => n.as_str().to_owned(),
            _ => String::new(),
        };
        events.push(Event {
            uri,
            order,
            kind,
            changed,
        });
    }
    let previous = iris(graph, log, &iri(ns::TRS, "previous"))
        .into_iter()
        .find(|p| p != RDF_NIL);
    (events, previous)
}

fn page_of(position: Position, records: Vec<RecordData>, has_more: bool) -> Page {
    Page {
        records,
        state: serde_json::to_string(&TrsState { trs: position }).unwrap_or_default(),
        has_more,
        deleted: Vec::new(),
    }
}

/// The end of a run: the next one starts after `cutoff`.
fn finish(cutoff: Mark, records: Vec<RecordData>) -> Page {
    page_of(
        Position {
            cutoff: Some(cutoff),
            run: None,
        },
        records,
        false,
    )
}
