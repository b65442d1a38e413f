//! Input validation of every write endpoint, one story per endpoint group.
//!
//! Each bad input — broken envelope (malformed or empty JSON, a non-object document, an unknown
//! field, wrong or missing `Content-Type`, an oversize body), a bad field (wrong type, missing,
//! too long, blank, control characters, bad e-mail, weak password, unknown role or scope, a scope
//! the role does not grant, out-of-range numbers, ids of nobody) or a bad path id — gets the
//! expected 4xx RFC 9457 problem, never a 5xx; validation problems name the offending field in
//! `errors[].field`; and nothing is stored: row counts are compared around every batch, and an
//! object a refused `PATCH` aimed at reads back unchanged. Every request is made as the first
//! Administrator so that a refusal is due to the input, never to permissions; every story ends
//! with the good request succeeding, so the refusals were not for some other reason.
//!
//! The endpoint groups' stories are in `validation_accounts` (sessions, users, service accounts,
//! API keys) and `validation_projects`; this module holds the checks they share and the rules
//! that hold across endpoints (missing and repeated fields named, single-line names, NUL
//! characters, a JSON array for an object).

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// The default request body limit of the host.
const ONE_MIB: usize = 1024 * 1024;

/// The tables a write endpoint of this API can add rows to.
pub(crate) const STORED: [&str; 4] = ["users", "projects", "api_keys", "project_members"];

/// [`STORED`] and the tables a login or refresh adds rows to.
pub(crate) const STORED_WITH_SESSIONS: [&str; 6] = [
    "users",
    "projects",
    "api_keys",
    "project_members",
    "sessions",
    "refresh_tokens",
];

/// Sends `body` as `application/json`, authenticated as `token`.
pub(crate) async fn send_json(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> Reply {
    app.call(method, path, Some(token), Some(body.clone()))
        .await
}

/// Row counts of `tables`, named, so a difference shows which table grew.
pub(crate) async fn counts(app: &TestApp, tables: &[&'static str]) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in tables {
        out.push((*table, app.count(table).await));
    }
    out
}

/// At most 120 characters of `text`, for failure messages about very long bodies.
pub(crate) fn short(text: &str) -> String {
    if text.chars().count() <= 120 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(120).collect::<String>())
    }
}

/// Asserts that `r` refused the request with a `status` problem: never a 5xx, never a success.
#[track_caller]
pub(crate) fn refused(r: &Reply, status: u16, what: &str) {
    assert!(
        !r.status.is_server_error(),
        "{what}: server error {}: {}",
        r.status,
        r.text
    );
    assert!(
        !r.status.is_success(),
        "{what}: accepted with {}: {}",
        r.status,
        short(&r.text)
    );
    assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
    r.problem(status);
}

/// Asserts a 422 validation problem naming exactly `fields` (in any order).
#[track_caller]
pub(crate) fn invalid(r: &Reply, fields: &[&str], what: &str) {
    refused(r, 422, what);
    let mut got = r.fields();
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{what}: fields named: {}", r.text);
}

/// `good` with `field` set to `value`.
pub(crate) fn with(good: &Value, field: &str, value: Value) -> Value {
    let mut v = good.clone();
    v[field] = value;
    v
}

/// `good` without `field`.
fn without(good: &Value, field: &str) -> Value {
    let mut v = good.clone();
    v.as_object_mut().expect("object").remove(field);
    v
}

/// Sends each JSON body of `cases` and expects a validation problem naming its fields.
pub(crate) async fn expect_invalid(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    cases: Vec<(Value, Vec<&str>)>,
) {
    for (body, fields) in cases {
        let r = send_json(app, method, path, token, &body).await;
        invalid(
            &r,
            &fields,
            &format!("{method} {path} {}", short(&body.to_string())),
        );
    }
}

/// What a refused request must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// A problem with this status.
    Status(u16),
    /// A 422 validation problem naming exactly these fields.
    Invalid(&'static [&'static str]),
}

/// Broken envelopes around `good`, the body that would succeed: each gets its problem.
pub(crate) async fn expect_bad_envelopes_refused(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    good: &Value,
) {
    use Want::{Invalid, Status};
    let text = good.to_string();
    let unknown = with(good, "no_such_field", json!(1)).to_string();
    // Whitespace after the document is valid JSON: only the size is wrong.
    let oversize = format!("{text}{}", " ".repeat(ONE_MIB));
    let json_cases = [
        (
            "truncated JSON",
            text[..text.len() - 1].to_owned(),
            Status(400),
        ),
        ("not JSON", "name=x".to_owned(), Status(400)),
        ("single-quoted JSON", text.replace('"', "'"), Status(400)),
        ("empty body", String::new(), Status(400)),
        ("whitespace-only body", " \r\n\t ".to_owned(), Status(400)),
        ("trailing characters", format!("{text} x"), Status(400)),
        ("two documents", format!("{text}{text}"), Status(400)),
        ("empty JSON array", "[]".to_owned(), Invalid(&[""])),
        ("JSON null", "null".to_owned(), Invalid(&[""])),
        ("JSON string", "\"text\"".to_owned(), Invalid(&[""])),
        ("JSON number", "42".to_owned(), Invalid(&[""])),
        ("unknown field", unknown, Invalid(&["no_such_field"])),
        ("body over 1 MiB", oversize, Status(413)),
    ];
    let mut cases: Vec<(&str, Option<&str>, String, Want)> = json_cases
        .into_iter()
        .map(|(what, body, want)| (what, Some("application/json"), body, want))
        .collect();
    // A good body under another media type.
    for ct in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
    ] {
        cases.push(("wrong Content-Type", ct, text.clone(), Status(415)));
    }
    for (what, ct, body, want) in cases {
        let r = app.raw(method, path, token, ct, body).await;
        let what = format!("{method} {path} with {what} ({ct:?})");
        match want {
            Status(status) => refused(&r, status, &what),
            Invalid(fields) => invalid(&r, fields, &what),
        }
    }
}

/// Non-numeric and overflowing ids: 400. Each `{}` in `template` is replaced by the bad id.
pub(crate) async fn expect_bad_ids_refused(
    app: &TestApp,
    method: &str,
    template: &str,
    token: &str,
    body: Option<&Value>,
) {
    for id in [
        "abc",
        "99999999999999999999",
        "-99999999999999999999",
        "1.5",
        "1e3",
        "0x10",
        "%20",
        "1%00",
    ] {
        let path = template.replace("{}", id);
        let r = app.call(method, &path, Some(token), body.cloned()).await;
        refused(&r, 400, &format!("{method} {path}"));
    }
}

/// Well-formed ids of nothing: 404. Each `{}` in `template` is replaced by the id.
pub(crate) async fn expect_unknown_ids_not_found(
    app: &TestApp,
    method: &str,
    template: &str,
    token: &str,
    body: Option<&Value>,
    extra: &[i64],
) {
    let mut ids = vec![0, -1, 999_999, i64::MAX];
    ids.extend_from_slice(extra);
    for id in ids {
        let path = template.replace("{}", &id.to_string());
        let r = app.call(method, &path, Some(token), body.cloned()).await;
        refused(&r, 404, &format!("{method} {path}"));
    }
}

/// Creates a service account with `role` as the administrator; its id.
pub(crate) async fn service_account(app: &TestApp, token: &str, name: &str, role: Role) -> i64 {
    let r = app
        .post(
            "/api/v1/service-accounts",
            token,
            json!({ "name": name, "role": role }),
        )
        .await;
    r.expect(201);
    r.json["id"].as_i64().expect("service account id")
}

/// Deactivates a person's account as the administrator.
pub(crate) async fn deactivate(app: &TestApp, token: &str, user: i64) {
    app.call(
        "DELETE",
        &format!("/api/v1/users/{user}"),
        Some(token),
        None,
    )
    .await
    .expect(204);
}

stories! {
    async fn a_missing_or_repeated_field_is_named(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let sa = service_account(&app, &admin.token, "bot", Role::SupportEngineer).await;
        let before = counts(&app, &STORED_WITH_SESSIONS).await;
        let endpoints = [
            ("/api/v1/auth/login".to_owned(), json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }), vec!["email", "password"]),
            ("/api/v1/auth/refresh".to_owned(), json!({ "refresh_token": admin.refresh }), vec!["refresh_token"]),
            ("/api/v1/auth/password".to_owned(), json!({ "current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-password-1" }),
                vec!["current_password", "new_password"]),
            ("/api/v1/users".to_owned(), json!({ "email": "n@example.com", "display_name": "N", "password": "a-long-password-1", "role": "technical_lead" }),
                vec!["email", "display_name", "password", "role"]),
            ("/api/v1/service-accounts".to_owned(), json!({ "name": "bot2", "role": "support_engineer" }), vec!["name", "role"]),
            (format!("/api/v1/service-accounts/{sa}/keys"), json!({ "name": "k", "scopes": ["projects:read"] }), vec!["name", "scopes"]),
            ("/api/v1/projects".to_owned(), json!({ "name": "P" }), vec!["name"]),
        ];
        let mut unnamed = Vec::new();
        for (path, good, required) in endpoints {
            for field in required {
                let r = send_json(&app, "POST", &path, &admin.token, &without(&good, field)).await;
                refused(&r, 422, &format!("POST {path} without {field}"));
                if r.fields() != [field] {
                    unnamed.push(format!("POST {path} without `{field}` named {:?}: {}", r.fields(), r.text));
                }
                // The field twice: which value would count is ambiguous, so it is refused.
                let text = good.to_string();
                let value = good[field].to_string();
                let twice = format!("{{\"{field}\": {value}, {}", &text[1..]);
                let r = app.raw("POST", &path, &admin.token, Some("application/json"), twice.clone()).await;
                refused(&r, 422, &format!("POST {path} {twice}"));
                if r.fields() != [field] {
                    unnamed.push(format!("POST {path} {twice} named {:?}: {}", r.fields(), r.text));
                }
            }
        }
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a refused request stored something");
        assert!(unnamed.is_empty(), "missing or repeated fields not named in errors[].field:\n{}", unnamed.join("\n"));
    }

    async fn names_are_single_line(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let sa = service_account(&app, &admin.token, "bot", Role::SupportEngineer).await;
        let project = app.project("Keep", admin.id, &[]).await;
        let before = counts(&app, &STORED).await;
        let user_before = app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json;
        let project_before = app.get(&format!("/api/v1/projects/{project}"), &admin.token).await.json;
        let mut accepted = Vec::new();
        for (n, bad) in ["line\nbreak", "tab\there", "cr lf\r\nbreak"].into_iter().enumerate() {
            let requests = [
                ("POST", "/api/v1/users".to_owned(), json!({ "email": format!("n{n}@example.com"), "display_name": bad, "password": "a-long-password-1", "role": "technical_lead" }), "display_name"),
                ("PATCH", format!("/api/v1/users/{}", tl.id), json!({ "display_name": bad }), "display_name"),
                ("POST", "/api/v1/service-accounts".to_owned(), json!({ "name": bad, "role": "support_engineer" }), "name"),
                ("POST", format!("/api/v1/service-accounts/{sa}/keys"), json!({ "name": bad, "scopes": ["projects:read"] }), "name"),
                ("POST", "/api/v1/projects".to_owned(), json!({ "name": bad }), "name"),
                ("PATCH", format!("/api/v1/projects/{project}"), json!({ "name": bad }), "name"),
            ];
            for (method, path, body, field) in requests {
                let r = send_json(&app, method, &path, &admin.token, &body).await;
                assert!(!r.status.is_server_error(), "{method} {path} {body}: {}", r.text);
                if r.status.as_u16() != 422 || r.fields() != [field] {
                    accepted.push(format!("{method} {path} {body} -> {} {}", r.status.as_u16(), short(&r.text)));
                }
            }
        }
        // A description is multi-line text.
        let r = app.call("PATCH", &format!("/api/v1/projects/{project}"), Some(&admin.token),
            Some(json!({ "description": "line one\n\tline two" }))).await;
        r.expect(200);
        assert!(accepted.is_empty(), "control characters accepted in a name:\n{}", accepted.join("\n"));
        assert_eq!(counts(&app, &STORED).await, before, "a refused request stored something");
        assert_eq!(app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json, user_before);
        let project_after = app.get(&format!("/api/v1/projects/{project}"), &admin.token).await.json;
        assert_eq!(project_after["name"], project_before["name"]);
    }

    async fn nul_characters_are_refused_before_the_database(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let before = counts(&app, &STORED_WITH_SESSIONS).await;
        let requests = [
            ("/api/v1/auth/login", json!({ "email": "admin\u{0}@test.example", "password": ADMIN_PASSWORD })),
            ("/api/v1/auth/login", json!({ "email": ADMIN_EMAIL, "password": "admin-password\u{0}1234" })),
            ("/api/v1/auth/refresh", json!({ "refresh_token": "art_\u{0}" })),
            ("/api/v1/auth/password", json!({ "current_password": "nul\u{0}", "new_password": "a-brand-new-password-1" })),
        ];
        let mut failures = Vec::new();
        for (path, body) in requests {
            let r = send_json(&app, "POST", path, &admin.token, &body).await;
            if !r.status.is_client_error() {
                failures.push(format!("POST {path} {body} -> {} {}", r.status.as_u16(), r.text));
            } else {
                r.problem(r.status.as_u16());
            }
        }
        assert!(failures.is_empty(), "NUL characters not refused with a 4xx:\n{}", failures.join("\n"));
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a refused request stored something");
    }

    async fn a_json_array_is_not_an_object(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let sa = service_account(&app, &admin.token, "bot", Role::SupportEngineer).await;
        let project = app.project("Keep", admin.id, &[]).await;
        let user_before = app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json;
        let project_before = app.get(&format!("/api/v1/projects/{project}"), &admin.token).await.json;
        let before = counts(&app, &STORED_WITH_SESSIONS).await;
        // Each good body, and the same values as an array in the order of the body's fields.
        let endpoints = [
            ("POST", "/api/v1/auth/login".to_owned(),
                json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }), json!([ADMIN_EMAIL, ADMIN_PASSWORD])),
            ("POST", "/api/v1/auth/refresh".to_owned(),
                json!({ "refresh_token": admin.refresh }), json!([admin.refresh])),
            ("POST", "/api/v1/users".to_owned(),
                json!({ "email": "n@example.com", "display_name": "N", "password": "a-long-password-1", "role": "technical_lead" }),
                json!(["n@example.com", "N", "a-long-password-1", "technical_lead"])),
            ("PATCH", format!("/api/v1/users/{}", tl.id),
                json!({ "display_name": "Renamed" }), json!(["Renamed", null, null, null])),
            ("POST", "/api/v1/service-accounts".to_owned(),
                json!({ "name": "bot2", "role": "support_engineer" }), json!(["bot2", "support_engineer"])),
            ("POST", format!("/api/v1/service-accounts/{sa}/keys"),
                json!({ "name": "k", "scopes": ["projects:read"], "expires_in_days": 30 }), json!(["k", ["projects:read"], 30])),
            ("POST", "/api/v1/projects".to_owned(),
                json!({ "name": "P", "description": "", "owner_id": admin.id }), json!(["P", "", admin.id])),
            ("PATCH", format!("/api/v1/projects/{project}"),
                json!({ "name": "Renamed" }), json!(["Renamed", null, null])),
            // Last: it ends the other sessions of the administrator when it succeeds.
            ("POST", "/api/v1/auth/password".to_owned(),
                json!({ "current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-password-1" }),
                json!([ADMIN_PASSWORD, "a-brand-new-password-1"])),
        ];
        let mut wrong = Vec::new();
        for (method, path, good, positional) in endpoints {
            for body in [json!([good]), positional] {
                let r = send_json(&app, method, &path, &admin.token, &body).await;
                assert!(!r.status.is_server_error(), "{method} {path} {body}: {}", r.text);
                if r.status.as_u16() != 422 || r.fields() != [""] {
                    wrong.push(format!("{method} {path} {body} -> {} {}", r.status.as_u16(), short(&r.text)));
                } else {
                    r.problem(422);
                }
            }
        }
        assert!(wrong.is_empty(), "a JSON array instead of an object was not refused as a whole-body 422:\n{}", wrong.join("\n"));
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a JSON array stored something");
        assert_eq!(app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json, user_before);
        assert_eq!(app.get(&format!("/api/v1/projects/{project}"), &admin.token).await.json, project_before);
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
}
