//! `agentic-plugin`: the connector publisher's tool (`new`, `keygen`, `sign`, `verify`).
//!
//! A binary of its own so that publishers need neither a running host nor the host's build
//! (wasmtime, databases: ~15 minutes on two cores): it is built from `agentic-package` alone.
//! The commands live there and are the same ones `agentic plugin …` runs in the host.

use std::io::Write;
use std::process::ExitCode;

use agentic_package::commands::{run, PublisherCommand};
use clap::Parser;

/// Write, sign and check Agentic connector plugins; no server needed.
///
/// The path of a connector: `new` makes the crate, `cargo test` runs it against a fake of your
/// service, `cargo build --release --target wasm32-wasip2` makes the component, `keygen` (once)
/// makes your signing key, `sign` makes the package (.agp) and `verify` checks one as a host
/// would. An administrator then trusts your public key and installs the package with
/// `agentic plugin trust` and `agentic plugin install`.
#[derive(Debug, Parser)]
#[command(name = "agentic-plugin", version)]
struct Cli {
    #[command(subcommand)]
    command: PublisherCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut notes = std::io::stderr();
    match run(cli.command, &mut std::io::stdout(), &mut notes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(notes, "error: {e}");
            ExitCode::FAILURE
        }
    }
}
