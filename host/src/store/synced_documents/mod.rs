//! Documents synced from a connection, mirrored into the documents store so the Documents API
//! lists, searches and serves them beside uploaded ones — read-only, with their source
//! (`source_connection_id`, `external_id`).
//!
//! The mirror is written in the transaction that stores the sync page ([`mirror`], called by
//! [`Store::store_page`](super::Store::store_page)), so a document is in the Documents API
//! exactly when its record is stored and a sync killed mid-page leaves neither. Its text body
//! goes to the database blob store in that same transaction. A changed body makes a new
//! version (history is kept, as for uploads); an unchanged one only refreshes title, tags and
//! metadata. Documents whose records a full refresh found deleted are deleted with their
//! versions and bytes ([`unmirror_deleted`]), and so is the document of a record a page reports
//! deleted (contract 0.3.0, [`unmirror_one`]), in that page's transaction.
//!
//! Everything comes from a plugin, so everything is bounded like an upload's fields: title,
//! tags, metadata size, and a content type limited to text types (a plugin cannot make the host
//! serve, say, an HTML page it chose under a type the browser would render).

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

/// A page's new documents, written in bulk.
mod bulk;

use super::blobs::CHUNK_BYTES;
use super::documents::{insert_version, search_text, tags_json, write_tags};
use super::documents::{DocumentFields, NewVersion};
use super::page_contents::NewRecord;
use super::{Backend, Result, StoreError};
use crate::clock::Millis;
use crate::documents::{clean_filename, is_text, TEXT_EXCERPT_BYTES};

/// Longest title kept, in characters (as for uploads).
const MAX_TITLE: usize = 200;
/// Most tags kept.
const MAX_TAGS: usize = 32;
/// Longest tag kept, in characters.
const MAX_TAG: usize = 64;
/// Largest metadata object kept (`url`, `author`, the plugin's `attributes`), in bytes; past it
/// the attributes are left out.
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The blob store the mirrored bytes live in (see `documents::blobs::DatabaseBlobs`).
const BLOB_STORE: &str = "database";

/// A document record, bounded and ready to store.
struct Mirrored {
    external_id: String,
    title: String,
    tags: Vec<String>,
    metadata: String,
    content_type: String,
    body: String,
}

fn text(data: &Value, field: &str) -> String {
    data[field].as_str().unwrap_or_default().to_owned()
}

impl Mirrored {
    fn from_record(record: &NewRecord<'_>) -> Option<Self> {
        let data: Value = serde_json::from_str(&record.data).ok()?;
        let mut title: String = text(&data, "title")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TITLE)
            .collect();
        if title.trim().is_empty() {
            title = record.external_id.chars().take(MAX_TITLE).collect();
        }
        let mut tags: Vec<String> = Vec::new();
        for tag in data["tags"].as_array().into_iter().flatten() {
            let tag: String = tag
                .as_str()
                .unwrap_or_default()
                .trim()
                .chars()
                .take(MAX_TAG)
                .collect();
            if !tag.is_empty()
                && tags.len() < MAX_TAGS
                && !tags.iter().any(|t| t.eq_ignore_ascii_case(&tag))
            {
                tags.push(tag);
            }
        }
        let mut metadata = serde_json::json!({
            "url": data["url"], "author": data["author"],
            "created_at": data["created_at"], "updated_at": data["updated_at"],
            "attributes": data["attributes"],
        });
        if metadata.to_string().len() > MAX_METADATA_BYTES {
            metadata["attributes"] = Value::Null;
            metadata["truncated"] = Value::Bool(true);
        }
        let essence = text(&data, "content_type")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let content_type = if is_text(&essence) && essence != "text/html" && !essence.contains('+')
        {
            essence
        } else {
            "text/plain".to_owned()
        };
        Some(Self {
            external_id: record.external_id.to_string(),
            title,
            tags,
            metadata: metadata.to_string(),
            content_type,
            body: text(&data, "body"),
        })
    }

    fn fields(&self) -> DocumentFields<'_> {
        DocumentFields {
            title: &self.title,
            tags: &self.tags,
            metadata: &self.metadata,
        }
    }

    fn filename(&self) -> String {
        let ext = match self.content_type.as_str() {
            "text/markdown" => "md",
            "application/json" => "json",
            "application/xml" | "text/xml" => "xml",
            "text/csv" => "csv",
            _ => "txt",
        };
        let stem = clean_filename(&self.title);
        if stem.to_ascii_lowercase().ends_with(&format!(".{ext}")) {
            stem
        } else {
            format!("{stem}.{ext}")
        }
    }

    /// The lower-cased start of the body, for search (as for text uploads).
    fn content_text(&self) -> String {
        let mut end = self.body.len().min(TEXT_EXCERPT_BYTES);
        while !self.body.is_char_boundary(end) {
            end -= 1;
        }
        self.body[..end].to_lowercase().replace('\0', "")
    }
}

/// Writes the body as a database blob in `tx`; returns its key.
async fn write_blob(
    tx: &mut Transaction<'static, Any>,
    body: &[u8],
    now: Millis,
) -> Result<String> {
    let id: i64 =
        sqlx::query_scalar("INSERT INTO blobs (size, created_at) VALUES ($1, $2) RETURNING id")
            .bind(i64::try_from(body.len()).unwrap_or(i64::MAX))
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
    for (seq, chunk) in body.chunks(CHUNK_BYTES).enumerate() {
        sqlx::query("INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(chunk)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id.to_string())
}

/// A document record with what storing it needs: the hash and the search excerpt of its body.
struct Prepared {
    doc: Mirrored,
    sha256: String,
    content_text: String,
}

impl Prepared {
    fn new(doc: Mirrored) -> Self {
        let sha256 = Sha256::digest(doc.body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let content_text = doc.content_text();
        Self {
            doc,
            sha256,
            content_text,
        }
    }

    /// The version of this body, its bytes under `blob_key`.
    fn version<'a>(&'a self, filename: &'a str, blob_key: &'a str) -> NewVersion<'a> {
        NewVersion {
            filename,
            content_type: &self.doc.content_type,
            size: i64::try_from(self.doc.body.len()).unwrap_or(i64::MAX),
            sha256: &self.sha256,
            blob_store: BLOB_STORE,
            blob_key,
            content_text: Some(&self.content_text),
        }
    }
}

/// Mirrors the document records among `records` (one sync page of `connection_id`) into the
/// documents of `project_id`, in the page's transaction: the documents new to the connection
/// in bulk (a first sync of 100 000 files is all new ones), then the others one by one.
pub(super) async fn mirror(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    project_id: i64,
    connection_id: i64,
    records: &[&NewRecord<'_>],
    now: Millis,
) -> Result<()> {
    let docs: Vec<Prepared> = records
        .iter()
        .filter(|r| r.kind == "document")
        .filter_map(|r| Mirrored::from_record(r))
        .map(Prepared::new)
        .collect();
    let existing = bulk::insert_new(tx, backend, project_id, connection_id, &docs, now).await?;
    for i in existing {
        update_one(tx, connection_id, &docs[i], now).await?;
    }
    Ok(())
}

/// Stores `prepared` over the document `connection_id` already has for it (one the bulk
/// insert found existing): a new version if its body changed, else only its fields.
async fn update_one(
    tx: &mut Transaction<'static, Any>,
    connection_id: i64,
    prepared: &Prepared,
    now: Millis,
) -> Result<()> {
    let Prepared {
        doc,
        sha256,
        content_text,
    } = prepared;
    let fields = doc.fields();
    // One lookup by the unique key per document: a query for the whole page's ids would
    // read every document of the connection on PostgreSQL whenever the planner's estimate
    // of the growing table is off (a generic plan filters the id list row by row).
    let existing = sqlx::query(
        "SELECT d.id, v.sha256 FROM documents d JOIN document_versions v \
         ON v.document_id = d.id AND v.number = d.current_version \
         WHERE d.source_connection_id = $1 AND d.external_id = $2",
    )
    .bind(connection_id)
    .bind(&doc.external_id)
    .fetch_optional(&mut **tx)
    .await?;
    // The bulk insert skipped it as existing; gone now, it was deleted by another transaction
    // in between, and the page is stored again by the job's next attempt.
    let Some(row) = existing else {
        return Err(StoreError::Stale(
            "a synced document was deleted while its page was stored",
        ));
    };
    // A changed body is a new version; otherwise only the fields change.
    let changed = &row.try_get::<String, _>("sha256")? != sha256;
    let id: i64 = row.try_get("id")?;
    let number: i64 = sqlx::query_scalar(
        "UPDATE documents SET current_version = current_version + $7, title = $2, \
         tags = $3, metadata = $4, search_text = $5, updated_at = $6 \
         WHERE id = $1 RETURNING current_version",
    )
    .bind(id)
    .bind(fields.title)
    .bind(tags_json(fields.tags))
    .bind(fields.metadata)
    .bind(search_text(&fields, Some(content_text)))
    .bind(now)
    .bind(i64::from(changed))
    .fetch_one(&mut **tx)
    .await?;
    write_tags(tx, id, fields.tags).await?;
    if !changed {
        return Ok(());
    }
    let key = write_blob(tx, doc.body.as_bytes(), now).await?;
    let filename = doc.filename();
    insert_version(
        tx,
        id,
        number,
        &prepared.version(&filename, &key),
        None,
        now,
    )
    .await
}

/// Deletes the mirrored documents of `connection_id`'s `stream` whose records are marked
/// deleted, in `tx`; their versions go by cascade and their database blobs with the versions
/// (the `document_versions_drop_blob` trigger). Returns how many.
pub(super) async fn unmirror_deleted(
    tx: &mut Transaction<'static, Any>,
    connection_id: i64,
    stream: &str,
) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM documents WHERE source_connection_id = $1 AND external_id IN \
         (SELECT external_id FROM records WHERE connection_id = $1 AND stream = $2 \
         AND kind = 'document' AND deleted = 1)",
    )
    .bind(connection_id)
    .bind(stream)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Deletes the document mirrored from record `external_id` of `connection_id` (one a page
/// reported deleted), with its versions and bytes as [`unmirror_deleted`] does, in the page's
/// transaction. Returns how many documents went (0 or 1).
pub(super) async fn unmirror_one(
    tx: &mut Transaction<'static, Any>,
    connection_id: i64,
    external_id: &str,
) -> Result<u64> {
    let deleted =
        sqlx::query("DELETE FROM documents WHERE source_connection_id = $1 AND external_id = $2")
            .bind(connection_id)
            .bind(external_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: Value) -> NewRecord<'static> {
        NewRecord {
            kind: "document",
            external_id: "DOC-1".into(),
            title: "".into(),
            status: None,
            source_updated_at: None,
            data: data.to_string().into(),
        }
    }

    #[test]
    fn a_plugin_cannot_choose_a_type_the_browser_renders() {
        for (given, kept) in [
            ("text/markdown; charset=utf-8", "text/markdown"),
            ("TEXT/CSV", "text/csv"),
            ("application/json", "application/json"),
            ("text/html", "text/plain"),
            ("image/svg+xml", "text/plain"),
            ("application/xhtml+xml", "text/plain"),
            ("application/octet-stream", "text/plain"),
            ("", "text/plain"),
        ] {
            let doc = Mirrored::from_record(&record(serde_json::json!({"content_type": given})))
                .expect("document");
            assert_eq!(doc.content_type, kept, "{given}");
        }
    }

    #[test]
    fn titles_tags_and_metadata_are_bounded_like_uploads() {
        let mut tags: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        tags.extend(["T1".to_owned(), " ".to_owned(), "y".repeat(100)]);
        let doc = Mirrored::from_record(&record(serde_json::json!({
            "title": format!("a\u{7}{}", "x".repeat(500)),
            "tags": tags,
            "attributes": {"big": "z".repeat(MAX_METADATA_BYTES)},
            "url": "https://wiki.example.com/1",
        })))
        .expect("document");
        assert_eq!(doc.title.chars().count(), MAX_TITLE);
        assert!(!doc.title.contains('\u{7}'));
        assert_eq!(doc.tags.len(), MAX_TAGS);
        assert!(doc.tags.iter().all(|t| t.chars().count() <= MAX_TAG));
        let metadata: Value = serde_json::from_str(&doc.metadata).expect("json");
        assert_eq!(metadata["attributes"], Value::Null);
        assert_eq!(metadata["truncated"], true);
        assert_eq!(metadata["url"], "https://wiki.example.com/1");
        // No title: the external id names it; the file name gets the type's extension once.
        let untitled =
            Mirrored::from_record(&record(serde_json::json!({"title": " "}))).expect("doc");
        assert_eq!(untitled.title, "DOC-1");
        assert_eq!(untitled.filename(), "DOC-1.txt");
        let named = Mirrored::from_record(&record(
            serde_json::json!({"title": "notes.md", "content_type": "text/markdown"}),
        ))
        .expect("doc");
        assert_eq!(named.filename(), "notes.md");
    }

    #[test]
    fn the_search_excerpt_ends_on_a_character_boundary() {
        let body = "é".repeat(TEXT_EXCERPT_BYTES);
        let doc = Mirrored::from_record(&record(serde_json::json!({"body": body}))).expect("doc");
        let excerpt = doc.content_text();
        assert!(excerpt.len() <= TEXT_EXCERPT_BYTES && excerpt.len() >= TEXT_EXCERPT_BYTES - 1);
    }
}
