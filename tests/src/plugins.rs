//! Plugins as a story installs them: a host installs only packages signed by a publisher an
//! administrator trusts, so a story plays the publisher ([`Publisher`]: a signing key of its
//! own, trusted under a name by [`TestApp::trust_publisher`]) and uploads what it signs. One
//! place for this, so every story installs the way a third party would ship a plugin, and a story
//! installing two plugins trusts two publishers (or one, twice) without clashing names.
//!
//! Stories of the publisher and package endpoints themselves (`tests/tests/plugins.rs`, the RBAC
//! matrix, the OpenAPI checks) send those requests explicitly; they still sign with a
//! [`Publisher`] and send bytes with [`TestApp::upload_package`].

use std::sync::atomic::{AtomicU32, Ordering};

use agentic_host::plugins::package::{Package, SigningKey};
use serde_json::json;

use crate::{plugin_wasm, Reply, TestApp};

/// The media type of a plugin package (a tar archive of manifest, component and signature).
pub const PACKAGE: &str = "application/vnd.agentic.plugin+tar";

/// The manifest shipped in `plugins/{dir}/plugin.toml` (`example`, `jira`, `agents/…`).
pub fn plugin_manifest(dir: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(dir)
        .join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The hostile connector's manifest at build `build` (1–9): version `0.1.0-hostile.N`, the
/// version [`hostile_wasm`] of the same build reports. `plugins/hostile` ships no `plugin.toml`
/// (the host's containment stories install it under whatever version they need).
pub fn hostile_manifest(build: u8) -> String {
    format!(
        "id = \"hostile\"\nversion = \"0.1.0-hostile.{build}\"\nwit = \"0.3.0\"\nname = \"Hostile\"\n\
         allowed_hosts = [\"*\"]\nauth_kinds = [\"anonymous\"]\n[config_schema]\n"
    )
}

/// The hostile component (`plugins/hostile`, built as `0.1.0-hostile.1`) with the version its
/// `spec()` reports patched to build `build` (1–9): a different component of the same size, so
/// an upgrade or rollback can be told apart by asking the running component its version.
pub fn hostile_wasm(build: u8) -> Vec<u8> {
    assert!((1..=9).contains(&build), "a hostile build is 1 to 9");
    let mut bytes = plugin_wasm("hostile");
    let from = b"0.1.0-hostile.1";
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("version marker in the hostile component");
    bytes[at + from.len() - 1] = b'0' + build;
    bytes
}

/// A plugin publisher: a signing key of its own. Trusted by a host under a name
/// ([`TestApp::trust_publisher`], [`Publisher::trust`]) or by none ([`Publisher::new`]: a
/// stranger whose packages a host must refuse).
#[derive(Debug)]
pub struct Publisher {
    key: SigningKey,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    /// A new key, trusted by no host yet.
    pub fn new() -> Self {
        Self {
            key: SigningKey::generate().expect("key").0,
        }
    }

    /// The public key as the publisher API takes it.
    pub fn public_key(&self) -> String {
        self.key.public_key().to_string()
    }

    /// The package of `manifest` and `component`, signed by this publisher.
    pub fn sign(&self, manifest: &str, component: &[u8]) -> Vec<u8> {
        Package::build(&self.key, manifest, component).expect("package")
    }

    /// Has `app` trust this key under `name` (as the administrator with token `admin`);
    /// panics unless it is created.
    pub async fn trust(&self, app: &TestApp, admin: &str, name: &str) {
        app.post(
            "/api/v1/plugin-publishers",
            admin,
            json!({"name": name, "public_key": self.public_key()}),
        )
        .await
        .expect(201);
    }

    /// Installs the package it signs of `manifest` and `component`; panics unless it is
    /// installed (201), and returns the reply (the plugin).
    pub async fn install(
        &self,
        app: &TestApp,
        admin: &str,
        manifest: &str,
        component: &[u8],
    ) -> Reply {
        let r = app
            .upload_package("/api/v1/plugins", admin, self.sign(manifest, component))
            .await;
        r.expect(201);
        r
    }

    /// Upgrades plugin `id` to the package it signs of `manifest` and `component`; panics
    /// unless it is upgraded (200), and returns the reply (the plugin).
    pub async fn upgrade(
        &self,
        app: &TestApp,
        admin: &str,
        id: &str,
        manifest: &str,
        component: &[u8],
    ) -> Reply {
        let r = app
            .upload_package(
                &format!("/api/v1/plugins/{id}/upgrade"),
                admin,
                self.sign(manifest, component),
            )
            .await;
        r.expect(200);
        r
    }
}

impl TestApp {
    /// A new publisher key, trusted under `name` by the administrator with token `admin`.
    pub async fn trust_publisher(&self, admin: &str, name: &str) -> Publisher {
        let publisher = Publisher::new();
        publisher.trust(self, admin, name).await;
        publisher
    }

    /// Sends `package` (any bytes, as a plugin package) to `path`: an install
    /// (`/api/v1/plugins`) or an upgrade (`/api/v1/plugins/{id}/upgrade`); the reply as it is.
    pub async fn upload_package(&self, path: &str, token: &str, package: Vec<u8>) -> Reply {
        self.raw("POST", path, token, Some(PACKAGE), package).await
    }

    /// A new publisher key, trusted under a name no other publisher of the process has
    /// (`acme-N`), for a story that does not care what its publisher is called, or trusts one
    /// more than once on the same database.
    pub async fn trusted_publisher(&self, admin: &str) -> Publisher {
        // Not `seq`: that numbers users, whose names stories see.
        static PUBLISHERS: AtomicU32 = AtomicU32::new(0);
        let n = PUBLISHERS.fetch_add(1, Ordering::Relaxed);
        self.trust_publisher(admin, &format!("acme-{n}")).await
    }

    /// Installs the package of `manifest` and `wasm`, signed by a newly trusted publisher
    /// ([`TestApp::trusted_publisher`], so a story can call this for each plugin it needs).
    pub async fn install_plugin(&self, admin: &str, manifest: &str, wasm: &[u8]) {
        self.trusted_publisher(admin)
            .await
            .install(self, admin, manifest, wasm)
            .await;
    }

    /// Installs the example connector (signed by a newly trusted publisher) and enables it in
    /// a new project owned by `owner` with `members`; returns the project id.
    pub async fn project_with_example(&self, admin: &str, owner: i64, members: &[i64]) -> i64 {
        let manifest = plugin_manifest("example");
        (self.project_with_plugin(
            admin,
            "example",
            &manifest,
            ("Integrations", owner, members),
        ))
        .await
    }

    /// Installs connector `plugin` (its component from `plugins/<plugin>`) with `manifest` (the
    /// shipped one, or one a story adapted), signed by a newly trusted publisher, and enables it
    /// in a new project `(title, owner, members)`; returns the project id.
    pub async fn project_with_plugin(
        &self,
        admin: &str,
        plugin: &str,
        manifest: &str,
        (title, owner, members): (&str, i64, &[i64]),
    ) -> i64 {
        self.install_plugin(admin, manifest, &plugin_wasm(plugin))
            .await;
        let project = self.project(title, owner, members).await;
        self.enable_plugin(admin, project, plugin).await;
        project
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
