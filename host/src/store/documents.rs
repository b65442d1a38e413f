//! Documents and their versions. Every query names the project, so a document is only ever
//! reached through the project it belongs to.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{like_pattern, Page, Result, Store, StoreError};
use crate::clock::Millis;
use crate::ids::{DocumentId, ProjectId, UserId};

/// A document with the facts of its current version.
#[derive(Debug, Clone)]
pub struct Document {
    /// Primary key.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Title.
    pub title: String,
    /// Tags as given.
    pub tags: Vec<String>,
    /// Metadata (JSON object text).
    pub metadata: String,
    /// Number of the current version (the latest).
    pub current_version: i64,
    /// Connection the document is synced from; such a document is read-only here.
    pub source_connection_id: Option<i64>,
    /// Its id in the source system.
    pub external_id: Option<String>,
    /// Creator.
    pub created_by: Option<i64>,
    /// Creation time.
    pub created_at: Millis,
    /// Who changed it last (metadata or a new version).
    pub updated_by: Option<i64>,
    /// Last change.
    pub updated_at: Millis,
    /// The current version.
    pub version: Version,
}

/// One version of a document.
#[derive(Debug, Clone)]
pub struct Version {
    /// 1, 2, … within the document.
    pub number: i64,
    /// File name as uploaded (cleaned).
    pub filename: String,
    /// Media type (`type/subtype`, lower case).
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Blob store holding the bytes (`database`, `filesystem`).
    pub blob_store: String,
    /// Key of the bytes in that store.
    pub blob_key: String,
    /// Uploader.
    pub created_by: Option<i64>,
    /// Upload time.
    pub created_at: Millis,
}

/// The title, tags and metadata of a document, with its search text.
#[derive(Debug, Clone)]
pub struct DocumentFields<'a> {
    /// Title.
    pub title: &'a str,
    /// Tags as given (unique ignoring case).
    pub tags: &'a [String],
    /// Metadata (JSON object text).
    pub metadata: &'a str,
}

/// A new version's facts, its bytes already in a blob store.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// File name.
    pub filename: &'a str,
    /// Media type.
    pub content_type: &'a str,
    /// Bytes.
    pub size: i64,
    /// SHA-256, lower-case hex.
    pub sha256: &'a str,
    /// Blob store name.
    pub blob_store: &'a str,
    /// Key in the blob store.
    pub blob_key: &'a str,
    /// Lower-cased start of the text, for text types.
    pub content_text: Option<&'a str>,
}

/// Filters of a document list; all given ones must match.
#[derive(Debug, Default)]
pub struct DocumentFilter<'a> {
    /// Case-insensitive substring of the title.
    pub title: Option<&'a str>,
    /// A tag (compared ignoring case).
    pub tag: Option<&'a str>,
    /// Case-insensitive substring of title, tags, metadata or text content.
    pub text: Option<&'a str>,
}

const VERSION_COLUMNS: &str = "v.number, v.filename, v.content_type, v.size, v.sha256, \
                               v.blob_store, v.blob_key, v.created_by, v.created_at";

fn document_sql(filter: &str) -> String {
    format!(
        "SELECT d.id, d.project_id, d.title, d.tags, d.metadata, d.current_version, \
         d.source_connection_id, d.external_id, d.created_by, d.created_at, d.updated_by, \
         d.updated_at, {VERSION_COLUMNS} FROM documents d \
         JOIN document_versions v ON v.document_id = d.id AND v.number = d.current_version \
         WHERE {filter}"
    )
}

fn version_from_row(row: &AnyRow) -> Result<Version> {
    Ok(Version {
        number: row.try_get("number")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        blob_store: row.try_get("blob_store")?,
        blob_key: row.try_get("blob_key")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

fn document_from_row(row: &AnyRow) -> Result<Document> {
    let tags: String = row.try_get("tags")?;
    Ok(Document {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        title: row.try_get("title")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        metadata: row.try_get("metadata")?,
        current_version: row.try_get("current_version")?,
        source_connection_id: row.try_get("source_connection_id")?,
        external_id: row.try_get("external_id")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
        version: version_from_row(row)?,
    })
}

/// The text `?q=` searches: title, tags, metadata keys and scalar values, and the content text.
pub(super) fn search_text(fields: &DocumentFields<'_>, content_text: Option<&str>) -> String {
    fn walk(value: &serde_json::Value, out: &mut String) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    out.push_str(k);
                    out.push(' ');
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::String(s) => {
                out.push_str(s);
                out.push(' ');
            }
            Value::Null => {}
            other => {
                out.push_str(&other.to_string());
                out.push(' ');
            }
        }
    }
    let mut out = String::new();
    out.push_str(fields.title);
    out.push('\n');
    out.push_str(&fields.tags.join(" "));
    out.push('\n');
    if let Ok(metadata) = serde_json::from_str::<serde_json::Value>(fields.metadata) {
        walk(&metadata, &mut out);
    }
    out.push('\n');
    out.push_str(content_text.unwrap_or_default());
    out.to_lowercase().replace('\0', "")
}

pub(super) fn tags_json(tags: &[String]) -> String {
    serde_json::Value::from(tags.to_vec()).to_string()
}

/// Replaces the lower-cased tag index of a document.
pub(super) async fn write_tags(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    tags: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    insert_tags(tx, id, tags).await
}

/// Adds `tags` (lower-cased) to document `id`, which has none of them yet, in one statement:
/// a synced page writes a document per record, and a statement per tag was a round trip each.
pub(super) async fn insert_tags(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    tags: &[String],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..tags.len())
        .map(|n| format!("($1, ${})", n + 2))
        .collect();
    let sql = format!(
        "INSERT INTO document_tags (document_id, tag) VALUES {} ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(id);
    for tag in tags {
        query = query.bind(tag.to_lowercase());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Inserts version `number` of a document (`by`: `None` for a sync).
pub(super) async fn insert_version(
    tx: &mut Transaction<'static, Any>,
    document_id: i64,
    number: i64,
    v: &NewVersion<'_>,
    by: Option<i64>,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO document_versions (document_id, number, filename, content_type, size, \
         sha256, blob_store, blob_key, content_text, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(document_id)
    .bind(number)
    .bind(v.filename)
    .bind(v.content_type)
    .bind(v.size)
    .bind(v.sha256)
    .bind(v.blob_store)
    .bind(v.blob_key)
    .bind(v.content_text)
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Creates a document with its first version.
    pub async fn create_document(
        &self,
        project_id: i64,
        fields: &DocumentFields<'_>,
        version: &NewVersion<'_>,
        by: i64,
        now: Millis,
    ) -> Result<Document> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO documents (project_id, title, tags, metadata, current_version, \
             search_text, created_by, created_at, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $6, $7) RETURNING id",
        )
        .bind(project_id)
        .bind(fields.title)
        .bind(tags_json(fields.tags))
        .bind(fields.metadata)
        .bind(search_text(fields, version.content_text))
        .bind(by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        write_tags(&mut tx, id, fields.tags).await?;
        insert_version(&mut tx, id, 1, version, Some(by), now).await?;
        tx.commit().await?;
        self.get_document(project_id, id).await
    }

    /// Adds a version and makes it current, changing the fields too when given. The number is
    /// taken under the document's row lock, so concurrent uploads get distinct numbers.
    pub async fn add_version(
        &self,
        project_id: ProjectId,
        id: DocumentId,
        fields: &DocumentFields<'_>,
        version: &NewVersion<'_>,
        by: UserId,
        now: Millis,
    ) -> Result<Document> {
        let (project_id, id, by) = (project_id.get(), id.get(), by.get());
        let mut tx = self.begin_write().await?;
        let number: i64 = sqlx::query_scalar(
            "UPDATE documents SET current_version = current_version + 1, title = $3, tags = $4, \
             metadata = $5, search_text = $6, updated_by = $7, updated_at = $8 \
             WHERE id = $1 AND project_id = $2 RETURNING current_version",
        )
        .bind(id)
        .bind(project_id)
        .bind(fields.title)
        .bind(tags_json(fields.tags))
        .bind(fields.metadata)
        .bind(search_text(fields, version.content_text))
        .bind(by)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        write_tags(&mut tx, id, fields.tags).await?;
        insert_version(&mut tx, id, number, version, Some(by), now).await?;
        tx.commit().await?;
        self.get_document(project_id, id).await
    }

    /// Rewrites title, tags and metadata without a new version.
    pub async fn update_document(
        &self,
        project_id: ProjectId,
        id: DocumentId,
        fields: &DocumentFields<'_>,
        by: UserId,
        now: Millis,
    ) -> Result<Document> {
        let (project_id, id, by) = (project_id.get(), id.get(), by.get());
        let mut tx = self.begin_write().await?;
        let content_text: Option<String> = sqlx::query_scalar(
            "SELECT v.content_text FROM documents d JOIN document_versions v \
             ON v.document_id = d.id AND v.number = d.current_version \
             WHERE d.id = $1 AND d.project_id = $2",
        )
        .bind(id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "UPDATE documents SET title = $3, tags = $4, metadata = $5, search_text = $6, \
             updated_by = $7, updated_at = $8 WHERE id = $1 AND project_id = $2",
        )
        .bind(id)
        .bind(project_id)
        .bind(fields.title)
        .bind(tags_json(fields.tags))
        .bind(fields.metadata)
        .bind(search_text(fields, content_text.as_deref()))
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        write_tags(&mut tx, id, fields.tags).await?;
        tx.commit().await?;
        self.get_document(project_id, id).await
    }

    /// One document of a project.
    pub async fn get_document(&self, project_id: i64, id: i64) -> Result<Document> {
        let row = sqlx::query(&document_sql("d.id = $1 AND d.project_id = $2"))
            .bind(id)
            .bind(project_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        document_from_row(&row)
    }

    /// A project's documents in id order, filtered.
    pub async fn list_documents(
        &self,
        project_id: i64,
        filter: &DocumentFilter<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Page<Document>> {
        let sql = document_sql(
            "d.project_id = $1 AND d.id > $2 \
             AND ($3 IS NULL OR LOWER(d.title) LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM document_tags t \
                                        WHERE t.document_id = d.id AND t.tag = $4)) \
             AND ($5 IS NULL OR d.search_text LIKE $5 ESCAPE '\\') \
             ORDER BY d.id LIMIT $6",
        );
        let rows = sqlx::query(&sql)
            .bind(project_id)
            .bind(after)
            .bind(filter.title.map(like_pattern))
            .bind(filter.tag.map(str::to_lowercase))
            .bind(filter.text.map(like_pattern))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let documents = rows
            .iter()
            .map(document_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(documents, limit, |d| d.id))
    }

    /// Versions of a document of a project, in number order.
    pub async fn list_versions(
        &self,
        project_id: ProjectId,
        id: DocumentId,
        after: i64,
        limit: i64,
    ) -> Result<Page<Version>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions v \
             JOIN documents d ON d.id = v.document_id \
             WHERE d.id = $1 AND d.project_id = $2 AND v.number > $3 \
             ORDER BY v.number LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(id.get())
            .bind(project_id.get())
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let versions = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(versions, limit, |v| v.number))
    }

    /// One version of a document of a project.
    pub async fn get_version(
        &self,
        project_id: ProjectId,
        id: DocumentId,
        number: i64,
    ) -> Result<Version> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions v \
             JOIN documents d ON d.id = v.document_id \
             WHERE d.id = $1 AND d.project_id = $2 AND v.number = $3"
        );
        let row = sqlx::query(&sql)
            .bind(id.get())
            .bind(project_id.get())
            .bind(number)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        version_from_row(&row)
    }

    /// Deletes a document with its versions; bytes kept in the database go with them (a
    /// trigger). Returns the versions' blobs, for the caller to delete from other stores.
    pub async fn delete_document(&self, project_id: i64, id: i64) -> Result<Vec<(String, String)>> {
        let mut tx = self.begin_write().await?;
        let blobs = sqlx::query(
            "SELECT v.blob_store, v.blob_key FROM document_versions v \
             JOIN documents d ON d.id = v.document_id WHERE d.id = $1 AND d.project_id = $2",
        )
        .bind(id)
        .bind(project_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("blob_store")?, row.try_get("blob_key")?)))
        .collect::<Result<Vec<_>>>()?;
        let done = sqlx::query("DELETE FROM documents WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(blobs)
    }

    /// The blobs of a project's documents kept outside the database (those in the database go
    /// with their rows), for deleting them with the project.
    pub async fn project_external_blobs(&self, project_id: i64) -> Result<Vec<(String, String)>> {
        sqlx::query(
            "SELECT v.blob_store, v.blob_key FROM document_versions v \
             JOIN documents d ON d.id = v.document_id \
             WHERE d.project_id = $1 AND v.blob_store <> 'database'",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("blob_store")?, row.try_get("blob_key")?)))
        .collect()
    }
}
