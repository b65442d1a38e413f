//! Agents end to end: the lifecycle through a real worker (draft → deploying → running →
//! stopping → stopped, a failing deploy → failed), refused transitions, config validation against
//! the kind's schema, heartbeats and metrics of `external` agents with an agent-scoped token (and
//! no other), their health computed from missed heartbeats as the clock moves, the metrics
//! history's pages and bounds, and no agent reachable through another project. Agents the host
//! runs (`web-monitor`, `sync-assistant`) are in `agent_runs.rs`.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use serde_json::{json, Value};

/// Starts a real worker with every handler the host registers.
fn worker(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&worker).run(stopped));
    stop
}

/// Waits until the agent is in `state`; returns it.
async fn until_state(app: &TestApp, token: &str, path: &str, state: &str) -> Value {
    for _ in 0..1500 {
        let r = app.get(path, token).await;
        r.expect(200);
        if r.json["state"] == state {
            return r.json;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never became {state}");
}

/// An `external` agent: a process elsewhere that reports heartbeats.
fn monitor(name: &str) -> Value {
    json!({"name": name, "kind": "external", "config": {"description": "checks the status page",
        "settings": {"url": "https://status.example.com/", "interval_secs": 60}}})
}

/// A `web-monitor` agent (run by the host once deployed).
fn web(name: &str) -> Value {
    json!({"name": name, "kind": "web-monitor", "config": {"url": "https://status.example.com/", "interval_secs": 60}})
}

async fn create(app: &TestApp, token: &str, project: i64, body: Value) -> (i64, String) {
    let r = app
        .post(&format!("/api/v1/projects/{project}/agents"), token, body)
        .await;
    r.expect(201);
    let id = r.json["id"].as_i64().expect("agent id");
    (id, format!("/api/v1/projects/{project}/agents/{id}"))
}

async fn issue_token(app: &TestApp, token: &str, path: &str) -> String {
    let r = app.post(&format!("{path}/token"), token, json!({})).await;
    r.expect(201);
    r.json["token"].as_str().expect("token").to_owned()
}

async fn beat(app: &TestApp, agent_token: &str, body: Value) -> Reply {
    app.call(
        "POST",
        "/api/v1/agent-runtime/heartbeat",
        Some(agent_token),
        Some(body),
    )
    .await
}

/// Deploys and waits for the deploy job; returns the job.
async fn deploy(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app
        .call("POST", &format!("{path}/deploy"), Some(token), None)
        .await;
    r.expect(202);
    assert_eq!(r.json["agent"]["state"], "deploying", "{}", r.text);
    assert_eq!(r.json["job"]["kind"], "agent.deploy");
    app.finished_job(token, r.json["job"]["id"].as_i64().expect("job"))
        .await
}

/// Expects a validation problem naming exactly `fields`.
#[track_caller]
fn invalid(r: &Reply, fields: &[&str]) {
    r.problem(422);
    let mut got = r.fields();
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
}

stories! {
    async fn the_lifecycle_runs_through_a_real_worker(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project("Ops", pm.id, &[tl.id, se.id]).await;
        let _worker = worker(&app);

        // A Technical Lead manages agents; it starts as a draft, not yet healthy or not.
        let created = app.post(&format!("/api/v1/projects/{project}/agents"), &tl.token, monitor("status page")).await;
        created.expect(201);
        assert_eq!(created.json["state"], "draft");
        assert_eq!(created.json["health"], "unknown");
        assert_eq!(created.json["kind"], "external");
        assert_eq!(created.json["config"]["settings"]["url"], "https://status.example.com/");
        assert_eq!(created.json["token_issued_at"], Value::Null);
        let id = created.json["id"].as_i64().expect("id");
        let path = format!("/api/v1/projects/{project}/agents/{id}");
        let list = app.get(&format!("/api/v1/projects/{project}/agents"), &se.token).await;
        list.expect(200);
        assert_eq!(list.json["items"][0]["id"], id);

        let token = issue_token(&app, &tl.token, &path).await;
        assert!(token.starts_with("aat_"), "{token}");
        // Not running yet: heartbeats are refused, telling the agent to go away.
        beat(&app, &token, json!({})).await.problem(409);

        let job = deploy(&app, &tl.token, &path).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"]["state"], "running");
        assert!(!job.to_string().contains(&token), "the job never carries the token");
        let agent = until_state(&app, &se.token, &path, "running").await;
        assert!(agent["running_since"].is_string());
        assert_eq!(agent["job_id"], Value::Null);
        assert_eq!(agent["health"], "unknown", "no heartbeat yet");
        app.call("POST", &format!("{path}/deploy"), Some(&tl.token), None).await.problem(409);

        // The agent reports in with its own token and learns its config.
        let r = beat(&app, &token, json!({"metrics": {"latency_ms": 120.5, "up": 1}})).await;
        r.expect(200);
        assert_eq!(r.json["agent_id"], id);
        assert_eq!(r.json["state"], "running");
        assert_eq!(r.json["config"]["settings"]["interval_secs"], 60);
        assert_eq!(r.json["heartbeat_timeout_secs"], 90);
        let status = app.get(&format!("{path}/status"), &se.token).await;
        status.expect(200);
        assert_eq!(status.json["state"], "running");
        assert_eq!(status.json["health"], "healthy");
        assert_eq!(status.json["last_metrics"], json!({"latency_ms": 120.5, "up": 1}));
        assert!(status.json["last_heartbeat_at"].is_string());
        let history = app.get(&format!("{path}/metrics"), &se.token).await;
        history.expect(200);
        assert_eq!(history.json["items"][0]["metrics"]["latency_ms"], 120.5);

        // While it runs: rename yes, reconfigure or delete no.
        let r = app.call("PATCH", &path, Some(&tl.token), Some(json!({"config": {"description": "other"}}))).await;
        assert!(r.problem(409)["detail"].as_str().unwrap_or_default().contains("running"), "{}", r.text);
        app.call("PATCH", &path, Some(&tl.token), Some(json!({"name": "status"}))).await.expect(200);
        let r = app.call("DELETE", &path, Some(&pm.token), None).await;
        assert!(r.problem(409)["detail"].as_str().unwrap_or_default().contains("stop it first"), "{}", r.text);

        // Stop: stopping, then stopped by the job; heartbeats are refused from then on.
        let r = app.call("POST", &format!("{path}/stop"), Some(&pm.token), None).await;
        r.expect(202);
        assert_eq!(r.json["agent"]["state"], "stopping");
        assert_eq!(r.json["job"]["kind"], "agent.stop");
        let again = app.call("POST", &format!("{path}/stop"), Some(&pm.token), None).await;
        again.problem(409);
        let job = app.finished_job(&pm.token, r.json["job"]["id"].as_i64().expect("job")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        let stopped = until_state(&app, &se.token, &path, "stopped").await;
        assert_eq!(stopped["health"], "unknown");
        beat(&app, &token, json!({})).await.problem(409);
        app.call("POST", &format!("{path}/stop"), Some(&pm.token), None).await.problem(409);

        // Stopped agents can be reconfigured and deployed again, then stopped and deleted.
        app.call("PATCH", &path, Some(&tl.token), Some(json!({"config": {"description": "other"}}))).await.expect(200);
        assert_eq!(deploy(&app, &tl.token, &path).await["state"], "succeeded");
        until_state(&app, &se.token, &path, "running").await;
        beat(&app, &token, json!({})).await.expect(200);
        let r = app.call("POST", &format!("{path}/stop"), Some(&tl.token), None).await;
        r.expect(202);
        app.finished_job(&tl.token, r.json["job"]["id"].as_i64().expect("job")).await;
        until_state(&app, &se.token, &path, "stopped").await;
        app.call("DELETE", &path, Some(&tl.token), None).await.expect(204);
        app.get(&path, &tl.token).await.problem(404);
        assert_eq!(app.count("agent_metrics").await, 0, "metrics go with the agent");
        beat(&app, &token, json!({})).await.problem(401);

        // Every change is audited, never with the token.
        let audit = app.get("/api/v1/audit?limit=200", &admin.token).await;
        let actions: Vec<&str> = audit.json["items"].as_array().expect("items").iter()
            .filter(|e| e["target_type"] == "agent").filter_map(|e| e["action"].as_str()).collect();
        for action in ["agent.created", "agent.token_rotated", "agent.deploy_requested", "agent.updated", "agent.stop_requested", "agent.deleted"] {
            assert!(actions.contains(&action), "{action} missing from {actions:?}");
        }
        assert!(!audit.text.contains(&token));
    }

    async fn a_deploy_whose_references_broke_leaves_the_agent_failed(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let _worker = worker(&app);
        let connection = |name: &str| json!({
            "plugin_id": "example", "name": name, "base_url": "https://tracker.example.com/",
            "config": {"items": 5}, "credential": {"kind": "anonymous"},
        });
        let c = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, connection("tracker")).await;
        c.expect(201);
        let cid = c.json["id"].as_i64().expect("connection");

        // The reference is checked on create…
        let r = app.post(&format!("/api/v1/projects/{project}/agents"), &pm.token,
            json!({"name": "assistant", "kind": "sync-assistant", "config": {"connection_id": cid + 1000}})).await;
        invalid(&r, &["config.connection_id"]);
        // A triage-assistant's model connection too.
        let r = app.post(&format!("/api/v1/projects/{project}/agents"), &pm.token,
            json!({"name": "triage", "kind": "triage-assistant",
                   "config": {"connection_id": cid, "model_connection_id": cid + 1000, "model": "m"}})).await;
        invalid(&r, &["config.model_connection_id"]);
        let (_, path) = create(&app, &pm.token, project,
            json!({"name": "assistant", "kind": "sync-assistant", "config": {"connection_id": cid, "streams": ["items"]}})).await;

        // …and again by the deploy job: the connection went away meanwhile.
        app.call("DELETE", &format!("/api/v1/projects/{project}/connections/{cid}"), Some(&pm.token), None).await.expect(204);
        let job = deploy(&app, &pm.token, &path).await;
        assert_eq!(job["state"], "dead", "{job}");
        assert_eq!(job["attempts"], 1, "a broken reference is not retried");
        let failed = until_state(&app, &pm.token, &path, "failed").await;
        let why = failed["last_error"].as_str().expect("reason");
        assert!(why.contains("config.connection_id") && why.contains("no connection"), "{why}");
        let status = app.get(&format!("{path}/status"), &pm.token).await;
        assert_eq!(status.json["last_error"], failed["last_error"]);
        app.call("POST", &format!("{path}/stop"), Some(&pm.token), None).await.problem(409);

        // Pointed at a new connection, it deploys.
        let r = app.call("PATCH", &path, Some(&pm.token), Some(json!({"config": {"connection_id": cid}}))).await;
        invalid(&r, &["config.connection_id"]);
        let c = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, connection("tracker 2")).await;
        let cid = c.json["id"].as_i64().expect("connection");
        app.call("PATCH", &path, Some(&pm.token), Some(json!({"config": {"connection_id": cid}}))).await.expect(200);
        assert_eq!(deploy(&app, &pm.token, &path).await["state"], "succeeded");
        let running = until_state(&app, &pm.token, &path, "running").await;
        assert_eq!(running["last_error"], Value::Null);
    }

    async fn refused_transitions_are_409_and_a_stop_overtakes_a_deploy(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        let (_, path) = create(&app, &admin.token, project, monitor("m")).await;
        let r = app.call("POST", &format!("{path}/stop"), Some(&admin.token), None).await;
        assert!(r.problem(409)["detail"].as_str().unwrap_or_default().contains("never been deployed"), "{}", r.text);

        // No worker yet: jobs wait in the queue. A deploy job cancelled before it ran leaves
        // the agent failed, saying so, and it can be deployed again.
        let (_, cancelled) = create(&app, &admin.token, project, monitor("n")).await;
        let d = app.call("POST", &format!("{cancelled}/deploy"), Some(&admin.token), None).await;
        d.expect(202);
        let job = d.json["job"]["id"].as_i64().expect("job");
        app.call("POST", &format!("/api/v1/jobs/{job}/cancel"), Some(&admin.token), None).await.expect(200);
        let agent = app.get(&cancelled, &admin.token).await;
        assert_eq!(agent.json["state"], "failed", "{}", agent.text);
        let why = agent.json["last_error"].as_str().unwrap_or_default();
        assert!(why.contains(&format!("deploy job {job}")) && why.contains("cancelled"), "{why}");
        app.call("POST", &format!("{cancelled}/deploy"), Some(&admin.token), None).await.expect(202);

        let d = app.call("POST", &format!("{path}/deploy"), Some(&admin.token), None).await;
        d.expect(202);
        let deploy_job = d.json["job"]["id"].as_i64().expect("job");
        let r = app.call("POST", &format!("{path}/deploy"), Some(&admin.token), None).await;
        assert!(r.problem(409)["detail"].as_str().unwrap_or_default().contains("already deploying"), "{}", r.text);
        app.call("DELETE", &path, Some(&admin.token), None).await.problem(409);
        app.call("PATCH", &path, Some(&admin.token), Some(json!({"config": {"description": "x"}}))).await.problem(409);
        // A stop overtakes the deploy: the late deploy job changes nothing.
        let s = app.call("POST", &format!("{path}/stop"), Some(&admin.token), None).await;
        s.expect(202);
        assert_eq!(s.json["agent"]["state"], "stopping");
        app.call("POST", &format!("{path}/deploy"), Some(&admin.token), None).await.problem(409);
        let _worker = worker(&app);
        let job = app.finished_job(&admin.token, deploy_job).await;
        assert!(job["result"]["skipped"].is_string(), "{job}");
        app.finished_job(&admin.token, s.json["job"]["id"].as_i64().expect("job")).await;
        until_state(&app, &admin.token, &path, "stopped").await;

    }

    async fn config_is_validated_against_the_kind_schema(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        let url = format!("/api/v1/projects/{project}/agents");
        let kinds = app.get("/api/v1/agent-kinds", &admin.token).await;
        kinds.expect(200);
        let names: Vec<&str> = kinds.json.as_array().expect("kinds").iter().filter_map(|k| k["name"].as_str()).collect();
        // The kinds whose component loads here (the test host loads the built ones), and the
        // external kind, labelled as such.
        assert_eq!(names, ["web-monitor", "sync-assistant", "triage-assistant", "external"]);
        assert_eq!(kinds.json[0]["config_schema"]["required"], json!(["url"]));
        let runs_on: Vec<&str> = kinds.json.as_array().expect("kinds").iter().filter_map(|k| k["runs_on"].as_str()).collect();
        assert_eq!(runs_on, ["host", "host", "host", "external"]);
        assert!(kinds.json[3]["description"].as_str().unwrap_or_default().starts_with("EXTERNAL"), "{}", kinds.text);
        // Without the components, only the external kind is offered.
        let bare = TestApp::start_with(backend, |c| c.agents.component_dir = None).await;
        let admin2 = bare.admin().await;
        let only = bare.get("/api/v1/agent-kinds", &admin2.token).await;
        let names: Vec<&str> = only.json.as_array().expect("kinds").iter().filter_map(|k| k["name"].as_str()).collect();
        assert_eq!(names, ["external"], "{}", only.text);

        for (body, fields) in [
            (json!({"name": "a", "kind": "teleporter", "config": {}}), vec!["kind"]),
            (json!({"name": "a", "kind": "web-monitor"}), vec!["config.url"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {}}), vec!["config.url"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "ftp://x"}}), vec!["config.url"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/", "interval_secs": 5}}), vec!["config.interval_secs"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/", "interval_secs": "60"}}), vec!["config.interval_secs"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/", "colour": "red"}}), vec!["config.colour"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": 1, "timeout_secs": 0}}), vec!["config.url", "config.timeout_secs"]),
            (json!({"name": "a", "kind": "web-monitor", "config": []}), vec!["config"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/", "keyword": "k".repeat(17_000)}}), vec!["config"]),
            (json!({"name": "a", "kind": "sync-assistant", "config": {"connection_id": 0}}), vec!["config.connection_id"]),
            (json!({"name": "a", "kind": "sync-assistant", "config": {"connection_id": 1, "streams": ["a", "a"]}}), vec!["config.streams"]),
            (json!({"name": "a", "kind": "triage-assistant", "config": {"connection_id": 1, "model_connection_id": 2}}), vec!["config.model"]),
            (json!({"name": "a", "kind": "triage-assistant", "config": {"connection_id": 1, "model_connection_id": 2, "model": "m",
                "max_input_chars": 50, "max_items_per_run": 201, "price_per_1k_tokens": -1}}),
                vec!["config.max_input_chars", "config.max_items_per_run", "config.price_per_1k_tokens"]),
            (json!({"name": "", "kind": "web-monitor", "config": {"url": "https://x.example/"}}), vec!["name"]),
            (json!({"name": "a\nb", "kind": "web-monitor", "config": {"url": "https://x.example/"}}), vec!["name"]),
            (json!({"name": "x".repeat(101), "kind": "web-monitor", "config": {"url": "https://x.example/"}}), vec!["name"]),
            (json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/"}, "state": "running"}), vec!["state"]),
            (json!({"kind": "web-monitor", "config": {"url": "https://x.example/"}}), vec!["name"]),
        ] {
            let r = app.post(&url, &admin.token, body.clone()).await;
            assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.text);
            invalid(&r, &fields);
        }
        assert_eq!(app.count("agents").await, 0, "nothing stored");

        let (_, path) = create(&app, &admin.token, project, web("m")).await;
        app.post(&url, &admin.token, web("m")).await.problem(409);
        create(&app, &admin.token, project, web("n")).await;
        for (body, fields) in [
            (json!({}), vec![""]),
            (json!({"kind": "sync-assistant"}), vec!["kind"]),
            (json!({"name": " "}), vec!["name"]),
            (json!({"config": {"interval_secs": 60}}), vec!["config.url"]),
            (json!({"config": "https://x.example/"}), vec!["config"]),
        ] {
            invalid(&app.call("PATCH", &path, Some(&admin.token), Some(body)).await, &fields);
        }
        app.call("PATCH", &path, Some(&admin.token), Some(json!({"name": "n"}))).await.problem(409);
        let r = app.call("PATCH", &path, Some(&admin.token), Some(json!({"config": {"url": "https://y.example/", "keyword": "up"}}))).await;
        r.expect(200);
        assert_eq!(r.json["config"], json!({"url": "https://y.example/", "keyword": "up"}), "the config is replaced, not merged");

        for query in ["state=sleeping", "health=great", "limit=0", "cursor=%%%", "colour=red"] {
            let r = app.get(&format!("{url}?{query}"), &admin.token).await;
            assert!(r.status.is_client_error(), "?{query}: {}", r.text);
            r.problem(r.status.as_u16());
        }
        let r = app.get(&format!("{path}/metrics?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"), &admin.token).await;
        invalid(&r, &["since"]);
        app.get(&format!("{path}/metrics?since=yesterday"), &admin.token).await.problem(400);
    }

    async fn only_an_agent_token_reaches_the_runtime_api_and_nothing_else(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        let (id, path) = create(&app, &admin.token, project, monitor("m")).await;
        let token = issue_token(&app, &admin.token, &path).await;
        let _worker = worker(&app);
        deploy(&app, &admin.token, &path).await;
        until_state(&app, &admin.token, &path, "running").await;
        beat(&app, &token, json!({})).await.expect(200);

        // People's tokens and service-account keys are refused at the runtime endpoint.
        beat(&app, &admin.token, json!({})).await.problem(401);
        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({"name": "bot", "role": "technical_lead"})).await;
        let sa = sa.json["id"].as_i64().expect("sa");
        let key = app.post(&format!("/api/v1/service-accounts/{sa}/keys"), &admin.token, json!({"name": "k", "scopes": ["agents:read"]})).await;
        let key = key.json["key"].as_str().expect("key").to_owned();
        beat(&app, &key, json!({})).await.problem(401);
        app.call("POST", "/api/v1/agent-runtime/heartbeat", None, Some(json!({}))).await.problem(401);
        let forged = format!("{}x", &token[..token.len() - 1]);
        beat(&app, &forged, json!({})).await.problem(401);
        beat(&app, "aat_000000000000_nothing", json!({})).await.problem(401);

        // The agent token is refused everywhere else, even on the agent's own endpoints.
        for path in [format!("{path}/status"), format!("/api/v1/projects/{project}/agents"), "/api/v1/auth/me".to_owned()] {
            let r = app.get(&path, &token).await;
            assert!(r.problem(401)["detail"].as_str().unwrap_or_default().contains("agent token"), "{path}: {}", r.text);
        }
        app.call("POST", &format!("{path}/stop"), Some(&token), None).await.problem(401);

        // Rotating revokes the old token at once.
        let fresh = issue_token(&app, &admin.token, &path).await;
        assert_ne!(fresh, token);
        beat(&app, &token, json!({})).await.problem(401);
        let r = beat(&app, &fresh, json!({})).await;
        r.expect(200);
        assert_eq!(r.json["agent_id"], id);
        assert!(!sqlx::query_scalar::<_, String>("SELECT token_hash FROM agents").fetch_one(app.state.store.pool()).await.expect("hash").contains(&fresh));

        // Heartbeat bodies are bounded and checked.
        let many: serde_json::Map<String, Value> = (0..33).map(|i| (format!("m{i}"), json!(i))).collect();
        for (body, fields) in [
            (json!({"metrics": {"up": "yes"}}), vec!["metrics.up"]),
            (json!({"metrics": {"up": null}}), vec!["metrics.up"]),
            (json!({"metrics": {"bad name": 1}}), vec!["metrics.bad name"]),
            (json!({"metrics": {"": 1}}), vec!["metrics."]),
            (json!({"metrics": many}), vec!["metrics"]),
            (json!({"metrics": [1, 2]}), vec!["metrics"]),
            (json!({"status": "ok"}), vec!["status"]),
        ] {
            invalid(&beat(&app, &fresh, body).await, &fields);
        }
        let r = app.raw("POST", "/api/v1/agent-runtime/heartbeat", &fresh, Some("application/json"), "{\"metrics\":").await;
        r.problem(400);
        let r = app.raw("POST", "/api/v1/agent-runtime/heartbeat", &fresh, Some("text/plain"), "{}").await;
        r.problem(415);
        assert_eq!(app.count("agent_metrics").await, 0, "refused heartbeats store nothing");
    }

    async fn missing_heartbeats_make_a_running_agent_unhealthy(backend) {
        let app = TestApp::start_with(backend, |c| c.agents.heartbeat_timeout_secs = 30).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        let (id, path) = create(&app, &admin.token, project, monitor("m")).await;
        let (quiet, quiet_path) = create(&app, &admin.token, project, monitor("quiet")).await;
        let token = issue_token(&app, &admin.token, &path).await;
        let _worker = worker(&app);
        deploy(&app, &admin.token, &path).await;
        deploy(&app, &admin.token, &quiet_path).await;
        until_state(&app, &admin.token, &path, "running").await;
        until_state(&app, &admin.token, &quiet_path, "running").await;
        let list = format!("/api/v1/projects/{project}/agents");
        let ids = |r: &Reply| -> Vec<i64> { r.json["items"].as_array().expect("items").iter().filter_map(|a| a["id"].as_i64()).collect() };

        let r = beat(&app, &token, json!({"metrics": {"up": 1}})).await;
        assert_eq!(r.json["heartbeat_timeout_secs"], 30);
        assert_eq!(app.get(&format!("{path}/status"), &admin.token).await.json["health"], "healthy");
        assert_eq!(app.get(&format!("{quiet_path}/status"), &admin.token).await.json["health"], "unknown");
        assert_eq!(ids(&app.get(&format!("{list}?health=healthy"), &admin.token).await), [id]);
        assert_eq!(ids(&app.get(&format!("{list}?health=unknown"), &admin.token).await), [quiet]);

        app.advance(Duration::from_secs(29));
        assert_eq!(app.get(&format!("{path}/status"), &admin.token).await.json["health"], "healthy");
        app.advance(Duration::from_secs(2));
        let status = app.get(&format!("{path}/status"), &admin.token).await;
        assert_eq!(status.json["health"], "unhealthy", "{}", status.text);
        assert!(status.json["unhealthy_since"].is_string());
        assert_eq!(status.json["state"], "running", "unhealthy is not a lifecycle state");
        // An agent that never reported since it started is unhealthy too.
        assert_eq!(app.get(&format!("{quiet_path}/status"), &admin.token).await.json["health"], "unhealthy");
        let mut unhealthy = ids(&app.get(&format!("{list}?health=unhealthy"), &admin.token).await);
        unhealthy.sort_unstable();
        assert_eq!(unhealthy, [id, quiet]);
        assert_eq!(app.get(&path, &admin.token).await.json["health"], "unhealthy");

        // A heartbeat brings it back.
        beat(&app, &token, json!({})).await.expect(200);
        let status = app.get(&format!("{path}/status"), &admin.token).await;
        assert_eq!(status.json["health"], "healthy");
        assert_eq!(status.json["unhealthy_since"], Value::Null);
        assert_eq!(status.json["last_metrics"], json!({"up": 1}), "a heartbeat without metrics keeps the last ones");
        assert_eq!(ids(&app.get(&format!("{list}?health=unhealthy&state=running"), &admin.token).await), [quiet]);
    }

    async fn the_metrics_history_is_paginated_and_bounded(backend) {
        let app = TestApp::start_with(backend, |c| {
            c.agents.metrics_max_samples = 5;
            c.agents.metrics_retention_secs = 3600;
        }).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        let (_, path) = create(&app, &admin.token, project, monitor("m")).await;
        let token = issue_token(&app, &admin.token, &path).await;
        let _worker = worker(&app);
        deploy(&app, &admin.token, &path).await;
        until_state(&app, &admin.token, &path, "running").await;
        let start = app.state.now();
        for i in 0..8 {
            beat(&app, &token, json!({"metrics": {"n": i}})).await.expect(200);
            app.advance(Duration::from_secs(10));
        }
        // Only the newest five are kept.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let r = app.get(&format!("{path}/metrics?limit=2&cursor={cursor}"), &admin.token).await;
            r.expect(200);
            assert!(r.json["items"].as_array().expect("items").len() <= 2);
            seen.extend(r.json["items"].as_array().expect("items").iter().map(|s| s["metrics"]["n"].as_i64().expect("n")));
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, [3, 4, 5, 6, 7]);
        // A time window: samples 4 and 5 (received 40 s and 50 s after the first).
        let at = |secs: u64| (start + Duration::from_secs(secs)).rfc3339();
        let r = app.get(&format!("{path}/metrics?since={}&until={}", at(40), at(55)), &admin.token).await;
        let window: Vec<i64> = r.json["items"].as_array().expect("items").iter().map(|s| s["metrics"]["n"].as_i64().expect("n")).collect();
        assert_eq!(window, [4, 5], "{}", r.text);
        // Samples past the retention age go as new ones arrive.
        app.advance(Duration::from_secs(3600));
        beat(&app, &token, json!({"metrics": {"n": 8}})).await.expect(200);
        let admin = app.admin().await; // the old access token expired meanwhile
        let r = app.get(&format!("{path}/metrics"), &admin.token).await;
        assert_eq!(r.json["items"].as_array().expect("items").len(), 1, "{}", r.text);
        assert_eq!(app.count("agent_metrics").await, 1);
    }

    async fn another_projects_agent_is_not_found(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let se = app.user(Role::SupportEngineer).await;
        let theirs = app.project("Theirs", admin.id, &[]).await;
        let ours = app.project("Ours", tl.id, &[se.id]).await;
        let (foreign, foreign_path) = create(&app, &admin.token, theirs, monitor("secret")).await;
        let (_, own_path) = create(&app, &tl.token, ours, monitor("ours")).await;

        // Through our project's path, their agent does not exist — even for an Administrator.
        for (method, suffix) in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/deploy"), ("POST", "/stop"),
                                 ("POST", "/token"), ("GET", "/status"), ("GET", "/metrics")] {
            let path = format!("/api/v1/projects/{ours}/agents/{foreign}{suffix}");
            let body = (method == "PATCH").then(|| json!({"name": "pwned"}));
            for token in [&tl.token, &admin.token] {
                let r = app.call(method, &path, Some(token), body.clone()).await;
                assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.text);
                r.problem(404);
            }
            // Through its own project, a non-member gets 404 too.
            let r = app.call(method, &format!("{foreign_path}{suffix}"), Some(&tl.token), body).await;
            assert_eq!(r.status.as_u16(), 404, "{method} {foreign_path}{suffix}: {}", r.text);
        }
        let list = app.get(&format!("/api/v1/projects/{ours}/agents"), &tl.token).await;
        assert_eq!(list.json["items"].as_array().expect("items").len(), 1);
        // A Support Engineer reads, never changes.
        app.get(&own_path, &se.token).await.expect(200);
        app.call("POST", &format!("{own_path}/deploy"), Some(&se.token), None).await.problem(403);
        app.call("POST", &format!("{own_path}/token"), Some(&se.token), None).await.problem(403);
        app.post(&format!("/api/v1/projects/{ours}/agents"), &se.token, monitor("x")).await.problem(403);
        let theirs_now = app.get(&foreign_path, &admin.token).await;
        assert_eq!(theirs_now.json["name"], "secret");
        assert_eq!(theirs_now.json["state"], "draft");
        assert_eq!(theirs_now.json["token_issued_at"], Value::Null);
    }

    async fn openapi_describes_every_agents_endpoint(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        r.expect(200);
        let paths = &r.json["paths"];
        let base = "/api/v1/projects/{id}/agents";
        for (path, methods) in [
            ("/api/v1/agent-kinds".to_owned(), &["get"][..]),
            (base.to_owned(), &["get", "post"]),
            (format!("{base}/{{agent_id}}"), &["get", "patch", "delete"]),
            (format!("{base}/{{agent_id}}/deploy"), &["post"]),
            (format!("{base}/{{agent_id}}/stop"), &["post"]),
            (format!("{base}/{{agent_id}}/token"), &["post"]),
            (format!("{base}/{{agent_id}}/status"), &["get"]),
            (format!("{base}/{{agent_id}}/metrics"), &["get"]),
        ] {
            for method in methods {
                let op = &paths[&path][*method];
                assert!(op.is_object(), "{method} {path} missing from OpenAPI");
                assert_eq!(op["tags"], json!(["agents"]));
            }
        }
        for path in [format!("{base}/{{agent_id}}/deploy"), format!("{base}/{{agent_id}}/stop")] {
            assert!(paths[&path]["post"]["responses"]["202"].is_object(), "{path} answers 202");
            assert!(paths[&path]["post"]["responses"]["409"].is_object(), "{path} answers 409");
        }
        let heartbeat = &paths["/api/v1/agent-runtime/heartbeat"]["post"];
        assert_eq!(heartbeat["tags"], json!(["agent-runtime"]));
        assert_eq!(heartbeat["security"], json!([{ "agent_token": [] }]));
        assert_eq!(r.json["components"]["securitySchemes"]["agent_token"]["scheme"], "bearer");
    }
}
