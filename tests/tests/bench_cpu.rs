//! The benches' CPU accounting (`agentic_tests::bench::Cpu`): a named thread's time is counted
//! as that thread's, inside the process's, and not as the rest's. Linux only (`tests/main.rs`):
//! elsewhere `Cpu` reads nothing, as it reads `/proc`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use agentic_tests::bench::Cpu;

/// A thread named `name` spins until `Cpu` has counted `want` of CPU time under its name (or a
/// minute has passed: a thread's time that the accounting lost never ends the spin), then stays
/// alive until it has been measured: an exited thread's time leaves the named threads' count.
#[test]
fn a_named_threads_cpu_time_is_counted_as_its_own_and_in_the_process() {
    let name = "bench-cpu-spin";
    let want = Duration::from_millis(300);
    let before = Cpu::now(name);
    let (counted, measured) = (mpsc::channel(), mpsc::channel::<()>());
    let spinner = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut x = 0_u64;
            let mut seen = false;
            while !seen && Instant::now() < deadline {
                for i in 0..100_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                seen = Cpu::now(name).since(before).threads >= want;
            }
            counted.0.send(seen).expect("the test waits");
            let _ = measured.1.recv();
        })
        .expect("a thread");
    let seen = counted.1.recv().expect("the spinner's answer");
    let spent = Cpu::now(name).since(before);
    measured.0.send(()).expect("the spinner waits");
    spinner.join().expect("the spinner ends");
    assert!(
        seen,
        "a minute of spinning was never counted as {want:?} of the thread's CPU"
    );
    assert!(spent.threads >= want, "{spent:?}");
    assert!(spent.process >= spent.threads, "{spent:?}");
    // This thread only waited (the spinner's own reads of `/proc` are the spinner's time).
    assert!(spent.rest() < spent.threads, "{spent:?}");
}
