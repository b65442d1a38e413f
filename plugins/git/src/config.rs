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

/// What a connection reads: a repository over Git's protocol, or its hosting service's REST
/// API. Two connections of the one plugin, because the host confines a connection's requests to
/// one base URL, and the repository (`https://github.com/o/r.git/`) and the API
/// (`https://api.github.com/`) are two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The repository over smart HTTP: commits, files, refs (the base URL is the repository's).
    #[default]
    Git,
    /// GitHub's REST API (api.github.com or GitHub Enterprise Server's `/api/v3/`): issues,
    /// pull requests, comments of `repository`.
    Github,
}

/// Most items GitHub returns in one page (`per_page` above 100 is cut to 100).
pub const GITHUB_MAX_PER_PAGE: u32 = 100;

/// The connection's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `git` (the default) or `github`.
    #[serde(default)]
    pub source: Source,
    /// `owner/name` of the repository whose issues and pull requests are read (`github` only).
    #[serde(default)]
    pub repository: Option<String>,
    /// Items a page of the `github` streams asks for (GitHub's `per_page`, at most 100).
    #[serde(default = "default_per_page")]
    pub per_page: u32,
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
fn default_per_page() -> u32 {
    GITHUB_MAX_PER_PAGE
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
        match (self.source, &self.repository) {
            (Source::Github, None) => {
                return Err(Error::Config(
                    "repository: give the GitHub repository as `owner/name` (source is github)"
                        .into(),
                ))
            }
            (Source::Github, Some(_)) => {
                self.owner_and_name()?;
                if !(1..=GITHUB_MAX_PER_PAGE).contains(&self.per_page) {
                    return Err(Error::Config(format!(
                        "per_page: {} is not between 1 and {GITHUB_MAX_PER_PAGE}",
                        self.per_page
                    )));
                }
            }
            (Source::Git, Some(_)) => {
                return Err(Error::Config(
                    "repository is read with source = \"github\" only; a Git connection's \
                     repository is its base URL"
                        .into(),
                ))
            }
            (Source::Git, None) => {}
        }
        Ok(())
    }

    /// The `github` repository's owner and name, checked: GitHub's characters only
    /// (letters, digits, `-`, `_`, `.`), so they go into URL paths as they are.
    pub fn owner_and_name(&self) -> Result<(&str, &str), Error> {
        let repository = self.repository.as_deref().unwrap_or_default();
        let fine = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        match repository.split_once('/') {
            Some((owner, name)) if fine(owner) && fine(name) => Ok((owner, name)),
            _ => Err(Error::Config(format!(
                "repository: {repository:?} is not `owner/name` (e.g. `octo-org/octo-repo`)"
            ))),
        }
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
