//! The write of one synced page: its records upserted on their source key, the documents
//! mirrored from them, the records it reports deleted (contract 0.3.0: marked deleted, their
//! documents unmirrored), and the stream's state after it, in one transaction
//! ([`super::Store::begin_page`], then [`PageWrite::store`]).
//!
//! The records go in bulk, in the statement each dialect takes best: on SQLite multi-row
//! `INSERT … VALUES` of up to 500 rows with anonymous parameters (no round trip to pay, and
//! SQLite has no arrays); on PostgreSQL one `INSERT … SELECT FROM unnest(…)` per page, each
//! column bound as one array, so a page costs one statement with eleven parameters instead of
//! six per record (binding, sending and planning thousands of parameters was most of a page's
//! write).

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use super::job_attempts::Fence;
use super::page_contents::{DeletedRecord, NewRecord, SyncState};
use super::{Backend, Result};
use crate::clock::Millis;

/// Rows per SQLite INSERT: 12 parameters each, well under SQLite's 32 766.
const SQLITE_ROWS_PER_STATEMENT: usize = 500;

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
    backend: Backend,
}

impl PageWrite {
    pub(super) fn new(tx: Transaction<'static, Any>, backend: Backend) -> Self {
        Self { tx, backend }
    }

    /// Writes the page's records (upserted on their source key), mirrors its documents, stores
    /// the stream's state after it, and commits: [`PageWrite::upsert`] then
    /// [`PageWrite::commit`], for a page without deletions.
    pub async fn store(
        mut self,
        project_id: i64,
        connection_id: i64,
        stream: &str,
        records: &[NewRecord<'_>],
        state: &SyncState,
        now: Millis,
    ) -> Result<()> {
        self.upsert(project_id, connection_id, stream, records, state.cycle, now)
            .await?;
        self.commit(connection_id, stream, state, now).await
    }

    /// Writes the page's records (upserted on their source key, seen by full-refresh `cycle`)
    /// and mirrors its documents.
    pub async fn upsert(
        &mut self,
        project_id: i64,
        connection_id: i64,
        stream: &str,
        records: &[NewRecord<'_>],
        cycle: i64,
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
            cycle,
            now,
        };
        match self.backend {
            Backend::Sqlite => {
                for chunk in unique.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    upsert_values(&mut self.tx, &shared, chunk).await?;
                }
            }
            Backend::Postgres if !unique.is_empty() => {
                upsert_unnest(&mut self.tx, &shared, &unique).await?;
            }
            Backend::Postgres => {}
        }
        let tx = &mut self.tx;
        super::synced_documents::mirror(tx, self.backend, project_id, connection_id, &unique, now)
            .await?;
        Ok(())
    }

    /// Marks the records a page reports gone (contract 0.3.0) deleted and unmirrors their
    /// documents; call it after [`PageWrite::upsert`], the caller having dropped deletions a
    /// later record of the page supersedes. Returns how many records it marked: a deletion of
    /// a record the store does not have (or of another kind, or deleted already) is none.
    pub async fn delete(
        &mut self,
        connection_id: i64,
        stream: &str,
        deleted: &[DeletedRecord<'_>],
        now: Millis,
    ) -> Result<u64> {
        let mut marked = 0;
        for gone in deleted {
            let n = sqlx::query(
                "UPDATE records SET deleted = 1, synced_at = $5 WHERE connection_id = $1 \
                 AND stream = $2 AND external_id = $3 AND kind = $4 AND deleted = 0",
            )
            .bind(connection_id)
            .bind(stream)
            .bind(&*gone.external_id)
            .bind(gone.kind)
            .bind(now)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
            if n > 0 && gone.kind == "document" {
                super::synced_documents::unmirror_one(
                    &mut self.tx,
                    connection_id,
                    &gone.external_id,
                )
                .await?;
            }
            marked += n;
        }
        Ok(marked)
    }

    /// Stores `fence`'s checkpoint again (its lease confirmed once more), when what the page
    /// did changes the totals the checkpoint holds (deletions are counted once marked).
    pub async fn checkpoint(&mut self, fence: &Fence<'_>, now: Millis) -> Result<()> {
        super::Store::hold_lease(&mut self.tx, fence, now).await
    }

    /// Stores the stream's state after the page and commits.
    pub async fn commit(
        mut self,
        connection_id: i64,
        stream: &str,
        state: &SyncState,
        now: Millis,
    ) -> Result<()> {
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

/// `rows` rows of `width` parameters each, numbered in order: `($1, $2), ($3, $4)` on
/// PostgreSQL, `(?, ?), (?, ?)` on SQLite. Why not `$n` on SQLite too: sqlx asks SQLite for the
/// name of every parameter it binds, and SQLite finds a numbered parameter's name by scanning
/// the statement's list of them, so a multi-row statement's binding was quadratic in its
/// parameters (`sqlite3_bind_parameter_name` was 8.7 % of a Google Drive sync's samples).
/// Anonymous ones have no name to find. Callers bind every row's values in column order.
pub(super) fn placeholders(backend: Backend, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// SQLite: one multi-row `INSERT … VALUES`, every value a parameter (see [`placeholders`]).
async fn upsert_values(
    tx: &mut Transaction<'static, Any>,
    shared: &Shared<'_>,
    rows: &[&NewRecord<'_>],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
         status, data, source_updated_at, cycle, deleted, synced_at) VALUES {}{ON_CONFLICT}",
        placeholders(Backend::Sqlite, rows.len(), 12)
    );
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q
            .bind(shared.project_id)
            .bind(shared.connection_id)
            .bind(shared.stream)
            .bind(r.kind)
            .bind(&*r.external_id)
            .bind(&*r.title)
            .bind(r.status.as_deref())
            .bind(&*r.data)
            .bind(r.source_updated_at)
            .bind(shared.cycle)
            .bind(0_i64)
            .bind(shared.now);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// PostgreSQL: the page's columns as arrays, unnested into rows in one statement. The `Any`
/// driver carries no arrays, so each is bound as the text of an array literal and cast.
async fn upsert_unnest(
    tx: &mut Transaction<'static, Any>,
    shared: &Shared<'_>,
    rows: &[&NewRecord<'_>],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
         status, data, source_updated_at, cycle, deleted, synced_at) \
         SELECT $1, $2, $3, r.kind, r.external_id, r.title, r.status, r.data, \
         r.source_updated_at, $4, 0, $5 \
         FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[]) \
         AS r (kind, external_id, title, status, data, source_updated_at){ON_CONFLICT}"
    );
    sqlx::query(&sql)
        .bind(shared.project_id)
        .bind(shared.connection_id)
        .bind(shared.stream)
        .bind(shared.cycle)
        .bind(shared.now)
        .bind(text_array(rows.iter().map(|r| Some(r.kind))))
        .bind(text_array(rows.iter().map(|r| Some(&*r.external_id))))
        .bind(text_array(rows.iter().map(|r| Some(&*r.title))))
        .bind(text_array(rows.iter().map(|r| r.status.as_deref())))
        .bind(text_array(rows.iter().map(|r| Some(&*r.data))))
        .bind(int_array(
            rows.iter().map(|r| r.source_updated_at.map(Millis::as_ms)),
        ))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A PostgreSQL array literal of text: `{"a","b \"c\"",NULL}` (every element quoted, `"` and
/// `\` escaped by a backslash, so no content reads as a delimiter or as `NULL`).
fn text_array<'a>(values: impl ExactSizeIterator<Item = Option<&'a str>>) -> String {
    let mut out = String::with_capacity(2 + values.len() * 16);
    out.push('{');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(value) = value else {
            out.push_str("NULL");
            continue;
        };
        out.reserve(value.len() + 2);
        out.push('"');
        let mut rest = value;
        while let Some(at) = rest.find(['"', '\\']) {
            out.push_str(&rest[..at]);
            out.push('\\');
            out.push_str(&rest[at..=at]);
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
        out.push('"');
    }
    out.push('}');
    out
}

/// A PostgreSQL array literal of integers: `{1,NULL,3}`.
fn int_array(values: impl ExactSizeIterator<Item = Option<i64>>) -> String {
    let mut out = String::with_capacity(2 + values.len() * 14);
    out.push('{');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match value {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("NULL"),
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_on_postgres_and_anonymous_on_sqlite() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn array_literals_quote_every_element_and_escape_delimiters() {
        let values = [
            Some("a"),
            Some(r#"say "hi", {ok} \ NULL"#),
            None,
            Some("NULL"),
            Some(""),
        ];
        assert_eq!(
            text_array(values.into_iter()),
            r#"{"a","say \"hi\", {ok} \\ NULL",NULL,"NULL",""}"#
        );
        assert_eq!(text_array(std::iter::empty()), "{}");
        assert_eq!(
            int_array([Some(1), None, Some(-3)].into_iter()),
            "{1,NULL,-3}"
        );
    }
}
