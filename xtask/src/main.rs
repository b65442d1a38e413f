//! Project automation behind the README's two commands:
//!
//! Both first build the connector components in `plugins/` for `wasm32-wasip2`.
//!
//! - `cargo xtask serve [ARGS…]` builds everything in release mode and starts
//!   `agentic serve [ARGS…]` on the embedded default (SQLite in `./data`), with the built-in
//!   agent components (`plugins/agents/*`) from the plugins' build output
//!   (`AGENTIC_AGENTS__COMPONENT_DIR`).
//! - `cargo xtask test [ARGS…]` runs the whole test suite: the plugins' native tests (`cargo
//!   test --manifest-path plugins/Cargo.toml`: the SDK's acceptance suite on each connector),
//!   then `cargo test --workspace [ARGS…]`, every behaviour story on SQLite and on PostgreSQL
//!   (`AGENTIC_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; with
//!   `CI=true` a missing PostgreSQL fails). The closing count covers both. Before, it installs
//!   the test peers it lacks: moto (an S3-compatible server) with pip.
//!
//! Plain `std::process` so this crate builds in seconds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds every connector in `plugins/` for `wasm32-wasip2` and returns the directory of the
/// `.wasm` components (exported to tests as `AGENTIC_PLUGIN_DIR`).
fn build_plugins() -> Result<std::path::PathBuf, ExitCode> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Idempotent and quick when the target is already there.
    let mut target = Command::new("rustup");
    target.args(["target", "add", "wasm32-wasip2"]);
    if run(target) != ExitCode::SUCCESS {
        eprintln!("xtask: could not install the wasm32-wasip2 target with rustup");
    }
    let mut cmd = plugins_cargo();
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(root.join("plugins/Cargo.toml"));
    let code = run(cmd);
    if code != ExitCode::SUCCESS {
        eprintln!("xtask: building plugins failed (is the target installed? `rustup target add wasm32-wasip2`)");
        return Err(code);
    }
    Ok(plugins_target().join("wasm32-wasip2/release"))
}

/// The plugins workspace's own target directory: `$CARGO_TARGET_DIR/plugins` when a shared
/// target directory is set, else `plugins/target`. Two workspaces must not share one target
/// directory: both build `agentic-sdk` and the example connector with different dependency
/// graphs, and the second build would link against the first one's artifacts.
fn plugins_target() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::PathBuf::from(dir).join("plugins"),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"),
    }
}

/// `cargo` for the plugins workspace, in its own target directory.
fn plugins_cargo() -> Command {
    let mut cmd = cargo();
    cmd.env("CARGO_TARGET_DIR", plugins_target());
    cmd
}

/// The plugins' native tests: connector logic through the SDK's harness and acceptance suite.
/// (`hostile`, `not-a-connector`, `contract-0-1` and the agents `hostile`, `sync-assistant`,
/// `triage-assistant` and `contract-0-1` use raw wit-bindgen exports and set `test = false`.)
fn plugin_tests() -> Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = plugins_cargo();
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .args(["--locked", "--workspace"]);
    cmd
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

/// Runs each test command in turn, echoing their output, and closes with a count per backend
/// and in total over all of them.
fn test(commands: Vec<Command>) -> ExitCode {
    let (mut passed, mut failed, mut sqlite, mut postgres) = (0u64, 0u64, 0u64, 0u64);
    let mut all_succeeded = true;
    let mut out = std::io::stdout();
    for mut cmd in commands {
        eprintln!("xtask: running {cmd:?}");
        let mut child = match cmd.stdout(Stdio::piped()).spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("xtask: could not start cargo: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if let Some(rest) = line.strip_prefix("test result: ") {
                    let count = |word: &str| {
                        rest.split([';', '.'])
                            .find_map(|part| {
                                part.trim().strip_suffix(word)?.trim().parse::<u64>().ok()
                            })
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
        if !child.wait().map(|s| s.success()).unwrap_or(false) {
            // A build error or a crashed test binary prints no `test result:` line to count.
            eprintln!("xtask: {cmd:?} failed; its errors are above");
            all_succeeded = false;
        }
    }
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
    if !all_succeeded {
        let _ = writeln!(out, "a test command failed to build or run: see above");
    }
    if all_succeeded && failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The S3-compatible server the backup stories upload to (moto's server mode, from PyPI),
/// pinned, installed with pip when missing. Without Python or pip the stories that need it say
/// so and skip (under `CI=true` they fail).
const MOTO: &str = "moto[server]==5.2.1";

fn install_test_peers() {
    let present = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "install", "--quiet", MOTO]);
        if run(pip) != ExitCode::SUCCESS {
            eprintln!("xtask: could not install {MOTO}; the S3 backup stories will skip");
        }
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
            let plugins = match build_plugins() {
                Ok(dir) => dir,
                Err(code) => return code,
            };
            let mut cmd = cargo();
            // The built-in agents (`plugins/agents/*`) are built with the connectors; the host
            // runs the `web-monitor`, `sync-assistant` and `triage-assistant` kinds from there.
            // An explicit setting wins.
            if std::env::var_os("AGENTIC_AGENTS__COMPONENT_DIR").is_none() {
                cmd.env("AGENTIC_AGENTS__COMPONENT_DIR", plugins);
            }
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
            install_test_peers();
            let plugins = match build_plugins() {
                Ok(dir) => dir,
                Err(code) => return code,
            };
            let mut cmd = cargo();
            // Every test binary runs even after one fails, so a red run names every failure at once.
            cmd.args(["test", "--workspace", "--locked", "--no-fail-fast"])
                .args(&rest);
            cmd.env("AGENTIC_PLUGIN_DIR", plugins);
            test(vec![plugin_tests(), cmd])
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
