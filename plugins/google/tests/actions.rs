//! The actions against the fake Google: a Doc created from Markdown is a Google Doc whose
//! export is that Markdown, in the folder asked for; an event lands in the calendar; bad input
//! is refused before or by Google.

use agentic_sdk::Error;
use fake_google::data::DOC;
use serde_json::json;

use crate::support::{folder_config, Fake};

#[test]
fn a_doc_is_created_from_markdown_in_a_folder() {
    let fake = Fake::start(0);
    let markdown = "# Plan ✓\n\n- one\n- two\n";
    let out = fake
        .harness
        .invoke(
            &folder_config(),
            "create-doc",
            &json!({"name": "Plan für 2026", "markdown": markdown, "folder_id": "1Specs"}),
        )
        .expect("created");
    let id = out["id"].as_str().expect("id").to_owned();
    assert_eq!(
        out["url"],
        format!("https://docs.google.com/document/d/{id}/edit")
    );
    let file = fake
        .google
        .with(|d| d.file(&id).cloned())
        .expect("in Drive");
    assert_eq!(
        (file.name.as_str(), file.mime_type.as_str()),
        ("Plan für 2026", DOC)
    );
    assert_eq!(file.parents, ["1Specs"]);
    assert_eq!(
        file.content,
        markdown.as_bytes(),
        "Drive imported the Markdown"
    );
    let upload = fake
        .google
        .seen()
        .into_iter()
        .find(|s| s.id == "drive.files.create")
        .expect("an upload");
    assert_eq!(
        (upload.path.as_str(), upload.query("uploadType")),
        ("/upload/drive/v3/files", Some("multipart"))
    );

    let missing = fake.harness.invoke(
        &folder_config(),
        "create-doc",
        &json!({"name": "x", "markdown": "", "folder_id": "1Nope"}),
    );
    assert!(matches!(missing, Err(Error::InvalidInput(m)) if m.contains("1Nope")));
    fake.assert_no_violations();
}

#[test]
fn an_event_is_created_and_bad_times_are_refused() {
    let fake = Fake::start(0);
    let out = fake
        .harness
        .invoke(&folder_config(), "create-event", &json!({
            "summary": "Review", "description": "Bring notes", "start": "2026-03-02T09:00:00-05:00",
            "end": "2026-03-02T10:00:00-05:00", "attendees": ["user1@example.com", "user2@example.com"]}))
        .expect("created");
    let id = out["id"].as_str().expect("id").to_owned();
    let event = fake
        .google
        .with(|d| {
            d.calendars["primary"]
                .events
                .iter()
                .find(|e| e.id == id)
                .cloned()
        })
        .expect("in the calendar");
    assert_eq!(
        (event.summary.as_str(), event.attendees.as_slice()),
        ("Review", [1, 2].as_slice())
    );
    assert_eq!(
        event.start,
        fake_google::data::When::At {
            ms: 1_772_460_000_000,
            offset_minutes: -300
        }
    );
    assert_eq!(
        out["url"],
        format!("https://www.google.com/calendar/event?eid={id}")
    );
    let all_day = fake.harness.invoke(
        &folder_config(),
        "create-event",
        &json!({"summary": "Off", "start": "2026-03-05", "end": "2026-03-06"}),
    );
    assert!(all_day.is_ok(), "{all_day:?}");

    for (input, why) in [
        (
            json!({"summary": "x", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}),
            "after start",
        ),
        (
            json!({"summary": "x", "start": "2026-03-02", "end": "2026-03-02T09:00:00Z"}),
            "both",
        ),
        (
            json!({"summary": "x", "start": "2026-02-30T25:00:00Z", "end": "2026-03-02"}),
            "RFC 3339",
        ),
        (
            json!({"summary": "x", "start": "2026-03-02", "end": "2026-03-03", "colour": "red"}),
            "colour",
        ),
    ] {
        match fake
            .harness
            .invoke(&folder_config(), "create-event", &input)
        {
            Err(Error::InvalidInput(m)) => assert!(m.contains(why), "{why} in {m}"),
            other => panic!("{input}: {other:?}"),
        }
    }
    fake.google.fail(
        "calendar.events.insert",
        403,
        "insufficientPermissions",
        &[],
        1,
    );
    match fake.harness.invoke(
        &folder_config(),
        "create-event",
        &json!({"summary": "x", "start": "2026-03-05", "end": "2026-03-06"}),
    ) {
        Err(Error::Auth(m)) => assert!(m.contains("auth/calendar.events"), "{m}"),
        other => panic!("{other:?}"),
    }
    fake.assert_no_violations();
}

#[test]
fn rows_are_appended_to_a_sheet_through_the_sheets_api() {
    let fake = Fake::start(5);
    let out = fake
        .harness
        .invoke(
            &folder_config(),
            "append-rows",
            &json!({"spreadsheet_id": "1F00004", "sheet": "Zahlen | ✓",
                    "rows": [["2027", 12.5], ["2028", null]]}),
        )
        .expect("appended");
    assert_eq!(
        out,
        json!({"updated_range": "'Zahlen | ✓'!A4:B5", "updated_rows": 2, "updated_cells": 4})
    );
    let sheet = fake
        .google
        .with(|d| d.file("1F00004").map(|f| f.sheets[1].rows.clone()))
        .expect("the sheet");
    assert_eq!(sheet[3], ["2027", "12.5"]);
    assert_eq!(sheet[4], ["2028", ""]);
    let append = fake
        .google
        .seen()
        .into_iter()
        .find(|s| s.id == "sheets.spreadsheets.values.append")
        .expect("values.append");
    assert_eq!(append.query("valueInputOption"), Some("USER_ENTERED"));
    assert_eq!(append.query("insertDataOption"), Some("INSERT_ROWS"));
    assert_eq!(fake.workspace.requests().len(), 1, "on the Sheets origin");

    let missing = fake.harness.invoke(
        &folder_config(),
        "append-rows",
        &json!({"spreadsheet_id": "1F00004", "sheet": "Nope", "rows": [["x"]]}),
    );
    assert!(
        matches!(&missing, Err(Error::InvalidInput(m)) if m.contains("no sheet \"Nope\"")),
        "{missing:?}"
    );
    fake.assert_no_violations();
}
