//! The claim's query plan: a claim must cost the same however deep the queue is, which on
//! SQLite (no statistics) only holds while it reads the head of `jobs_queued` and looks the
//! picked jobs up by key. Checked on the plan rather than timed.

use super::*;

#[tokio::test]
async fn a_sqlite_claim_reads_the_head_of_the_queued_index_and_sorts_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("q.db").display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let sql = store.claim_sql(&["noop".to_owned()]);
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
        .bind("w")
        .bind(2_i64)
        .bind(1_i64)
        .bind(8_i64)
        .fetch_all(store.pool())
        .await
        .expect("plan");
    let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
    assert!(
        plan.iter().any(|p| p.contains("USING INDEX jobs_queued")),
        "{plan:?}"
    );
    assert!(
        plan.iter().any(|p| p.contains("INTEGER PRIMARY KEY")),
        "{plan:?}"
    );
    assert!(
        !plan
            .iter()
            .any(|p| p.contains("TEMP B-TREE") || p.contains("jobs_running")),
        "a claim must not sort or walk every queued job: {plan:?}"
    );
    store.close().await;
}
