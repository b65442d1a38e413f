//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-host --bench sync` (SQLite; set `AGENTIC_BENCH_POSTGRES_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`, for PostgreSQL too).
//!
//! A sync of 100 000 work items from a local HTTP service (JSON pages of 1 000) through the
//! example connector — the installed component, the host's mediated egress, the sync engine
//! storing each page with its state in one transaction — into the database, timed end to end.
//! Beside it, the same connector code run natively (the SDK harness and its native HTTP
//! client) fetching and transforming the same pages without storing them: the ratio says what
//! the sandbox and the storage cost together. And the native connector again, each page stored
//! by the same `Store::store_page` into the same kind of database (records serialised to JSON
//! natively): the ratio to it says what the sandbox and the sync engine cost on their own.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use agentic_host::clock::{Clock, Millis, SystemClock};
use agentic_host::config::Config;
use agentic_host::jobs::{JobContext, JobHandler};
use agentic_host::plugins::package::{Package, SigningKey};
use agentic_host::plugins::registry::Actor;
use agentic_host::rbac::Role;
use agentic_host::store::connections::ConnectionFields;
use agentic_host::store::jobs::NewJob;
use agentic_host::store::records::{NewRecord, SyncState};
use agentic_host::store::users::{NewUser, UserKind};
use agentic_sdk::testing::Harness;
use agentic_sdk::RecordData;

const ITEMS: u64 = 100_000;
const PAGE: u64 = 1_000;

/// The service: `ITEMS` work items in JSON pages of `PAGE`, rendered up front.
async fn service() -> String {
    let pages: Arc<Vec<String>> = Arc::new(
        (0..ITEMS / PAGE)
            .map(|p| {
                let items: Vec<_> = (p * PAGE + 1..=(p + 1) * PAGE)
                    .map(|n| {
                        serde_json::json!({
                            "id": n,
                            "title": format!("Customer-reported defect {n}: export fails on large projects"),
                            "status": if n % 3 == 0 { "done" } else { "in progress" },
                            "updated": 1_764_000_000_000i64 + n as i64,
                        })
                    })
                    .collect();
                serde_json::json!({"items": items, "has_more": (p + 1) * PAGE < ITEMS}).to_string()
            })
            .collect(),
    );
    let app = axum::Router::new()
        .route(
            "/items",
            axum::routing::get(
                move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                    let pages = pages.clone();
                    async move {
                        let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                        pages[(after / PAGE) as usize].clone()
                    }
                },
            ),
        )
        .route(
            "/status",
            axum::routing::get(|| async { "{\"items\": 100000}" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A host on `database_url` with the example connector installed signed and a connection of
/// a new project to `base`.
struct Setup {
    _dir: tempfile::TempDir,
    store: agentic_host::store::Store,
    state: agentic_host::api::AppState,
    project: i64,
    connection: i64,
}

async fn setup(database_url: &str, base: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        database_url: Some(database_url.to_owned()),
        ..Config::default()
    };
    let store = agentic_host::server::open_store(&config).await.unwrap();
    let state = agentic_host::server::state(config, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let now = SystemClock.now_ms();
    let actor = Actor {
        user: None,
        ip: None,
    };
    let key = SigningKey::generate().unwrap().0;
    state
        .plugins
        .trust(&actor, "bench", &key.public_key().to_string())
        .await
        .unwrap();
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/example/plugin.toml"),
    )
    .unwrap();
    let package = Package::build(&key, &manifest, &support::wasm("example")).unwrap();
    state.plugins.install(&actor, &package).await.unwrap();
    let owner = store
        .create_user(
            NewUser {
                kind: UserKind::Human,
                email: Some("bench@example.com"),
                display_name: "Bench",
                password_hash: Some("unused"),
                role: Role::ProjectManager,
            },
            now,
        )
        .await
        .unwrap();
    let project = store
        .create_project("Bench", "", owner.id, owner.id, now)
        .await
        .unwrap();
    store
        .enable_plugin(project.id, "example", None, now)
        .await
        .unwrap();
    let config = serde_json::json!({"base_url": base, "page_size": PAGE}).to_string();
    let fields = ConnectionFields {
        name: "bench",
        config: &config,
        base_url: base,
        allow_private_network: true,
        origins: &Default::default(),
        credential_kind: "anonymous",
        secret_id: None,
    };
    let connection = store
        .create_connection(project.id, "example", &fields, owner.id, now)
        .await
        .unwrap();
    Setup {
        _dir: dir,
        store,
        state,
        project: project.id,
        connection: connection.id,
    }
}

async fn stored(store: &agentic_host::store::Store) -> u64 {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records")
        .fetch_one(store.pool())
        .await
        .unwrap();
    n as u64
}

/// One full sync into `database_url` through the host; records per second.
async fn sync(database_url: &str, base: &str) -> f64 {
    let Setup {
        _dir,
        store,
        state,
        project,
        connection,
    } = setup(database_url, base).await;
    let now = SystemClock.now_ms();
    let payload =
        serde_json::json!({"connection_id": connection, "stream": "items", "mode": "full"});
    let (job, _) = store
        .enqueue(
            &NewJob {
                kind: "sync".into(),
                project_id: Some(project),
                payload: payload.to_string(),
                priority: 0,
                max_attempts: 1,
                run_at: now,
                idempotency_key: None,
                created_by: None,
            },
            now,
        )
        .await
        .unwrap();
    let handler = agentic_host::sync::SyncHandler::new(
        store.clone(),
        state.plugins.clone(),
        state.sessions.clone(),
        state.clock.clone(),
    );
    // Compile the component before the clock starts, as a running host has.
    let _ = state.plugins.active("example").await.unwrap();
    let (ctx, _cancel) = JobContext::detached(job);
    let start = Instant::now();
    let report = handler.run(&ctx).await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(report["records"], ITEMS, "{report}");
    assert_eq!(stored(&store).await, ITEMS);
    store.close().await;
    ITEMS as f64 / elapsed
}

/// The connector run natively, each page stored by `Store::store_page` with its state, as the
/// sync engine stores a page (without the engine's lease checks and read-ahead); records per
/// second.
async fn native_stored(database_url: &str, base: &str) -> f64 {
    let Setup {
        _dir,
        store,
        project,
        connection,
        ..
    } = setup(database_url, base).await;
    let config = serde_json::json!({"base_url": base, "page_size": PAGE});
    let native = Harness::new(example::Example);
    let start = Instant::now();
    let (mut state, mut count) = (None::<String>, 0u64);
    loop {
        // The harness's HTTP client blocks: the runtime hands this thread's other work over.
        let page = tokio::task::block_in_place(|| {
            native.read(&config, "items", state.as_deref()).unwrap()
        });
        let records: Vec<NewRecord<'_>> = page
            .records
            .iter()
            .map(|r| match r {
                RecordData::WorkItem(w) => NewRecord {
                    kind: "work_item",
                    external_id: w.external_id.as_str().into(),
                    title: w.title.as_str().into(),
                    status: Some(w.status.as_str().into()),
                    source_updated_at: w.updated_at.map(Millis::from_ms),
                    data: serde_json::to_string(w).unwrap().into(),
                },
                other => panic!("the example connector returned {other:?}"),
            })
            .collect();
        count += records.len() as u64;
        let sync_state = SyncState {
            state: Some(page.state.clone()),
            cycle: 1,
            complete: !page.has_more,
        };
        store
            .store_page(
                None,
                project,
                connection,
                "items",
                &records,
                &sync_state,
                SystemClock.now_ms(),
            )
            .await
            .unwrap();
        state = Some(page.state);
        if !page.has_more {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(count, ITEMS);
    assert_eq!(stored(&store).await, ITEMS);
    store.close().await;
    ITEMS as f64 / elapsed
}

async fn postgres_schema(base: &str) -> String {
    let store = agentic_host::store::Store::connect(base).await.unwrap();
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(service());

    // Native: the same connector code fetching and transforming the same pages, nothing stored.
    let native = Harness::new(example::Example);
    let config = serde_json::json!({"base_url": base, "page_size": PAGE});
    let start = Instant::now();
    let (mut state, mut count) = (None::<String>, 0u64);
    loop {
        let page = native.read(&config, "items", state.as_deref()).unwrap();
        count += page.records.len() as u64;
        state = Some(page.state);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(count, ITEMS);
    let native_rate = count as f64 / start.elapsed().as_secs_f64();

    println!("\nsync of {ITEMS} work items from a local HTTP service, JSON pages of {PAGE}");
    println!("{:<44} {:>12} {:>14}", "path", "records/s", "vs native");
    println!(
        "{:<44} {:>12.0} {:>14}",
        "native connector, fetch + transform only", native_rate, "1.00"
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(format!("{name}.db")).display()
        )
    };
    let mut databases = vec![("SQLite", sqlite("host"), sqlite("native"))];
    if let Ok(pg) = std::env::var("AGENTIC_BENCH_POSTGRES_URL") {
        databases.push((
            "PostgreSQL",
            runtime.block_on(postgres_schema(&pg)),
            runtime.block_on(postgres_schema(&pg)),
        ));
    }
    for (name, host_url, native_url) in databases {
        let stored_rate = runtime.block_on(native_stored(&native_url, &base));
        let rate = runtime.block_on(sync(&host_url, &base));
        println!(
            "{:<44} {:>12.0} {:>14.2}",
            format!("native connector → store_page → {name}"),
            stored_rate,
            stored_rate / native_rate
        );
        println!(
            "{:<44} {:>12.0} {:>14.2}",
            format!("component → sync engine → {name}"),
            rate,
            rate / native_rate
        );
        println!(
            "{:<44} {:>12} {:>14.2}",
            "  through the host / native with the same store",
            "",
            rate / stored_rate
        );
    }
}
