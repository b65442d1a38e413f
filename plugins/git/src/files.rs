//! The `files` stream: text files matching the configured globs at each branch head, read
//! from a snapshot of the head (`deepen 1`, so no history is downloaded). A full-refresh
//! stream: a file no longer at the head is not returned, and the host deletes its record.
//! One branch per page (more pages when a branch's files pass [`PAGE_BODY_BUDGET`]).

use std::collections::BTreeSet;

use agentic_sdk::serde_json::{json, Map};
use agentic_sdk::Document;
use agentic_sdk::{Error, Page, RecordData};
use gix_hash::ObjectId;
use gix_object::tree::EntryKind;
use gix_object::{CommitRef, Kind, TreeRefIter};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::history;
use crate::pack::Objects;
use crate::protocol::Want;

/// Body bytes one page carries at most (the host caps a call's output at 16 MiB).
pub const PAGE_BODY_BUDGET: usize = 8 << 20;

/// Where the stream is.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    /// Index of the branch (in name order) this page reads.
    branch: usize,
    /// The last path returned on this branch, when it takes more than one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

/// One page of the stream.
pub fn read(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let state: State = match state {
        None | Some("") => State::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("not a state of the files stream: {e}")))?,
    };
    let globs = config.globs()?;
    let (server, tips) = history::branches(config)?;
    let Some((branch, tip)) = tips.iter().nth(state.branch) else {
        return Ok(Page {
            records: Vec::new(),
            state: String::new(),
            has_more: false,
            deleted: Vec::new(),
        });
    };
    let tip = ObjectId::from_hex(tip.as_bytes()).map_err(|e| Error::Internal(e.to_string()))?;
    let (objects, _) = history::fetch(
        &server,
        config,
        &Want {
            wants: BTreeSet::from([tip]),
            haves: BTreeSet::new(),
            deepen: Some(1),
        },
    )?;
    let tree = match objects.get(&tip) {
        Some((Kind::Commit, d)) => CommitRef::from_bytes(d, gix_hash::Kind::Sha1)
            .map_err(|e| Error::Internal(format!("commit {tip}: {e}")))?
            .tree(),
        _ => {
            return Err(Error::Internal(format!(
                "the snapshot of {branch} lacks its commit {tip}"
            )))
        }
    };
    let mut files = Vec::new();
    walk(&objects, &tree, b"", &mut files)?;
    files.sort();
    let mut records = Vec::new();
    let mut budget = PAGE_BODY_BUDGET;
    let mut last = None;
    let mut cut = false;
    for (path, blob) in files {
        let path = String::from_utf8_lossy(&path).into_owned();
        if state.after.as_ref().is_some_and(|a| path <= *a) || !globs.is_match(&path) {
            continue;
        }
        let data = match objects.get(&blob) {
            Some((Kind::Blob, d)) => d,
            _ => {
                return Err(Error::Internal(format!(
                    "the snapshot of {branch} lacks blob {blob} of {path}"
                )))
            }
        };
        let too_big = data.len() as u64 > config.max_file_bytes;
        let binary = data[..data.len().min(8000)].contains(&0);
        let body = if too_big || binary {
            String::new()
        } else {
            String::from_utf8_lossy(data).into_owned()
        };
        if body.len() > budget && !records.is_empty() {
            cut = true;
            break;
        }
        budget = budget.saturating_sub(body.len());
        let mut attributes = Map::new();
        attributes.insert("branch".into(), json!(branch));
        attributes.insert("path".into(), json!(path));
        attributes.insert("blob".into(), json!(blob.to_string()));
        attributes.insert("commit".into(), json!(tip.to_string()));
        attributes.insert("size".into(), json!(data.len()));
        if too_big {
            attributes.insert(
                "content_note".into(),
                json!(format!(
                    "larger than max_file_bytes ({})",
                    config.max_file_bytes
                )),
            );
        } else if binary {
            attributes.insert("content_note".into(), json!("binary"));
        }
        let content_type = if path.ends_with(".md") || path.ends_with(".markdown") {
            "text/markdown"
        } else {
            "text/plain"
        };
        records.push(RecordData::Document(Document {
            external_id: format!("{branch}:{path}"),
            title: path.rsplit('/').next().unwrap_or(&path).to_owned(),
            content_type: content_type.into(),
            body,
            attributes,
            ..Document::default()
        }));
        last = Some(path);
    }
    // A page cut on the budget leaves this branch's other files for the next page.
    let next = match (cut, last) {
        (true, Some(last)) => State {
            branch: state.branch,
            after: Some(last),
        },
        _ => State {
            branch: state.branch + 1,
            after: None,
        },
    };
    let has_more = next.branch < tips.len();
    Ok(Page {
        records,
        state: serde_json::to_string(&next).map_err(|e| Error::Internal(e.to_string()))?,
        has_more,
        deleted: Vec::new(),
    })
}

/// Every file (blob or link) under tree `id` as (path, blob id).
fn walk(
    objects: &Objects,
    id: &ObjectId,
    prefix: &[u8],
    out: &mut Vec<(Vec<u8>, ObjectId)>,
) -> Result<(), Error> {
    let data = match objects.get(id) {
        Some((Kind::Tree, d)) => d,
        _ => return Err(Error::Internal(format!("the snapshot lacks tree {id}"))),
    };
    for entry in TreeRefIter::from_bytes(data, gix_hash::Kind::Sha1) {
        let entry = entry.map_err(|e| Error::Internal(format!("tree {id}: {e}")))?;
        let mut path = prefix.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(entry.filename);
        match entry.mode.kind() {
            EntryKind::Tree => walk(objects, &entry.oid.to_owned(), &path, out)?,
            EntryKind::Blob | EntryKind::BlobExecutable => out.push((path, entry.oid.to_owned())),
            EntryKind::Link | EntryKind::Commit => {}
        }
    }
    Ok(())
}
