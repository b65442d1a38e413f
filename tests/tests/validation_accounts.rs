//! Input validation of the account endpoints (see `validation` for what every story checks):
//! login, refresh and password change, which must open no session, spend no token and keep the
//! password; users, service accounts and API keys, created and changed.

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD};
use serde_json::json;

use crate::validation::{
    counts, expect_bad_envelopes_refused, expect_bad_ids_refused, expect_invalid,
    expect_unknown_ids_not_found, invalid, refused, send_json, service_account, short, with,
    STORED, STORED_WITH_SESSIONS,
};

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
}
