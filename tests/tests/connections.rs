//! Connections with write-only credentials: the example connector checks a fake service through
//! the mediated egress path with the host-injected token, and the raw secret appears in no API
//! response, no audit entry and (on SQLite) nowhere in the database file.

use std::sync::{Arc, Mutex};

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "pat-3b9f1e77c2d84a05";

/// A service that answers `/status` only with the right bearer token; records what it saw.
async fn service() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/status",
        axum::routing::get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("lock").push(auth.clone());
                if auth == format!("Bearer {SECRET}") {
                    (StatusCode::OK, json!({"items": 3}).to_string())
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        json!({"error": "bad token"}).to_string(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

stories! {
    async fn a_connection_checks_through_the_host_with_a_secret_nobody_can_read_back(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project_with_example(&admin.token, pm.id, &[se.id]).await;
        let (base, seen) = service().await;
        let url = format!("/api/v1/projects/{project}/connections");
        let mut replies: Vec<Reply> = Vec::new();

        let body = json!({
            "plugin_id": "example", "name": "tracker", "base_url": base,
            "config": {"base_url": base, "page_size": 10},
            "allow_private_network": true,
            "credential": {"kind": "bearer", "token": SECRET},
        });
        // Reaching loopback lifts the SSRF guard: Administrators only.
        app.post(&url, &pm.token, body.clone()).await.problem(403);
        let created = app.post(&url, &admin.token, body.clone()).await;
        created.expect(201);
        assert_eq!(created.json["credential"], json!({"kind": "bearer"}));
        assert_eq!(created.json["check"], json!({"ok": true, "message": "3 items available"}));
        let cid = created.json["id"].as_i64().expect("id");
        replies.push(created);
        app.post(&url, &admin.token, body).await.problem(409);

        let check = app.post(&format!("{url}/{cid}/check"), &pm.token, json!({})).await;
        check.expect(200);
        assert_eq!(check.json, json!({"ok": true, "message": "3 items available"}));
        // Checked once before it was saved, once on demand; both with the secret the host added.
        assert_eq!(seen.lock().expect("lock").as_slice(), [format!("Bearer {SECRET}"), format!("Bearer {SECRET}")], "injected by the host");
        replies.push(check);
        replies.push(app.get(&url, &se.token).await);
        replies.push(app.get(&format!("{url}/{cid}"), &se.token).await);
        app.call("PATCH", &format!("{url}/{cid}"), Some(&se.token), Some(json!({"name": "x"}))).await.problem(403);

        // A wrong token is refused before it replaces the right one; saved unchecked, the
        // check on demand says so, and the failure is audited.
        let wrong = json!({"credential": {"kind": "bearer", "token": "wrong-token"}});
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token), Some(wrong.clone())).await;
        assert_eq!(r.problem(422)["errors"][0]["field"], "credential");
        replies.push(r);
        let r = app.call("PATCH", &format!("{url}/{cid}?check=false"), Some(&pm.token), Some(wrong)).await;
        r.expect(200);
        replies.push(r);
        let check = app.post(&format!("{url}/{cid}/check"), &pm.token, json!({})).await;
        check.expect(200);
        assert_eq!(check.json["ok"], false);
        assert_eq!(check.json["error"], "auth", "{}", check.json);
        replies.push(check);
        let failures = app.get("/api/v1/audit?action=credential.use_failed", &admin.token).await;
        assert_eq!(failures.json["items"][0]["target_id"], cid.to_string());

        // Back to the right one.
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"credential": {"kind": "bearer", "token": SECRET}}))).await;
        replies.push(r);
        let check = app.post(&format!("{url}/{cid}/check"), &pm.token, json!({})).await;
        assert_eq!(check.json["ok"], true, "{}", check.json);
        assert_eq!(app.count("vault_secrets").await, 1, "a replaced credential leaves no row behind");

        // A refused change (a taken name) keeps the stored credential as it was.
        let other = app.post(&url, &admin.token, json!({
            "plugin_id": "example", "name": "other", "base_url": "https://tracker.example.com/",
            "config": {"items": 1}, "credential": {"kind": "anonymous"},
        })).await;
        other.expect(201);
        let r = app.call("PATCH", &format!("{url}/{cid}?check=false"), Some(&pm.token),
            Some(json!({"name": "other", "credential": {"kind": "bearer", "token": "wrong-token"}}))).await;
        r.problem(409);
        replies.push(r);
        let check = app.post(&format!("{url}/{cid}/check"), &pm.token, json!({})).await;
        assert_eq!(check.json["ok"], true, "the old credential still works: {}", check.json);
        assert_eq!(app.count("vault_secrets").await, 1, "the refused credential was not kept");

        // Nowhere to be read: API responses, the audit log, the database.
        let audit = app.get("/api/v1/audit?limit=200", &admin.token).await;
        replies.push(audit);
        for r in &replies {
            assert!(!r.text.contains(SECRET), "a response carried the secret: {}", r.text);
            assert!(!r.text.contains("wrong-token"), "a response carried a secret: {}", r.text);
        }
        let connections: Vec<String> = sqlx::query_scalar("SELECT config || base_url || name || credential_kind FROM connections")
            .fetch_all(app.state.store.pool()).await.expect("rows");
        assert!(connections.iter().all(|row| !row.contains(SECRET)));
        if app.backend == agentic_host::store::Backend::Sqlite {
            app.state.store.close().await;
            for file in ["test.db", "test.db-wal"] {
                if let Ok(bytes) = std::fs::read(app.dir.path().join(file)) {
                    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "{file} holds the secret");
                }
            }
        }
    }

    async fn connections_are_validated_against_the_plugin(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let ok = json!({
            "plugin_id": "example", "name": "tracker", "base_url": "https://tracker.example.com/",
            "config": {"items": 5}, "credential": {"kind": "anonymous"},
        });
        let bad = |patch: Value| {
            let mut body = ok.clone();
            for (k, v) in patch.as_object().expect("object") {
                body[k] = v.clone();
            }
            body
        };
        let r = app.post(&url, &pm.token, bad(json!({"config": {"items": "many"}}))).await;
        r.problem(422);
        assert_eq!(r.fields(), ["config.items"]);
        let r = app.post(&url, &pm.token, bad(json!({"credential": {"kind": "basic", "username": "a", "password": "t"}}))).await;
        assert_eq!(r.fields(), ["credential.kind"], "{}", r.text);
        let r = app.post(&url, &pm.token, bad(json!({"base_url": "ftp://tracker.example.com/"}))).await;
        assert_eq!(r.fields(), ["base_url"], "{}", r.text);
        let r = app.post(&url, &pm.token, bad(json!({"plugin_id": "nothing"}))).await;
        assert_eq!(r.fields(), ["plugin_id"], "{}", r.text);
        let r = app.post(&url, &pm.token, bad(json!({"credential": {"kind": "bearer", "token": ""}}))).await;
        assert_eq!(r.fields(), ["credential.token"], "{}", r.text);
        let r = app.post(&url, &pm.token, bad(json!({"credential": {"kind": "oauth2-authorization-code"}}))).await;
        r.problem(422);
        assert_eq!(app.count("connections").await, 0);
        assert_eq!(app.count("vault_secrets").await, 0, "no secret left behind by refused input");

        let created = app.post(&url, &pm.token, ok.clone()).await;
        created.expect(201);
        // A plugin in use cannot be uninstalled; a deleted connection takes its secret along.
        app.call("DELETE", "/api/v1/plugins/example", Some(&admin.token), None).await.problem(409);
        let cid = created.json["id"].as_i64().expect("id");
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"credential": {"kind": "bearer", "token": SECRET}}))).await;
        r.expect(200);
        assert_eq!(app.count("vault_secrets").await, 1);
        app.call("DELETE", &format!("{url}/{cid}"), Some(&pm.token), None).await.expect(204);
        assert_eq!(app.count("vault_secrets").await, 0);
        for action in ["credential.updated", "credential.deleted"] {
            let r = app.get(&format!("/api/v1/audit?action={action}"), &admin.token).await;
            assert_eq!(r.json["items"][0]["target_id"], cid.to_string(), "{action}: {}", r.json);
            assert_eq!(r.json["items"][0]["detail"]["kind"], "bearer");
        }
        app.call("DELETE", "/api/v1/plugins/example", Some(&admin.token), None).await.expect(204);
    }

    async fn moving_a_connection_needs_its_credential_again(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let created = app.post(&url, &pm.token, json!({
            "plugin_id": "example", "name": "t", "base_url": "https://tracker.example.com/",
            "config": {"items": 1}, "credential": {"kind": "bearer", "token": SECRET},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        // Pointing the stored secret at another server is refused…
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"base_url": "https://attacker.example.net/"}))).await;
        r.problem(422);
        assert_eq!(r.fields(), ["credential"]);
        // …and a credential only travels over https, unless private networks were allowed.
        let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&pm.token),
            Some(json!({"base_url": "http://tracker.example.com/", "credential": {"kind": "bearer", "token": SECRET}}))).await;
        assert_eq!(r.fields(), ["base_url"], "{}", r.text);
        // Deleting the project deletes its connections' secrets too.
        assert_eq!(app.count("vault_secrets").await, 1);
        app.call("DELETE", &format!("/api/v1/projects/{project}"), Some(&pm.token), None).await.expect(204);
        assert_eq!(app.count("vault_secrets").await, 0);
    }

    async fn link_local_and_metadata_base_urls_are_refused_even_where_private_ones_are_allowed(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let body = |name: &str, base_url: &str| json!({
            "plugin_id": "example", "name": name, "base_url": base_url,
            "config": {"items": 1}, "credential": {"kind": "anonymous"},
            "allow_private_network": true,
        });
        for base_url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.10.20/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/computeMetadata/v1/",
        ] {
            let r = app.post(&url, &admin.token, body("meta", base_url)).await;
            r.problem(422);
            assert_eq!(r.fields(), ["base_url"], "{base_url}: {}", r.text);
        }
        assert_eq!(app.count("connections").await, 0);

        // A private address is still fine where an Administrator allowed private networks…
        let created = app.post(&url, &admin.token, body("onprem", "http://10.1.2.3/jira/")).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        // …but moving the connection onto a metadata address is refused the same way.
        for base_url in ["http://169.254.169.254/", "http://[fe80::a:b]/"] {
            let r = app.call("PATCH", &format!("{url}/{cid}"), Some(&admin.token),
                Some(json!({"base_url": base_url}))).await;
            r.problem(422);
            assert_eq!(r.fields(), ["base_url"], "{base_url}: {}", r.text);
        }
        let r = app.get(&format!("{url}/{cid}"), &admin.token).await;
        assert_eq!(r.json["base_url"], "http://10.1.2.3/jira/");
    }

    async fn no_response_echoes_a_submitted_secret_valid_or_not(backend) {
        // Every secret below is unique text that must appear in no response, whatever is wrong
        // with the body it came in.
        const KEY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7SECRETKEY";
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{KEY}\n-----END PRIVATE KEY-----\n");
        let key_file = json!({
            "type": "service_account", "client_email": "svc@p.iam.gserviceaccount.com",
            "private_key": pem, "private_key_id": "k1",
        });
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let connection = |credential: Value| json!({
            "plugin_id": "example", "name": "google", "base_url": "https://www.googleapis.com/",
            "config": {"items": 1}, "credential": credential,
        });
        let google = |key: Value| json!({
            "kind": "google-service-account", "key": key, "scopes": ["https://www.googleapis.com/auth/drive.readonly"],
        });
        let credentials: Vec<(&str, Value)> = vec![
            // The key file pasted as a string instead of an object (the reported case).
            (KEY, google(Value::String(key_file.to_string()))),
            // A private key that is no RSA key.
            (KEY, google(json!({ "type": "service_account", "client_email": "svc@p.iam.gserviceaccount.com", "private_key": KEY }))),
            // The wrong type of file.
            (KEY, google(json!({ "type": KEY, "client_email": "x@y.z", "private_key": pem }))),
            // A secret where a name of a choice belongs, a number where a token belongs, …
            (SECRET, json!({ "kind": "oauth2-client-credentials", "client_id": "c", "client_secret": "s",
                "token_url": "https://oauth2.example.com/token", "client_auth": SECRET })),
            ("918273645546372819", json!({ "kind": "bearer", "token": 918273645546372819_u64 })),
            (SECRET, json!({ "kind": "basic", "username": "u", "password": format!("{SECRET}\n") })),
            (SECRET, json!({ "kind": "bearer", "token": [SECRET] })),
            (SECRET, json!({ "kind": SECRET, "token": SECRET })),
        ];
        let created = app.post(&url, &pm.token, connection(json!({ "kind": "bearer", "token": SECRET }))).await;
        created.expect(201);
        let one = format!("{url}/{}", created.json["id"]);
        let mut sent: Vec<(&str, &str, String)> = Vec::new();
        for (secret, credential) in &credentials {
            sent.push((secret, "POST", connection(credential.clone()).to_string()));
            sent.push((secret, "PATCH", json!({ "credential": credential }).to_string()));
        }
        // A type error, then broken JSON after it.
        let pasted = serde_json::to_string(&key_file.to_string()).expect("json");
        let broken = format!("{{\"credential\": {{\"kind\": \"google-service-account\", \"key\": {pasted}, \"scopes\": []}}, \"name\": ");
        sent.push((KEY, "POST", broken.clone()));
        sent.push((KEY, "PATCH", broken));
        for (secret, method, body) in sent {
            let path = if method == "POST" { &url } else { &one };
            let r = app.raw(method, path, &pm.token, Some("application/json"), body.clone()).await;
            assert!(r.status.is_client_error(), "{method} {body}: {} {}", r.status, r.text);
            let headers = format!("{:?}", r.headers);
            assert!(
                !r.text.contains(secret) && !headers.contains(secret),
                "{method} answered {} with the submitted secret: {}", r.status, r.text
            );
        }
        // A person's password is a secret too.
        let r = app.raw("POST", "/api/v1/users", &admin.token, Some("application/json"),
            json!({ "email": "n@test.example", "display_name": "N", "password": 918273645546372819_u64, "role": "support_engineer" }).to_string()).await;
        r.problem(422);
        assert!(!r.text.contains("918273645546372819"), "{}", r.text);
        assert_eq!(app.count("vault_secrets").await, 1, "only the valid credential was stored");
    }

    async fn a_running_call_stops_sending_a_replaced_token_within_a_second_and_at_once_after_a_refusal(backend) {
        use agentic_host::plugins::CredentialProvider;
        use agentic_host::vault::provider::{VaultCredential, STATIC_REUSE};
        use agentic_host::vault::sessions::SessionTarget;
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let (base, _) = service().await;
        let url = format!("/api/v1/projects/{project}/connections");
        let created = app.post(&url, &admin.token, json!({
            "plugin_id": "example", "name": "tracker", "base_url": base,
            "config": {"base_url": base, "page_size": 10}, "allow_private_network": true,
            "credential": {"kind": "bearer", "token": SECRET},
        })).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        // The provider a running call (a sync of a stream, say) puts the credential on its
        // requests with, as the host builds it for the connection's credential now.
        let provider = || async {
            let secret_id: i64 = sqlx::query_scalar("SELECT secret_id FROM connections WHERE id = $1")
                .bind(cid).fetch_one(app.state.store.pool()).await.expect("secret");
            VaultCredential::new(app.state.sessions.clone(), SessionTarget {
                secret_id, connection_id: cid, base_url: base.clone(), allow_private: true,
            })
        };
        let bearer = |headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>| -> String {
            headers.iter().find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.to_str().expect("ascii").to_owned()).expect("authorization")
        };
        let one = format!("{url}/{cid}?check=false");
        let replace = |token: &'static str| app.call("PATCH", &one, Some(&pm.token),
            Some(json!({"credential": {"kind": "bearer", "token": token}})));

        // Replaced (a new vault row; the old one deleted) while a call runs: once STATIC_REUSE
        // is over, the call's requests carry the old token no more.
        let running = provider().await;
        assert_eq!(bearer(running.headers().await.expect("headers")), format!("Bearer {SECRET}"));
        replace("pat-second").await.expect(200);
        tokio::time::sleep(STATIC_REUSE + std::time::Duration::from_millis(50)).await;
        let after = running.headers().await;
        assert!(after.is_err(), "the replaced token was still sent: {:?}", after.map(bearer));

        // The service refuses what a call sent: its next request reads the vault at once,
        // however recently it read the token, and finds it replaced.
        let running = provider().await;
        assert_eq!(bearer(running.headers().await.expect("headers")), "Bearer pat-second");
        replace("pat-third").await.expect(200);
        let mut sent = HeaderMap::new();
        sent.insert("authorization", "Bearer pat-second".parse().expect("header"));
        assert!(running.renew(&sent).await.is_err(), "the refused credential is gone from the vault");
        let after = running.headers().await;
        assert!(after.is_err(), "the refused token was sent again: {:?}", after.map(bearer));
        // A call that starts now sends the current one.
        assert_eq!(bearer(provider().await.headers().await.expect("headers")), "Bearer pat-third");
    }
}
