//! Our side of `benches/queue.sh`: `JOBS` no-op jobs (default 10 000) run by one worker with
//! `CONCURRENCY` slots (default 4) on PostgreSQL (`AGENTIC_BENCH_POSTGRES_URL`), and on SQLite
//! for reference (`DATABASES`: `postgres,sqlite` by default). `CLAIM_AHEAD` sets
//! `jobs.claim_ahead` (0: the concurrency), `DURABLE=0` turns `jobs.durable_outcomes` off. Jobs
//! are queued before the clock starts; it stops when the database shows the last one
//! succeeded (counted again sooner the fewer are left: [`next_poll`]). Prints one JSON line per
//! database, like the peers' scripts.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::clock::{Clock, SystemClock};
use agentic_host::jobs::{Noop, Worker, WorkerOptions};
use agentic_host::store::jobs::NewJob;
use agentic_host::store::Store;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(url: &str, name: &str, jobs: usize, concurrency: usize) {
    let claim_ahead = env("CLAIM_AHEAD", 0);
    let durable = env("DURABLE", 1) != 0;
    let store = Store::connect(url)
        .await
        .unwrap()
        .with_durable_outcomes(durable);
    store.migrate().await.unwrap();
    let now = SystemClock.now_ms();
    for _ in 0..jobs {
        let job = NewJob {
            kind: "noop".into(),
            project_id: None,
            payload: "{}".into(),
            priority: 0,
            max_attempts: 3,
            run_at: now,
            idempotency_key: None,
            created_by: None,
        };
        store.enqueue(&job, now).await.unwrap();
    }
    let worker = Arc::new(Worker::new(
        store.clone(),
        Arc::new(SystemClock),
        vec![Arc::new(Noop)],
        WorkerOptions {
            concurrency,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(50),
            claim_ahead,
        },
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let running = tokio::spawn(worker.run(stopped));
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'succeeded'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(next_poll(left)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    running.await.unwrap();
    println!(
        "{}",
        serde_json::json!({"queue": "agentic", "database": name, "jobs": jobs, "concurrency": concurrency,
            "claim_ahead": claim_ahead, "durable_outcomes": durable,
            "seconds": seconds, "jobs_per_second": jobs as f64 / seconds})
    );
    store.close().await;
}

/// How long to wait before counting again with `left` jobs not done: 20 µs a job (less than any
/// of the queues takes), between 1 and 50 ms, so the clock stops within about a millisecond of
/// the last job without counting all the time. The peers' scripts wait the same.
fn next_poll(left: i64) -> Duration {
    Duration::from_micros(u64::try_from(left).unwrap_or(0) * 20)
        .clamp(Duration::from_millis(1), Duration::from_millis(50))
}

fn main() {
    let jobs = env("JOBS", 10_000);
    let concurrency = env("CONCURRENCY", 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let databases = std::env::var("DATABASES").unwrap_or_else(|_| "postgres,sqlite".into());
        let postgres = std::env::var("AGENTIC_BENCH_POSTGRES_URL")
            .ok()
            .filter(|_| databases.contains("postgres"));
        if let Some(base) = postgres {
            let admin = Store::connect(&base).await.unwrap();
            let schema = format!("queue_bench_{}", std::process::id());
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(admin.pool())
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            run(
                &format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                "postgres",
                jobs,
                concurrency,
            )
            .await;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(admin.pool())
                .await
                .unwrap();
            admin.close().await;
        }
        if !databases.contains("sqlite") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("queue.db").display()
        );
        run(&url, "sqlite", jobs, concurrency).await;
    });
}
