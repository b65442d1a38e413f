//! What the benches in `tests/benches/` share: their sizes, read from the environment, the
//! runtime they run their hosts on, and which databases they measure.

use crate::Backend;

/// The count the environment variable `name` gives (`ISSUES=30000`), or `default` when it is
/// unset or not a number.
pub fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime with two workers, the one every bench's figures in
/// `docs/PERFORMANCE.md` were taken on (the machines have two vCPUs).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// SQLite, and PostgreSQL too when `AGENTIC_BENCH_POSTGRES=1`, each with the name a bench
/// prints.
pub fn backends() -> Vec<(&'static str, Backend)> {
    let mut backends = vec![("SQLite", Backend::Sqlite)];
    if std::env::var("AGENTIC_BENCH_POSTGRES").is_ok_and(|v| v == "1") {
        backends.push(("PostgreSQL", Backend::Postgres));
    }
    backends
}
