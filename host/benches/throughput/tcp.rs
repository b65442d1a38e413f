//! The same reads over real TCP, and the cost of a revocation across two hosts.
//!
//! The router is served by `axum::serve` on a loopback listener, as `agentic serve` does, and
//! driven by [`CONNECTIONS`] keep-alive HTTP/1.1 connections from a client on a thread and
//! runtime of its own — what `wrk -c 4` does, without needing wrk: each connection writes a
//! request, reads the whole response (status line, headers, `Content-Length` body), and sends
//! the next. Client and server share the machine's cores, as they did with wrk.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::cache::config::CacheConfig;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{call, open, post, MEASURE, PASSWORD, WARMUP};

/// Keep-alive client connections, as in the wrk runs.
pub const CONNECTIONS: usize = 4;
/// Sessions logged out per revocation set-up.
pub const REVOCATIONS: usize = 20;

/// Serves `router` on a loopback port of this runtime; returns the address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// `GET path` with an optional bearer token, as bytes on the wire.
pub fn get(path: &str, token: Option<&str>) -> Vec<u8> {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n").into_bytes()
}

/// Requests per second of `request` against `addr` over [`CONNECTIONS`] connections; every
/// answer must be 200. The client runs on a thread of its own, so this runtime's workers serve.
pub async fn rate(addr: SocketAddr, request: Vec<u8>) -> f64 {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(runtime.block_on(drive(addr, request.into())));
    });
    rx.await.unwrap()
}

async fn drive(addr: SocketAddr, request: Arc<[u8]>) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        let (request, done) = (request.clone(), done.clone());
        let (counting, stop) = (counting.clone(), stop.clone());
        connections.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(16 * 1024);
            while !stop.load(Ordering::Relaxed) {
                stream.write_all(&request).await.unwrap();
                let status = response(&mut stream, &mut buf).await;
                assert_eq!(status, 200, "benchmark request failed");
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
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
    for c in connections {
        c.await.unwrap();
    }
    n as f64 / elapsed.as_secs_f64()
}

/// Reads one response into `buf`; returns its status.
async fn response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap();
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap();
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a Content-Length");
            let total = end + 4 + length;
            while buf.len() < total {
                read_more(stream, buf).await;
            }
            assert_eq!(buf.len(), total, "nothing is pipelined");
            return status;
        }
        read_more(stream, buf).await;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let n = stream.read_buf(buf).await.unwrap();
    assert!(n > 0, "the server closed the connection");
}

/// What a logout costs, and when another host refuses the token.
pub struct Revocation {
    /// `POST /api/v1/auth/logout` on host A, median (ms): the write and its invalidation.
    pub logout_p50: f64,
    /// From the logout's answer until host B refuses the token, median and worst (ms).
    pub refused_p50: f64,
    /// See `refused_p50`.
    pub refused_max: f64,
    /// Logouts after which host B's very next request was refused.
    pub next_refused: usize,
}

/// Two hosts on `database_url` with `cache` (B follows the database bus when there is no
/// Redis, as `agentic serve` does): [`REVOCATIONS`] times, logs in on A, makes B cache the
/// session (two reads), logs out on A and asks B until it refuses.
pub async fn revocation(
    database_url: &str,
    dir: &std::path::Path,
    cache: CacheConfig,
) -> Revocation {
    let (a, store_a) = open(database_url, dir, cache.clone()).await;
    let (b, store_b) = open(database_url, dir, cache).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let bus = tokio::spawn(store_b.clone().follow_invalidations(stopped));
    // The follower positions itself on its first poll.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let login = json!({ "email": "bench@example.com", "password": PASSWORD });
    let (mut logouts, mut refused, mut next_refused) = (Vec::new(), Vec::new(), 0);
    for _ in 0..REVOCATIONS {
        let (status, tokens) = call(&a, post("/api/v1/auth/login", None, &login)).await;
        assert_eq!(status, StatusCode::OK);
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let me = || {
            Request::get("/api/v1/auth/me")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap()
        };
        for _ in 0..2 {
            assert_eq!(call(&b, me()).await.0, StatusCode::OK);
        }
        let start = Instant::now();
        let out = Request::post("/api/v1/auth/logout")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(&a, out).await.0, StatusCode::NO_CONTENT);
        logouts.push(start.elapsed());
        let answered = Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            match call(&b, me()).await.0 {
                StatusCode::UNAUTHORIZED => break,
                StatusCode::OK => tokio::time::sleep(Duration::from_millis(1)).await,
                other => panic!("host B answered {other}"),
            }
        }
        refused.push(answered.elapsed());
        if tries == 1 {
            next_refused += 1;
        }
    }
    let _ = stop.send(true);
    bus.await.unwrap();
    store_a.close().await;
    store_b.close().await;
    Revocation {
        logout_p50: super::percentile(&mut logouts, 0.5),
        refused_p50: super::percentile(&mut refused, 0.5),
        refused_max: super::percentile(&mut refused, 1.0),
        next_refused,
    }
}
