//! The client secret kept in the vault (`client_secret_vault = true`): a provider without one
//! says at sign-in start how to set it; an administrator sets it over the API (only they may,
//! checked before the body is read); the full sign-in round trip against the real provider then
//! uses it, and setting it again (rotation) takes effect at the next sign-in. The secret is in
//! no answer, audit entry or log line. Also: sign-in starts are throttled per client IP.

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

use super::{refused, sso, CLIENT_SECRET};
use crate::logs::Logs;

const PATH: &str = "/api/v1/auth/oidc/corp/client-secret";
/// A secret the provider does not know for this client.
const WRONG: &str = "not-the-providers-secret-0b7e42d19a";

fn secret(value: &str) -> Option<Value> {
    Some(json!({ "client_secret": value }))
}

stories! {
    async fn a_client_secret_from_the_vault_signs_people_in(backend) {
        let Some(s) = sso(backend, |p| {
            p.client_secret = None;
            p.client_secret_vault = true;
        })
        .await else { return };
        let logs = Logs::default();
        let capture = logs.capture();
        let mut answers = String::new();
        let mut keep = |r: &Reply| answers.push_str(&r.text);

        // Not set yet: the sign-in start says which provider and how to set it; no start is
        // stored.
        let start = s.app.call("GET", "/api/v1/auth/oidc/corp/login", None, None).await;
        let detail = start.problem(503)["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("identity provider corp"), "{detail}");
        assert!(detail.contains("agentic oidc set-secret corp"), "{detail}");
        assert!(detail.contains("PUT /api/v1/auth/oidc/corp/client-secret"), "{detail}");
        assert_eq!(s.app.count("oidc_logins").await, 0);

        // A wrong secret is used as it is: the provider refuses the code exchange.
        let admin = s.app.admin().await;
        let set = s.app.call("PUT", PATH, Some(&admin.token), secret(WRONG)).await;
        set.expect(200);
        keep(&set);
        assert_eq!(set.json, json!({"provider": "corp", "replaced": false, "in_use": true}));
        let landing = s.sign_in("alice").await;
        refused(&landing, 401);
        assert_eq!(s.app.count("oidc_identities").await, 0);

        // Rotated to the right one: the next sign-in goes all the way, same vault entry.
        let set = s.app.call("PUT", PATH, Some(&admin.token), secret(CLIENT_SECRET)).await;
        set.expect(200);
        keep(&set);
        assert_eq!(set.json["replaced"], true);
        assert_eq!(s.app.count("oidc_client_secrets").await, 1);
        let start = s.app.call("GET", "/api/v1/auth/oidc/corp/login", None, None).await;
        start.expect(303);
        let tokens = s.session("alice").await;
        assert_eq!(tokens["user"]["role"], "administrator");
        let access = tokens["access_token"].as_str().expect("token");
        let me = s.app.get("/api/v1/auth/me", access).await;
        me.expect(200);
        keep(&me);

        // Audited twice, with the provider and without the value.
        let audit = s.app.all(&admin.token, "/api/v1/audit?action=identity_provider.client_secret_set").await;
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert_eq!(audit[0]["target_id"], "corp", "{audit:?}");
        let audit_text: String = s.app.all(&admin.token, "/api/v1/audit").await
            .iter().map(Value::to_string).collect();
        drop(capture);
        let logged = logs.text();
        assert!(logged.contains("corp"), "the capture sees the host: {logged}");
        for value in [WRONG, CLIENT_SECRET] {
            assert!(!answers.contains(value), "a secret is in an answer");
            assert!(!audit_text.contains(value), "a secret is in the audit trail");
            assert!(!logged.contains(value), "a secret is in the log");
        }
    }

    async fn only_administrators_set_client_secrets(backend) {
        let Some(s) = sso(backend, |p| {
            p.client_secret = None;
            p.client_secret_vault = true;
        })
        .await else { return };
        let app = &s.app;
        let admin = app.admin().await;
        // Without a credential: 401. Other roles: 403, whatever the body (it is not read).
        app.call("PUT", PATH, None, secret(WRONG)).await.problem(401);
        for role in [Role::ProjectManager, Role::TechnicalLead, Role::SupportEngineer] {
            let user = app.user(role).await;
            app.raw("PUT", PATH, &user.token, Some("application/json"), "{\"client_secret\": ")
                .await.problem(403);
            app.call("PUT", PATH, Some(&user.token), secret(WRONG)).await.problem(403);
        }
        // An Administrator's API key without `identity_providers:manage`: 403; with it: allowed.
        let account = app.post("/api/v1/service-accounts", &admin.token,
            json!({"name": "ops", "role": "administrator"})).await;
        account.expect(201);
        let keys = format!("/api/v1/service-accounts/{}/keys", account.json["id"]);
        let narrow = app.post(&keys, &admin.token, json!({"name": "narrow", "scopes": ["users:manage"]})).await;
        narrow.expect(201);
        let narrow = narrow.json["key"].as_str().expect("key");
        let r = app.call("PUT", PATH, Some(narrow), secret(WRONG)).await;
        assert!(r.problem(403)["detail"].as_str().is_some_and(|d| d.contains("identity_providers:manage")), "{}", r.text);
        let wide = app.post(&keys, &admin.token,
            json!({"name": "wide", "scopes": ["identity_providers:manage"]})).await;
        wide.expect(201);
        let wide = wide.json["key"].as_str().expect("key");
        app.call("PUT", PATH, Some(wide), secret(CLIENT_SECRET)).await.expect(200);
        assert_eq!(app.count("oidc_client_secrets").await, 1);

        // A provider that is not configured: 404, nothing stored.
        app.call("PUT", "/api/v1/auth/oidc/nope/client-secret", Some(&admin.token), secret(WRONG))
            .await.problem(404);
        // Bad secrets: 422 naming the field, never echoing the value; unknown fields refused.
        let long = "x".repeat(4097);
        for bad in ["", "two\nlines", long.as_str()] {
            let r = app.call("PUT", PATH, Some(&admin.token), secret(bad)).await;
            r.problem(422);
            assert_eq!(r.fields(), ["client_secret"], "{}", r.text);
            assert!(bad.is_empty() || !r.text.contains(bad), "{}", r.text);
        }
        app.call("PUT", PATH, Some(&admin.token), Some(json!({"client_secret": "s", "extra": 1})))
            .await.problem(422);
        assert_eq!(app.count("oidc_client_secrets").await, 1);
        // Nothing else changed: the stored secret still signs people in.
        assert_eq!(s.session("bob").await["user"]["role"], "technical_lead");
    }

    async fn sign_in_starts_are_throttled_per_address(backend) {
        let app = TestApp::start_with(backend, |c| {
            c.auth.login_per_ip_per_minute = 3;
            c.http.trust_forwarded_for = true;
            c.auth.oidc.frontend_url = Some("http://frontend.test/".into());
            c.auth.oidc.providers.insert("corp".into(), agentic_host::auth::oidc::config::ProviderConfig {
                // Never reached: the provider's metadata is not fetched for a throttled start.
                issuer: "http://127.0.0.1:9/idp".into(),
                client_id: "c".into(),
                ..Default::default()
            });
        })
        .await;
        let start = |ip: &'static str| {
            let req = Request::get("/api/v1/auth/oidc/corp/login")
                .header("x-forwarded-for", ip)
                .body(Body::empty())
                .expect("request");
            app.send(req)
        };
        // The provider is unreachable, so a start that gets through answers 502.
        for _ in 0..3 {
            start("203.0.113.7").await.problem(502);
        }
        let r = start("203.0.113.7").await;
        let detail = r.problem(429)["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("too many sign-ins"), "{detail}");
        let wait: u64 = r.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=20).contains(&wait), "{wait}");
        // Another address has its own allowance, and password logins are counted apart.
        start("198.51.100.2").await.problem(502);
        let login = Request::post("/api/v1/auth/login")
            .header("x-forwarded-for", "203.0.113.7")
            .header("content-type", "application/json")
            .body(Body::from(json!({"email": agentic_tests::ADMIN_EMAIL,
                "password": agentic_tests::ADMIN_PASSWORD}).to_string()))
            .expect("request");
        app.send(login).await.expect(200);
    }
}
