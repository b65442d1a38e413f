//! Service accounts: scoped, expiring API keys shown once and stored hashed, revocable, and
//! subject to the same RBAC and project membership as people.

use std::time::Duration;

use agentic_tests::{stories, TestApp};
use serde_json::json;

stories! {
    async fn api_keys_are_shown_once_stored_hashed_and_scoped(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({ "name": "ci-bot", "role": "project_manager" })).await;
        sa.expect(201);
        let sa_id = sa.json["id"].as_i64().expect("id");
        assert_eq!(sa.json["role"], "project_manager");

        let created = app.post(&format!("/api/v1/service-accounts/{sa_id}/keys"), &admin.token,
            json!({ "name": "deploy", "scopes": ["projects:read", "projects:create"], "expires_in_days": 30 })).await;
        created.expect(201);
        let key = created.json["key"].as_str().expect("key").to_owned();
        assert!(key.starts_with(&format!("agk_{}_", created.json["prefix"].as_str().expect("prefix"))));

        // Only a hash is stored; listing shows metadata, never the key.
        let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_one(app.state.store.pool()).await.expect("hash");
        assert!(!stored.contains(&key) && stored.len() == 64);
        let listed = app.get(&format!("/api/v1/service-accounts/{sa_id}/keys"), &admin.token).await;
        listed.expect(200);
        assert!(!listed.text.contains(&key));
        assert_eq!(listed.json["items"][0]["scopes"], json!(["projects:read", "projects:create"]));

        let me = app.get("/api/v1/auth/me", &key).await;
        me.expect(200);
        assert_eq!(me.json["kind"], "service");
        assert_eq!(me.json["permissions"], json!(["projects:create", "projects:read"]));

        // Scope allows creating; the project it creates is its own (it becomes a member).
        let p = app.post("/api/v1/projects", &key, json!({ "name": "Made by a robot" })).await;
        p.expect(201);
        let pid = p.json["id"].as_i64().expect("id");
        app.get(&format!("/api/v1/projects/{pid}"), &key).await.expect(200);
        // The role would allow updating, the key's scopes do not.
        let r = app.call("PATCH", &format!("/api/v1/projects/{pid}"), Some(&key), Some(json!({ "name": "x" }))).await;
        assert!(r.problem(403)["detail"].as_str().expect("detail").contains("scope"));
        // Same object rules as people: a project it is not a member of is invisible.
        let other = app.post("/api/v1/projects", &admin.token, json!({ "name": "Not yours" })).await.json["id"].as_i64().expect("id");
        app.get(&format!("/api/v1/projects/{other}"), &key).await.problem(404);
        // API keys have no session to log out of.
        app.call("POST", "/api/v1/auth/logout", Some(&key), None).await.problem(400);
    }

    async fn scopes_cannot_exceed_the_role(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({ "name": "reader", "role": "support_engineer" })).await;
        let sa_id = sa.json["id"].as_i64().expect("id");
        let r = app.post(&format!("/api/v1/service-accounts/{sa_id}/keys"), &admin.token,
            json!({ "name": "k", "scopes": ["metrics:read", "users:manage"] })).await;
        r.problem(422);
        assert_eq!(r.fields(), ["scopes[1]"]);
        assert_eq!(app.count("api_keys").await, 0);
    }

    async fn revoked_expired_and_deactivated_keys_stop_working(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let sa_id = app.post("/api/v1/service-accounts", &admin.token, json!({ "name": "bot", "role": "support_engineer" }))
            .await.json["id"].as_i64().expect("id");
        let keys = format!("/api/v1/service-accounts/{sa_id}/keys");
        let mk = |days: u32| json!({ "name": "k", "scopes": ["metrics:read"], "expires_in_days": days });
        let a = app.post(&keys, &admin.token, mk(1)).await;
        let b = app.post(&keys, &admin.token, mk(90)).await;
        let c = app.post(&keys, &admin.token, mk(90)).await;
        let key = |r: &agentic_tests::Reply| r.json["key"].as_str().expect("key").to_owned();
        let (ka, kb, kc) = (key(&a), key(&b), key(&c));
        for k in [&ka, &kb, &kc] {
            app.get("/metrics", k).await.expect(200);
        }
        // Revoked at once.
        app.call("DELETE", &format!("{keys}/{}", b.json["id"]), Some(&admin.token), None).await.expect(204);
        assert!(app.get("/metrics", &kb).await.problem(401)["detail"].as_str().expect("d").contains("revoked"));
        // Expired after its lifetime.
        app.advance(Duration::from_secs(86_401));
        assert!(app.get("/metrics", &ka).await.problem(401)["detail"].as_str().expect("d").contains("expired"));
        app.get("/metrics", &kc).await.expect(200);
        // A forged key with a real prefix fails.
        let forged = format!("{}X", &kc[..kc.len() - 1]);
        app.get("/metrics", &forged).await.problem(401);
        // Deactivating the account revokes everything (the admin logs in again: a day passed).
        let admin = app.admin().await;
        app.call("DELETE", &format!("/api/v1/service-accounts/{sa_id}"), Some(&admin.token), None).await.expect(204);
        app.get("/metrics", &kc).await.problem(401);
        app.post(&keys, &admin.token, mk(1)).await.problem(409);
        // Service accounts are not people: the users API does not see them.
        app.get(&format!("/api/v1/users/{sa_id}"), &admin.token).await.problem(404);
    }
}
