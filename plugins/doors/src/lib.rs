//! # DOORS connector
//!
//! Brings requirements from IBM DOORS Classic, DOORS Next and every other requirements tool in
//! through ReqIF 1.2, the exchange format they all read and write: a `.reqif` or `.reqifz` file
//! under the connection's base URL is parsed in the sandbox into `requirement` and
//! `trace-link` records, and the `export-reqif` action writes records back as ReqIF. Built on
//! `agentic-sdk`; the manifest is `plugin.toml`; `README.md` is the administrator's guide (the
//! mapping table and the limits).
//!
//! # Layout
//!
//! - `config`: the configuration and where the file is.
//! - `fetch`: the file, fetched through the host and parsed as it arrives.
//! - `streams`: the `requirements` and `links` streams, paged over one parse of the file.
//! - `actions`: `export-reqif`.
//! - `reqif`: reading (`parse`, `archive`), the `model`, its `mapping` to records, `export`.
//! - `xhtml`: XHTML to Markdown; `time`: `xsd:dateTime`; `limits` and `error`: the import's
//!   bounds and its refusals.

pub mod actions;
pub mod config;
pub mod error;
pub mod fetch;
pub mod limits;
pub mod oslc;
pub mod reqif;
pub mod streams;
pub mod time;
pub mod xhtml;

use agentic_sdk::serde_json::Value;
use agentic_sdk::{register_connector, Connector, ConnectorSpec, Error, Page, StreamSpec};

use config::{Config, Source};
pub use error::ImportError;

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// The DOORS connector.
#[derive(Debug, Default)]
pub struct DoorsConnector;

impl Connector for DoorsConnector {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        let mut spec = ConnectorSpec::from_manifest(MANIFEST)?;
        spec.streams = streams::specs();
        Ok(spec)
    }

    /// ReqIF: fetches and parses the file, what a sync would import. DOORS Next: discovers
    /// the project areas' query capabilities.
    fn check(&self, config: &Config) -> Result<String, Error> {
        config.validate()?;
        if config.source == Source::DoorsNext {
            let capabilities = oslc::discovery::query_capabilities(config)?;
            let mut areas: Vec<&str> = capabilities.iter().map(|c| c.title.as_str()).collect();
            areas.dedup();
            return Ok(format!(
                "DOORS Next: {} requirement query capabilities in {}",
                capabilities.len(),
                areas.join(", ")
            ));
        }
        let fetch::Fetched { name, doc, .. } = fetch::fetch(&config.file_url()?, &config.limits())?;
        let tool = doc
            .headers
            .iter()
            .find_map(|h| h.source_tool_id.clone().or_else(|| h.tool_id.clone()))
            .map(|t| format!(", from {t}"))
            .unwrap_or_default();
        Ok(format!(
            "{name}: {} spec objects, {} spec relations, {} specifications{tool}",
            doc.objects.len(),
            doc.relations.len(),
            doc.specifications.len()
        ))
    }

    /// The streams of the configured source.
    fn discover(&self, config: &Config) -> Result<Vec<StreamSpec>, Error> {
        config.validate()?;
        let wanted: &[&str] = match config.source {
            Source::Reqif => &[streams::REQUIREMENTS, streams::LINKS],
            Source::DoorsNext => &[oslc::streams::REQUIREMENTS, oslc::streams::LINKS],
        };
        Ok(streams::specs()
            .into_iter()
            .filter(|s| wanted.contains(&s.name.as_str()))
            .collect())
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        config.validate()?;
        match (config.source, stream) {
            (Source::Reqif, streams::REQUIREMENTS | streams::LINKS) => {
                streams::read(config, stream, state)
            }
            (Source::DoorsNext, oslc::streams::REQUIREMENTS | oslc::streams::LINKS) => {
                oslc::streams::read(config, stream, state)
            }
            _ => Err(Error::NotFound(format!(
                "no stream `{stream}` for this connection's source"
            ))),
        }
    }

    fn invoke(&self, config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        config.validate()?;
        actions::invoke(action, input)
    }
}

register_connector!(DoorsConnector);
