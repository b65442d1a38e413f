//! Deletions a connector reports in its pages (contract 0.3.0) through the real sync engine: the
//! example connector (a real component) relays its service's `deleted` ids as
//! `record-data.deleted`; an incremental sync marks exactly those records of the connection and
//! stream deleted in the page's transaction, counts them in the report, ignores ids it never
//! stored, and a deleted document leaves the Documents API. A connector built against the frozen
//! 0.2.0 (`plugins/contract-0-2`) still installs and syncs beside it.

use std::sync::{Arc, Mutex};

use agentic_host::rbac::Role;
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

/// What the fake service holds: items and notes by id and title, and the ids it says are gone.
#[derive(Default)]
struct Source {
    items: Vec<(u64, &'static str)>,
    notes: Vec<(u64, &'static str)>,
    deleted: Vec<Value>,
}

/// The example connector's HTTP mode over `source`: `/items` and `/notes` page by id after
/// `after`, and the last page of each carries `deleted`.
async fn service(source: Arc<Mutex<Source>>) -> String {
    use axum::extract::{Path, Query};
    use std::collections::HashMap;
    let app = axum::Router::new()
        .route("/status", axum::routing::get(|| async { axum::Json(json!({"items": 0})) }))
        .route(
            "/{what}",
            axum::routing::get(move |Path(what): Path<String>, Query(q): Query<HashMap<String, String>>| {
                let source = source.clone();
                async move {
                    let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
                    let source = source.lock().expect("source");
                    let all = if what == "notes" { &source.notes } else { &source.items };
                    let rest: Vec<&(u64, &str)> = all.iter().filter(|e| e.0 > after).collect();
                    let page: Vec<Value> = rest.iter().take(limit).map(|(id, title)| {
                        json!({"id": id, "title": title, "status": "open", "body": title, "updated": 1_700_000_000_000_u64 + id})
                    }).collect();
                    let has_more = rest.len() > limit;
                    let deleted = if has_more { json!([]) } else { json!(source.deleted) };
                    axum::Json(json!({what.clone(): page, "has_more": has_more, "deleted": deleted}))
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

stories! {
    async fn an_incremental_sync_marks_exactly_the_records_a_page_reports_gone(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let _stop = crate::agent_runs::worker(&app);
        let source = Arc::new(Mutex::new(Source {
            items: vec![(1, "Pump"), (2, "Valve"), (3, "Gearbox")],
            notes: vec![(1, "Plan"), (2, "Runbook")],
            ..Source::default()
        }));
        let base = service(source.clone()).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let create = |name: &str| json!({
            "plugin_id": "example", "name": name, "base_url": base,
            "config": {"base_url": base, "notes": true, "page_size": 2},
            "allow_private_network": true, "credential": {"kind": "anonymous"},
        });
        let created = app.post(&url, &admin.token, create("tracker")).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        // A second connection to the same service: its records must not be touched.
        let other = app.post(&url, &admin.token, create("twin")).await;
        other.expect(201);
        let twin = other.json["id"].as_i64().expect("id");
        let sync = |cid: i64, stream: &'static str| {
            let (app, url, token) = (&app, url.clone(), pm.token.clone());
            async move {
                let r = app.post(&format!("{url}/{cid}/sync"), &token, json!({"stream": stream})).await;
                r.expect(202);
                let job = app.finished_job(&token, r.json["job"]["id"].as_i64().expect("job")).await;
                assert_eq!(job["state"], "succeeded", "{job}");
                job["result"].clone()
            }
        };
        assert_eq!(sync(cid, "items").await, json!({"records": 3, "pages": 2, "deleted": 0}));
        assert_eq!(sync(twin, "items").await, json!({"records": 3, "pages": 2, "deleted": 0}));

        // The service says item 2 is gone, and 404, which was never synced.
        source.lock().expect("source").deleted = vec![json!(2), json!("404")];
        assert_eq!(sync(cid, "items").await, json!({"records": 0, "pages": 1, "deleted": 1}),
            "the incremental run reads nothing new and marks exactly one record");
        let items = format!("/api/v1/projects/{project}/work-items");
        let live = app.all(&pm.token, &format!("{items}?connection_id={cid}")).await;
        let ids: Vec<&str> = live.iter().map(|i| i["external_id"].as_str().unwrap_or_default()).collect();
        assert_eq!(ids, ["1", "3"]);
        let all = app.all(&pm.token, &format!("{items}?connection_id={cid}&include_deleted=true")).await;
        let gone: Vec<&Value> = all.iter().filter(|i| i["deleted"] == true).collect();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0]["external_id"], "2");
        assert_eq!(app.all(&pm.token, &format!("{items}?connection_id={twin}")).await.len(), 3,
            "another connection's record of the same id stays");
        // Reported again: already deleted, nothing counted.
        assert_eq!(sync(cid, "items").await, json!({"records": 0, "pages": 1, "deleted": 0}));
        // Other changes keep coming incrementally.
        {
            let mut s = source.lock().expect("source");
            s.deleted.clear();
            s.items.push((4, "Valve again"));
        }
        assert_eq!(sync(cid, "items").await["records"], 1);

        // A document deleted in the page that lists it: the later entry wins, and its mirror
        // leaves the Documents API in the same transaction.
        assert_eq!(sync(cid, "notes").await, json!({"records": 2, "pages": 1, "deleted": 0}));
        let docs = format!("/api/v1/projects/{project}/documents");
        let mine = |list: Vec<Value>| -> Vec<String> {
            list.into_iter()
                .filter(|d| d["source"]["connection_id"] == cid)
                .map(|d| d["source"]["external_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(mine(app.all(&pm.token, &docs).await), ["1", "2"]);
        let (versions, blobs) = (app.count("document_versions").await, app.count("blobs").await);
        source.lock().expect("source").deleted = vec![json!(2)];
        assert_eq!(sync(cid, "notes").await, json!({"records": 2, "pages": 1, "deleted": 1}));
        assert_eq!(mine(app.all(&pm.token, &docs).await), ["1"]);
        // Its version and its bytes go with it (the version's trigger drops the blob).
        assert_eq!(app.count("document_versions").await, versions - 1);
        assert_eq!(app.count("blobs").await, blobs - 1);
    }

    async fn a_connector_built_against_0_2_0_still_installs_and_syncs(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let manifest = plugin_manifest("contract-0-2");
        app.install_plugin(&admin.token, &manifest, &plugin_wasm("contract_0_2")).await;
        let plugin = app.get("/api/v1/plugins/contract-0-2", &admin.token).await;
        assert_eq!(plugin.json["versions"][0]["wit"], "0.2.0", "{}", plugin.text);
        let project = app.project("Old", admin.id, &[]).await;
        app.enable_plugin(&admin.token, project, "contract-0-2").await;
        let _stop = crate::agent_runs::worker(&app);
        let url = format!("/api/v1/projects/{project}/connections");
        // Saved unchecked: its `check` would call the (unreachable) base URL.
        let created = app.post(&format!("{url}?check=false"), &admin.token, json!({
            "plugin_id": "contract-0-2", "name": "old", "base_url": "https://old.example.com/",
            "config": {}, "credential": {"kind": "anonymous"},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let r = app.post(&format!("{url}/{cid}/sync"), &admin.token, json!({"stream": "items"})).await;
        r.expect(202);
        let job = app.finished_job(&admin.token, r.json["job"]["id"].as_i64().expect("job")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"], json!({"records": 3, "pages": 2, "deleted": 0}));
        let items = app.all(&admin.token, &format!("/api/v1/projects/{project}/work-items")).await;
        let mut ids: Vec<&str> = items.iter().map(|i| i["external_id"].as_str().unwrap_or_default()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
