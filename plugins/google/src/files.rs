//! The `files` stream: Drive files in the connection's scope as `document` records, read in
//! full once and then incrementally through Drive's changes feed.
//!
//! A full read first asks for the changes feed's start token (`changes.getStartPageToken`), so
//! nothing that changes while it lists is missed, then lists the scope: a folder's tree breadth
//! first (`'id' in parents`, the folders still to list kept in the state), or a shared drive or
//! everything in one listing. Its last page's state is the start token; every later read lists
//! `changes.list` from there and ends on `newStartPageToken`. Each page asks only for the fields
//! the mapping needs. A page ends early when its bodies reach [`PAGE_BODY_BUDGET`]; the state
//! then says how many items of the same service page are done, so the next read skips them.
//!
//! A change that trashes or removes a file is reported as a deletion of its document (contract
//! 0.3.0, `Page::deleted`): the host marks the record deleted and unmirrors it in the page's
//! transaction, at once rather than at the next full sync. The change says nothing of the scope
//! a removed file was in, so every removal is reported; one the connection never synced is
//! ignored by the host. Changes to files outside a folder scope are skipped; one moved out of
//! the folder leaves at the next full sync.

use std::collections::HashMap;

use agentic_sdk::serde_json::{self, json, Map, Value};
use agentic_sdk::{Deleted, Document, Error, Page, RecordData, RecordKind};
use serde::{Deserialize, Serialize};

use crate::api::{Google, Service};
use crate::config::{Config, Scope, PAGE_BODY_BUDGET};
use crate::content::{self, FOLDER};
use crate::scope::{self, Cursor};

/// The file fields the mapping reads (Drive's partial response).
pub const FILE_FIELDS: &str = "id,name,mimeType,parents,driveId,owners(displayName,emailAddress),webViewLink,createdTime,modifiedTime,size,version,trashed";

/// Where a read of the stream is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum State {
    /// Listing the scope in full.
    List {
        /// The changes feed's token from before the listing began.
        start: String,
        /// The listing page being read.
        #[serde(flatten)]
        cursor: Cursor,
        /// Files of that page already returned.
        #[serde(default, skip_serializing_if = "is_zero")]
        skip: usize,
    },
    /// Following the changes feed.
    Changes {
        /// The changes page token.
        token: String,
        /// Changes of that page already returned.
        #[serde(default, skip_serializing_if = "is_zero")]
        skip: usize,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Parses a stored state.
pub fn parse_state(state: &str) -> Result<State, Error> {
    serde_json::from_str(state)
        .map_err(|e| Error::InvalidInput(format!("state of the files stream: {e}")))
}

fn to_state(state: &State) -> Result<String, Error> {
    serde_json::to_string(state).map_err(|e| Error::Internal(format!("state: {e}")))
}

/// What a folder chain lookup found about one file or folder.
#[derive(Debug, Clone)]
struct Node {
    name: String,
    parents: Vec<String>,
}

/// The reader of one call: the APIs, the configuration and a cache of folders looked up.
pub struct Reader<'a> {
    google: Google,
    config: &'a Config,
    nodes: HashMap<String, Node>,
}

impl<'a> Reader<'a> {
    /// A reader on the connection the call is for.
    pub fn new(config: &'a Config) -> Result<Self, Error> {
        Ok(Self {
            google: Google::connected()?,
            config,
            nodes: HashMap::new(),
        })
    }

    /// The APIs.
    pub fn google(&self) -> &Google {
        &self.google
    }

    /// One page of the stream.
    pub fn read(&mut self, state: Option<&str>) -> Result<Page, Error> {
        match state.map(parse_state).transpose()? {
            None => {
                let start = self.start_token()?;
                if self.config.scope == Scope::Folder {
                    self.check_folder(self.config.folder_id.as_deref().unwrap_or_default())?;
                }
                self.list(start, Cursor::default(), 0)
            }
            Some(State::List {
                start,
                cursor,
                skip,
            }) => self.list(start, cursor, skip),
            Some(State::Changes { token, skip }) => self.changes(token, skip),
        }
    }

    /// The changes feed's current token (of the shared drive, in that scope).
    pub fn start_token(&self) -> Result<String, Error> {
        let mut query = vec![("supportsAllDrives", "true"), ("fields", "startPageToken")];
        if let (Scope::SharedDrive, Some(drive)) = (self.config.scope, &self.config.drive_id) {
            query.push(("driveId", drive));
        }
        let v = self.google.get_json(
            Service::Drive,
            &["changes", "startPageToken"],
            &query,
            "get the changes feed's start",
        )?;
        v["startPageToken"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::Internal("changes.getStartPageToken answered no startPageToken".into())
            })
    }

    /// The configured folder exists, is a folder and is visible.
    pub fn check_folder(&self, id: &str) -> Result<(), Error> {
        let v = self
            .google
            .get_json(
                Service::Drive,
                &["files", id],
                &[
                    ("fields", "id,name,mimeType"),
                    ("supportsAllDrives", "true"),
                ],
                &format!("read folder {id}"),
            )
            .map_err(|e| match e {
                Error::NotFound(m) => Error::Config(format!(
                    "folder_id: no folder {id} is visible to the credential's identity ({m})"
                )),
                other => other,
            })?;
        if v["mimeType"] != FOLDER {
            return Err(Error::Config(format!(
                "folder_id: {id} is a {}, not a folder",
                v["mimeType"]
            )));
        }
        Ok(())
    }

    fn list(&mut self, start: String, cursor: Cursor, skip: usize) -> Result<Page, Error> {
        let (files, next) = scope::fetch(&self.google, self.config, &cursor, FILE_FIELDS)?;
        let mut records = Vec::new();
        let mut budget = 0;
        let mut done = skip;
        for (file, folder_path) in files.iter().skip(skip) {
            if budget >= PAGE_BODY_BUDGET {
                break;
            }
            done += 1;
            let path = match folder_path {
                Some(p) => p.clone(),
                None => self.path_of(file)?.unwrap_or_default(),
            };
            if let Some(doc) = self.document(file, path)? {
                budget += doc.body.len();
                records.push(RecordData::Document(doc));
            }
        }
        let state = if done < files.len() {
            State::List {
                start,
                cursor,
                skip: done,
            }
        } else if !next.finished() {
            State::List {
                start,
                cursor: next,
                skip: 0,
            }
        } else {
            let state = State::Changes {
                token: start,
                skip: 0,
            };
            return Ok(Page {
                records,
                state: to_state(&state)?,
                has_more: false,
                deleted: Vec::new(),
            });
        };
        Ok(Page {
            records,
            state: to_state(&state)?,
            has_more: true,
            deleted: Vec::new(),
        })
    }

    fn changes(&mut self, token: String, skip: usize) -> Result<Page, Error> {
        let size = self.config.page_size().to_string();
        let fields =
            format!("nextPageToken,newStartPageToken,changes(fileId,removed,file({FILE_FIELDS}))");
        let mut query: Vec<(&str, &str)> = vec![
            ("pageToken", &token),
            ("pageSize", &size),
            ("fields", &fields),
            ("supportsAllDrives", "true"),
            ("includeRemoved", "true"),
        ];
        match (self.config.scope, &self.config.drive_id) {
            (Scope::SharedDrive, Some(drive)) => query.push(("driveId", drive)),
            _ => query.push(("includeItemsFromAllDrives", "true")),
        }
        let answer = self
            .google
            .get_json(Service::Drive, &["changes"], &query, "list changes")?;
        let changes = answer["changes"].as_array().cloned().unwrap_or_default();
        let mut records = Vec::new();
        let mut deleted = Vec::new();
        let mut budget = 0;
        let mut done = skip;
        for change in changes.iter().skip(skip) {
            if budget >= PAGE_BODY_BUDGET {
                break;
            }
            done += 1;
            let id = change["fileId"].as_str().unwrap_or_default();
            let file = &change["file"];
            // Removed (deleted for good, or no longer visible to the identity) or trashed:
            // gone, whatever scope it was in (the host ignores ids it never synced).
            if change["removed"] == true || file.is_null() || file["trashed"] == true {
                if file["mimeType"] != FOLDER {
                    deleted.push(Deleted::new(id, RecordKind::Document));
                }
                continue;
            }
            if file["mimeType"] == FOLDER {
                continue;
            }
            // Outside a folder scope: not this connection's (a file moved out of the folder
            // leaves at the next full sync; nothing says it was ever in).
            let Some(path) = self.path_of(file)? else {
                continue;
            };
            if let Some(doc) = self.document(file, path)? {
                budget += doc.body.len();
                records.push(RecordData::Document(doc));
            }
        }
        let (state, has_more) = if done < changes.len() {
            (State::Changes { token, skip: done }, true)
        } else if let Some(next) = answer["nextPageToken"].as_str() {
            (
                State::Changes {
                    token: next.to_owned(),
                    skip: 0,
                },
                true,
            )
        } else {
            let new = answer["newStartPageToken"].as_str().ok_or_else(|| {
                Error::Internal(
                    "changes.list answered neither nextPageToken nor newStartPageToken".into(),
                )
            })?;
            (
                State::Changes {
                    token: new.to_owned(),
                    skip: 0,
                },
                false,
            )
        };
        Ok(Page {
            records,
            state: to_state(&state)?,
            has_more,
            deleted,
        })
    }

    /// The folder names from the scope's top down to `file`'s parent; `None` when the file is
    /// outside a folder scope. Walks up `parents` with one `files.get` per folder not seen yet
    /// in this call.
    fn path_of(&mut self, file: &Value) -> Result<Option<Vec<String>>, Error> {
        let mut path = Vec::new();
        let mut parent = file["parents"][0].as_str().map(str::to_owned);
        let top = match self.config.scope {
            Scope::Folder => self.config.folder_id.clone(),
            Scope::SharedDrive => self.config.drive_id.clone(),
            Scope::All => None,
        };
        // Drive folders nest at most 100 deep.
        for _ in 0..100 {
            let Some(id) = parent else {
                break;
            };
            if Some(&id) == top.as_ref() {
                path.reverse();
                return Ok(Some(path));
            }
            let node = match self.node(&id)? {
                Some(n) => n,
                None => break,
            };
            if node.parents.is_empty() {
                // A root (My Drive, a shared drive): not part of the path.
                break;
            }
            path.push(node.name.clone());
            parent = node.parents.first().cloned();
        }
        if self.config.scope == Scope::Folder {
            return Ok(None);
        }
        path.reverse();
        Ok(Some(path))
    }

    fn node(&mut self, id: &str) -> Result<Option<Node>, Error> {
        if let Some(n) = self.nodes.get(id) {
            return Ok(Some(n.clone()));
        }
        let v = match self.google.get_json(
            Service::Drive,
            &["files", id],
            &[("fields", "id,name,parents"), ("supportsAllDrives", "true")],
            &format!("read folder {id}"),
        ) {
            Ok(v) => v,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let node = Node {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            parents: v["parents"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        self.nodes.insert(id.to_owned(), node.clone());
        Ok(Some(node))
    }

    /// The document of `file` with its body; `None` when the file was deleted meanwhile.
    fn document(&self, file: &Value, path: Vec<String>) -> Result<Option<Document>, Error> {
        let id = file["id"].as_str().unwrap_or_default();
        let mime = file["mimeType"].as_str().unwrap_or_default();
        let size = file["size"].as_str().and_then(|s| s.parse().ok());
        let Some(body) = content::fetch(
            &self.google,
            id,
            mime,
            size,
            self.config.max_file_bytes(),
            self.config.max_sheet_cells(),
        )?
        else {
            agentic_sdk::log(
                agentic_sdk::LogLevel::Info,
                &format!("file {id} was deleted while the sync read it: skipped"),
            );
            return Ok(None);
        };
        Ok(Some(map(file, path, body)))
    }
}

/// A Drive file's metadata and body as a document.
pub fn map(file: &Value, path: Vec<String>, body: content::Body) -> Document {
    let text = |k: &str| file[k].as_str().map(str::to_owned);
    let time = |k: &str| file[k].as_str().and_then(crate::time::parse);
    let owners: Vec<Value> = file["owners"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|u| json!({"name": u["displayName"], "email": u["emailAddress"]}))
                .collect()
        })
        .unwrap_or_default();
    let mut attributes = Map::new();
    attributes.insert("mime_type".into(), json!(file["mimeType"]));
    attributes.insert("path".into(), json!(path));
    attributes.insert("owners".into(), json!(owners));
    attributes.insert(
        "size".into(),
        json!(file["size"].as_str().and_then(|s| s.parse::<u64>().ok())),
    );
    attributes.insert(
        "version".into(),
        json!(file["version"].as_str().and_then(|s| s.parse::<u64>().ok())),
    );
    attributes.insert("drive_id".into(), json!(file["driveId"]));
    attributes.insert(
        "parents".into(),
        json!(file["parents"].as_array().cloned().unwrap_or_default()),
    );
    if let Some(note) = body.note {
        attributes.insert("content_note".into(), json!(note));
    }
    Document {
        external_id: text("id").unwrap_or_default(),
        title: text("name").unwrap_or_default(),
        content_type: body.content_type,
        body: body.text,
        url: text("webViewLink"),
        author: file["owners"][0]["emailAddress"]
            .as_str()
            .map(str::to_owned),
        created_at: time("createdTime"),
        updated_at: time("modifiedTime"),
        tags: Vec::new(),
        attributes,
    }
}
