//! A page's new documents written in bulk: their rows, tags, bytes and first versions in a few
//! multi-row statements, where one by one they cost four or five round trips each (a first
//! sync of 100 000 Drive files is 100 000 new documents, and on PostgreSQL those round trips
//! were most of its time).
//!
//! The documents go first, `ON CONFLICT … DO NOTHING RETURNING`: what the statement inserted
//! is new, what it skipped exists already and is left to the caller's one-by-one path, so no
//! lookup is paid for a new document. Their blobs follow, one row each: a blob row holds only
//! its size until its chunks are written, so the ids the statement returns are matched to the
//! documents by size (any two blobs of one size are interchangeable at that point), which
//! needs no promise from either database about the order of `RETURNING`.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::{Prepared, BLOB_STORE, CHUNK_BYTES};
use crate::clock::Millis;
use crate::store::documents::{search_text, tags_json};
use crate::store::page_write::placeholders;
use crate::store::{Backend, Result};

/// Rows per statement: at most 11 parameters a row, far under SQLite's 32 766 and
/// PostgreSQL's 65 535. Every value of a row is a parameter, bound in column order (see
/// [`placeholders`]).
const ROWS: usize = 250;
/// Blob chunk bytes per statement at most (a chunk is up to [`CHUNK_BYTES`]).
const CHUNK_STATEMENT_BYTES: usize = 4 * 1024 * 1024;

/// Inserts those of `docs` that `connection_id` has no document for, with their tags, bytes
/// and first versions, in `tx`. Returns the indexes in `docs` of the others, in order: the
/// documents that exist (and any second record of one external id), for the caller to update.
pub(super) async fn insert_new(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    project_id: i64,
    connection_id: i64,
    docs: &[Prepared],
    now: Millis,
) -> Result<Vec<usize>> {
    // One row per external id: a second record of one (which the page's upsert has already
    // dropped) would be skipped by the conflict and then given the first one's id.
    let candidates: Vec<usize> = {
        let mut seen = HashSet::with_capacity(docs.len());
        (0..docs.len())
            .filter(|&i| seen.insert(docs[i].doc.external_id.as_str()))
            .collect()
    };
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(candidates.len());
    for chunk in candidates.chunks(ROWS) {
        let rows = Rows { backend, docs, now };
        insert_documents(tx, &rows, project_id, connection_id, chunk, &mut ids).await?;
    }
    let mut created: Vec<(usize, i64)> = Vec::with_capacity(ids.len());
    let mut existing = Vec::new();
    for (i, prepared) in docs.iter().enumerate() {
        match ids.remove(&prepared.doc.external_id) {
            Some(id) => created.push((i, id)),
            None => existing.push(i),
        }
    }
    let rows = Rows { backend, docs, now };
    insert_tags(tx, &rows, &created).await?;
    let blobs = insert_blobs(tx, &rows, &created).await?;
    insert_chunks(tx, &rows, &created, &blobs).await?;
    insert_versions(tx, &rows, &created, &blobs).await?;
    Ok(existing)
}

/// What every statement of a page's bulk insert shares.
struct Rows<'a> {
    backend: Backend,
    docs: &'a [Prepared],
    now: Millis,
}

/// The documents of `chunk` (indexes in `docs`) that do not exist yet; their ids go to `ids`
/// by external id.
async fn insert_documents(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows<'_>,
    project_id: i64,
    connection_id: i64,
    chunk: &[usize],
    ids: &mut HashMap<String, i64>,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO documents (project_id, title, tags, metadata, current_version, \
         search_text, source_connection_id, external_id, created_at, updated_at) VALUES {} \
         ON CONFLICT (source_connection_id, external_id) DO NOTHING RETURNING id, external_id",
        placeholders(rows.backend, chunk.len(), 10)
    );
    let mut query = sqlx::query(&sql);
    for &i in chunk {
        let Prepared {
            doc, content_text, ..
        } = &rows.docs[i];
        query = query
            .bind(project_id)
            .bind(&doc.title)
            .bind(tags_json(&doc.tags))
            .bind(&doc.metadata)
            .bind(1_i64)
            .bind(search_text(&doc.fields(), Some(content_text)))
            .bind(connection_id)
            .bind(&doc.external_id)
            .bind(rows.now)
            .bind(rows.now);
    }
    for row in query.fetch_all(&mut **tx).await? {
        ids.insert(row.try_get("external_id")?, row.try_get("id")?);
    }
    Ok(())
}

/// The lower-cased tags of the `created` documents.
async fn insert_tags(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows<'_>,
    created: &[(usize, i64)],
) -> Result<()> {
    let pairs: Vec<(i64, String)> = created
        .iter()
        .flat_map(|&(i, id)| {
            let tags = &rows.docs[i].doc.tags;
            tags.iter().map(move |t| (id, t.to_lowercase()))
        })
        .collect();
    for chunk in pairs.chunks(ROWS) {
        // Two tags the mirror kept apart may fold to one (`Ä`, `ä`).
        let sql = format!(
            "INSERT INTO document_tags (document_id, tag) VALUES {} ON CONFLICT DO NOTHING",
            placeholders(rows.backend, chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for (id, tag) in chunk {
            query = query.bind(*id).bind(tag.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn size_of(prepared: &Prepared) -> i64 {
    i64::try_from(prepared.doc.body.len()).unwrap_or(i64::MAX)
}

/// A blob row for each of the `created` documents; returns their ids in the order of `created`.
async fn insert_blobs(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows<'_>,
    created: &[(usize, i64)],
) -> Result<Vec<i64>> {
    let mut by_size: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in created.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO blobs (size, created_at) VALUES {} RETURNING id, size",
            placeholders(rows.backend, chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for &(i, _) in chunk {
            query = query.bind(size_of(&rows.docs[i])).bind(rows.now);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let size: i64 = row.try_get("size")?;
            by_size.entry(size).or_default().push(row.try_get("id")?);
        }
    }
    created
        .iter()
        .map(|&(i, _)| {
            by_size
                .get_mut(&size_of(&rows.docs[i]))
                .and_then(Vec::pop)
                .ok_or_else(|| {
                    sqlx::Error::Protocol("a blob row inserted was not returned".into()).into()
                })
        })
        .collect()
}

/// The bytes of the `created` documents into their blobs (`blobs`, in the order of `created`).
async fn insert_chunks(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows<'_>,
    created: &[(usize, i64)],
    blobs: &[i64],
) -> Result<()> {
    // Collected before the first statement: an iterator of borrowing closures held across
    // an `.await` makes the future not `Send` for every lifetime.
    let chunks: Vec<(i64, i64, &[u8])> = created
        .iter()
        .zip(blobs)
        .flat_map(|(&(i, _), &blob)| {
            let body = rows.docs[i].doc.body.as_bytes();
            body.chunks(CHUNK_BYTES)
                .enumerate()
                .map(move |(seq, data)| (blob, i64::try_from(seq).unwrap_or(i64::MAX), data))
        })
        .collect();
    let mut batch: Vec<(i64, i64, &[u8])> = Vec::new();
    let mut bytes = 0;
    for chunk in chunks {
        let full = batch.len() == ROWS || bytes + chunk.2.len() > CHUNK_STATEMENT_BYTES;
        if !batch.is_empty() && full {
            write_chunks(tx, rows.backend, &batch).await?;
            batch.clear();
            bytes = 0;
        }
        bytes += chunk.2.len();
        batch.push(chunk);
    }
    if !batch.is_empty() {
        write_chunks(tx, rows.backend, &batch).await?;
    }
    Ok(())
}

async fn write_chunks(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &[(i64, i64, &[u8])],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO blob_chunks (blob_id, seq, data) VALUES {}",
        placeholders(backend, batch.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for &(blob, seq, data) in batch {
        query = query.bind(blob).bind(seq).bind(data);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Version 1 of each of the `created` documents, its bytes in its blob (`blobs`, in the order
/// of `created`).
async fn insert_versions(
    tx: &mut Transaction<'static, Any>,
    rows: &Rows<'_>,
    created: &[(usize, i64)],
    blobs: &[i64],
) -> Result<()> {
    let versions: Vec<(i64, String, String, &Prepared)> = created
        .iter()
        .zip(blobs)
        .map(|(&(i, id), blob)| {
            let prepared = &rows.docs[i];
            (id, prepared.doc.filename(), blob.to_string(), prepared)
        })
        .collect();
    for chunk in versions.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO document_versions (document_id, number, filename, content_type, size, \
             sha256, blob_store, blob_key, content_text, created_by, created_at) VALUES {}",
            placeholders(rows.backend, chunk.len(), 11)
        );
        let mut query = sqlx::query(&sql);
        for (id, filename, key, prepared) in chunk {
            let v = prepared.version(filename, key);
            query = query
                .bind(*id)
                .bind(1_i64)
                .bind(v.filename)
                .bind(v.content_type)
                .bind(v.size)
                .bind(v.sha256)
                .bind(BLOB_STORE)
                .bind(v.blob_key)
                .bind(v.content_text)
                .bind(None::<i64>)
                .bind(rows.now);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
