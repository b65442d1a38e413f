//! # JIRA connector
//!
//! Reads Jira Cloud (REST v3) and Jira Data Center (REST v2) into the internal models, and acts
//! on them: six streams (projects, issues, comments, issue links, users, change history), four
//! actions (create an issue, update its fields, comment, transition). Built on `agentic-sdk`;
//! the manifest is `plugin.toml`; `README.md` is the administrator's guide.
//!
//! # Layout
//!
//! - `config`: the connection's configuration with the connection's base URL (from the host),
//!   and what follows from them (API root and version, links, the JQL scope); OAuth 2.0 (3LO)
//!   connections have Atlassian's gateway with the site's cloud id as their base URL.
//! - `api`: the REST calls, and JIRA's failures as the contract's typed errors (rate limits
//!   from `Retry-After`/`X-RateLimit-Reset`, 401/403/404 with what JIRA said).
//! - `scan`: incremental, resumable reading of issues by `updated`, with an overlap window and
//!   no repeats, shared by the issue-based streams.
//! - `streams`: each stream's fields, paging and records; `transform`: JIRA's JSON as records.
//! - `actions`: `invoke`.
//! - `adf` and `wiki`: rich text as Markdown and back (Cloud's ADF, Data Center's wiki markup);
//!   `time`: JIRA timestamps and JQL dates.

pub mod actions;
pub mod adf;
pub mod api;
pub mod config;
pub mod scan;
pub mod streams;
pub mod time;
pub mod transform;
pub mod wiki;

use agentic_sdk::serde_json::Value;
use agentic_sdk::{register_connector, Connector, ConnectorSpec, Error, Page, StreamSpec};

use config::Config;

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// The JIRA connector.
#[derive(Debug, Default)]
pub struct JiraConnector;

impl Connector for JiraConnector {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        let mut spec = ConnectorSpec::from_manifest(MANIFEST)?;
        spec.streams = streams::specs();
        Ok(spec)
    }

    fn check(&self, config: &Config) -> Result<String, Error> {
        let config = &config.connected()?;
        let me = match api::Jira::new(config).myself() {
            Err(Error::NotFound(why)) => {
                let hint = if config.is_cloud() {
                    "no Jira Cloud REST API v3 there; for Jira Data Center set deployment to data-center"
                } else {
                    "no Jira REST API v2 there; check it has the context path (e.g. /jira)"
                };
                return Err(Error::Config(format!(
                    "the connection's base URL {}: {hint} ({why})",
                    config.api_root()
                )));
            }
            other => other?,
        };
        let name = me["displayName"].as_str().unwrap_or("an unnamed user");
        let who = match me["emailAddress"].as_str().filter(|e| !e.is_empty()) {
            Some(email) => format!("{name} <{email}>"),
            None => name.to_owned(),
        };
        Ok(format!("connected to {} as {who}", config.site()))
    }

    /// The streams are the same for every connection, so a try-out call (no connection, no base
    /// URL) lists them too, after checking what it can.
    fn discover(&self, config: &Config) -> Result<Vec<StreamSpec>, Error> {
        match agentic_sdk::base_url() {
            Some(_) => {
                config.connected()?;
            }
            None => config.validate_settings()?,
        }
        Ok(streams::specs())
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        streams::read(&config.connected()?, stream, state)
    }

    fn invoke(&self, config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        actions::invoke(&config.connected()?, action, input)
    }
}

register_connector!(JiraConnector);
