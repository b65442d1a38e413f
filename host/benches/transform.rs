//! `cargo xtask test` builds the components; then
//! `AGENTIC_PLUGIN_DIR=<target>/wasm32-wasip2/release cargo bench -p agentic-host --bench transform`
//!
//! The same connector code — the example connector, built with the SDK — reading and
//! transforming 100 000 work items page by page, once natively (the SDK's harness: JSON config
//! in, typed page out, the path every export takes) and once as the component the host runs
//! (a fresh instance per page, records lowered out of the guest and lifted into host types).
//! Reports records per second for both and the ratio, for page sizes 100 and 1 000.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use agentic_host::plugins::{Call, Limits, Runtime};
use agentic_sdk::testing::Harness;

const ITEMS: u64 = 100_000;
const ROUNDS: usize = 3;

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
}
