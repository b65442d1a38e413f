//! The role × endpoint × object matrix (OWASP API1 BOLA / API5 BFLA).
//!
//! Every endpoint is called by each of the four roles; project endpoints on a project of the
//! caller's own and on one they do not belong to. The expected outcome is written out here by
//! hand (not derived from `rbac.rs`), so a change to the matrix in code must be made here too.
//! Refusals must be 403 (function level) or 404 (an object the caller may not see), and every
//! call without a credential must be 401.

use agentic_host::rbac::Role;
use agentic_tests::{hostile_manifest, hostile_wasm, stories, Form, Publisher, Reply, TestApp};
use axum::body::Body;
use axum::http::{header, Request};
use serde_json::{json, Value};

/// Who may call an endpoint: letters A (Administrator), P (Project Manager), T (Technical Lead),
/// S (Support Engineer).
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<fn(u32) -> Value>,
    /// Sent as a multipart document upload instead of JSON.
    form: bool,
    allowed: &'static str,
    project_scoped: bool,
}

const fn case(method: &'static str, path: &'static str, allowed: &'static str) -> Case {
    Case {
        method,
        path,
        body: None,
        form: false,
        allowed,
        project_scoped: false,
    }
}

fn cases() -> Vec<Case> {
    let with = |mut c: Case, body: fn(u32) -> Value| {
        c.body = Some(body);
        c
    };
    let scoped = |mut c: Case| {
        c.project_scoped = true;
        c
    };
    let upload = |mut c: Case| {
        c.form = true;
        c
    };
    vec![
        case("GET", "/api/v1/auth/me", "APTS"),
        case("GET", "/api/v1/auth/sessions", "APTS"),
        case("GET", "/api/v1/projects", "APTS"),
        with(
            case("POST", "/api/v1/projects", "AP"),
            |_| json!({ "name": "New" }),
        ),
        case("GET", "/api/v1/users", "AP"),
        with(case("POST", "/api/v1/users", "A"), |n| {
            json!({
                "email": format!("new{n}@test.example"), "display_name": "New", "password": "a-long-password-1", "role": "support_engineer"
            })
        }),
        case("GET", "/api/v1/users/{u}", "AP"),
        with(
            case("PATCH", "/api/v1/users/{u}", "A"),
            |_| json!({ "display_name": "Renamed" }),
        ),
        case("DELETE", "/api/v1/users/{u}", "A"),
        case("GET", "/api/v1/users/{u}/sessions", "A"),
        case("DELETE", "/api/v1/users/{u}/sessions", "A"),
        case("GET", "/api/v1/service-accounts", "A"),
        with(
            case("POST", "/api/v1/service-accounts", "A"),
            |_| json!({ "name": "ci", "role": "support_engineer" }),
        ),
        case("GET", "/api/v1/service-accounts/{sa}", "A"),
        case("DELETE", "/api/v1/service-accounts/{sa}", "A"),
        case("GET", "/api/v1/service-accounts/{sa}/keys", "A"),
        with(
            case("POST", "/api/v1/service-accounts/{sa}/keys", "A"),
            |_| json!({ "name": "k", "scopes": ["projects:read"] }),
        ),
        case("DELETE", "/api/v1/service-accounts/{sa}/keys/{key}", "A"),
        case("GET", "/api/v1/audit", "A"),
        case("GET", "/api/v1/backups", "A"),
        case("GET", "/api/v1/backups/status", "A"),
        case("GET", "/metrics", "AS"),
        scoped(case("GET", "/api/v1/projects/{p}", "APTS")),
        scoped(with(
            case("PATCH", "/api/v1/projects/{p}", "AP"),
            |_| json!({ "description": "changed" }),
        )),
        scoped(case("DELETE", "/api/v1/projects/{p}", "AP")),
        scoped(case("GET", "/api/v1/projects/{p}/members", "APTS")),
        scoped(case("PUT", "/api/v1/projects/{p}/members/{u}", "AP")),
        scoped(case("DELETE", "/api/v1/projects/{p}/members/{m}", "AP")),
        case("GET", "/api/v1/plugins", "APT"),
        case("GET", "/api/v1/plugins/hostile", "APT"),
        // `DELETE /api/v1/plugins/{id}` is in tests/plugins.rs: here every project has a
        // connection using the plugin, so uninstalling is a 409 for everyone.
        case("GET", "/api/v1/plugin-publishers", "A"),
        with(case("POST", "/api/v1/plugin-publishers", "A"), |n| {
            let key = Publisher::new().public_key();
            json!({ "name": format!("publisher {n}"), "public_key": key })
        }),
        scoped(case("GET", "/api/v1/projects/{p}/plugins", "APT")),
        scoped(case("PUT", "/api/v1/projects/{p}/plugins/hostile", "AP")),
        scoped(case("DELETE", "/api/v1/projects/{p}/plugins/hostile", "AP")),
        scoped(with(
            case(
                "POST",
                "/api/v1/projects/{p}/plugins/hostile/discover",
                "APT",
            ),
            |_| json!({ "config": {} }),
        )),
        scoped(case("GET", "/api/v1/projects/{p}/connections", "APTS")),
        scoped(with(
            case("POST", "/api/v1/projects/{p}/connections", "APT"),
            |n| {
                json!({
                    "plugin_id": "hostile", "name": format!("new {n}"),
                    "base_url": "https://svc.example.com/", "config": {},
                    "credential": { "kind": "anonymous" },
                })
            },
        )),
        scoped(case("GET", "/api/v1/projects/{p}/connections/{c}", "APTS")),
        scoped(with(
            case("PATCH", "/api/v1/projects/{p}/connections/{c}", "APT"),
            |_| json!({ "name": "renamed" }),
        )),
        scoped(case(
            "DELETE",
            "/api/v1/projects/{p}/connections/{c}",
            "APT",
        )),
        scoped(case(
            "POST",
            "/api/v1/projects/{p}/connections/{c}/check",
            "APT",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/connections/{c}/actions",
            "APTS",
        )),
        scoped(with(
            case("POST", "/api/v1/projects/{p}/connections/{c}/sync", "APT"),
            |_| json!({ "stream": "items" }),
        )),
        scoped(with(
            case(
                "PUT",
                "/api/v1/projects/{p}/connections/{c}/schedule",
                "APT",
            ),
            |_| json!({ "cron": "0 * * * *" }),
        )),
        scoped(case("GET", "/api/v1/projects/{p}/work-items", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/comments", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/requirements", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/trace-links", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/people", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/synced-documents", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/raw-records", "APTS")),
        case("GET", "/api/v1/jobs", "APTS"),
        scoped(case("GET", "/api/v1/projects/{p}/documents", "APTS")),
        scoped(upload(case(
            "POST",
            "/api/v1/projects/{p}/documents",
            "APT",
        ))),
        scoped(case("GET", "/api/v1/projects/{p}/documents/{d}", "APTS")),
        scoped(with(
            case("PATCH", "/api/v1/projects/{p}/documents/{d}", "APT"),
            |_| json!({ "title": "renamed" }),
        )),
        scoped(case("DELETE", "/api/v1/projects/{p}/documents/{d}", "APT")),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/documents/{d}/content",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/documents/{d}/versions",
            "APTS",
        )),
        scoped(upload(case(
            "POST",
            "/api/v1/projects/{p}/documents/{d}/versions",
            "APT",
        ))),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/documents/{d}/versions/1",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/documents/{d}/versions/1/content",
            "APTS",
        )),
        scoped(case("GET", "/api/v1/projects/{p}/web-tasks", "APTS")),
        scoped(with(
            case("POST", "/api/v1/projects/{p}/web-tasks", "APT"),
            |n| web_task_body(&format!("new task {n}")),
        )),
        scoped(case("GET", "/api/v1/projects/{p}/web-tasks/{w}", "APTS")),
        scoped(with(
            case("PATCH", "/api/v1/projects/{p}/web-tasks/{w}", "APT"),
            |_| json!({ "name": "renamed" }),
        )),
        scoped(case("DELETE", "/api/v1/projects/{p}/web-tasks/{w}", "APT")),
        scoped(case(
            "POST",
            "/api/v1/projects/{p}/web-tasks/{w}/run",
            "APT",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/web-tasks/{w}/runs",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/web-tasks/{w}/runs/{r}",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/web-tasks/{w}/schedule",
            "APTS",
        )),
        scoped(with(
            case("PUT", "/api/v1/projects/{p}/web-tasks/{w}/schedule", "APT"),
            |_| json!({ "cron": "0 * * * *" }),
        )),
        scoped(case(
            "DELETE",
            "/api/v1/projects/{p}/web-tasks/{w}/schedule",
            "APT",
        )),
        case("GET", "/api/v1/agent-kinds", "APTS"),
        scoped(case("GET", "/api/v1/projects/{p}/agents", "APTS")),
        scoped(with(
            case("POST", "/api/v1/projects/{p}/agents", "APT"),
            |n| json!({ "name": format!("agent {n}"), "kind": "web-monitor", "config": { "url": "https://svc.example.com/" } }),
        )),
        scoped(case("GET", "/api/v1/projects/{p}/agents/{a}", "APTS")),
        scoped(with(
            case("PATCH", "/api/v1/projects/{p}/agents/{a}", "APT"),
            |_| json!({ "name": "renamed" }),
        )),
        scoped(case("DELETE", "/api/v1/projects/{p}/agents/{a}", "APT")),
        scoped(case(
            "POST",
            "/api/v1/projects/{p}/agents/{a}/deploy",
            "APT",
        )),
        // `{ad}` is an agent whose deploy was requested, so it can be stopped.
        scoped(case("POST", "/api/v1/projects/{p}/agents/{ad}/stop", "APT")),
        scoped(case("POST", "/api/v1/projects/{p}/agents/{a}/token", "APT")),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/agents/{a}/status",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/agents/{a}/metrics",
            "APTS",
        )),
        scoped(case("GET", "/api/v1/projects/{p}/agents/{a}/runs", "APTS")),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/agents/{a}/events",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/analytics/work-items",
            "APTS",
        )),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/analytics/documents",
            "APTS",
        )),
        scoped(case("GET", "/api/v1/projects/{p}/analytics/syncs", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/analytics/jobs", "APTS")),
        scoped(case("GET", "/api/v1/projects/{p}/analytics/agents", "APTS")),
        scoped(case(
            "GET",
            "/api/v1/projects/{p}/analytics/api-usage",
            "APTS",
        )),
        case("GET", "/api/v1/analytics/work-items", "A"),
        case("GET", "/api/v1/analytics/documents", "A"),
        case("GET", "/api/v1/analytics/syncs", "A"),
        case("GET", "/api/v1/analytics/jobs", "A"),
        case("GET", "/api/v1/analytics/agents", "A"),
        case("GET", "/api/v1/analytics/api-usage", "A"),
    ]
}

/// A valid web task (never run here: no worker).
fn web_task_body(name: &str) -> Value {
    json!({
        "name": name, "target_url": "https://shop.example.com/", "allowed_hosts": ["shop.example.com"],
        "steps": [{ "type": "navigate", "url": "/" }, { "type": "extract", "selector": "h1", "name": "title" }],
    })
}

/// A web task in `project` with a schedule and one (queued) run: `(task id, run id)`.
async fn web_task(app: &TestApp, admin: &str, project: i64) -> (i64, i64) {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/web-tasks"),
            admin,
            web_task_body("fixture"),
        )
        .await;
    r.expect(201);
    let id = r.json["id"].as_i64().expect("task id");
    app.call(
        "PUT",
        &format!("/api/v1/projects/{project}/web-tasks/{id}/schedule"),
        Some(admin),
        Some(json!({ "cron": "0 0 * * *" })),
    )
    .await
    .expect(200);
    let run = app
        .post(
            &format!("/api/v1/projects/{project}/web-tasks/{id}/run"),
            admin,
            json!({}),
        )
        .await;
    run.expect(202);
    (id, run.json["run"]["id"].as_i64().expect("run id"))
}

/// A draft agent in `project`, created by the administrator; with `deploy`, its deploy is
/// requested (no worker runs here, so it stays `deploying`). Returns its id.
async fn agent(app: &TestApp, admin: &str, project: i64, deploy: bool) -> i64 {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/agents"),
            admin,
            json!({ "name": format!("fixture {deploy}"), "kind": "external", "config": {} }),
        )
        .await;
    r.expect(201);
    let id = r.json["id"].as_i64().expect("agent id");
    if deploy {
        app.call(
            "POST",
            &format!("/api/v1/projects/{project}/agents/{id}/deploy"),
            Some(admin),
            None,
        )
        .await
        .expect(202);
    }
    id
}

/// The hostile plugin, signed by a publisher the test trusts, as installed by [`PluginFixture::ensure`].
struct PluginFixture {
    publisher: Publisher,
}

impl PluginFixture {
    async fn new(app: &TestApp, admin: &str) -> Self {
        Self {
            publisher: app.trust_publisher(admin, "matrix").await,
        }
    }

    /// Installs the plugin if needed, enables it in `project` and gives the project a connection
    /// using it; returns the connection's id.
    async fn ensure(&self, app: &TestApp, admin: &str, project: i64) -> i64 {
        if app
            .get("/api/v1/plugins/hostile", admin)
            .await
            .status
            .as_u16()
            == 404
        {
            self.publisher
                .install(app, admin, &hostile_manifest(1), &hostile_wasm(1))
                .await;
        }
        app.enable_plugin(admin, project, "hostile").await;
        let c = app
            .post(
                &format!("/api/v1/projects/{project}/connections"),
                admin,
                json!({
                    "plugin_id": "hostile", "name": "fixture", "base_url": "https://svc.example.com/",
                    "config": {}, "credential": { "kind": "anonymous" },
                }),
            )
            .await;
        c.expect(201);
        c.json["id"].as_i64().expect("connection id")
    }
}

fn letter(role: Role) -> char {
    match role {
        Role::Administrator => 'A',
        Role::ProjectManager => 'P',
        Role::TechnicalLead => 'T',
        Role::SupportEngineer => 'S',
    }
}

/// Fresh objects for one call, so destructive calls never affect another case.
struct Fixture {
    user: i64,
    member: i64,
    sa: i64,
    key: i64,
}

async fn fixture(app: &TestApp, admin: &str, n: u32) -> Fixture {
    let u = app.post("/api/v1/users", admin, json!({
        "email": format!("victim{n}@test.example"), "display_name": "Victim", "password": "a-long-password-1", "role": "support_engineer"
    })).await;
    u.expect(201);
    let m = app.post("/api/v1/users", admin, json!({
        "email": format!("member{n}@test.example"), "display_name": "Member", "password": "a-long-password-1", "role": "support_engineer"
    })).await;
    m.expect(201);
    let sa = app
        .post(
            "/api/v1/service-accounts",
            admin,
            json!({ "name": "robot", "role": "support_engineer" }),
        )
        .await;
    sa.expect(201);
    let sa_id = sa.json["id"].as_i64().expect("sa");
    let key = app
        .post(
            &format!("/api/v1/service-accounts/{sa_id}/keys"),
            admin,
            json!({ "name": "k", "scopes": ["projects:read"] }),
        )
        .await;
    key.expect(201);
    Fixture {
        user: u.json["id"].as_i64().expect("u"),
        member: m.json["id"].as_i64().expect("m"),
        sa: sa_id,
        key: key.json["id"].as_i64().expect("key"),
    }
}

/// A small text file as an upload form.
fn document_form(n: u32) -> Form {
    Form::new().file(
        "file",
        &format!("doc{n}.txt"),
        "text/plain",
        format!("document {n}").as_bytes(),
    )
}

/// A document in `project`, uploaded by the administrator; returns its id.
async fn document(app: &TestApp, admin: &str, project: i64, n: u32) -> i64 {
    let r = app
        .upload(
            "POST",
            &format!("/api/v1/projects/{project}/documents"),
            admin,
            document_form(n),
        )
        .await;
    r.expect(201);
    r.json["id"].as_i64().expect("document id")
}

/// Calls `case` at `path` as `token` (none: unauthenticated), with its JSON or multipart body.
async fn send(app: &TestApp, case: &Case, path: &str, token: Option<&str>, n: u32) -> Reply {
    if !case.form {
        return app
            .call(case.method, path, token, case.body.map(|b| b(n)))
            .await;
    }
    let mut req = Request::builder()
        .method(case.method)
        .uri(path)
        .header(header::CONTENT_TYPE, Form::content_type());
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    app.send(
        req.body(Body::from(document_form(n).finish()))
            .expect("request"),
    )
    .await
}

/// A project owned by `owner`, with `members` (besides the owner).
async fn project(app: &TestApp, admin: &str, owner: i64, members: &[i64]) -> i64 {
    let r = app
        .post(
            "/api/v1/projects",
            admin,
            json!({ "name": "Matrix", "owner_id": owner }),
        )
        .await;
    r.expect(201);
    let id = r.json["id"].as_i64().expect("id");
    for m in members {
        let r = app
            .call(
                "PUT",
                &format!("/api/v1/projects/{id}/members/{m}"),
                Some(admin),
                None,
            )
            .await;
        assert!(r.status.is_success(), "add member: {}", r.text);
    }
    id
}

stories! {
    async fn every_role_on_every_endpoint_and_object(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let mut callers = vec![admin.clone()];
        for role in [Role::ProjectManager, Role::TechnicalLead, Role::SupportEngineer] {
            callers.push(app.user(role).await);
        }
        let plugin = PluginFixture::new(&app, &admin.token).await;
        let mut n = 0u32;
        let mut checked = 0;
        for case in cases() {
            for caller in &callers {
                let objects: &[bool] = if case.project_scoped { &[true, false] } else { &[true] };
                for &own in objects {
                    n += 1;
                    let f = fixture(&app, &admin.token, n).await;
                    // The caller's project is owned by the caller; the other one by a stranger.
                    let p = if own {
                        project(&app, &admin.token, caller.id, &[f.member]).await
                    } else {
                        project(&app, &admin.token, f.user, &[f.member]).await
                    };
                    let c = plugin.ensure(&app, &admin.token, p).await;
                    let d = document(&app, &admin.token, p, n).await;
                    let (w, run) = web_task(&app, &admin.token, p).await;
                    let a = if case.path.contains("{a}") { agent(&app, &admin.token, p, false).await } else { 0 };
                    let ad = if case.path.contains("{ad}") { agent(&app, &admin.token, p, true).await } else { 0 };
                    let path = case.path
                        .replace("{ad}", &ad.to_string())
                        .replace("{a}", &a.to_string())
                        .replace("{p}", &p.to_string())
                        .replace("{u}", &f.user.to_string())
                        .replace("{m}", &f.member.to_string())
                        .replace("{sa}", &f.sa.to_string())
                        .replace("{key}", &f.key.to_string())
                        .replace("{c}", &c.to_string())
                        .replace("{d}", &d.to_string())
                        .replace("{w}", &w.to_string())
                        .replace("{r}", &run.to_string());
                    let r = send(&app, &case, &path, Some(&caller.token), n).await;
                    let may = case.allowed.contains(letter(caller.role))
                        && (own || caller.role == Role::Administrator || !case.project_scoped);
                    let what = format!("{} {} as {:?} on {} project", case.method, case.path, caller.role,
                        if own { "own" } else { "other" });
                    if may {
                        assert!(r.status.is_success(), "{what}: expected success, got {} {}", r.status, r.text);
                    } else {
                        let expected = if case.project_scoped && !own { 404 } else { 403 };
                        assert_eq!(r.status.as_u16(), expected, "{what}: {}", r.text);
                        r.problem(expected);
                    }
                    // No credential at all: always 401.
                    let anon = send(&app, &case, &path, None, n).await;
                    assert_eq!(anon.status.as_u16(), 401, "{what} without a token: {}", anon.text);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, cases().iter().map(|c| if c.project_scoped { 8 } else { 4 }).sum::<usize>());
    }

    async fn refused_calls_change_nothing(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let pm = app.user(Role::ProjectManager).await;
        let other = project(&app, &admin.token, admin.id, &[]).await;
        let own = project(&app, &admin.token, pm.id, &[tl.id]).await;

        let se = app.user(Role::SupportEngineer).await;
        let added = app.call("PUT", &format!("/api/v1/projects/{own}/members/{}", se.id), Some(&admin.token), None).await;
        assert!(added.status.is_success(), "{}", added.text);
        let theirs = document(&app, &admin.token, other, 1).await;
        let ours = document(&app, &admin.token, own, 2).await;
        let docs_before = (app.count("documents").await, app.count("document_versions").await);
        let before = (app.count("projects").await, app.count("project_members").await, app.count("users").await);
        app.call("PATCH", &format!("/api/v1/projects/{other}"), Some(&pm.token), Some(json!({ "name": "pwned" }))).await.problem(404);
        app.call("DELETE", &format!("/api/v1/projects/{other}"), Some(&pm.token), None).await.problem(404);
        app.call("PUT", &format!("/api/v1/projects/{other}/members/{}", pm.id), Some(&pm.token), None).await.problem(404);
        app.call("DELETE", &format!("/api/v1/projects/{own}"), Some(&tl.token), None).await.problem(403);
        app.call("PUT", &format!("/api/v1/projects/{own}/members/{}", admin.id), Some(&tl.token), None).await.problem(403);
        app.call("PATCH", &format!("/api/v1/users/{}", tl.id), Some(&pm.token), Some(json!({ "role": "administrator" }))).await.problem(403);
        app.call("PATCH", &format!("/api/v1/users/{}", tl.id), Some(&tl.token), Some(json!({ "role": "administrator" }))).await.problem(403);
        // Documents: another project's through the path is 404, a reader's write is 403.
        app.call("PATCH", &format!("/api/v1/projects/{own}/documents/{theirs}"), Some(&pm.token), Some(json!({ "title": "pwned" }))).await.problem(404);
        app.call("DELETE", &format!("/api/v1/projects/{own}/documents/{theirs}"), Some(&tl.token), None).await.problem(404);
        app.upload("POST", &format!("/api/v1/projects/{own}/documents/{theirs}/versions"), &tl.token, document_form(3)).await.problem(404);
        app.call("DELETE", &format!("/api/v1/projects/{own}/documents/{ours}"), Some(&se.token), None).await.problem(403);
        app.upload("POST", &format!("/api/v1/projects/{own}/documents"), &se.token, document_form(4)).await.problem(403);
        app.upload("POST", &format!("/api/v1/projects/{other}/documents"), &tl.token, document_form(5)).await.problem(404);
        assert_eq!((app.count("documents").await, app.count("document_versions").await), docs_before);
        // Web tasks: another project's through the path is 404, a reader's write is 403.
        let (their_task, _) = web_task(&app, &admin.token, other).await;
        let (our_task, _) = web_task(&app, &admin.token, own).await;
        let tasks_before = (app.count("web_tasks").await, app.count("web_task_runs").await, app.count("jobs").await);
        app.call("PATCH", &format!("/api/v1/projects/{own}/web-tasks/{their_task}"), Some(&pm.token), Some(json!({ "name": "pwned" }))).await.problem(404);
        app.post(&format!("/api/v1/projects/{own}/web-tasks/{their_task}/run"), &tl.token, json!({})).await.problem(404);
        app.post(&format!("/api/v1/projects/{other}/web-tasks"), &pm.token, web_task_body("pwned")).await.problem(404);
        app.post(&format!("/api/v1/projects/{own}/web-tasks/{our_task}/run"), &se.token, json!({})).await.problem(403);
        app.call("DELETE", &format!("/api/v1/projects/{own}/web-tasks/{our_task}"), Some(&se.token), None).await.problem(403);
        app.call("PATCH", &format!("/api/v1/projects/{own}/web-tasks/{our_task}"), Some(&tl.token), Some(json!({ "allow_private_network": true }))).await.problem(403);
        assert_eq!((app.count("web_tasks").await, app.count("web_task_runs").await, app.count("jobs").await), tasks_before);
        let after = (app.count("projects").await, app.count("project_members").await, app.count("users").await);
        assert_eq!(before, after);
        let p = app.get(&format!("/api/v1/projects/{other}"), &admin.token).await;
        assert_eq!(p.json["name"], "Matrix");
        let me = app.get("/api/v1/auth/me", &tl.token).await;
        assert_eq!(me.json["user"]["role"], "technical_lead");
    }
}
