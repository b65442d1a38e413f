//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-host --bench plugins`
//!
//! Latency of one plugin call as the host makes it — a fresh instance from the pre-linked
//! component (pooling allocator) plus the call — for a trivial export (`invoke("ok")` of the
//! hostile component, which echoes its input) and for `spec()` of the example connector, side by
//! side with the same echo done natively (a function call) as the floor. Also calls per second
//! with 2 and 8 concurrent callers on the 2-worker runtime.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::plugins::{Call, Limits, Runtime};

const CALLS: usize = 20_000;
const SPAWNS: usize = 2_000;

/// A native process that exits at once, and what it is: a static no-op built with `cc -static`
/// into `dir`, or `true` from the PATH when that cannot be built.
fn noop_process(dir: &std::path::Path) -> (std::path::PathBuf, &'static str) {
    let source = dir.join("noop.c");
    let binary = dir.join("noop");
    std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
    let built = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .is_ok_and(|s| s.success());
    if built {
        (binary, "spawn + wait, static no-op (cc -static)")
    } else {
        ("true".into(), "spawn + wait, `true` (dynamically linked)")
    }
}

fn micros(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx].as_secs_f64() * 1e6
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let rt = Arc::new(Runtime::new(Limits::default()).unwrap());
        let hostile = support::load(&rt, "hostile");
        let example = support::load(&rt, "example");

        for _ in 0..1000 {
            rt.invoke(&hostile, &Call::default(), "{}", "ok", "x")
                .await
                .unwrap();
        }
        let mut echo = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            let out = rt
                .invoke(&hostile, &Call::default(), "{}", "ok", "x")
                .await
                .unwrap();
            echo.push(start.elapsed());
            assert_eq!(out, "x");
        }
        let mut spec = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            let s = rt.spec(&example).await.unwrap();
            spec.push(start.elapsed());
            assert_eq!(s.id, "example");
        }
        let mut native = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            let out = std::hint::black_box(String::from(std::hint::black_box("x")));
            native.push(start.elapsed());
            assert_eq!(out, "x");
        }

        // The floor of isolation: handing a task that does nothing to a runtime of its own
        // and waking the caller when it is done, as every plugin call is (plugin threads).
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let mut handoff = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            other
                .spawn(async { std::hint::black_box(1) })
                .await
                .unwrap();
            handoff.push(start.elapsed());
        }
        other.shutdown_background();

        let dir = tempfile::tempdir().unwrap();
        let (program, process_label) = noop_process(dir.path());
        let mut process = Vec::with_capacity(SPAWNS);
        for _ in 0..SPAWNS {
            let start = Instant::now();
            let status = std::process::Command::new(&program).status().unwrap();
            process.push(start.elapsed());
            assert!(status.success());
        }

        let mut rates = Vec::new();
        for callers in [2usize, 8] {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..callers {
                let (rt, hostile) = (rt.clone(), hostile.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..CALLS / callers {
                        rt.invoke(&hostile, &Call::default(), "{}", "ok", "x")
                            .await
                            .unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            rates.push((
                callers,
                (CALLS / callers * callers) as f64 / start.elapsed().as_secs_f64(),
            ));
        }

        println!("\n{CALLS} sequential calls each, fresh instance per call (pooling allocator)");
        println!("{:<48} {:>10} {:>10}", "", "p50 µs", "p99 µs");
        let e50 = micros(&mut echo, 0.5);
        println!(
            "{:<48} {:>10.1} {:>10.1}",
            "instantiate + invoke(\"ok\") echo",
            e50,
            micros(&mut echo, 0.99)
        );
        println!(
            "{:<48} {:>10.1} {:>10.1}",
            "instantiate + spec()",
            micros(&mut spec, 0.5),
            micros(&mut spec, 0.99)
        );
        let n50 = micros(&mut native, 0.5);
        println!(
            "{:<48} {:>10.3} {:>10.3}",
            "native echo (floor)",
            n50,
            micros(&mut native, 0.99)
        );
        println!(
            "{:<48} {:>10.1} {:>10.1}",
            "hand-off to another runtime and back (no-op)",
            micros(&mut handoff, 0.5),
            micros(&mut handoff, 0.99)
        );
        let p50 = micros(&mut process, 0.5);
        println!(
            "{:<48} {:>10.1} {:>10.1}",
            process_label,
            p50,
            micros(&mut process, 0.99)
        );
        println!(
            "{:<48} {:>10.1}",
            "process spawn p50 / instantiate + echo p50",
            p50 / e50
        );
        for (callers, rate) in rates {
            println!(
                "{:<48} {:>10.0}",
                format!("echo calls/s with {callers} concurrent callers"),
                rate
            );
        }
    });
}
