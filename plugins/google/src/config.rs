//! The connection's configuration (its JSON Schema is `[config_schema]` in `plugin.toml`) and
//! the checks the schema cannot express (which id goes with which scope).

use agentic_sdk::Error;
use serde::Deserialize;

/// Items asked for per request when the configuration names no page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest body kept when the configuration names none (1 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most Sheet cells rendered when the configuration names none.
pub const DEFAULT_MAX_SHEET_CELLS: u64 = 10_000;
/// Body bytes one page of records may carry in all: the host caps what a call returns
/// (16 MiB by default) and a guest's memory (64 MiB), so a page of large files ends early.
pub const PAGE_BODY_BUDGET: usize = 8 * 1024 * 1024;

/// Which files the connection syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// A folder and all its subfolders (`folder_id`).
    Folder,
    /// Every file of a shared drive (`drive_id`).
    SharedDrive,
    /// Every file the identity sees.
    All,
}

/// The connection's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which files.
    pub scope: Scope,
    /// The folder, for [`Scope::Folder`].
    #[serde(default)]
    pub folder_id: Option<String>,
    /// The shared drive, for [`Scope::SharedDrive`].
    #[serde(default)]
    pub drive_id: Option<String>,
    /// Items per request.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Largest body kept.
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Most cells of a Sheet rendered.
    #[serde(default)]
    pub max_sheet_cells: Option<u64>,
    /// Calendars of the events stream.
    #[serde(default = "primary")]
    pub calendars: Vec<String>,
    /// One record per occurrence of a recurring event (`singleEvents=true`).
    #[serde(default = "yes")]
    pub expand_recurring: bool,
}

fn primary() -> Vec<String> {
    vec!["primary".into()]
}

fn yes() -> bool {
    true
}

impl Config {
    /// Checks what the schema cannot: the id each scope needs, and only that one.
    pub fn validate(&self) -> Result<(), Error> {
        let id_ok = |id: &Option<String>| {
            id.as_deref().is_some_and(|i| {
                !i.is_empty()
                    && i.len() <= 200
                    && i.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        };
        match self.scope {
            Scope::Folder if !id_ok(&self.folder_id) => Err(Error::Config(
                "folder_id: scope folder needs the folder's id (the last part of its Drive URL)"
                    .into(),
            )),
            Scope::SharedDrive if !id_ok(&self.drive_id) => Err(Error::Config(
                "drive_id: scope shared-drive needs the shared drive's id".into(),
            )),
            Scope::Folder | Scope::All if self.drive_id.is_some() => Err(Error::Config(
                "drive_id: only for scope shared-drive".into(),
            )),
            Scope::SharedDrive | Scope::All if self.folder_id.is_some() => {
                Err(Error::Config("folder_id: only for scope folder".into()))
            }
            _ if self.page_size.is_some_and(|p| !(1..=1000).contains(&p)) => {
                Err(Error::Config("page_size: between 1 and 1000".into()))
            }
            _ if self.calendars.iter().any(|c| {
                c.is_empty() || c.len() > 1024 || c.contains('/') || c.contains(char::is_whitespace)
            }) =>
            {
                Err(Error::Config(
                    "calendars: ids without slashes or spaces, 1 to 1024 characters".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Items per request.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 1000)
    }

    /// Largest body kept.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
            .unwrap_or(DEFAULT_MAX_FILE_BYTES)
            .min(PAGE_BODY_BUDGET as u64)
    }

    /// Most Sheet cells rendered.
    pub fn max_sheet_cells(&self) -> u64 {
        self.max_sheet_cells
            .unwrap_or(DEFAULT_MAX_SHEET_CELLS)
            .max(1)
    }
}
