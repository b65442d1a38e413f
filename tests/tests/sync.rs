//! The sync engine end to end: the example connector (a real component) read page by page by a
//! real worker into the internal models, through the API — incremental re-runs add nothing,
//! a full refresh detects deletions, a fan-out syncs every stream, and the models are read back
//! with filters and cursor pagination by the project's members only; synced documents appear in
//! the Documents API, read-only, with their versions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::{stories, syncs, TestApp};
use serde_json::{json, Value};

/// Held by a test, it keeps the fake service from answering.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// A note the fake service serves: id, title, body, tags.
type Note = (u64, &'static str, String, Vec<&'static str>);

/// A service in the example connector's HTTP mode with no items and the given notes (shared,
/// so a test changes them between syncs).
/// Every `/notes` request first takes `gate` (a test holds it to keep a sync mid-page) and
/// counts in `hits`.
async fn notes_service(notes: Arc<Mutex<Vec<Note>>>, gate: Gate, hits: Arc<AtomicUsize>) -> String {
    use axum::extract::Query;
    use std::collections::HashMap;
    let app = axum::Router::new()
        .route("/status", axum::routing::get(|| async { axum::Json(json!({"items": 0})) }))
        .route(
            "/items",
            axum::routing::get(|| async { axum::Json(json!({"items": [], "has_more": false})) }),
        )
        .route(
            "/notes",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let (notes, gate, hits) = (notes.clone(), gate.clone(), hits.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    drop(gate.lock().await);
                    let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
                    let notes = notes.lock().expect("notes");
                    let rest: Vec<&Note> = notes.iter().filter(|n| n.0 > after).collect();
                    let page: Vec<Value> = rest.iter().take(limit).map(|(id, title, body, tags)| {
                        json!({"id": id, "title": title, "body": body, "tags": tags, "updated": 1_700_000_000_000_u64 + id})
                    }).collect();
                    axum::Json(json!({"notes": page, "has_more": rest.len() > limit}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Creates a connection of the example connector reading `base`'s notes (`page_size` a page,
/// the connector's default when `None`) and returns its id.
async fn notes_connection(
    app: &TestApp,
    token: &str,
    project: i64,
    base: &str,
    page_size: Option<u64>,
) -> i64 {
    let mut config = json!({"base_url": base, "notes": true});
    if let Some(size) = page_size {
        config["page_size"] = json!(size);
    }
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            token,
            json!({
                "plugin_id": "example", "name": "wiki", "base_url": base, "config": config,
                "allow_private_network": true, "credential": {"kind": "anonymous"},
            }),
        )
        .await;
    created.expect(201);
    created.json["id"].as_i64().expect("id")
}

stories! {
    async fn a_sync_stores_every_page_and_full_refreshes_detect_deletions(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let outsider = app.user(Role::TechnicalLead).await;
        let project = app.project_with_example(&admin.token, pm.id, &[se.id]).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let created = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, json!({
            "plugin_id": "example", "name": "memory", "base_url": "https://tracker.example.com",
            "config": {"items": 450, "page_size": 100}, "credential": {"kind": "anonymous"},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let sync_url = format!("/api/v1/projects/{project}/connections/{cid}/sync");

        // Support engineers watch syncs; they do not start them.
        app.post(&sync_url, &se.token, json!({"stream": "items"})).await.problem(403);
        app.post(&sync_url, &outsider.token, json!({"stream": "items"})).await.problem(404);
        app.post(&sync_url, &pm.token, json!({"mode": "sometimes"})).await.problem(422);

        let started = app.post(&sync_url, &pm.token, json!({"stream": "items"})).await;
        started.expect(202);
        let job = app.finished_job(&se.token, started.json["job"]["id"].as_i64().expect("job id")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"], json!({"records": 450, "pages": 5, "deleted": 0}));
        // The connector's own progress (`host.progress`: items read of the total it knows)
        // reaches the job beside the records the host stored.
        assert_eq!(job["progress"]["done"], 450);
        assert_eq!(job["progress"]["total"], 450, "{job}");
        let message = job["progress"]["message"].as_str().expect("message");
        assert!(message.contains("450 records in 5 pages") && message.contains("reading items"), "{message}");

        let items = app.all(&se.token, &format!("/api/v1/projects/{project}/work-items")).await;
        assert_eq!(items.len(), 450);
        let first = &items[0];
        assert_eq!(first["connection_id"], cid);
        assert_eq!(first["stream"], "items");
        assert!(first["title"].is_string() && first["status"].is_string(), "{first}");
        let mut ids: Vec<&str> = items.iter().map(|i| i["external_id"].as_str().expect("id")).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 450, "no duplicates");
        app.get(&format!("/api/v1/projects/{project}/work-items"), &outsider.token).await.problem(404);
        assert_eq!(first["status"], "open");
        assert_eq!(app.all(&se.token, &format!("/api/v1/projects/{project}/work-items?status=open")).await.len(), 450);
        assert!(app.all(&se.token, &format!("/api/v1/projects/{project}/work-items?status=closed")).await.is_empty());
        // "Item 4", "Item 40".."Item 49", "Item 400".."Item 450".
        let found = app.all(&se.token, &format!("/api/v1/projects/{project}/work-items?q=item%204")).await;
        assert_eq!(found.len(), 62);

        // Incremental: nothing new, nothing duplicated.
        let again = app.post(&sync_url, &pm.token, json!({"stream": "items"})).await;
        let job = app.finished_job(&pm.token, again.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(app.count("records").await, 450);

        // The service now holds 400: a full refresh marks the other 50 deleted.
        app.call("PATCH", &format!("/api/v1/projects/{project}/connections/{cid}"), Some(&pm.token),
            Some(json!({"config": {"items": 400, "page_size": 100}}))).await.expect(200);
        let full = app.post(&sync_url, &pm.token, json!({"stream": "items", "mode": "full"})).await;
        let job = app.finished_job(&pm.token, full.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["result"], json!({"records": 400, "pages": 4, "deleted": 50}), "{job}");
        assert_eq!(app.all(&se.token, &format!("/api/v1/projects/{project}/work-items")).await.len(), 400);
        let with_deleted = app.all(&se.token, &format!("/api/v1/projects/{project}/work-items?include_deleted=true")).await;
        assert_eq!(with_deleted.len(), 450);
        assert_eq!(with_deleted.iter().filter(|i| i["deleted"] == true).count(), 50);

        // Without a stream: one job per discovered stream.
        let fan = app.post(&sync_url, &pm.token, json!({})).await;
        let root = app.finished_job(&pm.token, fan.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(root["result"]["streams"], 1, "{root}");
        let child = root["result"]["jobs"][0].as_i64().expect("child");
        assert_eq!(app.finished_job(&pm.token, child).await["state"], "succeeded");

        // A schedule: set, read, refused when it cannot fire, removed.
        let schedule = format!("/api/v1/projects/{project}/connections/{cid}/schedule");
        let r = app.call("PUT", &schedule, Some(&pm.token), Some(json!({"cron": "0 */6 * * *", "mode": "full"}))).await;
        r.expect(200);
        assert!(r.json["next_run_at"].is_string());
        assert_eq!(app.get(&schedule, &se.token).await.json["mode"], "full");
        let r = app.call("PUT", &schedule, Some(&pm.token), Some(json!({"cron": "61 * * * *"}))).await;
        assert_eq!(r.fields(), ["cron"], "{}", r.text);
        app.call("DELETE", &schedule, Some(&pm.token), None).await.expect(204);
        app.get(&schedule, &pm.token).await.problem(404);

        // A project's records go with it, through its connections (records keep no key of
        // their own on the project).
        assert_eq!(app.count("records").await, 450);
        app.call("DELETE", &format!("/api/v1/projects/{project}"), Some(&admin.token), None).await.expect(204);
        assert_eq!(app.count("records").await, 0);
    }

    async fn synced_documents_appear_in_the_documents_api_read_only_with_versions(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project_with_example(&admin.token, pm.id, &[se.id]).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let notes: Arc<Mutex<Vec<Note>>> = Arc::new(Mutex::new(vec![
            (1, "Release plan", "# Plan\n\nShip the *gearbox* in May.".into(), vec!["plan", "Q2"]),
            (2, "Runbook", "Restart the pump, then check pressure.".into(), vec!["ops"]),
            (3, "Old idea", "Forgotten.".into(), vec![]),
        ]));
        let base = notes_service(notes.clone(), Gate::default(), Arc::default()).await;
        let cid = notes_connection(&app, &admin.token, project, &base, Some(2)).await;
        // `notes` is a full-refresh stream: asked for an incremental sync, it is read in full.
        let sync = || async {
            let mut jobs = syncs::sync(&app, &pm.token, project, cid, json!({"stream": "notes"})).await;
            jobs.remove("notes").expect("the notes job")
        };
        let docs = format!("/api/v1/projects/{project}/documents");
        let by_source = |list: &[Value], id: &str| -> Value {
            list.iter().find(|d| d["source"]["external_id"] == id).cloned().unwrap_or(Value::Null)
        };

        assert_eq!(sync().await["result"], json!({"records": 3, "pages": 2, "deleted": 0}));
        let list = app.all(&se.token, &docs).await;
        assert_eq!(list.len(), 3, "{list:?}");
        let plan = by_source(&list, "1");
        assert_eq!(plan["title"], "Release plan");
        assert_eq!(plan["tags"], json!(["plan", "Q2"]));
        assert_eq!(plan["read_only"], true);
        assert_eq!(plan["source"]["connection_id"], cid);
        assert_eq!(plan["metadata"]["url"], format!("{base}/notes/1"));
        assert_eq!(plan["current_version"]["number"], 1);
        assert_eq!(plan["current_version"]["content_type"], "text/markdown");
        assert_eq!(plan["current_version"]["filename"], "Release plan.md");
        assert_eq!(plan["created_by"], Value::Null);
        let plan_path = format!("{docs}/{}", plan["id"]);
        let content = app.get(&format!("{plan_path}/content"), &se.token).await;
        content.expect(200);
        assert_eq!(content.text, "# Plan\n\nShip the *gearbox* in May.");
        // Searchable like uploads: by body text, by tag (ignoring case), by title.
        let found = app.all(&se.token, &format!("{docs}?q=gearbox")).await;
        assert_eq!(found.iter().map(|d| d["id"].clone()).collect::<Vec<_>>(), [plan["id"].clone()]);
        assert_eq!(app.all(&se.token, &format!("{docs}?tag=q2")).await.len(), 1);
        assert_eq!(app.all(&se.token, &format!("{docs}?title=runbook")).await.len(), 1);
        // Read-only through the API.
        app.call("PATCH", &plan_path, Some(&pm.token), Some(json!({"title": "mine"}))).await.problem(409);
        app.call("DELETE", &plan_path, Some(&pm.token), None).await.problem(409);

        // At the source: the runbook's text changes, the plan is only retitled, the idea goes.
        {
            let mut notes = notes.lock().expect("notes");
            notes[0].1 = "Release plan 2027";
            notes[1].2 = "Restart the pump twice, then check pressure.".into();
            notes.pop();
        }
        let blobs_before = app.count("blobs").await;
        assert_eq!(sync().await["result"], json!({"records": 2, "pages": 1, "deleted": 1}));
        let list = app.all(&se.token, &docs).await;
        assert_eq!(list.len(), 2, "the deleted note's document is gone: {list:?}");
        let plan = by_source(&list, "1");
        assert_eq!(plan["title"], "Release plan 2027");
        assert_eq!(plan["current_version"]["number"], 1, "same text, no new version");
        let runbook = by_source(&list, "2");
        assert_eq!(runbook["current_version"]["number"], 2);
        let runbook_path = format!("{docs}/{}", runbook["id"]);
        let old = app.get(&format!("{runbook_path}/versions/1/content"), &se.token).await;
        assert_eq!(old.text, "Restart the pump, then check pressure.");
        let new = app.get(&format!("{runbook_path}/content"), &se.token).await;
        assert_eq!(new.text, "Restart the pump twice, then check pressure.");
        // One blob more (the runbook's new text), one fewer (the deleted note's).
        assert_eq!(app.count("blobs").await, blobs_before);
        assert_eq!(app.count("documents").await, 2);
    }

    async fn a_page_of_many_new_documents_keeps_each_ones_bytes_tags_and_versions(backend) {
        // The mirror writes a page's new documents in bulk: their blobs are matched to them by
        // size, so most bodies here have one size; one spans two chunks, one is empty, tags
        // fold together, titles carry other scripts, and the second sync mixes new documents
        // with changed, retitled and deleted ones in one page.
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project_with_example(&admin.token, admin.id, &[]).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        const TITLES: [&str; 4] = ["Plan", "Ünïcødé 文書 🚀", "עברית\u{200f} notes", "Zero\u{200b}width"];
        let body = |id: u64| match id {
            1 => "é".repeat(150_000),
            2 => String::new(),
            _ => format!("body {id:05}"),
        };
        let note = |id: u64| -> Note {
            let tags = if id.is_multiple_of(3) { vec!["Q2", "Ärger", "ärger"] } else { vec![] };
            (id, TITLES[(id % 4) as usize], body(id), tags)
        };
        let notes: Arc<Mutex<Vec<Note>>> = Arc::new(Mutex::new((1..=600).map(note).collect()));
        let base = notes_service(notes.clone(), Gate::default(), Arc::default()).await;
        let cid = notes_connection(&app, &admin.token, project, &base, Some(500)).await;
        let sync = || async {
            let jobs = syncs::sync(&app, &admin.token, project, cid, json!({"stream": "notes"})).await;
            jobs["notes"]["result"].clone()
        };
        let docs = format!("/api/v1/projects/{project}/documents");
        let by_source = |list: &[Value]| -> std::collections::HashMap<u64, Value> {
            list.iter().map(|d| (d["source"]["external_id"].as_str().expect("id").parse().expect("n"), d.clone())).collect()
        };

        assert_eq!(sync().await, json!({"records": 600, "pages": 2, "deleted": 0}));
        let list = by_source(&app.all(&admin.token, &docs).await);
        assert_eq!(list.len(), 600);
        for (id, doc) in &list {
            assert_eq!(doc["title"], TITLES[(id % 4) as usize], "{doc}");
            assert_eq!(doc["current_version"]["number"], 1);
            assert_eq!(doc["current_version"]["size"], body(*id).len(), "{doc}");
            let tags = if id.is_multiple_of(3) { json!(["Q2", "Ärger", "ärger"]) } else { json!([]) };
            assert_eq!(doc["tags"], tags, "{doc}");
            let content = app.get(&format!("{docs}/{}/content", doc["id"]), &admin.token).await;
            content.expect(200);
            assert!(content.text == body(*id), "document {id} serves another's bytes: {}", content.text.len());
        }
        assert_eq!(app.all(&admin.token, &format!("{docs}?tag=%C3%A4rger")).await.len(), 200);
        assert_eq!(app.count("document_tags").await, 400, "Ärger and ärger fold to one");
        assert_eq!(app.count("blobs").await, 600);
        assert_eq!(app.count("blob_chunks").await, 600, "598 one-chunk bodies, one of two, one empty");

        // At the source: note 4's text changes (same length), note 5 is retitled, note 6
        // goes, and notes 601–620 arrive on the page that also holds 501–600.
        {
            let mut notes = notes.lock().expect("notes");
            notes[3].2 = "BODY 00004".into();
            notes[4].1 = "Retitled";
            notes.remove(5);
            notes.extend((601..=620).map(note));
        }
        assert_eq!(sync().await, json!({"records": 619, "pages": 2, "deleted": 1}));
        let list = by_source(&app.all(&admin.token, &docs).await);
        assert_eq!(list.len(), 619);
        assert!(!list.contains_key(&6));
        let changed = &list[&4];
        assert_eq!(changed["current_version"]["number"], 2);
        let path = format!("{docs}/{}", changed["id"]);
        assert_eq!(app.get(&format!("{path}/content"), &admin.token).await.text, "BODY 00004");
        assert_eq!(app.get(&format!("{path}/versions/1/content"), &admin.token).await.text, "body 00004");
        assert_eq!(list[&5]["title"], "Retitled");
        assert_eq!(list[&5]["current_version"]["number"], 1);
        for id in (500..=620).chain([1, 2, 3]) {
            let doc = &list[&id];
            assert_eq!(doc["current_version"]["number"], 1, "{doc}");
            let content = app.get(&format!("{docs}/{}/content", doc["id"]), &admin.token).await;
            assert!(content.text == body(id), "document {id}");
        }
        assert_eq!(app.count("document_versions").await, 620);
        assert_eq!(app.count("blobs").await, 620);
    }

    async fn one_sync_of_a_stream_runs_at_a_time_and_unknown_streams_are_refused(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project_with_example(&admin.token, admin.id, &[]).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let notes: Arc<Mutex<Vec<Note>>> = Arc::new(Mutex::new(
            (1..=3).map(|i| (i, "Note", format!("body {i}"), vec![])).collect(),
        ));
        let (gate, hits) = (Gate::default(), Arc::new(AtomicUsize::new(0)));
        let base = notes_service(notes, gate.clone(), hits.clone()).await;
        let cid = notes_connection(&app, &admin.token, project, &base, None).await;
        let url = format!("/api/v1/projects/{project}/connections/{cid}/sync");

        let unknown = app.post(&url, &admin.token, json!({"stream": "nope"})).await;
        let job = app.finished_job(&admin.token, unknown.json["job"]["id"].as_i64().expect("job")).await;
        assert_eq!(job["state"], "dead", "{job}");
        let why = job["last_error"].as_str().expect("error");
        assert!(why.contains("no stream \"nope\"") && why.contains("items, notes"), "{why}");

        // The first sync is held mid-read by the service; the second waits for it.
        let held = gate.lock().await;
        let first = app.post(&url, &admin.token, json!({"stream": "notes"})).await;
        let first = first.json["job"]["id"].as_i64().expect("job");
        for _ in 0..1500 {
            if hits.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the first sync reached the service");
        let second = app.post(&url, &admin.token, json!({"stream": "notes"})).await;
        let second = second.json["job"]["id"].as_i64().expect("job");
        let mut postponed = Value::Null;
        for _ in 0..1500 {
            let job = app.get(&format!("/api/v1/jobs/{second}"), &admin.token).await.json;
            if job["last_error"].is_string() {
                postponed = job;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(postponed["state"], "queued", "{postponed}");
        assert_eq!(postponed["attempts"], 0, "waiting is not a failed attempt: {postponed}");
        let why = postponed["last_error"].as_str().unwrap_or_default();
        assert!(why.contains(&format!("another sync of stream notes is running (job {first})")), "{why}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the second never read");

        drop(held);
        assert_eq!(app.finished_job(&admin.token, first).await["state"], "succeeded");
        app.advance(Duration::from_secs(6));
        let job = app.finished_job(&admin.token, second).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"]["records"], 3);
        assert_eq!(app.count("documents").await, 3);
    }
}
