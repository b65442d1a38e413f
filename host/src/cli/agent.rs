//! `agentic agent …`: the agent author's commands. Today `new`, which makes an agent crate from
//! the agent SDK's template — `agentic plugin new --agent` by another name, so that both tools
//! share one implementation (`agentic-package`). Agents are signed, verified and installed as
//! packages like connectors (`agentic plugin sign|verify|install`).

use std::path::PathBuf;

use agentic_package::commands::{PublisherCommand, SdkArgs};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum AgentCommand {
    /// Create an agent crate from the agent SDK's template in DIR.
    ///
    /// The crate builds and passes its tests as created: a work-item digest agent on
    /// agentic-agent-sdk, its manifest (plugin.toml with type = "agent": configuration schema,
    /// the permissions it needs, the hosts it may call), tests in the SDK's harness and a
    /// .gitignore that keeps build output, packages and keys out of git. The SDK dependency is
    /// the checkout (--sdk-path: sdk/agent/ or sdk/ of an Agentic checkout, written relative to
    /// DIR) or the git repository (--sdk-git) you name. docs/agent-author-guide.md walks on
    /// from there.
    #[command(
        after_long_help = "Example:\n  agentic agent new my-digest --name \"My Digest\" --sdk-path ../agentic/sdk/agent\n  cd my-digest && cargo test && cargo build --release --target wasm32-wasip2\n\n`agentic-plugin new --agent` takes the same arguments."
    )]
    New {
        /// Directory to create (must not exist).
        dir: PathBuf,
        /// Agent id (its kind's name): 2 to 64 lower-case letters, digits and '-' (default: the
        /// directory name).
        #[arg(long)]
        id: Option<String>,
        /// Human name (default: the id in title case).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        sdk: SdkArgs,
    },
}

/// Runs an agent command; none needs the host's configuration.
pub(super) fn run(command: AgentCommand) -> anyhow::Result<()> {
    match command {
        AgentCommand::New { dir, id, name, sdk } => {
            let command = PublisherCommand::New {
                dir,
                id,
                name,
                agent: true,
                sdk,
            };
            agentic_package::commands::run(
                command,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
            Ok(())
        }
    }
}
