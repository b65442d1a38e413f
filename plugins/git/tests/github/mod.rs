//! `source = "github"` against a fake GitHub that checks every request against GitHub's
//! published OpenAPI description ([`openapi`], [`fake`]): the acceptance suite, paging,
//! incremental reads and ETags ([`streams`]), rate limits and errors ([`errors`]), the
//! mapping onto the internal models ([`mapping`]), and pull request reviews and the people
//! who comment and review ([`reviews`]).

pub mod fake;
pub mod openapi;
mod sample;

mod actions;
mod errors;
mod mapping;
mod reviews;
mod streams;

use std::sync::Arc;

use agentic_sdk::testing::Harness;
use agentic_sdk::{Page, RecordData};
use git::GitConnector;
use serde_json::{json, Value};

use fake::{Data, FakeGithub, OWNER, REPO, REPOSITORY};
use openapi::Description;
pub use sample::*;

/// The description and a fake serving `data` from it; `None` when the description is missing
/// outside CI (the test is skipped).
pub fn start(data: impl FnOnce(&Description) -> Data) -> Option<FakeGithub> {
    let api: Arc<Description> = openapi::description()?;
    let data = data(&api);
    Some(FakeGithub::start(api, data))
}

/// A `github` configuration for the fake's repository.
pub fn config(per_page: u32) -> Value {
    json!({"source": "github", "repository": REPOSITORY, "per_page": per_page})
}

/// A harness calling the connector with the fake's base URL.
pub fn harness(github: &FakeGithub) -> Harness<GitConnector> {
    Harness::new(GitConnector).with_base_url(github.url())
}

/// Reads a stream to its end from `state`: the records and the final state.
pub fn read_run(
    github: &FakeGithub,
    config: &Value,
    stream: &str,
    state: Option<&str>,
) -> (Vec<RecordData>, String) {
    let pages: Vec<Page> = harness(github)
        .read_all(config, stream, state)
        .unwrap_or_else(|e| panic!("{stream}: {e}"));
    let state = pages.last().map(|p| p.state.clone()).unwrap_or_default();
    (pages.into_iter().flat_map(|p| p.records).collect(), state)
}

/// The external ids of records.
pub fn ids(records: &[RecordData]) -> Vec<String> {
    records.iter().map(|r| r.external_id().to_owned()).collect()
}

/// `owner/repo#n`.
pub fn key(n: u64) -> String {
    format!("{OWNER}/{REPO}#{n}")
}
