//! The `people` stream against the fake Google: owners, editors (a My Drive file's
//! `permissions` from the listing itself, a shared drive's members listed once per drive),
//! organizers and attendees, field by field with the people the fake holds.

use std::collections::BTreeMap;

use agentic_sdk::{Error, Person, RecordData};
use fake_google::data::{File, FOLDER};
use fake_google::sharing::{GROUP, HIDDEN_EDITOR, READER};
use fake_google::{Data, Seen};
use serde_json::{json, Value};

use crate::support::{folder_config, Fake};

/// Every person of a full read, by external id (each once).
fn read_people(fake: &Fake, config: &Value) -> BTreeMap<String, Person> {
    let pages = fake
        .harness
        .read_all(config, "people", None)
        .expect("the stream reads");
    let mut out = BTreeMap::new();
    for record in pages.iter().flat_map(|p| &p.records) {
        let RecordData::Person(p) = record else {
            panic!("{record:?}")
        };
        assert!(
            out.insert(p.external_id.clone(), p.clone()).is_none(),
            "{} twice",
            p.external_id
        );
    }
    out
}

/// The records are exactly `want` (e-mail → name), field by field.
fn assert_people(got: &BTreeMap<String, Person>, want: &BTreeMap<String, String>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (email, name) in want {
        let expected = Person {
            external_id: email.clone(),
            display_name: name.clone(),
            email: Some(email.clone()),
            active: true,
        };
        assert_eq!(got[email], expected);
    }
}

fn in_folder(f: &File) -> bool {
    f.mime_type != FOLDER
        && f.parents
            .first()
            .is_some_and(|p| [Data::FOLDER, "1Specs", "1Deep"].contains(&p.as_str()))
}

fn member_lists(fake: &Fake) -> Vec<Seen> {
    fake.google
        .seen()
        .into_iter()
        .filter(|s| s.id == "drive.permissions.list")
        .collect()
}

#[test]
fn owners_and_the_editors_drive_shows_come_from_the_listing_itself() {
    let fake = Fake::start(24);
    let got = read_people(&fake, &folder_config());
    let want = fake.google.with(|d| d.people(in_folder));
    assert_people(&got, &want);
    assert_eq!(got["editor1@example.com"].display_name, "سارة المحررة");
    assert!(got.contains_key("editor0@example.com"));
    // Editors of files the identity cannot share (Drive shows it no permissions), readers and
    // groups are not among them.
    for absent in [HIDDEN_EDITOR, READER, GROUP] {
        assert!(!got.contains_key(absent), "{absent}");
    }
    let listings: Vec<Seen> = fake
        .google
        .seen()
        .into_iter()
        .filter(|s| s.id == "drive.files.list")
        .collect();
    assert!(listings.iter().all(|s| s
        .query("fields")
        .is_some_and(|f| f.contains("permissions(emailAddress,displayName,role,type)"))));
    assert!(
        member_lists(&fake).is_empty(),
        "no request per file, no shared drive"
    );
    fake.assert_no_violations();
}

#[test]
fn a_shared_drives_members_are_listed_once_page_by_page() {
    let fake = Fake::start(6);
    let got = read_people(&fake, &json!({"scope": "all", "page_size": 5}));
    let want = fake
        .google
        .with(|d| d.people(|f| f.mime_type != FOLDER && !f.parents.is_empty() && !f.trashed));
    assert_people(&got, &want);
    // The drive's members who edit, whatever their role's name; not its commenter or group.
    assert_eq!(got["content@example.com"].display_name, "فاطمة");
    assert!(got.contains_key("writer@example.com") && got.contains_key("organizer@example.com"));
    assert!(
        !got.contains_key("commenter@example.com") && !got.contains_key("drive-team@example.com")
    );
    // Seven members, five a page: two requests for the one drive, not one per file.
    let lists = member_lists(&fake);
    assert_eq!(lists.len(), 2, "{lists:?}");
    for list in &lists {
        assert_eq!(
            list.path,
            format!("/drive/v3/files/{}/permissions", Data::SHARED_DRIVE)
        );
        assert_eq!(list.query("supportsAllDrives"), Some("true"));
    }
    assert_eq!(lists[1].query("pageToken"), Some("pm~5"));
    fake.assert_no_violations();
}

#[test]
fn a_drive_whose_members_are_hidden_is_skipped_and_other_refusals_fail() {
    let fake = Fake::start(0);
    let config = json!({"scope": "shared-drive", "drive_id": Data::SHARED_DRIVE});
    fake.google
        .fail("drive.permissions.list", 403, "rateLimitExceeded", &[], 1);
    let failed = fake
        .harness
        .read_all(&config, "people", None)
        .expect_err("a quota answer is no skip");
    assert!(matches!(failed, Error::RateLimited { .. }), "{failed:?}");

    // Not a member (a file of the drive was shared with the identity): the drive's editors
    // are left out, the stream goes on.
    fake.google.fail(
        "drive.permissions.list",
        403,
        "insufficientFilePermissions",
        &[],
        1,
    );
    let got = read_people(&fake, &config);
    let want = fake.google.with(|d| d.people(|_| false));
    assert_people(&got, &want);
    assert_eq!(member_lists(&fake).len(), 2, "once for each read");
    fake.assert_no_violations();
}
