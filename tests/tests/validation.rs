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

use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD};
use serde_json::{json, Value};

/// The default request body limit of the host.
const ONE_MIB: usize = 1024 * 1024;

/// The tables a write endpoint of this API can add rows to.
const STORED: [&str; 4] = ["users", "projects", "api_keys", "project_members"];

/// [`STORED`] and the tables a login or refresh adds rows to.
const STORED_WITH_SESSIONS: [&str; 6] = [
    "users",
    "projects",
    "api_keys",
    "project_members",
    "sessions",
    "refresh_tokens",
];

/// Sends `body` as `application/json`, authenticated as `token`.
async fn send_json(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) -> Reply {
    app.call(method, path, Some(token), Some(body.clone()))
        .await
}

/// Row counts of `tables`, named, so a difference shows which table grew.
async fn counts(app: &TestApp, tables: &[&'static str]) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in tables {
        out.push((*table, app.count(table).await));
    }
    out
}

/// At most 120 characters of `text`, for failure messages about very long bodies.
fn short(text: &str) -> String {
    if text.chars().count() <= 120 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(120).collect::<String>())
    }
}

/// Asserts that `r` refused the request with a `status` problem: never a 5xx, never a success.
#[track_caller]
fn refused(r: &Reply, status: u16, what: &str) {
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
fn invalid(r: &Reply, fields: &[&str], what: &str) {
    refused(r, 422, what);
    let mut got = r.fields();
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{what}: fields named: {}", r.text);
}

/// `good` with `field` set to `value`.
fn with(good: &Value, field: &str, value: Value) -> Value {
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
async fn expect_invalid(
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
async fn expect_bad_envelopes_refused(
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
async fn expect_bad_ids_refused(
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
async fn expect_unknown_ids_not_found(
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
async fn service_account(app: &TestApp, token: &str, name: &str, role: Role) -> i64 {
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
async fn deactivate(app: &TestApp, token: &str, user: i64) {
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
    async fn login_refuses_bad_input_and_opens_no_session(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let path = "/api/v1/auth/login";
        let good = json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
        let before = counts(&app, &STORED_WITH_SESSIONS).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        expect_invalid(&app, "POST", path, &admin.token, vec![
            (with(&good, "email", json!("")), vec!["email"]),
            (with(&good, "email", json!(format!("{}@test.example", "a".repeat(250)))), vec!["email"]),
            (with(&good, "email", json!(5)), vec!["email"]),
            (with(&good, "email", json!(null)), vec!["email"]),
            (with(&good, "email", json!([ADMIN_EMAIL])), vec!["email"]),
            (with(&good, "password", json!("")), vec!["password"]),
            (with(&good, "password", json!("x".repeat(257))), vec!["password"]),
            (with(&good, "password", json!(1234)), vec!["password"]),
            (with(&good, "password", json!(true)), vec!["password"]),
            (json!({ "email": "", "password": "" }), vec!["email", "password"]),
        ]).await;
        // Wrong credentials are not a validation problem, and open no session either.
        let r = send_json(&app, "POST", path, &admin.token, &with(&good, "password", json!("wrong-password-123"))).await;
        refused(&r, 401, "login with a wrong password");
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a refused login stored something");

        send_json(&app, "POST", path, &admin.token, &good).await.expect(200);
    }

    async fn refresh_refuses_bad_input_and_spends_no_token(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let path = "/api/v1/auth/refresh";
        let good = json!({ "refresh_token": admin.refresh });
        let before = counts(&app, &STORED_WITH_SESSIONS).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        expect_invalid(&app, "POST", path, &admin.token, vec![
            (with(&good, "refresh_token", json!("")), vec!["refresh_token"]),
            (with(&good, "refresh_token", json!("x".repeat(257))), vec!["refresh_token"]),
            (with(&good, "refresh_token", json!(12)), vec!["refresh_token"]),
            (with(&good, "refresh_token", json!(null)), vec!["refresh_token"]),
            (with(&good, "refresh_token", json!([admin.refresh])), vec!["refresh_token"]),
        ]).await;
        let r = send_json(&app, "POST", path, &admin.token, &json!({ "refresh_token": "art_not-a-token" })).await;
        refused(&r, 401, "refresh with an unknown token");
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a refused refresh stored something");

        // None of the refusals spent the token.
        send_json(&app, "POST", path, &admin.token, &good).await.expect(200);
    }

    async fn password_change_refuses_bad_input_and_keeps_the_password(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let other_session = app.admin().await;
        let path = "/api/v1/auth/password";
        let good = json!({ "current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-password-1" });
        let before = counts(&app, &STORED_WITH_SESSIONS).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        expect_invalid(&app, "POST", path, &admin.token, vec![
            (with(&good, "new_password", json!("short")), vec!["new_password"]),
            (with(&good, "new_password", json!("elevenchars")), vec!["new_password"]),
            (with(&good, "new_password", json!("")), vec!["new_password"]),
            (with(&good, "new_password", json!("x".repeat(257))), vec!["new_password"]),
            // 129 characters, 258 bytes.
            (with(&good, "new_password", json!("é".repeat(257))), vec!["new_password"]),
            (with(&good, "new_password", json!(123_456_789_012_i64)), vec!["new_password"]),
            (with(&good, "new_password", json!(null)), vec!["new_password"]),
            (with(&good, "current_password", json!("")), vec!["current_password"]),
            (with(&good, "current_password", json!("x".repeat(257))), vec!["current_password"]),
            (with(&good, "current_password", json!(false)), vec!["current_password"]),
            (json!({ "current_password": "", "new_password": "short" }), vec!["current_password", "new_password"]),
            // Well-formed, but not the password in use.
            (with(&good, "current_password", json!("not-the-password-1")), vec!["current_password"]),
        ]).await;
        assert_eq!(counts(&app, &STORED_WITH_SESSIONS).await, before, "a refused password change stored something");
        // Nothing changed: both sessions live on, the old password still logs in.
        app.get("/api/v1/auth/me", &admin.token).await.expect(200);
        app.get("/api/v1/auth/me", &other_session.token).await.expect(200);
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        send_json(&app, "POST", path, &admin.token, &good).await.expect(204);
    }

    async fn create_user_refuses_bad_input(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let path = "/api/v1/users";
        let good = json!({ "email": "new.person@example.com", "display_name": "New Person",
            "password": "a-long-password-1", "role": "technical_lead" });
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        let mut cases = Vec::new();
        for email in [
            json!("not-an-email"), json!("a b@example.com"), json!("@example.com"), json!("a@"),
            json!("a@example"), json!("a@.example.com"), json!("a@example.com."), json!("a@b@example.com"),
            json!(""), json!(" "), json!("tab\t@example.com"), json!("nul\u{0}@example.com"),
            json!(format!("{}@example.com", "a".repeat(250))), json!(5), json!(null), json!(["a@example.com"]),
        ] {
            cases.push((with(&good, "email", email), vec!["email"]));
        }
        for name in [
            json!(""), json!("   "), json!("x".repeat(101)), json!("bell\u{7}"), json!("esc\u{1b}[31m"),
            json!("nul\u{0}"), json!("del\u{7f}"), json!("c1\u{85}"), json!("cr\r"), json!(7), json!(null),
        ] {
            cases.push((with(&good, "display_name", name), vec!["display_name"]));
        }
        for password in [
            json!("short"), json!("elevenchars"), json!(""), json!("x".repeat(257)), json!("é".repeat(257)),
            // The e-mail address, in any case.
            json!("new.person@example.com"), json!("NEW.PERSON@EXAMPLE.COM"),
            json!(123_456_789_012_i64), json!(null),
        ] {
            cases.push((with(&good, "password", password), vec!["password"]));
        }
        for role in [
            json!("wizard"), json!("Administrator"), json!("ADMINISTRATOR"), json!("project manager"),
            json!(""), json!(0), json!(null), json!(["administrator"]),
        ] {
            cases.push((with(&good, "role", role), vec!["role"]));
        }
        cases.push((
            json!({ "email": "bad", "display_name": "", "password": "x", "role": "support_engineer" }),
            vec!["email", "display_name", "password"],
        ));
        cases.push((with(&good, "id", json!(77)), vec!["id"]));
        cases.push((with(&good, "active", json!(false)), vec!["active"]));
        expect_invalid(&app, "POST", path, &admin.token, cases).await;
        // An e-mail in use, in any case: a conflict.
        for email in [ADMIN_EMAIL.to_owned(), ADMIN_EMAIL.to_uppercase(), format!(" {ADMIN_EMAIL}")] {
            let r = send_json(&app, "POST", path, &admin.token, &with(&good, "email", json!(email))).await;
            if email.starts_with(' ') {
                invalid(&r, &["email"], "POST /users with a padded e-mail");
            } else {
                refused(&r, 409, &format!("POST /users with the e-mail in use {email}"));
            }
        }
        assert_eq!(counts(&app, &STORED).await, before, "a refused user creation stored something");

        send_json(&app, "POST", path, &admin.token, &good).await.expect(201);
    }

    async fn update_user_refuses_bad_input_and_changes_nothing(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let sa = service_account(&app, &admin.token, "bot", Role::SupportEngineer).await;
        let path = format!("/api/v1/users/{}", tl.id);
        let good = json!({ "display_name": "Renamed" });
        let original = app.get(&path, &admin.token).await;
        original.expect(200);
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "PATCH", &path, &admin.token, &good).await;
        let mut cases = vec![
            (json!({}), vec![""]),
            // A change's fields may be absent, not null (the document: not nullable).
            (json!({ "display_name": null, "role": null, "password": null, "active": null }), vec!["active"]),
        ];
        for name in [
            json!(""), json!("   "), json!("x".repeat(101)), json!("bell\u{7}"), json!("nul\u{0}"),
            json!("del\u{7f}"), json!(5), json!(["Renamed"]),
        ] {
            cases.push((json!({ "display_name": name }), vec!["display_name"]));
        }
        for password in [json!("short"), json!(""), json!("x".repeat(257)), json!(123_456_789_012_i64)] {
            cases.push((json!({ "password": password }), vec!["password"]));
        }
        for active in [json!("yes"), json!("true"), json!(1), json!(0)] {
            cases.push((json!({ "active": active }), vec!["active"]));
        }
        for role in [json!("root"), json!("Administrator"), json!(""), json!(1)] {
            cases.push((json!({ "role": role }), vec!["role"]));
        }
        // Not changeable here.
        cases.push((json!({ "email": "other@example.com" }), vec!["email"]));
        cases.push((json!({ "id": 5 }), vec!["id"]));
        cases.push((json!({ "password_hash": "x" }), vec!["password_hash"]));
        // One bad field spoils the whole change.
        cases.push((json!({ "display_name": "", "password": "short" }), vec!["display_name", "password"]));
        cases.push((json!({ "display_name": "Fine", "role": "project_manager", "password": "short" }), vec!["password"]));
        cases.push((json!({ "display_name": "Fine", "active": false, "role": "root" }), vec!["role"]));
        expect_invalid(&app, "PATCH", &path, &admin.token, cases).await;

        expect_bad_ids_refused(&app, "PATCH", "/api/v1/users/{}", &admin.token, Some(&good)).await;
        // A service account is not a person's account.
        expect_unknown_ids_not_found(&app, "PATCH", "/api/v1/users/{}", &admin.token, Some(&good), &[sa]).await;

        assert_eq!(counts(&app, &STORED).await, before, "a refused user update stored something");
        let after = app.get(&path, &admin.token).await;
        after.expect(200);
        assert_eq!(after.json, original.json, "a refused update changed the user");
        // Its sessions and password are untouched.
        app.get("/api/v1/auth/me", &tl.token).await.expect(200);
        app.login(&tl.email, USER_PASSWORD).await;

        let r = send_json(&app, "PATCH", &path, &admin.token, &good).await;
        r.expect(200);
        assert_eq!(r.json["display_name"], "Renamed");
    }

    async fn create_service_account_refuses_bad_input(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let path = "/api/v1/service-accounts";
        let good = json!({ "name": "ci-bot", "role": "support_engineer" });
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        let mut cases = Vec::new();
        for name in [
            json!(""), json!("   "), json!("x".repeat(101)), json!("bell\u{7}"), json!("nul\u{0}"),
            json!("del\u{7f}"), json!(5), json!(null), json!({ "name": "x" }),
        ] {
            cases.push((with(&good, "name", name), vec!["name"]));
        }
        for role in [json!("robot"), json!("Support Engineer"), json!(""), json!(3), json!(null)] {
            cases.push((with(&good, "role", role), vec!["role"]));
        }
        cases.push((json!({ "name": "", "role": "support_engineer" }), vec!["name"]));
        cases.push((with(&good, "email", json!("bot@example.com")), vec!["email"]));
        cases.push((with(&good, "scopes", json!(["projects:read"])), vec!["scopes"]));
        expect_invalid(&app, "POST", path, &admin.token, cases).await;
        assert_eq!(counts(&app, &STORED).await, before, "a refused service account creation stored something");

        send_json(&app, "POST", path, &admin.token, &good).await.expect(201);
    }

    async fn create_api_key_refuses_bad_input(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let sa = service_account(&app, &admin.token, "reader", Role::SupportEngineer).await;
        let retired = service_account(&app, &admin.token, "retired", Role::SupportEngineer).await;
        app.call("DELETE", &format!("/api/v1/service-accounts/{retired}"), Some(&admin.token), None).await.expect(204);
        let path = format!("/api/v1/service-accounts/{sa}/keys");
        let good = json!({ "name": "deploy", "scopes": ["projects:read"], "expires_in_days": 30 });
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "POST", &path, &admin.token, &good).await;
        let mut cases = Vec::new();
        for name in [
            json!(""), json!("   "), json!("x".repeat(101)), json!("bell\u{7}"), json!("nul\u{0}"),
            json!(5), json!(null),
        ] {
            cases.push((with(&good, "name", name), vec!["name"]));
        }
        for scopes in [
            json!([]), json!(vec!["projects:read"; 33]), json!("projects:read"), json!(null), json!({ "0": "projects:read" }),
        ] {
            cases.push((with(&good, "scopes", scopes), vec!["scopes"]));
        }
        for (scopes, fields) in [
            (json!([1]), vec!["scopes[0]"]),
            (json!([null]), vec!["scopes[0]"]),
            (json!(["projects:read", "fly"]), vec!["scopes[1]"]),
            (json!(["PROJECTS:READ"]), vec!["scopes[0]"]),
            (json!(["projects:*"]), vec!["scopes[0]"]),
            (json!([""]), vec!["scopes[0]"]),
            (json!(["nul\u{0}"]), vec!["scopes[0]"]),
            // Known permissions the Support Engineer role does not grant.
            (json!(["projects:create"]), vec!["scopes[0]"]),
            (json!(["projects:read", "users:manage", "audit:read"]), vec!["scopes[1]", "scopes[2]"]),
            (json!(["service_accounts:manage"]), vec!["scopes[0]"]),
        ] {
            cases.push((with(&good, "scopes", scopes), fields));
        }
        for days in [
            json!(0), json!(366), json!(-1), json!(100_000), json!(4_294_967_296_i64), json!(1.5),
            json!("30"), json!(true),
        ] {
            cases.push((with(&good, "expires_in_days", days), vec!["expires_in_days"]));
        }
        cases.push((json!({ "name": "", "scopes": [], "expires_in_days": 0 }), vec!["name", "scopes", "expires_in_days"]));
        cases.push((with(&good, "key", json!("agk_chosen_by_me")), vec!["key"]));
        cases.push((with(&good, "expires_at", json!("2099-01-01T00:00:00Z")), vec!["expires_at"]));
        expect_invalid(&app, "POST", &path, &admin.token, cases).await;

        expect_bad_ids_refused(&app, "POST", "/api/v1/service-accounts/{}/keys", &admin.token, Some(&good)).await;
        // A person's account has no keys.
        expect_unknown_ids_not_found(&app, "POST", "/api/v1/service-accounts/{}/keys", &admin.token, Some(&good), &[admin.id]).await;
        let r = send_json(&app, "POST", &format!("/api/v1/service-accounts/{retired}/keys"), &admin.token, &good).await;
        refused(&r, 409, "a key for a deactivated service account");
        assert_eq!(counts(&app, &STORED).await, before, "a refused key creation stored something");

        send_json(&app, "POST", &path, &admin.token, &good).await.expect(201);
    }

    async fn create_project_refuses_bad_input(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let gone = app.user(Role::ProjectManager).await;
        deactivate(&app, &admin.token, gone.id).await;
        let path = "/api/v1/projects";
        let good = json!({ "name": "Apollo", "description": "Moon shot", "owner_id": admin.id });
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        let mut cases = Vec::new();
        for name in [
            json!(""), json!("   "), json!("x".repeat(201)), json!("bell\u{7}"), json!("nul\u{0}"),
            json!("del\u{7f}"), json!("c1\u{9b}"), json!(7), json!(null), json!(["Apollo"]),
        ] {
            cases.push((with(&good, "name", name), vec!["name"]));
        }
        for description in [json!("x".repeat(10_001)), json!("nul\u{0}"), json!("bell\u{7}"), json!(5), json!(null)] {
            cases.push((with(&good, "description", description), vec!["description"]));
        }
        for owner in [
            json!(0), json!(-5), json!(987_654), json!(i64::MAX), json!(gone.id), json!("1"), json!(1.5),
            json!(u64::MAX), json!(true),
        ] {
            cases.push((with(&good, "owner_id", owner), vec!["owner_id"]));
        }
        cases.push((json!({ "name": "", "description": "x".repeat(10_001), "owner_id": 0 }), vec!["name", "description", "owner_id"]));
        cases.push((with(&good, "id", json!(1)), vec!["id"]));
        cases.push((with(&good, "created_at", json!("2020-01-01T00:00:00Z")), vec!["created_at"]));
        cases.push((with(&good, "members", json!([admin.id])), vec!["members"]));
        expect_invalid(&app, "POST", path, &admin.token, cases).await;
        let r = app.raw("POST", path, &admin.token, Some("application/json"),
            "{\"name\": \"Apollo\", \"owner_id\": 99999999999999999999}").await;
        invalid(&r, &["owner_id"], "POST /projects with an owner_id beyond 64 bits");
        assert_eq!(counts(&app, &STORED).await, before, "a refused project creation stored something");

        send_json(&app, "POST", path, &admin.token, &good).await.expect(201);
    }

    async fn update_project_refuses_bad_input_and_changes_nothing(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let gone = app.user(Role::ProjectManager).await;
        deactivate(&app, &admin.token, gone.id).await;
        let id = app.project("Keep", admin.id, &[]).await;
        let path = format!("/api/v1/projects/{id}");
        let good = json!({ "name": "Renamed" });
        let original = app.get(&path, &admin.token).await;
        original.expect(200);
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "PATCH", &path, &admin.token, &good).await;
        let mut cases = vec![
            (json!({}), vec![""]),
            // A change's fields may be absent, not null (the document: not nullable).
            (json!({ "name": null, "description": null, "owner_id": null }), vec!["description"]),
        ];
        for name in [
            json!(""), json!("   "), json!("x".repeat(201)), json!("bell\u{7}"), json!("nul\u{0}"), json!(7),
        ] {
            cases.push((json!({ "name": name }), vec!["name"]));
        }
        for description in [json!("x".repeat(10_001)), json!("nul\u{0}"), json!(5)] {
            cases.push((json!({ "description": description }), vec!["description"]));
        }
        for owner in [json!(0), json!(-1), json!(987_654), json!(gone.id), json!("1"), json!(1.5)] {
            cases.push((json!({ "owner_id": owner }), vec!["owner_id"]));
        }
        cases.push((json!({ "id": 5 }), vec!["id"]));
        cases.push((json!({ "created_at": "2020-01-01T00:00:00Z" }), vec!["created_at"]));
        // One bad field spoils the whole change.
        cases.push((json!({ "name": "Fine", "owner_id": 987_654 }), vec!["owner_id"]));
        cases.push((json!({ "name": "Fine", "description": "x".repeat(10_001) }), vec!["description"]));
        cases.push((json!({ "name": "", "description": "Fine", "owner_id": 0 }), vec!["name", "owner_id"]));
        expect_invalid(&app, "PATCH", &path, &admin.token, cases).await;

        expect_bad_ids_refused(&app, "PATCH", "/api/v1/projects/{}", &admin.token, Some(&good)).await;
        expect_unknown_ids_not_found(&app, "PATCH", "/api/v1/projects/{}", &admin.token, Some(&good), &[]).await;

        assert_eq!(counts(&app, &STORED).await, before, "a refused project update stored something");
        let after = app.get(&path, &admin.token).await;
        after.expect(200);
        assert_eq!(after.json, original.json, "a refused update changed the project");

        let r = send_json(&app, "PATCH", &path, &admin.token, &good).await;
        r.expect(200);
        assert_eq!(r.json["name"], "Renamed");
    }

    async fn add_member_refuses_bad_path_ids(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let se = app.user(Role::SupportEngineer).await;
        let gone = app.user(Role::TechnicalLead).await;
        deactivate(&app, &admin.token, gone.id).await;
        let project = app.project("P", admin.id, &[]).await;
        let before = counts(&app, &STORED).await;

        expect_bad_ids_refused(&app, "PUT", &format!("/api/v1/projects/{{}}/members/{}", se.id), &admin.token, None).await;
        expect_bad_ids_refused(&app, "PUT", &format!("/api/v1/projects/{project}/members/{{}}"), &admin.token, None).await;
        expect_bad_ids_refused(&app, "PUT", "/api/v1/projects/{}/members/{}", &admin.token, None).await;
        expect_unknown_ids_not_found(&app, "PUT", &format!("/api/v1/projects/{{}}/members/{}", se.id), &admin.token, None, &[]).await;
        expect_unknown_ids_not_found(&app, "PUT", &format!("/api/v1/projects/{project}/members/{{}}"), &admin.token, None, &[]).await;
        let r = app.call("PUT", &format!("/api/v1/projects/{project}/members/{}", gone.id), Some(&admin.token), None).await;
        invalid(&r, &["user_id"], "adding a deactivated user");
        assert_eq!(counts(&app, &STORED).await, before, "a refused membership stored something");

        let path = format!("/api/v1/projects/{project}/members/{}", se.id);
        app.call("PUT", &path, Some(&admin.token), None).await.expect(201);
    }

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

    async fn a_changed_password_must_not_be_the_e_mail_address(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let before = counts(&app, &STORED).await;
        let user_before = app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json;
        // The rule that holds at creation (`password` must not be the e-mail address) holds for
        // every later password too.
        let requests = [
            ("PATCH", format!("/api/v1/users/{}", tl.id), json!({ "password": tl.email.to_uppercase() }), "password"),
            ("POST", "/api/v1/auth/password".to_owned(),
                json!({ "current_password": ADMIN_PASSWORD, "new_password": ADMIN_EMAIL }), "new_password"),
        ];
        let mut accepted = Vec::new();
        for (method, path, body, field) in requests {
            let r = send_json(&app, method, &path, &admin.token, &body).await;
            assert!(!r.status.is_server_error(), "{method} {path} {body}: {}", r.text);
            if r.status.as_u16() == 422 && r.fields() == [field] {
                r.problem(422);
            } else {
                accepted.push(format!("{method} {path} {body} -> {} {}", r.status.as_u16(), short(&r.text)));
            }
        }
        assert!(accepted.is_empty(), "the e-mail address accepted as a new password:\n{}", accepted.join("\n"));
        assert_eq!(counts(&app, &STORED).await, before);
        assert_eq!(app.get(&format!("/api/v1/users/{}", tl.id), &admin.token).await.json, user_before);
        app.login(&tl.email, USER_PASSWORD).await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
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
