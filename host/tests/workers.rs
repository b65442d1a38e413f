//! Worker processes for real: `agentic worker` children sharing one queue, and a worker killed
//! with SIGKILL at random points in the middle of a sync.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentic_host::clock::{Clock, SystemClock};
use agentic_host::config::Config;
use agentic_host::rbac::Role;
use agentic_host::store::connections::{Connection, ConnectionFields};
use agentic_host::store::jobs::{JobState, NewJob};
use agentic_host::store::users::{NewUser, UserKind};
use agentic_host::store::Store;
use rand::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_agentic");

pub(crate) fn agentic(dir: &Path, database: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("AGENTIC_DATA_DIR", dir)
        .env("AGENTIC_DATABASE_URL", database)
        .env_remove("AGENTIC_VAULT_KEY")
        .env("AGENTIC_JOBS__LEASE_SECS", "1")
        .env("AGENTIC_LOG", "warn");
    cmd
}

pub(crate) fn cli(dir: &Path, database: &str, args: &[&str]) -> String {
    let out = agentic(dir, database, args).output().expect("spawn");
    assert!(
        out.status.success(),
        "agentic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn worker(dir: &Path, database: &str) -> Child {
    agentic(dir, database, &["worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker")
}

fn config(dir: &Path, database: &str) -> Config {
    Config {
        data_dir: dir.to_owned(),
        database_url: Some(database.to_owned()),
        ..Config::default()
    }
}

/// An installation as `agentic serve` leaves it (the vault key made on first start) on a SQLite
/// file in `dir`, with one example connection of `items` work items, `page_size` a page.
/// Returns the database URL, its store and the connection's id.
pub(crate) async fn installed_example(
    dir: &Path,
    items: u32,
    page_size: u32,
) -> (String, agentic_host::store::Store, String) {
    let database = format!("sqlite://{}?mode=rwc", dir.join("agentic.db").display());
    let (store, connections) = example_connections(dir, &database, items, page_size, 1).await;
    agentic_host::server::state(
        config(dir, &database),
        store.clone(),
        std::sync::Arc::new(SystemClock),
    )
    .await
    .expect("first start");
    let id = connections[0].id.to_string();
    (database, store, id)
}

/// Installs the example connector from the shell, then gives it a project and `connections`
/// in-memory connections of `items` work items, `page_size` a page.
pub(crate) async fn example_connections(
    dir: &Path,
    database: &str,
    items: u32,
    page_size: u32,
    connections: usize,
) -> (Store, Vec<Connection>) {
    support::install_example_from_shell(dir, |args| cli(dir, database, args));
    let store = agentic_host::server::open_store(&config(dir, database))
        .await
        .expect("store");
    let now = SystemClock.now_ms();
    let owner = store
        .create_user(
            NewUser {
                kind: UserKind::Human,
                email: Some("owner@example.com"),
                display_name: "Owner",
                password_hash: Some("unused"),
                role: Role::ProjectManager,
            },
            now,
        )
        .await
        .expect("user");
    let project = store
        .create_project("Sync", "", owner.id, owner.id, now)
        .await
        .expect("project");
    store
        .enable_plugin(project.id, "example", Some(owner.id), now)
        .await
        .expect("enable");
    let config = format!(r#"{{"items": {items}, "page_size": {page_size}}}"#);
    let mut out = Vec::new();
    for n in 0..connections {
        let fields = ConnectionFields {
            name: &format!("memory {n}"),
            config: &config,
            base_url: "https://tracker.example.com",
            allow_private_network: false,
            origins: &Default::default(),
            credential_kind: "anonymous",
            secret_id: None,
        };
        out.push(
            store
                .create_connection(project.id, "example", &fields, owner.id, now)
                .await
                .expect("connection"),
        );
    }
    (store, out)
}

async fn wait_finished(store: &Store, id: i64, within: Duration) -> agentic_host::store::jobs::Job {
    let started = Instant::now();
    loop {
        let job = store.get_job(id).await.expect("job");
        if matches!(job.state.as_str(), "succeeded" | "dead" | "cancelled") {
            return job;
        }
        assert!(
            started.elapsed() < within,
            "job {id} unfinished after {within:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn records_of(store: &Store, connection: i64) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT external_id, data FROM records WHERE connection_id = $1 AND deleted = 0",
    )
    .bind(connection)
    .fetch_all(store.pool())
    .await
    .expect("records");
    let mut rows = rows;
    rows.sort();
    rows
}

fn kill9(child: &mut Child) {
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill");
    let _ = child.wait();
}

/// SIGKILLs a worker in the middle of a sync again and again; the records stored in the end
/// are exactly a clean run's.
async fn killed_mid_sync(dir: &Path, database: &str) {
    const ITEMS: u32 = 20_000;
    let (store, connections) = example_connections(dir, database, ITEMS, 20, 2).await;
    let (crashed, clean) = (&connections[0], &connections[1]);
    let now = SystemClock.now_ms();
    // Every kill costs an attempt (a job that keeps killing its worker must die eventually);
    // this one may be killed more often than the default five.
    let payload =
        serde_json::json!({"connection_id": crashed.id, "stream": "items", "mode": "full"});
    let sync = NewJob {
        kind: agentic_host::sync::SYNC.into(),
        project_id: Some(crashed.project_id),
        payload: payload.to_string(),
        priority: 0,
        max_attempts: 20,
        run_at: now,
        idempotency_key: None,
        created_by: None,
    };
    let (job, _) = store.enqueue(&sync, now).await.expect("enqueue");

    // Each round: a worker starts, resumes the sync, and is killed at a random moment after
    // it stored something new.
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let mut seen_progress = Vec::new();
    for _ in 0..6 {
        let before = records_of(&store, crashed.id).await.len();
        if before == ITEMS as usize {
            break;
        }
        let mut child = worker(dir, database);
        let started = Instant::now();
        while records_of(&store, crashed.id).await.len() == before
            && started.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..400))).await;
        kill9(&mut child);
        kills += 1;
        seen_progress.push(records_of(&store, crashed.id).await.len());
    }
    let mut last = worker(dir, database);
    let finished = wait_finished(&store, job.id, Duration::from_secs(120)).await;
    kill9(&mut last);
    assert_eq!(finished.state, JobState::Succeeded, "{finished:?}");
    assert!(
        seen_progress.iter().any(|n| *n > 0 && *n < ITEMS as usize),
        "no kill landed in the middle of the sync: {seen_progress:?} after {kills} kills"
    );
    assert!(
        finished.attempts >= 2,
        "the job was taken over after a kill: {finished:?}"
    );

    // The same sync, undisturbed, by `agentic sync run`.
    let out = agentic(
        dir,
        database,
        &[
            "sync",
            "run",
            &clean.id.to_string(),
            "--stream",
            "items",
            "--full",
        ],
    )
    .output()
    .expect("sync run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{ITEMS} records stored")),
        "the run reports what it stored: {stdout}"
    );
    let report = cli(dir, database, &["report", "performance", "--hours", "1"]);
    assert!(
        report.contains("sync") && report.contains("records stored"),
        "{report}"
    );

    let after_kills = records_of(&store, crashed.id).await;
    let undisturbed = records_of(&store, clean.id).await;
    assert_eq!(
        after_kills.len(),
        ITEMS as usize,
        "none lost (progress between kills: {seen_progress:?})"
    );
    assert_eq!(after_kills, undisturbed, "the same records as a clean run");
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE connection_id = $1")
        .bind(crashed.id)
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(total, i64::from(ITEMS), "none duplicated");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_sync_at_random_points_loses_and_duplicates_nothing_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("agentic.db").display()
    );
    killed_mid_sync(dir.path(), &database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_sync_at_random_points_loses_and_duplicates_nothing_on_postgres() {
    let Some(schema) = support::postgres_schema("w").await else {
        return;
    };
    let database = schema.url.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    killed_mid_sync(dir.path(), database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_one_postgres_queue_run_every_job_exactly_once() {
    let Some(schema) = support::postgres_schema("w").await else {
        return;
    };
    let database = schema.url.as_str();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = agentic_host::server::open_store(&config(dir.path(), database))
        .await
        .expect("store");
    // The vault key, made once before the workers start (`vault status` no longer makes one).
    agentic_host::vault::Vault::open(
        store.clone(),
        config(dir.path(), database).vault_key_source(),
    )
    .await
    .expect("vault key");
    let now = SystemClock.now_ms();
    const JOBS: usize = 400;
    let mut ids = Vec::new();
    for n in 0..JOBS {
        let job = NewJob {
            kind: "noop".into(),
            project_id: None,
            payload: "{}".into(),
            priority: (n % 3) as i32,
            max_attempts: 3,
            run_at: now,
            idempotency_key: None,
            created_by: None,
        };
        ids.push(store.enqueue(&job, now).await.expect("enqueue").0.id);
    }
    let mut workers = [worker(dir.path(), database), worker(dir.path(), database)];
    let started = Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'succeeded'")
            .fetch_one(store.pool())
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{left} jobs left after two minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in &mut workers {
        Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status()
            .expect("kill");
        assert!(
            w.wait().expect("wait").success(),
            "a worker stops cleanly on SIGTERM"
        );
    }
    let rows: Vec<(i32, Option<String>)> = sqlx::query_as("SELECT attempts, result FROM jobs")
        .fetch_all(store.pool())
        .await
        .expect("jobs");
    assert_eq!(rows.len(), JOBS);
    assert!(
        rows.iter().all(|(attempts, _)| *attempts == 1),
        "every job claimed exactly once"
    );
    let mut by: Vec<String> = rows
        .iter()
        .filter_map(|(_, r)| r.as_deref())
        .map(|r| serde_json::from_str::<serde_json::Value>(r).expect("json")["worker"].to_string())
        .collect();
    by.sort();
    by.dedup();
    assert_eq!(by.len(), 2, "both processes took jobs: {by:?}");
    store.close().await;
}
