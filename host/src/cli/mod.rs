//! The `agentic` command line. Each subcommand loads the configuration and calls into the
//! library; nothing here holds product logic.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use serde_json::json;

use crate::api::extract::Checks;
use crate::clock::SystemClock;
use crate::config::{Config, OPTIONS_HELP};
use crate::rbac::Role;
use crate::store::audit::NewAuditEntry;
use crate::store::users::{NewUser, UserChanges, UserFilter, UserKind};
use crate::{auth, server, telemetry};

/// `agentic action list|run`.
mod action;
/// `agentic agent new`.
mod agent;
/// `agentic backup …`.
mod backup;
/// `agentic worker`, `agentic sync …`.
mod jobs;
/// `agentic oidc …`.
mod oidc;
/// `agentic plugin …`.
mod plugin;
/// What `agentic sync run` shows: progress bar or spinner, log lines above it, the summary.
mod progress;
/// Column-aligned tables with headers (`plugin list`, `action list`, `admin list-users`, the
/// sync summary).
mod table;
/// `agentic vault …`.
mod vault;

/// The Agentic System host.
#[derive(Debug, Parser)]
#[command(name = "agentic", version, about, after_long_help = OPTIONS_HELP)]
struct Cli {
    /// TOML configuration file (also `AGENTIC_CONFIG`).
    #[arg(long, global = true, env = "AGENTIC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the REST API on the configured database (SQLite file in ./data by default).
    #[command(after_long_help = OPTIONS_HELP)]
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts from the shell (e.g. when locked out).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI 3.1 document of the API.
    Openapi,
    /// Inspect or rotate the credential vault's key.
    Vault {
        #[command(subcommand)]
        command: vault::VaultCommand,
    },
    /// Single sign-on: put an identity provider's client secret into the vault.
    Oidc {
        #[command(subcommand)]
        command: oidc::OidcCommand,
    },
    /// Write, sign, install and manage connector plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Write agents: `new` makes an agent crate from the agent SDK's template.
    Agent {
        #[command(subcommand)]
        command: agent::AgentCommand,
    },
    /// Run queued jobs (syncs, schedules) without serving HTTP; any number of workers on any
    /// number of machines may share one PostgreSQL database.
    Worker,
    /// Sync a connection's data now, with a progress bar.
    Sync {
        #[command(subcommand)]
        command: jobs::SyncCommand,
    },
    /// List a connection's actions, or run one (create an issue, comment, …).
    Action {
        #[command(subcommand)]
        command: action::ActionCommand,
    },
    /// Encrypted backups: create, list, verify, restore, prune (docs/DISASTER-RECOVERY.md).
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Readable reports (queue and sync performance).
    Report {
        #[command(subcommand)]
        command: jobs::ReportCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// List people's accounts (a table with headers).
    ListUsers,
    /// Create a person's account; the password is read from stdin or generated and printed.
    CreateUser {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// administrator | project_manager | technical_lead | support_engineer
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's role.
    SetRole {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// The new role.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set a new password (read from stdin or generated and printed) and end all sessions.
    ResetPassword {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate an account and end its sessions.
    Deactivate {
        /// Login e-mail.
        #[arg(long)]
        email: String,
    },
}

/// What of an installation a command needs to find before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Nothing: the command may set an installation up.
    Nothing,
    /// The database.
    Database,
    /// The database and the vault key (the command opens the vault, which would otherwise make
    /// a new key).
    DatabaseAndKey,
    /// Nothing, but a new installation is announced: these commands change one, and run in
    /// the wrong place they would change a fresh one nobody serves.
    NothingButSay,
}

impl Command {
    /// What must already exist. Read-only commands (and those that change accounts, keys or
    /// jobs that must already exist) refuse to run where there is no installation rather than
    /// create one: a mistyped data directory must not look like an empty one. `serve`,
    /// `worker`, `migrate`, `admin create-user` and the plugin-management commands may set an
    /// installation up.
    fn needs(&self) -> Needs {
        match self {
            // Backups check what each of them needs: a restore may create the database.
            Command::Serve
            | Command::Migrate
            | Command::Worker
            | Command::Openapi
            | Command::Backup { .. } => Needs::Nothing,
            Command::Admin {
                command: AdminCommand::CreateUser { .. },
            } => Needs::NothingButSay,
            Command::Admin { .. }
            | Command::Vault { .. }
            | Command::Oidc { .. }
            | Command::Sync { .. }
            | Command::Action { .. } => Needs::DatabaseAndKey,
            Command::Report { .. } => Needs::Database,
            Command::Plugin { command } if command.is_read_only() => Needs::Database,
            Command::Plugin { .. } | Command::Agent { .. } => Needs::NothingButSay,
        }
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!(
            "expected one of: {}",
            Role::ALL.map(Role::as_str).join(", ")
        )
    })
}

/// Entry point of the binary.
pub fn run() -> ExitCode {
    // Before anything can create a file: everything the host writes is for its user alone.
    crate::data_dir::restrict_new_files();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let cli = match cli.command {
        Command::Plugin { command } if command.is_offline() => return plugin::offline(command),
        Command::Agent { command } => return agent::run(command),
        _ => cli,
    };
    if let Command::Openapi = cli.command {
        let doc = crate::api::openapi()
            .to_pretty_json()
            .context("rendering OpenAPI")?;
        writeln!(std::io::stdout(), "{doc}")?;
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    // `sync run` draws a progress line on standard error: log lines go above it, not through it.
    let view = matches!(cli.command, Command::Sync { .. }).then(progress::SyncView::new);
    match &view {
        Some(view) => telemetry::init_logging_to(config.log_format, &config.log, view.log_writer()),
        None => telemetry::init_logging(config.log_format, &config.log),
    }
    match cli.command.needs() {
        Needs::Nothing => {}
        Needs::NothingButSay => {
            // A lost database is refused later anyway: refuse it before calling it new.
            crate::data_dir::refuse_lost_database(&config)?;
            crate::data_dir::note_new_installation(&config);
        }
        Needs::Database => crate::data_dir::require_installation(&config, false)?,
        Needs::DatabaseAndKey => crate::data_dir::require_installation(&config, true)?,
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => server::serve(config).await,
            Command::Migrate => {
                server::open_store(&config).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Admin { command } => admin(config, command).await,
            Command::Plugin { command } => plugin::manage(config, command).await,
            Command::Vault { command } => vault::run(config, command).await,
            Command::Oidc { command } => oidc::run(config, command).await,
            Command::Worker => jobs::worker(config).await,
            Command::Sync { command } => {
                jobs::sync(
                    config,
                    command,
                    view.unwrap_or_else(progress::SyncView::new),
                )
                .await
            }
            Command::Report { command } => jobs::report(config, command).await,
            Command::Action { command } => action::run(config, command).await,
            Command::Backup { command } => backup::run(config, command).await,
            // Both ran above, without configuration.
            Command::Openapi | Command::Agent { .. } => Ok(()),
        }
    })
}

fn read_or_generate_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut pw = String::new();
        std::io::stdin().read_to_string(&mut pw)?;
        let pw = pw.trim_end_matches(['\r', '\n']).to_owned();
        auth::password::check_strength(&pw, None)
            .map_err(|why| anyhow::anyhow!("password {why}"))?;
        return Ok((pw, false));
    }
    if std::io::stdin().is_terminal() {
        eprintln!("(no --password-stdin: generating a password)");
    }
    let mut bytes = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    Ok((
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes),
        true,
    ))
}

async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let state = server::state(config, store.clone(), Arc::new(SystemClock)).await?;
    let now = state.now();
    let mut out = std::io::stdout();
    let find = |email: String| {
        let store = store.clone();
        async move {
            store
                .user_for_login(&email.trim().to_lowercase())
                .await?
                .map(|(u, _)| u)
                .ok_or_else(|| anyhow::anyhow!("no account with e-mail {email}"))
        }
    };
    let audit: Option<(&'static str, i64, serde_json::Value)> = match command {
        AdminCommand::ListUsers => {
            let mut table = table::Table::new(&["ID", "EMAIL", "ROLE", "STATE"]).right(&[0]);
            let mut after = 0;
            loop {
                let filter = UserFilter {
                    kind: Some(UserKind::Human),
                    query: None,
                };
                let page = store.list_users(&filter, after, 200).await?;
                for u in &page.items {
                    let state = if u.is_active() {
                        "active"
                    } else {
                        "deactivated"
                    };
                    table.row([
                        u.id.to_string(),
                        u.email.clone().unwrap_or_default(),
                        u.role.as_str().to_owned(),
                        state.to_owned(),
                    ]);
                }
                match page.next_after {
                    Some(next) => after = next,
                    None => break,
                }
            }
            write!(out, "{table}")?;
            None
        }
        AdminCommand::CreateUser {
            email,
            name,
            role,
            password_stdin,
        } => {
            let email = email.trim().to_lowercase();
            let mut checks = Checks::default();
            checks
                .email("--email", &email)
                .line("--name", &name, 1, 100);
            if let Err(errors) = checks.finish() {
                let why: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect();
                anyhow::bail!("{}", why.join("; "));
            }
            let (pw, generated) = read_or_generate_password(password_stdin)?;
            let hash = auth::password::hash(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
            let user = store
                .create_user(
                    NewUser {
                        kind: UserKind::Human,
                        email: Some(&email),
                        display_name: &name,
                        password_hash: Some(&hash),
                        role,
                    },
                    now,
                )
                .await?;
            writeln!(out, "created user {} ({email}, {})", user.id, role.as_str())?;
            if generated {
                writeln!(out, "password: {pw}")?;
            }
            Some((
                "user.created",
                user.id,
                json!({ "email": email, "role": role }),
            ))
        }
        AdminCommand::SetRole { email, role } => {
            let user = find(email).await?;
            store
                .update_user(
                    user.id,
                    UserChanges {
                        role: Some(role),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
            writeln!(out, "user {} is now {}", user.id, role.as_str())?;
            Some((
                "user.updated",
                user.id,
                json!({ "role": { "from": user.role, "to": role } }),
            ))
        }
        AdminCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let user = find(email).await?;
            let (pw, generated) = read_or_generate_password(password_stdin)?;
            let hash = auth::password::hash(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
            store
                .update_user(
                    user.id,
                    UserChanges {
                        password_hash: Some(hash),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
            let ended = store
                .revoke_user_sessions(user.id, None, "password_reset", now)
                .await?;
            writeln!(
                out,
                "password reset for user {}; {ended} session(s) ended",
                user.id
            )?;
            if generated {
                writeln!(out, "password: {pw}")?;
            }
            Some((
                "user.updated",
                user.id,
                json!({ "password_changed": true, "sessions_ended": ended }),
            ))
        }
        AdminCommand::Deactivate { email } => {
            let user = find(email).await?;
            store
                .update_user(
                    user.id,
                    UserChanges {
                        deactivate: Some(true),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
            let ended = store
                .revoke_user_sessions(user.id, None, "account_deactivated", now)
                .await?;
            writeln!(
                out,
                "user {} deactivated; {ended} session(s) ended",
                user.id
            )?;
            Some((
                "user.deactivated",
                user.id,
                json!({ "sessions_ended": ended }),
            ))
        }
    };
    if let Some((action, target, mut detail)) = audit {
        // Shell actions have no API actor; `via` says where they came from.
        detail["via"] = json!("cli");
        let entry = NewAuditEntry {
            actor_id: None,
            action,
            target_type: Some("user"),
            target_id: Some(target.to_string()),
            ip: None,
            detail,
        };
        store.append_audit(entry, now).await?;
    }
    store.close().await;
    Ok(())
}
