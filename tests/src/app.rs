//! [`TestApp`]: one host on a fresh database, as `agentic_host::app` and the server's startup
//! make it (first administrator included), with a manual clock; its twin on the same database;
//! and the teardown that drops the PostgreSQL schema and the Redis keys it used. Also where the
//! components built from `plugins/` are, which test hosts load.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::clock::ManualClock;
use agentic_host::config::Config;
use agentic_host::store::Backend;
use agentic_host::{server, AppState};
use axum::Router;

use crate::services::{postgres_url, run_on_postgres};
use crate::setup::{ADMIN_EMAIL, ADMIN_PASSWORD};

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
    /// Numbers the users [`TestApp::user`] makes, shared with twins.
    pub(crate) seq: Arc<std::sync::atomic::AtomicU32>,
}

impl TestApp {
    /// A host with the test defaults.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// A host with the test defaults changed by `tweak`.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::open(backend, false, tweak).await
    }

    /// A host for the benchmarks, whose commits on PostgreSQL wait for the server's WAL flush
    /// as production's do (the stories' hosts do not: see below), with `tweak` applied.
    pub async fn start_durable(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::open(backend, true, tweak).await
    }

    async fn open(backend: Backend, durable: bool, tweak: impl FnOnce(&mut Config)) -> Self {
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
                    // every session of this app (see `Drop`). Unless `durable`, commits do not
                    // wait for the server's WAL flush: no story tests the server's own crash
                    // durability, and waiting on the disk for each of their thousands of
                    // commits (the RBAC matrix alone makes several thousand) made the
                    // PostgreSQL runs queue on fsync whenever other work shares the machine.
                    format!(
                        "{base}{sep}options=-c%20search_path%3D{schema}{}&application_name={schema}",
                        if durable {
                            ""
                        } else {
                            "%20-c%20synchronous_commit%3Doff"
                        }
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

    /// Counts rows of a table directly in the database.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.state.store.pool())
            .await
            .expect("count")
    }
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
