//! The connection's configuration. The connection's base URL (from the host) says where the
//! ReqIF file is: `reqif_path` under it, or the base URL itself when absent — so a connection
//! can point at a file server, an export a tool publishes, or one document's content in the
//! host's own Documents API (see README.md).

use agentic_sdk::{http, Error};
use serde::Deserialize;

use crate::limits::{Limits, DEFAULT_FILE_MIB, MAX_FILE_MIB};

/// Most records per page.
pub const MAX_PAGE_SIZE: u32 = 5_000;

/// What the connection reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A ReqIF file under the base URL (streams `requirements`, `links`).
    #[default]
    Reqif,
    /// A DOORS Next server over OSLC RM (streams `oslc-requirements`, `oslc-links`).
    DoorsNext,
}

/// The configuration, as `plugin.toml`'s `config_schema` describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What the connection reads.
    #[serde(default)]
    pub source: Source,
    /// DOORS Next: the project areas (service provider titles) to read; all when empty.
    #[serde(default)]
    pub project_areas: Vec<String>,
    /// DOORS Next: the configuration (stream, baseline or global configuration URI) sent as
    /// `Configuration-Context` and `oslc_config.context`.
    #[serde(default)]
    pub configuration: Option<String>,
    /// DOORS Next: custom link types (property URIs) read as trace links besides OSLC RM's.
    #[serde(default)]
    pub link_types: Vec<String>,
    /// The ReqIF file's path under the connection's base URL; the base URL itself when absent.
    #[serde(default)]
    pub reqif_path: Option<String>,
    /// Records per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The file-size bound in MiB, 1 to [`MAX_FILE_MIB`]; [`DEFAULT_FILE_MIB`] when absent
    /// (what the host's default sandbox holds as a plain `.reqif`).
    #[serde(default)]
    pub max_file_mib: Option<u32>,
}

/// Large pages: fewer calls, and fewer fresh parses should the host replace an instance
/// (a page of 2 000 requirements is a few MiB, well under the host's output cap).
fn default_page_size() -> u32 {
    2000
}

impl Config {
    /// Checks what the schema cannot say.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::Config(format!(
                "page_size: {} is not between 1 and {MAX_PAGE_SIZE}",
                self.page_size
            )));
        }
        if let Some(mib) = self.max_file_mib {
            if !(1..=MAX_FILE_MIB).contains(&mib) {
                return Err(Error::Config(format!(
                    "max_file_mib: {mib} is not between 1 and {MAX_FILE_MIB} \
                     ({DEFAULT_FILE_MIB} when absent)"
                )));
            }
        }
        if let Some(path) = &self.reqif_path {
            if path.split(['/', '?']).any(|p| p == "..") || path.contains("://") {
                return Err(Error::Config(format!(
                    "reqif_path: {path:?} must be a path under the connection's base URL"
                )));
            }
        }
        Ok(())
    }

    /// The file's URL.
    pub fn file_url(&self) -> Result<String, Error> {
        self.validate()?;
        match &self.reqif_path {
            Some(path) if !path.trim_matches('/').is_empty() => http::endpoint(path),
            _ => agentic_sdk::base_url().ok_or_else(|| {
                Error::Config(
                    "this call has no connection, so no file to read (try-out calls have none)"
                        .into(),
                )
            }),
        }
    }

    /// The import's bounds.
    pub fn limits(&self) -> Limits {
        Limits::with_max_mib(self.max_file_mib)
    }
}

/// The file name in a URL, for messages: its last path segment.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    if name.is_empty() {
        url.to_owned()
    } else {
        name.to_owned()
    }
}
