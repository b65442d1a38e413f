//! The `triage-assistant` agent end to end, on a real worker with the real component built from
//! `plugins/agents/triage-assistant`: a fake Jira Cloud synced by the real JIRA connector gives
//! the work items; the model is a fake OpenAI-compatible API (`agentic_tests::openai`) that
//! checks every request against OpenAI's published API description, reached through a
//! connection of the project whose key the host keeps in its vault and injects.
//!
//! Told: each item is triaged once per change (a document tagged with the item, a comment
//! posted back through the JIRA connector's `add-comment`), tokens and cost in the metrics, the
//! input cap, the items-per-run cap (the pass resumes where it stopped); the model's failures
//! (not JSON, an answer that breaks the schema, a huge answer: the item fails and nothing is
//! written; 429 with `retry-after`: the run stops and later runs wait; 500: the run stops and
//! the next one resumes); and the key never reaching the component, a record, a stored row, a
//! response or the host's log (of the story's thread).

use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::jira::{
    basic, generate, project_with_jira, Deployment, FakeJira, API_TOKEN, EMAIL,
};
use agentic_tests::openai::{FakeOpenAi, Reply};
use agentic_tests::syncs::{stored_text, sync};
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp, TestUser};
use serde_json::{json, Value};

use crate::agent_runs::{deploy, until_runs, worker};
use crate::logs::Logs;

/// The model API's key: in the vault, on the model connection.
const KEY: &str = "sk-test-triage-5e1f0c7a9b2d4e6f";
/// Where the triage-assistant cuts an item's text.
const CAP: usize = 150;
/// The marker the agent ends a cut text with.
const CUT: &str = "[cut: the item is longer]";

struct Bench {
    /// Keeps the worker running (it stops when dropped).
    _worker: tokio::sync::watch::Sender<bool>,
    admin: TestUser,
    pm: TestUser,
    project: i64,
    jira: FakeJira,
    cid: i64,
    model: FakeOpenAi,
    model_cid: i64,
}

/// A project with a JIRA connection synced from a fake Jira Cloud of `issues` issues, and a
/// model connection (the example plugin, whose allowed hosts are any, pointed at the fake
/// OpenAI API's base URL with a bearer key).
async fn bench(app: &TestApp, issues: usize) -> Bench {
    let worker = worker(app);
    let admin = app.admin().await;
    let pm = app.user(Role::ProjectManager).await;
    let project = project_with_jira(app, &admin.token, pm.id).await;
    let manifest = plugin_manifest("example");
    app.install_plugin(&admin.token, &manifest, &plugin_wasm("example"))
        .await;
    app.enable_plugin(&admin.token, project, "example").await;
    let jira = FakeJira::start(generate(
        Deployment::Cloud,
        issues,
        &basic(EMAIL, API_TOKEN),
    ))
    .await;
    let connections = format!("/api/v1/projects/{project}/connections");
    let c = app
        .post(&connections, &admin.token, json!({
            "plugin_id": "jira", "name": "jira", "base_url": jira.url, "config": {"deployment": "cloud"},
            "allow_private_network": true,
            "credential": {"kind": "api-token", "email": EMAIL, "token": API_TOKEN},
        }))
        .await;
    c.expect(201);
    let cid = c.json["id"].as_i64().expect("connection");
    sync(app, &pm.token, project, cid, json!({})).await;
    let model = FakeOpenAi::start(KEY).await;
    let m = app
        .post(
            &format!("{connections}?check=false"),
            &admin.token,
            json!({
                "plugin_id": "example", "name": "model", "base_url": format!("{}/v1/", model.url),
                "config": {"items": 1}, "allow_private_network": true,
                "credential": {"kind": "bearer", "token": KEY},
            }),
        )
        .await;
    m.expect(201);
    assert!(!m.text.contains(KEY), "{}", m.text);
    let model_cid = m.json["id"].as_i64().expect("connection");
    Bench {
        _worker: worker,
        admin,
        pm,
        project,
        jira,
        cid,
        model,
        model_cid,
    }
}

/// Creates and deploys a triage-assistant (as the project manager); returns its path.
async fn triage_agent(app: &TestApp, b: &Bench, extra: Value) -> String {
    let mut config = json!({
        "connection_id": b.cid, "model_connection_id": b.model_cid, "model": "gpt-4o-mini",
        "interval_secs": 60, "max_input_chars": CAP, "price_per_1k_tokens": 0.5,
    });
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    let list = format!("/api/v1/projects/{}/agents", b.project);
    let created = app
        .post(
            &list,
            &b.pm.token,
            json!({"name": "triage", "kind": "triage-assistant", "config": config}),
        )
        .await;
    created.expect(201);
    let path = format!("{list}/{}", created.json["id"]);
    deploy(app, &b.pm.token, &path).await;
    path
}

/// The project's work items, by record id.
async fn work_items(app: &TestApp, b: &Bench) -> Vec<Value> {
    app.all(
        &b.pm.token,
        &format!("/api/v1/projects/{}/work-items", b.project),
    )
    .await
}

/// The triage documents, oldest first.
async fn triages(app: &TestApp, b: &Bench) -> Vec<Value> {
    let mut docs = app
        .all(
            &b.pm.token,
            &format!("/api/v1/projects/{}/documents?tag=triage", b.project),
        )
        .await;
    docs.sort_by_key(|d| d["id"].as_i64());
    docs
}

async fn content(app: &TestApp, b: &Bench, doc: &Value) -> String {
    let r = app
        .get(
            &format!(
                "/api/v1/projects/{}/documents/{}/content",
                b.project, doc["id"]
            ),
            &b.pm.token,
        )
        .await;
    r.expect(200);
    r.text
}

fn metric(run: &Value, name: &str) -> f64 {
    run["metrics"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} in {run}"))
}

stories! {
    async fn a_triage_assistant_triages_each_changed_work_item_once(backend) {
        let logs = Logs::default();
        let _capture = logs.capture();
        let app = TestApp::start(backend).await;
        let b = bench(&app, 4).await;
        let path = triage_agent(&app, &b, json!({"post_comment": true})).await;
        let agent = app.get(&path, &b.pm.token).await;
        let mut grant: Vec<String> = serde_json::from_value(agent.json["grant"].clone()).expect("grant");
        grant.sort();
        assert_eq!(grant, ["connections:act", "documents:manage", "records:read"]);
        let items = work_items(&app, &b).await;
        assert_eq!(items.len(), 4);

        // Run 1: every item is sent to the model once, each answer stored as a document
        // tagged with its item and posted back to JIRA as a comment.
        let first = until_runs(&app, &b.pm.token, &path, 1).await;
        let run = &first[0];
        assert_eq!(run["succeeded"], true, "{run}");
        assert_eq!(metric(run, "items_triaged"), 4.0, "{run}");
        assert_eq!(metric(run, "items_failed"), 0.0, "{run}");
        assert_eq!(metric(run, "comments_posted"), 4.0, "{run}");
        let seen = b.model.seen();
        assert_eq!(seen.len(), 4);
        assert_eq!(b.model.violations(), Vec::<String>::new());
        assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(format!("Bearer {KEY}").as_str())),
            "the host injected the key on every request");
        for s in &seen {
            assert_eq!(s.body["model"], "gpt-4o-mini");
            assert_eq!(s.body["response_format"]["type"], "json_schema", "{}", s.body);
            assert_eq!(s.body["response_format"]["json_schema"]["strict"], true);
        }
        // Tokens as the model reported them, and their cost at the configured price.
        let tokens = b.model.tokens() as f64;
        assert!(tokens > 0.0);
        assert_eq!(metric(run, "total_tokens"), tokens, "{run}");
        assert_eq!(metric(run, "prompt_tokens") + metric(run, "completion_tokens"), tokens);
        assert!((metric(run, "cost") - tokens / 1000.0 * 0.5).abs() < 1e-9, "{run}");
        // The input cap: no item's text is over it; the longer ones say they were cut.
        let contents: Vec<String> = seen.iter().map(|s| s.user_content()).collect();
        assert!(contents.iter().all(|c| c.chars().count() <= CAP), "{contents:?}");
        assert!(contents.iter().any(|c| c.ends_with(CUT)), "{contents:?}");
        assert!(contents.iter().all(|c| c.starts_with("Key: ")), "{contents:?}");

        let docs = triages(&app, &b).await;
        assert_eq!(docs.len(), 4, "{docs:?}");
        let agent_id = agent.json["id"].as_i64().expect("id");
        for item in &items {
            let tag = format!("work-item:{}", item["id"]);
            let doc = docs.iter().find(|d| d["tags"].as_array().is_some_and(|t| t.contains(&json!(tag))))
                .unwrap_or_else(|| panic!("a triage of {item}"));
            assert_eq!(doc["metadata"]["agent_id"], agent_id, "{doc}");
            assert_eq!(doc["metadata"]["records"], json!([item["id"]]), "linked to its item: {doc}");
            let key = item["key"].as_str().expect("key");
            assert_eq!(doc["title"].as_str().expect("title"), format!("Triage: {key} {}", item["title"].as_str().expect("title")));
            let text = content(&app, &b, doc).await;
            assert!(text.starts_with(&format!("# Triage of {key}:")) && text.contains("## Summary") && text.contains("- Priority: "), "{text}");
            let category = if item["item_type"] == "Bug" { "bug" } else if item["item_type"] == "Story" { "feature" } else { "task" };
            assert!(doc["tags"].as_array().expect("tags").contains(&json!(format!("category:{category}"))), "{doc}");
        }
        // The comments JIRA received, through the connector's action with JIRA's credential.
        let writes = b.jira.writes();
        assert_eq!(writes.len(), 4, "{writes:?}");
        assert!(writes.iter().all(|w| w.method == "POST" && w.path.ends_with("/comment")), "{writes:?}");
        assert_eq!(b.jira.violations(), Vec::<String>::new());

        // Run 2, nothing changed: nothing is sent.
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &b.pm.token, &path, 2).await;
        assert_eq!(second[1]["succeeded"], true, "{}", second[1]);
        assert_eq!(metric(&second[1], "items_triaged"), 0.0);
        assert_eq!(b.model.seen().len(), 4);

        // One issue changes in JIRA; an incremental sync stores it (and the others, which the
        // comments changed); run 3 triages the changed one only. The model echoes the
        // Authorization it received: the host redacts the key from what the agent reads.
        let last = b.jira.with(|d| d.issues.iter().map(|i| i.updated).max().expect("issues"));
        b.jira.with(|d| {
            let issue = d.issue_mut("ED-1");
            issue.summary = "Checkout fails for saved cards".into();
            issue.updated = last + 10 * 60_000;
        });
        sync(&app, &b.pm.token, b.project, b.cid, json!({})).await;
        b.model.script(&[Reply::EchoAuthorization]);
        app.advance(Duration::from_secs(60));
        let third = until_runs(&app, &b.pm.token, &path, 3).await;
        assert_eq!(third[2]["succeeded"], true, "{}", third[2]);
        assert_eq!(metric(&third[2], "items_triaged"), 1.0, "{}", third[2]);
        // The comments posted back changed every issue in JIRA (their update time), so the
        // sync stored all four again; three are unchanged in what a triage reads.
        assert_eq!(metric(&third[2], "items_unchanged"), 3.0, "{}", third[2]);
        let seen = b.model.seen();
        assert_eq!(seen.len(), 5);
        assert!(seen[4].user_content().contains("Title: Checkout fails for saved cards"), "{}", seen[4].user_content());
        assert_eq!(seen[4].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        let docs = triages(&app, &b).await;
        assert_eq!(docs.len(), 5);
        let echoed = content(&app, &b, &docs[4]).await;
        assert!(echoed.contains("[REDACTED]") && !echoed.contains(KEY), "{echoed}");
        assert_eq!(b.model.violations(), Vec::<String>::new());

        // The key is nowhere the host keeps or shows things: records, sync state, jobs,
        // connections, the agent's config, state, runs, events and metrics, documents, the
        // audit log — nor in any response read here.
        let mut stored = stored_text(&app).await;
        for sql in [
            "SELECT config || COALESCE(run_state, '') || COALESCE(last_error, '') FROM agents",
            "SELECT COALESCE(error, '') || COALESCE(summary, '') || metrics || events FROM agent_runs",
            "SELECT kind || message FROM agent_events",
            "SELECT title || tags || metadata || search_text FROM documents",
            "SELECT action || detail FROM audit_log",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(app.state.store.pool()).await.expect(sql);
            // (The agent raised no events here: that table may be empty.)
            assert!(!rows.is_empty() || sql.contains("agent_events"), "{sql}");
            stored.extend(rows);
        }
        assert!(stored.iter().all(|t| !t.contains(KEY)), "the key is stored in clear");
        for url in [path.clone(), format!("{path}/runs"), format!("{path}/events"), format!("{path}/metrics"),
                    format!("/api/v1/projects/{}/connections/{}", b.project, b.model_cid),
                    format!("/api/v1/projects/{}/documents", b.project), "/api/v1/audit?limit=100".into()] {
            let r = app.get(&url, &b.admin.token).await;
            r.expect(200);
            assert!(!r.text.contains(KEY), "{url}: {}", r.text);
        }
        // Nor in the host's logs of this thread: the API always; the worker and the platform
        // calls when the runtime polled them here (a multi-threaded runtime may not have).
        let logged = logs.text();
        assert!(logged.contains("path=/api/v1/projects/"),
            "the capture sees the API: {} bytes", logged.len());
        assert!(!logged.contains(KEY), "the key is in the host's logs");
        let calls = crate::agent_runs::audit(&app, &b.admin.token, "agent.platform_call").await;
        for call in ["query-records", "write-document", "invoke-action"] {
            assert!(calls.iter().any(|e| e["detail"]["call"] == call && e["detail"]["outcome"] == "ok"), "{call}: {calls:?}");
        }
    }

    async fn a_sync_that_changes_records_brings_the_next_run_forward_when_the_agent_asks(backend) {
        let app = TestApp::start(backend).await;
        let b = bench(&app, 3).await;
        // A day between scheduled runs: any run before that is the event's.
        let path = triage_agent(&app, &b, json!({"interval_secs": 86_400})).await;
        let first = until_runs(&app, &b.pm.token, &path, 1).await;
        assert_eq!((first[0]["succeeded"].clone(), first[0]["triggered_by"].clone()), (json!(true), json!("schedule")), "{}", first[0]);
        assert_eq!(metric(&first[0], "items_triaged"), 3.0);
        let agent_id: i64 = path.rsplit('/').next().and_then(|i| i.parse().ok()).expect("agent id");
        let store = app.state.store.clone();
        let next_run_at = || async {
            let agent = store.agent_by_id(agent_id).await.expect("agent");
            let job = store.get_job(agent.run_job_id.expect("next run")).await.expect("job");
            (job.state.as_str(), job.run_at)
        };
        let edit = |summary: &'static str| {
            let last = b.jira.with(|d| d.issues.iter().map(|i| i.updated).max().expect("issues"));
            b.jira.with(|d| {
                let issue = d.issue_mut("ED-1");
                issue.summary = summary.into();
                issue.updated = last + 10 * 60_000;
            });
        };

        // Without `run_on`, a sync that changes an item leaves the next run where it was.
        edit("Checkout fails for saved cards");
        sync(&app, &b.pm.token, b.project, b.cid, json!({})).await;
        let (state, run_at) = next_run_at().await;
        assert_eq!(state, "queued");
        assert!(run_at > app.state.clock.now_ms() + Duration::from_secs(80_000), "the next run is still a day away");

        // Asked for, the next sync that stores records makes the next run due
        // `agents.event_delay_secs` (10) later — one run for all the sync's streams, each a job
        // finishing on its own — says what started it, and triages what changed.
        let patched = app
            .call("PATCH", &path, Some(&b.pm.token), Some(json!({"config": {
                "connection_id": b.cid, "model_connection_id": b.model_cid, "model": "gpt-4o-mini",
                "interval_secs": 86_400, "max_input_chars": CAP, "run_on": ["records-changed"], "annotate": true,
            }})))
            .await;
        patched.expect(200);
        edit("Checkout fails for every saved card");
        sync(&app, &b.pm.token, b.project, b.cid, json!({})).await;
        let (_, run_at) = next_run_at().await;
        assert_eq!(run_at, app.state.clock.now_ms() + Duration::from_secs(10), "due after the event delay");
        app.advance(Duration::from_secs(10));
        let second = until_runs(&app, &b.pm.token, &path, 2).await;
        assert_eq!(second[1]["triggered_by"], "records-changed", "{}", second[1]);
        assert_eq!(second[1]["succeeded"], true, "{}", second[1]);
        assert_eq!(metric(&second[1], "items_triaged"), 1.0, "{}", second[1]);
        // Contract 0.2.0 told the component which sync started the run.
        let events = app.all(&b.pm.token, &format!("{path}/events")).await;
        let triggered: Vec<&str> = events.iter().filter(|e| e["kind"] == "agent.triggered")
            .filter_map(|e| e["message"].as_str()).collect();
        assert_eq!(triggered.len(), 1, "{events:?}");
        assert!(triggered[0].starts_with("a sync of stream ") && triggered[0].contains("(job "), "{triggered:?}");
        // With `annotate`, the triage is also a comment on the item, in the host.
        assert_eq!(metric(&second[1], "comments_written"), 1.0, "{}", second[1]);
        let comments = app.all(&b.pm.token, &format!("/api/v1/projects/{}/comments", b.project)).await;
        let ours: Vec<&Value> = comments.iter().filter(|c| c["stream"] == "agent-comments").collect();
        assert_eq!(ours.len(), 1, "{comments:?}");
        assert_eq!(ours[0]["author"], format!("agent:{agent_id}"), "{}", ours[0]);
        assert!(ours[0]["body"].as_str().unwrap_or_default().starts_with("# Triage of ED-1:"), "{}", ours[0]);
        let seen = b.model.seen();
        assert!(seen.last().expect("a request").user_content().contains("Checkout fails for every saved card"));
        // The event was consumed: the run after is on the schedule again.
        let (state, run_at) = next_run_at().await;
        assert_eq!(state, "queued");
        assert!(run_at > app.state.clock.now_ms() + Duration::from_secs(80_000), "back to the schedule");
        assert_eq!(store.agent_by_id(agent_id).await.expect("agent").pending_event, None);

        // A value outside the two events is refused with the field named.
        let bad = app
            .call("PATCH", &path, Some(&b.pm.token), Some(json!({"config": {
                "connection_id": b.cid, "model_connection_id": b.model_cid, "model": "gpt-4o-mini",
                "run_on": ["job-finished"],
            }})))
            .await;
        bad.expect(422);
        assert!(bad.text.contains("config.run_on"), "{}", bad.text);
    }

    async fn the_models_failures_write_nothing_and_rate_limits_are_honoured(backend) {
        let app = TestApp::start(backend).await;
        let b = bench(&app, 5).await;
        // Item 1 is triaged; items 2–4 get a body that is not JSON, content that breaks the
        // triage schema, and an answer over the agent's 256 KiB; item 5 a 429.
        b.model.script(&[Reply::Triage, Reply::Malformed, Reply::Invalid, Reply::Huge(400 * 1024),
            Reply::RateLimited(150)]);
        let path = triage_agent(&app, &b, json!({"max_items_per_run": 10})).await;
        let first = until_runs(&app, &b.pm.token, &path, 1).await;
        let run = &first[0];
        assert_eq!(run["succeeded"], false, "the rate limit stopped the run: {run}");
        assert!(run["error"].as_str().unwrap_or_default().contains("rate limited by the model API for 150 s"), "{run}");
        assert_eq!(metric(run, "items_triaged"), 1.0, "{run}");
        assert_eq!(metric(run, "items_failed"), 3.0, "{run}");
        assert_eq!(b.model.seen().len(), 5);
        assert_eq!(triages(&app, &b).await.len(), 1, "nothing written for a failed item");
        let events = app.all(&b.pm.token, &format!("{path}/events")).await;
        let failed: Vec<&str> = events.iter().filter(|e| e["kind"] == "agent.item-failed")
            .filter_map(|e| e["message"].as_str()).collect();
        assert_eq!(failed.len(), 3, "{events:?}");
        assert!(failed.iter().any(|m| m.contains("not JSON")), "{failed:?}");
        assert!(failed.iter().any(|m| m.contains("breaks the triage schema")), "{failed:?}");
        assert!(failed.iter().any(|m| m.contains("over 262144 bytes")), "{failed:?}");
        assert!(events.iter().any(|e| e["kind"] == "agent.rate-limited"), "{events:?}");

        // The next run comes before the 150 s are up: it does not call the model.
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &b.pm.token, &path, 2).await;
        assert_eq!(second[1]["succeeded"], true, "{}", second[1]);
        assert!(second[1]["summary"].as_str().unwrap_or_default().starts_with("waiting for the model's rate limit"), "{}", second[1]);
        assert_eq!(b.model.seen().len(), 5, "nothing sent while rate limited");

        // After it, item 5 is asked again and meets a 500: the run stops, nothing written.
        b.model.script(&[Reply::ServerError]);
        app.advance(Duration::from_secs(120));
        let third = until_runs(&app, &b.pm.token, &path, 3).await;
        assert_eq!(third[2]["succeeded"], false, "{}", third[2]);
        assert!(third[2]["error"].as_str().unwrap_or_default().contains("answered 500"), "{}", third[2]);
        assert_eq!(b.model.seen().len(), 6);
        assert_eq!(triages(&app, &b).await.len(), 1);

        // The next run resumes with item 5, which is triaged now; the failed items wait for a
        // change.
        app.advance(Duration::from_secs(60));
        let fourth = until_runs(&app, &b.pm.token, &path, 4).await;
        assert_eq!(fourth[3]["succeeded"], true, "{}", fourth[3]);
        assert_eq!(metric(&fourth[3], "items_triaged"), 1.0, "{}", fourth[3]);
        let seen = b.model.seen();
        assert_eq!(seen.len(), 7);
        assert_eq!(seen[6].user_content(), seen[4].user_content(), "the same item, resumed");
        let docs = triages(&app, &b).await;
        assert_eq!(docs.len(), 2);
        assert_eq!(b.model.violations(), Vec::<String>::new());
        assert!(b.jira.writes().is_empty(), "no comments without post_comment");
    }

    async fn items_per_run_are_capped_and_the_pass_resumes_where_it_stopped(backend) {
        let app = TestApp::start(backend).await;
        let b = bench(&app, 5).await;
        let path = triage_agent(&app, &b, json!({"max_items_per_run": 2})).await;
        // Five items, two a run: 2, 2, 1, then nothing new; each item sent once, in id order.
        for (n, expected) in [(1, 2.0), (2, 2.0), (3, 1.0), (4, 0.0)] {
            if n > 1 {
                app.advance(Duration::from_secs(60));
            }
            let runs = until_runs(&app, &b.pm.token, &path, n).await;
            let run = &runs[n - 1];
            assert_eq!(run["succeeded"], true, "{run}");
            assert_eq!(metric(run, "items_triaged"), expected, "run {n}: {run}");
            let more = run["summary"].as_str().unwrap_or_default().contains("more next run");
            assert_eq!(more, n <= 2, "run {n}: {run}");
        }
        let sent: Vec<String> = b.model.seen().iter().map(|s| s.user_content()).collect();
        assert_eq!(sent.len(), 5, "{sent:?}");
        let mut unique = sent.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5, "each item once: {sent:?}");
        let mut tagged: Vec<i64> = triages(&app, &b).await.iter()
            .filter_map(|d| d["tags"].as_array()?.iter()
                .find_map(|t| t.as_str()?.strip_prefix("work-item:")?.parse().ok()))
            .collect();
        tagged.sort_unstable();
        let mut ids: Vec<i64> = work_items(&app, &b).await.iter().filter_map(|i| i["id"].as_i64()).collect();
        ids.sort_unstable();
        assert_eq!(tagged, ids, "one triage per item");
    }
}
