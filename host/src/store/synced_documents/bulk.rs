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
use crate::store::Result;

/// Rows per statement: at most 7 parameters a row, far under SQLite's 32 766 and PostgreSQL's
/// 65 535.
const ROWS: usize = 250;
/// Blob chunk bytes per statement at most (a chunk is up to [`CHUNK_BYTES`]).
const CHUNK_STATEMENT_BYTES: usize = 4 * 1024 * 1024;

/// Inserts those of `docs` that `connection_id` has no document for, with their tags, bytes
/// and first versions, in `tx`. Returns the indexes in `docs` of the others, in order: the
/// documents that exist (and any second record of one external id), for the caller to update.
pub(super) async fn insert_new(
    tx: &mut Transaction<'static, Any>,
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
        insert_documents(tx, project_id, connection_id, docs, chunk, now, &mut ids).await?;
    }
    let mut created: Vec<(usize, i64)> = Vec::with_capacity(ids.len());
    let mut existing = Vec::new();
    for (i, prepared) in docs.iter().enumerate() {
        match ids.remove(&prepared.doc.external_id) {
            Some(id) => created.push((i, id)),
            None => existing.push(i),
        }
    }
    insert_tags(tx, docs, &created).await?;
    let blobs = insert_blobs(tx, docs, &created, now).await?;
    insert_chunks(tx, docs, &created, &blobs).await?;
    insert_versions(tx, docs, &created, &blobs, now).await?;
    Ok(existing)
}

/// `VALUES` rows of `width` parameters each, numbered from `first`: `($5, $6), ($7, $8)`.
fn values(rows: usize, width: usize, first: usize, row: impl Fn(&[usize]) -> String) -> String {
    let mut sql = String::with_capacity(rows * width * 6);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let params: Vec<usize> = (0..width).map(|c| first + r * width + c).collect();
        sql.push_str(&row(&params));
    }
    sql
}

/// The documents of `chunk` (indexes in `docs`) that do not exist yet; their ids go to `ids`
/// by external id.
#[allow(clippy::too_many_arguments)]
async fn insert_documents(
    tx: &mut Transaction<'static, Any>,
    project_id: i64,
    connection_id: i64,
    docs: &[Prepared],
    chunk: &[usize],
    now: Millis,
    ids: &mut HashMap<String, i64>,
) -> Result<()> {
    // $1 project, $2 connection, $3 now; then title, tags, metadata, search text, external id.
    let rows = values(chunk.len(), 5, 4, |p| {
        format!(
            "($1, ${}, ${}, ${}, 1, ${}, $2, ${}, $3, $3)",
            p[0], p[1], p[2], p[3], p[4]
        )
    });
    let sql = format!(
        "INSERT INTO documents (project_id, title, tags, metadata, current_version, \
         search_text, source_connection_id, external_id, created_at, updated_at) VALUES {rows} \
         ON CONFLICT (source_connection_id, external_id) DO NOTHING RETURNING id, external_id"
    );
    let mut query = sqlx::query(&sql)
        .bind(project_id)
        .bind(connection_id)
        .bind(now);
    for &i in chunk {
        let Prepared {
            doc, content_text, ..
        } = &docs[i];
        let fields = doc.fields();
        query = query
            .bind(&doc.title)
            .bind(tags_json(&doc.tags))
            .bind(&doc.metadata)
            .bind(search_text(&fields, Some(content_text)))
            .bind(&doc.external_id);
    }
    for row in query.fetch_all(&mut **tx).await? {
        ids.insert(row.try_get("external_id")?, row.try_get("id")?);
    }
    Ok(())
}

/// The lower-cased tags of the `created` documents.
async fn insert_tags(
    tx: &mut Transaction<'static, Any>,
    docs: &[Prepared],
    created: &[(usize, i64)],
) -> Result<()> {
    let pairs: Vec<(i64, String)> = created
        .iter()
        .flat_map(|&(i, id)| docs[i].doc.tags.iter().map(move |t| (id, t.to_lowercase())))
        .collect();
    for chunk in pairs.chunks(ROWS) {
        let rows = values(chunk.len(), 2, 1, |p| format!("(${}, ${})", p[0], p[1]));
        // Two tags the mirror kept apart may fold to one (`Ä`, `ä`).
        let sql = format!(
            "INSERT INTO document_tags (document_id, tag) VALUES {rows} ON CONFLICT DO NOTHING"
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
    docs: &[Prepared],
    created: &[(usize, i64)],
    now: Millis,
) -> Result<Vec<i64>> {
    let mut by_size: HashMap<i64, Vec<i64>> = HashMap::new();
    for chunk in created.chunks(ROWS) {
        let rows = values(chunk.len(), 1, 2, |p| format!("(${}, $1)", p[0]));
        let sql = format!("INSERT INTO blobs (size, created_at) VALUES {rows} RETURNING id, size");
        let mut query = sqlx::query(&sql).bind(now);
        for &(i, _) in chunk {
            query = query.bind(size_of(&docs[i]));
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
                .get_mut(&size_of(&docs[i]))
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
    docs: &[Prepared],
    created: &[(usize, i64)],
    blobs: &[i64],
) -> Result<()> {
    // Collected before the first statement: an iterator of borrowing closures held across
    // an `.await` makes the future not `Send` for every lifetime.
    let chunks: Vec<(i64, i64, &[u8])> = created
        .iter()
        .zip(blobs)
        .flat_map(|(&(i, _), &blob)| {
            docs[i]
                .doc
                .body
                .as_bytes()
                .chunks(CHUNK_BYTES)
                .enumerate()
                .map(move |(seq, data)| (blob, i64::try_from(seq).unwrap_or(i64::MAX), data))
        })
        .collect();
    let mut batch: Vec<(i64, i64, &[u8])> = Vec::new();
    let mut bytes = 0;
    for chunk in chunks {
        if !batch.is_empty()
            && (batch.len() == ROWS || bytes + chunk.2.len() > CHUNK_STATEMENT_BYTES)
        {
            write_chunks(tx, &batch).await?;
            batch.clear();
            bytes = 0;
        }
        bytes += chunk.2.len();
        batch.push(chunk);
    }
    if !batch.is_empty() {
        write_chunks(tx, &batch).await?;
    }
    Ok(())
}

async fn write_chunks(
    tx: &mut Transaction<'static, Any>,
    batch: &[(i64, i64, &[u8])],
) -> Result<()> {
    let rows = values(batch.len(), 3, 1, |p| {
        format!("(${}, ${}, ${})", p[0], p[1], p[2])
    });
    let sql = format!("INSERT INTO blob_chunks (blob_id, seq, data) VALUES {rows}");
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
    docs: &[Prepared],
    created: &[(usize, i64)],
    blobs: &[i64],
    now: Millis,
) -> Result<()> {
    let rows: Vec<(i64, String, String, &Prepared)> = created
        .iter()
        .zip(blobs)
        .map(|(&(i, id), blob)| (id, docs[i].doc.filename(), blob.to_string(), &docs[i]))
        .collect();
    for chunk in rows.chunks(ROWS) {
        // $1 now, $2 the blob store; then document, file name, type, size, hash, key, text.
        let values = values(chunk.len(), 7, 3, |p| {
            format!(
                "(${}, 1, ${}, ${}, ${}, ${}, $2, ${}, ${}, NULL, $1)",
                p[0], p[1], p[2], p[3], p[4], p[5], p[6]
            )
        });
        let sql = format!(
            "INSERT INTO document_versions (document_id, number, filename, content_type, size, \
             sha256, blob_store, blob_key, content_text, created_by, created_at) VALUES {values}"
        );
        let mut query = sqlx::query(&sql).bind(now).bind(BLOB_STORE);
        for (id, filename, key, prepared) in chunk {
            let v = prepared.version(filename, key);
            query = query
                .bind(*id)
                .bind(v.filename)
                .bind(v.content_type)
                .bind(v.size)
                .bind(v.sha256)
                .bind(v.blob_key)
                .bind(v.content_text);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
