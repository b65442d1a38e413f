//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-host --bench isolation`
//!
//! API latency while hostile plugin calls run: `GET /api/v1/projects/{id}` (authenticated, on
//! SQLite) answered by the real router on a 2-worker runtime, one request after another, first
//! with no plugin call running, then with 8 calls of the hostile component spinning (`loop {}`,
//! restarted as each reaches its 30 s deadline) on the host's plugin runtime. The two are
//! measured in one run, side by side; the figures go to docs/PERFORMANCE.md.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::clock::SystemClock;
use agentic_host::config::Config;
use agentic_host::plugins::{Call, PluginError};
use agentic_host::{app, server};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const REQUESTS: usize = 2_000;
const HOSTILE: usize = 8;
const PASSWORD: &str = "bench-password-1234";

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

fn millis(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx].as_secs_f64() * 1000.0
}

/// p50, p99 and the largest latency of `REQUESTS` reads, one after another.
async fn latencies(router: &Router, token: &str, path: &str) -> (f64, f64, f64) {
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let (status, _) = call(router, request("GET", path, Some(token), None)).await;
        samples.push(start.elapsed());
        assert_eq!(status, StatusCode::OK);
    }
    let max = samples.iter().max().unwrap().as_secs_f64() * 1000.0;
    (millis(&mut samples, 0.5), millis(&mut samples, 0.99), max)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            database_url: Some(format!("sqlite://{}/bench.db?mode=rwc", dir.path().display())),
            admin_email: Some("bench@example.com".into()),
            admin_password: Some(PASSWORD.into()),
            ..Config::default()
        };
        config.auth.login_per_account_per_minute = 1_000_000;
        let store = server::open_store(&config).await.unwrap();
        let state = server::state(config, store, Arc::new(SystemClock)).await.unwrap();
        server::ensure_first_admin(&state).await.unwrap();
        let plugins = state.plugins.clone();
        let router = app(state);
        let login = json!({ "email": "bench@example.com", "password": PASSWORD });
        let (_, tokens) = call(&router, request("POST", "/api/v1/auth/login", None, Some(&login))).await;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let (status, project) = call(
            &router,
            request("POST", "/api/v1/projects", Some(&token), Some(&json!({ "name": "Bench" }))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let path = format!("/api/v1/projects/{}", project["id"]);

        latencies(&router, &token, &path).await; // warm-up
        let quiet = latencies(&router, &token, &path).await;

        let rt = plugins.runtime().await.unwrap();
        let hostile = support::load(&rt, "hostile");
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..HOSTILE)
            .map(|_| {
                let (rt, hostile, stop) = (rt.clone(), hostile.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let r = rt.invoke(&hostile, &Call::default(), "{}", "spin", "").await;
                        assert!(matches!(r, Err(PluginError::Timeout(_))), "{r:?}");
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let hostile_figures = latencies(&router, &token, &path).await;
        stop.store(true, Ordering::Relaxed);
        for s in spinners {
            s.abort();
        }

        println!("API latency, GET /api/v1/projects/{{id}} (SQLite, in-process cache), {REQUESTS} sequential requests");
        println!("| plugin calls running | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|");
        for (label, (p50, p99, max)) in [
            ("none", quiet),
            ("8 hostile `loop {}` calls", hostile_figures),
        ] {
            println!("| {label} | {p50:.3} | {p99:.3} | {max:.3} |");
        }
    });
    runtime.shutdown_background();
}
