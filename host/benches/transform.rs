//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-host --bench transform`
//!
//! The same connector code — the example connector, built with the SDK — reading and
//! transforming 100 000 work items page by page, once natively (the SDK's harness: JSON config
//! in, typed page out, the path every export takes) and once as the component the host runs
//! (a fresh instance per page, records lowered out of the guest and lifted into host types).
//! Reports records per second for both and the ratio, for page sizes 100 and 1 000.
//!
//! Then the realistic case: the same connector in HTTP mode, fetching 1 000-item JSON pages from
//! a local service and transforming them, natively (the SDK's native HTTP client) and in the
//! sandbox (`wasi:http` through the host's mediated egress). Parsing the service's JSON is the
//! transform work a real connector does, so this is the ratio that bounds a sync.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use agentic_host::plugins::{Call, EgressPolicy, Limits, Runtime};
use agentic_sdk::testing::Harness;

const ITEMS: u64 = 100_000;
const ROUNDS: usize = 3;
const HTTP_ITEMS: u64 = 50_000;
const HTTP_PAGE: u64 = 1_000;

/// A service with `HTTP_ITEMS` work items in JSON pages of `HTTP_PAGE`, rendered up front so
/// the server costs next to nothing. Returns its base URL.
async fn service() -> String {
    let pages: Arc<Vec<String>> = Arc::new(
        (0..HTTP_ITEMS / HTTP_PAGE)
            .map(|p| {
                let items: Vec<_> = (p * HTTP_PAGE + 1..=(p + 1) * HTTP_PAGE)
                    .map(|n| {
                        serde_json::json!({
                            "id": n,
                            "title": format!("Customer-reported defect {n}: export fails on large projects"),
                            "status": if n % 3 == 0 { "done" } else { "in progress" },
                            "updated": 1_764_000_000_000i64 + n as i64,
                        })
                    })
                    .collect();
                serde_json::json!({"items": items, "has_more": (p + 1) * HTTP_PAGE < HTTP_ITEMS})
                    .to_string()
            })
            .collect(),
    );
    let app = axum::Router::new().route(
        "/items",
        axum::routing::get(
            move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let pages = pages.clone();
                async move {
                    let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                    pages[(after / HTTP_PAGE) as usize].clone()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = Runtime::new(Limits::default()).unwrap();
    let component = support::load(&rt, "example");
    let native = Harness::new(example::Example);

    println!("\nreading {ITEMS} work items, best of {ROUNDS} rounds");
    println!(
        "{:<12} {:>16} {:>16} {:>14}",
        "page size", "native rec/s", "wasm rec/s", "wasm/native"
    );
    for page_size in [100u64, 1_000] {
        let config = serde_json::json!({"items": ITEMS, "page_size": page_size});
        let text = config.to_string();
        let mut best_native = 0f64;
        let mut best_wasm = 0f64;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            let (mut state, mut count) = (None::<String>, 0u64);
            loop {
                let page = native.read(&config, "items", state.as_deref()).unwrap();
                count += page.records.len() as u64;
                std::hint::black_box(&page.records);
                state = Some(page.state);
                if !page.has_more {
                    break;
                }
            }
            assert_eq!(count, ITEMS);
            best_native = best_native.max(count as f64 / start.elapsed().as_secs_f64());

            let start = Instant::now();
            let count = runtime.block_on(async {
                let (mut state, mut count) = (None::<String>, 0u64);
                loop {
                    let page = rt
                        .read(
                            &component,
                            &Call::default(),
                            &text,
                            "items",
                            state.as_deref(),
                        )
                        .await
                        .unwrap();
                    count += page.records.len() as u64;
                    std::hint::black_box(&page.records);
                    state = Some(page.state);
                    if !page.has_more {
                        break count;
                    }
                }
            });
            assert_eq!(count, ITEMS);
            best_wasm = best_wasm.max(count as f64 / start.elapsed().as_secs_f64());
        }
        println!(
            "{:<12} {:>16.0} {:>16.0} {:>14.2}",
            page_size,
            best_native,
            best_wasm,
            best_wasm / best_native
        );
    }

    let base = runtime.block_on(service());
    let config = serde_json::json!({"base_url": base, "page_size": HTTP_PAGE});
    let text = config.to_string();
    let policy = EgressPolicy::new(&["127.0.0.1".into()], &base)
        .unwrap()
        .allow_private(true);
    let call = Call {
        egress: Some(Arc::new(policy)),
        progress: None,
    };
    let (mut best_native, mut best_wasm) = (0f64, 0f64);
    for _ in 0..ROUNDS {
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
        assert_eq!(count, HTTP_ITEMS);
        best_native = best_native.max(count as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        let count = runtime.block_on(async {
            let (mut state, mut count) = (None::<String>, 0u64);
            loop {
                let page = rt
                    .read(&component, &call, &text, "items", state.as_deref())
                    .await
                    .unwrap();
                count += page.records.len() as u64;
                state = Some(page.state);
                if !page.has_more {
                    break count;
                }
            }
        });
        assert_eq!(count, HTTP_ITEMS);
        best_wasm = best_wasm.max(count as f64 / start.elapsed().as_secs_f64());
    }
    println!(
        "\nHTTP mode: {HTTP_ITEMS} items in JSON pages of {HTTP_PAGE} from a local service, best of {ROUNDS}"
    );
    println!(
        "{:<12} {:>16.0} {:>16.0} {:>14.2}",
        HTTP_PAGE,
        best_native,
        best_wasm,
        best_wasm / best_native
    );
}
