//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-host --bench transform`
//!
//! The same connector code — the example connector, built with the SDK — reading and
//! transforming 100 000 work items page by page into the rows the host stores (columns plus
//! the record's JSON, as the store takes them), once natively (the SDK's harness: JSON config in, typed page out, each
//! record moved into a row and serialised) and once as the component the host runs (one
//! instance for the stream's pages, as the sync engine reads; records lowered out of the guest
//! and lifted straight into rows). Reports
//! records per second for both and the ratio, for page sizes 100 and 1 000.
//!
//! Then the realistic case: the same connector in HTTP mode, fetching 1 000-item JSON pages from
//! a local service and transforming them, natively (the SDK's native HTTP client) and in the
//! sandbox (`wasi:http` through the host's mediated egress). Parsing the service's JSON is the
//! transform work a real connector does, so this is the ratio that bounds a sync.
//!
//! `TRANSFORM_ONLY=wasm` (or `native`) runs one side only, to profile it with `perf`
//! (`AGENTIC_PLUGIN_PERFMAP=1` names the guest's functions).
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;

use agentic_host::plugins::{Call, EgressPolicy, Limits, Plugin, Runtime};
use agentic_host::store::records::NewRecord;
use agentic_sdk::testing::Harness;
use agentic_sdk::RecordData;
use example::Example;

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

/// The rows of a natively read page, in the form the store takes them (what the sync engine
/// makes of a component's page): the columns moved out of the record, every field serialised
/// into one JSON object.
fn rows(records: Vec<RecordData>) -> Vec<NewRecord<'static>> {
    records
        .into_iter()
        .map(|record| {
            let RecordData::WorkItem(w) = record else {
                panic!("the example reads work items")
            };
            NewRecord {
                kind: "work_item",
                data: serde_json::to_string(&w).unwrap().into(),
                external_id: w.external_id.into(),
                title: w.title.into(),
                status: Some(w.status.into()),
                source_updated_at: w.updated_at.map(agentic_host::clock::Millis::from_ms),
            }
        })
        .collect()
}

/// Whether `side` (`wasm`, `native`) runs: both unless `TRANSFORM_ONLY` names one.
fn runs(side: &str) -> bool {
    std::env::var("TRANSFORM_ONLY").map_or(true, |only| only == side)
}

/// Records per second of a full read natively.
fn native(harness: &Harness<Example>, config: &serde_json::Value, items: u64) -> f64 {
    if !runs("native") {
        return f64::NAN;
    }
    let start = Instant::now();
    let (mut state, mut count) = (None::<String>, 0u64);
    loop {
        let page = harness.read(config, "items", state.as_deref()).unwrap();
        let rows = rows(page.records);
        count += rows.len() as u64;
        std::hint::black_box(rows);
        state = Some(page.state);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(count, items);
    count as f64 / start.elapsed().as_secs_f64()
}

/// Records per second of a full read through the component.
async fn wasm(rt: &Runtime, plugin: &Plugin, call: &Call, config: &str, items: u64) -> f64 {
    if !runs("wasm") {
        return f64::NAN;
    }
    let start = Instant::now();
    let (mut state, mut count) = (None::<String>, 0u64);
    // As the sync engine reads a stream: one instance for its pages.
    let mut reader = rt.reader(plugin, call);
    loop {
        let page = reader
            .read(config, "items", state.as_deref())
            .await
            .unwrap();
        let rows: Vec<NewRecord<'_>> = page.records.iter().map(NewRecord::from).collect();
        count += rows.len() as u64;
        std::hint::black_box(rows);
        state = Some(page.state);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(count, items);
    count as f64 / start.elapsed().as_secs_f64()
}

fn report(label: impl std::fmt::Display, native: f64, wasm: f64) {
    println!(
        "{label:<12} {native:>16.0} {wasm:>16.0} {:>14.2}",
        wasm / native
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rt = Runtime::new(Limits::default()).unwrap();
    let component = support::load(&rt, "example");
    let harness = Harness::new(Example);

    println!("\nreading {ITEMS} work items into rows, best of {ROUNDS} rounds");
    println!(
        "{:<12} {:>16} {:>16} {:>14}",
        "page size", "native rec/s", "wasm rec/s", "wasm/native"
    );
    for page_size in [100u64, 1_000] {
        let config = serde_json::json!({"items": ITEMS, "page_size": page_size});
        let text = config.to_string();
        let (mut best_native, mut best_wasm) = (0f64, 0f64);
        for _ in 0..ROUNDS {
            best_native = best_native.max(native(&harness, &config, ITEMS));
            let call = Call::default();
            best_wasm = best_wasm.max(runtime.block_on(wasm(&rt, &component, &call, &text, ITEMS)));
        }
        report(page_size, best_native, best_wasm);
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
        connection: None,
    };
    let (mut best_native, mut best_wasm) = (0f64, 0f64);
    for _ in 0..ROUNDS {
        best_native = best_native.max(native(&harness, &config, HTTP_ITEMS));
        best_wasm =
            best_wasm.max(runtime.block_on(wasm(&rt, &component, &call, &text, HTTP_ITEMS)));
    }
    println!(
        "\nHTTP mode: {HTTP_ITEMS} items in JSON pages of {HTTP_PAGE} from a local service, best of {ROUNDS}"
    );
    report(HTTP_PAGE, best_native, best_wasm);
}
