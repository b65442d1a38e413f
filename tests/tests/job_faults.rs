//! Jobs under faults: a worker that lost its lease (paused past it, as by SIGSTOP) changes
//! nothing when it resumes — no page, no sync state, no outcome — and a sync's accounting spans
//! its attempts: the result counts every attempt's records, a success clears `last_error`, and
//! the history of attempts stays. A page the database refuses mid-stream leaves the stream at
//! the last stored page, whatever the sync read ahead of it, and a cancelled sync stops the
//! page it reads ahead at once and keeps the pages it stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentic_host::jobs::{JobContext, JobError, JobHandler};
use agentic_host::store::jobs::Outcome;
use agentic_tests::{stories, Backend, TestApp, TestUser};
use serde_json::{json, Value};

/// What the fake notes service answers to its `n`th `/notes` request (counted from 1).
#[derive(Clone, Copy)]
enum Answer {
    /// The page, at once.
    Page,
    /// The page, once the test releases it.
    Held,
    /// 429 with `Retry-After: 1`.
    Throttled,
    /// 503 without a delay: a transient failure.
    Down,
}

/// Five notes in the example connector's HTTP mode, answered per request as `script` says
/// (requests past its end get their page at once); every request counts in `hits`.
async fn notes_service(
    script: Vec<Answer>,
    release: Arc<tokio::sync::Notify>,
    hits: Arc<AtomicUsize>,
) -> String {
    use axum::extract::Query;
    use axum::response::IntoResponse;
    use std::collections::HashMap;
    let app = axum::Router::new().route(
        "/notes",
        axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
            let (script, release, hits) = (script.clone(), release.clone(), hits.clone());
            async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                match script.get(n).copied().unwrap_or(Answer::Page) {
                    Answer::Page => {}
                    Answer::Held => release.notified().await,
                    Answer::Throttled => {
                        return (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down")
                            .into_response()
                    }
                    Answer::Down => {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
                    }
                }
                let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                let limit: u64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
                let rest: Vec<u64> = (1..=5).filter(|id| *id > after).collect();
                let page: Vec<Value> = rest.iter().take(limit as usize).map(|id| {
                    json!({"id": id, "title": format!("Note {id}"), "body": format!("body {id}"), "tags": [], "updated": 1_700_000_000_000_u64 + id})
                }).collect();
                axum::Json(json!({"notes": page, "has_more": rest.len() as u64 > limit})).into_response()
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

/// A project with a connection to `base` reading notes two at a time; (project, connection).
async fn notes_connection(app: &TestApp, admin: &TestUser, base: &str) -> (i64, i64) {
    let project = app.project_with_example(&admin.token, admin.id, &[]).await;
    let admin = admin.token.as_str();
    let created = app
        .post(
            // The fake serves notes only, no `/status` for a check.
            &format!("/api/v1/projects/{project}/connections?check=false"),
            admin,
            json!({
                "plugin_id": "example", "name": "wiki", "base_url": base,
                "config": {"base_url": base, "notes": true, "page_size": 2},
                "allow_private_network": true, "credential": {"kind": "anonymous"},
            }),
        )
        .await;
    created.expect(201);
    (project, created.json["id"].as_i64().expect("id"))
}

/// Waits (real time) until `hits` reaches `n`.
async fn hits_reach(hits: &AtomicUsize, n: usize) {
    for _ in 0..1500 {
        if hits.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the service saw {} requests, not {n}",
        hits.load(Ordering::SeqCst)
    );
}

/// Makes the database refuse to store the record `external_id` (as a broken disk or constraint
/// would): every page holding it fails to store, until [`accept_records`].
async fn refuse_record(app: &TestApp, backend: Backend, external_id: &str) {
    let pool = app.state.store.pool();
    match backend {
        Backend::Sqlite => {
            let sql = format!(
                "CREATE TRIGGER refuse_record BEFORE INSERT ON records \
                 WHEN NEW.external_id = '{external_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            );
            sqlx::query(&sql).execute(pool).await.expect("trigger");
        }
        Backend::Postgres => {
            let sql = format!(
                "CREATE FUNCTION refuse_record() RETURNS trigger AS $$ BEGIN \
                 IF NEW.external_id = '{external_id}' THEN RAISE EXCEPTION 'refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            );
            sqlx::query(&sql).execute(pool).await.expect("function");
            sqlx::query(
                "CREATE TRIGGER refuse_record BEFORE INSERT ON records \
                 FOR EACH ROW EXECUTE FUNCTION refuse_record()",
            )
            .execute(pool)
            .await
            .expect("trigger");
        }
    }
}

/// Undoes [`refuse_record`].
async fn accept_records(app: &TestApp, backend: Backend) {
    let sql = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_record",
        Backend::Postgres => "DROP TRIGGER refuse_record ON records",
    };
    sqlx::query(sql)
        .execute(app.state.store.pool())
        .await
        .expect("drop trigger");
}

stories! {
    async fn a_worker_that_lost_its_lease_stores_nothing_when_it_resumes(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let (release, hits) = (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicUsize::new(0)));
        // The first request (the paused worker's first page) waits for the test.
        let base = notes_service(vec![Answer::Held], release.clone(), hits.clone()).await;
        let (project, cid) = notes_connection(&app, &admin, &base).await;
        let r = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &admin.token,
            json!({"stream": "notes"})).await;
        r.expect(202);
        let id = r.json["job"]["id"].as_i64().expect("job");

        // A worker claims the sync and stalls mid-page (as if stopped by SIGSTOP: no heartbeat).
        let store = app.state.store.clone();
        let now = app.state.now();
        let claimed = store.claim_job(&["sync".into()], "paused", now + Duration::from_secs(30), now).await
            .expect("claim").expect("the sync job");
        assert_eq!(claimed.id, id);
        let handler = agentic_host::sync::SyncHandler::new(store.clone(), app.state.plugins.clone(),
            app.state.sessions.clone(), app.state.clock.clone());
        let (ctx, _cancel) = JobContext::detached(claimed.clone());
        let paused = tokio::spawn(async move { handler.run(&ctx).await });
        hits_reach(&hits, 1).await;

        // Its lease runs out; a live worker reclaims the job and syncs the stream to the end.
        app.advance(Duration::from_secs(31));
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let done = app.finished_job(&admin.token, id).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        assert_eq!(done["result"], json!({"records": 5, "pages": 3, "deleted": 0}), "{done}");
        let finished = store.sync_state(cid, "notes").await.expect("state");
        assert!(finished.complete, "{finished:?}");
        let seen = hits.load(Ordering::SeqCst);

        // The paused worker resumes: its page is refused, it stops, and reads nothing more.
        release.notify_one();
        let out = paused.await.expect("join");
        assert!(matches!(out, Err(JobError::LeaseLost)), "the old attempt must stop: {out:?}");
        assert_eq!(hits.load(Ordering::SeqCst), seen, "the old attempt read on after losing its lease");
        let after = store.sync_state(cid, "notes").await.expect("state");
        assert_eq!((after.state, after.cycle, after.complete), (finished.state, finished.cycle, true),
            "the stream's state is the new owner's");
        // Its outcome is refused too.
        let lease = claimed.lease().expect("lease");
        let late = store.finish_job(&lease, Outcome::Succeeded("{\"records\":2}"), app.state.now()).await.expect("finish");
        assert!(!late, "a lost lease writes no outcome");
        let failed = store.finish_job(&lease, Outcome::Failed { error: "late", retry_at: agentic_host::clock::Millis::EPOCH, permanent: true }, app.state.now()).await.expect("finish");
        assert!(!failed);
        // So is any other job write under the lost lease (a web task run's outcome, say).
        let fence = agentic_host::store::job_attempts::Fence { lease: &lease, checkpoint: None };
        let outcome = agentic_host::store::web_tasks::RunOutcome { state: agentic_host::store::web_tasks::RunState::Succeeded, steps: "[]", error: None, document_id: None };
        let refused = store.finish_web_task_run(Some(&fence), 1, &outcome, app.state.now()).await;
        assert!(matches!(refused, Err(agentic_host::store::StoreError::LeaseLost)), "{refused:?}");
        let job = app.get(&format!("/api/v1/jobs/{id}"), &admin.token).await.json;
        assert_eq!((&job["state"], &job["result"]), (&done["state"], &done["result"]), "{job}");
        assert_eq!(job["last_error"], Value::Null, "{job}");
        let history: Vec<(&str, &str)> = job["history"].as_array().expect("history").iter()
            .map(|a| (a["worker"].as_str().unwrap_or(""), a["outcome"].as_str().unwrap_or(""))).collect();
        assert_eq!(history, [("paused", "expired"), (worker.owner(), "succeeded")], "{job}");
        assert_eq!(app.count("records").await, 5);
        assert_eq!(app.count("documents").await, 5);
    }

    async fn a_syncs_result_counts_every_attempt_and_its_history_stays(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        // Page 1, then a 429 (postponed), page 2, then a 503 (a failed attempt), page 3.
        let script = vec![Answer::Page, Answer::Throttled, Answer::Page, Answer::Down, Answer::Page];
        let hits = Arc::new(AtomicUsize::new(0));
        let base = notes_service(script, Arc::default(), hits.clone()).await;
        let (project, cid) = notes_connection(&app, &admin, &base).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let r = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &admin.token,
            json!({"stream": "notes"})).await;
        let id = r.json["job"]["id"].as_i64().expect("job");
        // Time moves on whenever the job waits in the queue (for the rate limit, the backoff).
        let mut job = Value::Null;
        for _ in 0..1500 {
            job = app.get(&format!("/api/v1/jobs/{id}"), &admin.token).await.json;
            match job["state"].as_str() {
                Some("succeeded" | "dead" | "cancelled") => break,
                Some("queued") if job["last_error"].is_string() => app.advance(Duration::from_secs(5)),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(hits.load(Ordering::SeqCst), 5);
        assert_eq!(app.count("records").await, 5);
        assert_eq!(job["result"], json!({"records": 5, "pages": 3, "deleted": 0}), "every attempt's records: {job}");
        assert_eq!(job["progress"]["done"], 5, "{job}");
        assert_eq!(job["last_error"], Value::Null, "a succeeded job has no last error: {job}");
        assert_eq!(job["attempts"], 2, "the postponement spent no attempt: {job}");
        let history = job["history"].as_array().expect("history");
        let outcomes: Vec<(i64, &str)> = history.iter()
            .map(|a| (a["attempt"].as_i64().unwrap_or(0), a["outcome"].as_str().unwrap_or(""))).collect();
        assert_eq!(outcomes, [(1, "postponed"), (1, "failed"), (2, "succeeded")], "{job}");
        assert!(history[0]["error"].as_str().is_some_and(|e| e.contains("429")), "{job}");
        assert!(history[1]["error"].as_str().is_some_and(|e| e.contains("503")), "{job}");
        assert_eq!(history[2]["error"], Value::Null);
        assert!(history.iter().all(|a| a["worker"] == worker.owner() && a["started_at"].is_string() && a["finished_at"].is_string()));

        // A retry by hand is a new run: its totals start again, the history stays.
        let r = app.post(&format!("/api/v1/jobs/{id}/retry"), &admin.token, json!({})).await;
        r.expect(200);
        let again = app.finished_job(&admin.token, id).await;
        assert_eq!(again["state"], "succeeded", "{again}");
        assert_eq!(again["result"], json!({"records": 5, "pages": 3, "deleted": 0}), "{again}");
        assert_eq!(again["history"].as_array().map(Vec::len), Some(4), "{again}");
        // The list shows jobs without their history.
        let list = app.get("/api/v1/jobs", &admin.token).await;
        assert!(list.json["items"][0].get("history").is_none(), "{}", list.json);
    }

    async fn a_page_refused_mid_stream_leaves_the_state_at_the_last_stored_page(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        // Pages of two notes: [1, 2], [3, 4], [5]. The database refuses note 3, so the second
        // page fails to store while the third is being read ahead; that read is held by the
        // service, so an attempt that waited for it instead of stopping would never end.
        let (release, hits) = (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicUsize::new(0)));
        let base = notes_service(vec![Answer::Page, Answer::Page, Answer::Held], release.clone(), hits.clone()).await;
        let (project, cid) = notes_connection(&app, &admin, &base).await;
        refuse_record(&app, backend, "3").await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let r = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &admin.token,
            json!({"stream": "notes"})).await;
        let id = r.json["job"]["id"].as_i64().expect("job");
        let mut job = Value::Null;
        for _ in 0..1500 {
            job = app.get(&format!("/api/v1/jobs/{id}"), &admin.token).await.json;
            if job["last_error"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(job["state"], "queued", "a failed store is retried: {job}");
        assert!(job["last_error"].as_str().is_some_and(|e| e.contains("storing a page")), "{job}");
        // The stream stays at the first page: its records, its state, its documents.
        let state = app.state.store.sync_state(cid, "notes").await.expect("state");
        assert_eq!((state.state.as_deref(), state.complete), (Some("2"), false), "{state:?}");
        assert_eq!(app.count("records").await, 2);
        assert_eq!(app.count("documents").await, 2);

        // Once the database takes the page, the next attempt resumes from it to the end.
        accept_records(&app, backend).await;
        release.notify_one();
        for _ in 0..1500 {
            job = app.get(&format!("/api/v1/jobs/{id}"), &admin.token).await.json;
            match job["state"].as_str() {
                Some("succeeded" | "dead" | "cancelled") => break,
                Some("queued") => app.advance(Duration::from_secs(5)),
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"], json!({"records": 5, "pages": 3, "deleted": 0}), "{job}");
        let state = app.state.store.sync_state(cid, "notes").await.expect("state");
        assert_eq!((state.state.as_deref(), state.complete), (Some("5"), true), "{state:?}");
        assert_eq!(app.count("records").await, 5);
        assert_eq!(app.count("documents").await, 5);
    }

    async fn cancelling_a_sync_stops_the_page_read_ahead_and_keeps_the_pages_stored(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        // The second page, read while the first is stored, is held by the service.
        let (release, hits) = (Arc::new(tokio::sync::Notify::new()), Arc::new(AtomicUsize::new(0)));
        let base = notes_service(vec![Answer::Page, Answer::Held], release.clone(), hits.clone()).await;
        let (project, cid) = notes_connection(&app, &admin, &base).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let r = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &admin.token,
            json!({"stream": "notes"})).await;
        let id = r.json["job"]["id"].as_i64().expect("job");
        hits_reach(&hits, 2).await;
        for _ in 0..1500 {
            let state = app.state.store.sync_state(cid, "notes").await.expect("state");
            if state.state.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Cancelled while the read is held: the job ends without it, the first page stays.
        let r = app.post(&format!("/api/v1/jobs/{id}/cancel"), &admin.token, json!({})).await;
        assert_eq!(r.json["cancel_requested"], true, "{}", r.json);
        let done = app.finished_job(&admin.token, id).await;
        assert_eq!(done["state"], "cancelled", "{done}");
        let state = app.state.store.sync_state(cid, "notes").await.expect("state");
        assert_eq!((state.state.as_deref(), state.complete), (Some("2"), false), "{state:?}");
        assert_eq!(app.count("records").await, 2);
        assert_eq!(hits.load(Ordering::SeqCst), 2, "nothing read after the cancellation");
        release.notify_one();
    }
}
