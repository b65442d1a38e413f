//! The `comments` stream: the comments and replies of every file in the scope, as `comment`
//! records, read file by file (`comments.list` with replies); a full refresh, so comments
//! deleted in Drive are marked deleted by the host.
//!
//! Drive's comment ids are unique within a file only, so a comment's external id is
//! `{file id}/{comment id}` and a reply's `{file id}/{comment id}/{reply id}`; a comment's parent
//! is its file, a reply's its comment. Comments are plain text in Drive, which is Markdown.

use agentic_sdk::serde_json::{self, Value};
use agentic_sdk::{Comment, Error, Page, RecordData};
use serde::{Deserialize, Serialize};

use crate::api::{Google, Service};
use crate::config::Config;
use crate::scope::{self, Cursor};

/// Files whose comments one read takes at most.
const FILES_PER_READ: usize = 25;

/// Where a read of the stream is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The walk over the scope's files.
    #[serde(flatten)]
    pub cursor: Cursor,
    /// Files listed whose comments are still to read; the first is being read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// The comments page token of the first pending file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments_page: Option<String>,
}

/// The comment fields the mapping reads.
const FIELDS: &str = "nextPageToken,comments(id,author(displayName,emailAddress),content,createdTime,modifiedTime,deleted,resolved,replies(id,author(displayName,emailAddress),content,createdTime,modifiedTime,deleted))";

/// One page of the stream.
pub fn read(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let google = Google::connected()?;
    let mut state: State = match state {
        None => State::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("state of the comments stream: {e}")))?,
    };
    if state.pending.is_empty() {
        let (files, next) = scope::fetch(&google, config, &state.cursor, "id")?;
        state.pending = files
            .iter()
            .filter_map(|(f, _)| f["id"].as_str().map(str::to_owned))
            .collect();
        state.cursor = next;
    }
    let mut records = Vec::new();
    let mut files = 0;
    while let Some(file) = state.pending.first().cloned() {
        if files == FILES_PER_READ || records.len() >= config.page_size() as usize {
            break;
        }
        files += 1;
        let size = config.page_size().min(100).to_string();
        let mut query = vec![("fields", FIELDS), ("pageSize", size.as_str())];
        if let Some(token) = &state.comments_page {
            query.push(("pageToken", token));
        }
        let answer = match google.get_json(
            Service::Drive,
            &["files", &file, "comments"],
            &query,
            &format!("list the comments of file {file}"),
        ) {
            Ok(a) => a,
            // Deleted since it was listed: skipped.
            Err(Error::NotFound(_)) => Value::Null,
            Err(e) => return Err(e),
        };
        for comment in answer["comments"].as_array().into_iter().flatten() {
            records.extend(map(&file, comment));
        }
        match answer["nextPageToken"].as_str() {
            Some(next) => state.comments_page = Some(next.to_owned()),
            None => {
                state.pending.remove(0);
                state.comments_page = None;
            }
        }
    }
    let has_more = !state.pending.is_empty() || !state.cursor.finished();
    let text = serde_json::to_string(&state).map_err(|e| Error::Internal(format!("state: {e}")))?;
    Ok(Page {
        records,
        state: text,
        has_more,
        deleted: Vec::new(),
    })
}

/// Who wrote a comment: the e-mail, or the name when Drive does not disclose the e-mail.
pub fn author(user: &Value) -> Option<String> {
    user["emailAddress"]
        .as_str()
        .or_else(|| user["displayName"].as_str())
        .map(str::to_owned)
}

/// A comment of `file` and its replies as records (deleted ones left out).
pub fn map(file: &str, comment: &Value) -> Vec<RecordData> {
    if comment["deleted"] == true {
        return Vec::new();
    }
    let time = |v: &Value, k: &str| v[k].as_str().and_then(crate::time::parse);
    let id = format!("{file}/{}", comment["id"].as_str().unwrap_or_default());
    let mut out = vec![RecordData::Comment(Comment {
        external_id: id.clone(),
        parent_external_id: file.to_owned(),
        author: author(&comment["author"]),
        body: comment["content"].as_str().unwrap_or_default().to_owned(),
        created_at: time(comment, "createdTime"),
        updated_at: time(comment, "modifiedTime"),
    })];
    for reply in comment["replies"].as_array().into_iter().flatten() {
        if reply["deleted"] == true {
            continue;
        }
        out.push(RecordData::Comment(Comment {
            external_id: format!("{id}/{}", reply["id"].as_str().unwrap_or_default()),
            parent_external_id: id.clone(),
            author: author(&reply["author"]),
            body: reply["content"].as_str().unwrap_or_default().to_owned(),
            created_at: time(reply, "createdTime"),
            updated_at: time(reply, "modifiedTime"),
        }));
    }
    out
}
