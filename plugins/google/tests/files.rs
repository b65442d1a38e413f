//! The `files` stream against the fake Google: every scope, field by field, bodies of every
//! kind, the changes feed, names of every Unicode class.

use std::collections::BTreeMap;

use agentic_sdk::testing::Replica;
use agentic_sdk::{Document, RecordData};
use fake_google::data::{File, DOC, SHEET, SLIDES};
use fake_google::Data;
use serde_json::{json, Value};

use crate::support::{folder_config, Fake};

/// Every document of a full read (or from `state`), by external id, and the last state.
pub fn read_documents(
    fake: &Fake,
    config: &Value,
    stream: &str,
    state: Option<&str>,
) -> (BTreeMap<String, Document>, String) {
    let pages = fake
        .harness
        .read_all(config, stream, state)
        .expect("the stream reads");
    let mut out = BTreeMap::new();
    for page in &pages {
        for record in &page.records {
            let RecordData::Document(d) = record else {
                panic!("{record:?}")
            };
            assert!(
                out.insert(d.external_id.clone(), d.clone()).is_none(),
                "{} twice",
                d.external_id
            );
        }
    }
    (out, pages.last().expect("a page").state.clone())
}

/// Every generated Sheet's body: each sheet (tab) under its title, written by hand.
pub const SHEET_BODY: &str = "## Sheet1\n\n| Name | Value |\n| --- | --- |\n| alpha | 1 |\n| with, comma | 2 |\n\n## Zahlen | ✓\n\n| Jahr | Umsatz |\n| --- | --- |\n| 2025 | 1.234,50 € |\n| 2026 |  |\n";

/// What the document of `file` must be, written from the fake's data and Google's documented
/// export formats (the Sheet's tables by hand, for the sheets every generated Sheet has).
fn expected(data: &Data, file: &File, path: &[&str]) -> Document {
    let text = String::from_utf8(file.content.clone()).expect("text");
    let (content_type, body, note) = match file.mime_type.as_str() {
        DOC => ("text/markdown", text, None),
        SHEET => ("text/markdown", SHEET_BODY.to_owned(), None),
        SLIDES => ("text/plain", text, None),
        "application/pdf" => (
            "application/pdf",
            String::new(),
            Some("metadata only: application/pdf has no text form".to_owned()),
        ),
        _ if file.content.len() > 1024 * 1024 => (
            file.mime_type.as_str(),
            String::new(),
            Some(format!(
                "content not kept: {} bytes, over the connection's max_file_bytes of 1048576",
                file.content.len()
            )),
        ),
        _ => (file.mime_type.as_str(), text, None),
    };
    let owner = file.owners.first().map(|o| &data.users[*o]);
    let mut attributes = json!({
        "mime_type": file.mime_type, "path": path,
        "owners": file.owners.iter().map(|o| json!({"name": data.users[*o].name, "email": data.users[*o].email})).collect::<Vec<_>>(),
        "size": if file.is_workspace() { Value::Null } else { json!(file.content.len()) },
        "version": file.version, "drive_id": file.drive_id, "parents": file.parents,
    });
    if let Some(note) = note {
        attributes["content_note"] = json!(note);
    }
    Document {
        external_id: file.id.clone(),
        title: file.name.clone(),
        content_type: content_type.to_owned(),
        body,
        url: Some(file.web_view_link()),
        author: owner.map(|u| u.email.clone()),
        created_at: Some(file.created),
        updated_at: Some(file.modified),
        tags: Vec::new(),
        attributes: attributes.as_object().expect("object").clone(),
    }
}

/// The path of each generated folder, from the synced folder down.
fn folder_path(parent: &str) -> Vec<&'static str> {
    match parent {
        Data::FOLDER => vec![],
        "1Specs" => vec!["Specs"],
        "1Deep" => vec!["Specs", "Deep – tief"],
        other => panic!("not in the folder: {other}"),
    }
}

#[test]
fn a_folder_and_its_subfolders_sync_field_by_field() {
    let fake = Fake::start(24);
    let config = folder_config();
    let (docs, state) = read_documents(&fake, &config, "files", None);
    let want: BTreeMap<String, Document> = fake.google.with(|d| {
        d.files
            .iter()
            .filter(|f| {
                f.mime_type != fake_google::data::FOLDER
                    && ["1FolderProjekt", "1Specs", "1Deep"].contains(&f.parents[0].as_str())
            })
            .map(|f| (f.id.clone(), expected(d, f, &folder_path(&f.parents[0]))))
            .collect()
    });
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (id, doc) in &docs {
        assert_eq!(doc, &want[id], "{id}");
    }
    assert!(
        !docs.contains_key("1Outside") && !docs.contains_key("1Team1"),
        "only the folder's tree"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&state).expect("json")["phase"],
        "changes"
    );
    // Every name of every Unicode class came through unchanged.
    for name in fake_google::data::AWKWARD_NAMES {
        assert!(docs.values().any(|d| d.title.starts_with(name)), "{name}");
    }
    // Only the fields the mapping reads were asked for, and shared drives were supported.
    for seen in fake
        .google
        .seen()
        .iter()
        .filter(|s| s.id == "drive.files.list")
    {
        assert!(
            seen.query("fields")
                .is_some_and(|f| f.starts_with("nextPageToken,files(id,name,")),
            "{seen:?}"
        );
        assert_eq!(seen.query("supportsAllDrives"), Some("true"));
    }
    // Google Docs exported as Markdown; binaries never downloaded; the big file not either.
    let seen = fake.google.seen();
    assert!(seen
        .iter()
        .any(|s| s.id == "drive.files.export" && s.query("mimeType") == Some("text/markdown")));
    assert!(!seen.iter().any(|s| s.query("alt") == Some("media")
        && (s.path.ends_with("1Big") || s.path.ends_with("1F00002"))));
    fake.assert_no_violations();
}

#[test]
fn changes_reach_an_incremental_read_and_removals_leave() {
    let fake = Fake::start(12);
    let config = folder_config();
    // What the host stores, played by the SDK: a full read first.
    let mut replica = Replica::new();
    fake.harness
        .sync(&mut replica, &config, "files")
        .expect("full read");
    let state = replica.state().expect("a state").to_owned();
    fake.google.with(|d| {
        d.edit("1F00000", |f| {
            f.name = "Renamed ✓".into();
            f.content = b"# New text\n".to_vec();
        });
        d.edit("1F00001", |f| f.trashed = true);
        d.delete("1F00003");
        d.create("1New", "neu.txt", "text/plain", "1Deep", b"fresh");
        d.create(
            "1Elsewhere",
            "elsewhere.txt",
            "text/plain",
            Data::ROOT,
            b"not ours",
        );
    });
    let before = fake.google.seen().len();
    let (docs, state2) = read_documents(&fake, &config, "files", Some(&state));
    // The trashed and the deleted file are no documents: they come as deletions.
    assert_eq!(docs.keys().collect::<Vec<_>>(), ["1F00000", "1New"]);
    assert_eq!(
        (
            docs["1F00000"].title.as_str(),
            docs["1F00000"].body.as_str()
        ),
        ("Renamed ✓", "# New text\n")
    );
    assert_eq!(docs["1F00000"].attributes["version"], 2);
    assert_eq!(
        docs["1New"].attributes["path"],
        json!(["Specs", "Deep – tief"])
    );
    assert_eq!(docs["1New"].body, "fresh");
    let listings = fake.google.seen()[before..]
        .iter()
        .filter(|s| s.id == "drive.files.list")
        .count();
    assert_eq!(
        listings, 0,
        "an incremental read follows the changes feed, it does not list"
    );
    // Played as the host stores it: exactly the trashed and the deleted file are gone (the
    // removal of a file the connection never had changes nothing).
    let synced = fake
        .harness
        .sync(&mut replica, &config, "files")
        .expect("incremental read");
    assert_eq!(synced.deleted, 2, "{synced:?}");
    assert!(replica.is_deleted("1F00001") && replica.is_deleted("1F00003"));
    assert!(!replica.is_deleted("1F00000"));
    assert!(replica.live().contains(&"1New"));
    let pages = fake
        .harness
        .read_all(&config, "files", Some(&state))
        .expect("read again");
    let mut gone: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.deleted.iter())
        .map(|d| d.external_id.as_str())
        .collect();
    gone.sort_unstable();
    assert_eq!(gone, ["1F00001", "1F00003"]);
    // Nothing changed since: an empty read that keeps its place.
    let (docs, state3) = read_documents(&fake, &config, "files", Some(&state2));
    assert!(docs.is_empty(), "{docs:?}");
    assert_eq!(state3, state2);
    fake.assert_no_violations();
}

#[test]
fn a_shared_drive_and_everything_sync_with_paths() {
    let fake = Fake::start(6);
    let (docs, _) = read_documents(
        &fake,
        &json!({"scope": "shared-drive", "drive_id": Data::SHARED_DRIVE}),
        "files",
        None,
    );
    assert_eq!(docs.keys().collect::<Vec<_>>(), ["1Team1", "1Team2"]);
    assert_eq!(docs["1Team2"].attributes["path"], json!(["Sub"]));
    assert_eq!(docs["1Team2"].attributes["drive_id"], Data::SHARED_DRIVE);
    assert_eq!(
        docs["1Team2"].author, None,
        "shared drive files have no owners"
    );
    assert_eq!(docs["1Team1"].body, "# Team\n");
    assert!(fake
        .google
        .seen()
        .iter()
        .any(|s| s.id == "drive.files.list" && s.query("corpora") == Some("drive")));

    let (docs, _) = read_documents(
        &fake,
        &json!({"scope": "all", "page_size": 4}),
        "files",
        None,
    );
    assert!(
        docs.contains_key("1Outside")
            && docs.contains_key("1Team2")
            && docs.contains_key("1F00005")
    );
    assert_eq!(
        docs["1F00004"].attributes["path"],
        json!(["Projekt Ω", "Specs"])
    );
    assert_eq!(docs["1Outside"].attributes["path"], json!([]));
    fake.assert_no_violations();
}

#[test]
fn size_caps_keep_metadata_with_a_note() {
    let fake = Fake::start(6);
    fake.google.with(|d| {
        d.create(
            "1Huge",
            "huge.md",
            "text/markdown",
            Data::FOLDER,
            &vec![b'a'; 50 * 1024 * 1024],
        );
        d.create(
            "1HugeDoc",
            "huge doc",
            DOC,
            Data::FOLDER,
            &vec![b'b'; 11 * 1024 * 1024],
        );
    });
    let (docs, _) = read_documents(
        &fake,
        &json!({"scope": "folder", "folder_id": Data::FOLDER, "max_file_bytes": 8 * 1024 * 1024}),
        "files",
        None,
    );
    assert_eq!(docs["1Huge"].body, "");
    assert!(docs["1Huge"].attributes["content_note"]
        .as_str()
        .expect("note")
        .contains("52428800 bytes"));
    assert_eq!(docs["1Huge"].attributes["size"], 52_428_800);
    // Drive cannot export a Doc this large: it is rendered from the Docs API instead, and then
    // kept to the cap like any other body.
    assert_eq!(docs["1HugeDoc"].body, "");
    assert!(docs["1HugeDoc"].attributes["content_note"]
        .as_str()
        .expect("note")
        .contains("over the connection's max_file_bytes"));
    assert!(fake
        .google
        .seen()
        .iter()
        .any(|s| s.id == "docs.documents.get" && s.path == "/v1/documents/1HugeDoc"));
    assert!(
        !fake
            .google
            .seen()
            .iter()
            .any(|s| s.path.ends_with("1Huge") && s.query("alt") == Some("media")),
        "not downloaded"
    );

    let (docs, _) = read_documents(
        &fake,
        &json!({"scope": "folder", "folder_id": Data::FOLDER, "max_file_bytes": 0}),
        "files",
        None,
    );
    assert!(docs.values().all(|d| d.body.is_empty()), "metadata only");
    fake.assert_no_violations();
}

#[test]
fn a_sheet_of_a_million_cells_is_cut_to_the_cell_cap() {
    let fake = Fake::start(0);
    let csv: String = (0..1000)
        .map(|_| format!("{}\n", vec!["1"; 1000].join(",")))
        .collect();
    fake.google
        .with(|d| d.create("1Sheet", "million", SHEET, Data::FOLDER, csv.as_bytes()));
    let config = json!({"scope": "folder", "folder_id": Data::FOLDER, "max_file_bytes": 4 * 1024 * 1024, "max_sheet_cells": 5000});
    let (docs, _) = read_documents(&fake, &config, "files", None);
    let sheet = &docs["1Sheet"];
    assert_eq!(
        sheet.body.lines().count(),
        2 + 5 + 1,
        "the sheet's title, a blank line, 5 rows of 1000 cells and the rule"
    );
    assert!(sheet.attributes["content_note"]
        .as_str()
        .expect("note")
        .contains("5 of 1000 rows"));
}

#[test]
fn a_doc_drive_cannot_export_is_rendered_from_the_docs_api_on_its_own_origin() {
    let fake = Fake::start(1);
    fake.google
        .fail("drive.files.export", 403, "exportSizeLimitExceeded", &[], 1);
    let (docs, _) = read_documents(&fake, &folder_config(), "files", None);
    let doc = &docs["1F00000"];
    let want = fake
        .google
        .with(|d| d.file("1F00000").map(|f| f.content.clone()));
    assert_eq!(
        doc.body.as_bytes(),
        want.expect("the doc"),
        "the same Markdown"
    );
    assert!(doc.attributes["content_note"]
        .as_str()
        .expect("note")
        .contains("rendered from the Docs API"));
    let get = fake
        .google
        .seen()
        .into_iter()
        .find(|s| s.id == "docs.documents.get")
        .expect("documents.get");
    assert_eq!(get.path, "/v1/documents/1F00000");
    assert_eq!(
        fake.workspace.requests().len(),
        1,
        "Docs is called on its own origin, Drive is not"
    );
    fake.assert_no_violations();
}

#[test]
fn every_sheet_is_read_through_the_sheets_api_on_its_own_origin() {
    let fake = Fake::start(5);
    let (docs, _) = read_documents(&fake, &folder_config(), "files", None);
    assert_eq!(docs["1F00004"].body, SHEET_BODY);
    let ids: Vec<String> = fake
        .workspace
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "/v4/spreadsheets/1F00004",
            "/v4/spreadsheets/1F00004/values:batchGet"
        ]
    );
    let batch = fake
        .google
        .seen()
        .into_iter()
        .find(|s| s.id == "sheets.spreadsheets.values.batchGet")
        .expect("batchGet");
    let ranges: Vec<&str> = batch
        .query
        .iter()
        .filter(|(n, _)| n == "ranges")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ranges, ["'Sheet1'", "'Zahlen | ✓'"]);
    assert!(
        !fake
            .google
            .seen()
            .iter()
            .any(|s| s.id == "drive.files.export" && s.query("mimeType") == Some("text/csv")),
        "no CSV export"
    );
    fake.assert_no_violations();
}
