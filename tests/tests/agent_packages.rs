//! Signed third-party agent packages, end to end with a real component: the built-in
//! `web-monitor` component, re-signed by a test publisher as the package `uptime-check`
//! (`type = "agent"`, allowed to reach the loopback server of the test). An administrator
//! trusts the key and installs it, enables it in a project, and an agent of it is created,
//! deployed and observed running against the loopback server (requests counted there); an
//! upgrade is picked up by the next run; egress stays within the manifest's hosts; a
//! connection cannot use the package and it cannot be uninstalled while agents of it exist.
//! Unsigned, untrusted and wrong-type packages are refused with problem+json and leave nothing
//! behind; a non-admin cannot install; a grant never exceeds the manifest's `needs`; a package
//! disabled in a project no longer runs there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::{plugin_wasm, stories, Publisher, Reply, TestApp};
use serde_json::json;

use crate::agent_runs::{deploy, stop, until_runs, worker};

/// The manifest of the `uptime-check` package at `version`, allowed to reach `hosts`.
fn manifest(version: &str, hosts: &str, needs: &str) -> String {
    format!(
        r#"type = "agent"
id = "uptime-check"
version = "{version}"
wit = "0.2.0"
name = "Uptime check"
description = "Fetches a URL on its interval and checks the answer."
allowed_hosts = [{hosts}]
needs = [{needs}]
[config_schema]
type = "object"
additionalProperties = false
required = ["url"]
[config_schema.properties.url]
type = "string"
pattern = "^https?://"
[config_schema.properties.keyword]
type = "string"
[config_schema.properties.connection_id]
type = "integer"
"#
    )
}

/// The web-monitor component, or a second build of it whose summaries say `ANSWERED` (the
/// same length, so only a data segment changes): what an upgrade brings.
fn component(second_build: bool) -> Vec<u8> {
    let mut bytes = plugin_wasm("agent_web_monitor");
    if second_build {
        let from = b" answered ";
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("the summary text in the web-monitor component");
        bytes[at..at + from.len()].copy_from_slice(b" ANSWERED ");
    }
    bytes
}

/// A loopback server: `GET /health` answers 200 "all systems go", counting requests.
async fn site() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                "all systems go"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

/// The 422 of a refused package: one field error on `field` whose message has `words`.
fn refused(r: &Reply, field: &str, words: &str) {
    let p = r.problem(422);
    assert_eq!(r.fields(), [field], "{p}");
    let message = p["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(words),
        "{field}: {message:?} should mention {words:?}"
    );
}

stories! {
    async fn an_installed_agent_package_runs_on_its_hosts_and_an_upgrade_applies_at_the_next_run(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Ops", tl.id, &[]).await;
        let (url, hits) = site().await;
        let _worker = worker(&app);
        let publisher = app.trust_publisher(&admin.token, "uptime-corp").await;

        let v1 = manifest("1.0.0", r#""127.0.0.1""#, "");
        let r = publisher.install(&app, &admin.token, &v1, &component(false)).await;
        assert_eq!(r.json["type"], "agent", "{}", r.text);
        assert_eq!(r.json["versions"][0]["publisher"], "uptime-corp");

        // Offered as a kind, labelled as the installed package it is.
        let kinds = app.get("/api/v1/agent-kinds", &tl.token).await;
        kinds.expect(200);
        let kind = kinds.json.as_array().expect("kinds").iter()
            .find(|k| k["name"] == "uptime-check").cloned().expect("the package's kind");
        assert_eq!(kind["runs_on"], "host");
        assert_eq!(kind["package"]["version"], "1.0.0");
        assert_eq!(kind["package"]["publisher_key"], publisher.public_key());
        assert_eq!(kind["package"]["allowed_hosts"], json!(["127.0.0.1"]));
        assert_eq!(kind["config_schema"]["required"], json!(["url"]));
        assert_eq!(kind["config_schema"]["properties"]["interval_secs"]["default"], 300, "the host's properties");
        let builtin = kinds.json.as_array().expect("kinds").iter().find(|k| k["name"] == "web-monitor").expect("built-in");
        assert!(builtin.get("package").is_none(), "built-in kinds carry no package");

        let list = format!("/api/v1/projects/{project}/agents");
        // `interval_secs` is not in the package's schema: the host adds it (and its default).
        let config = json!({"url": format!("{url}/health"), "keyword": "systems go", "interval_secs": 60, "allow_private_network": true});
        let body = json!({"name": "uptime", "kind": "uptime-check", "config": config});
        // Not enabled in the project yet.
        let r = app.post(&list, &admin.token, body.clone()).await;
        assert_eq!(r.fields(), ["kind"], "{}", r.text);
        assert!(r.problem(422)["errors"][0]["message"].as_str().unwrap_or_default().contains("not enabled"));
        app.enable_plugin(&admin.token, project, "uptime-check").await;
        // The manifest's schema (with the host's properties) is enforced, field by field.
        let r = app.post(&list, &admin.token, json!({"name": "u", "kind": "uptime-check", "config": {"url": "ftp://x", "colour": "red"}})).await;
        r.problem(422);
        let mut fields = r.fields();
        fields.sort();
        assert_eq!(fields, ["config.colour", "config.url"], "{}", r.text);
        // Loopback is for Administrators to allow, as for built-in kinds.
        app.post(&list, &tl.token, body.clone()).await.problem(403);
        let created = app.post(&list, &admin.token, body).await;
        created.expect(201);
        assert_eq!(created.json["kind"], "uptime-check");
        let path = format!("{list}/{}", created.json["id"]);

        // Deployed: the first run comes at once and really fetches the page.
        deploy(&app, &admin.token, &path).await;
        let first = until_runs(&app, &tl.token, &path, 1).await;
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(first[0]["succeeded"], true, "{}", first[0]);
        assert!(first[0]["summary"].as_str().unwrap_or_default().contains(" answered 200"), "{}", first[0]);
        let agent = app.get(&path, &tl.token).await;
        assert_eq!(agent.json["grant"], json!([]), "no needs, no grant");

        // A connection cannot use an agent package, and the package stays while agents of it exist.
        let r = app.post(&format!("/api/v1/projects/{project}/connections"), &admin.token, json!({
            "name": "c", "plugin_id": "uptime-check", "base_url": "https://status.example.com/",
            "config": {}, "credential": {"kind": "anonymous"},
        })).await;
        r.problem(422);
        assert_eq!(r.fields(), ["plugin_id"], "{}", r.text);
        let r = app.call("DELETE", "/api/v1/plugins/uptime-check", Some(&admin.token), None).await;
        assert!(r.problem(409)["detail"].as_str().unwrap_or_default().contains("agent(s) of kind uptime-check"), "{}", r.text);

        // An upgrade: the next run runs the new component.
        let v2 = manifest("1.1.0", r#""127.0.0.1""#, "");
        let r = publisher.upgrade(&app, &admin.token, "uptime-check", &v2, &component(true)).await;
        assert_eq!(r.json["active_version"], "1.1.0");
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &tl.token, &path, 2).await;
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(second[1]["summary"].as_str().unwrap_or_default().contains(" ANSWERED 200"), "{}", second[1]);

        // Egress stays within the manifest's hosts: `localhost` is not among them.
        let elsewhere = json!({"config": {"url": url.replace("127.0.0.1", "localhost") + "/health", "interval_secs": 60, "allow_private_network": true}});
        app.call("PATCH", &path, Some(&admin.token), Some(elsewhere)).await.expect(200);
        app.advance(Duration::from_secs(60));
        let third = until_runs(&app, &tl.token, &path, 3).await;
        assert_eq!(third[2]["succeeded"], false, "{}", third[2]);
        assert!(third[2]["error"].as_str().unwrap_or_default().contains("not declared"), "{}", third[2]);
        assert_eq!(hits.load(Ordering::SeqCst), 2, "no request left for an undeclared host");

        // Stopped: no more runs; then it can go, and the package with it.
        stop(&app, &admin.token, &path).await;
        app.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(until_runs(&app, &tl.token, &path, 3).await.len(), 3);
        app.call("DELETE", &path, Some(&admin.token), None).await.expect(204);
        app.call("DELETE", "/api/v1/plugins/uptime-check", Some(&admin.token), None).await.expect(204);
        let kinds = app.get("/api/v1/agent-kinds", &tl.token).await;
        assert!(!kinds.text.contains("uptime-check"), "{}", kinds.text);
    }

    async fn unsigned_untrusted_and_wrong_type_agent_packages_are_refused(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let publisher = app.trust_publisher(&admin.token, "uptime-corp").await;
        let stranger = Publisher::new();
        let good = manifest("1.0.0", r#""127.0.0.1""#, "");
        let monitor = component(false);

        // Only an administrator installs, whatever the package.
        app.upload_package("/api/v1/plugins", &pm.token, publisher.sign(&good, &monitor)).await.problem(403);

        // Unsigned: no signature member at all.
        let unsigned = {
            let mut archive = tar::Builder::new(Vec::new());
            for (name, data) in [("plugin.toml", good.as_bytes()), ("plugin.wasm", &monitor[..])] {
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_cksum();
                archive.append_data(&mut header, name, data).expect("append");
            }
            archive.into_inner().expect("tar")
        };
        refused(&app.upload_package("/api/v1/plugins", &admin.token, unsigned).await, "package", "plugin.sig is missing");
        // Signed by a key nobody trusts.
        refused(&app.upload_package("/api/v1/plugins", &admin.token, stranger.sign(&good, &monitor)).await, "plugin.sig", "unknown publisher");
        // A connector where an agent was declared, and the other way round.
        refused(&app.upload_package("/api/v1/plugins", &admin.token, publisher.sign(&good, &plugin_wasm("example"))).await,
            "plugin.wasm", "a connector component, but plugin.toml says type = \"agent\"");
        let as_connector = good.replace("type = \"agent\"\n", "").replace("needs = []\n", "auth_kinds = [\"anonymous\"]\n")
            .replace("additionalProperties = false\n", "");
        refused(&app.upload_package("/api/v1/plugins", &admin.token, publisher.sign(&as_connector, &monitor)).await,
            "plugin.wasm", "an agent component, but plugin.toml says type = \"connector\"");
        // A built-in kind's name, and an agent contract this host does not run.
        refused(&app.upload_package("/api/v1/plugins", &admin.token, publisher.sign(&good.replace("uptime-check", "web-monitor"), &monitor)).await,
            "plugin.toml", "built-in agent kind");
        refused(&app.upload_package("/api/v1/plugins", &admin.token, publisher.sign(&good.replace("wit = \"0.2.0\"", "wit = \"0.9.0\""), &monitor)).await,
            "plugin.toml", "agent contract version 0.9.0 is not supported");
        for table in ["plugins", "plugin_versions", "project_plugins"] {
            assert_eq!(app.count(table).await, 0, "{table} after refused installs");
        }
        let kinds = app.get("/api/v1/agent-kinds", &admin.token).await;
        let names: Vec<&str> = kinds.json.as_array().expect("kinds").iter().filter_map(|k| k["name"].as_str()).collect();
        assert_eq!(names, ["web-monitor", "sync-assistant", "triage-assistant", "external"]);
    }

    async fn a_grant_is_the_needs_the_deployer_holds_and_a_disabled_package_does_not_run(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("Ops", admin.id, &[]).await;
        let _worker = worker(&app);
        let publisher = app.trust_publisher(&admin.token, "uptime-corp").await;
        let needs = manifest("1.0.0", "", r#""records:read""#);
        publisher.install(&app, &admin.token, &needs, &component(false)).await;
        app.enable_plugin(&admin.token, project, "uptime-check").await;
        let kinds = app.get("/api/v1/agent-kinds", &admin.token).await;
        let kind = kinds.json.as_array().expect("kinds").iter().find(|k| k["name"] == "uptime-check").cloned().expect("kind");
        assert_eq!(kind["needs"], json!(["records:read"]));
        let list = format!("/api/v1/projects/{project}/agents");
        // A `connection_id` the author declares binds the agent to a connection of its project.
        let r = app.post(&list, &admin.token, json!({"name": "u", "kind": "uptime-check", "config": {"url": "https://status.example.com/", "connection_id": 999}})).await;
        r.problem(422);
        assert_eq!(r.fields(), ["config.connection_id"], "{}", r.text);
        let created = app.post(&list, &admin.token, json!({"name": "u", "kind": "uptime-check", "config": {"url": "https://status.example.com/", "interval_secs": 60}})).await;
        created.expect(201);
        let path = format!("{list}/{}", created.json["id"]);
        // An Administrator holds every permission; the agent still gets only what it needs.
        deploy(&app, &admin.token, &path).await;
        let agent = app.get(&path, &admin.token).await;
        assert_eq!(agent.json["grant"], json!(["records:read"]), "{}", agent.text);
        // No allowed hosts: the run has no network at all.
        let first = until_runs(&app, &admin.token, &path, 1).await;
        assert_eq!(first[0]["succeeded"], false, "{}", first[0]);

        // Disabled in the project: its agents' config cannot change and their runs fail, saying so.
        let plugin = format!("/api/v1/projects/{project}/plugins/uptime-check");
        app.call("DELETE", &plugin, Some(&admin.token), None).await.expect(204);
        let r = app.call("PATCH", &path, Some(&admin.token), Some(json!({"config": {"url": "https://status.example.com/x", "interval_secs": 60}}))).await;
        r.problem(422);
        assert_eq!(r.fields(), ["kind"], "{}", r.text);
        app.advance(Duration::from_secs(60));
        let second = until_runs(&app, &admin.token, &path, 2).await;
        assert!(second[1]["error"].as_str().unwrap_or_default().contains("agent package uptime-check is not enabled"), "{}", second[1]);
    }
}
