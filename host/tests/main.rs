//! Integration tests of the host crate in one binary: the real `agentic` binary over TCP,
//! the plugin runtime, its isolation and its egress (with the redaction of echoed secrets) on
//! real components, the contract versions it serves, the WIT contract's docs, the links
//! of every Markdown file, the two migration sets' schema, workers, `plugin`, `sync run`,
//! `action` and `oidc set-secret` from the shell.

mod action_cli;
mod binary;
mod binary_secrets;
mod data_dir;
mod docs_links;
mod migrations;
mod oidc_cli;
mod page_deletions;
mod plugin_cli;
mod plugin_contract;
mod plugin_egress;
mod plugin_isolation;
mod plugin_redaction;
mod plugin_runtime;
mod support;
mod sync_cli;
mod wit_contract;
mod workers;
