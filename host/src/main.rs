//! The `agentic` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    agentic_host::cli::run()
}
