//! The actions (`invoke`): create a Google Doc from Markdown in a folder (a multipart upload
//! Drive converts), create a calendar event, and append rows to a Sheet (`values.append` of the
//! Sheets API, on the connection's service origin `sheets`). The host has validated the input
//! against the action's JSON Schema; what the schema cannot say (both ends of an event of the
//! same form, the end after the start) is checked here.

use agentic_sdk::http::Request;
use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::Error;
use serde::Deserialize;

use crate::api::{Google, Service};
use crate::content::DOC;

/// Input of `create-doc`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDoc {
    name: String,
    markdown: String,
    folder_id: String,
}

/// Input of `create-event`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEvent {
    #[serde(default = "primary")]
    calendar: String,
    summary: String,
    #[serde(default)]
    description: Option<String>,
    start: String,
    end: String,
    #[serde(default)]
    attendees: Vec<String>,
}

/// Input of `append-rows`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendRows {
    spreadsheet_id: String,
    /// The sheet's title.
    sheet: String,
    rows: Vec<Vec<Value>>,
    #[serde(default = "user_entered")]
    value_input: String,
}

fn user_entered() -> String {
    "USER_ENTERED".into()
}

fn primary() -> String {
    "primary".into()
}

fn input<T: serde::de::DeserializeOwned>(action: &str, input: Value) -> Result<T, Error> {
    agentic_sdk::serde_json::from_value(input)
        .map_err(|e| Error::InvalidInput(format!("input of `{action}`: {e}")))
}

/// Performs `action`.
pub fn invoke(action: &str, value: Value) -> Result<Value, Error> {
    match action {
        "create-doc" => create_doc(input(action, value)?),
        "create-event" => create_event(input(action, value)?),
        "append-rows" => append_rows(input(action, value)?),
        other => Err(Error::NotFound(format!("no action `{other}`"))),
    }
}

fn create_doc(doc: CreateDoc) -> Result<Value, Error> {
    let google = Google::connected()?;
    let boundary = "agentic-google-boundary-7d1c2e";
    if doc.markdown.contains(boundary) {
        return Err(Error::InvalidInput(
            "markdown contains the upload's boundary".into(),
        ));
    }
    let metadata = json!({"name": doc.name, "mimeType": DOC, "parents": [doc.folder_id]});
    let body = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: text/markdown\r\n\r\n{}\r\n--{boundary}--\r\n",
        doc.markdown
    );
    let url = google.upload_url(Service::DriveWrite, "files");
    let request = Request::post(url)
        .query("uploadType", "multipart")
        .query("supportsAllDrives", "true")
        .query("fields", "id,webViewLink")
        .header(
            "content-type",
            format!("multipart/related; boundary={boundary}"),
        )
        .header("accept", "application/json")
        .body(body);
    let created: Value = google
        .send(
            Service::DriveWrite,
            request,
            &format!("create the Doc {:?}", doc.name),
        )
        .map_err(|e| match e {
            Error::NotFound(m) => {
                Error::InvalidInput(format!("folder_id: no folder {} ({m})", doc.folder_id))
            }
            other => other,
        })?
        .json()?;
    Ok(json!({"id": created["id"], "url": created["webViewLink"]}))
}

/// `{"dateTime": …}` or `{"date": …}` for an input time.
fn when(text: &str, field: &str) -> Result<Value, Error> {
    if text.len() == 10 {
        crate::time::days(text)
            .ok_or_else(|| Error::InvalidInput(format!("{field}: {text:?} is not a date")))?;
        return Ok(json!({"date": text}));
    }
    crate::time::parse(text)
        .ok_or_else(|| Error::InvalidInput(format!("{field}: {text:?} is not an RFC 3339 time")))?;
    Ok(json!({"dateTime": text}))
}

fn create_event(event: CreateEvent) -> Result<Value, Error> {
    let (start, end) = (when(&event.start, "start")?, when(&event.end, "end")?);
    if start.get("date").is_some() != end.get("date").is_some() {
        return Err(Error::InvalidInput(
            "start and end: both dates (all day) or both times".into(),
        ));
    }
    let ms = |v: &Value| {
        v["dateTime"]
            .as_str()
            .and_then(crate::time::parse)
            .or_else(|| v["date"].as_str().and_then(crate::time::date_millis))
    };
    if ms(&end) <= ms(&start) {
        return Err(Error::InvalidInput("end: must be after start".into()));
    }
    let google = Google::connected()?;
    let mut body = json!({"summary": event.summary, "start": start, "end": end});
    if let Some(d) = event.description {
        body["description"] = json!(d);
    }
    if !event.attendees.is_empty() {
        body["attendees"] = event
            .attendees
            .iter()
            .map(|e| json!({"email": e}))
            .collect();
    }
    let request = Request::post(google.url(
        Service::CalendarWrite,
        &["calendars", &event.calendar, "events"],
    ))
    .header("accept", "application/json")
    .json(&body)?;
    let created: Value = google
        .send(
            Service::CalendarWrite,
            request,
            &format!("create an event in calendar {}", event.calendar),
        )?
        .json()?;
    Ok(json!({"id": created["id"], "url": created["htmlLink"]}))
}

fn append_rows(input: AppendRows) -> Result<Value, Error> {
    let google = Google::connected()?;
    let range = crate::sheets::quoted(&input.sheet);
    let body = json!({"range": range, "majorDimension": "ROWS", "values": input.rows});
    let request = Request::post(crate::sheets::append_url(
        &google,
        &input.spreadsheet_id,
        &range,
    ))
    .query("valueInputOption", &input.value_input)
    .query("insertDataOption", "INSERT_ROWS")
    .header("accept", "application/json")
    .json(&body)?;
    let answer: Value = google
        .send(
            Service::SheetsWrite,
            request,
            &format!(
                "append rows to sheet {:?} of spreadsheet {}",
                input.sheet, input.spreadsheet_id
            ),
        )
        .map_err(|e| match e {
            Error::NotFound(m) => Error::InvalidInput(format!(
                "spreadsheet_id: no spreadsheet {} ({m})",
                input.spreadsheet_id
            )),
            Error::Internal(m) if m.contains("Unable to parse range") => {
                Error::InvalidInput(format!(
                    "sheet: the spreadsheet has no sheet {:?} ({m})",
                    input.sheet
                ))
            }
            other => other,
        })?
        .json()?;
    let updates = &answer["updates"];
    Ok(json!({
        "updated_range": updates["updatedRange"].as_str().unwrap_or_default(),
        "updated_rows": updates["updatedRows"].as_u64().unwrap_or(0),
        "updated_cells": updates["updatedCells"].as_u64().unwrap_or(0),
    }))
}
