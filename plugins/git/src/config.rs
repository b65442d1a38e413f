//! The connection's configuration (its JSON Schema is `[config_schema]` in `plugin.toml`),
//! with the checks the schema cannot make (globs and patterns that compile) and the defaults.

use agentic_sdk::Error;
use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::Deserialize;

use crate::pack::Limits;
use crate::protocol::Preference;

/// Files the `files` stream keeps when the configuration names no globs: prose in the repo.
pub const DEFAULT_FILES: &[&str] = &["*.md", "*.markdown", "*.txt", "*.rst", "*.adoc"];
/// Work item keys found in commit messages when none are configured (`PROJ-123`).
pub const DEFAULT_KEY_PATTERN: &str = r"\b[A-Z][A-Z0-9_]{1,9}-[1-9][0-9]{0,8}\b";

/// The connection's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Branch names (`main`, `release/1.x`) whose history is synced; empty: every branch.
    #[serde(default)]
    pub branches: Vec<String>,
    /// Globs of the files kept as documents at each branch head (`*.md` matches in any folder).
    #[serde(default = "default_files")]
    pub files: Vec<String>,
    /// Regular expressions for work item keys in commit messages.
    #[serde(default = "default_patterns")]
    pub work_item_patterns: Vec<String>,
    /// `auto` (version 2 when offered) or `v0`.
    #[serde(default)]
    pub protocol: Preference,
    /// Largest pack accepted from one fetch.
    #[serde(default = "default_max_pack")]
    pub max_pack_bytes: u64,
    /// Largest object accepted.
    #[serde(default = "default_max_object")]
    pub max_object_bytes: u64,
    /// Longest delta chain accepted.
    #[serde(default = "default_depth")]
    pub max_delta_depth: u32,
    /// Files larger than this get no line counts (still listed as changed).
    #[serde(default = "default_diff")]
    pub max_diff_bytes: u64,
    /// Largest file kept as a document body.
    #[serde(default = "default_file")]
    pub max_file_bytes: u64,
    /// Commits per page of the commit-derived streams.
    #[serde(default = "default_page")]
    pub commits_per_page: u32,
}

fn default_files() -> Vec<String> {
    DEFAULT_FILES.iter().map(|s| (*s).to_owned()).collect()
}
fn default_patterns() -> Vec<String> {
    vec![DEFAULT_KEY_PATTERN.to_owned()]
}
fn default_max_pack() -> u64 {
    24 << 20
}
fn default_max_object() -> u64 {
    8 << 20
}
fn default_depth() -> u32 {
    1000
}
fn default_diff() -> u64 {
    1 << 20
}
fn default_file() -> u64 {
    1 << 20
}
fn default_page() -> u32 {
    500
}

impl Config {
    /// Checks what the schema cannot: every glob and pattern compiles, names are plausible.
    pub fn validate(&self) -> Result<(), Error> {
        for b in &self.branches {
            if b.is_empty() || b.starts_with("refs/") || b.contains("..") || b.contains(' ') {
                return Err(Error::Config(format!(
                    "branches: {b:?} is not a branch name (give `main`, not `refs/heads/main`)"
                )));
            }
        }
        self.globs()?;
        self.patterns()?;
        Ok(())
    }

    /// The `files` globs, compiled.
    pub fn globs(&self) -> Result<GlobSet, Error> {
        let mut set = GlobSetBuilder::new();
        for g in &self.files {
            set.add(Glob::new(g).map_err(|e| Error::Config(format!("files: {g:?}: {e}")))?);
        }
        set.build()
            .map_err(|e| Error::Config(format!("files: {e}")))
    }

    /// The work item patterns, compiled (bounded in size: they come from users).
    pub fn patterns(&self) -> Result<Vec<Regex>, Error> {
        self.work_item_patterns
            .iter()
            .map(|p| {
                regex::RegexBuilder::new(p)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| Error::Config(format!("work_item_patterns: {p:?}: {e}")))
            })
            .collect()
    }

    /// The pack limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_object_bytes: self.max_object_bytes,
            max_delta_depth: self.max_delta_depth as usize,
        }
    }

    /// Whether `branch` (without `refs/heads/`) is synced.
    pub fn syncs_branch(&self, branch: &str) -> bool {
        self.branches.is_empty() || self.branches.iter().any(|b| b == branch)
    }
}
