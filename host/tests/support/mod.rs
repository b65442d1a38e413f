//! Shared by the plugin tests: where `cargo xtask test` put the components built from
//! `plugins/`, and loading one into a runtime. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use agentic_host::plugins::{Plugin, Runtime};

/// `AGENTIC_PLUGIN_DIR`, or the wasm32-wasip2 release directory of the target dir.
pub fn plugin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("AGENTIC_PLUGIN_DIR") {
        return dir.into();
    }
    // Where `cargo xtask` builds the plugins workspace (its own target directory).
    let target = option_env!("CARGO_TARGET_DIR")
        .map(|t| PathBuf::from(t).join("plugins"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"));
    target.join("wasm32-wasip2/release")
}

/// The bytes of a built component (`example`, `hostile`, `not_a_connector`).
pub fn wasm(name: &str) -> Vec<u8> {
    let path = plugin_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: `cargo xtask test` does (plugins/ for wasm32-wasip2)",
            path.display()
        )
    })
}

/// Installs the example connector from the shell, as its publisher and an administrator would:
/// a publisher key, the package signed with it, the key trusted, the package installed. `cli`
/// runs one `agentic` command in `dir` (on the caller's database) and returns what it printed,
/// having checked that it succeeded.
pub fn install_example_from_shell(dir: &Path, cli: impl Fn(&[&str]) -> String) {
    let public = cli(&["plugin", "keygen", "publisher.key"]);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/example/plugin.toml");
    std::fs::write(dir.join("example.wasm"), wasm("example")).expect("wasm");
    cli(&[
        "plugin",
        "sign",
        "--key",
        "publisher.key",
        "--manifest",
        &manifest.display().to_string(),
        "--component",
        "example.wasm",
        "--out",
        "example.agp",
    ]);
    cli(&["plugin", "trust", "acme", public.trim()]);
    cli(&["plugin", "install", "example.agp"]);
}

/// Compiles a built component.
pub fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime.load(name, &wasm(name)).expect("load component")
}

/// The test PostgreSQL server's URL: `AGENTIC_TEST_POSTGRES_URL`, or the local `test` database.
fn postgres_base() -> String {
    std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema of its own on the test PostgreSQL server, dropped with everything in it when
/// this is dropped: the tests that use one store tens of thousands of rows, and the server is
/// shared by every run on the machine.
pub struct PgSchema {
    /// The URL to connect with: the schema as `search_path`, and as `application_name` so that
    /// the drop can end the sessions a test left open.
    pub url: String,
    name: String,
}

/// A PostgreSQL schema named `<prefix>_<uuid>` on `AGENTIC_TEST_POSTGRES_URL` (default: the
/// local server's `test` database). `None` (the caller skips) without a server, except under
/// CI, where a missing server fails the test.
pub async fn postgres_schema(prefix: &str) -> Option<PgSchema> {
    let base = postgres_base();
    sqlx::any::install_default_drivers();
    let pool = match sqlx::AnyPool::connect(&base).await {
        Ok(pool) => pool,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("PostgreSQL is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: PostgreSQL unavailable ({e})");
            return None;
        }
    };
    let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(PgSchema {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"),
        name: schema,
    })
}

impl Drop for PgSchema {
    /// Drops the schema on a thread of its own (Drop cannot await, and the test's runtime may
    /// be the one its still-open pools need): ends the sessions named after it first, so that
    /// none holds a lock `DROP SCHEMA` would wait for, and never waits more than a minute.
    fn drop(&mut self) {
        let name = self.name.clone();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let sql = format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = '{name}' AND pid <> pg_backend_pid(); \
                 SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {name} CASCADE"
            );
            let dropped = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(async {
                        let mut conn = sqlx::AnyConnection::connect(&postgres_base()).await?;
                        conn.execute(sql.as_str()).await?;
                        conn.close().await
                    })
                    .map_err(|e| e.to_string())
                });
            let _ = done.send(dropped);
        });
        let outcome = finished.recv_timeout(std::time::Duration::from_secs(60));
        if !std::thread::panicking() {
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("dropping the test schema {} failed: {e}", self.name),
                Err(_) => panic!("dropping the test schema {} took over 60 s", self.name),
            }
        }
    }
}
