//! # Google Workspace connector
//!
//! Reads Google Drive and Google Calendar into the internal models: Drive files as documents
//! (Google Docs as Markdown, every sheet of a Sheet as a Markdown table, Slides and text files as
//! text), their
//! comments and replies, calendar events, and the people among them. Built on `agentic-sdk`;
//! the manifest is `plugin.toml`; `README.md` is the administrator's guide. The host injects
//! the credential (a service account's JWT grant or an OAuth 2.0 token): the connector never
//! sees it.
//!
//! # Layout
//!
//! - `config`: the connection's configuration and the checks its schema cannot make.
//! - `api`: Drive v3 and Calendar v3 calls under the connection's base URL, Sheets v4 and Docs v1
//!   on its service origins `sheets` and `docs`, and Google's errors as the contract's typed
//!   errors (quota → rate-limited, missing scope → auth naming it).
//! - `streams`: the stream specs and `read`'s dispatch; `files` (listing and the changes feed),
//!   `comments`, `events` (sync tokens, `410 Gone`) and `people`: one module per stream.
//! - `scope`: the resumable walk over the files of the scope (folder tree, shared drive, all).
//! - `actions`: `invoke` (create a Doc from Markdown, create an event, append rows to a Sheet).
//! - `content`: a file's text (exports, downloads, caps); `sheets`: Sheets' values as Markdown
//!   tables; `docs`: Docs' structure as Markdown (footnotes and inline images too), where
//!   Drive cannot export; `time`: RFC 3339.

pub mod actions;
pub mod api;
pub mod comments;
pub mod config;
pub mod content;
pub mod docs;
pub mod events;
pub mod files;
pub mod people;
pub mod scope;
pub mod sheets;
pub mod streams;
pub mod time;

use agentic_sdk::serde_json::Value;
use agentic_sdk::{register_connector, Connector, ConnectorSpec, Error, Page, StreamSpec};

use api::{Google, Service};
use config::Config;

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// The Google Workspace connector.
#[derive(Debug, Default)]
pub struct GoogleConnector;

impl Connector for GoogleConnector {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        let mut spec = ConnectorSpec::from_manifest(MANIFEST)?;
        spec.streams = streams::specs();
        Ok(spec)
    }

    /// Names the identity (Drive's `about.get`), and checks the configured folder or shared
    /// drive is visible to it.
    fn check(&self, config: &Config) -> Result<String, Error> {
        config.validate()?;
        let google = Google::connected()?;
        let about = google.get_json(
            Service::Drive,
            &["about"],
            &[("fields", "user(displayName,emailAddress)")],
            "read the identity",
        )?;
        let user = &about["user"];
        let who = match user["emailAddress"].as_str() {
            Some(email) => format!(
                "{} <{email}>",
                user["displayName"].as_str().unwrap_or("an unnamed user")
            ),
            None => user["displayName"]
                .as_str()
                .unwrap_or("an unnamed user")
                .to_owned(),
        };
        let reader = files::Reader::new(config)?;
        match config.scope {
            config::Scope::Folder => {
                reader.check_folder(config.folder_id.as_deref().unwrap_or_default())?
            }
            config::Scope::SharedDrive => {
                reader.start_token()?;
            }
            config::Scope::All => {}
        }
        Ok(format!("connected to Google as {who}"))
    }

    /// The streams are the same for every connection, so a try-out call (no connection) lists
    /// them too, after checking the configuration.
    fn discover(&self, config: &Config) -> Result<Vec<StreamSpec>, Error> {
        config.validate()?;
        Ok(streams::specs())
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        config.validate()?;
        streams::read(config, stream, state)
    }

    fn invoke(&self, config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        config.validate()?;
        actions::invoke(action, input)
    }
}

register_connector!(GoogleConnector);
