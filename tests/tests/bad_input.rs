//! Bad input on every write endpoint: each gets a 4xx problem+json naming what is wrong — never
//! a 5xx — and nothing is stored.

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use serde_json::{json, Value};

/// Row counts of every table a write endpoint can touch.
async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "projects",
        "project_members",
        "api_keys",
        "sessions",
        "refresh_tokens",
        "documents",
        "web_tasks",
        "job_schedules",
        "agents",
    ] {
        counts.push(app.count(table).await);
    }
    counts
}

/// The write endpoints with a JSON body, with a path that exists.
fn json_endpoints(
    user: i64,
    project: i64,
    sa: i64,
    doc: i64,
    task: i64,
    agent: i64,
) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/api/v1/auth/login".into()),
        ("POST", "/api/v1/auth/refresh".into()),
        ("POST", "/api/v1/auth/password".into()),
        ("POST", "/api/v1/users".into()),
        ("PATCH", format!("/api/v1/users/{user}")),
        ("POST", "/api/v1/service-accounts".into()),
        ("POST", format!("/api/v1/service-accounts/{sa}/keys")),
        ("POST", "/api/v1/projects".into()),
        ("PATCH", format!("/api/v1/projects/{project}")),
        (
            "PATCH",
            format!("/api/v1/projects/{project}/documents/{doc}"),
        ),
        ("POST", format!("/api/v1/projects/{project}/web-tasks")),
        (
            "PATCH",
            format!("/api/v1/projects/{project}/web-tasks/{task}"),
        ),
        (
            "PUT",
            format!("/api/v1/projects/{project}/web-tasks/{task}/schedule"),
        ),
        ("POST", format!("/api/v1/projects/{project}/agents")),
        (
            "PATCH",
            format!("/api/v1/projects/{project}/agents/{agent}"),
        ),
    ]
}

/// Expects a validation problem naming exactly `fields`.
#[track_caller]
fn invalid(r: &Reply, fields: &[&str]) {
    r.problem(422);
    let mut got = r.fields();
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
}

stories! {
    async fn malformed_bodies_are_refused_everywhere(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let user = app.user(Role::TechnicalLead).await;
        let project = app.project("P", admin.id, &[]).await;
        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({ "name": "bot", "role": "support_engineer" }))
            .await.json["id"].as_i64().expect("sa");
        let doc = app.upload("POST", &format!("/api/v1/projects/{project}/documents"), &admin.token,
            agentic_tests::Form::new().file("file", "d.txt", "text/plain", b"doc")).await.json["id"].as_i64().expect("doc");
        let task = app.post(&format!("/api/v1/projects/{project}/web-tasks"), &admin.token, json!({
            "name": "t", "target_url": "https://shop.example.com/", "allowed_hosts": ["shop.example.com"],
            "steps": [{"type": "navigate", "url": "/"}],
        })).await.json["id"].as_i64().expect("task");
        let agent = app.post(&format!("/api/v1/projects/{project}/agents"), &admin.token,
            json!({"name": "a", "kind": "web-monitor", "config": {"url": "https://x.example/"}})).await.json["id"].as_i64().expect("agent");
        let before = snapshot(&app).await;
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
        for (method, path) in json_endpoints(user.id, project, sa, doc, task, agent) {
            let json_ct = Some("application/json");
            let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
                (json_ct, "{\"name\":".into(), 400, "truncated JSON"),
                (json_ct, String::new(), 400, "empty body"),
                (json_ct, "{} trailing".into(), 400, "trailing characters"),
                (json_ct, "not json at all".into(), 400, "not JSON"),
                (json_ct, "[]".into(), 422, "array instead of object"),
                (json_ct, "\"text\"".into(), 422, "string instead of object"),
                (json_ct, "{\"no_such_field\": 1}".into(), 422, "unknown field"),
                (Some("text/plain"), "{}".into(), 415, "wrong content type"),
                (None, "{}".into(), 415, "no content type"),
                (Some("application/x-www-form-urlencoded"), "name=x".into(), 415, "form body"),
                (json_ct, big.clone(), 413, "oversize body"),
            ];
            for (ct, body, status, what) in cases {
                let r = app.raw(method, &path, &admin.token, ct, body).await;
                assert_eq!(r.status.as_u16(), status, "{method} {path} with {what}: {}", r.text);
                r.problem(status);
            }
            let r = app.raw(method, &path, &admin.token, Some("application/json"), "{\"no_such_field\": 1}").await;
            assert!(r.fields().contains(&"no_such_field".to_owned()), "{method} {path}: unknown field named: {}", r.text);
        }
        assert_eq!(snapshot(&app).await, before, "a refused request stored something");
        // A JSON media type with parameters or a +json suffix is fine.
        let r = app.raw("POST", "/api/v1/projects", &admin.token, Some("application/json; charset=utf-8"), "{\"name\":\"ok\"}").await;
        r.expect(201);
    }

    async fn user_fields_are_validated(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = snapshot(&app).await;
        let good = json!({ "email": "ok@example.com", "display_name": "Ok", "password": "a-long-password-1", "role": "technical_lead" });
        let with = |field: &str, value: Value| {
            let mut v = good.clone();
            v[field] = value;
            v
        };
        let without = |field: &str| {
            let mut v = good.clone();
            v.as_object_mut().expect("obj").remove(field);
            v
        };
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (with("email", json!("not-an-email")), vec!["email"]),
            (with("email", json!("a b@example.com")), vec!["email"]),
            (with("email", json!(format!("{}@example.com", "a".repeat(250)))), vec!["email"]),
            (with("password", json!("short")), vec!["password"]),
            (with("password", json!("x".repeat(300))), vec!["password"]),
            (with("password", json!("ok@example.com")), vec!["password"]),
            (with("display_name", json!("   ")), vec!["display_name"]),
            (with("display_name", json!("x".repeat(101))), vec!["display_name"]),
            (with("display_name", json!("bell\u{7}")), vec!["display_name"]),
            (with("role", json!("wizard")), vec!["role"]),
            (with("role", json!(3)), vec!["role"]),
            (without("email"), vec!["email"]),
            (with("display_name", json!("line\nbreak")), vec!["display_name"]),
            (json!({ "email": "bad", "display_name": "", "password": "x", "role": "support_engineer" }), vec!["email", "display_name", "password"]),
        ];
        for (body, fields) in cases {
            let r = app.post("/api/v1/users", &admin.token, body.clone()).await;
            assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.text);
            invalid(&r, &fields);
        }
        assert_eq!(snapshot(&app).await, before);

        let tl = app.user(Role::TechnicalLead).await;
        let path = format!("/api/v1/users/{}", tl.id);
        for (body, fields) in [
            (json!({}), vec![""]),
            (json!({ "display_name": "" }), vec!["display_name"]),
            (json!({ "password": "short" }), vec!["password"]),
            (json!({ "active": "yes" }), vec!["active"]),
            (json!({ "role": "root" }), vec!["role"]),
        ] {
            let r = app.call("PATCH", &path, Some(&admin.token), Some(body)).await;
            invalid(&r, &fields);
        }
        let after = app.get(&path, &admin.token).await;
        assert_eq!(after.json["role"], "technical_lead");
        assert_eq!(after.json["active"], true);
        app.get("/api/v1/auth/me", &tl.token).await.expect(200);
    }

    async fn project_fields_are_validated(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = snapshot(&app).await;
        for (body, fields) in [
            (json!({ "name": "" }), vec!["name"]),
            (json!({ "name": "   " }), vec!["name"]),
            (json!({ "name": "x".repeat(201) }), vec!["name"]),
            (json!({ "name": "line\u{0}break" }), vec!["name"]),
            (json!({ "name": "ok", "description": "x".repeat(10_001) }), vec!["description"]),
            (json!({ "name": "ok", "owner_id": 0 }), vec!["owner_id"]),
            (json!({ "name": "ok", "owner_id": -5 }), vec!["owner_id"]),
            (json!({ "name": "ok", "owner_id": 987_654 }), vec!["owner_id"]),
            (json!({ "name": "ok", "owner_id": "1" }), vec!["owner_id"]),
            (json!({ "name": "ok", "owner_id": 1.5 }), vec!["owner_id"]),
            (json!({ "name": 7 }), vec!["name"]),
            (json!({ "description": "no name" }), vec!["name"]),
            (json!({ "name": "tab\there" }), vec!["name"]),
        ] {
            let r = app.post("/api/v1/projects", &admin.token, body).await;
            invalid(&r, &fields);
        }
        assert_eq!(snapshot(&app).await, before);

        let id = app.project("Keep", admin.id, &[]).await;
        let path = format!("/api/v1/projects/{id}");
        let tl = app.user(Role::TechnicalLead).await;
        app.call("DELETE", &format!("/api/v1/users/{}", tl.id), Some(&admin.token), None).await.expect(204);
        for (body, fields) in [
            (json!({}), vec![""]),
            (json!({ "name": "" }), vec!["name"]),
            (json!({ "owner_id": 0 }), vec!["owner_id"]),
            (json!({ "owner_id": tl.id }), vec!["owner_id"]),
            (json!({ "name": "New", "extra": true }), vec!["extra"]),
        ] {
            let r = app.call("PATCH", &path, Some(&admin.token), Some(body)).await;
            invalid(&r, &fields);
        }
        let after = app.get(&path, &admin.token).await;
        assert_eq!(after.json["name"], "Keep");
        assert_eq!(after.json["owner_id"], json!(admin.id));

        // Adding a deactivated user as a member.
        let r = app.call("PUT", &format!("{path}/members/{}", tl.id), Some(&admin.token), None).await;
        invalid(&r, &["user_id"]);
    }

    async fn service_account_and_key_fields_are_validated(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = snapshot(&app).await;
        for (body, fields) in [
            (json!({ "name": "", "role": "support_engineer" }), vec!["name"]),
            (json!({ "name": "bot", "role": "robot" }), vec!["role"]),
            (json!({ "name": "bot" }), vec!["role"]),
        ] {
            invalid(&app.post("/api/v1/service-accounts", &admin.token, body).await, &fields);
        }
        assert_eq!(snapshot(&app).await, before);

        let sa = app.post("/api/v1/service-accounts", &admin.token, json!({ "name": "bot", "role": "support_engineer" }))
            .await.json["id"].as_i64().expect("id");
        let keys = format!("/api/v1/service-accounts/{sa}/keys");
        let before = snapshot(&app).await;
        for (body, fields) in [
            (json!({ "name": "k", "scopes": [] }), vec!["scopes"]),
            (json!({ "name": "k", "scopes": ["projects:read", "fly"] }), vec!["scopes[1]"]),
            (json!({ "name": "k", "scopes": ["projects:create"] }), vec!["scopes[0]"]),
            (json!({ "name": "k", "scopes": ["projects:read"], "expires_in_days": 0 }), vec!["expires_in_days"]),
            (json!({ "name": "k", "scopes": ["projects:read"], "expires_in_days": 366 }), vec!["expires_in_days"]),
            (json!({ "name": "k", "scopes": ["projects:read"], "expires_in_days": -1 }), vec!["expires_in_days"]),
            (json!({ "name": "", "scopes": ["projects:read"] }), vec!["name"]),
            (json!({ "name": "k", "scopes": vec!["projects:read"; 33] }), vec!["scopes"]),
            (json!({ "name": "k", "scopes": "projects:read" }), vec!["scopes"]),
        ] {
            invalid(&app.post(&keys, &admin.token, body).await, &fields);
        }
        assert_eq!(snapshot(&app).await, before);
    }

    async fn auth_bodies_are_validated(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = snapshot(&app).await;
        for body in [json!({ "email": "", "password": "x" }), json!({ "email": "a@b.c", "password": "" }), json!({ "email": "a@b.c" })] {
            let r = app.call("POST", "/api/v1/auth/login", None, Some(body)).await;
            r.problem(422);
        }
        let r = app.call("POST", "/api/v1/auth/login", None, Some(json!({ "email": "a@b.c", "password": "x".repeat(300) }))).await;
        invalid(&r, &["password"]);
        let r = app.call("POST", "/api/v1/auth/refresh", None, Some(json!({ "refresh_token": "" }))).await;
        invalid(&r, &["refresh_token"]);
        let r = app.post("/api/v1/auth/password", &admin.token, json!({ "current_password": "admin-password-1234", "new_password": "short" })).await;
        invalid(&r, &["new_password"]);
        assert_eq!(snapshot(&app).await, before);
        app.login(agentic_tests::ADMIN_EMAIL, agentic_tests::ADMIN_PASSWORD).await;
    }

    async fn bad_path_and_query_parameters(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        for path in [
            "/api/v1/projects/abc".to_owned(),
            "/api/v1/projects/99999999999999999999".to_owned(),
            "/api/v1/projects/1.5".to_owned(),
            "/api/v1/users/%00".to_owned(),
            "/api/v1/service-accounts/x/keys".to_owned(),
        ] {
            let r = app.get(&path, &admin.token).await;
            assert_eq!(r.status.as_u16(), 400, "{path}: {}", r.text);
            r.problem(400);
        }
        let r = app.raw("POST", "/api/v1/projects", &admin.token, Some("application/json"),
            "{\"name\": \"ok\", \"owner_id\": 99999999999999999999}").await;
        invalid(&r, &["owner_id"]);
        for method in ["DELETE", "PUT"] {
            let r = app.call(method, &format!("/api/v1/projects/{project}/members/zz"), Some(&admin.token), None).await;
            assert_eq!(r.status.as_u16(), 400, "{method}: {}", r.text);
        }
        app.get("/api/v1/projects/-1", &admin.token).await.problem(404);
        for query in ["limit=abc", "limit=-1", "cursor=%%%", "unknown=1", "limit=1&limit=2"] {
            let r = app.get(&format!("/api/v1/projects?{query}"), &admin.token).await;
            assert!(r.status.is_client_error(), "?{query}: {}", r.text);
            r.problem(r.status.as_u16());
        }
        let r = app.get(&format!("/api/v1/projects?name={}", "x".repeat(201)), &admin.token).await;
        invalid(&r, &["name"]);
        let r = app.get(&format!("/api/v1/users?q={}", "x".repeat(101)), &admin.token).await;
        invalid(&r, &["q"]);
    }

    async fn analytics_windows_are_validated_field_by_field(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("P", admin.id, &[]).await;
        for base in [format!("/api/v1/projects/{project}/analytics/jobs"), "/api/v1/analytics/jobs".to_owned()] {
            let (app, token) = (&app, &admin.token);
            let get = |query: &str| {
                let path = format!("{base}?{query}");
                async move { app.get(&path, token).await }
            };
            invalid(&get("bucket=minute").await, &["bucket"]);
            invalid(&get("bucket=").await, &["bucket"]);
            invalid(&get("from=yesterday").await, &["from"]);
            invalid(&get("from=2026-01-01&to=2026-13-01T00:00:00Z").await, &["from", "to"]);
            invalid(&get("from=1969-12-31T00:00:00Z").await, &["from"]);
            invalid(&get("bucket=fortnight&to=soon").await, &["bucket", "to"]);
            // `from` must come before `to`.
            let r = get("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z").await;
            invalid(&r, &["from"]);
            assert!(r.json["detail"].as_str().unwrap_or("").contains("before"), "{}", r.text);
            // More than 1000 buckets: refused, and the detail says why.
            let r = get("from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=hour").await;
            invalid(&r, &["from"]);
            let detail = r.json["detail"].as_str().unwrap_or("");
            assert!(detail.contains("at most 1000") && detail.contains("hour"), "{detail}");
            // Exactly 1000 hourly buckets are fine.
            let r = get("from=2026-01-01T00:00:00Z&to=2026-02-11T16:00:00Z&bucket=hour").await;
            r.expect(200);
            assert_eq!(r.json["series"].as_array().map(Vec::len), Some(1000));
            // Unknown parameters are 400, as everywhere; an unknown section is 404.
            get("since=2026-01-01T00:00:00Z").await.problem(400);
        }
        app.get(&format!("/api/v1/projects/{project}/analytics/bogus"), &admin.token).await.problem(404);
        app.get("/api/v1/analytics/bogus", &admin.token).await.problem(404);
    }

    async fn regressions_found_by_the_input_review(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = snapshot(&app).await;
        // A JSON array must not be read as the object's fields in order.
        let r = app.call("POST", "/api/v1/auth/login", None,
            Some(json!([agentic_tests::ADMIN_EMAIL, agentic_tests::ADMIN_PASSWORD]))).await;
        invalid(&r, &[""]);
        let r = app.post("/api/v1/projects", &admin.token, json!(["P", "", 1])).await;
        invalid(&r, &[""]);
        // NUL cannot reach the database (PostgreSQL text refuses it: that was a 500).
        let r = app.call("POST", "/api/v1/auth/login", None,
            Some(json!({ "email": "admin\u{0}@test.example", "password": "x" }))).await;
        invalid(&r, &["email"]);
        // An escaped backslash before `u0000` is ordinary text, not NUL.
        let r = app.raw("POST", "/api/v1/projects", &admin.token, Some("application/json"),
            r#"{"name": "back\\u0000slash"}"#).await;
        r.expect(201);
        assert_eq!(r.json["name"], "back\\u0000slash");
        for query in ["/api/v1/projects?name=%00", "/api/v1/users?q=a%00b"] {
            app.get(query, &admin.token).await.problem(400);
        }
        // Duplicate fields are named.
        let r = app.raw("POST", "/api/v1/projects", &admin.token, Some("application/json"),
            r#"{"name": "a", "name": "b"}"#).await;
        invalid(&r, &["name"]);
        // A new password may not be the account's e-mail, on change as on creation.
        let tl = app.user(Role::TechnicalLead).await;
        let r = app.call("PATCH", &format!("/api/v1/users/{}", tl.id), Some(&admin.token),
            Some(json!({ "password": tl.email.to_uppercase() }))).await;
        invalid(&r, &["password"]);
        let r = app.post("/api/v1/auth/password", &admin.token,
            json!({ "current_password": agentic_tests::ADMIN_PASSWORD, "new_password": agentic_tests::ADMIN_EMAIL })).await;
        invalid(&r, &["new_password"]);
        let after = snapshot(&app).await;
        assert_eq!(after[1], before[1] + 1, "only the one valid project was stored");
    }
}
