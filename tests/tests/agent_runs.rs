//! Agents the host runs, end to end on a real worker with the real components built from
//! `plugins/agents/`: a `web-monitor` fetching a loopback server of the test on its interval
//! (moved by the manual clock), turning unhealthy after its failures with the alert on the
//! webhook, the event stream and the audit log, and recovering; a config change applying at the
//! next run; stop ending the runs. A `sync-assistant` starting real syncs that store records. And
//! the hostile side: a hostile agent component's loop, memory, output and egress attacks and its
//! platform calls beyond its grant (another project's records, an action on a connection it was
//! not given, a sync without the permission) refused and audited.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::agents::platform::{AgentPlatform, Grant, Services};
use agentic_host::clock::Millis;
use agentic_host::plugins::agent::{RunError, Trigger, TriggerKind};
use agentic_host::plugins::{Call, EgressPolicy, PluginError};
use agentic_host::rbac::{Permission, Role};
use agentic_tests::{plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

/// Starts a real worker with every handler the host registers.
pub(crate) fn worker(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&worker).run(stopped));
    stop
}

/// A loopback site: `GET /health` answers 200 "all systems go" (500 "down" while `failing`),
/// counting requests; `POST /hook` keeps the JSON it receives (the alert webhook).
struct Site {
    url: String,
    hits: Arc<AtomicUsize>,
    /// Requests that arrived with an `Authorization` header.
    authorized: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    alerts: Arc<Mutex<Vec<Value>>>,
}

async fn site() -> Site {
    let hits = Arc::new(AtomicUsize::new(0));
    let authorized = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let (h, f, a, z) = (
        hits.clone(),
        failing.clone(),
        alerts.clone(),
        authorized.clone(),
    );
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let (h, f, z) = (h.clone(), f.clone(), z.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    if headers.contains_key(axum::http::header::AUTHORIZATION) {
                        z.fetch_add(1, Ordering::SeqCst);
                    }
                    if f.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down")
                    } else {
                        (axum::http::StatusCode::OK, "all systems go")
                    }
                }
            }),
        )
        .route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let a = a.clone();
                async move {
                    a.lock().expect("alerts").push(body);
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Site {
        url: format!("http://{addr}"),
        hits,
        authorized,
        failing,
        alerts,
    }
}

/// Polls `check` every 20 ms for up to 30 s of real time.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..1500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The agent's finished runs.
pub(crate) async fn runs(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    app.all(token, &format!("{path}/runs")).await
}

/// Waits until the agent has `n` finished runs; returns them.
pub(crate) async fn until_runs(app: &TestApp, token: &str, path: &str, n: usize) -> Vec<Value> {
    for _ in 0..1500 {
        let all = runs(app, token, path).await;
        if all.len() >= n {
            assert_eq!(all.len(), n, "one run per interval: {all:?}");
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never had {n} runs");
}

fn millis(rfc3339: &Value) -> Millis {
    let t = time::OffsetDateTime::parse(
        rfc3339.as_str().expect("time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    Millis::from_datetime(t)
}

pub(crate) async fn deploy(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app
        .call("POST", &format!("{path}/deploy"), Some(token), None)
        .await;
    r.expect(202);
    let job = app
        .finished_job(token, r.json["job"]["id"].as_i64().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

pub(crate) async fn stop(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app
        .call("POST", &format!("{path}/stop"), Some(token), None)
        .await;
    r.expect(202);
    let job = app
        .finished_job(token, r.json["job"]["id"].as_i64().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

pub(crate) async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/audit?action={action}&limit=100"), admin)
        .await;
    r.expect(200);
    r.json["items"].as_array().expect("items").clone()
}

stories! {
    async fn a_web_monitor_checks_its_url_on_its_interval_and_alerts(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Ops", tl.id, &[]).await;
        let site = site().await;
        let _worker = worker(&app);
        let list = format!("/api/v1/projects/{project}/agents");
        let config = json!({
            "url": format!("{}/health", site.url), "interval_secs": 60, "keyword": "systems go",
            "unhealthy_after": 2, "alert_webhook_url": format!("{}/hook", site.url),
            "allow_private_network": true,
        });
        let body = json!({"name": "site", "kind": "web-monitor", "config": config});
        // Reaching a loopback address is for Administrators to allow.
        let r = app.post(&list, &tl.token, body.clone()).await;
        assert!(r.problem(403)["detail"].as_str().unwrap_or_default().contains("Administrator"), "{}", r.text);
        let created = app.post(&list, &admin.token, body).await;
        created.expect(201);
        let path = format!("{list}/{}", created.json["id"]);

        // Deployed: the first run comes at once and really fetches the page.
        let job = deploy(&app, &admin.token, &path).await;
        assert!(job["result"]["run_job_id"].is_i64(), "{job}");
        let first = until_runs(&app, &tl.token, &path, 1).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), 1);
        let run = &first[0];
        assert_eq!(run["succeeded"], true, "{run}");
        assert_eq!(run["run"], 1);
        assert_eq!(run["metrics"]["status"], 200.0, "{run}");
        assert_eq!(run["metrics"]["keyword_found"], 1.0, "{run}");
        assert!(run["metrics"]["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{run}");
        assert!(run["metrics"]["duration_ms"].is_i64() && run["metrics"]["ok"] == 1, "{run}");
        assert!(run["summary"].as_str().unwrap_or_default().contains("answered 200"), "{run}");
        let status = app.get(&format!("{path}/status"), &tl.token).await;
        assert_eq!(status.json["health"], "healthy", "{}", status.text);
        assert_eq!(status.json["runs"], 1);
        // Heartbeats and tokens are for external agents.
        app.post(&format!("{path}/token"), &admin.token, json!({})).await.problem(409);

        // Nothing more before the interval has passed on the host's clock…
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), 1, "no run before the interval");
        // …and one run once it has.
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &tl.token, &path, 2).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), 2);
        assert!(millis(&second[1]["started_at"]) - millis(&second[0]["started_at"]) >= Duration::from_secs(60), "{second:?}");

        // Watch the agent's live event stream from here on.
        let request = axum::http::Request::builder()
            .uri(format!("{path}/events/stream"))
            .header("authorization", format!("Bearer {}", tl.token))
            .body(axum::body::Body::empty())
            .expect("request");
        let response = tower::ServiceExt::oneshot(app.router.clone(), request).await.expect("stream");
        assert_eq!(response.status(), 200);
        let mut stream = response.into_body();

        // A config change applies at the next run: the page lacks the new keyword.
        app.call("PATCH", &path, Some(&tl.token), Some(json!({"config": {
            "url": format!("{}/health", site.url), "interval_secs": 60, "keyword": "maintenance",
            "unhealthy_after": 2, "alert_webhook_url": format!("{}/hook", site.url),
            "allow_private_network": true,
        }}))).await.problem(403);
        let changed = json!({"config": {
            "url": format!("{}/health", site.url), "interval_secs": 60, "keyword": "maintenance",
            "unhealthy_after": 2, "alert_webhook_url": format!("{}/hook", site.url),
            "allow_private_network": true,
        }});
        app.call("PATCH", &path, Some(&admin.token), Some(changed)).await.expect(200);
        app.advance(Duration::from_secs(60));
        let third = until_runs(&app, &tl.token, &path, 3).await;
        let run = &third[2];
        assert_eq!(run["succeeded"], false, "{run}");
        assert!(run["error"].as_str().unwrap_or_default().contains("does not contain \"maintenance\""), "{run}");
        assert_eq!(run["metrics"]["keyword_found"], 0.0);
        let status = app.get(&format!("{path}/status"), &tl.token).await;
        assert_eq!(status.json["health"], "healthy", "one failure is not yet unhealthy: {}", status.text);
        assert_eq!(status.json["consecutive_failures"], 1);
        assert!(site.alerts.lock().expect("alerts").is_empty());

        // The second failure in a row (the site is down now): unhealthy, and people are told.
        site.failing.store(true, Ordering::SeqCst);
        app.advance(Duration::from_secs(60));
        let fourth = until_runs(&app, &tl.token, &path, 4).await;
        assert!(fourth[3]["error"].as_str().unwrap_or_default().contains("status 500"), "{}", fourth[3]);
        let status = app.get(&format!("{path}/status"), &tl.token).await;
        assert_eq!(status.json["health"], "unhealthy", "{}", status.text);
        assert!(status.json["unhealthy_since"].is_string());
        until("the unhealthy webhook", || {
            let alerts = site.alerts.clone();
            async move { !alerts.lock().expect("alerts").is_empty() }
        }).await;
        let alert = site.alerts.lock().expect("alerts")[0].clone();
        let text = alert["text"].as_str().expect("Slack-compatible text");
        assert!(text.contains("UNHEALTHY") && text.contains("site") && text.contains("status 500"), "{text}");
        // The alert arrives on the live stream as an `agent` event.
        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !seen.contains("alert.unhealthy") {
            let frame = tokio::time::timeout_at(deadline, http_body_util::BodyExt::frame(&mut stream))
                .await
                .expect("an alert on the stream within 30 s")
                .expect("the stream stays open")
                .expect("a frame");
            if let Ok(data) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
        assert!(seen.contains("event: agent") && seen.contains("id: "), "{seen}");
        let metrics = app.get("/metrics", &admin.token).await;
        metrics.expect(200);
        assert!(metrics.text.contains("agentic_agent_alerts_total") && metrics.text.contains("agentic_agent_runs_total"), "{}", metrics.text);
        let listed = app.all(&tl.token, &format!("{list}?health=unhealthy")).await;
        assert_eq!(listed.len(), 1);
        let events = app.all(&tl.token, &format!("{path}/events")).await;
        assert!(events.iter().any(|e| e["kind"] == "alert.unhealthy"), "{events:?}");
        let (shared, admin_token) = (&app, admin.token.as_str());
        until("the unhealthy audit entry", move || async move {
            !audit(shared, admin_token, "agent.unhealthy").await.is_empty()
        }).await;
        let entries = audit(&app, &admin.token, "agent.unhealthy").await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["detail"]["webhook"], "delivered");

        // Recovery: the site is back and the keyword restored.
        site.failing.store(false, Ordering::SeqCst);
        app.call("PATCH", &path, Some(&admin.token), Some(json!({"config": config}))).await.expect(200);
        app.advance(Duration::from_secs(60));
        let fifth = until_runs(&app, &tl.token, &path, 5).await;
        assert_eq!(fifth[4]["succeeded"], true, "{}", fifth[4]);
        assert_eq!(app.get(&format!("{path}/status"), &tl.token).await.json["health"], "healthy");
        until("the recovery webhook", || {
            let alerts = site.alerts.clone();
            async move { alerts.lock().expect("alerts").len() >= 2 }
        }).await;
        let text = site.alerts.lock().expect("alerts")[1]["text"].as_str().unwrap_or_default().to_owned();
        assert!(text.contains("RECOVERED"), "{text}");
        until("the recovery audit entry", move || async move {
            audit(shared, admin_token, "agent.recovered").await.len() == 1
        }).await;
        // The metrics history holds every run's measurements.
        let samples = app.all(&tl.token, &format!("{path}/metrics")).await;
        assert_eq!(samples.len(), 5);
        assert!(samples.iter().all(|s| s["metrics"]["latency_ms"].is_number()), "{samples:?}");

        // Stop: no further runs, the queued one cancelled.
        let hits = site.hits.load(Ordering::SeqCst);
        let stopped = stop(&app, &admin.token, &path).await;
        let cancelled = stopped["result"]["cancelled_run_job_id"].as_i64().expect("the queued run");
        let job = app.get(&format!("/api/v1/jobs/{cancelled}"), &admin.token).await;
        assert_eq!(job.json["state"], "cancelled", "{}", job.text);
        app.advance(Duration::from_secs(600));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), hits, "no run after stop");
        assert_eq!(runs(&app, &tl.token, &path).await.len(), 5);
        assert_eq!(app.get(&format!("{path}/status"), &tl.token).await.json["health"], "unknown");
    }

    async fn an_agent_with_a_cron_runs_at_its_firings(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("Ops", admin.id, &[]).await;
        let site = site().await;
        let _worker = worker(&app);
        let list = format!("/api/v1/projects/{project}/agents");
        let url = format!("{}/health", site.url);
        let agent = |cron: &str, extra: Value| {
            let mut config = json!({"url": url, "cron": cron, "allow_private_network": true});
            config.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            json!({"name": format!("cron-{}", cron.len()), "kind": "web-monitor", "config": config})
        };
        // A cron that does not parse, fires more often than the kind allows, or comes with an
        // interval is refused on the field.
        for (cron, extra, says) in [
            ("every tuesday", json!({}), "every tuesday"),
            ("* * * * * *", json!({}), "more often than every 30 s"),
            ("*/10 * * * *", json!({"interval_secs": 60}), "either cron or interval_secs"),
        ] {
            let r = app.post(&list, &admin.token, agent(cron, extra)).await;
            let problem = r.problem(422);
            assert_eq!(problem["errors"][0]["field"], "config.cron", "{problem}");
            assert!(problem["errors"][0]["message"].as_str().unwrap_or_default().contains(says), "{problem}");
        }
        // Every five minutes, at second 0 (six fields, seconds first).
        let created = app.post(&list, &admin.token, agent("0 */5 * * * *", json!({}))).await;
        created.expect(201);
        let path = format!("{list}/{}", created.json["id"]);
        let deployed_at = app.state.now();
        let job = deploy(&app, &admin.token, &path).await;
        let first = app.get(&format!("/api/v1/jobs/{}", job["result"]["run_job_id"]), &admin.token).await;
        let due = millis(&first.json["run_at"]);
        // The first run waits for the first firing after the deploy; nothing runs before it.
        assert_eq!(due.as_ms() % 300_000, 0, "{}", first.text);
        assert!(due > deployed_at && due - deployed_at <= Duration::from_secs(300), "{}", first.text);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), 0, "no run before the first firing");
        let now = app.state.now();
        assert!(due >= now, "ahead");
        app.advance(due - now);
        let done = until_runs(&app, &admin.token, &path, 1).await;
        assert_eq!(site.hits.load(Ordering::SeqCst), 1);
        assert_eq!(done[0]["succeeded"], true, "{}", done[0]);
        // The next run is due at the next firing, five minutes on.
        let queued = app
            .get(&format!("/api/v1/jobs?kind=agent.run&state=queued&project_id={project}"), &admin.token)
            .await;
        let next = &queued.json["items"][0];
        assert_eq!(millis(&next["run_at"]), due + Duration::from_secs(300), "{}", queued.text);
        stop(&app, &admin.token, &path).await;
    }

    async fn a_sync_assistant_starts_real_syncs_that_store_records(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let _worker = worker(&app);
        let c = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, json!({
            "plugin_id": "example", "name": "tracker", "base_url": "https://tracker.example.com/",
            "config": {"items": 7}, "credential": {"kind": "anonymous"},
        })).await;
        c.expect(201);
        let cid = c.json["id"].as_i64().expect("connection");
        let created = app.post(&format!("/api/v1/projects/{project}/agents"), &pm.token, json!({
            "name": "keeper", "kind": "sync-assistant",
            "config": {"connection_id": cid, "streams": ["items"], "interval_secs": 60},
        })).await;
        created.expect(201);
        let path = format!("/api/v1/projects/{project}/agents/{}", created.json["id"]);
        deploy(&app, &pm.token, &path).await;
        let agent = app.get(&path, &pm.token).await;
        let mut grant: Vec<String> = serde_json::from_value(agent.json["grant"].clone()).expect("grant");
        grant.sort();
        assert_eq!(grant, ["connections:sync", "jobs:read", "records:read"], "the PM's share of the kind's needs");

        // Run 1 starts a sync of the stream; the worker runs it and the records are stored.
        let first = until_runs(&app, &pm.token, &path, 1).await;
        assert_eq!(first[0]["succeeded"], true, "{}", first[0]);
        assert_eq!(first[0]["metrics"]["syncs_started"], 1.0, "{}", first[0]);
        let (shared, token) = (&app, pm.token.as_str());
        until("the records of the sync", move || async move {
            let url = format!("/api/v1/projects/{project}/work-items");
            shared.get(&url, token).await.json["items"].as_array().is_some_and(|i| i.len() == 7)
        }).await;
        until("the sync job to finish", move || async move {
            let jobs = shared.all(token, &format!("/api/v1/jobs?kind=sync&project_id={project}")).await;
            !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "succeeded")
        }).await;
        // Run 2 takes the outcome: records per run and lag, and starts the next round.
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &pm.token, &path, 2).await;
        let run = &second[1];
        assert_eq!(run["succeeded"], true, "{run}");
        assert_eq!(run["metrics"]["records"], 7.0, "{run}");
        assert_eq!(run["metrics"]["streams_synced"], 1.0, "{run}");
        assert_eq!(run["metrics"]["syncs_started"], 1.0, "{run}");
        assert!(run["metrics"]["lag_secs"].as_f64().is_some_and(|l| l >= 0.0), "{run}");
        let syncs = app.all(&pm.token, &format!("/api/v1/jobs?kind=sync&project_id={project}")).await;
        assert!(syncs.len() >= 2, "{syncs:?}");
        // Every platform call was audited.
        let calls = audit(&app, &admin.token, "agent.platform_call").await;
        assert!(calls.iter().any(|e| e["detail"]["call"] == "start-sync" && e["detail"]["outcome"] == "ok"), "{calls:?}");
        assert!(calls.iter().any(|e| e["detail"]["call"] == "sync-job" && e["detail"]["outcome"] == "ok"), "{calls:?}");

        stop(&app, &pm.token, &path).await;
        app.advance(Duration::from_secs(600));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(runs(&app, &pm.token, &path).await.len(), 2, "no run after stop");
    }

    async fn hostile_agents_and_calls_beyond_the_grant_are_refused_and_audited(backend) {
        let app = TestApp::start_with(backend, |c| c.plugins.call_timeout_secs = 2).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let ours = app.project_with_example(&admin.token, pm.id, &[]).await;
        let theirs = app.project("Theirs", admin.id, &[]).await;
        app.enable_plugin(&admin.token, theirs, "example").await;
        let connection = |name: &str| json!({
            "plugin_id": "example", "name": name, "base_url": "https://tracker.example.com/",
            "config": {"items": 3}, "credential": {"kind": "anonymous"},
        });
        let mine = app.post(&format!("/api/v1/projects/{ours}/connections"), &pm.token, connection("mine")).await;
        let mine = mine.json["id"].as_i64().expect("connection");
        let other = app.post(&format!("/api/v1/projects/{ours}/connections"), &pm.token, connection("other")).await;
        let other = other.json["id"].as_i64().expect("connection");
        let foreign = app.post(&format!("/api/v1/projects/{theirs}/connections"), &admin.token, connection("foreign")).await;
        let foreign = foreign.json["id"].as_i64().expect("connection");
        let agent = app.post(&format!("/api/v1/projects/{ours}/agents"), &pm.token,
            json!({"name": "hostile", "kind": "external", "config": {}})).await;
        let agent_id = agent.json["id"].as_i64().expect("agent");

        // The hostile component, run as the host runs agents, with a grant over `mine` only.
        let runtime = app.state.plugins.runtime().await.expect("runtime");
        let component = runtime.load_agent("agent:hostile", &plugin_wasm("agent_hostile")).expect("agent component");
        let grant = Grant {
            agent_id, project_id: ours, deployed_by: Some(pm.id),
            permissions: vec![Permission::RecordsRead, Permission::ConnectionsAct],
            connections: vec![mine],
        };
        let run_as = |grant: Grant, config: Value, call: Call| {
            let platform = AgentPlatform::new(grant, Services::of(&app.state));
            let (runtime, component) = (runtime.clone(), component.clone());
            async move {
                let trigger = Trigger { kind: TriggerKind::Schedule, run: 1, at: 0, consecutive_failures: 0, event: None };
                runtime.run_agent(&component, &call, Arc::new(platform), trigger, &config.to_string(), None).await
            }
        };
        let run = |config: Value, call: Call| run_as(grant.clone(), config, call);
        let summary = |r: &agentic_host::plugins::agent::RunReport| match &r.result {
            Ok(o) => o.summary.clone(),
            Err(e) => panic!("the run failed: {e}"),
        };

        // Another project's records: not found, as for a non-member.
        let r = run(json!({"attack": "records", "connection_id": foreign}), Call::default()).await;
        assert!(summary(&r).starts_with("refused: not-found"), "{}", summary(&r));
        // An action on a connection of the project the agent was not given: denied.
        let r = run(json!({"attack": "action", "connection_id": other}), Call::default()).await;
        assert!(summary(&r).starts_with("refused: denied") && summary(&r).contains("not one the agent"), "{}", summary(&r));
        // A sync without connections:sync in the grant: denied.
        let r = run(json!({"attack": "sync", "connection_id": mine}), Call::default()).await;
        assert!(summary(&r).contains("connections:sync"), "{}", summary(&r));
        // Writing a document needs documents:manage in the grant.
        let r = run(json!({"attack": "document", "title": "Refused notes"}), Call::default()).await;
        assert!(summary(&r).contains("documents:manage"), "{}", summary(&r));
        // Within the grant it works.
        let r = run(json!({"attack": "records", "connection_id": mine}), Call::default()).await;
        assert_eq!(summary(&r), "ok: 0 records");
        let writer = Grant { permissions: vec![Permission::DocumentsManage], ..grant.clone() };
        let r = run_as(writer, json!({"attack": "document", "title": "Agent notes"}), Call::default()).await;
        assert!(summary(&r).starts_with("ok: document "), "{}", summary(&r));
        let docs = app.all(&pm.token, &format!("/api/v1/projects/{ours}/documents")).await;
        let titles: Vec<&str> = docs.iter().filter_map(|d| d["title"].as_str()).collect();
        assert_eq!(titles, ["Agent notes"], "{docs:?}");
        assert_eq!(docs[0]["metadata"]["agent_id"], agent_id, "{}", docs[0]);
        let calls = audit(&app, &admin.token, "agent.platform_call").await;
        let outcomes: Vec<(String, String)> = calls.iter().map(|e| (
            e["detail"]["call"].as_str().unwrap_or_default().to_owned(),
            e["detail"]["outcome"].as_str().unwrap_or_default().to_owned())).collect();
        for (call, outcome) in [("query-records", "not-found"), ("invoke-action", "denied"), ("start-sync", "denied"),
            ("write-document", "denied"), ("query-records", "ok"), ("write-document", "ok")] {
            assert!(outcomes.contains(&(call.to_owned(), outcome.to_owned())), "{call} {outcome} in {outcomes:?}");
        }
        let target = agent_id.to_string();
        assert!(calls.iter().all(|e| e["target_id"] == target.as_str()), "{calls:?}");

        // The sandbox: a loop is stopped at the deadline, memory at the cap, output at its cap,
        // a panic is a clean failure.
        let r = run(json!({"attack": "spin"}), Call::default()).await;
        assert!(matches!(r.result, Err(RunError::Sandbox(PluginError::Timeout(_)))), "{:?}", r.result);
        let r = run(json!({"attack": "grow"}), Call::default()).await;
        assert!(matches!(r.result, Err(RunError::Sandbox(PluginError::MemoryLimit(_)))), "{:?}", r.result);
        let r = run(json!({"attack": "flood"}), Call::default()).await;
        assert!(matches!(r.result, Err(RunError::Sandbox(PluginError::OutputTooLarge { .. }))), "{:?}", r.result);
        let r = run(json!({"attack": "panic"}), Call::default()).await;
        assert!(matches!(r.result, Err(RunError::Sandbox(PluginError::Trap(_)))), "{:?}", r.result);
        // Egress: no network without a policy; a private address the policy does not allow is
        // refused, and so is a host outside it, whatever headers the guest forges.
        let site = site().await;
        let r = run(json!({"attack": "fetch", "url": format!("{}/health", site.url)}), Call::default()).await;
        assert!(summary(&r).starts_with("refused"), "{}", summary(&r));
        let policy = |allow: bool| Call {
            egress: Some(Arc::new(EgressPolicy::new(&["127.0.0.1".into()], &format!("{}/health", site.url)).expect("policy").allow_private(allow))),
            ..Call::default()
        };
        let r = run(json!({"attack": "fetch", "url": format!("{}/health", site.url)}), policy(false)).await;
        assert!(summary(&r).starts_with("refused"), "{}", summary(&r));
        assert!(r.refusal.as_deref().unwrap_or_default().contains("private"), "{:?}", r.refusal);
        let r = run(json!({"attack": "fetch", "url": format!("{}/hook", site.url)}), policy(true)).await;
        assert!(summary(&r).starts_with("refused"), "outside the base path: {}", summary(&r));
        assert_eq!(site.hits.load(Ordering::SeqCst), 0, "nothing reached the site");
        let r = run(json!({"attack": "fetch", "url": format!("{}/health", site.url)}), policy(true)).await;
        assert_eq!(summary(&r), "ok: status 200");
        assert_eq!(site.authorized.load(Ordering::SeqCst), 0, "the forged Authorization header was dropped");

        // Through the real runtime: a web-monitor pointed at a loopback address without the
        // Administrator's allowance is refused by the egress rules; the run fails and the
        // refusal is audited.
        let _worker = worker(&app);
        let created = app.post(&format!("/api/v1/projects/{ours}/agents"), &pm.token, json!({
            "name": "sneaky", "kind": "web-monitor", "config": {"url": format!("{}/health", site.url), "interval_secs": 60},
        })).await;
        created.expect(201);
        let path = format!("/api/v1/projects/{ours}/agents/{}", created.json["id"]);
        deploy(&app, &pm.token, &path).await;
        let first = until_runs(&app, &pm.token, &path, 1).await;
        let error = first[0]["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("denied") && error.contains("private"), "{error}");
        assert_eq!(site.hits.load(Ordering::SeqCst), 1, "only the allowed fetch above reached the site");
        let refused = audit(&app, &admin.token, "agent.egress_refused").await;
        assert_eq!(refused.len(), 1, "{refused:?}");

        // A grant is what the deploying credential held: an API key scoped to agents only
        // deploys a sync-assistant whose syncs are refused (and audited).
        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({"name": "bot", "role": "project_manager"})).await;
        let sa_id = sa.json["id"].as_i64().expect("sa");
        app.call("PUT", &format!("/api/v1/projects/{ours}/members/{sa_id}"), Some(&admin.token), None).await;
        let key = app.post(&format!("/api/v1/service-accounts/{sa_id}/keys"), &admin.token,
            json!({"name": "k", "scopes": ["agents:manage", "agents:read"]})).await;
        let key = key.json["key"].as_str().expect("key").to_owned();
        let created = app.post(&format!("/api/v1/projects/{ours}/agents"), &key, json!({
            "name": "narrow", "kind": "sync-assistant", "config": {"connection_id": mine, "interval_secs": 60},
        })).await;
        created.expect(201);
        let path = format!("/api/v1/projects/{ours}/agents/{}", created.json["id"]);
        let r = app.call("POST", &format!("{path}/deploy"), Some(&key), None).await;
        r.expect(202);
        let job = app.finished_job(&admin.token, r.json["job"]["id"].as_i64().expect("job")).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(app.get(&path, &key).await.json["grant"], json!([]));
        let first = until_runs(&app, &key, &path, 1).await;
        let error = first[0]["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("denied") && error.contains("connections:sync"), "{error}");
        let calls = audit(&app, &admin.token, "agent.platform_call").await;
        let narrow = created.json["id"].to_string();
        assert!(calls.iter().any(|e| e["target_id"] == narrow.as_str() && e["detail"]["outcome"] == "denied"), "{calls:?}");
    }
}
