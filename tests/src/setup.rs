//! What a story starts from, made through the API as an administrator would: the first
//! administrator and new users of a role, logged in ([`TestUser`]); projects; plugins installed
//! from signed packages and enabled in a project.

use agentic_host::rbac::Role;
use serde_json::{json, Value};

use crate::{plugin_wasm, TestApp};

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

    /// Installs the example connector (signed by a newly trusted publisher) and enables it in
    /// a new project owned by `owner` with `members`; returns the project id.
    pub async fn project_with_example(&self, admin: &str, owner: i64, members: &[i64]) -> i64 {
        let manifest = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/example/plugin.toml"),
        )
        .expect("manifest");
        self.install_plugin(admin, &manifest, &plugin_wasm("example"))
            .await;
        let project = self.project("Integrations", owner, members).await;
        self.enable_plugin(admin, project, "example").await;
        project
    }

    /// Trusts a new publisher key (named `acme`, so once per app) and installs the package it
    /// signs of `manifest` and `wasm`.
    pub async fn install_plugin(&self, admin: &str, manifest: &str, wasm: &[u8]) {
        let key = agentic_host::plugins::package::SigningKey::generate()
            .expect("key")
            .0;
        self.post(
            "/api/v1/plugin-publishers",
            admin,
            json!({"name": "acme", "public_key": key.public_key().to_string()}),
        )
        .await
        .expect(201);
        let package =
            agentic_host::plugins::package::Package::build(&key, manifest, wasm).expect("package");
        self.raw(
            "POST",
            "/api/v1/plugins",
            admin,
            Some("application/vnd.agentic.plugin+tar"),
            package,
        )
        .await
        .expect(201);
    }

    /// Enables plugin `id` in `project`.
    pub async fn enable_plugin(&self, admin: &str, project: i64, id: &str) {
        self.call(
            "PUT",
            &format!("/api/v1/projects/{project}/plugins/{id}"),
            Some(admin),
            None,
        )
        .await
        .expect(200);
    }
}
