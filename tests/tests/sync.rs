//! The sync engine end to end: the example connector (a real component) read page by page by a
//! real worker into the internal models, through the API — incremental re-runs add nothing,
//! a full refresh detects deletions, a fan-out syncs every stream, and the models are read back
//! with filters and cursor pagination by the project's members only.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

/// Waits until the job is finished; returns it as the API shows it.
async fn finished(app: &TestApp, token: &str, id: i64) -> Value {
    for _ in 0..1500 {
        let r = app.get(&format!("/api/v1/jobs/{id}"), token).await;
        if matches!(
            r.json["state"].as_str(),
            Some("succeeded" | "dead" | "cancelled")
        ) {
            return r.json;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} did not finish");
}

/// Every page of a model list.
async fn all(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = app
            .get(&format!("{path}{sep}limit=200&cursor={cursor}"), token)
            .await;
        r.expect(200);
        out.extend(r.json["items"].as_array().expect("items").iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
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
        let job = finished(&app, &se.token, started.json["job"]["id"].as_i64().expect("job id")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"], json!({"records": 450, "pages": 5, "deleted": 0}));
        assert_eq!(job["progress"]["done"], 450);

        let items = all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items")).await;
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
        assert_eq!(all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items?status=open")).await.len(), 450);
        assert!(all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items?status=closed")).await.is_empty());
        // "Item 4", "Item 40".."Item 49", "Item 400".."Item 450".
        let found = all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items?q=item%204")).await;
        assert_eq!(found.len(), 62);

        // Incremental: nothing new, nothing duplicated.
        let again = app.post(&sync_url, &pm.token, json!({"stream": "items"})).await;
        let job = finished(&app, &pm.token, again.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(app.count("records").await, 450);

        // The service now holds 400: a full refresh marks the other 50 deleted.
        app.call("PATCH", &format!("/api/v1/projects/{project}/connections/{cid}"), Some(&pm.token),
            Some(json!({"config": {"items": 400, "page_size": 100}}))).await.expect(200);
        let full = app.post(&sync_url, &pm.token, json!({"stream": "items", "mode": "full"})).await;
        let job = finished(&app, &pm.token, full.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["result"], json!({"records": 400, "pages": 4, "deleted": 50}), "{job}");
        assert_eq!(all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items")).await.len(), 400);
        let with_deleted = all(&app, &se.token, &format!("/api/v1/projects/{project}/work-items?include_deleted=true")).await;
        assert_eq!(with_deleted.len(), 450);
        assert_eq!(with_deleted.iter().filter(|i| i["deleted"] == true).count(), 50);

        // Without a stream: one job per discovered stream.
        let fan = app.post(&sync_url, &pm.token, json!({})).await;
        let root = finished(&app, &pm.token, fan.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(root["result"]["streams"], 1, "{root}");
        let child = root["result"]["jobs"][0].as_i64().expect("child");
        assert_eq!(finished(&app, &pm.token, child).await["state"], "succeeded");

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
    }
}
