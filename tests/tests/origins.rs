//! Named service origins (contract 0.3.0) end to end: the example connector installed with an
//! `[origins]` table in its signed manifest; a connection overriding an origin is held to the
//! base URL's rules (a private address is an Administrator's decision, an undeclared name is
//! refused); the connector's requests under the connection's effective origin go through with
//! the credential the host injects, and one to an origin neither the base URL nor any declared
//! origin covers is refused with the rule named.

use std::sync::{Arc, Mutex};

use agentic_host::rbac::Role;
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "origin-token-5b1d";

/// The path and `Authorization` header of every request a service received.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A service on 127.0.0.1 answering `GET /status` (for the example's check) and anything else
/// with the path it was asked for; it records the `Authorization` header of every request.
async fn service() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new()
        .route(
            "/status",
            axum::routing::get(|| async { axum::Json(json!({"items": 0})) }),
        )
        .fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                let log = log.clone();
                async move {
                    let auth = headers
                        .get(axum::http::header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    log.lock().expect("log").push((uri.path().to_owned(), auth));
                    format!("served {}", uri.path())
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

/// Installs the example connector with `[origins] mirror = "https://mirror.example.com/"` in
/// its manifest, enables it in a new project owned by `owner`; returns the project id.
async fn project_with_origins(app: &TestApp, admin: &str, owner: i64) -> i64 {
    let manifest = plugin_manifest("example");
    let manifest = format!("{manifest}\n[origins]\nmirror = \"https://mirror.example.com/\"\n");
    app.install_plugin(admin, &manifest, &plugin_wasm("example"))
        .await;
    let project = app.project("Origins", owner, &[]).await;
    app.enable_plugin(admin, project, "example").await;
    project
}

fn detail(r: &agentic_tests::Reply) -> String {
    r.json["detail"].as_str().unwrap_or_default().to_owned()
}

stories! {
    async fn an_origin_override_to_a_private_address_is_an_administrators_decision(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_origins(&app, &admin.token, pm.id).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let body = |name: &str, origins: Value| json!({
            "plugin_id": "example", "name": name, "base_url": "https://tracker.example.com/",
            "config": {"items": 1}, "credential": {"kind": "anonymous"}, "origins": origins,
        });

        // Without an override the manifest's URL applies, and the connection shows it.
        let plain = app.post(&url, &pm.token, body("plain", json!({}))).await;
        plain.expect(201);
        assert_eq!(plain.json["origins"], json!({"mirror": {"url": "https://mirror.example.com/", "overridden": false}}));
        let cid = plain.json["id"].as_i64().expect("id");

        // A Project Manager may not point an origin at loopback or a private address…
        for private in ["http://127.0.0.1:9/", "http://10.1.2.3/", "http://localhost:8080/"] {
            let r = app.post(&url, &pm.token, body("private", json!({"mirror": private}))).await;
            let why = r.problem(403)["detail"].as_str().unwrap_or_default().to_owned();
            assert!(why.contains("only an Administrator") && why.contains("mirror"), "{private}: {why}");
            let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
                Some(json!({"origins": {"mirror": private}}))).await;
            r.problem(403);
        }
        // …nor name an origin the plugin does not declare, nor a host it does not allow a
        // link-local or metadata one, whoever asks.
        let r = app.post(&url, &pm.token, body("undeclared", json!({"docs": "https://docs.example.com/"}))).await;
        r.problem(422);
        assert_eq!(r.fields(), ["origins.docs"], "{}", r.text);
        assert!(r.text.contains("declares no origin docs (it declares: mirror)"), "{}", r.text);
        let r = app.post(&url, &admin.token, body("meta", json!({"mirror": "http://169.254.169.254/"}))).await;
        r.problem(422);
        assert_eq!(r.fields(), ["origins.mirror"], "{}", r.text);
        // An Administrator may, on a connection that allows private networks only.
        let r = app.post(&url, &admin.token, body("private", json!({"mirror": "http://127.0.0.1:9/"}))).await;
        r.problem(422);
        assert!(r.text.contains("does not allow private networks"), "{}", r.text);
        let mut allowed = body("private", json!({"mirror": "http://127.0.0.1:9/"}));
        allowed["allow_private_network"] = json!(true);
        let r = app.post(&url, &admin.token, allowed).await;
        r.expect(201);
        assert_eq!(r.json["origins"]["mirror"], json!({"url": "http://127.0.0.1:9/", "overridden": true}));
        let private = r.json["id"].as_i64().expect("id");
        // Renaming it is still anyone's with connections:manage; moving the origin is not.
        app.call("PATCH", &format!("{url}/{private}"), Some(&pm.token), Some(json!({"name": "renamed"}))).await.expect(200);
        let r = app.call("PATCH", &format!("{url}/{private}"), Some(&pm.token),
            Some(json!({"origins": {"mirror": "https://mirror2.example.com/"}}))).await;
        r.problem(403);
        // A public override by a Project Manager is fine; `null` removes it.
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"origins": {"mirror": "https://mirror-proxy.example.com/"}}))).await;
        r.expect(200);
        assert_eq!(r.json["origins"]["mirror"]["url"], "https://mirror-proxy.example.com/");
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"origins": {"mirror": null}}))).await;
        assert_eq!(r.json["origins"]["mirror"], json!({"url": "https://mirror.example.com/", "overridden": false}));
    }

    async fn requests_under_a_declared_origin_carry_the_credential_and_others_are_refused(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = project_with_origins(&app, &admin.token, admin.id).await;
        let (base, base_seen) = service().await;
        let (mirror, mirror_seen) = service().await;
        let (other, other_seen) = service().await;
        let url = format!("/api/v1/projects/{project}/connections");
        let created = app.post(&url, &admin.token, json!({
            "plugin_id": "example", "name": "mirrored", "base_url": base,
            "config": {"base_url": base}, "allow_private_network": true,
            "credential": {"kind": "bearer", "token": SECRET},
            "origins": {"mirror": format!("{mirror}/api/")},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let act = format!("{url}/{cid}/actions/fetch");

        // Under the declared origin (at the connection's override): through, with the secret.
        let r = app.post(&act, &admin.token, json!({"input": {"origin": "mirror", "path": "/files/1"}})).await;
        r.expect(200);
        assert_eq!(r.json["output"], json!({"status": 200, "body": "served /api/files/1"}), "{}", r.text);
        assert_eq!(mirror_seen.lock().expect("seen").as_slice(),
            [("/api/files/1".to_owned(), Some(format!("Bearer {SECRET}")))], "injected by the host");

        // An origin no declaration covers: refused by the host, the rule named; nothing sent.
        let r = app.post(&act, &admin.token, json!({"input": {"url": format!("{other}/x")}})).await;
        let why = detail(&r);
        assert!(r.status.as_u16() >= 400, "{}", r.text);
        assert!(why.contains(&format!("is outside the connection's base URL {base}/, and outside its service origins (mirror {mirror}/api/)")), "{why}");
        assert!(other_seen.lock().expect("seen").is_empty());
        // Outside the origin's path is outside it too.
        let r = app.post(&act, &admin.token, json!({"input": {"url": format!("{mirror}/admin")}})).await;
        assert!(detail(&r).contains("outside its service origins"), "{}", r.text);
        assert_eq!(mirror_seen.lock().expect("seen").len(), 1);
        // A name the manifest does not declare has no URL (`host.service-url` says none).
        let r = app.post(&act, &admin.token, json!({"input": {"origin": "docs"}})).await;
        assert!(detail(&r).contains("no service origin \"docs\""), "{}", r.text);
        // The base URL still works as before, with the credential.
        let r = app.post(&act, &admin.token, json!({"input": {"url": format!("{base}/y")}})).await;
        r.expect(200);
        assert!(base_seen.lock().expect("seen").iter().any(|(p, a)| p == "/y" && a.as_deref() == Some(&*format!("Bearer {SECRET}"))));
    }
}
