//! Walking the files of the connection's scope, one listing page at a time, resumably: the
//! `files`, `comments` and `people` streams share it.
//!
//! A folder scope is listed breadth first (`'id' in parents`), the folders still to list kept
//! in the [`Cursor`] with their paths; a shared drive (`corpora=drive`) or everything
//! (`corpora=allDrives`) is one listing without folders.

use agentic_sdk::serde_json::Value;
use agentic_sdk::Error;
use serde::{Deserialize, Serialize};

use crate::api::{Google, Service};
use crate::config::{Config, Scope};
use crate::content::FOLDER;

/// Where a walk is; small enough to live in a stream's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Whether the walk began (an empty cursor that began is finished).
    #[serde(default)]
    pub started: bool,
    /// Folders still to list (folder scope), each with its path; the first is being listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<(String, Vec<String>)>,
    /// The listing's next page token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

impl Cursor {
    /// Whether every file was listed.
    pub fn finished(&self) -> bool {
        self.started && self.page.is_none() && self.folders.is_empty()
    }
}

/// A listed file and its folder path when the listing knows it (folder scope).
pub type Listed = (Value, Option<Vec<String>>);

/// The files (not folders) of the listing page at `cursor`, and the cursor after that page.
/// Does not change `cursor`, so the same page can be fetched again.
pub fn fetch(
    google: &Google,
    config: &Config,
    cursor: &Cursor,
    file_fields: &str,
) -> Result<(Vec<Listed>, Cursor), Error> {
    let mut next = cursor.clone();
    if !next.started {
        next.started = true;
        if config.scope == Scope::Folder {
            next.folders = vec![(config.folder_id.clone().unwrap_or_default(), Vec::new())];
        }
    }
    let size = config.page_size().to_string();
    let fields = format!("nextPageToken,files({file_fields})");
    let (q, folder) = match config.scope {
        Scope::Folder => {
            let Some((folder, path)) = next.folders.first().cloned() else {
                return Ok((Vec::new(), next));
            };
            (
                format!("'{}' in parents and trashed = false", escape(&folder)),
                Some(path),
            )
        }
        _ => (format!("mimeType != '{FOLDER}' and trashed = false"), None),
    };
    let mut query: Vec<(&str, &str)> = vec![
        ("q", &q),
        ("pageSize", &size),
        ("fields", &fields),
        ("supportsAllDrives", "true"),
        ("includeItemsFromAllDrives", "true"),
    ];
    match (config.scope, &config.drive_id) {
        (Scope::SharedDrive, Some(drive)) => {
            query.extend([("corpora", "drive"), ("driveId", drive.as_str())])
        }
        (Scope::All, _) => query.push(("corpora", "allDrives")),
        _ => {}
    }
    if let Some(token) = &next.page {
        query.push(("pageToken", token));
    }
    let listing = google.get_json(Service::Drive, &["files"], &query, "list files")?;
    let mut files = Vec::new();
    for file in listing["files"].as_array().cloned().unwrap_or_default() {
        if file["mimeType"] == FOLDER {
            if let (Some(path), Some(id)) = (&folder, file["id"].as_str()) {
                let mut sub = path.clone();
                sub.push(file["name"].as_str().unwrap_or_default().to_owned());
                next.folders.push((id.to_owned(), sub));
            }
            continue;
        }
        files.push((file, folder.clone()));
    }
    next.page = listing["nextPageToken"].as_str().map(str::to_owned);
    if next.page.is_none() && config.scope == Scope::Folder && !next.folders.is_empty() {
        next.folders.remove(0);
    }
    Ok((files, next))
}

/// Escapes a value for a single-quoted string of Drive's query language.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}
