//! A full disk on SQLite: a document upload that does not fit is refused with a problem that
//! says the database is full, `/readyz` reports the database cannot write, and once space is
//! freed every write succeeds again without a restart.
//!
//! The full disk is SQLite's own: `PRAGMA max_page_count` (set on every connection of the pool)
//! makes a write that needs another page fail with `SQLITE_FULL`, exactly as a full disk does;
//! raising it again is freeing the space.

use std::time::Duration;

use agentic_tests::{Backend, Form, TestApp};
use serde_json::json;
use sqlx::Executor;

/// Sets `PRAGMA max_page_count` on every connection of the host's pool (SQLite keeps it per
/// connection): holds all of them at once so each gets it; `None` lifts the limit.
async fn limit_pages(app: &TestApp, extra_pages: Option<i64>) {
    let pool = app.state.store.pool();
    let mut held = Vec::new();
    for _ in 0..8 {
        let conn = tokio::time::timeout(Duration::from_secs(10), pool.acquire())
            .await
            .expect("a pool connection within 10 s")
            .expect("a pool connection");
        held.push(conn);
    }
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut *held[0])
        .await
        .expect("page count");
    let max = extra_pages.map_or(1_073_741_823, |extra| pages + extra);
    for conn in &mut held {
        conn.execute(format!("PRAGMA max_page_count = {max}").as_str())
            .await
            .expect("max_page_count");
    }
}

#[tokio::test]
async fn a_full_disk_during_an_upload_is_reported_and_recovers_without_a_restart() {
    // Not a page to spare: the readiness probe meets the full database itself. A few pages to
    // spare: the probe fits, and the failed upload remembered says the database is full.
    for spare in [0, 8] {
        full_disk_story(spare).await;
    }
}

async fn full_disk_story(spare_pages: i64) {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = app.admin().await;
    let project = app.project("full", admin.id, &[]).await;
    let docs = format!("/api/v1/projects/{project}/documents");
    app.call("GET", "/readyz", None, None).await.expect(200);

    // The disk fills, and a 2 MiB upload (eight database chunks) does not fit.
    limit_pages(&app, Some(spare_pages)).await;
    let big: Vec<u8> = (0..2 << 20).map(|i: u32| (i % 251) as u8).collect();
    let form = Form::new().file("file", "big.bin", "application/pdf", &big);
    let r = app.upload("POST", &docs, &admin.token, form).await;
    let problem = r.problem(503);
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("full"), "{problem}");
    assert!(r.headers.contains_key("retry-after"));
    let ready = app.call("GET", "/readyz", None, None).await;
    let problem = ready.problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot write") && d.contains("full")),
        "{spare_pages} pages to spare: {problem}"
    );

    // Space is freed: the next writes succeed, readiness comes back, no restart.
    limit_pages(&app, None).await;
    // Twice as many writes as the pool has connections, so every connection serves one.
    for n in 0..16 {
        let r = app
            .post(
                "/api/v1/projects",
                &admin.token,
                json!({ "name": format!("after {n}"), "description": "", "owner_id": admin.id }),
            )
            .await;
        r.expect(201);
    }
    let form = Form::new().file("file", "big.bin", "application/pdf", &big);
    app.upload("POST", &docs, &admin.token, form)
        .await
        .expect(201);
    let ready = app.call("GET", "/readyz", None, None).await;
    ready.expect(200);
    assert_eq!(ready.json["checks"]["database"], "ok");
}
