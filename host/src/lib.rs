//! # agentic-host
//!
//! The backend of the Agentic System: a REST API for users, projects and (later) agents, documents
//! and connectors, with JWT sessions, role-based access control and SQL storage on SQLite or
//! PostgreSQL.
//!
//! # Layout
//! Each module holds one capability; `main.rs` only parses the command line and calls [`cli::run`].
//!
//! Error policy: every layer has its own `thiserror` enum ([`store::StoreError`],
//! [`auth::AuthError`], [`api::ApiError`]); `anyhow` is used only at the edges (command line,
//! start-up), where an error ends the process with a message.

/// Connector actions: input and output checked against the manifest's schemas, run through the
/// connection's egress and credential.
pub mod actions;
/// Agents: kinds and their config schemas, lifecycle jobs, runtime tokens, health.
pub mod agents;
/// Analytics: counts and time series per project and across projects; API usage counting.
pub mod analytics;
/// HTTP layer: one router built by [`api::app`], one module per resource, problem+json errors.
pub mod api;
/// Identity: passwords, access tokens, sessions, refresh rotation, API keys, login throttling.
pub mod auth;
/// Backups: encrypted, verified archives of the database, blobs and plugins; restore to either
/// backend.
pub mod backup;
/// Read-through cache of the hot lookups: in-process (moka) and Redis, invalidated on every write.
pub mod cache;
/// The command line of the `agentic` binary.
pub mod cli;
/// A clock that tests can move forward (session idle and absolute timeouts).
pub mod clock;
/// Typed configuration from a TOML file and `AGENTIC_*` environment variables.
pub mod config;
/// The cookie jar of a client session (web tasks, form logins), bounded.
pub mod cookie_jar;
/// The data directory: private files (umask 077, 0700), refusing a lost or missing installation.
pub mod data_dir;
/// Documents: blob stores, streaming uploads, media-type and file-name rules.
pub mod documents;
/// Row ids as types of their own where arguments could be swapped (`ProjectId`, `WebTaskId`, …).
pub mod ids;
/// The durable job queue and its workers.
pub mod jobs;
/// Closed sets of names (states, outcomes) as enums: stored as text, served as JSON strings.
pub mod names;
/// Connector plugins: the sandboxed WebAssembly runtime.
pub mod plugins;
/// Roles, permissions and the one matrix that maps them.
pub mod rbac;
/// Starting the host: storage, migrations, first administrator, listener, shutdown.
pub mod server;
/// The SQL store (SQLite or PostgreSQL), one submodule per aggregate.
pub mod store;
/// The sync engine: connector streams into the internal models.
pub mod sync;
/// Logs and metrics.
pub mod telemetry;
/// The credential vault: secrets encrypted with age, keys outside the database.
pub mod vault;
/// Web-automation tasks: steps run against a site through the plugin egress rules.
pub mod web_tasks;

pub use api::{app, AppState};
pub use config::Config;
