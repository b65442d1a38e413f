//! Project automation behind the README's two commands:
//!
//! - `cargo xtask serve [ARGS…]` builds everything in release mode and starts
//!   `agentic serve [ARGS…]` on the embedded default (SQLite in `./data`).
//! - `cargo xtask test [ARGS…]` runs the whole test suite (`cargo test --workspace`), every
//!   behaviour story on SQLite and on PostgreSQL (`AGENTIC_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/test`; with `CI=true` a missing PostgreSQL fails).
//!
//! Plain `std::process` so this crate builds in seconds.

use std::process::{Command, ExitCode};

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
            run(cmd)
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
