//! Example connector, on the SDK. Its "service" is a deterministic tracker of numbered work
//! items, so the host's paging, resumption, limits and egress can be tested — and it is the
//! shortest complete connector to copy from.
//!
//! Two modes, chosen by the configuration:
//! - **in memory** — `{"items": N, "page_size": K}`: items `1..=N`, `K` per page (default 100);
//!   the state is the decimal number of the last item returned (`none` or empty: the start);
//! - **HTTP** — `{"base_url": "http://…", "page_size": K}`: `check` calls `GET {base_url}/status`
//!   (answering `{"items": N}`) and `read` calls `GET {base_url}/items?after={state}&limit={K}`
//!   (answering `{"items": [{"id", "title", "status", "updated"}], "has_more": bool}`, where `id`
//!   is a string or an integer and `updated` optional Unix milliseconds); `after` is empty at the
//!   start, and the state is the id of the last item returned.
//!
//! A listing may also carry `"deleted": [id, …]`: entries gone at the service, which the page
//! reports as deletions (contract 0.3.0) so the host marks them deleted at once.
//!
//! Either way there is one incremental work-item stream, `items`, and two actions: `echo`, and
//! `fetch`, which GETs `path` under a service origin of the manifest (`{"origin": name}`,
//! through [`agentic_sdk::http::origin_endpoint`]) or an absolute `url`, answering the status and
//! body (a refused request fails with the host's reason). In HTTP
//! mode, `"notes": true` adds a document stream, `notes`, read from
//! `GET {base_url}/notes?after={state}&limit={K}` (answering `{"notes": [{"id", "title", "body",
//! "tags", "updated"}], "has_more": bool}`; bodies are Markdown), paged like the items.

use agentic_sdk::http::{self, Request};
use agentic_sdk::serde_json::Value;
use agentic_sdk::{
    log, progress, register_connector, Connector, ConnectorSpec, Deleted, Document, Error,
    LogLevel, Page, RecordData, RecordKind, StreamSpec, WorkItem,
};
use serde::Deserialize;

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// Page size when the configuration names none.
const DEFAULT_PAGE_SIZE: u64 = 100;

/// The example connector.
#[derive(Debug, Default)]
pub struct Example;

/// The connection's configuration (see `plugin.toml`).
#[derive(Debug, Deserialize)]
pub struct Config {
    /// In-memory mode: how many items there are.
    items: Option<u64>,
    /// Items per page.
    page_size: Option<u64>,
    /// HTTP mode: the service's base URL.
    base_url: Option<String>,
    /// HTTP mode: also sync the service's notes as documents.
    #[serde(default)]
    notes: bool,
}

/// Where the items come from.
enum Source<'a> {
    Memory { items: u64 },
    Http { base_url: &'a str },
}

impl Config {
    fn source(&self) -> Result<Source<'_>, Error> {
        match (&self.base_url, self.items) {
            (Some(url), _) => Ok(Source::Http {
                base_url: url.trim_end_matches('/'),
            }),
            (None, Some(items)) => Ok(Source::Memory { items }),
            (None, None) => Err(Error::Config(
                "items: required integer (or base_url, to read over HTTP)".into(),
            )),
        }
    }

    fn page_size(&self) -> u64 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1)
    }
}

fn items_stream() -> StreamSpec {
    StreamSpec::new("items", RecordKind::WorkItem)
        .with_description("Numbered work items")
        .incremental()
}

fn notes_stream() -> StreamSpec {
    StreamSpec::new("notes", RecordKind::Document)
        .with_description("Notes, as Markdown documents (HTTP mode with `notes`)")
}

impl Connector for Example {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        Ok(ConnectorSpec::from_manifest(MANIFEST)?.with_stream(items_stream()))
    }

    fn check(&self, config: &Config) -> Result<String, Error> {
        let source = config.source()?;
        log(LogLevel::Info, "check called");
        let items = match source {
            Source::Memory { items } => items,
            Source::Http { base_url } => {
                #[derive(Deserialize)]
                struct Status {
                    items: u64,
                }
                http::get_json::<Status>(&format!("{base_url}/status"))?.items
            }
        };
        Ok(format!("{items} items available"))
    }

    fn discover(&self, config: &Config) -> Result<Vec<StreamSpec>, Error> {
        Ok(match config.source()? {
            Source::Http { .. } if config.notes => vec![items_stream(), notes_stream()],
            _ => vec![items_stream()],
        })
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        match (config.source()?, stream) {
            (Source::Memory { items }, "items") => read_memory(items, config.page_size(), state),
            (Source::Http { base_url }, "items") => read_http(base_url, config.page_size(), state),
            (Source::Http { base_url }, "notes") if config.notes => {
                read_notes(base_url, config.page_size(), state)
            }
            _ => Err(Error::NotFound(format!("no stream {stream}"))),
        }
    }

    fn invoke(&self, _config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        match action {
            "echo" => Ok(input),
            "fetch" => fetch(&input),
            other => Err(Error::NotFound(format!("no action {other}"))),
        }
    }
}

register_connector!(Example);

/// `fetch`: GET `path` under the service origin `origin`, or the absolute `url`.
fn fetch(input: &Value) -> Result<Value, Error> {
    let text = |field: &str| input.get(field).and_then(Value::as_str);
    let url = match (text("origin"), text("url")) {
        (Some(origin), None) => http::origin_endpoint(origin, text("path").unwrap_or("/"))?,
        (None, Some(url)) => url.to_owned(),
        _ => {
            return Err(Error::InvalidInput(
                "give either `origin` (with `path`) or `url`".into(),
            ))
        }
    };
    let response = Request::get(url).send()?;
    Ok(agentic_sdk::serde_json::json!({
        "status": response.status,
        "body": response.text(),
    }))
}

/// A work item as both modes shape it: key `EX-{id}`, type `task`.
fn work_item(id: String, title: String, status: String, updated_at: Option<i64>) -> RecordData {
    WorkItem {
        key: format!("EX-{id}"),
        external_id: id,
        title,
        status,
        item_type: "task".into(),
        updated_at,
        ..WorkItem::default()
    }
    .into()
}

fn read_memory(items: u64, page_size: u64, state: Option<&str>) -> Result<Page, Error> {
    let after: u64 = match state {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| Error::InvalidInput(format!("bad state {s:?}")))?,
    };
    let end = after.saturating_add(page_size).min(items);
    let records = (after + 1..=end)
        .map(|n| {
            work_item(
                n.to_string(),
                format!("Item {n}"),
                "open".into(),
                Some(i64::try_from(n).unwrap_or(i64::MAX)),
            )
        })
        .collect();
    progress(end, Some(items), "reading items");
    Ok(Page {
        records,
        state: end.to_string(),
        has_more: end < items,
        deleted: Vec::new(),
    })
}

/// One page of a listing, `GET {base_url}/{what}?after=…&limit=…`: its entries (under the key
/// `items` or `notes`) and whether more follow.
#[derive(Deserialize)]
struct Listing<T> {
    #[serde(alias = "items", alias = "notes")]
    entries: Vec<T>,
    has_more: bool,
    /// Entries gone at the service.
    #[serde(default)]
    deleted: Vec<RemoteId>,
}

#[derive(Deserialize)]
struct RemoteItem {
    id: RemoteId,
    title: String,
    status: String,
    updated: Option<i64>,
}

#[derive(Deserialize)]
struct RemoteNote {
    id: RemoteId,
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    updated: Option<i64>,
}

/// Services number items or name them; both become the external id.
#[derive(Deserialize)]
#[serde(untagged)]
enum RemoteId {
    Number(u64),
    Text(String),
}

impl From<RemoteId> for String {
    fn from(id: RemoteId) -> Self {
        match id {
            RemoteId::Number(n) => n.to_string(),
            RemoteId::Text(s) => s,
        }
    }
}

/// Reads the page of `what` (records of `kind`) after `state` (the id of the last entry read)
/// and turns its entries into records and its `deleted` ids into deletions; the new state is the
/// last record's id.
fn read_listing<T: serde::de::DeserializeOwned>(
    base_url: &str,
    (what, kind): (&str, RecordKind),
    page_size: u64,
    state: Option<&str>,
    record: impl Fn(T) -> RecordData,
) -> Result<Page, Error> {
    let after = state.unwrap_or_default();
    let listing: Listing<T> = Request::get(format!("{base_url}/{what}"))
        .header("accept", "application/json")
        .query("after", after)
        .query("limit", page_size.to_string())
        .send()?
        .error_for_status()?
        .json()?;
    if listing.has_more && listing.entries.is_empty() {
        return Err(Error::Internal(format!(
            "the service has more {what} after {after:?} but returned none"
        )));
    }
    let records: Vec<RecordData> = listing.entries.into_iter().map(record).collect();
    let state = records
        .last()
        .map_or(after, RecordData::external_id)
        .to_owned();
    progress(
        u64::try_from(records.len()).unwrap_or(u64::MAX),
        None,
        &format!("read {what} after {after:?}"),
    );
    Ok(Page {
        records,
        state,
        has_more: listing.has_more,
        deleted: listing
            .deleted
            .into_iter()
            .map(|id| Deleted::new(String::from(id), kind))
            .collect(),
    })
}

fn read_http(base_url: &str, page_size: u64, state: Option<&str>) -> Result<Page, Error> {
    let what = ("items", RecordKind::WorkItem);
    read_listing(base_url, what, page_size, state, |item: RemoteItem| {
        work_item(item.id.into(), item.title, item.status, item.updated)
    })
}

fn read_notes(base_url: &str, page_size: u64, state: Option<&str>) -> Result<Page, Error> {
    let what = ("notes", RecordKind::Document);
    read_listing(base_url, what, page_size, state, |note: RemoteNote| {
        let id = String::from(note.id);
        Document {
            url: Some(format!("{base_url}/notes/{id}")),
            external_id: id,
            title: note.title,
            content_type: "text/markdown".into(),
            body: note.body,
            updated_at: note.updated,
            tags: note.tags,
            ..Document::default()
        }
        .into()
    })
}
