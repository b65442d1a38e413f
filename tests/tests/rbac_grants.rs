//! The RBAC matrix's grant rules (issue 13, items 9 and 10): nobody — person, service account or
//! API key — creates, widens or assigns a role or scopes it does not hold itself, and a caller
//! without the permission gets 403 before anything reads its body.

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use serde_json::{json, Value};

/// An Administrator service account's key narrowed to `scopes`.
async fn narrowed_key(app: &TestApp, admin: &str, account: i64, scopes: &[&str]) -> String {
    let r = app
        .post(
            &format!("/api/v1/service-accounts/{account}/keys"),
            admin,
            json!({ "name": "narrow", "scopes": scopes }),
        )
        .await;
    r.expect(201);
    r.json["key"].as_str().expect("key").to_owned()
}

/// A 403 problem whose detail names each of `lacking`.
#[track_caller]
fn refused(r: &Reply, lacking: &[&str]) {
    let detail = r.problem(403)["detail"].as_str().unwrap_or_default();
    for what in lacking {
        assert!(detail.contains(what), "detail should name {what}: {detail}");
    }
}

fn person(n: &str, role: &str) -> Value {
    json!({ "email": format!("{n}@test.example"), "display_name": n, "password": "a-long-password-1", "role": role })
}

stories! {
    async fn no_principal_grants_what_it_lacks(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let other_admin = app.user(Role::Administrator).await;
        let se = app.user(Role::SupportEngineer).await;
        let ops = app
            .post("/api/v1/service-accounts", &admin.token, json!({ "name": "ops", "role": "administrator" }))
            .await;
        ops.expect(201);
        let ops = ops.json["id"].as_i64().expect("ops");
        let before = (app.count("users").await, app.count("api_keys").await);

        // A key with only `service_accounts:manage` cannot mint itself (or anyone) more.
        let sa_key = narrowed_key(&app, &admin.token, ops, &["service_accounts:manage"]).await;
        let keys = format!("/api/v1/service-accounts/{ops}/keys");
        let r = app.post(&keys, &sa_key, json!({ "name": "wider", "scopes": ["audit:read", "users:manage"] })).await;
        refused(&r, &["this API key lacks", "`audit:read`", "`users:manage`"]);
        let r = app.post(&keys, &sa_key, json!({ "name": "wider", "scopes": ["service_accounts:manage", "audit:read"] })).await;
        refused(&r, &["`audit:read`"]);
        // Nor create an account whose role carries what it lacks.
        let r = app.post("/api/v1/service-accounts", &sa_key, json!({ "name": "evil", "role": "administrator" })).await;
        refused(&r, &["Administrator role", "`users:manage`"]);
        let r = app.post("/api/v1/service-accounts", &sa_key, json!({ "name": "evil", "role": "support_engineer" })).await;
        refused(&r, &["Support Engineer role", "`projects:read`"]);
        // What it holds it may hand on.
        let r = app.post(&keys, &sa_key, json!({ "name": "same", "scopes": ["service_accounts:manage"] })).await;
        r.expect(201);

        // A key with `users:manage` cannot create an Administrator, reset one's password, or
        // promote anyone.
        let users_key = narrowed_key(&app, &admin.token, ops, &["users:manage"]).await;
        let r = app.post("/api/v1/users", &users_key, person("boss", "administrator")).await;
        refused(&r, &["Administrator role", "`audit:read`"]);
        let admin_user = format!("/api/v1/users/{}", other_admin.id);
        let r = app.call("PATCH", &admin_user, Some(&users_key), Some(json!({ "password": "taken-over-password-1" }))).await;
        refused(&r, &["resetting the password", "Administrator role"]);
        let r = app.call("PATCH", &admin_user, Some(&users_key), Some(json!({ "role": "support_engineer" }))).await;
        refused(&r, &["changing the role", "Administrator role"]);
        let se_user = format!("/api/v1/users/{}", se.id);
        let r = app.call("PATCH", &se_user, Some(&users_key), Some(json!({ "role": "administrator" }))).await;
        refused(&r, &["changing the role", "Support Engineer role"]);
        // Even a Support Engineer needs every permission of that role from the key.
        let r = app.post("/api/v1/users", &users_key, person("helper", "support_engineer")).await;
        refused(&r, &["Support Engineer role", "`jobs:operate`"]);
        // Harmless changes stay allowed.
        let r = app.call("PATCH", &admin_user, Some(&users_key), Some(json!({ "display_name": "Renamed" }))).await;
        r.expect(200);

        // A key holding a Support Engineer's permissions plus `users:manage` may make one, and
        // not a Project Manager.
        let mut scopes: Vec<&str> = Role::SupportEngineer.permissions().map(|p| p.as_str()).collect();
        scopes.push("users:manage");
        let hr_key = narrowed_key(&app, &admin.token, ops, &scopes).await;
        app.post("/api/v1/users", &hr_key, person("helper", "support_engineer")).await.expect(201);
        let r = app.post("/api/v1/users", &hr_key, person("manager", "project_manager")).await;
        refused(&r, &["Project Manager role", "`projects:create`"]);
        let r = app.call("PATCH", &se_user, Some(&hr_key), Some(json!({ "role": "project_manager" }))).await;
        refused(&r, &["Project Manager role"]);
        app.call("PATCH", &se_user, Some(&hr_key), Some(json!({ "password": "a-new-long-password-2" }))).await.expect(200);

        // Nothing was made but the three allowed keys and the one Support Engineer; the other
        // Administrator still logs in with their own password.
        assert_eq!((app.count("users").await, app.count("api_keys").await), (before.0 + 1, before.1 + 4));
        app.login(&other_admin.email, agentic_tests::USER_PASSWORD).await;
        let me = app.get("/api/v1/auth/me", &se.token).await;
        assert_eq!(me.status.as_u16(), 401, "a password reset ends the sessions: {}", me.text);

        // A full Administrator may do all of it.
        app.post("/api/v1/users", &admin.token, person("boss", "administrator")).await.expect(201);
        app.call("PATCH", &admin_user, Some(&admin.token), Some(json!({ "password": "reset-by-an-admin-1" }))).await.expect(200);
        app.post(&keys, &admin.token, json!({ "name": "wide", "scopes": ["audit:read", "users:manage"] })).await.expect(201);
    }

    async fn a_caller_without_the_permission_gets_403_whatever_its_body(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let se = app.user(Role::SupportEngineer).await;
        let project = app.project("Body order", admin.id, &[se.id]).await;
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let paths = doc["paths"].as_object().expect("paths");
        let bodies: [(Option<&str>, &str); 4] = [
            (Some("application/json"), "{\"name\": "),
            (Some("application/json"), "{\"no_such_field\": 1}"),
            (Some("application/json"), "[]"),
            (Some("text/plain"), "hello"),
        ];
        let mut checked = 0;
        for (path, item) in paths {
            // Login and refresh are public; the agent runtime takes an agent's token, not a
            // person's; changing one's own password needs no permission.
            // SCIM answers its 403 as a SCIM error, not a problem; tests/tests/scim.rs checks it
            // comes before the body there.
            if path.starts_with("/api/v1/auth/") || path.starts_with("/api/v1/agent-runtime/")
                || path.starts_with("/scim/v2/")
            {
                continue;
            }
            for method in ["post", "put", "patch"] {
                if item[method]["requestBody"].is_null() {
                    continue;
                }
                // `{id}` is the project the Support Engineer belongs to (or an account id,
                // where the path is one); other ids need not exist: the 403 comes first.
                let mut url = path.replace("{id}", &project.to_string());
                while let (Some(open), Some(close)) = (url.find('{'), url.find('}')) {
                    url.replace_range(open..=close, "1");
                }
                for (content_type, body) in bodies {
                    let r = app.raw(&method.to_uppercase(), &url, &se.token, content_type, body).await;
                    assert_eq!(
                        r.status.as_u16(), 403,
                        "{} {path} as a Support Engineer with {content_type:?} {body:?}: {}",
                        method.to_uppercase(), r.text
                    );
                    r.problem(403);
                }
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} operations with a body were found");
        // The rules are still told to those who may call.
        let r = app.raw("POST", "/api/v1/users", &admin.token, Some("application/json"), "{\"no_such_field\": 1}").await;
        r.problem(422);
        let r = app.raw("POST", "/api/v1/users", &admin.token, Some("text/plain"), "hello").await;
        r.problem(415);
    }
}
