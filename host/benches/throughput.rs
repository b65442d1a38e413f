//! `cargo bench -p agentic-host --bench throughput`
//!
//! Side by side, in one run, on SQLite and on PostgreSQL:
//! - authenticated `GET /api/v1/projects/{id}` requests per second, and `GET /healthz` (the same
//!   stack without authentication or database) as the baseline they are a ratio of;
//! - login latency, and the raw argon2id verification it contains as its baseline.
//!
//! Requests go through the real router in-process (`tower::ServiceExt::oneshot`) from 8
//! concurrent tasks on a 2-worker runtime, so the figures are the host's own cost without the
//! kernel's TCP stack. PostgreSQL: `AGENTIC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a scratch schema dropped at the end.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::clock::SystemClock;
use agentic_host::config::Config;
use agentic_host::{app, server};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TASKS: usize = 8;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
const LOGINS: usize = 25;
const PASSWORD: &str = "bench-password-1234";

type MakeRequest = Arc<dyn Fn() -> Request<Body> + Send + Sync>;

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(path: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.body(Body::from(body.to_string())).unwrap()
}

/// Requests per second of `make()` from `TASKS` concurrent tasks; every answer must be 200.
async fn rate(router: &Router, make: MakeRequest) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (router, make, done) = (router.clone(), make.clone(), done.clone());
        let (counting, stop) = (counting.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let res = router.clone().oneshot(make()).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "benchmark request failed");
                let _ = res.into_body().collect().await.unwrap();
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                // `/healthz` never waits on I/O: yield so the timer and the other tasks run.
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(MEASURE).await;
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / elapsed.as_secs_f64()
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx].as_secs_f64() * 1000.0
}

struct Figures {
    healthz: f64,
    project: f64,
    login_p50: f64,
    login_p95: f64,
}

async fn measure(database_url: String, dir: &std::path::Path) -> Figures {
    let mut config = Config {
        data_dir: dir.to_owned(),
        database_url: Some(database_url),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some(PASSWORD.into()),
        ..Config::default()
    };
    config.auth.login_per_account_per_minute = 1_000_000;
    config.auth.login_per_ip_per_minute = 1_000_000;
    let store = server::open_store(&config).await.unwrap();
    let state = server::state(config, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    server::ensure_first_admin(&state).await.unwrap();
    let router = app(state);

    let login = json!({ "email": "bench@example.com", "password": PASSWORD });
    let (status, tokens) = call(&router, post("/api/v1/auth/login", None, &login)).await;
    assert_eq!(status, StatusCode::OK);
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, project) = call(
        &router,
        post(
            "/api/v1/projects",
            Some(&token),
            &json!({ "name": "Bench" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/projects/{}", project["id"]);

    let healthz = rate(
        &router,
        Arc::new(|| Request::get("/healthz").body(Body::empty()).unwrap()),
    )
    .await;
    let auth = format!("Bearer {token}");
    let project = rate(
        &router,
        Arc::new(move || {
            Request::get(&path)
                .header("authorization", &auth)
                .body(Body::empty())
                .unwrap()
        }),
    )
    .await;

    let mut samples = Vec::with_capacity(LOGINS);
    for _ in 0..LOGINS {
        let start = Instant::now();
        let (status, _) = call(&router, post("/api/v1/auth/login", None, &login)).await;
        samples.push(start.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    store.close().await;
    Figures {
        healthz,
        project,
        login_p50: percentile(&mut samples, 0.5),
        login_p95: percentile(&mut samples, 0.95),
    }
}

async fn on_postgres(base: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::AnyConnection::connect(base).await?;
    conn.execute(sql).await?;
    conn.close().await
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let sqlite = measure(sqlite_url, dir.path()).await;

        let base = std::env::var("AGENTIC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_{}", std::process::id());
        let postgres = match on_postgres(&base, &format!("CREATE SCHEMA {schema}")).await {
            Ok(()) => {
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                let pg_dir = tempfile::tempdir().unwrap();
                let figures = measure(url, pg_dir.path()).await;
                on_postgres(&base, &format!("DROP SCHEMA {schema} CASCADE"))
                    .await
                    .unwrap();
                Some(figures)
            }
            Err(e) => {
                println!("PostgreSQL unreachable ({e}); measuring SQLite only");
                None
            }
        };

        // The argon2id verification inside every login, alone.
        let hash = agentic_host::auth::password::hash(PASSWORD).unwrap();
        let mut raw = Vec::with_capacity(LOGINS);
        for _ in 0..LOGINS {
            let start = Instant::now();
            assert!(agentic_host::auth::password::verify(PASSWORD, Some(&hash)));
            raw.push(start.elapsed());
        }
        let argon_p50 = percentile(&mut raw, 0.5);

        println!(
            "\n{TASKS} concurrent in-process clients, {}s per rate, {LOGINS} sequential logins",
            MEASURE.as_secs()
        );
        println!("{:<44} {:>12} {:>12}", "", "SQLite", "PostgreSQL");
        let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
            let pg = postgres.as_ref().map(f).unwrap_or_else(|| "-".into());
            println!("{name:<44} {:>12} {pg:>12}", f(&sqlite));
        };
        row("GET /healthz (req/s)", &|f| format!("{:.0}", f.healthz));
        row("GET /api/v1/projects/{id} authed (req/s)", &|f| {
            format!("{:.0}", f.project)
        });
        row("  ratio project / healthz", &|f| {
            format!("{:.3}", f.project / f.healthz)
        });
        row("POST /api/v1/auth/login p50 (ms)", &|f| {
            format!("{:.1}", f.login_p50)
        });
        row("POST /api/v1/auth/login p95 (ms)", &|f| {
            format!("{:.1}", f.login_p95)
        });
        row("  ratio login p50 / argon2id verify p50", &|f| {
            format!("{:.2}", f.login_p50 / argon_p50)
        });
        println!(
            "{:<44} {:>12.1}",
            "argon2id verify alone p50 (ms)", argon_p50
        );
    });
}
