//! The write of one synced page: its records upserted on their source key, the documents
//! mirrored from them, and the stream's state after it, in one transaction
//! ([`super::Store::begin_page`], then [`PageWrite::store`]).
//!
//! The records go in bulk: multi-row `INSERT … VALUES` of up to 500 rows.

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use super::records::{NewRecord, SyncState};
use super::Result;
use crate::clock::Millis;

/// Rows per INSERT: 6 parameters each, well under SQLite's 32 766.
const ROWS_PER_STATEMENT: usize = 500;

/// What an upsert changes on a record it finds: everything the page says, and it is seen.
const ON_CONFLICT: &str = " ON CONFLICT (connection_id, stream, external_id) DO UPDATE SET \
     kind = excluded.kind, title = excluded.title, status = excluded.status, \
     data = excluded.data, source_updated_at = excluded.source_updated_at, \
     cycle = excluded.cycle, deleted = 0, synced_at = excluded.synced_at";

/// A page's transaction, its lease (if fenced) confirmed: [`super::Store::begin_page`].
/// Dropped without [`PageWrite::store`], it rolls back.
#[derive(Debug)]
pub struct PageWrite {
    tx: Transaction<'static, Any>,
}

impl PageWrite {
    pub(super) fn new(tx: Transaction<'static, Any>) -> Self {
        Self { tx }
    }

    /// Writes the page's records (upserted on their source key), mirrors its documents, stores
    /// the stream's state after it, and commits.
    pub async fn store(
        mut self,
        project_id: i64,
        connection_id: i64,
        stream: &str,
        records: &[NewRecord<'_>],
        state: &SyncState,
        now: Millis,
    ) -> Result<()> {
        // A page may name a record twice; one statement may not touch a row twice (PostgreSQL).
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            last.insert(&*r.external_id, i);
        }
        let unique: Vec<&NewRecord<'_>> = records
            .iter()
            .enumerate()
            .filter(|(i, r)| last.get(&*r.external_id) == Some(i))
            .map(|(_, r)| r)
            .collect();
        let shared = Shared {
            project_id,
            connection_id,
            stream,
            cycle: state.cycle,
            now,
        };
        for chunk in unique.chunks(ROWS_PER_STATEMENT) {
            upsert_values(&mut self.tx, &shared, chunk).await?;
        }
        super::synced_documents::mirror(&mut self.tx, project_id, connection_id, &unique, now)
            .await?;
        sqlx::query(
            "INSERT INTO sync_states (connection_id, stream, state, cycle, complete, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connection_id, stream) DO UPDATE SET \
             state = excluded.state, cycle = excluded.cycle, complete = excluded.complete, \
             updated_at = excluded.updated_at",
        )
        .bind(connection_id)
        .bind(stream)
        .bind(state.state.as_deref())
        .bind(state.cycle)
        .bind(i64::from(state.complete))
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// What every row of a page shares.
struct Shared<'a> {
    project_id: i64,
    connection_id: i64,
    stream: &'a str,
    cycle: i64,
    now: Millis,
}

/// One multi-row `INSERT … VALUES`, six parameters a row.
async fn upsert_values(
    tx: &mut Transaction<'static, Any>,
    shared: &Shared<'_>,
    rows: &[&NewRecord<'_>],
) -> Result<()> {
    let mut sql = String::from(
        "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
         status, data, source_updated_at, cycle, deleted, synced_at) VALUES ",
    );
    for i in 0..rows.len() {
        let b = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "($1, $2, $3, ${}, ${}, ${}, ${}, ${}, ${}, $4, 0, $5)",
            b + 6,
            b + 7,
            b + 8,
            b + 9,
            b + 10,
            b + 11
        ));
    }
    sql.push_str(ON_CONFLICT);
    let mut q = sqlx::query(&sql)
        .bind(shared.project_id)
        .bind(shared.connection_id)
        .bind(shared.stream)
        .bind(shared.cycle)
        .bind(shared.now);
    for r in rows {
        q = q
            .bind(r.kind)
            .bind(&*r.external_id)
            .bind(&*r.title)
            .bind(r.status.as_deref())
            .bind(&*r.data)
            .bind(r.source_updated_at);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
