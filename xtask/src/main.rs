//! Project automation behind the README's two commands:
//!
//! - `cargo xtask serve [ARGS…]` builds everything in release mode and starts
//!   `agentic serve [ARGS…]` on the embedded default (SQLite in `./data`).
//! - `cargo xtask test [ARGS…]` runs the whole test suite (`cargo test --workspace`), every
//!   behaviour story on SQLite and on PostgreSQL (`AGENTIC_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/test`; with `CI=true` a missing PostgreSQL fails).
//!
//! Plain `std::process` so this crate builds in seconds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(mut cmd: Command) -> ExitCode {
    eprintln!("xtask: running {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: could not start {cmd:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the tests, echoing their output, and closes with a count per backend and in total.
fn test(mut cmd: Command) -> ExitCode {
    eprintln!("xtask: running {cmd:?}");
    let mut child = match cmd.stdout(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: could not start cargo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed, mut sqlite, mut postgres) = (0u64, 0u64, 0u64, 0u64);
    let mut out = std::io::stdout();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(out, "{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| {
                    rest.split([';', '.'])
                        .find_map(|part| part.trim().strip_suffix(word)?.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                passed += count("passed");
                failed += count("failed");
            } else if line.starts_with("test ") && line.ends_with(" ... ok") {
                if line.contains("::sqlite ") {
                    sqlite += 1;
                } else if line.contains("::postgres ") {
                    postgres += 1;
                }
            }
        }
    }
    let status = child.wait().map(|s| s.success()).unwrap_or(false);
    let postgres = if postgres_reachable() {
        format!("{postgres} on PostgreSQL")
    } else {
        format!("PostgreSQL unreachable, its {postgres} runs were SKIPPED")
    };
    let _ = writeln!(
        out,
        "\nbehaviour stories passed: {sqlite} on SQLite, {postgres}"
    );
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if status && failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether the test PostgreSQL accepts TCP connections (the stories skip it otherwise, outside CI).
fn postgres_reachable() -> bool {
    let url = std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port
        .split(['/', '?'])
        .next()
        .unwrap_or("127.0.0.1:5432");
    let addr = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok()
        })
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "serve" => {
            let mut cmd = cargo();
            cmd.args([
                "run",
                "--release",
                "--locked",
                "-p",
                "agentic-host",
                "--bin",
                "agentic",
                "--",
                "serve",
            ]);
            cmd.args(&rest);
            run(cmd)
        }
        "test" => {
            let mut cmd = cargo();
            cmd.args(["test", "--workspace", "--locked"]).args(&rest);
            test(cmd)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <serve|test> [ARGS…]\n  \
                 serve  build everything (release) and start `agentic serve` on ./data\n  \
                 test   run every test, on SQLite and PostgreSQL"
            );
            ExitCode::FAILURE
        }
    }
}
