//! Web-automation tasks end to end: a fake website (pages, a same-origin redirect, a login form
//! with a CSRF-style hidden field and a session cookie) worked by a task run through a real
//! worker; per-step results and the stored document checked; the egress rules (undeclared
//! hosts, private addresses, cross-origin redirects, oversize pages) refusing what they must;
//! validation with field paths; and other projects' tasks out of reach.

use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use axum::extract::Form;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

const SESSION: &str = "session=s3cret";
const CSRF: &str = "tok-123";

fn has_session(headers: &HeaderMap) -> bool {
    headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.split("; ").any(|p| p == SESSION))
}

/// The fake website on a free loopback port; returns its port.
async fn website() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                Html(
                    r#"<html><body><h1>Catalogue</h1><ul>
                    <li class="item" data-sku="A1"> Apple </li>
                    <li class="item" data-sku="B2">Banana
                        split</li></ul><a href="/login">Log in</a></body></html>"#,
                )
            }),
        )
        .route("/old", get(|| async { Redirect::to("/") }))
        .route(
            "/login",
            get(|| async {
                (
                    [(header::SET_COOKIE, format!("{SESSION}; Path=/; HttpOnly"))],
                    Html(format!(
                        r#"<form id="login" method="post" action="/login">
                        <input type="hidden" name="csrf" value="{CSRF}">
                        <input name="user"><input type="password" name="password">
                        <button type="submit">Go</button></form>"#
                    )),
                )
            })
            .post(
                |headers: HeaderMap, Form(form): Form<Vec<(String, String)>>| async move {
                    let field = |n: &str| {
                        form.iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    if !has_session(&headers)
                        || field("csrf") != CSRF
                        || field("password") != "pw"
                    {
                        return (StatusCode::FORBIDDEN, "bad login").into_response();
                    }
                    Redirect::to(&format!("/welcome?user={}", field("user"))).into_response()
                },
            ),
        )
        .route(
            "/welcome",
            get(
                |headers: HeaderMap,
                 axum::extract::Query(q): axum::extract::Query<Vec<(String, String)>>| async move {
                    if !has_session(&headers) {
                        return (StatusCode::UNAUTHORIZED, "no session").into_response();
                    }
                    let user = q.first().map(|(_, v)| v.clone()).unwrap_or_default();
                    Html(format!(r#"<p id="greeting">Welcome, {user}</p>"#)).into_response()
                },
            ),
        )
        .route(
            "/away",
            get(move || async move {
                Redirect::to(&format!("http://localhost:{port}/")).into_response()
            }),
        )
        .route(
            "/elsewhere",
            get(|| async {
                Html(r#"<form id="f" method="post" action="http://example.org/steal"><input name="a"></form>"#)
            }),
        )
        .route(
            "/huge",
            get(|| async { Html("x".repeat((5 << 20) + 1)).into_response() }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = (0..6).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1 << 20]));
                let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
                Response::new(body)
            }),
        );
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    port
}

/// Runs a task through the worker; returns the finished run with its steps.
async fn run(app: &TestApp, token: &str, project: i64, task: i64) -> Value {
    let base = format!("/api/v1/projects/{project}/web-tasks/{task}");
    let started = app.post(&format!("{base}/run"), token, json!({})).await;
    started.expect(202);
    assert_eq!(started.json["run"]["state"], "queued");
    let job = app
        .finished_job(token, started.json["job"]["id"].as_i64().expect("job"))
        .await;
    assert_eq!(
        job["state"], "succeeded",
        "a run's outcome is not a job failure: {job}"
    );
    let rid = started.json["run"]["id"].as_i64().expect("run id");
    let r = app.get(&format!("{base}/runs/{rid}"), token).await;
    r.expect(200);
    r.json
}

fn start_worker(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&worker).run(stopped));
    stop
}

/// The failed step's error, after checking that the run failed there and skipped the rest.
fn failure(run: &Value, at: usize) -> String {
    assert_eq!(run["state"], "failed", "{run}");
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps[at]["status"], "failed", "{run}");
    for later in &steps[at + 1..] {
        assert_eq!(later["status"], "skipped", "{run}");
    }
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("step {}", at + 1))),
        "{run}"
    );
    steps[at]["error"].as_str().expect("error").to_owned()
}

stories! {
    async fn a_task_navigates_extracts_logs_in_and_stores_a_document(backend) {
        let app = TestApp::start(backend).await;
        let _worker = start_worker(&app);
        let port = website().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project("Scraping", pm.id, &[se.id]).await;
        let tasks = format!("/api/v1/projects/{project}/web-tasks");
        let body = json!({
            "name": "catalogue",
            "target_url": format!("http://127.0.0.1:{port}/"),
            "allowed_hosts": ["127.0.0.1"],
            "allow_private_network": true,
            "steps": [
                {"type": "navigate", "url": "/old"},
                {"type": "extract", "selector": "li.item", "name": "items"},
                {"type": "extract", "selector": "li.item", "attribute": "data-sku", "name": "skus", "limit": 1},
                {"type": "navigate", "url": "login"},
                {"type": "submit_form", "selector": "#login", "fields": {"user": "alice", "password": "pw"}},
                {"type": "extract", "selector": "#greeting", "name": "greeting"},
                {"type": "wait", "millis": 5},
            ],
        });
        // Reaching loopback lifts the SSRF guard: Administrators only.
        app.post(&tasks, &pm.token, body.clone()).await.problem(403);
        let created = app.post(&tasks, &admin.token, body.clone()).await;
        created.expect(201);
        let tid = created.json["id"].as_i64().expect("id");
        assert_eq!(created.json["steps"][2]["attribute"], "data-sku");
        assert_eq!(created.json["schedule"], Value::Null);
        app.post(&tasks, &admin.token, body).await.problem(409);

        let run1 = run(&app, &pm.token, project, tid).await;
        assert_eq!(run1["state"], "succeeded", "{run1}");
        assert_eq!(run1["number"], 1);
        assert_eq!(run1["origin"], "manual");
        assert_eq!(run1["requested_by"], pm.id);
        let steps = run1["steps"].as_array().expect("steps");
        assert_eq!(steps.len(), 7);
        assert!(steps.iter().all(|s| s["status"] == "succeeded"), "{run1}");
        assert_eq!(steps[0]["url"], format!("http://127.0.0.1:{port}/"), "the same-origin redirect was followed");
        assert_eq!(steps[0]["http_status"], 200);
        assert_eq!(steps[1]["values"], json!(["Apple", "Banana split"]));
        assert_eq!(steps[2]["values"], json!(["A1"]));
        assert_eq!(steps[4]["url"], format!("http://127.0.0.1:{port}/welcome?user=alice"));
        assert_eq!(steps[5]["name"], "greeting");
        assert_eq!(steps[5]["values"], json!(["Welcome, alice"]));
        assert!(steps.iter().all(|s| s["duration_ms"].is_u64()));

        // The extracted data is a JSON document of the project, marked with its source.
        let doc = run1["document_id"].as_i64().expect("document id");
        let d = app.get(&format!("/api/v1/projects/{project}/documents/{doc}"), &se.token).await;
        d.expect(200);
        assert_eq!(d.json["title"], "catalogue run 1");
        assert_eq!(d.json["tags"], json!(["web-task"]));
        assert_eq!(d.json["metadata"]["source"], "web_task");
        assert_eq!(d.json["metadata"]["web_task_id"], tid);
        assert_eq!(d.json["metadata"]["web_task_run_id"], run1["id"]);
        assert_eq!(d.json["current_version"]["content_type"], "application/json");
        let content = app.get(&format!("/api/v1/projects/{project}/documents/{doc}/content"), &se.token).await;
        content.expect(200);
        let data: Value = serde_json::from_slice(&content.bytes).expect("json document");
        assert_eq!(data["data"]["items"], json!(["Apple", "Banana split"]));
        assert_eq!(data["data"]["greeting"], json!(["Welcome, alice"]));
        assert_eq!(data["source"]["run_number"], 1);
        let found = app.get(&format!("/api/v1/projects/{project}/documents?q=banana%20split"), &se.token).await;
        assert_eq!(found.json["items"][0]["id"], doc);

        // History: a second run, listed oldest first, paginated, without step details.
        let run2 = run(&app, &admin.token, project, tid).await;
        assert_eq!(run2["number"], 2);
        let history = app.get(&format!("{tasks}/{tid}/runs?limit=1"), &se.token).await;
        history.expect(200);
        assert_eq!(history.json["items"][0]["id"], run1["id"]);
        assert!(history.json["items"][0].get("steps").is_none());
        let cursor = history.json["next_cursor"].as_str().expect("cursor");
        let next = app.get(&format!("{tasks}/{tid}/runs?limit=1&cursor={cursor}"), &se.token).await;
        assert_eq!(next.json["items"][0]["id"], run2["id"]);
        assert_eq!(next.json["next_cursor"], Value::Null);
        assert_eq!(app.get(&format!("{tasks}/{tid}"), &se.token).await.json["run_count"], 2);

        // Support engineers read; they do not run.
        app.post(&format!("{tasks}/{tid}/run"), &se.token, json!({})).await.problem(403);

        // A schedule: set, shown on the task, removed with it.
        let schedule = format!("{tasks}/{tid}/schedule");
        app.call("PUT", &schedule, Some(&se.token), Some(json!({"cron": "0 * * * *"}))).await.problem(403);
        let r = app.call("PUT", &schedule, Some(&pm.token), Some(json!({"cron": "*/15 * * * *"}))).await;
        r.expect(200);
        assert!(r.json["next_run_at"].is_string());
        assert_eq!(app.get(&schedule, &se.token).await.json["cron"], "*/15 * * * *");
        assert_eq!(app.get(&format!("{tasks}/{tid}"), &se.token).await.json["schedule"]["cron"], "*/15 * * * *");
        let r = app.call("PUT", &schedule, Some(&pm.token), Some(json!({"cron": "61 * * * *"}))).await;
        assert_eq!(r.fields(), ["cron"], "{}", r.text);

        // The PM may rename the task but not redirect one that reaches private addresses.
        app.call("PATCH", &format!("{tasks}/{tid}"), Some(&pm.token), Some(json!({"name": "renamed"}))).await.expect(200);
        app.call("PATCH", &format!("{tasks}/{tid}"), Some(&pm.token),
            Some(json!({"target_url": format!("http://127.0.0.1:{port}/login")}))).await.problem(403);

        // Audit: created, updated, run requested, deleted.
        app.call("DELETE", &format!("{tasks}/{tid}"), Some(&pm.token), None).await.expect(204);
        app.get(&format!("{tasks}/{tid}"), &pm.token).await.problem(404);
        assert_eq!(app.count("job_schedules").await, 0, "the schedule went with the task");
        assert_eq!(app.count("web_task_runs").await, 0);
        app.get(&format!("/api/v1/projects/{project}/documents/{doc}"), &se.token).await.expect(200);
        for action in ["web_task.created", "web_task.updated", "web_task.run_requested", "web_task.scheduled", "web_task.deleted"] {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
                .bind(action)
                .fetch_one(app.state.store.pool())
                .await
                .expect("count");
            assert!(n >= 1, "{action} audited");
        }
    }

    async fn egress_rules_refuse_what_plugins_may_not_do(backend) {
        let app = TestApp::start(backend).await;
        let _worker = start_worker(&app);
        let port = website().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project("Egress", pm.id, &[]).await;
        let tasks = format!("/api/v1/projects/{project}/web-tasks");
        let site = format!("http://127.0.0.1:{port}/");
        let task = |token: &str, name: &str, hosts: Value, private: bool, steps: Value| {
            let body = json!({"name": name, "target_url": site, "allowed_hosts": hosts,
                              "allow_private_network": private, "steps": steps});
            let (app, tasks, token) = (&app, tasks.clone(), token.to_owned());
            async move {
                let r = app.post(&tasks, &token, body).await;
                r.expect(201);
                r.json["id"].as_i64().expect("id")
            }
        };

        // Loopback without the Administrator's allowance: refused before connecting.
        let t = task(&pm.token, "private", json!(["127.0.0.1"]), false,
            json!([{"type": "navigate", "url": "/"}, {"type": "extract", "selector": "li", "name": "x"}])).await;
        let r = run(&app, &pm.token, project, t).await;
        let why = failure(&r, 0);
        assert!(why.contains("private or loopback"), "{why}");
        assert_eq!(r["document_id"], Value::Null, "nothing extracted, no document");
        // A name that resolves to loopback is refused by the guarded resolver.
        let t = task(&pm.token, "by name", json!(["127.0.0.1", "localhost"]), false, json!([{"type": "navigate", "url": format!("http://localhost:{port}/")}])).await;
        let why = failure(&run(&app, &pm.token, project, t).await, 0);
        assert!(why.contains("may not reach"), "{why}");

        // A redirect to another origin is not followed, even to a declared host.
        let t = task(&admin.token, "redirect", json!(["127.0.0.1", "localhost"]), true,
            json!([{"type": "navigate", "url": "/"}, {"type": "navigate", "url": "/away"}, {"type": "wait", "millis": 1}])).await;
        let r = run(&app, &admin.token, project, t).await;
        let why = failure(&r, 1);
        assert!(why.contains("another origin"), "{why}");
        assert_eq!(r["steps"][0]["status"], "succeeded");

        // A form posting to an undeclared host is refused.
        let t = task(&admin.token, "undeclared", json!(["127.0.0.1"]), true,
            json!([{"type": "navigate", "url": "/elsewhere"}, {"type": "submit_form", "selector": "#f"}])).await;
        let why = failure(&run(&app, &admin.token, project, t).await, 1);
        assert!(why.contains("example.org") && why.contains("allowed hosts"), "{why}");

        // Oversize pages stop their step: declared too large, or too large as they stream.
        for (name, path) in [("huge", "/huge"), ("stream", "/stream")] {
            let t = task(&admin.token, name, json!(["127.0.0.1"]), true,
                json!([{"type": "navigate", "url": path}, {"type": "extract", "selector": "p", "name": "p"}])).await;
            let why = failure(&run(&app, &admin.token, project, t).await, 0);
            assert!(why.contains("larger than the 5 MiB limit"), "{path}: {why}");
        }

        // An HTTP error status fails the step; a missing form too.
        let t = task(&admin.token, "status", json!(["127.0.0.1"]), true,
            json!([{"type": "navigate", "url": "/nowhere"}])).await;
        let why = failure(&run(&app, &admin.token, project, t).await, 0);
        assert!(why.contains("HTTP 404"), "{why}");
        let t = task(&admin.token, "no form", json!(["127.0.0.1"]), true,
            json!([{"type": "navigate", "url": "/"}, {"type": "submit_form", "selector": "form.none"}])).await;
        let why = failure(&run(&app, &admin.token, project, t).await, 1);
        assert!(why.contains("no element"), "{why}");
    }

    async fn validation_names_fields_and_other_projects_are_out_of_reach(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let mine = app.project("Mine", pm.id, &[tl.id]).await;
        let theirs = app.project("Theirs", admin.id, &[]).await;
        let tasks = format!("/api/v1/projects/{mine}/web-tasks");
        let good = json!({"name": "t", "target_url": "https://shop.example.com/", "allowed_hosts": ["*.example.com"],
                          "steps": [{"type": "navigate", "url": "/"}]});

        let r = app.post(&tasks, &tl.token, json!({
            "name": "", "target_url": "ftp://shop.example.com/", "allowed_hosts": ["bad host!"],
            "steps": [
                {"type": "extract", "selector": "p", "name": "early"},
                {"type": "navigate", "url": "https://evil.com/"},
                {"type": "extract", "selector": "div[", "name": "x", "limit": 9999},
                {"type": "wait", "millis": 60000},
                {"type": "submit_form", "selector": "", "fields": {}},
            ],
        })).await;
        r.problem(422);
        assert_eq!(r.fields(), ["name", "allowed_hosts[0]", "target_url", "steps[0].type", "steps[1].url",
            "steps[2].selector", "steps[2].limit", "steps[3].millis", "steps[4].selector"], "{}", r.text);
        let r = app.post(&tasks, &tl.token, json!({"name": "t", "target_url": "https://other.org/", "allowed_hosts": ["*.example.com"],
            "steps": [{"type": "navigate", "url": "https://shop.example.com/a"}]})).await;
        assert_eq!(r.fields(), ["target_url"], "{}", r.text);
        let too_many: Vec<Value> = (0..51).map(|_| json!({"type": "wait", "millis": 1})).collect();
        let mut body = good.clone();
        body["steps"] = json!(too_many);
        assert_eq!(app.post(&tasks, &tl.token, body).await.fields(), ["steps"]);
        let mut body = good.clone();
        body["steps"] = json!([]);
        assert_eq!(app.post(&tasks, &tl.token, body).await.fields(), ["steps"]);
        let mut body = good.clone();
        body["allowed_hosts"] = json!([]);
        let r = app.post(&tasks, &tl.token, body).await;
        assert!(r.fields().contains(&"allowed_hosts".to_owned()), "{}", r.text);
        // Bad input on each write: unknown step type, unknown field, wrong types, not JSON.
        let mut body = good.clone();
        body["steps"] = json!([{"type": "click", "selector": "a"}]);
        app.post(&tasks, &tl.token, body).await.problem(422);
        let mut body = good.clone();
        body["steps"] = json!([{"type": "wait", "millis": 1, "extra": true}]);
        app.post(&tasks, &tl.token, body).await.problem(422);
        let mut body = good.clone();
        body["color"] = json!("red");
        assert_eq!(app.post(&tasks, &tl.token, body).await.fields(), ["color"]);
        let mut body = good.clone();
        body["steps"] = json!([{"type": "fetch", "url": "/", "method": "DELETE"}]);
        app.post(&tasks, &tl.token, body).await.problem(422);
        app.raw("POST", &tasks, &tl.token, Some("application/json"), "{not json").await.problem(400);
        app.raw("POST", &tasks, &tl.token, Some("text/plain"), good.to_string()).await.problem(415);

        let created = app.post(&tasks, &tl.token, good.clone()).await;
        created.expect(201);
        let tid = created.json["id"].as_i64().expect("id");
        let task = format!("{tasks}/{tid}");
        app.call("PATCH", &task, Some(&tl.token), Some(json!({}))).await.problem(422);
        let r = app.call("PATCH", &task, Some(&tl.token), Some(json!({"steps": [{"type": "wait", "millis": -1}]}))).await;
        r.problem(422);
        let r = app.call("PATCH", &task, Some(&tl.token), Some(json!({"allowed_hosts": ["other.org"]}))).await;
        assert_eq!(r.fields(), ["target_url", "steps[0].url"], "{}", r.text);
        app.call("PATCH", &task, Some(&tl.token), Some(json!({"allow_private_network": true}))).await.problem(403);
        app.call("PATCH", &task, Some(&tl.token), Some(json!({"nme": "x"}))).await.problem(422);
        let r = app.call("PATCH", &task, Some(&tl.token), Some(json!({"steps": [{"type": "fetch", "url": "/api", "method": "POST"}]}))).await;
        r.expect(200);
        assert_eq!(r.json["steps"][0], json!({"type": "fetch", "url": "/api", "method": "POST"}));
        app.call("PUT", &format!("{task}/schedule"), Some(&tl.token), Some(json!({"cron": ""}))).await.problem(422);
        app.call("PUT", &format!("{task}/schedule"), Some(&tl.token), Some(json!({"cron": "* * * * *", "x": 1}))).await.problem(422);
        app.call("DELETE", &format!("{task}/schedule"), Some(&tl.token), None).await.problem(404);

        // Another project's task is 404 through this project, and that project is 404 itself.
        let other = app.post(&format!("/api/v1/projects/{theirs}/web-tasks"), &admin.token, good.clone()).await;
        other.expect(201);
        let oid = other.json["id"].as_i64().expect("id");
        for path in [format!("{tasks}/{oid}"), format!("{tasks}/{oid}/runs"), format!("{tasks}/{oid}/schedule"),
                     format!("/api/v1/projects/{theirs}/web-tasks/{oid}")] {
            app.get(&path, &pm.token).await.problem(404);
        }
        app.post(&format!("{tasks}/{oid}/run"), &pm.token, json!({})).await.problem(404);
        app.call("PATCH", &format!("{tasks}/{oid}"), Some(&pm.token), Some(json!({"name": "pwned"}))).await.problem(404);
        app.call("DELETE", &format!("{tasks}/{oid}"), Some(&pm.token), None).await.problem(404);
        app.get(&format!("{task}/runs/999"), &pm.token).await.problem(404);
        assert_eq!(app.get(&format!("/api/v1/projects/{theirs}/web-tasks/{oid}"), &admin.token).await.json["name"], "t");
        let list = app.get(&tasks, &pm.token).await;
        assert_eq!(list.json["items"].as_array().map(Vec::len), Some(1));
        app.get(&format!("{tasks}?limit=0"), &pm.token).await.problem(422);
        app.get(&format!("{tasks}?bogus=1"), &pm.token).await.problem(400);

        // Every operation is in the OpenAPI document.
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let base = "/api/v1/projects/{id}/web-tasks";
        for (path, methods) in [
            (base.to_owned(), &["get", "post"][..]),
            (format!("{base}/{{tid}}"), &["get", "patch", "delete"][..]),
            (format!("{base}/{{tid}}/run"), &["post"][..]),
            (format!("{base}/{{tid}}/runs"), &["get"][..]),
            (format!("{base}/{{tid}}/runs/{{rid}}"), &["get"][..]),
            (format!("{base}/{{tid}}/schedule"), &["get", "put", "delete"][..]),
        ] {
            for method in methods {
                assert!(doc["paths"][&path][method].is_object(), "{method} {path} missing from OpenAPI");
            }
        }
        assert!(doc["components"]["schemas"]["Step"].is_object());
    }
}
