//! The streams: what each reads, how it pages, and its records.
//!
//! | stream | records | reads | paging and state |
//! |---|---|---|---|
//! | `files` | documents | `files.list` in the scope, bodies by `files.export`/`alt=media` | listing, then Drive's changes feed; incremental |
//! | `comments` | comments | `comments.list` (with replies) of every file in the scope | file by file; full refresh |
//! | `events` | documents | `events.list` of each configured calendar | Calendar sync tokens per calendar; incremental |
//! | `people` | people | file owners and editors (files' `permissions`, shared drives' members by `permissions.list`), event organizers and attendees | full refresh |

use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::{Error, Page, RecordKind, StreamSpec};

use crate::config::Config;

/// Every stream, as `spec()` and `discover()` list them.
pub fn specs() -> Vec<StreamSpec> {
    let documents = |attributes: Value| {
        let mut schema = RecordKind::Document.schema();
        schema["properties"]["attributes"] = attributes;
        schema
    };
    let nullable = |t: &str| json!({"type": [t, "null"]});
    let file_attributes = json!({
        "type": "object",
        "properties": {
            "mime_type": nullable("string"),
            "path": {"type": "array", "items": {"type": "string"}},
            "owners": {"type": "array", "items": {"type": "object", "properties": {
                "name": nullable("string"), "email": nullable("string")}}},
            "size": nullable("integer"),
            "version": nullable("integer"),
            "drive_id": nullable("string"),
            "parents": {"type": "array", "items": {"type": "string"}},
            "content_note": {"type": "string"},
            "trashed": {"const": true},
            "removed": {"const": true}
        }
    });
    let event_attributes = json!({
        "type": "object",
        "properties": {
            "calendar": {"type": "string"},
            "status": {"enum": ["confirmed", "tentative", "cancelled"]},
            "start": nullable("string"),
            "end": nullable("string"),
            "start_ms": nullable("integer"),
            "end_ms": nullable("integer"),
            "all_day": {"type": "boolean"},
            "organizer": nullable("string"),
            "attendees": {"type": "array", "items": {"type": "object", "properties": {
                "email": nullable("string"), "name": nullable("string"), "response": nullable("string")}}},
            "recurring_event_id": nullable("string"),
            "recurrence": {"type": "array", "items": {"type": "string"}}
        }
    });
    vec![
        StreamSpec::new("files", RecordKind::Document)
            .with_description(
                "Drive files in the scope as documents: name, MIME type, folder path, owners, \
                 link, times, size, version; Docs as Markdown, Sheets as Markdown tables, Slides \
                 and text files as text, other files as metadata. Incremental through Drive's \
                 changes feed.",
            )
            .incremental()
            .with_schema(documents(file_attributes)),
        StreamSpec::new("comments", RecordKind::Comment).with_description(
            "Comments and replies on the files in the scope (a reply's parent is its \
                 comment); full refresh, so deleted comments go.",
        ),
        StreamSpec::new("events", RecordKind::Document)
            .with_description(
                "Events of the configured calendars as documents (title, description, link, \
                 organizer; start, end, attendees, status in attributes); incremental with \
                 Calendar sync tokens.",
            )
            .incremental()
            .with_schema(documents(event_attributes)),
        StreamSpec::new("people", RecordKind::Person).with_description(
            "File owners and editors (shared drives' members who edit), event organizers and \
             attendees, by e-mail; full refresh.",
        ),
    ]
}

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    match stream {
        "files" => crate::files::Reader::new(config)?.read(state),
        "comments" => crate::comments::read(config, state),
        "events" => crate::events::read(config, state),
        "people" => crate::people::read(config, state),
        other => Err(Error::NotFound(format!("no stream `{other}`"))),
    }
}
