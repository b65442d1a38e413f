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
    /// GitLab's REST API v4 (`https://gitlab.com/api/v4/`, or a self-managed instance's):
    /// issues, merge requests, notes of `project`.
    Gitlab,
}

/// Most items GitHub (and GitLab) return in one page (`per_page` above 100 is cut to 100).
pub const GITHUB_MAX_PER_PAGE: u32 = 100;
/// Longest GitLab project path accepted (GitLab's full paths stay well under it).
const MAX_PROJECT_CHARS: usize = 500;

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
    /// The GitLab project (`group/sub/name` or its numeric id) whose issues, merge requests
    /// and notes are read (`gitlab` only).
    #[serde(default)]
    pub project: Option<String>,
    /// Items a page of the `github` and `gitlab` streams asks for (at most 100).
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
        let needs = |field: &str, source: &str, what: &str, given: bool, wanted: bool| match (
            given, wanted,
        ) {
            (true, false) => Err(Error::Config(format!(
                "{field} is read with source = \"{source}\" only"
            ))),
            (false, true) => Err(Error::Config(format!(
                "{field}: give the {what} (source is {source})"
            ))),
            _ => Ok(()),
        };
        let (github, gitlab) = (self.source == Source::Github, self.source == Source::Gitlab);
        let repository = "GitHub repository as `owner/name`";
        needs(
            "repository",
            "github",
            repository,
            self.repository.is_some(),
            github,
        )?;
        let project = "GitLab project as `group/sub/name` or its numeric id";
        needs("project", "gitlab", project, self.project.is_some(), gitlab)?;
        match self.source {
            Source::Github => {
                self.owner_and_name()?;
            }
            Source::Gitlab => {
                self.gitlab_project()?;
            }
            Source::Git => return Ok(()),
        }
        if !(1..=GITHUB_MAX_PER_PAGE).contains(&self.per_page) {
            return Err(Error::Config(format!(
                "per_page: {} is not between 1 and {GITHUB_MAX_PER_PAGE}",
                self.per_page
            )));
        }
        Ok(())
    }

    /// The `gitlab` project, checked: a numeric id, or a full path of two or more segments of
    /// GitLab's path characters (letters, digits, `_`, `-`, `.`), URL-encoded into one segment
    /// when requests name it.
    pub fn gitlab_project(&self) -> Result<&str, Error> {
        let project = self.project.as_deref().unwrap_or_default();
        let segment = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let id = !project.is_empty()
            && project.len() <= 20
            && project.bytes().all(|b| b.is_ascii_digit());
        let path = project.len() <= MAX_PROJECT_CHARS
            && project.split('/').count() >= 2
            && project.split('/').all(segment);
        if id || path {
            Ok(project)
        } else {
            Err(Error::Config(format!(
                "project: {project:?} is not a GitLab project path (`group/sub/name`) or id"
            )))
        }
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
