//! Deletions a page reports (contract 0.3.0) are part of the page's transaction: a page write
//! dropped before it commits leaves the record as it was (nothing half-applied), a committed one
//! marks exactly the record of that connection, stream, external id and kind, a deletion of an
//! unknown id or of another kind marks nothing, and a record upserted earlier in the same page
//! then deleted ends deleted.

use std::borrow::Cow;

use agentic_host::clock::Millis;
use agentic_host::store::records::{DeletedRecord, NewRecord, SyncState};

use crate::workers::example_connections;

fn record(id: &str) -> NewRecord<'static> {
    NewRecord {
        kind: "work_item",
        external_id: Cow::Owned(id.to_owned()),
        title: Cow::Owned(format!("Item {id}")),
        status: Some(Cow::Borrowed("open")),
        source_updated_at: None,
        data: Cow::Owned(format!(r#"{{"external_id":"{id}"}}"#)),
    }
}

fn gone(id: &str, kind: &'static str) -> DeletedRecord<'static> {
    DeletedRecord {
        kind,
        external_id: Cow::Owned(id.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pages_deletions_commit_with_it_or_not_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("agentic.db").display()
    );
    let (store, connections) = example_connections(dir.path(), &database, 3, 10, 2).await;
    let (a, b) = (&connections[0], &connections[1]);
    let state = |s: &str| SyncState {
        state: Some(s.into()),
        cycle: 0,
        complete: true,
    };
    for c in [a, b] {
        store
            .store_page(
                None,
                c.project_id,
                c.id,
                "items",
                &[record("1"), record("2")],
                &state("1"),
                Millis::from_ms(1),
            )
            .await
            .expect("first page");
    }
    let deleted = |connection: i64| {
        let store = store.clone();
        async move {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT external_id FROM records WHERE connection_id = $1 AND deleted = 1 \
                 ORDER BY external_id",
            )
            .bind(connection)
            .fetch_all(store.pool())
            .await
            .expect("query");
            ids
        }
    };

    // Dropped before commit: nothing of the page is applied, its state neither.
    let mut write = store
        .begin_page(None, Millis::from_ms(2))
        .await
        .expect("begin");
    write
        .upsert(
            a.project_id,
            a.id,
            "items",
            &[record("3")],
            0,
            Millis::from_ms(2),
        )
        .await
        .expect("upsert");
    let marked = write
        .delete(a.id, "items", &[gone("1", "work_item")], Millis::from_ms(2))
        .await
        .expect("delete");
    assert_eq!(marked, 1);
    drop(write);
    assert!(deleted(a.id).await.is_empty(), "rolled back with its page");
    assert_eq!(
        store
            .sync_state(a.id, "items")
            .await
            .expect("state")
            .state
            .as_deref(),
        Some("1")
    );

    // Committed: exactly that record; unknown ids and other kinds mark nothing; a record the
    // page upserted before deleting it ends deleted.
    let mut write = store
        .begin_page(None, Millis::from_ms(3))
        .await
        .expect("begin");
    write
        .upsert(
            a.project_id,
            a.id,
            "items",
            &[record("3")],
            0,
            Millis::from_ms(3),
        )
        .await
        .expect("upsert");
    let marked = write
        .delete(
            a.id,
            "items",
            &[
                gone("1", "work_item"),
                gone("404", "work_item"),
                gone("2", "document"),
                gone("3", "work_item"),
            ],
            Millis::from_ms(3),
        )
        .await
        .expect("delete");
    write
        .commit(a.id, "items", &state("2"), Millis::from_ms(3))
        .await
        .expect("commit");
    assert_eq!(marked, 2);
    assert_eq!(deleted(a.id).await, ["1", "3"]);
    assert!(
        deleted(b.id).await.is_empty(),
        "another connection's records stay"
    );
    assert_eq!(
        store
            .sync_state(a.id, "items")
            .await
            .expect("state")
            .state
            .as_deref(),
        Some("2")
    );
    // Deleted already: nothing more to mark.
    let mut write = store
        .begin_page(None, Millis::from_ms(4))
        .await
        .expect("begin");
    let again = write
        .delete(a.id, "items", &[gone("1", "work_item")], Millis::from_ms(4))
        .await
        .expect("delete");
    write
        .commit(a.id, "items", &state("3"), Millis::from_ms(4))
        .await
        .expect("commit");
    assert_eq!(again, 0);
}
