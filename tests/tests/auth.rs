//! Login, throttling, refresh rotation and reuse detection, logout, idle and absolute session
//! timeouts (moved with the manual clock), session listing and revocation, password change.

use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD};
use serde_json::{json, Value};

const MIN: Duration = Duration::from_secs(60);

async fn refresh(app: &TestApp, token: &str) -> agentic_tests::Reply {
    app.call(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

async fn login_reply(app: &TestApp, email: &str, password: &str) -> agentic_tests::Reply {
    app.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

stories! {
    async fn login_returns_tokens_and_me_describes_the_caller(backend) {
        let app = TestApp::start(backend).await;
        let t = app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD).await;
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 900);
        assert!(s(&t["refresh_token"]).starts_with("art_"));
        assert_eq!(t["user"]["email"], ADMIN_EMAIL);
        assert!(t["user"].get("password_hash").is_none());
        // The scheme name is case-insensitive (RFC 9110).
        let req = axum::http::Request::get("/api/v1/auth/me")
            .header("authorization", format!("BEARER {}", s(&t["access_token"])))
            .body(axum::body::Body::empty())
            .expect("request");
        app.send(req).await.expect(200);
        let me = app.get("/api/v1/auth/me", s(&t["access_token"])).await;
        me.expect(200);
        assert_eq!(me.json["user"]["role"], "administrator");
        assert_eq!(me.json["kind"], "human");
        assert_eq!(me.json["session_id"], t["session_id"]);
        assert!(me.json["permissions"].as_array().expect("perms").contains(&json!("users:manage")));

        let se = app.user(Role::SupportEngineer).await;
        let me = app.get("/api/v1/auth/me", &se.token).await;
        let perms = me.json["permissions"].as_array().expect("perms");
        assert!(perms.contains(&json!("projects:read")) && !perms.contains(&json!("projects:create")));
    }

    async fn unknown_user_and_wrong_password_look_the_same(backend) {
        let app = TestApp::start(backend).await;
        let wrong = login_reply(&app, ADMIN_EMAIL, "not-the-password").await;
        let unknown = login_reply(&app, "nobody@test.example", "not-the-password").await;
        wrong.problem(401);
        unknown.problem(401);
        assert_eq!(wrong.json, unknown.json);
        assert_eq!(wrong.headers.get("www-authenticate").expect("challenge"), "Bearer");

        // A deactivated account gets the same answer, even with the right password.
        let se = app.user(Role::SupportEngineer).await;
        let admin = app.admin().await;
        app.call("DELETE", &format!("/api/v1/users/{}", se.id), Some(&admin.token), None).await.expect(204);
        let deactivated = login_reply(&app, &se.email, USER_PASSWORD).await;
        deactivated.problem(401);
        assert_eq!(deactivated.json, wrong.json);
    }

    async fn login_is_throttled_per_account_with_retry_after(backend) {
        let app = TestApp::start_with(backend, |c| c.auth.login_per_account_per_minute = 3).await;
        for _ in 0..3 {
            login_reply(&app, ADMIN_EMAIL, "wrong-password-123").await.problem(401);
        }
        // Even the right password is refused while throttled.
        let r = login_reply(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        r.problem(429);
        let retry: u64 = r.headers.get("retry-after").expect("Retry-After").to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        // Other accounts are not affected by this account's bucket.
        let other = login_reply(&app, "someone@test.example", "wrong-password-123").await;
        other.problem(401);
    }

    async fn login_is_throttled_per_ip(backend) {
        let app = TestApp::start_with(backend, |c| c.auth.login_per_ip_per_minute = 4).await;
        for i in 0..4 {
            login_reply(&app, &format!("user{i}@test.example"), "wrong-password-123").await.problem(401);
        }
        login_reply(&app, "fresh@test.example", "wrong-password-123").await.problem(429);
    }

    async fn refresh_rotates_and_reuse_revokes_the_session(backend) {
        let app = TestApp::start(backend).await;
        let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r1 = s(&first["refresh_token"]).to_owned();

        let second = refresh(&app, &r1).await;
        second.expect(200);
        let r2 = s(&second.json["refresh_token"]).to_owned();
        let a2 = s(&second.json["access_token"]).to_owned();
        assert_ne!(r1, r2);
        assert_eq!(second.json["session_id"], first["session_id"]);
        app.get("/api/v1/auth/me", &a2).await.expect(200);

        let third = refresh(&app, &r2).await;
        third.expect(200);
        let r3 = s(&third.json["refresh_token"]).to_owned();
        let a3 = s(&third.json["access_token"]).to_owned();

        // Someone replays the spent r1: the whole session dies.
        let replay = refresh(&app, &r1).await;
        let p = replay.problem(401);
        assert!(s(&p["detail"]).contains("already used"), "{p}");
        app.get("/api/v1/auth/me", &a3).await.problem(401);
        refresh(&app, &r3).await.problem(401);

        refresh(&app, "art_not-a-token").await.problem(401);

        // The reuse is in the audit log.
        let admin = app.admin().await;
        let audit = app.get("/api/v1/audit?action=auth.refresh_token_reused", &admin.token).await;
        assert_eq!(audit.json["items"].as_array().expect("items").len(), 1);
    }

    async fn logout_revokes_access_and_refresh_tokens(backend) {
        let app = TestApp::start(backend).await;
        let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let access = s(&t["access_token"]);
        app.call("POST", "/api/v1/auth/logout", Some(access), None).await.expect(204);
        let r = app.get("/api/v1/auth/me", access).await;
        assert!(s(&r.problem(401)["detail"]).contains("revoked"));
        refresh(&app, s(&t["refresh_token"])).await.problem(401);
    }

    async fn idle_session_expires_with_a_clear_problem(backend) {
        let app = TestApp::start(backend).await;
        let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.advance(14 * MIN);
        app.get("/api/v1/auth/me", s(&t["access_token"])).await.expect(200);
        // 28 min: the access token (15 min) has expired; refreshing works, the session is alive.
        app.advance(14 * MIN);
        app.get("/api/v1/auth/me", s(&t["access_token"])).await.problem(401);
        let r = refresh(&app, s(&t["refresh_token"])).await;
        r.expect(200);
        let access = s(&r.json["access_token"]).to_owned();
        let refresh_token = s(&r.json["refresh_token"]).to_owned();
        app.get("/api/v1/auth/me", &access).await.expect(200);
        // 42 min since login but only 14 idle: still alive.
        app.advance(14 * MIN);
        app.get("/api/v1/auth/me", &access).await.expect(200);

        // 31 idle minutes: expired, for the access token and for the refresh token alike.
        app.advance(31 * MIN);
        let r = refresh(&app, &refresh_token).await;
        let p = r.problem(401);
        assert_eq!(p["type"], "/problems/session-expired");
        assert!(s(&p["detail"]).contains("inactivity"), "{p}");
    }

    async fn idle_expiry_applies_to_a_still_valid_access_token(backend) {
        let app = TestApp::start_with(backend, |c| c.auth.idle_timeout_secs = 120).await;
        let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.advance(Duration::from_secs(90));
        app.get("/api/v1/auth/me", s(&t["access_token"])).await.expect(200);
        app.advance(Duration::from_secs(121));
        let r = app.get("/api/v1/auth/me", s(&t["access_token"])).await;
        assert_eq!(r.problem(401)["type"], "/problems/session-expired");
    }

    async fn absolute_lifetime_ends_even_an_active_session(backend) {
        let app = TestApp::start_with(backend, |c| c.auth.absolute_timeout_secs = 3600).await;
        let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let mut refresh_token = s(&t["refresh_token"]).to_owned();
        for _ in 0..5 {
            app.advance(10 * MIN);
            let r = refresh(&app, &refresh_token).await;
            r.expect(200);
            refresh_token = s(&r.json["refresh_token"]).to_owned();
            app.get("/api/v1/auth/me", s(&r.json["access_token"])).await.expect(200);
        }
        app.advance(11 * MIN);
        let r = refresh(&app, &refresh_token).await;
        let p = r.problem(401);
        assert_eq!(p["type"], "/problems/session-expired");
        assert!(s(&p["detail"]).contains("maximum"), "{p}");
    }

    async fn users_list_and_revoke_their_own_sessions(backend) {
        let app = TestApp::start(backend).await;
        let laptop = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let phone = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r = app.get("/api/v1/auth/sessions", s(&laptop["access_token"])).await;
        r.expect(200);
        let items = r.json["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        let current: Vec<&Value> = items.iter().filter(|i| i["current"] == json!(true)).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], laptop["session_id"]);

        // Lost phone: revoke it from the laptop.
        let path = format!("/api/v1/auth/sessions/{}", phone["session_id"]);
        app.call("DELETE", &path, Some(s(&laptop["access_token"])), None).await.expect(204);
        app.get("/api/v1/auth/me", s(&phone["access_token"])).await.problem(401);
        app.get("/api/v1/auth/me", s(&laptop["access_token"])).await.expect(200);

        // Someone else's session is not visible.
        let se = app.user(Role::SupportEngineer).await;
        let path = format!("/api/v1/auth/sessions/{}", laptop["session_id"]);
        app.call("DELETE", &path, Some(&se.token), None).await.problem(404);
        app.get("/api/v1/auth/me", s(&laptop["access_token"])).await.expect(200);
    }

    async fn admin_revokes_all_sessions_of_a_user(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let second = app.login(&tl.email, USER_PASSWORD).await;
        let admin = app.admin().await;
        let listed = app.get(&format!("/api/v1/users/{}/sessions", tl.id), &admin.token).await;
        assert_eq!(listed.json["items"].as_array().expect("items").len(), 2);
        let r = app.call("DELETE", &format!("/api/v1/users/{}/sessions", tl.id), Some(&admin.token), None).await;
        r.expect(200);
        assert_eq!(r.json["revoked"], 2);
        app.get("/api/v1/auth/me", &tl.token).await.problem(401);
        app.get("/api/v1/auth/me", s(&second["access_token"])).await.problem(401);
        refresh(&app, &tl.refresh).await.problem(401);
        app.get("/api/v1/auth/me", &admin.token).await.expect(200);
    }

    async fn password_change_ends_other_sessions(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let other = app.login(&pm.email, USER_PASSWORD).await;
        let r = app.post("/api/v1/auth/password", &pm.token,
            json!({ "current_password": "wrong-password-123", "new_password": "a-brand-new-password" })).await;
        assert_eq!(r.problem(422)["errors"][0]["field"], "current_password");
        app.post("/api/v1/auth/password", &pm.token,
            json!({ "current_password": USER_PASSWORD, "new_password": "a-brand-new-password" })).await.expect(204);
        app.get("/api/v1/auth/me", &pm.token).await.expect(200);
        app.get("/api/v1/auth/me", s(&other["access_token"])).await.problem(401);
        login_reply(&app, &pm.email, USER_PASSWORD).await.problem(401);
        app.login(&pm.email, "a-brand-new-password").await;
    }

    async fn role_changes_and_deactivation_apply_to_live_tokens(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let admin = app.admin().await;
        app.post("/api/v1/projects", &tl.token, json!({ "name": "x" })).await.problem(403);
        app.call("PATCH", &format!("/api/v1/users/{}", tl.id), Some(&admin.token),
            Some(json!({ "role": "project_manager" }))).await.expect(200);
        app.post("/api/v1/projects", &tl.token, json!({ "name": "x" })).await.expect(201);

        app.call("PATCH", &format!("/api/v1/users/{}", tl.id), Some(&admin.token),
            Some(json!({ "active": false }))).await.expect(200);
        app.get("/api/v1/auth/me", &tl.token).await.problem(401);
        refresh(&app, &tl.refresh).await.problem(401);
    }

    async fn the_last_administrator_cannot_be_removed(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let path = format!("/api/v1/users/{}", admin.id);
        app.call("PATCH", &path, Some(&admin.token), Some(json!({ "role": "support_engineer" }))).await.problem(409);
        app.call("DELETE", &path, Some(&admin.token), None).await.problem(409);
        app.get("/api/v1/auth/me", &admin.token).await.expect(200);

        // With a second administrator, the first may step down.
        let second = app.user(Role::Administrator).await;
        app.call("PATCH", &path, Some(&second.token), Some(json!({ "role": "support_engineer" }))).await.expect(200);
    }

    async fn users_admin_crud(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let r = app.post("/api/v1/users", &admin.token, json!({
            "email": "Ada@Example.com", "display_name": "Ada", "password": "correct horse battery", "role": "technical_lead"
        })).await;
        r.expect(201);
        assert_eq!(r.json["email"], "ada@example.com");
        assert_eq!(r.json["active"], true);
        let id = r.json["id"].as_i64().expect("id");
        app.post("/api/v1/users", &admin.token, json!({
            "email": "ada@example.com", "display_name": "Ada 2", "password": "correct horse battery", "role": "technical_lead"
        })).await.problem(409);

        let list = app.get("/api/v1/users?q=ADA", &admin.token).await;
        assert_eq!(list.json["items"].as_array().expect("items").len(), 1);
        let r = app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin.token),
            Some(json!({ "display_name": "Ada L." }))).await;
        assert_eq!(r.json["display_name"], "Ada L.");
        app.call("DELETE", &format!("/api/v1/users/{id}"), Some(&admin.token), None).await.expect(204);
        let got = app.get(&format!("/api/v1/users/{id}"), &admin.token).await;
        assert_eq!(got.json["active"], false);
        app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin.token), Some(json!({ "active": true }))).await.expect(200);
        app.login("ada@example.com", "correct horse battery").await;
        app.get("/api/v1/users/999999", &admin.token).await.problem(404);
    }

    async fn long_expired_sessions_are_purged(backend) {
        let app = TestApp::start(backend).await;
        let old = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        refresh(&app, s(&old["refresh_token"])).await.expect(200);
        assert_eq!(app.state.auth.housekeeping().await.expect("housekeeping"), 0, "nothing is old yet");
        app.advance(Duration::from_secs(12 * 3600 + 7 * 86_400 + 60));
        let fresh = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(app.state.auth.housekeeping().await.expect("housekeeping"), 1);
        assert_eq!(app.count("sessions").await, 1);
        assert_eq!(app.count("refresh_tokens").await, 1, "the purged session's tokens went with it");
        app.get("/api/v1/auth/me", s(&fresh["access_token"])).await.expect(200);
    }
}
