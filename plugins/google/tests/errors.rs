//! Google's failures as the contract's errors, through the whole connector: quota answers,
//! missing scopes, server errors, refused credentials, malformed answers, files deleted while a
//! sync reads them.

use std::sync::Arc;

use agentic_sdk::Error;
use fake_google::{Data, Google, Response};
use serde_json::json;

use crate::files::read_documents;
use crate::support::{folder_config, Fake};

fn first_page_error(fake: &Fake) -> Error {
    fake.harness
        .read(&folder_config(), "files", None)
        .expect_err("the read fails")
}

#[test]
fn quota_answers_are_rate_limits_with_googles_delay_or_a_backoff() {
    let fake = Fake::start(3);
    fake.google.fail(
        "drive.files.list",
        429,
        "rateLimitExceeded",
        &[("Retry-After", "17")],
        1,
    );
    assert!(matches!(
        first_page_error(&fake),
        Error::RateLimited {
            retry_after_secs: 17,
            ..
        }
    ));
    fake.google
        .fail("drive.files.list", 403, "userRateLimitExceeded", &[], 1);
    match first_page_error(&fake) {
        Error::RateLimited {
            retry_after_secs,
            message,
        } => {
            assert_eq!(retry_after_secs, google::api::DEFAULT_BACKOFF_SECS);
            assert!(message.contains("userRateLimitExceeded"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Once Google lets it through, the same read succeeds.
    fake.harness
        .read(&folder_config(), "files", None)
        .expect("the read after the quota");
}

#[test]
fn a_missing_scope_is_an_auth_error_naming_the_scope() {
    let fake = Fake::start(3);
    fake.google
        .fail("drive.", 403, "insufficientPermissions", &[], 1);
    match first_page_error(&fake) {
        Error::Auth(m) => assert!(
            m.contains("https://www.googleapis.com/auth/drive.readonly"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    fake.google
        .fail("calendar.", 403, "insufficientPermissions", &[], 1);
    match fake.harness.read(&folder_config(), "events", None) {
        Err(Error::Auth(m)) => assert!(m.contains("auth/calendar.readonly"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_errors_are_transient_and_refused_credentials_auth() {
    let fake = Fake::start(3);
    fake.google.fail(
        "drive.changes.getStartPageToken",
        503,
        "backendError",
        &[],
        1,
    );
    assert!(matches!(first_page_error(&fake), Error::Transient(m) if m.contains("503")));

    let google =
        Google::new(Data::generate(3)).with_authorizer(Arc::new(|a| a == Some("Bearer good")));
    let fake = Fake::with_google(google);
    // The SDK drops a guest's Authorization header, so natively no credential reaches Google.
    match first_page_error(&fake) {
        Error::Auth(m) => assert!(m.contains("401") && m.contains("authError"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_answers_are_internal_errors_naming_the_place() {
    let fake = Fake::start(3);
    fake.google.respond(
        "drive.changes.getStartPageToken",
        Response::bytes("application/json", b"{\"startPageToken\": ".to_vec()),
        1,
    );
    assert!(
        matches!(first_page_error(&fake), Error::Internal(m) if m.contains("changes/startPageToken"))
    );
    fake.google.respond(
        "drive.changes.getStartPageToken",
        Response::json(200, &json!({"startPageToken": 7})),
        1,
    );
    assert!(matches!(first_page_error(&fake), Error::Internal(m) if m.contains("startPageToken")));
}

#[test]
fn a_file_deleted_while_the_sync_reads_it_is_skipped() {
    let fake = Fake::start(6);
    // Listed, then gone before its export.
    fake.google
        .fail("drive.files.export", 404, "notFound", &[], 1);
    let (docs, _) = read_documents(&fake, &folder_config(), "files", None);
    assert!(
        !docs.contains_key("1F00000"),
        "the first Doc was gone at its export"
    );
    assert!(docs.contains_key("1F00001") && docs.contains_key("1F00003"));
    let logs = fake.harness.take_logs();
    assert!(
        logs.iter()
            .any(|(_, l)| l.contains("1F00000") && l.contains("skipped")),
        "{logs:?}"
    );
}

#[test]
fn the_configuration_is_checked_against_what_google_has() {
    let fake = Fake::start(3);
    let message = fake.harness.check(&folder_config()).expect("check");
    assert_eq!(
        message,
        "connected to Google as Ada Lovelace <user0@example.com>"
    );
    let missing = json!({"scope": "folder", "folder_id": "1NoSuchFolder"});
    assert!(
        matches!(fake.harness.check(&missing), Err(Error::Config(m)) if m.contains("folder_id"))
    );
    let file = json!({"scope": "folder", "folder_id": "1F00001"});
    assert!(
        matches!(fake.harness.check(&file), Err(Error::Config(m)) if m.contains("not a folder"))
    );
    for bad in [
        json!({"scope": "folder"}),
        json!({"scope": "shared-drive"}),
        json!({"scope": "all", "folder_id": "x"}),
        json!({"scope": "folder", "folder_id": "a'b"}),
        json!({"scope": "moon"}),
    ] {
        assert!(
            matches!(fake.harness.discover(&bad), Err(Error::Config(_))),
            "{bad}"
        );
    }
}
