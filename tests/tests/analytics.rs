//! Analytics end to end: real data made through the API, a real sync run by a real worker and
//! jobs finished through the store at chosen times, read back as counts and hourly series —
//! per project for its members (others get 404), across projects for Administrators only;
//! reports are cached; API usage is counted in memory and flushed to the database.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::clock::Millis;
use agentic_host::rbac::Role;
use agentic_host::store::jobs::{NewJob, Outcome};
use agentic_host::store::records::{NewRecord, SyncState};
use agentic_tests::{stories, Form, TestApp};
use serde_json::{json, Value};

const HOUR: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// RFC 3339 text of a time.
fn at(t: Millis) -> String {
    t.rfc3339()
}

/// The start of the period of `period_ms` holding `t`.
fn floor(t: Millis, period_ms: i64) -> Millis {
    Millis::from_ms(t.as_ms() - t.as_ms().rem_euclid(period_ms))
}

/// The start of the hour holding the test app's now.
fn this_hour(app: &TestApp) -> Millis {
    floor(app.state.clock.now_ms(), 3_600_000)
}

/// An hourly report of `hours` buckets from `from`.
async fn hourly(app: &TestApp, token: &str, base: &str, from: Millis, hours: u32) -> Value {
    let r = app
        .get(
            &format!(
                "{base}?bucket=hour&from={}&to={}",
                at(from),
                at(from + hours * HOUR)
            ),
            token,
        )
        .await;
    r.expect(200);
    r.json.clone()
}

/// The values of the series point starting at `start`.
fn point(report: &Value, start: Millis) -> Value {
    report["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|p| p["start"] == at(start))
        .map(|p| p["values"].clone())
        .unwrap_or_else(|| panic!("no point at {}: {report}", at(start)))
}

/// A sync job of `project` enqueued at `created`, started at `started`, ended at `ended`.
async fn sync_job(
    app: &TestApp,
    project: i64,
    created: Millis,
    started: Millis,
    ended: Millis,
    outcome: Outcome<'_>,
) {
    let store = &app.state.store;
    let job = NewJob {
        kind: "sync".into(),
        project_id: Some(project),
        payload: "{}".into(),
        priority: 0,
        max_attempts: 1,
        run_at: created,
        idempotency_key: None,
        created_by: None,
    };
    store.enqueue(&job, created).await.expect("enqueue");
    let claimed = store
        .claim_job(
            &["sync".to_owned()],
            "analytics-test",
            started + Duration::from_secs(60),
            started,
        )
        .await
        .expect("claim")
        .expect("a job");
    assert!(store
        .finish_job(&claimed.lease().expect("lease"), outcome, ended)
        .await
        .expect("finish"));
}

#[track_caller]
fn invalid_field(r: &agentic_tests::Reply, field: &str) {
    r.problem(422);
    assert_eq!(r.fields(), [field], "{}", r.text);
}

fn upload(title: &str, bytes: &[u8]) -> Form {
    Form::new()
        .file("file", &format!("{title}.txt"), "text/plain", bytes)
        .text("title", title)
}

stories! {
    async fn a_projects_numbers_come_from_its_real_data(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let outsider = app.user(Role::TechnicalLead).await;
        let project = app.project_with_example(&admin.token, pm.id, &[se.id]).await;
        let other = app.project("Other", admin.id, &[]).await;
        let h0 = this_hour(&app);
        let base = |section: &str| format!("/api/v1/projects/{project}/analytics/{section}");

        // A real sync by a real worker: 30 work items, all "open", which the example service
        // says changed at 1..30 ms after the epoch.
        let worker = agentic_host::server::worker(&app.state);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(Arc::clone(&worker).run(stopped));
        let created = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, json!({
            "plugin_id": "example", "name": "memory", "base_url": "https://tracker.example.com",
            "config": {"items": 30, "page_size": 10}, "credential": {"kind": "anonymous"},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token,
            json!({"stream": "items"})).await;
        started.expect(202);
        let job = app.finished_job(&pm.token, started.json["job"]["id"].as_i64().expect("job")).await;
        assert_eq!(job["result"]["records"], 30, "{job}");
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(30), running).await.expect("worker stops").expect("worker");

        // Five more, "closed", stored by the store two hours on, with no source time.
        let closed: Vec<NewRecord> = (1..=5).map(|n| NewRecord {
            kind: "work_item",
            external_id: format!("c{n}").into(),
            title: format!("Closed {n}").into(),
            status: Some("closed".into()),
            source_updated_at: None,
            data: json!({"title": format!("Closed {n}"), "status": "closed"}).to_string().into(),
        }).collect();
        app.state.store.store_page(None, project, cid, "extra", &closed,
            &SyncState { state: Some("5".into()), cycle: 0, complete: true }, h0 + 2 * HOUR + ms(10)).await.expect("page");

        // Two more sync runs an hour on: one of 7 records in 4 s, one failing after 2 s.
        let result = json!({"records": 7, "pages": 1, "deleted": 0}).to_string();
        sync_job(&app, project, h0 + HOUR + ms(100), h0 + HOUR + ms(1_000), h0 + HOUR + ms(5_000), Outcome::Succeeded(&result)).await;
        sync_job(&app, project, h0 + HOUR + ms(200), h0 + HOUR + ms(6_000), h0 + HOUR + ms(8_000),
            Outcome::Failed { error: "auth: revoked", retry_at: Millis::EPOCH, permanent: true }).await;
        // Noise in another project, which must not show.
        sync_job(&app, other, h0 + HOUR, h0 + HOUR, h0 + HOUR + ms(9_000), Outcome::Succeeded(&result)).await;

        // Two documents, one with a second version, and one in the other project.
        let r = app.upload("POST", &format!("/api/v1/projects/{project}/documents"), &pm.token, upload("a", b"12345")).await;
        r.expect(201);
        let doc = r.json["id"].as_i64().expect("doc");
        app.upload("POST", &format!("/api/v1/projects/{project}/documents"), &pm.token, upload("b", b"123")).await.expect(201);
        app.upload("POST", &format!("/api/v1/projects/{project}/documents/{doc}/versions"), &pm.token, upload("a", b"1234567")).await.expect(201);
        app.upload("POST", &format!("/api/v1/projects/{other}/documents"), &admin.token, upload("x", b"xx")).await.expect(201);

        // Work items: now by status; changes by the hour, by current status.
        let r = hourly(&app, &se.token, &base("work-items"), h0, 3).await;
        assert_eq!(r["current"], json!({"open": 30, "closed": 5}), "{r}");
        assert_eq!(r["series"].as_array().map(Vec::len), Some(3));
        assert_eq!(point(&r, h0), json!({"open": 0, "closed": 0}));
        assert_eq!(point(&r, h0 + 2 * HOUR), json!({"open": 0, "closed": 5}));
        assert_eq!(r["totals"], json!({"open": 0, "closed": 5}));
        assert_eq!(r["project_id"], project);
        assert_eq!(r["bucket"], "hour");
        let epoch = hourly(&app, &se.token, &base("work-items"), Millis::EPOCH, 24).await;
        assert_eq!(point(&epoch, Millis::EPOCH), json!({"open": 30, "closed": 0}), "source times count: {epoch}");
        assert_eq!(epoch["totals"]["open"], 30);
        // Weeks start on Monday (1969-12-29 for the epoch, a Thursday); months on the first.
        let r = app.get(&format!("{}?bucket=week&from=1970-01-01T00:00:00Z&to=1970-03-01T00:00:00Z", base("work-items")), &se.token).await;
        r.expect(200);
        assert_eq!(r.json["series"][0]["start"], "1969-12-29T00:00:00Z", "{}", r.text);
        assert_eq!(r.json["series"][0]["values"]["open"], 30);
        assert_eq!(r.json["series"].as_array().map(Vec::len), Some(9));
        let r = app.get(&format!("{}?bucket=month&from=1970-01-15T00:00:00Z&to=1971-01-01T00:00:00Z", base("work-items")), &se.token).await;
        r.expect(200);
        assert_eq!(r.json["series"].as_array().map(Vec::len), Some(12), "{}", r.text);
        assert_eq!(r.json["series"][0]["start"], "1970-01-01T00:00:00Z");
        assert_eq!(r.json["series"][0]["values"]["open"], 0, "changed before `from`: {}", r.text);
        let r = app.get(&format!("{}?bucket=month&from=1969-12-31T00:00:00Z&to=1970-02-01T00:00:00Z", base("work-items")), &se.token).await;
        invalid_field(&r, "from");

        // Syncs: the real run (records from its result), then the two an hour later.
        let r = hourly(&app, &pm.token, &base("syncs"), h0, 3).await;
        let first = point(&r, h0);
        assert_eq!((first["runs"].clone(), first["succeeded"].clone(), first["records"].clone()), (json!(1), json!(1), json!(30)), "{r}");
        let second = point(&r, h0 + HOUR);
        assert_eq!(second, json!({
            "runs": 2, "succeeded": 1, "failed": 1, "cancelled": 0, "retries": 0, "records": 7,
            "duration_ms": 6000, "duration_ms_avg": 3000, "duration_ms_max": 4000,
        }), "{r}");
        assert_eq!(point(&r, h0 + 2 * HOUR)["runs"], 0);
        let totals = &r["totals"];
        assert_eq!((totals["runs"].clone(), totals["failed"].clone(), totals["records"].clone()), (json!(3), json!(1), json!(37)), "{r}");
        assert_eq!(totals["duration_ms_max"], 4000);
        assert_eq!(totals["duration_ms"], 6000 + first["duration_ms"].as_i64().expect("ms"));
        assert_eq!(r["current"], json!({"queued": 0, "running": 0, "succeeded": 2, "dead": 1}), "{r}");

        // Jobs: every kind; here only the three syncs.
        let r = hourly(&app, &pm.token, &base("jobs"), h0, 3).await;
        assert_eq!(point(&r, h0), json!({"created": 1, "succeeded": 1, "dead": 0, "cancelled": 0}), "{r}");
        assert_eq!(point(&r, h0 + HOUR), json!({"created": 2, "succeeded": 1, "dead": 1, "cancelled": 0}), "{r}");
        assert_eq!(r["totals"], json!({"created": 3, "succeeded": 2, "dead": 1, "cancelled": 0}));
        assert_eq!(r["current"], json!({"queued": 0, "running": 0, "succeeded": 2, "dead": 1, "cancelled": 0}));

        // Documents: now, and uploads in the hour they happened.
        let r = hourly(&app, &se.token, &base("documents"), h0, 3).await;
        assert_eq!(r["current"], json!({"documents": 2, "synced": 0, "versions": 3, "bytes": 15}), "{r}");
        assert_eq!(point(&r, h0), json!({"created": 2, "versions": 3, "bytes": 15}), "{r}");
        assert_eq!(r["totals"], json!({"created": 2, "versions": 3, "bytes": 15}));

        // Across projects: Administrators only, and everything adds up.
        let all = hourly(&app, &admin.token, "/api/v1/analytics/documents", h0, 3).await;
        assert_eq!(all["project_id"], Value::Null);
        assert_eq!(all["current"]["documents"], 3);
        assert_eq!(all["totals"]["bytes"], 17);
        let all = hourly(&app, &admin.token, "/api/v1/analytics/syncs", h0, 3).await;
        assert_eq!(all["totals"]["runs"], 4);
        assert_eq!(all["totals"]["records"], 44);
        for user in [&pm, &se, &outsider] {
            app.get("/api/v1/analytics/syncs", &user.token).await.problem(403);
        }
        // Not a member: the project's analytics do not exist, as the project does not.
        app.get(&base("syncs"), &outsider.token).await.problem(404);
        app.get(&format!("/api/v1/projects/{other}/analytics/jobs"), &pm.token).await.problem(404);
        app.get("/api/v1/projects/999999/analytics/jobs", &admin.token).await.problem(404);

        // Reports are cached for the window asked: a new document shows in a new window at
        // once, and in the same window when the cache entry expires (cache.ttl_secs).
        let window = format!("{}?bucket=hour&from={}&to={}", base("documents"), at(h0), at(h0 + 3 * HOUR));
        app.upload("POST", &format!("/api/v1/projects/{project}/documents"), &pm.token, upload("c", b"1")).await.expect(201);
        let cached = app.get(&window, &pm.token).await;
        assert_eq!(cached.json["current"]["documents"], 2, "served from the cache");
        let fresh = hourly(&app, &pm.token, &base("documents"), h0, 2).await;
        assert_eq!(fresh["current"]["documents"], 3, "another window is computed afresh");

        // Defaults: daily buckets, 30 of them, ending with today.
        let r = app.get(&base("jobs"), &pm.token).await;
        r.expect(200);
        assert_eq!(r.json["bucket"], "day");
        assert_eq!(r.json["series"].as_array().map(Vec::len), Some(30));
        // The two jobs an hour on are in today's window unless today ends before then.
        let now = app.state.clock.now_ms();
        let day_end = floor(now, 86_400_000) + 24 * HOUR;
        let later = if h0 + HOUR + ms(200) < day_end { 2 } else { 0 };
        assert_eq!(r.json["totals"]["created"], 1 + later);
        // By the calendar month: this month's documents in the last point.
        let r = app.get(&format!("{}?bucket=month", base("documents")), &pm.token).await;
        r.expect(200);
        let series = r.json["series"].as_array().expect("series");
        assert_eq!(series.len(), 12);
        assert!(series[11]["start"].as_str().expect("start").ends_with("-01T00:00:00Z"), "{}", r.text);
        assert_eq!(series[11]["values"]["created"], 3, "{}", r.text);
        assert_eq!(r.json["totals"]["created"], 3);
    }

    async fn agent_health_and_metrics_by_the_hour(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Agents", tl.id, &[]).await;
        let h0 = this_hour(&app);
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let mut tokens = Vec::new();
        for name in ["healthy", "silent", "draft"] {
            let r = app.post(&format!("/api/v1/projects/{project}/agents"), &tl.token,
                json!({"name": name, "kind": "external", "config": {"description": "checks the status page"}})).await;
            r.expect(201);
            let path = format!("/api/v1/projects/{project}/agents/{}", r.json["id"]);
            if name == "draft" {
                continue;
            }
            let t = app.post(&format!("{path}/token"), &tl.token, json!({})).await;
            t.expect(201);
            tokens.push(t.json["token"].as_str().expect("token").to_owned());
            let d = app.call("POST", &format!("{path}/deploy"), Some(&tl.token), None).await;
            d.expect(202);
            let job = app.finished_job(&tl.token, d.json["job"]["id"].as_i64().expect("job")).await;
            assert_eq!(job["state"], "succeeded", "{job}");
        }
        let beat = |metrics: Value| app.call("POST", "/api/v1/agent-runtime/heartbeat", Some(&tokens[0]),
            Some(json!({"metrics": metrics})));
        beat(json!({"checks": 1})).await.expect(200);
        // Past the heartbeat timeout (90 s): the agent that beats again is healthy, the other
        // is not.
        app.advance(Duration::from_secs(100));
        beat(json!({"checks": 2})).await.expect(200);

        let r = hourly(&app, &tl.token, &format!("/api/v1/projects/{project}/analytics/agents"), h0, 2).await;
        assert_eq!(r["current"], json!({
            "draft": 1, "deploying": 0, "running": 2, "stopping": 0, "stopped": 0, "failed": 0,
            "healthy": 1, "unhealthy": 1,
        }), "{r}");
        // Two samples from one agent: the totals count the agent once.
        assert_eq!(r["totals"], json!({"samples": 2, "reporting": 1}), "{r}");
        let samples: i64 = r["series"].as_array().expect("series").iter()
            .map(|p| p["values"]["samples"].as_i64().expect("samples")).sum();
        assert_eq!(samples, 2);
        let all = hourly(&app, &admin.token, "/api/v1/analytics/agents", h0, 2).await;
        assert_eq!(all["current"]["unhealthy"], 1);
        app.get("/api/v1/analytics/agents", &tl.token).await.problem(403);
    }

    async fn api_usage_is_counted_in_memory_and_flushed(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project("Usage", pm.id, &[]).await;
        let h0 = this_hour(&app);
        let docs = format!("/api/v1/projects/{project}/documents");
        let base = format!("/api/v1/projects/{project}/analytics/api-usage");

        for _ in 0..3 {
            app.get(&docs, &pm.token).await.expect(200);
        }
        app.get(&format!("{base}?bucket=minute"), &pm.token).await.problem(422);
        // 404s are not put on the project's books: they may come from anyone.
        app.get(&format!("{docs}/999999"), &pm.token).await.problem(404);
        app.get(&docs, &se.token).await.problem(404);
        // Nothing is written per request…
        assert_eq!(app.count("api_usage").await, 0);
        // …until the counters are flushed.
        assert!(app.state.usage.flush(&app.state.store).await.expect("flush") > 0);
        assert_eq!(app.state.usage.pending(), 0);

        let r = hourly(&app, &pm.token, &base, h0, 1).await;
        let totals = &r["totals"];
        assert_eq!((totals["requests"].clone(), totals["2xx"].clone(), totals["4xx"].clone(), totals["5xx"].clone()),
            (json!(4), json!(3), json!(1), json!(0)), "{r}");
        assert!(totals["duration_ms_avg"].is_i64(), "{r}");
        assert_eq!(point(&r, h0)["requests"], 4);
        assert_eq!(r["top_routes"], json!([
            {"method": "GET", "route": "/api/v1/projects/{id}/documents", "requests": 3, "errors": 0},
            {"method": "GET", "route": "/api/v1/projects/{id}/analytics/{section}", "requests": 1, "errors": 1},
        ]), "{r}");

        // A later flush adds to the same hour's counters.
        app.get(&docs, &pm.token).await.expect(200);
        app.state.usage.flush(&app.state.store).await.expect("flush");
        let r = hourly(&app, &pm.token, &base, h0, 2).await;
        assert_eq!(r["totals"]["requests"], 6, "the analytics read above counts too: {r}");

        // Across projects: requests outside projects and the unattributed 404s are there too.
        let all = hourly(&app, &admin.token, "/api/v1/analytics/api-usage", h0, 2).await;
        assert!(all["totals"]["requests"].as_i64().expect("requests") > 6, "{all}");
        assert!(all["totals"]["4xx"].as_i64().expect("4xx") >= 3, "{all}");
        let routes: Vec<&str> = all["top_routes"].as_array().expect("routes").iter()
            .filter_map(|r| r["route"].as_str()).collect();
        assert!(routes.contains(&"/api/v1/auth/login"), "{routes:?}");
    }

    async fn openapi_describes_the_analytics_endpoints(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        r.expect(200);
        for path in ["/api/v1/projects/{id}/analytics/{section}", "/api/v1/analytics/{section}"] {
            let op = &r.json["paths"][path]["get"];
            assert_eq!(op["tags"], json!(["analytics"]), "{path} missing from OpenAPI");
            let params: Vec<&str> = op["parameters"].as_array().expect("parameters").iter()
                .filter_map(|p| p["name"].as_str()).collect();
            for name in ["section", "from", "to", "bucket"] {
                assert!(params.contains(&name), "{path} documents `{name}`: {params:?}");
            }
            assert!(op["responses"]["422"].is_object(), "{path} answers 422");
        }
        let sections = &r.json["components"]["schemas"]["Section"]["enum"];
        assert_eq!(sections, &json!(["work-items", "documents", "syncs", "jobs", "agents", "api-usage"]));
    }
}
