//! The `people` stream: the owners of the files in the scope and the organizers and attendees
//! of the configured calendars' events, as `person` records keyed by e-mail; a full refresh.
//!
//! Each person is returned once per run: the state carries the e-mails already returned (a
//! few bytes each; a scope has far fewer people than files). Comment authors come with the
//! comments stream (by e-mail too); editors would need each file's permissions, one request per
//! file, and are left out.

use agentic_sdk::serde_json;
use agentic_sdk::{Error, Page, Person, RecordData};
use serde::{Deserialize, Serialize};

use crate::api::{Google, Service};
use crate::config::Config;
use crate::scope::{self, Cursor};

/// Where a read of the stream is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The walk over the scope's files.
    #[serde(flatten)]
    pub cursor: Cursor,
    /// Index of the calendar being read, once the files are done.
    #[serde(default)]
    pub calendar: usize,
    /// The events page token within that calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_page: Option<String>,
    /// E-mails already returned in this run.
    #[serde(default)]
    pub seen: Vec<String>,
}

/// One page of the stream.
pub fn read(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let google = Google::connected()?;
    let mut state: State = match state {
        None => State::default(),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("state of the people stream: {e}")))?,
    };
    let mut found: Vec<(Option<String>, Option<String>)> = Vec::new();
    if !state.cursor.finished() {
        let (files, next) = scope::fetch(
            &google,
            config,
            &state.cursor,
            "id,owners(displayName,emailAddress)",
        )?;
        for (file, _) in &files {
            for owner in file["owners"].as_array().into_iter().flatten() {
                found.push((
                    owner["emailAddress"].as_str().map(str::to_owned),
                    owner["displayName"].as_str().map(str::to_owned),
                ));
            }
        }
        state.cursor = next;
    } else if let Some(calendar) = config.calendars.get(state.calendar) {
        let size = config.page_size().to_string();
        let mut query: Vec<(&str, &str)> = vec![
            (
                "fields",
                "nextPageToken,items(organizer(email,displayName),attendees(email,displayName))",
            ),
            ("maxResults", &size),
            ("singleEvents", "false"),
        ];
        if let Some(page) = &state.events_page {
            query.push(("pageToken", page));
        }
        let answer = google.get_json(
            Service::Calendar,
            &["calendars", calendar, "events"],
            &query,
            &format!("list the events of calendar {calendar}"),
        )?;
        for event in answer["items"].as_array().into_iter().flatten() {
            let people = std::iter::once(&event["organizer"])
                .chain(event["attendees"].as_array().into_iter().flatten());
            for p in people {
                found.push((
                    p["email"].as_str().map(str::to_owned),
                    p["displayName"].as_str().map(str::to_owned),
                ));
            }
        }
        state.events_page = answer["nextPageToken"].as_str().map(str::to_owned);
        if state.events_page.is_none() {
            state.calendar += 1;
        }
    }
    let mut records = Vec::new();
    for (email, name) in found {
        let Some(email) = email.filter(|e| !e.is_empty()) else {
            continue;
        };
        if state.seen.contains(&email) {
            continue;
        }
        state.seen.push(email.clone());
        records.push(RecordData::Person(Person {
            external_id: email.clone(),
            display_name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| email.clone()),
            email: Some(email),
            active: true,
        }));
    }
    let has_more = !state.cursor.finished() || state.calendar < config.calendars.len();
    let text = serde_json::to_string(&state).map_err(|e| Error::Internal(format!("state: {e}")))?;
    Ok(Page {
        records,
        state: text,
        has_more,
        deleted: Vec::new(),
    })
}
