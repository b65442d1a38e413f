//! `source = "gitlab"` against a fake GitLab that follows GitLab's API documentation
//! ([`fake`]): the acceptance suite, keyset and offset paging, incremental reads and the
//! mapping ([`streams`]), failures ([`errors`]), and the actions ([`actions`]).
//!

pub mod documented;
pub mod fake;
mod sample;

mod actions;
mod errors;
mod streams;

use agentic_sdk::testing::{Credential, Harness};
use agentic_sdk::{Page, RecordData};
use git::GitConnector;
use serde_json::{json, Value};

use fake::{FakeGitlab, PROJECT};
pub use sample::*;

/// A `gitlab` configuration for the fake's project, by path.
pub fn config(per_page: u32) -> Value {
    json!({"source": "gitlab", "project": PROJECT, "per_page": per_page})
}

/// A harness calling the connector with the fake's base URL and the token.
pub fn harness(gitlab: &FakeGitlab) -> Harness<GitConnector> {
    Harness::new(GitConnector)
        .with_base_url(gitlab.url())
        .with_credential(Credential::Bearer(TOKEN.into()))
}

/// Reads a stream to its end from `state`: the records and the final state.
pub fn read_run(
    gitlab: &FakeGitlab,
    config: &Value,
    stream: &str,
    state: Option<&str>,
) -> (Vec<RecordData>, String) {
    let pages: Vec<Page> = harness(gitlab)
        .read_all(config, stream, state)
        .unwrap_or_else(|e| panic!("{stream}: {e}"));
    let state = pages.last().map(|p| p.state.clone()).unwrap_or_default();
    (pages.into_iter().flat_map(|p| p.records).collect(), state)
}

/// The external ids of records.
pub fn ids(records: &[RecordData]) -> Vec<String> {
    records.iter().map(|r| r.external_id().to_owned()).collect()
}

/// `acme/platform/widgets#n`.
pub fn key(n: u64) -> String {
    format!("{PROJECT}#{n}")
}

/// `acme/platform/widgets!n`.
pub fn mr_key(n: u64) -> String {
    format!("{PROJECT}!{n}")
}
