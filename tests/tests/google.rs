//! The Google Workspace connector end to end through the host: the real component (built from
//! `plugins/google`), installed signed like any third-party plugin, syncs a fake Google
//! (`agentic_tests::google`, which checks every request against Google's discovery documents
//! and accepts only tokens the fake token endpoint issued) into SQLite and PostgreSQL, with the
//! two credential kinds Google has: a service account (the host signs the JWT assertion, with
//! domain-wide delegation's `subject`) and OAuth 2.0 authorization code with offline access.
//! Every stream is read by real workers and compared field by field with what the fake served;
//! edits, trashing, deletions and an expired calendar sync token reach the host by incremental
//! syncs; a revoked access token is renewed once by the host; no token is ever stored or shown.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::google::{data, loopback_manifest, sharing, Data, FakeGoogle};
use agentic_tests::providers::{Provider, CLIENT_ID, CLIENT_SECRET};
use agentic_tests::syncs::{assert_has, by_id, results, stored_text, sync, synced_documents};
use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

/// Installs the Google component (allowing the fake's loopback host) signed by a newly
/// trusted publisher and enables it in a new project owned by `owner`.
async fn project_with_google(app: &TestApp, admin: &str, owner: i64) -> i64 {
    let manifest = loopback_manifest();
    (app.project_with_plugin(admin, "google", &manifest, ("Workspace", owner, &[]))).await
}

/// The service-account key of the fixtures, pointed at the fake's token endpoint.
fn service_account(provider: &Provider) -> Value {
    let mut key: Value =
        serde_json::from_str(include_str!("../fixtures/google-auth/service_account.json"))
            .expect("key");
    key["token_uri"] = json!(format!("{}/google/token", provider.url));
    json!({
        "kind": "google-service-account", "key": key, "subject": "user0@example.com",
        "scopes": ["https://www.googleapis.com/auth/drive.readonly",
                   "https://www.googleapis.com/auth/calendar.readonly"],
    })
}

/// Creates the connection to the fake (a folder scope, 5 items a page).
async fn connect(
    app: &TestApp,
    admin: &str,
    project: i64,
    fake: &FakeGoogle,
    credential: Value,
    check: bool,
) -> i64 {
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections?check={check}"),
            admin,
            json!({
                "plugin_id": "google", "name": "drive", "base_url": format!("{}/", fake.url),
                "config": {"scope": "folder", "folder_id": Data::FOLDER, "page_size": 5},
                "allow_private_network": true, "credential": credential,
                // Sheets and Docs on the fake's origin of their own.
                "origins": {"sheets": format!("{}/", fake.workspace_url),
                            "docs": format!("{}/", fake.workspace_url)},
            }),
        )
        .await;
    created.expect(201);
    created.json["id"].as_i64().expect("id")
}

/// What the host must show for each file of the synced folder, from the fake's data (the
/// Sheet's table written by hand for the CSV every generated Sheet has).
fn expected_files(d: &Data) -> BTreeMap<String, Value> {
    let folders = [Data::FOLDER, "1Specs", "1Deep"];
    d.files
        .iter()
        .filter(|f| {
            !f.trashed && f.mime_type != data::FOLDER && folders.contains(&f.parents[0].as_str())
        })
        .map(|f| {
            let text = String::from_utf8_lossy(&f.content).into_owned();
            let (content_type, body) = match f.mime_type.as_str() {
                data::DOC => ("text/markdown", text),
                data::SHEET => (
                    "text/markdown",
                    "## Sheet1\n\n| Name | Value |\n| --- | --- |\n| alpha | 1 |\n| with, comma | 2 |\n\n## Zahlen | ✓\n\n| Jahr | Umsatz |\n| --- | --- |\n| 2025 | 1.234,50 € |\n| 2026 |  |\n"
                        .to_owned(),
                ),
                data::SLIDES => ("text/plain", text),
                "application/pdf" => ("application/pdf", String::new()),
                _ if f.content.len() > 1024 * 1024 => (f.mime_type.as_str(), String::new()),
                _ => (f.mime_type.as_str(), text),
            };
            let path: Vec<&str> = match f.parents[0].as_str() {
                "1Specs" => vec!["Specs"],
                "1Deep" => vec!["Specs", "Deep – tief"],
                _ => vec![],
            };
            let owner = &d.users[f.owners[0]];
            (
                f.id.clone(),
                json!({
                    "title": f.name, "content_type": content_type, "body": body,
                    "url": f.web_view_link(), "author": owner.email,
                    "created_at": agentic_tests::rfc3339(f.created), "updated_at": agentic_tests::rfc3339(f.modified),
                    "attributes": {"mime_type": f.mime_type, "path": path, "version": f.version,
                                   "owners": [{"name": owner.name, "email": owner.email}]},
                }),
            )
        })
        .collect()
}

/// The files the host shows are exactly the fake's, field by field.
async fn assert_files(app: &TestApp, token: &str, project: i64, fake: &FakeGoogle) {
    let want = fake.google.with(|d| expected_files(d));
    let got = synced_documents(app, token, project, "files", false).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the files' ids"
    );
    for (id, fields) in &want {
        assert_has(&got[id], fields, &format!("file {id}"));
    }
}

/// The people the host shows are exactly those the fake holds for the synced folder, field by
/// field: owners, the editors Drive shows the identity (of files it can share), organizers and
/// attendees; not the editors of files it cannot share, readers or groups.
async fn assert_people(app: &TestApp, token: &str, project: i64, fake: &FakeGoogle) {
    let folders = [Data::FOLDER, "1Specs", "1Deep"];
    let want = fake.google.with(|d| {
        d.people(|f| {
            !f.trashed && f.mime_type != data::FOLDER && folders.contains(&f.parents[0].as_str())
        })
    });
    let got = by_id(app, token, &format!("/api/v1/projects/{project}/people")).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the people's ids"
    );
    for (email, name) in &want {
        let fields =
            json!({"display_name": name, "email": email, "active": true, "deleted": false});
        assert_has(&got[email], &fields, &format!("person {email}"));
    }
    for editor in ["editor0@example.com", "editor1@example.com"] {
        assert!(got.contains_key(editor), "{editor}, only an editor");
    }
    for absent in [sharing::HIDDEN_EDITOR, sharing::READER, sharing::GROUP] {
        assert!(!got.contains_key(absent), "{absent}");
    }
}

/// No secret anywhere the host writes or shows: records, states, jobs, connections, and the
/// read APIs.
async fn assert_secret_nowhere(app: &TestApp, token: &str, project: i64, secrets: &[String]) {
    for text in stored_text(app).await {
        for secret in secrets {
            assert!(
                !text.contains(secret.as_str()),
                "stored: {secret} in {text}"
            );
        }
    }
    for path in ["synced-documents", "comments", "people", "connections"] {
        let r = app
            .get(
                &format!("/api/v1/projects/{project}/{path}?limit=200&include_deleted=true"),
                token,
            )
            .await;
        for secret in secrets {
            assert!(!r.text.contains(secret.as_str()), "{path} shows {secret}");
        }
    }
}

/// Every token the fake issued, and the service account's private key.
fn secrets(provider: &Provider) -> Vec<String> {
    let key: Value =
        serde_json::from_str(include_str!("../fixtures/google-auth/service_account.json"))
            .expect("key");
    let mut out = provider.seen().issued.clone();
    out.push(key["private_key"].as_str().expect("key")[40..80].to_owned());
    out.push(CLIENT_SECRET.to_owned());
    out
}

stories! {
    async fn google_workspace_syncs_through_the_host_with_a_service_account(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_google(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let provider = Provider::start().await;
        let fake = FakeGoogle::start(Data::generate(14), &provider).await;

        let cid = connect(&app, &admin.token, project, &fake, service_account(&provider), false).await;
        let check = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/check"), &admin.token, json!({})).await;
        check.expect(200);
        assert_eq!(check.json, json!({"ok": true, "message": "connected to Google as Ada Lovelace <user0@example.com>"}));
        let claims = provider.seen().assertions.last().cloned().expect("a JWT assertion");
        assert_eq!(claims["sub"], "user0@example.com", "domain-wide delegation's subject");

        // A full sync of every stream.
        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let r = results(&jobs);
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), ["comments", "events", "files", "people"]);
        assert_eq!(r["files"]["records"], 15, "{}", r["files"]);
        assert_eq!(r["events"]["records"], 9, "seven events, one of them three times: {}", r["events"]);
        assert_files(&app, &pm.token, project, &fake).await;
        let comments = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/comments")).await;
        let want_comments = fake.google.with(|d| d.files.iter().map(|f| f.comments.len() * 2).sum::<usize>());
        assert_eq!(comments.len(), want_comments, "comments and their replies");
        let first = &comments["1F00000/AAA0"];
        assert_eq!((first["parent_external_id"].as_str(), first["author"].as_str()), (Some("1F00000"), Some("user1@example.com")));
        assert_eq!(comments["1F00000/AAA0/AAA0r1"]["parent_external_id"], "1F00000/AAA0");
        assert_people(&app, &pm.token, project, &fake).await;
        let events = synced_documents(&app, &pm.token, project, "events", false).await;
        assert_eq!(events["primary/evt4abc_20260111T140000Z"]["attributes"]["start"], "2026-01-11T09:00:00-05:00");
        assert_eq!(events["primary/evt2abc"]["attributes"]["all_day"], true);

        // Drive changes: an edit, a file trashed, one deleted for good, one new; a calendar
        // event renamed after its sync token expired (410 Gone).
        fake.google.with(|d| {
            d.edit("1F00000", |f| { f.name = "Umbenannt ✓".into(); f.content = b"# Neu\n".to_vec(); });
            d.edit("1F00001", |f| f.trashed = true);
            d.delete("1F00003");
            d.create("1New", "neu.txt", "text/plain", "1Deep", b"fresh");
            d.expire_sync_tokens("primary");
            d.edit_event("primary", "evt1abc", |e| e.summary = "Renamed".into());
        });
        let before = fake.google.seen().len();
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files"})).await;
        // Two documents, and the trashed and the deleted file as deletions (contract 0.3.0).
        assert_eq!(jobs["files"]["result"]["records"], 2, "{}", jobs["files"]);
        assert_eq!(jobs["files"]["result"]["deleted"], 2, "{}", jobs["files"]);
        assert!(fake.google.seen()[before..].iter().all(|s| s.id != "drive.files.list"), "the changes feed, no listing");
        let files = synced_documents(&app, &pm.token, project, "files", false).await;
        assert_eq!((files["1F00000"]["title"].as_str(), files["1F00000"]["body"].as_str()), (Some("Umbenannt ✓"), Some("# Neu\n")));
        assert_eq!(files["1New"]["attributes"]["path"], json!(["Specs", "Deep – tief"]));
        assert!(!files.contains_key("1F00001") && !files.contains_key("1F00003"), "gone at once");
        let all = synced_documents(&app, &pm.token, project, "files", true).await;
        assert_eq!((all["1F00001"]["deleted"].as_bool(), all["1F00003"]["deleted"].as_bool()), (Some(true), Some(true)));
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "events"})).await;
        assert_eq!(jobs["events"]["result"]["records"], 9, "the calendar read again in full: {}", jobs["events"]);
        let events = synced_documents(&app, &pm.token, project, "events", false).await;
        assert_eq!(events.len(), 9, "nothing duplicated");
        assert_eq!(events["primary/evt1abc"]["title"], "Renamed");

        // A full refresh finds nothing more to delete.
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files", "mode": "full"})).await;
        assert_eq!(jobs["files"]["result"]["deleted"], 0, "{}", jobs["files"]);
        assert_files(&app, &pm.token, project, &fake).await;
        let all = synced_documents(&app, &pm.token, project, "files", true).await;
        assert_eq!((all["1F00001"]["deleted"].as_bool(), all["1F00003"]["deleted"].as_bool()), (Some(true), Some(true)));

        // Google revokes the access token: the 401 makes the host renew it once, and the sync
        // goes on.
        let grants = provider.token_requests("urn:ietf:params:oauth:grant-type:jwt-bearer");
        provider.revoke_access_tokens();
        fake.google.with(|d| d.edit("1New", |f| f.content = b"fresher".to_vec()));
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files"})).await;
        assert_eq!(jobs["files"]["result"]["records"], 1);
        assert_eq!(provider.token_requests("urn:ietf:params:oauth:grant-type:jwt-bearer"), grants + 1);

        // A quota answer: the job waits for Google's Retry-After without spending an attempt,
        // then runs.
        fake.google.fail("drive.changes.list", 403, "userRateLimitExceeded", &[("retry-after", "120")], 1);
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token,
            json!({"stream": "files"})).await;
        started.expect(202);
        let id = started.json["job"]["id"].as_i64().expect("id");
        let mut job = Value::Null;
        for _ in 0..1500 {
            job = app.get(&format!("/api/v1/jobs/{id}"), &pm.token).await.json;
            if job["last_error"].is_string() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!((job["state"].as_str(), job["attempts"].as_i64()), (Some("queued"), Some(0)), "{job}");
        assert!(job["last_error"].as_str().expect("error").contains("userRateLimitExceeded"), "{job}");
        app.advance(std::time::Duration::from_secs(121));
        let job = app.finished_job(&pm.token, id).await;
        assert_eq!(job["state"], "succeeded", "{job}");

        // Rows appended to a Sheet through the Sheets API, on the connection's `sheets` origin.
        let appended = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/actions/append-rows"), &admin.token,
            json!({"input": {"spreadsheet_id": "1F00004", "sheet": "Sheet1", "rows": [["gamma", 3]]}})).await;
        appended.expect(200);
        assert_eq!(appended.json["output"], json!({"updated_range": "'Sheet1'!A4:B4", "updated_rows": 1, "updated_cells": 2}));
        assert_eq!(fake.google.with(|d| d.file("1F00004").map(|f| f.sheets[0].rows.len())), Some(4));

        // Every request fit Google's discovery documents and carried a token the host added,
        // on the Sheets and Docs origin as on Drive's.
        assert_eq!(fake.google.violations(), Vec::<String>::new());
        assert!(fake.google.seen().iter().all(|s| s.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer at-"))));
        assert!(fake.google.seen().iter().any(|s| s.id == "sheets.spreadsheets.values.batchGet"));
        assert_secret_nowhere(&app, &pm.token, project, &secrets(&provider)).await;
    }

    async fn google_drive_syncs_with_oauth_consent_and_offline_access(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_google(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let provider = Provider::start().await;
        let fake = FakeGoogle::start(Data::generate(8), &provider).await;

        let cid = connect(&app, &admin.token, project, &fake, json!({
            "kind": "oauth2-authorization-code", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "authorize_url": format!("{}/authorize", provider.url), "token_url": format!("{}/oauth/token", provider.url),
            "scopes": ["https://www.googleapis.com/auth/drive.readonly", "https://www.googleapis.com/auth/drive.file",
                       "https://www.googleapis.com/auth/calendar.events"],
            "authorize_params": {"access_type": "offline", "prompt": "consent"},
        }), false).await;
        // Google's consent screen, with offline access for a refresh token.
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/authorize"), &pm.token, json!({})).await;
        started.expect(200);
        let consent = started.json["authorization_url"].as_str().expect("url").to_owned();
        assert!(consent.contains("access_type=offline") && consent.contains("prompt=consent"), "{consent}");
        let code = provider.consent(&consent);
        let state = url::Url::parse(&consent).expect("url").query_pairs()
            .find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
        let back = app.call("GET", &format!("/api/v1/oauth/callback?code={code}&state={state}"), None, None).await;
        assert!(back.status.as_u16() < 400, "{}", back.text);

        let check = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/check"), &pm.token, json!({})).await;
        assert_eq!(check.json["message"], "connected to Google as Ada Lovelace <user0@example.com>", "{}", check.json);
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files", "mode": "full"})).await;
        assert_eq!(jobs["files"]["result"]["records"], 9, "{}", jobs["files"]);
        assert_files(&app, &pm.token, project, &fake).await;

        // The access token is revoked: the host refreshes once with the refresh token.
        provider.revoke_access_tokens();
        fake.google.with(|d| d.edit("1F00001", |f| f.content = b"edited".to_vec()));
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files"})).await;
        assert_eq!(jobs["files"]["result"]["records"], 1);
        assert_eq!(provider.token_requests("refresh_token"), 1);
        assert_eq!(synced_documents(&app, &pm.token, project, "files", false).await["1F00001"]["body"], "edited");

        // Actions through the host: a Doc from Markdown, then an event; the next incremental
        // sync brings the Doc back with its Markdown.
        let actions = format!("/api/v1/projects/{project}/connections/{cid}/actions");
        let bad = app.post(&format!("{actions}/create-doc"), &pm.token, json!({"input": {"name": "", "markdown": "x", "folder_id": "a/b"}})).await;
        bad.problem(422);
        assert!(bad.fields().iter().any(|f| f == "input.folder_id"), "{:?}", bad.fields());
        let created = app.post(&format!("{actions}/create-doc"), &pm.token, json!({"input": {
            "name": "Protokoll ✓", "markdown": "# Protokoll\n\n- **eins**\n", "folder_id": "1Specs"}})).await;
        created.expect(200);
        let doc = created.json["output"]["id"].as_str().expect("id").to_owned();
        let event = app.post(&format!("{actions}/create-event"), &pm.token, json!({"input": {
            "summary": "Review", "start": "2026-03-02T09:00:00+01:00", "end": "2026-03-02T10:00:00+01:00",
            "attendees": ["user2@example.com"]}})).await;
        event.expect(200);
        assert!(event.json["output"]["url"].as_str().expect("url").starts_with("https://www.google.com/calendar/event?eid="));
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "files"})).await;
        assert_eq!(jobs["files"]["result"]["records"], 1);
        let files = synced_documents(&app, &pm.token, project, "files", false).await;
        assert_eq!((files[&doc]["title"].as_str(), files[&doc]["body"].as_str()), (Some("Protokoll ✓"), Some("# Protokoll\n\n- **eins**\n")));
        assert_eq!(files[&doc]["attributes"]["path"], json!(["Specs"]));

        // Google's missing scope is an auth failure that names the scope.
        fake.google.fail("calendar.", 403, "insufficientPermissions", &[], 1);
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token, json!({"stream": "events"})).await;
        started.expect(202);
        let job = app.finished_job(&pm.token, started.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "dead", "an auth failure is not retried: {job}");
        assert!(job["last_error"].as_str().expect("error").contains("https://www.googleapis.com/auth/calendar.readonly"), "{job}");

        assert_eq!(fake.google.violations(), Vec::<String>::new());
        assert_secret_nowhere(&app, &pm.token, project, &secrets(&provider)).await;
    }
}
