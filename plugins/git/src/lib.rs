//! # Git connector
//!
//! Reads Git repositories over the smart HTTP protocol, spoken from inside the component over
//! the SDK's HTTP client (so through the host's egress, which adds the credential: the
//! connector never sees it): protocol version 2 (`ls-refs`, `fetch` with `want`/`have`/`done`,
//! side-band-64k, ofs-delta, `deepen`) with a fallback to version 0/1 for servers that offer
//! only that. Pack files are parsed and their deltas resolved in the component, within limits
//! on pack size, object size and delta depth. The history of the configured branches becomes
//! commit documents, people and commit → work item trace links; text files at each branch head
//! become documents; branches and tags raw records. `README.md` is the administrator's guide.
//!
//! A second kind of connection, `source = "github"`, reads the repository's issues, pull
//! requests, comments and reviews over GitHub's REST API ([`github`]): the host confines a
//! connection to one base URL, and the repository and its API are two. `source = "gitlab"`
//! reads a GitLab project's issues, merge requests (with their approvers) and notes over
//! GitLab's REST API v4 ([`gitlab`]). Both
//! have the actions `comment` and `create-issue`.
//!
//! # Layout
//!
//! - `config`: the connection's configuration and what its schema cannot check.
//! - `pktline`: pkt-line framing (`gix-packetline` decodes; requests are written here).
//! - `protocol`: `info/refs`, `ls-refs`, `fetch`, the v0 advertisement and negotiation.
//! - `pack`: pack parsing (`gix-pack` entry headers, `gix-zlib`) and delta resolution.
//! - `history`: incremental reading of the branches' new commits, force-push detection.
//! - `diff`: changed paths of a commit with added/removed line counts.
//! - `streams`: the stream specs, `read`'s dispatch and the records; `files`: the files stream.
//! - `github`: `source = "github"`: GitHub's REST API, its states (`github::state`, shared with
//!   GitLab's lists), objects (`github::model`), pull request reviews (`github::reviews`) and
//!   actions (`github::actions`).
//! - `gitlab`: `source = "gitlab"`: GitLab's REST API v4, its lists and paging
//!   (`gitlab::list`), objects (`gitlab::model`) and actions (`gitlab::actions`).

pub mod config;
pub mod diff;
pub mod files;
pub mod github;
pub mod gitlab;
pub mod history;
pub mod pack;
pub mod pktline;
pub mod protocol;
pub mod streams;

use agentic_sdk::serde_json::Value;
use agentic_sdk::{register_connector, Connector, ConnectorSpec, Error, Page, StreamSpec};

use config::{Config, Source};

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// The Git connector.
#[derive(Debug, Default)]
pub struct GitConnector;

impl Connector for GitConnector {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        let mut spec = ConnectorSpec::from_manifest(MANIFEST)?;
        spec.streams = streams::all_specs();
        Ok(spec)
    }

    /// Asks the server for its capabilities and refs: proves the URL is a Git repository, the
    /// credential is accepted, and says which protocol and how many branches.
    /// With `source = "github"`: reads the repository's metadata.
    fn check(&self, config: &Config) -> Result<String, Error> {
        config.validate()?;
        match config.source {
            Source::Github => return github::check(config),
            Source::Gitlab => return gitlab::check(config),
            Source::Git => {}
        }
        let server = protocol::discover(config.protocol)?;
        let refs = protocol::list_refs(&server)?;
        let branches = refs
            .iter()
            .filter(|r| r.name.starts_with("refs/heads/"))
            .count();
        let tags = refs
            .iter()
            .filter(|r| r.name.starts_with("refs/tags/"))
            .count();
        let version = match server.version {
            protocol::Version::V2 => "protocol v2",
            protocol::Version::V0 => "protocol v0",
        };
        Ok(format!(
            "connected to a Git repository ({version}): {branches} branches, {tags} tags"
        ))
    }

    /// The streams of the connection's source, the same for every repository.
    fn discover(&self, config: &Config) -> Result<Vec<StreamSpec>, Error> {
        config.validate()?;
        Ok(match config.source {
            Source::Git => streams::specs(),
            Source::Github => github::specs(),
            Source::Gitlab => gitlab::specs(),
        })
    }

    fn read(&self, config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
        config.validate()?;
        match config.source {
            Source::Git => streams::read(config, stream, state),
            Source::Github => github::read(config, stream, state),
            Source::Gitlab => gitlab::read(config, stream, state),
        }
    }

    /// The actions (`comment`, `create-issue`) write to the hosting service (GitHub or
    /// GitLab); a `git` connection has none.
    fn invoke(&self, config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        config.validate()?;
        match config.source {
            Source::Git => Err(Error::InvalidInput(format!(
                "action `{action}` needs a connection with source = \"github\" or \"gitlab\"; \
                 a Git repository connection has no actions"
            ))),
            Source::Github => github::actions::invoke(config, action, input),
            Source::Gitlab => gitlab::actions::invoke(config, action, input),
        }
    }
}

register_connector!(GitConnector);
