//! The language-model connector (`plugins/model`) through the host: installed signed, a
//! connection to a fake OpenAI-compatible API (`agentic_tests::openai`, checked against
//! OpenAI's published description) with a bearer key, checked on save (`GET /models`), and one
//! completion through `POST …/connections/{cid}/actions/complete` — the input held to the
//! manifest's schema, the service's rate limit passed on as 429, the key in no answer, audit
//! entry or log.

use crate::logs::Logs;

use agentic_host::rbac::Role;
use agentic_tests::openai::{FakeOpenAi, Reply, MODELS};
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

const KEY: &str = "sk-model-story-7f3a9c1e";

stories! {
    async fn a_model_connection_is_checked_and_completes_through_the_actions_endpoint(backend) {
        let logs = Logs::default();
        let _capture = logs.capture();
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let manifest = plugin_manifest("model");
        app.install_plugin(&admin.token, &manifest, &plugin_wasm("model")).await;
        let project = app.project("Models", pm.id, &[]).await;
        app.enable_plugin(&admin.token, project, "model").await;
        let model = FakeOpenAi::start(KEY).await;
        let connections = format!("/api/v1/projects/{project}/connections");
        let create = |config: Value, key: &str| {
            json!({
                "plugin_id": "model", "name": "model", "base_url": format!("{}/v1/", model.url),
                "config": config, "allow_private_network": true,
                "credential": {"kind": "bearer", "token": key},
            })
        };

        // Saving checks the connection: an unlisted model and a wrong key are refused. Only an
        // Administrator may let a connection reach a private address (the fake's loopback), so
        // the administrator saves it and the project manager uses it.
        let unlisted = app.post(&connections, &admin.token, create(json!({"model": "gpt-5-nano"}), KEY)).await;
        let detail = unlisted.problem(422)["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("does not list `gpt-5-nano`") && detail.contains(MODELS[0]), "{}", unlisted.text);
        let refused = app.post(&connections, &admin.token, create(json!({"model": MODELS[0]}), "sk-wrong")).await;
        assert!(refused.status.as_u16() >= 400, "{}", refused.text);
        let saved = app.post(&connections, &admin.token, create(json!({"model": MODELS[0], "max_tokens": 64}), KEY)).await;
        saved.expect(201);
        let cid = saved.json["id"].as_i64().expect("connection");

        // One completion through the actions endpoint.
        let actions = format!("{connections}/{cid}/actions");
        let listed = app.get(&actions, &pm.token).await;
        listed.expect(200);
        assert!(listed.text.contains("\"complete\""), "{}", listed.text);
        let ask = json!({"input": {"messages": [
            {"role": "system", "content": "Triage."},
            {"role": "user", "content": "key: PROJ-1\ntype: Bug\npriority: High\nsummary: Brakes squeal"},
        ], "json": true, "max_tokens": 5000}});
        let done = app.post(&format!("{actions}/complete"), &pm.token, ask.clone()).await;
        done.expect(200);
        let output = &done.json["output"];
        assert_eq!(output["model"], MODELS[0], "{}", done.text);
        assert_eq!(output["finish_reason"], "stop");
        let content: Value = serde_json::from_str(output["content"].as_str().expect("content")).expect("JSON");
        assert!(content.get("category").is_some(), "{content}");
        assert!(output["usage"]["total_tokens"].as_u64().unwrap_or(0) > 0);
        let sent = model.seen().last().cloned().expect("a request");
        assert_eq!(sent.body["max_completion_tokens"], 64, "the connection bounds the tokens");
        assert_eq!(sent.body["model"], MODELS[0], "the connection's model by default");
        assert_eq!(sent.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));

        // Input outside the manifest's schema never reaches the component; the service's rate
        // limit comes back as 429 with its delay.
        let bad = app.post(&format!("{actions}/complete"), &pm.token, json!({"input": {"messages": []}})).await;
        bad.problem(422);
        model.script(&[Reply::RateLimited(21)]);
        let limited = app.post(&format!("{actions}/complete"), &pm.token, ask).await;
        limited.problem(429);
        let retry = limited.headers.get("retry-after").and_then(|v| v.to_str().ok());
        assert_eq!(retry, Some("21"), "{}", limited.text);

        // The key is in no answer, audit entry or log line.
        let audit = app.get("/api/v1/audit?limit=200", &admin.token).await;
        audit.expect(200);
        let connection = app.get(&format!("{connections}/{cid}"), &pm.token).await;
        for text in [&saved.text, &done.text, &limited.text, &audit.text, &connection.text, &logs.text()] {
            assert!(!text.contains(KEY), "the key leaked: {text}");
        }
        assert!(audit.text.contains("action.run"), "{}", audit.text);
        // The one request the fake refused is the check on save with the wrong key: the host
        // sent what the connection held, and nothing else broke the API's description.
        assert_eq!(model.violations(), ["GET /v1/models: Authorization Some(\"Bearer sk-wrong\")"]);
    }
}
