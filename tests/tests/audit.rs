//! The audit log records logins, failed logins and changes to users, roles and membership, and
//! the database refuses to rewrite it.

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

async fn actions(app: &TestApp, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = "/api/v1/audit?limit=2".to_owned();
    loop {
        let r = app.get(&url, token).await;
        r.expect(200);
        all.extend(r.json["items"].as_array().expect("items").iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/audit?limit=2&cursor={c}"),
            None => return all,
        }
    }
}

stories! {
    async fn logins_and_changes_are_recorded(backend) {
        let app = TestApp::start(backend).await;
        app.call("POST", "/api/v1/auth/login", None, Some(json!({ "email": "nobody@test.example", "password": "x" }))).await.problem(401);
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        app.call("PATCH", &format!("/api/v1/users/{}", pm.id), Some(&admin.token), Some(json!({ "role": "technical_lead" }))).await.expect(200);
        let p = app.post("/api/v1/projects", &admin.token, json!({ "name": "Audited" })).await.json["id"].as_i64().expect("id");
        app.call("PUT", &format!("/api/v1/projects/{p}/members/{}", pm.id), Some(&admin.token), None).await.expect(201);
        app.call("DELETE", &format!("/api/v1/projects/{p}/members/{}", pm.id), Some(&admin.token), None).await.expect(204);

        let log = actions(&app, &admin.token).await;
        let names: Vec<&str> = log.iter().map(|e| e["action"].as_str().expect("action")).collect();
        for expected in ["auth.login_failed", "auth.login", "user.created", "user.updated", "project.created", "member.added", "member.removed"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        let failed = log.iter().find(|e| e["action"] == "auth.login_failed").expect("failed");
        assert_eq!(failed["actor_id"], Value::Null);
        assert_eq!(failed["detail"]["email"], "nobody@test.example");
        let role = log.iter().find(|e| e["action"] == "user.updated").expect("updated");
        assert_eq!(role["detail"]["role"], json!({ "from": "project_manager", "to": "technical_lead" }));
        assert_eq!(role["actor_id"], json!(admin.id));
        assert_eq!(role["target_id"], json!(pm.id.to_string()));
        // Passwords never reach the log.
        assert!(!serde_json::to_string(&log).expect("json").contains("password-1234"));

        let only = app.get("/api/v1/audit?action=member.added", &admin.token).await;
        assert_eq!(only.json["items"].as_array().expect("items").len(), 1);
    }

    async fn the_database_refuses_to_rewrite_history(backend) {
        let app = TestApp::start(backend).await;
        app.admin().await;
        let pool = app.state.store.pool();
        assert!(sqlx::query("UPDATE audit_log SET action = 'nothing'").execute(pool).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log").execute(pool).await.is_err());
        assert!(app.count("audit_log").await > 0);
    }
}
