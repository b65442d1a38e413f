//! The ReqIF streams: `requirements` (spec objects) and `links` (spec relations), both full
//! refreshes — each sync reads the whole file, so the host marks what the file no longer has as
//! deleted, upserts the rest on the spec object's `IDENTIFIER`.
//!
//! A page is `page_size` records. The file is fetched and parsed again for each page (a
//! connector holds nothing between calls), and the state names the file's content hash and the
//! position: if the file changes between two pages, the read starts again from the first
//! record of the new file, so a run never mixes two versions past that point.

use agentic_sdk::http::Request;
use agentic_sdk::{Error, LogLevel, Page, RecordData, RecordKind, StreamSpec};

use crate::config::{file_name, Config};
use crate::reqif::{self, mapping::Index};

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

/// The file's bytes and its name for messages.
pub fn fetch(config: &Config) -> Result<(String, Vec<u8>), Error> {
    let url = config.file_url()?;
    let response = Request::get(&url)
        .header(
            "accept",
            "application/xml, application/zip, application/octet-stream;q=0.9, */*;q=0.5",
        )
        .send()?
        .error_for_status()?;
    Ok((file_name(&url), response.body))
}

/// FNV-1a, 64 bits: tells one version of the file from another (not a security boundary: the
/// file comes from the connection's own service).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
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

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    if stream != REQUIREMENTS && stream != LINKS {
        return Err(Error::NotFound(format!("no stream `{stream}`")));
    }
    let position = parse_state(state)?;
    let (name, bytes) = fetch(config)?;
    let hash = content_hash(&bytes);
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
    let doc = reqif::read(&name, &bytes, &config.limits())?;
    drop(bytes);
    let index = Index::new(&doc);
    let total = if stream == REQUIREMENTS {
        doc.objects.len()
    } else {
        doc.relations.len()
    };
    let start = start.min(total);
    let end = (start + config.page_size as usize).min(total);
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
    Ok(Page {
        records,
        state: format!("v1:{hash}:{end}"),
        has_more: end < total,
        deleted: Vec::new(),
    })
}
