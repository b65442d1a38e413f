//! What a story does to sync a connection and read back what it stored, whichever connector it
//! runs (JIRA, Google, Git, GitHub, GitLab): start a sync and wait for every stream's job
//! ([`sync`], [`results`]), read a model or the synced documents by external id ([`by_id`],
//! [`synced_documents`]), compare what the API shows with what a fake serves ([`assert_has`]),
//! and look for a secret in every text column sync data lands in ([`stored_text`]).
//!
//! [`sync`]: crate::syncs::sync
//! [`results`]: crate::syncs::results
//! [`by_id`]: crate::syncs::by_id
//! [`synced_documents`]: crate::syncs::synced_documents
//! [`assert_has`]: crate::syncs::assert_has
//! [`stored_text`]: crate::syncs::stored_text

use std::collections::BTreeMap;

use serde_json::Value;

use crate::TestApp;

/// A model list by external id.
pub async fn by_id(app: &TestApp, token: &str, path: &str) -> BTreeMap<String, Value> {
    app.all(token, path)
        .await
        .into_iter()
        .map(|r| {
            (
                r["external_id"].as_str().expect("external id").to_owned(),
                r,
            )
        })
        .collect()
}

/// The synced documents of `stream` by external id (deleted ones too when `deleted`).
pub async fn synced_documents(
    app: &TestApp,
    token: &str,
    project: i64,
    stream: &str,
    deleted: bool,
) -> BTreeMap<String, Value> {
    by_id(
        app,
        token,
        &format!("/api/v1/projects/{project}/synced-documents?include_deleted={deleted}"),
    )
    .await
    .into_iter()
    .filter(|(_, d)| d["stream"] == stream)
    .collect()
}

/// Runs a sync (one stream, or all of them: then it waits for every stream's job) and returns
/// the finished jobs by stream, checking each succeeded.
pub async fn sync(
    app: &TestApp,
    token: &str,
    project: i64,
    cid: i64,
    body: Value,
) -> BTreeMap<String, Value> {
    let started = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            body,
        )
        .await;
    started.expect(202);
    let job = app
        .finished_job(token, started.json["job"]["id"].as_i64().expect("id"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let children: Vec<i64> = match job["result"]["jobs"].as_array() {
        Some(ids) => ids.iter().map(|i| i.as_i64().expect("id")).collect(),
        None => {
            let stream = job["payload"]["stream"]
                .as_str()
                .expect("stream")
                .to_owned();
            return BTreeMap::from([(stream, job)]);
        }
    };
    let mut jobs = BTreeMap::new();
    for id in children {
        let child = app.finished_job(token, id).await;
        assert_eq!(child["state"], "succeeded", "{child}");
        let stream = child["payload"]["stream"]
            .as_str()
            .expect("stream")
            .to_owned();
        jobs.insert(stream, child);
    }
    jobs
}

/// The `result` of each stream's job: `{records, pages, deleted}`.
pub fn results(jobs: &BTreeMap<String, Value>) -> BTreeMap<&str, Value> {
    jobs.iter()
        .map(|(s, j)| (s.as_str(), j["result"].clone()))
        .collect()
}

/// `got` has every field of `want` (objects: recursively; `null` in `want` also matches a
/// field left out).
pub fn assert_has(got: &Value, want: &Value, what: &str) {
    match want {
        Value::Object(fields) => {
            for (k, v) in fields {
                assert_has(&got[k], v, &format!("{what}.{k}"));
            }
        }
        other => assert_eq!(&got, &other, "{what}"),
    }
}

/// Every text column the host writes sync data into (records, sync states, jobs).
pub async fn stored_text(app: &TestApp) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sql in [
        "SELECT data FROM records",
        "SELECT COALESCE(state, '') FROM sync_states",
        "SELECT payload || COALESCE(result, '') || COALESCE(last_error, '') || progress_message FROM jobs",
        "SELECT config || base_url FROM connections",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(app.state.store.pool())
            .await
            .expect("rows");
        out.extend(rows);
    }
    out
}
