//! Test harness for the Agentic host.
//!
//! Every behaviour story runs twice, on SQLite and on PostgreSQL, through [`stories!`]. Each run
//! gets a fresh database: a SQLite file in a temporary directory, or a fresh schema in the
//! PostgreSQL database named by `AGENTIC_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`). Without PostgreSQL the PostgreSQL runs are
//! skipped with a message — except under `CI=true`, where they fail.
//!
//! [`TestApp`] drives the real router (`agentic_host::app`) with `tower::ServiceExt::oneshot`,
//! with a manual clock so session timeouts are tested by moving time, not by sleeping.
//! [`TestApp::twin`] is a second host on the same database, for what hosts of a cluster must
//! see of each other's writes.
//!
//! Cache tests use the real Redis named by `AGENTIC_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`), each app under a key prefix of its own ([`use_redis`]); without
//! Redis they are skipped with a message — except under `CI=true`, where they fail
//! ([`redis_unavailable`]). [`proxy::Proxy`] stands between a host and Redis to cut or
//! black-hole it mid-test without touching the real server.

/// A TCP proxy that can black-hole or cut its connections on demand.
pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use agentic_host::clock::ManualClock;
use agentic_host::config::Config;
use agentic_host::rbac::Role;
pub use agentic_host::store::Backend;
use agentic_host::{server, AppState};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Fake identity providers and the services behind them.
pub mod providers;

/// A fake JIRA (Cloud and Data Center) for syncs through the host.
pub mod jira;

/// A real S3-compatible server (moto) for backups to object stores.
pub mod s3;

/// A fake Google (Drive, Calendar) for syncs through the host.
pub mod google;

/// A real Git server (`git http-backend` behind a CGI adapter) for the Git connector's stories.
pub mod git_server;

/// ReqIF exports as DOORS writes them, for the DOORS connector's stories.
pub mod doors;

/// A fake OpenAI-compatible chat-completions API, checked against OpenAI's API description.
pub mod openai;

/// A real OpenID Connect provider (`oidc-provider` on node) and a browser for SSO stories.
pub mod oidc_peer;

/// Epoch milliseconds as the API shows a time (RFC 3339, UTC), to compare a fake's times with
/// the records the API returns.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// E-mail of the first administrator of every test app.
pub const ADMIN_EMAIL: &str = "admin@test.example";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1234";
/// Password of every user made by [`TestApp::user`].
pub const USER_PASSWORD: &str = "user-password-1234";

/// Runs each story on SQLite and on PostgreSQL, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! stories {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn story($backend: $crate::Backend) $body
            #[tokio::test]
            async fn sqlite() {
                $crate::bounded(story($crate::Backend::Sqlite)).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::postgres_unavailable().await {
                    return;
                }
                $crate::bounded(story($crate::Backend::Postgres)).await;
            }
        }
    )*};
}

/// Runs a story, failing it when it takes longer than `AGENTIC_TEST_STORY_SECS` (default 300):
/// a story that hangs must fail with its name, not stall the whole run until CI gives up.
pub async fn bounded(story: impl std::future::Future<Output = ()>) {
    let secs = std::env::var("AGENTIC_TEST_STORY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    if tokio::time::timeout(Duration::from_secs(secs), story)
        .await
        .is_err()
    {
        panic!("the story did not finish within {secs} s (AGENTIC_TEST_STORY_SECS)");
    }
}

/// The PostgreSQL server the tests use.
pub fn postgres_url() -> String {
    std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` (and a message) when PostgreSQL cannot be reached outside CI; panics inside CI.
pub async fn postgres_unavailable() -> bool {
    sqlx::any::install_default_drivers();
    let check = async {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&postgres_url())
            .await?
            .close()
            .await
    };
    let result = tokio::time::timeout(Duration::from_secs(5), check).await;
    match result {
        Ok(Ok(())) => false,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            if in_ci() {
                panic!(
                    "PostgreSQL is required in CI but {} is unreachable: {why}",
                    postgres_url()
                );
            }
            eprintln!(
                "skipping PostgreSQL run: {} unreachable ({why})",
                postgres_url()
            );
            true
        }
    }
}

/// The Redis server the cache tests use.
pub fn redis_url() -> String {
    std::env::var("AGENTIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `true` (and a message) when Redis cannot be reached outside CI; panics inside CI.
pub async fn redis_unavailable() -> bool {
    let check = async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    };
    let why = match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(())) => return false,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".into(),
    };
    if in_ci() {
        panic!(
            "Redis is required in CI but {} is unreachable: {why}",
            redis_url()
        );
    }
    eprintln!("skipping Redis run: {} unreachable ({why})", redis_url());
    true
}

/// Points `config`'s cache at the Redis at `url`, under a prefix no other test uses, with
/// timeouts that a busy test machine does not trip by accident.
pub fn use_redis(config: &mut Config, url: &str) {
    config.cache.redis_url = Some(url.to_owned());
    config.cache.redis_prefix = format!("agentic-test:{}:", uuid::Uuid::new_v4().simple());
    config.cache.redis_timeout_ms = 500;
    config.cache.redis_retry_ms = 200;
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (`Null` when empty or not JSON).
    pub json: Value,
    /// Body as text (lossy).
    pub text: String,
    /// Body as sent.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and returns its JSON.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        self.expect(status);
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            ct, "application/problem+json",
            "not a problem document: {}",
            self.text
        );
        assert_eq!(
            self.json["status"],
            json!(status),
            "problem status field: {}",
            self.text
        );
        assert!(
            self.json["type"].is_string() && self.json["title"].is_string(),
            "problem fields: {}",
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem detail: {}",
            self.text
        );
        &self.json
    }

    /// The `field` names of a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A `multipart/form-data` body, built part by part (document uploads).
#[derive(Debug, Default, Clone)]
pub struct Form {
    body: Vec<u8>,
}

/// The boundary every [`Form`] uses.
pub const FORM_BOUNDARY: &str = "agentic-test-boundary-5f3a9c";

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file part (quotes in `filename` escaped as browsers and curl do).
    pub fn file(mut self, name: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Self {
        let filename = filename.replace('"', "\\\"");
        self.body.extend_from_slice(
            format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a text part.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.body.extend_from_slice(
            format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
        self
    }

    /// The `Content-Type` to send the form with.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={FORM_BOUNDARY}")
    }

    /// The body without its closing boundary (a truncated upload).
    pub fn unfinished(self) -> Vec<u8> {
        self.body
    }

    /// The complete body.
    pub fn finish(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{FORM_BOUNDARY}--\r\n").as_bytes());
        self.body
    }
}

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

/// The bytes of a component built from `plugins/` (`example`, `hostile`, `not_a_connector`),
/// from `AGENTIC_PLUGIN_DIR` (set by `cargo xtask test`) or the target directory.
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    let path = plugin_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: `cargo xtask test` does",
            path.display()
        )
    })
}

/// Where the components built from `plugins/` are: `AGENTIC_PLUGIN_DIR` (set by `cargo xtask
/// test`) or the plugins workspace's target directory. Test hosts load the built-in agent
/// components (`agent_web_monitor.wasm`, …) from here (`agents.component_dir`).
pub fn plugin_dir() -> std::path::PathBuf {
    std::env::var("AGENTIC_PLUGIN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            // Where `cargo xtask` builds the plugins workspace (its own target directory).
            let target = option_env!("CARGO_TARGET_DIR")
                .map(|t| std::path::PathBuf::from(t).join("plugins"))
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target")
                });
            target.join("wasm32-wasip2/release")
        })
}

/// Sends a prepared request to a router and collects the reply.
pub async fn send_to(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
        bytes: bytes.to_vec(),
    }
}

/// One host on a fresh database.
#[derive(Debug)]
pub struct TestApp {
    /// The real router.
    pub router: Router,
    /// Its state (store, auth, config).
    pub state: AppState,
    /// The clock the host sees.
    pub clock: Arc<ManualClock>,
    /// Which database.
    pub backend: Backend,
    /// The database URL (with the schema selected, for PostgreSQL).
    pub database_url: String,
    /// Data directory (signing keys, SQLite file). A twin's is an unused empty directory: its
    /// configuration points at the first host's.
    pub dir: tempfile::TempDir,
    schema: Option<String>,
    /// Redis URL and key prefix to clean up when the (first) host goes.
    redis_keys: Option<(String, String)>,
    seq: Arc<std::sync::atomic::AtomicU32>,
}

impl TestApp {
    /// A host with the test defaults.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// A host with the test defaults changed by `tweak`.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let base = postgres_url();
                run_on_postgres(&format!("CREATE SCHEMA {schema}")).await;
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    // The schema doubles as the application name, so the teardown can end
                    // every session of this app (see `Drop`). Commits do not wait for the
                    // server's WAL flush: no story tests the server's own crash durability, and
                    // waiting on the disk for each of their thousands of commits (the RBAC
                    // matrix alone makes several thousand) made the PostgreSQL runs queue on
                    // fsync whenever other work shares the machine.
                    format!(
                        "{base}{sep}options=-c%20search_path%3D{schema}%20-c%20synchronous_commit%3Doff&application_name={schema}"
                    ),
                    Some(schema),
                )
            }
        };
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            database_url: Some(database_url.clone()),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..Config::default()
        };
        config.auth.login_per_account_per_minute = 1000;
        config.auth.login_per_ip_per_minute = 1000;
        config.agents.component_dir = Some(plugin_dir());
        tweak(&mut config);
        let store = server::open_store(&config).await.expect("open store");
        let clock = ManualClock::new();
        let state = server::state(config, store, clock.clone())
            .await
            .expect("state");
        server::ensure_first_admin(&state)
            .await
            .expect("first admin");
        let router = agentic_host::app(state.clone());
        let redis_keys = state
            .config
            .cache
            .redis_url
            .clone()
            .map(|url| (url, state.config.cache.redis_prefix.clone()));
        Self {
            router,
            state,
            clock,
            backend,
            database_url,
            dir,
            schema,
            redis_keys,
            seq: Default::default(),
        }
    }

    /// A second host on the same database with the same configuration (signing keys, cache and
    /// Redis included) and the same clock: what another process of a cluster would be.
    pub async fn twin(&self) -> TestApp {
        let config = (*self.state.config).clone();
        let store = server::open_store(&config).await.expect("open store");
        let state = server::state(config, store, self.clock.clone())
            .await
            .expect("state");
        TestApp {
            router: agentic_host::app(state.clone()),
            state,
            clock: self.clock.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            schema: None,
            redis_keys: None,
            seq: self.seq.clone(),
        }
    }

    /// Moves the host's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    /// Sends `body` verbatim with `content_type` (if any), authenticated as `token`: for
    /// malformed bodies and odd media types that [`TestApp::call`] would not produce.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(body.into()).expect("request")).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        send_to(&self.router, req).await
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

    /// Sends a [`Form`] as `multipart/form-data`, authenticated as `token`.
    pub async fn upload(&self, method: &str, path: &str, token: &str, form: Form) -> Reply {
        self.raw(
            method,
            path,
            token,
            Some(&Form::content_type()),
            form.finish(),
        )
        .await
    }

    /// `GET` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    /// `POST` JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

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

    /// Waits (in real time, about 30 s at most) until job `id` is `succeeded`, `dead` or
    /// `cancelled`; returns it as the API shows it to `token`.
    pub async fn finished_job(&self, token: &str, id: i64) -> Value {
        for _ in 0..1500 {
            let r = self.get(&format!("/api/v1/jobs/{id}"), token).await;
            if matches!(
                r.json["state"].as_str(),
                Some("succeeded" | "dead" | "cancelled")
            ) {
                return r.json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {id} did not finish");
    }

    /// Every item of a cursor-paginated list, following `next_cursor` 200 at a time.
    pub async fn all(&self, token: &str, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = self
                .get(&format!("{path}{sep}limit=200&cursor={cursor}"), token)
                .await;
            r.expect(200);
            out.extend(r.json["items"].as_array().expect("items").iter().cloned());
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
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

    /// Counts rows of a table directly in the database.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.state.store.pool())
            .await
            .expect("count")
    }
}

/// Runs `sql` on the test PostgreSQL server in a connection of its own (schemas and databases
/// made and dropped around the stories).
pub async fn run_on_postgres(sql: &str) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&postgres_url())
        .await
        .expect("connect to PostgreSQL");
    conn.execute(sql).await.expect("run SQL on PostgreSQL");
    let _ = conn.close().await;
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((url, prefix)) = self.redis_keys.take() {
            // Everything expires anyway; this keeps a shared Redis tidy after many runs.
            let _ = std::thread::spawn(move || {
                use redis::Commands;
                let Ok(client) = redis::Client::open(url) else {
                    return;
                };
                let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500))
                else {
                    return;
                };
                let keys: Vec<String> = match conn.scan_match(format!("{prefix}*")) {
                    Ok(iter) => iter.filter_map(Result::ok).collect(),
                    Err(_) => return,
                };
                for chunk in keys.chunks(500) {
                    let _ = redis::cmd("DEL").arg(chunk).query::<()>(&mut conn);
                }
            })
            .join();
        }
        let Some(schema) = self.schema.take() else {
            return;
        };
        // Drop the per-test schema on a thread of its own: Drop cannot await. The app's pool and
        // any worker task it spawned are still alive and may sit in a transaction holding locks
        // on the schema's tables; on a current-thread test runtime they cannot progress while
        // this thread waits, so `DROP SCHEMA` would wait for them forever. End their sessions
        // first (they carry the schema as application name), and never wait unbounded.
        let (done, finished) = std::sync::mpsc::channel();
        let name = schema.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(run_on_postgres(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = '{name}' AND pid <> pg_backend_pid(); \
                     SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                )));
            }
            let _ = done.send(());
        });
        if finished.recv_timeout(Duration::from_secs(60)).is_err() && !std::thread::panicking() {
            panic!("dropping the test schema {schema} failed or took over 60 s");
        }
    }
}
