//! `cargo bench -p agentic-host --bench throughput`
//!
//! Side by side, in one run, on SQLite and on PostgreSQL:
//! - authenticated `GET /api/v1/projects/{id}` requests per second under four cache set-ups
//!   (in-process, none, Redis only, Redis down: see `caches`), and `GET /healthz` (the same stack
//!   without authentication or database) as the baseline they are a ratio of;
//! - the same over real TCP (`tcp`): `/healthz`, the project read cached and uncached, from 4
//!   keep-alive connections;
//! - what a logout costs and how soon another host refuses its token (`tcp::revocation`), with
//!   no cache, the in-process cache and its database bus, and Redis;
//! - login latency, and the raw argon2id verification it contains as its baseline; the JWT
//!   signature check, and the remembered one that replaces it after a token's first use.
//!
//! The in-process rates go through the real router (`tower::ServiceExt::oneshot`) from 8
//! concurrent tasks on a 2-worker runtime, so they are the host's own cost without the
//! kernel's TCP stack. PostgreSQL: `AGENTIC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), in a scratch schema dropped at the end.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::auth::config::AuthConfig;
use agentic_host::auth::tokens::TokenKeys;
use agentic_host::cache::config::CacheConfig;
use agentic_host::clock::SystemClock;
use agentic_host::config::Config;
use agentic_host::store::Store;
use agentic_host::{app, server};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Over real TCP.
mod tcp;

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
    /// Authenticated project reads per second, one per cache set-up (see [`caches`]).
    project: Vec<Option<f64>>,
    /// Over TCP: `/healthz`, the project read with the default cache, and without a cache.
    tcp: [f64; 3],
    /// A logout with no cache, the in-process cache (database bus), Redis (if reachable).
    revocations: Vec<Option<tcp::Revocation>>,
    login_p50: f64,
    login_p95: f64,
}

/// The cache set-ups the authenticated read is measured under: the default (in-process), none,
/// Redis as the only tier (no in-process entries: every lookup asks Redis), and Redis down (a
/// server that accepts connections and never answers: every lookup waits out the Redis timeout
/// once, then goes straight to the database until the retry interval has passed).
fn caches(redis: Option<&str>, blackhole: &str) -> Vec<(&'static str, Option<CacheConfig>)> {
    let redis_only = |url: &str| CacheConfig {
        max_entries: 0,
        redis_url: Some(url.to_owned()),
        redis_prefix: format!("bench{}:", std::process::id()),
        ..CacheConfig::default()
    };
    vec![
        ("in-process cache (default)", Some(CacheConfig::default())),
        (
            "no cache",
            Some(CacheConfig {
                enabled: false,
                ..CacheConfig::default()
            }),
        ),
        ("Redis only", redis.map(redis_only)),
        ("Redis down (never answers)", Some(redis_only(blackhole))),
    ]
}

/// A host on `database_url` with `cache`: its router and store (the first administrator made).
/// Hosts opened on the same `dir` share their signing keys, like a cluster's.
async fn open(database_url: &str, dir: &std::path::Path, cache: CacheConfig) -> (Router, Store) {
    let mut config = Config {
        data_dir: dir.to_owned(),
        database_url: Some(database_url.to_owned()),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some(PASSWORD.into()),
        cache,
        ..Config::default()
    };
    config.auth.login_per_account_per_minute = 1_000_000;
    config.auth.login_per_ip_per_minute = 1_000_000;
    let store = server::open_store(&config).await.unwrap();
    let state = server::state(config, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    server::ensure_first_admin(&state).await.unwrap();
    (app(state), store)
}

/// A host on `database_url` with `cache`, its router, store, an admin token and a project path.
async fn host(
    database_url: &str,
    dir: &std::path::Path,
    cache: CacheConfig,
) -> (Router, Store, String, String) {
    let (router, store) = open(database_url, dir, cache).await;
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
    (router, store, token, path)
}

async fn measure(
    database_url: String,
    dir: &std::path::Path,
    caches: &[(&str, Option<CacheConfig>)],
    redis: Option<&str>,
) -> Figures {
    let mut project = Vec::new();
    for (_, cache) in caches {
        let Some(cache) = cache else {
            project.push(None);
            continue;
        };
        let (router, store, token, path) = host(&database_url, dir, cache.clone()).await;
        let auth = format!("Bearer {token}");
        project.push(Some(
            rate(
                &router,
                Arc::new(move || {
                    Request::get(&path)
                        .header("authorization", &auth)
                        .body(Body::empty())
                        .unwrap()
                }),
            )
            .await,
        ));
        store.close().await;
    }

    let off = CacheConfig {
        enabled: false,
        ..CacheConfig::default()
    };
    let (router, _, token, path) = host(&database_url, dir, CacheConfig::default()).await;
    let addr = tcp::serve(router).await;
    let tcp_healthz = tcp::rate(addr, tcp::get("/healthz", None)).await;
    let tcp_cached = tcp::rate(addr, tcp::get(&path, Some(&token))).await;
    let (router, _, token, path) = host(&database_url, dir, off.clone()).await;
    let addr = tcp::serve(router).await;
    let tcp_uncached = tcp::rate(addr, tcp::get(&path, Some(&token))).await;

    let mut revocations = vec![
        Some(tcp::revocation(&database_url, dir, off).await),
        Some(tcp::revocation(&database_url, dir, CacheConfig::default()).await),
    ];
    revocations.push(match redis {
        Some(url) => Some(
            tcp::revocation(
                &database_url,
                dir,
                CacheConfig {
                    redis_url: Some(url.to_owned()),
                    redis_prefix: format!("bench{}:revoke:", std::process::id()),
                    ..CacheConfig::default()
                },
            )
            .await,
        ),
        None => None,
    });

    let (router, store, _, _) = host(&database_url, dir, CacheConfig::default()).await;
    let healthz = rate(
        &router,
        Arc::new(|| Request::get("/healthz").body(Body::empty()).unwrap()),
    )
    .await;
    let login = json!({ "email": "bench@example.com", "password": PASSWORD });
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
        tcp: [tcp_healthz, tcp_cached, tcp_uncached],
        revocations,
        login_p50: percentile(&mut samples, 0.5),
        login_p95: percentile(&mut samples, 0.95),
    }
}

/// One JWT check in µs: the signature verified every time, and remembered after the first.
fn jwt_checks(dir: &std::path::Path) -> (f64, f64) {
    let keys = TokenKeys::load_or_generate(&dir.join("jwt-keys"), &AuthConfig::default()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = keys.issue(1, 1, now).unwrap();
    let each = |n: u32, check: &dyn Fn() -> bool| {
        let start = Instant::now();
        for _ in 0..n {
            assert!(check());
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let full = each(2_000, &|| keys.verify_signature(&token).is_ok());
    let remembered = each(200_000, &|| keys.verify(&token, now).is_ok());
    (full, remembered)
}

/// A TCP server that accepts connections and never answers: Redis hung, not refused.
async fn blackhole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("redis://{addr}")
}

/// The Redis of the tests, if it answers a PING.
async fn redis() -> Option<String> {
    let url =
        std::env::var("AGENTIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).ok()?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .ok()?
    .ok()?;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.ok()?;
    (pong == "PONG").then_some(url)
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
        let redis = redis().await;
        if redis.is_none() {
            println!("Redis unreachable (AGENTIC_TEST_REDIS_URL); the Redis-only row is left out");
        }
        let caches = caches(redis.as_deref(), &blackhole().await);
        let sqlite = measure(sqlite_url, dir.path(), &caches, redis.as_deref()).await;

        let base = std::env::var("AGENTIC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_{}", std::process::id());
        let postgres = match on_postgres(&base, &format!("CREATE SCHEMA {schema}")).await {
            Ok(()) => {
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                let pg_dir = tempfile::tempdir().unwrap();
                let figures = measure(url, pg_dir.path(), &caches, redis.as_deref()).await;
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
        let (jwt_full, jwt_remembered) = jwt_checks(dir.path());

        println!(
            "\n{TASKS} concurrent in-process clients, {}s per rate, {LOGINS} sequential logins",
            MEASURE.as_secs()
        );
        println!("{:<60} {:>12} {:>12}", "", "SQLite", "PostgreSQL");
        let row = |name: &str, f: &dyn Fn(&Figures) -> String| {
            let pg = postgres.as_ref().map(f).unwrap_or_else(|| "-".into());
            println!("{name:<60} {:>12} {pg:>12}", f(&sqlite));
        };
        row("GET /healthz (req/s)", &|f| format!("{:.0}", f.healthz));
        for (i, (name, _)) in caches.iter().enumerate() {
            let rate = move |f: &Figures| f.project[i];
            row(
                &format!("GET /api/v1/projects/{{id}}, {name} (req/s)"),
                &|f| rate(f).map_or_else(|| "-".into(), |r| format!("{r:.0}")),
            );
            row("  ratio to healthz", &|f| {
                rate(f).map_or_else(|| "-".into(), |r| format!("{:.3}", r / f.healthz))
            });
            if i > 0 {
                row(
                    "  ratio to the default (in-process cache)",
                    &|f| match (rate(f), f.project[0]) {
                        (Some(r), Some(d)) => format!("{:.2}", r / d),
                        _ => "-".into(),
                    },
                );
            }
        }
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
            "{:<60} {:>12.1}",
            "argon2id verify alone p50 (ms)", argon_p50
        );
        println!(
            "{:<60} {:>12.2}",
            "JWT check, signature verified (µs)", jwt_full
        );
        println!(
            "{:<60} {:>12.2}",
            "JWT check, signature remembered (µs)", jwt_remembered
        );

        println!(
            "\nOver TCP: {} keep-alive HTTP/1.1 connections, {}s per rate",
            tcp::CONNECTIONS,
            MEASURE.as_secs()
        );
        println!("{:<60} {:>12} {:>12}", "", "SQLite", "PostgreSQL");
        let names = [
            "GET /healthz (req/s)",
            "GET /api/v1/projects/{id}, cached (req/s)",
            "GET /api/v1/projects/{id}, no cache (req/s)",
        ];
        for (i, name) in names.into_iter().enumerate() {
            row(name, &|f| format!("{:.0}", f.tcp[i]));
            if i > 0 {
                row("  ratio to healthz", &|f| {
                    format!("{:.3}", f.tcp[i] / f.tcp[0])
                });
            }
        }
        row("  cached / no cache", &|f| {
            format!("{:.2}", f.tcp[1] / f.tcp[2])
        });

        println!(
            "\nRevocation: {} logouts on host A, host B sharing the database",
            tcp::REVOCATIONS
        );
        println!("{:<60} {:>12} {:>12}", "", "SQLite", "PostgreSQL");
        let setups = ["no cache", "in-process cache, database bus", "Redis"];
        for (i, setup) in setups.into_iter().enumerate() {
            let show = |f: &Figures, what: &dyn Fn(&tcp::Revocation) -> String| {
                f.revocations[i].as_ref().map_or_else(|| "-".into(), what)
            };
            row(&format!("{setup}: logout p50 (ms)"), &|f| {
                show(f, &|r| format!("{:.2}", r.logout_p50))
            });
            row("  until host B refuses, p50 / max (ms)", &|f| {
                show(f, &|r| {
                    format!("{:.1} / {:.1}", r.refused_p50, r.refused_max)
                })
            });
            row("  refused on B's very next request", &|f| {
                show(f, &|r| format!("{}/{}", r.next_refused, tcp::REVOCATIONS))
            });
        }
    });
}
