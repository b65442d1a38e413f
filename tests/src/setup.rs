//! What a story starts from, made through the API as an administrator would: the first
//! administrator and new users of a role, logged in ([`TestUser`]); projects. Plugins installed
//! from signed packages are in `plugins`.

use agentic_host::rbac::Role;
use serde_json::{json, Value};

use crate::TestApp;

/// E-mail of the first administrator of every test app.
pub const ADMIN_EMAIL: &str = "admin@test.example";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1234";
/// Password of every user made by [`TestApp::user`].
pub const USER_PASSWORD: &str = "user-password-1234";

/// A logged-in user made for a test.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh: String,
}

impl TestApp {
    /// Logs in; panics unless it succeeds.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        r.expect(200);
        r.json
    }

    /// The first administrator, logged in.
    pub async fn admin(&self) -> TestUser {
        let t = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        TestUser {
            id: t["user"]["id"].as_i64().expect("id"),
            email: ADMIN_EMAIL.into(),
            role: Role::Administrator,
            token: t["access_token"].as_str().expect("token").into(),
            refresh: t["refresh_token"].as_str().expect("refresh").into(),
        }
    }

    /// A new user with `role`, created through the API by the administrator, logged in.
    pub async fn user(&self, role: Role) -> TestUser {
        let admin = self.admin().await;
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let email = format!("{}-{n}@test.example", role.as_str().replace('_', "-"));
        self.post(
            "/api/v1/users",
            &admin.token,
            json!({ "email": email, "display_name": format!("{} {n}", role.title()), "password": USER_PASSWORD, "role": role }),
        )
        .await
        .expect(201);
        let t = self.login(&email, USER_PASSWORD).await;
        TestUser {
            id: t["user"]["id"].as_i64().expect("id"),
            email,
            role,
            token: t["access_token"].as_str().expect("token").into(),
            refresh: t["refresh_token"].as_str().expect("refresh").into(),
        }
    }

    /// A project created by the administrator, owned by `owner`, with `members` added.
    pub async fn project(&self, name: &str, owner: i64, members: &[i64]) -> i64 {
        let admin = self.admin().await;
        let r = self
            .post(
                "/api/v1/projects",
                &admin.token,
                json!({ "name": name, "description": "", "owner_id": owner }),
            )
            .await;
        r.expect(201);
        let id = r.json["id"].as_i64().expect("project id");
        for m in members {
            self.call(
                "PUT",
                &format!("/api/v1/projects/{id}/members/{m}"),
                Some(&admin.token),
                None,
            )
            .await;
        }
        id
    }
}
