//! A sync run is bounded: a connector that always has more pages is stopped at
//! `sync.max_pages_per_run` with what it read kept, one whose state does not advance is stopped
//! at once, and both end as failed jobs that say why (the hostile connector, a real component).

use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::{hostile_manifest, hostile_wasm, stories, TestApp};
use serde_json::json;

/// Installs the hostile connector, enables it in a new project owned by `owner`, and creates a
/// connection; returns the connection's sync URL.
async fn hostile_connection(app: &TestApp, admin: &str, owner: &str, owner_id: i64) -> String {
    app.install_plugin(admin, &hostile_manifest(1), &hostile_wasm(1))
        .await;
    let project = app.project("Bounds", owner_id, &[]).await;
    app.enable_plugin(admin, project, "hostile").await;
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            owner,
            json!({"plugin_id": "hostile", "name": "h", "base_url": "https://hostile.example.com",
                   "config": {}, "credential": {"kind": "anonymous"}}),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    format!("/api/v1/projects/{project}/connections/{cid}/sync")
}

stories! {
    async fn a_run_that_never_ends_or_never_advances_is_stopped_with_a_reason(backend) {
        let app = TestApp::start_with(backend, |c| c.sync.max_pages_per_run = 25).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let sync_url = hostile_connection(&app, &admin.token, &pm.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        // Always more pages: stopped at the bound, every page read so far kept.
        let started = app.post(&sync_url, &pm.token, json!({"stream": "endless"})).await;
        started.expect(202);
        let job = app.finished_job(&pm.token, started.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "dead", "{job}");
        let error = job["last_error"].as_str().expect("last_error");
        assert!(error.contains("25 pages") && error.contains("sync.max_pages_per_run"), "{error}");
        assert_eq!(app.count("records").await, 25);
        // The next run resumes after them (and is bounded again).
        let again = app.post(&sync_url, &pm.token, json!({"stream": "endless"})).await;
        let job = app.finished_job(&pm.token, again.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "dead", "{job}");
        assert_eq!(app.count("records").await, 50);

        // The same state again: stopped after its first repeat, not at the bound.
        let stuck = app.post(&sync_url, &pm.token, json!({"stream": "stuck"})).await;
        let job = app.finished_job(&pm.token, stuck.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "dead", "{job}");
        let error = job["last_error"].as_str().expect("last_error");
        assert!(error.contains("do not advance"), "{error}");
        assert_eq!(app.count("records").await, 51);
    }
}
