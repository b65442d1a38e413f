//! The ReqIF streams: `requirements` (spec objects) and `links` (spec relations), both full
//! refreshes — each sync reads the whole file, so the host marks what the file no longer has as
//! deleted, upserts the rest on the spec object's `IDENTIFIER`.
//!
//! A page is `page_size` records. The state names the file's content hash and the position
//! (`v1:<hash>:<next>`), and is all a page needs: the first page of a run fetches and parses
//! the file, later pages are cut from that parse while the instance keeps it (`Kept`), and a
//! page read by a fresh instance fetches and parses again — if the file changed meanwhile, it
//! starts again from the first record of the new file, so a run never mixes two versions past
//! that point.

use std::cell::RefCell;

use agentic_sdk::{Error, LogLevel, Page, RecordData, RecordKind, StreamSpec};

use crate::config::Config;
use crate::fetch::{fetch, Fetched};
use crate::limits::Limits;
use crate::reqif::{mapping::Index, model::ReqIf};

/// The requirements stream.
pub const REQUIREMENTS: &str = "requirements";
/// The trace links stream.
pub const LINKS: &str = "links";

/// The streams' specs.
pub fn specs() -> Vec<StreamSpec> {
    vec![
        StreamSpec::new(REQUIREMENTS, RecordKind::Requirement).with_description(
            "ReqIF spec objects as requirements: every attribute by name, XHTML as Markdown, \
             hierarchy (module, parent, order, level) from the specifications",
        ),
        StreamSpec::new(LINKS, RecordKind::TraceLink).with_description(
            "ReqIF spec relations as trace links, typed by their relation type's name",
        ),
        StreamSpec::new(crate::oslc::streams::REQUIREMENTS, RecordKind::Requirement)
            .with_description(
                "DOORS Next requirements over OSLC RM: identifier, title, primary text as \
                 Markdown, every property (custom attributes by their shape's names), \
                 incremental by dcterms:modified",
            )
            .incremental(),
        StreamSpec::new(crate::oslc::streams::LINKS, RecordKind::TraceLink)
            .with_description(
                "DOORS Next requirements' OSLC RM links (validatedBy, implementedBy, \
                 satisfiedBy, …) and configured custom link types as trace links",
            )
            .incremental(),
    ]
}

/// The state: `v1:<content hash>:<records read>`.
fn parse_state(state: Option<&str>) -> Result<Option<(String, usize)>, Error> {
    let Some(state) = state else { return Ok(None) };
    let mut parts = state.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(hash), Some(next)) => next
            .parse()
            .map(|n| Some((hash.to_owned(), n)))
            .map_err(|_| Error::InvalidInput(format!("state {state:?}: bad position"))),
        _ => Err(Error::InvalidInput(format!(
            "state {state:?} is not a ReqIF read position"
        ))),
    }
}

/// A parsed file kept in the instance between the pages of a run.
///
/// Why: without it each page fetched and parsed the whole file again, so a run of n pages
/// cost n parses (a 50 000-object file in pages of 5 000 is ten). The host reads the pages of
/// one stream through one instance, so the first page's parse serves them all. It is used only
/// for a state naming the same file (URL and bounds) and version (content hash), so a page cut
/// from it is the page a fetch of that version gives. A run from no state always fetches, so
/// each sync reads the file as it is then; a failed page drops it (the host replaces the
/// instance).
struct Kept {
    /// The file's URL.
    url: String,
    /// The bounds it was parsed within.
    limits: Limits,
    /// Its content hash, as states carry it.
    hash: String,
    /// Its name, for messages.
    name: String,
    /// The parsed document.
    doc: ReqIf,
}

thread_local! {
    /// The run under way (components are single-threaded; native tests keep one per thread).
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

impl Kept {
    /// The kept parse of `url`'s version `hash` within `limits`, if this instance has it.
    fn take(url: &str, limits: &Limits, hash: &str) -> Option<Kept> {
        KEPT.with(|k| k.borrow_mut().take())
            .filter(|k| k.url == url && k.limits == *limits && k.hash == hash)
    }

    fn keep(self) {
        KEPT.with(|k| *k.borrow_mut() = Some(self));
    }
}

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    if stream != REQUIREMENTS && stream != LINKS {
        return Err(Error::NotFound(format!("no stream `{stream}`")));
    }
    let position = parse_state(state)?;
    let url = config.file_url()?;
    let limits = config.limits();
    let kept = position
        .as_ref()
        .and_then(|(hash, _)| Kept::take(&url, &limits, hash));
    let (kept, start) = match (kept, position) {
        (Some(kept), Some((_, next))) => (kept, next),
        (_, position) => {
            let Fetched { name, hash, doc } = fetch(&url, &limits)?;
            let start = match position {
                Some((h, next)) if h == hash => next,
                Some(_) => {
                    agentic_sdk::log(
                        LogLevel::Warn,
                        &format!("{name} changed during the sync: reading it again from the start"),
                    );
                    0
                }
                None => 0,
            };
            let kept = Kept {
                url,
                limits,
                hash,
                name,
                doc,
            };
            (kept, start)
        }
    };
    let page = cut(&kept, stream, start, config.page_size as usize);
    if page.has_more {
        kept.keep();
    }
    Ok(page)
}

/// The page of `stream` from record `start` on.
fn cut(kept: &Kept, stream: &str, start: usize, page_size: usize) -> Page {
    let (doc, name) = (&kept.doc, &kept.name);
    let index = Index::new(doc);
    let total = if stream == REQUIREMENTS {
        doc.objects.len()
    } else {
        doc.relations.len()
    };
    let start = start.min(total);
    let end = (start + page_size).min(total);
    let records: Vec<RecordData> = if stream == REQUIREMENTS {
        doc.objects[start..end]
            .iter()
            .map(|o| index.requirement(o).into())
            .collect()
    } else {
        let mut links = Vec::new();
        for r in &doc.relations[start..end] {
            match index.link(r) {
                Some(link) => links.push(link.into()),
                None => agentic_sdk::log(
                    LogLevel::Warn,
                    &format!(
                        "{name}: spec relation {} has no source or target; skipped",
                        r.item.identifier
                    ),
                ),
            }
        }
        links
    };
    agentic_sdk::progress(
        end as u64,
        Some(total as u64),
        &format!("{stream} of {name}"),
    );
    Page {
        records,
        state: format!("v1:{}:{end}", kept.hash),
        has_more: end < total,
        deleted: Vec::new(),
    }
}
