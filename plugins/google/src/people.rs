//! The `people` stream: the owners and editors of the files in the scope and the organizers
//! and attendees of the configured calendars' events, as `person` records keyed by e-mail; a
//! full refresh.
//!
//! Editors cost no request per file. A My Drive file's `permissions` come in the listing itself
//! (Drive fills them only for an identity that can share the file); a shared drive's files have
//! none there, their editors being the drive's members, which `permissions.list` on the drive's
//! id gives once per drive (paged; the drives met and how many are done live in the state).
//! An editor is a permission of `type` `user` with role `owner`, `organizer`, `fileOrganizer` or
//! `writer`; commenters and readers are not editors; a `group` is a mailing list, not a person,
//! and is left out (its members would need the Admin SDK, with scopes of its own), as are
//! `domain` and `anyone`.
//!
//! Each person is returned once per run: the state carries the e-mails already returned (a
//! few bytes each; a scope has far fewer people than files). Comment authors come with the
//! comments stream (by e-mail too).

use agentic_sdk::serde_json::{self, Value};
use agentic_sdk::{Error, LogLevel, Page, Person, RecordData};
use serde::{Deserialize, Serialize};

use crate::api::{self, Google, Service};
use crate::config::Config;
use crate::scope::{self, Cursor};

/// The file fields the stream reads (Drive's partial response).
pub const FILE_FIELDS: &str =
    "id,driveId,owners(displayName,emailAddress),permissions(emailAddress,displayName,role,type)";

/// The roles that may change a file: its editors.
const EDITOR_ROLES: [&str; 4] = ["owner", "organizer", "fileOrganizer", "writer"];

/// An e-mail and a name, as Google gave them.
type Found = (Option<String>, Option<String>);

/// Where a read of the stream is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The walk over the scope's files.
    #[serde(flatten)]
    pub cursor: Cursor,
    /// Shared drives met among the files, in order: their members edit their files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drives: Vec<String>,
    /// How many of `drives` had their members listed in full.
    #[serde(default)]
    pub drives_done: usize,
    /// The `permissions.list` page token within the drive being listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_page: Option<String>,
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
    let mut found: Vec<Found> = Vec::new();
    if let Some(drive) = state.drives.get(state.drives_done).cloned() {
        members(&google, config, &drive, &mut state, &mut found)?;
    } else if !state.cursor.finished() {
        let (files, next) = scope::fetch(&google, config, &state.cursor, FILE_FIELDS)?;
        for (file, _) in &files {
            let people = file["owners"].as_array().into_iter().flatten();
            found.extend(people.map(|p| person(p, "emailAddress", "displayName")));
            found.extend(editors(&file["permissions"]));
            if let Some(drive) = file["driveId"].as_str() {
                if !state.drives.iter().any(|d| d == drive) {
                    state.drives.push(drive.to_owned());
                }
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
            found.extend(people.map(|p| person(p, "email", "displayName")));
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
    let has_more = state.drives_done < state.drives.len()
        || !state.cursor.finished()
        || state.calendar < config.calendars.len();
    let text = serde_json::to_string(&state).map_err(|e| Error::Internal(format!("state: {e}")))?;
    Ok(Page {
        records,
        state: text,
        has_more,
        deleted: Vec::new(),
    })
}

fn person(p: &Value, email: &str, name: &str) -> Found {
    (
        p[email].as_str().map(str::to_owned),
        p[name].as_str().map(str::to_owned),
    )
}

/// The persons among `permissions` who edit.
fn editors(permissions: &Value) -> impl Iterator<Item = Found> + '_ {
    permissions
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["type"] == "user"
                && p["role"]
                    .as_str()
                    .is_some_and(|r| EDITOR_ROLES.contains(&r))
        })
        .map(|p| person(p, "emailAddress", "displayName"))
}

/// One page of the members of shared drive `drive` (its editors into `found`). A drive whose
/// members the identity may not list (`403 insufficientFilePermissions`: a file of it was
/// shared with the identity, which is no member) or that is gone is skipped.
fn members(
    google: &Google,
    config: &Config,
    drive: &str,
    state: &mut State,
    found: &mut Vec<Found>,
) -> Result<(), Error> {
    // Drive pages permissions by 100 at most.
    let size = config.page_size().min(100).to_string();
    let mut query: Vec<(&str, &str)> = vec![
        ("supportsAllDrives", "true"),
        ("pageSize", &size),
        (
            "fields",
            "nextPageToken,permissions(emailAddress,displayName,role,type)",
        ),
    ];
    if let Some(page) = &state.members_page {
        query.push(("pageToken", page));
    }
    let what = format!("list the members of shared drive {drive}");
    let response =
        google.get_unchecked(Service::Drive, &["files", drive, "permissions"], &query)?;
    let skipped = response.status == 404
        || (response.status == 403 && api::reason(&response).0 == "insufficientFilePermissions");
    if skipped {
        agentic_sdk::log(
            LogLevel::Info,
            &format!("shared drive {drive}: its members are not visible to the identity ({}): its editors are left out", response.status),
        );
        state.members_page = None;
        state.drives_done += 1;
        return Ok(());
    }
    let answer: Value = google.check(Service::Drive, response, &what)?.json()?;
    found.extend(editors(&answer["permissions"]));
    state.members_page = answer["nextPageToken"].as_str().map(str::to_owned);
    if state.members_page.is_none() {
        state.drives_done += 1;
    }
    Ok(())
}
