//! The agent contract's versions, end to end on a real worker with real components: an agent
//! package built against the frozen `agentic:agent@0.1.0` (`plugins/agents/contract-0-1`,
//! wit-bindgen without the SDK) installs and keeps running beside one of 0.2.0 (the hostile
//! component signed as a package); both are deployed with `run_on`, and after a sync of their
//! connection the 0.2.0 component is told the event (connection, stream, sync job, record
//! counts) while the 0.1.0 one is told `schedule`, as its contract knows no event. And 0.2.0's
//! writes: a comment on a record and a document linked to records, checked against the grant
//! and the project, audited, and shown by the REST API.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::agents::platform::{AgentPlatform, Grant, Services};
use agentic_host::plugins::agent::{AgentWitVersion, Trigger, TriggerKind};
use agentic_host::plugins::Call;
use agentic_host::rbac::{Permission, Role};
use agentic_tests::{plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

use crate::agent_runs::{audit, deploy, stop, until_runs, worker};

/// The hostile component (0.2.0) as the package `probe`: its `trigger` attack says what
/// started the run.
const PROBE: &str = r#"type = "agent"
id = "probe"
version = "1.0.0"
wit = "0.2.0"
name = "Probe"
description = "Says what started each run."
allowed_hosts = []
needs = ["records:read"]
[config_schema]
type = "object"
[config_schema.properties.attack]
type = "string"
[config_schema.properties.connection_id]
type = "integer"
"#;

/// The 0.1.0 agent's own manifest.
const OLD: &str = include_str!("../../plugins/agents/contract-0-1/plugin.toml");

/// Starts a sync of `stream` of connection `cid` and waits for it; returns the job.
async fn synced(app: &TestApp, token: &str, project: i64, cid: i64) -> Value {
    let url = format!("/api/v1/projects/{project}/connections/{cid}/sync");
    let started = app.post(&url, token, json!({"stream": "items"})).await;
    started.expect(202);
    let job = app
        .finished_job(token, started.json["job"]["id"].as_i64().expect("job"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    job
}

async fn connection(app: &TestApp, token: &str, project: i64, items: u32) -> i64 {
    let c = app.post(&format!("/api/v1/projects/{project}/connections"), token, json!({
        "plugin_id": "example", "name": format!("tracker-{items}"), "base_url": "https://tracker.example.com/",
        "config": {"items": items}, "credential": {"kind": "anonymous"},
    })).await;
    c.expect(201);
    c.json["id"].as_i64().expect("connection")
}

stories! {
    async fn agents_of_both_contract_versions_run_and_the_new_one_hears_the_sync_event(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let _worker = worker(&app);
        let publisher = app.trust_publisher(&admin.token, "contract-corp").await;
        for (manifest, wasm, id) in [(PROBE, "agent_hostile", "probe"), (OLD, "agent_contract_0_1", "contract-0-1-agent")] {
            publisher.install(&app, &admin.token, manifest, &plugin_wasm(wasm)).await;
            app.enable_plugin(&admin.token, project, id).await;
        }
        // A manifest claiming the other version than the component imports is refused.
        let claimed = OLD.replace("id = \"contract-0-1-agent\"", "id = \"claims-0-2\"").replace("wit = \"0.1.0\"", "wit = \"0.2.0\"");
        let package = publisher.sign(&claimed, &plugin_wasm("agent_contract_0_1"));
        app.upload_package("/api/v1/plugins", &admin.token, package).await.problem(422);

        let cid = connection(&app, &pm.token, project, 3).await;
        let agents = format!("/api/v1/projects/{project}/agents");
        // A day between scheduled runs: a run before that is the event's.
        let create = |name: &str, kind: &str, config: Value| {
            let body = json!({"name": name, "kind": kind, "config": config});
            let (app, agents, token) = (&app, agents.clone(), pm.token.clone());
            async move {
                let r = app.post(&agents, &token, body).await;
                r.expect(201);
                format!("{agents}/{}", r.json["id"])
            }
        };
        let on_changes = json!({"connection_id": cid, "run_on": ["records-changed"], "interval_secs": 86_400});
        let mut new_config = on_changes.clone();
        new_config["attack"] = json!("trigger");
        let new = create("new", "probe", new_config).await;
        let old = create("old", "contract-0-1-agent", on_changes).await;
        deploy(&app, &pm.token, &new).await;
        deploy(&app, &pm.token, &old).await;
        let first_new = until_runs(&app, &pm.token, &new, 1).await;
        let first_old = until_runs(&app, &pm.token, &old, 1).await;
        assert_eq!(first_new[0]["summary"], "trigger: schedule run 1", "{}", first_new[0]);
        let said = first_old[0]["summary"].as_str().unwrap_or_default();
        assert!(said.starts_with("schedule run 1: 0 work items, document "), "{}", first_old[0]);

        // A sync that stores records: both runs are brought forward; 0.2.0 hears the details.
        let job = synced(&app, &pm.token, project, cid).await;
        let job_id = job["id"].as_i64().expect("job id");
        app.advance(Duration::from_secs(10));
        let second_new = until_runs(&app, &pm.token, &new, 2).await;
        let second_old = until_runs(&app, &pm.token, &old, 2).await;
        assert_eq!(second_new[1]["triggered_by"], "records-changed", "{}", second_new[1]);
        assert_eq!(second_new[1]["summary"], format!(
            "trigger: records-changed run 2; connection {cid} stream items job {job_id} stored 3 deleted 0"));
        assert_eq!(second_old[1]["triggered_by"], "records-changed", "{}", second_old[1]);
        let said = second_old[1]["summary"].as_str().unwrap_or_default();
        assert!(said.starts_with("schedule run 2: 3 work items, document "), "{}", second_old[1]);
        assert_eq!(second_old[1]["metrics"]["work_items"], 3.0, "{}", second_old[1]);

        // The 0.1.0 agent's platform calls reached the host: its documents, unlinked, audited.
        let docs = app.all(&pm.token, &format!("/api/v1/projects/{project}/documents")).await;
        let mut titles: Vec<&str> = docs.iter().filter_map(|d| d["title"].as_str()).collect();
        titles.sort_unstable();
        assert_eq!(titles, ["Contract 0.1.0 run 1", "Contract 0.1.0 run 2"], "{docs:?}");
        assert!(docs.iter().all(|d| d["metadata"].get("records").is_none()), "{docs:?}");
        let calls = audit(&app, &admin.token, "agent.platform_call").await;
        let old_id = old.rsplit('/').next().expect("id");
        assert!(calls.iter().any(|e| e["target_id"] == old_id && e["detail"]["call"] == "write-document"
            && e["detail"]["outcome"] == "ok"), "{calls:?}");
        stop(&app, &pm.token, &new).await;
        stop(&app, &pm.token, &old).await;
    }

    async fn comments_and_linked_documents_are_held_to_the_grant_and_the_project(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let ours = app.project_with_example(&admin.token, pm.id, &[]).await;
        let theirs = app.project("Theirs", admin.id, &[]).await;
        app.enable_plugin(&admin.token, theirs, "example").await;
        let _worker = worker(&app);
        let mine = connection(&app, &pm.token, ours, 2).await;
        let foreign = connection(&app, &admin.token, theirs, 2).await;
        synced(&app, &pm.token, ours, mine).await;
        synced(&app, &admin.token, theirs, foreign).await;
        let items = app.all(&pm.token, &format!("/api/v1/projects/{ours}/work-items")).await;
        let item = items[0]["id"].as_i64().expect("item");
        let external = items[0]["external_id"].clone();
        let theirs_items = app.all(&admin.token, &format!("/api/v1/projects/{theirs}/work-items")).await;
        let foreign_item = theirs_items[0]["id"].as_i64().expect("item");
        let agent = app.post(&format!("/api/v1/projects/{ours}/agents"), &pm.token,
            json!({"name": "annotator", "kind": "external", "config": {}})).await;
        let agent_id = agent.json["id"].as_i64().expect("agent");

        let runtime = app.state.plugins.runtime().await.expect("runtime");
        let component = runtime.load_agent("agent:hostile", &plugin_wasm("agent_hostile")).expect("agent");
        assert_eq!(component.wit_version(), AgentWitVersion::V0_2);
        let old = runtime.load_agent("agent:old", &plugin_wasm("agent_contract_0_1")).expect("0.1.0 agent");
        assert_eq!(old.wit_version(), AgentWitVersion::V0_1);
        let writer = Grant {
            agent_id, project_id: ours, deployed_by: Some(pm.id),
            permissions: vec![Permission::RecordsRead, Permission::DocumentsManage],
            connections: vec![mine],
        };
        let reader = Grant { permissions: vec![Permission::RecordsRead], ..writer.clone() };
        let run = |grant: Grant, config: Value| {
            let platform = AgentPlatform::new(grant, Services::of(&app.state));
            let (runtime, component) = (runtime.clone(), component.clone());
            async move {
                let trigger = Trigger { kind: TriggerKind::Schedule, run: 1, at: 0, consecutive_failures: 0, event: None };
                let report = runtime.run_agent(&component, &Call::default(), Arc::new(platform), trigger, &config.to_string(), None).await;
                match report.result {
                    Ok(o) => o.summary,
                    Err(e) => panic!("the run failed: {e}"),
                }
            }
        };

        // Comments need documents:manage, a record of the project, and a work item or requirement.
        let said = run(reader.clone(), json!({"attack": "comment", "record_id": item})).await;
        assert!(said.starts_with("refused: denied") && said.contains("documents:manage"), "{said}");
        let said = run(writer.clone(), json!({"attack": "comment", "record_id": foreign_item})).await;
        assert!(said.starts_with("refused: not-found"), "{said}");
        let huge = "x".repeat(64 * 1024 + 1);
        let said = run(writer.clone(), json!({"attack": "comment", "record_id": item, "markdown": huge})).await;
        assert!(said.starts_with("refused: invalid-input") && said.contains("64 KiB"), "{said}");
        let said = run(writer.clone(), json!({"attack": "comment", "record_id": item, "markdown": "Probably a duplicate.\n\nSee T-2."})).await;
        let comment: i64 = said.strip_prefix("ok: comment ").and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("{said}"));
        let said = run(writer.clone(), json!({"attack": "comment", "record_id": comment})).await;
        assert!(said.starts_with("refused: invalid-input") && said.contains("is a comment"), "{said}");

        // The comment is one of the project's comments, beside its work item, and a sync of the
        // connection leaves it alone.
        synced(&app, &pm.token, ours, mine).await;
        let comments = app.all(&pm.token, &format!("/api/v1/projects/{ours}/comments")).await;
        assert_eq!(comments.len(), 1, "{comments:?}");
        let c = &comments[0];
        assert_eq!((c["id"].as_i64(), c["connection_id"].as_i64()), (Some(comment), Some(mine)), "{c}");
        assert_eq!(c["stream"], "agent-comments");
        assert_eq!(c["deleted"], false);
        assert_eq!(c["parent_id"], item);
        assert_eq!(c["parent_external_id"], external);
        assert_eq!(c["author"], format!("agent:{agent_id}"));
        assert_eq!(c["body"], "Probably a duplicate.\n\nSee T-2.");
        let theirs_comments = app.all(&admin.token, &format!("/api/v1/projects/{theirs}/comments")).await;
        assert!(theirs_comments.is_empty(), "{theirs_comments:?}");

        // Documents link records of the project only; the REST API shows the links.
        let said = run(writer.clone(), json!({"attack": "document", "title": "Leak", "records": [item, foreign_item]})).await;
        assert!(said.starts_with("refused: not-found"), "{said}");
        let said = run(writer.clone(), json!({"attack": "document", "title": "Triage", "records": [item, item]})).await;
        assert!(said.starts_with("ok: document "), "{said}");
        let docs = app.all(&pm.token, &format!("/api/v1/projects/{ours}/documents")).await;
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert_eq!(docs[0]["title"], "Triage");
        assert_eq!(docs[0]["metadata"], json!({"agent_id": agent_id, "records": [item]}));

        // Every call audited with its outcome.
        let calls = audit(&app, &admin.token, "agent.platform_call").await;
        let outcomes: Vec<(String, String)> = calls.iter().map(|e| (
            e["detail"]["call"].as_str().unwrap_or_default().to_owned(),
            e["detail"]["outcome"].as_str().unwrap_or_default().to_owned())).collect();
        for (call, outcome) in [("comment-on-record", "denied"), ("comment-on-record", "not-found"),
            ("comment-on-record", "invalid-input"), ("comment-on-record", "ok"),
            ("write-document", "not-found"), ("write-document", "ok")] {
            assert!(outcomes.contains(&(call.to_owned(), outcome.to_owned())), "{call} {outcome} in {outcomes:?}");
        }
        let linked = calls.iter().find(|e| e["detail"]["call"] == "write-document" && e["detail"]["outcome"] == "ok").expect("audited");
        assert_eq!(linked["detail"]["records"], json!([item, item]), "{linked}");
    }
}
