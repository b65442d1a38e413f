//! Shared by the plugin tests: where `cargo xtask test` put the components built from
//! `plugins/`, and loading one into a runtime. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

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

/// Compiles a built component.
pub fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime.load(name, &wasm(name)).expect("load component")
}

/// A PostgreSQL URL on a fresh schema of its own (named `<prefix>_<uuid>`), from
/// `AGENTIC_TEST_POSTGRES_URL` (default: the local server's `test` database). `None` (the caller
/// skips) without a server, except under CI, where a missing server fails the test.
pub async fn postgres_schema(prefix: &str) -> Option<String> {
    let base = std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
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
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
