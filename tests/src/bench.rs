//! What the benches in `tests/benches/` share: their sizes, read from the environment, the
//! runtime they run their hosts on, which databases they measure, and the CPU time a leg
//! spent, split by who spent it.

use std::time::Duration;

use crate::Backend;

/// The count the environment variable `name` gives (`ISSUES=30000`), or `default` when it is
/// unset or not a number.
pub fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime with two workers, the one every bench's figures in
/// `docs/PERFORMANCE.md` were taken on (the machines have two vCPUs).
pub fn runtime() -> tokio::runtime::Runtime {
    named_runtime("tokio-runtime-worker")
}

/// [`runtime`] with its threads named `name`, so [`Cpu`] can tell their time apart (a fake
/// service's runtime, say). Linux keeps the first 15 bytes of a thread's name.
pub fn named_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// SQLite, and PostgreSQL too when `AGENTIC_BENCH_POSTGRES=1`, each with the name a bench
/// prints.
pub fn backends() -> Vec<(&'static str, Backend)> {
    let mut backends = vec![("SQLite", Backend::Sqlite)];
    if std::env::var("AGENTIC_BENCH_POSTGRES").is_ok_and(|v| v == "1") {
        backends.push(("PostgreSQL", Backend::Postgres));
    }
    backends
}

/// CPU time spent so far (user and system), read from Linux's `/proc`: by this process, by
/// its threads named `threads` (a fake's runtime: [`named_runtime`]), and by the processes
/// named `postgres` on this machine (a local test server's backends and helpers).
///
/// A rate says how long a leg took; this says how much work it was, and whose: a host that
/// overlaps its database's writes with its reads on two cores can match a rate while it spends
/// far more. (It is no steadier than the rates on the benches' shared machines: both follow the
/// machine's speed of the moment.) A thread or a server process that exits during a leg takes
/// its time out of the named threads' or the server's count (the process's keeps a thread's):
/// a fake's runtime and the hosts' pools live through their legs. Elsewhere than on Linux every
/// figure is 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// This process, every thread.
    pub process: Duration,
    /// This process's threads of the given name.
    pub threads: Duration,
    /// Every process named `postgres`.
    pub server: Duration,
}

impl Cpu {
    /// The times now, `threads` being the name of the threads counted apart.
    pub fn now(threads: &str) -> Self {
        let mut cpu = Self {
            process: proc_stat("/proc/self/stat").map_or(Duration::ZERO, |(_, t)| t),
            ..Self::default()
        };
        for (comm, time) in proc_stats("/proc/self/task", "stat") {
            if comm == threads {
                cpu.threads += time;
            }
        }
        for (comm, time) in proc_stats("/proc", "stat") {
            if comm == "postgres" {
                cpu.server += time;
            }
        }
        cpu
    }

    /// What was spent from `earlier` to `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            process: self.process.saturating_sub(earlier.process),
            threads: self.threads.saturating_sub(earlier.threads),
            server: self.server.saturating_sub(earlier.server),
        }
    }

    /// This process less the named threads: in a bench, what the code under test spent beside
    /// the fake serving it.
    pub fn rest(self) -> Duration {
        self.process.saturating_sub(self.threads)
    }
}

/// The `comm` and user + system time of each numbered entry of `dir` that holds `file`.
fn proc_stats(dir: &str, file: &str) -> Vec<(String, Duration)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| proc_stat(e.path().join(file).to_str()?))
        .collect()
}

/// The `comm` and user + system time of one `/proc/…/stat` (proc(5): the name in parentheses,
/// then `utime` and `stime` as the 12th and 13th fields after it, in clock ticks).
fn proc_stat(path: &str) -> Option<(String, Duration)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (head, tail) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((
        comm,
        Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC),
    ))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture this project builds for (the
/// kernel's `USER_HZ`, fixed by its ABI).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
