//! Test harness for the Agentic host.
//!
//! Every behaviour story runs twice, on SQLite and on PostgreSQL, through [`stories!`]. Each run
//! gets a fresh database: a SQLite file in a temporary directory, or a fresh schema in the
//! PostgreSQL database named by `AGENTIC_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`). Without PostgreSQL the PostgreSQL runs are
//! skipped with a message — except under `CI=true`, where they fail.
//!
//! [`TestApp`] drives the real router (`agentic_host::app`) with `tower::ServiceExt::oneshot`,
//! with a manual clock so session timeouts are tested by moving time, not by sleeping.
//! [`TestApp::twin`] is a second host on the same database, for what hosts of a cluster must
//! see of each other's writes.
//!
//! Cache tests use the real Redis named by `AGENTIC_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`), each app under a key prefix of its own ([`use_redis`]); without
//! Redis they are skipped with a message — except under `CI=true`, where they fail
//! ([`redis_unavailable`]). [`proxy::Proxy`] stands between a host and Redis to cut or
//! black-hole it mid-test without touching the real server.
//!
//! # Layout
//!
//! - This file: [`stories!`] and the time bound on each story ([`bounded`]).
//! - `app`: [`TestApp`], one host on a fresh database, its twin and its teardown; where the
//!   components built from `plugins/` are ([`plugin_dir`], [`plugin_wasm`]).
//! - `http`: talking to a host: [`Reply`], [`Form`] and the request helpers of [`TestApp`].
//! - `setup`: the administrator, users ([`TestUser`]) and projects a story starts from.
//! - `plugins`: publishers ([`Publisher`]) and the signed packages they install, plugins enabled
//!   in a project; the hostile connector's builds ([`hostile_manifest`], [`hostile_wasm`]).
//! - `services`: the real PostgreSQL and Redis, and what a run does when one is missing.
//! - `syncs`: a sync run through the API and what it stored, for every connector's stories.
//! - The public modules: fakes and real peers of the services connectors and the host call.

/// One host on a fresh database: startup, twin, teardown.
mod app;
/// Replies, forms and the requests a story sends.
mod http;
/// Publishers and the plugins they sign, installed and enabled through the API.
mod plugins;
/// The real PostgreSQL and Redis the stories run on.
mod services;
/// Users and projects made through the API.
mod setup;

pub use agentic_host::store::Backend;
pub use app::{plugin_dir, plugin_wasm, TestApp};
pub use http::{send_to, Form, Reply, FORM_BOUNDARY};
pub use plugins::{hostile_manifest, hostile_wasm, plugin_manifest, Publisher, PACKAGE};
pub(crate) use services::in_ci;
pub use services::{
    postgres_unavailable, postgres_url, redis_unavailable, redis_url, run_on_postgres, use_redis,
};
pub use setup::{TestUser, ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD};

/// A TCP proxy that can black-hole or cut its connections on demand.
pub mod proxy;

/// Fake identity providers and the services behind them.
pub mod providers;

/// A fake JIRA (Cloud and Data Center) for syncs through the host, and the JIRA component
/// installed and connected to it.
pub mod jira;

/// Syncs run through the API and what they stored, read back by external id.
pub mod syncs;

/// A real S3-compatible server (moto) for backups to object stores.
pub mod s3;

/// A fake Google (Drive, Calendar) for syncs through the host.
pub mod google;

/// A real Git server (`git http-backend` behind a CGI adapter) for the Git connector's stories.
pub mod git_server;

/// ReqIF exports as DOORS writes them, for the DOORS connector's stories.
pub mod doors;

/// A fake OpenAI-compatible chat-completions API, checked against OpenAI's API description.
pub mod openai;

/// A real OpenID Connect provider (`oidc-provider` on node) and a browser for SSO stories.
pub mod oidc_peer;

/// Sizes, runtime and databases the benches in `tests/benches/` share.
pub mod bench;

/// Epoch milliseconds as the API shows a time (RFC 3339, UTC), to compare a fake's times with
/// the records the API returns.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// Runs each story on SQLite and on PostgreSQL, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! stories {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn story($backend: $crate::Backend) $body
            #[tokio::test]
            async fn sqlite() {
                $crate::bounded(story($crate::Backend::Sqlite)).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::postgres_unavailable().await {
                    return;
                }
                $crate::bounded(story($crate::Backend::Postgres)).await;
            }
        }
    )*};
}

/// Runs a story, failing it when it takes longer than `AGENTIC_TEST_STORY_SECS` (default 300):
/// a story that hangs must fail with its name, not stall the whole run until CI gives up.
pub async fn bounded(story: impl std::future::Future<Output = ()>) {
    let secs = std::env::var("AGENTIC_TEST_STORY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    if tokio::time::timeout(std::time::Duration::from_secs(secs), story)
        .await
        .is_err()
    {
        panic!("the story did not finish within {secs} s (AGENTIC_TEST_STORY_SECS)");
    }
}
