//! The `events` stream: the events of the configured calendars as `document` records,
//! incremental with Calendar sync tokens, one calendar after the other.
//!
//! Why documents: contract 0.2.0 has no record kind for events, and of the kinds it has a
//! document fits an event best — a title, a text (the description), a link, an author (the
//! organizer), created and updated times — while start, end, attendees and status, which no
//! kind has, go into `attributes`. A work item would suggest a workflow an event does not have;
//! a raw record would drop the typed fields the host indexes (title, times).
//!
//! The first read of a calendar lists all its events (`showDeleted=true`, so cancellations show
//! up as `status: cancelled`) and keeps the `nextSyncToken` of its last page; later reads pass
//! that token and get only what changed. When Google answers `410 Gone` (the token expired),
//! that calendar alone is read again in full: records are upserted by id, so nothing is lost or
//! duplicated, and the cancellations listed with `showDeleted` mark what was deleted meanwhile.

use std::collections::BTreeMap;

use agentic_sdk::serde_json::{self, json, Map, Value};
use agentic_sdk::{Document, Error, LogLevel, Page, RecordData};
use serde::{Deserialize, Serialize};

use crate::api::{Google, Service};
use crate::config::Config;

/// Where a read of the stream is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Each calendar's sync token, once it was read to the end.
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// Index of the calendar being read in this run.
    #[serde(default)]
    pub at: usize,
    /// The page token within that calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

/// The event fields the mapping reads.
const FIELDS: &str = "nextPageToken,nextSyncToken,items(id,status,htmlLink,created,updated,summary,description,organizer(email,displayName),start,end,attendees(email,displayName,responseStatus),recurringEventId,recurrence)";

/// One page of the stream.
pub fn read(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let google = Google::connected()?;
    let mut state: State = match state {
        None => State::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("state of the events stream: {e}")))?,
    };
    let Some(calendar) = config.calendars.get(state.at).cloned() else {
        state.at = 0;
        state.page = None;
        return finish(Vec::new(), state, false);
    };
    let size = config.page_size().to_string();
    let mut query: Vec<(&str, &str)> = vec![("fields", FIELDS), ("maxResults", &size)];
    let single = if config.expand_recurring {
        "true"
    } else {
        "false"
    };
    query.push(("singleEvents", single));
    let sync_token = state.tokens.get(&calendar).cloned();
    // A full listing (no token yet) asks for cancelled events too, on every page: Google wants
    // a page request's parameters to be the first request's.
    match (&state.page, &sync_token) {
        (Some(page), _) => query.push(("pageToken", page)),
        (None, Some(token)) => query.push(("syncToken", token)),
        (None, None) => {}
    }
    if sync_token.is_none() {
        query.push(("showDeleted", "true"));
    }
    let what = format!("list the events of calendar {calendar}");
    let response = google.get_unchecked(
        Service::Calendar,
        &["calendars", &calendar, "events"],
        &query,
    )?;
    if response.status == 410 {
        agentic_sdk::log(
            LogLevel::Info,
            &format!(
                "calendar {calendar}: the sync token expired (410 Gone); reading it in full again"
            ),
        );
        state.tokens.remove(&calendar);
        state.page = None;
        return finish(Vec::new(), state, true);
    }
    let answer: Value = match google.check(Service::Calendar, response, &what) {
        Ok(r) => r.json()?,
        Err(Error::NotFound(m)) if sync_token.is_none() && state.page.is_none() => {
            return Err(Error::Config(format!(
                "calendars: no calendar {calendar:?} is visible to the credential's identity ({m})"
            )));
        }
        Err(e) => return Err(e),
    };
    let records = answer["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| RecordData::Document(map(&calendar, e)))
        .collect();
    if let Some(next) = answer["nextPageToken"].as_str() {
        state.page = Some(next.to_owned());
        return finish(records, state, true);
    }
    let token = answer["nextSyncToken"].as_str().ok_or_else(|| {
        Error::Internal(format!(
            "calendar {calendar}: the last page has no nextSyncToken"
        ))
    })?;
    state.tokens.insert(calendar, token.to_owned());
    state.page = None;
    state.at += 1;
    let more = state.at < config.calendars.len();
    if !more {
        state.at = 0;
    }
    finish(records, state, more)
}

fn finish(records: Vec<RecordData>, state: State, has_more: bool) -> Result<Page, Error> {
    let text = serde_json::to_string(&state).map_err(|e| Error::Internal(format!("state: {e}")))?;
    Ok(Page {
        records,
        state: text,
        has_more,
        deleted: Vec::new(),
    })
}

/// An event time as (RFC 3339 text or date, ms since the epoch, all day).
fn when(v: &Value) -> (Option<String>, Option<i64>, bool) {
    if let Some(t) = v["dateTime"].as_str() {
        return (Some(t.to_owned()), crate::time::parse(t), false);
    }
    if let Some(d) = v["date"].as_str() {
        return (Some(d.to_owned()), crate::time::date_millis(d), true);
    }
    (None, None, false)
}

/// An event of `calendar` as a document (see the module's doc for why a document).
pub fn map(calendar: &str, event: &Value) -> Document {
    let text = |k: &str| event[k].as_str().map(str::to_owned);
    let (start, start_ms, all_day) = when(&event["start"]);
    let (end, end_ms, _) = when(&event["end"]);
    let attendees: Vec<Value> = event["attendees"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| json!({"email": a["email"], "name": a["displayName"], "response": a["responseStatus"]}))
        .collect();
    let mut attributes = Map::new();
    attributes.insert("calendar".into(), json!(calendar));
    attributes.insert(
        "status".into(),
        json!(event["status"].as_str().unwrap_or("confirmed")),
    );
    attributes.insert("start".into(), json!(start));
    attributes.insert("end".into(), json!(end));
    attributes.insert("start_ms".into(), json!(start_ms));
    attributes.insert("end_ms".into(), json!(end_ms));
    attributes.insert("all_day".into(), json!(all_day));
    attributes.insert("organizer".into(), json!(event["organizer"]["email"]));
    attributes.insert("attendees".into(), json!(attendees));
    attributes.insert(
        "recurring_event_id".into(),
        json!(event["recurringEventId"]),
    );
    if let Some(rules) = event["recurrence"].as_array() {
        attributes.insert("recurrence".into(), json!(rules));
    }
    Document {
        external_id: format!("{calendar}/{}", text("id").unwrap_or_default()),
        title: text("summary").unwrap_or_default(),
        content_type: "text/markdown".into(),
        body: text("description").unwrap_or_default(),
        url: text("htmlLink"),
        author: event["organizer"]["email"].as_str().map(str::to_owned),
        created_at: event["created"].as_str().and_then(crate::time::parse),
        updated_at: event["updated"].as_str().and_then(crate::time::parse),
        tags: Vec::new(),
        attributes,
    }
}
