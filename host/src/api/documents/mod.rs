//! Documents over REST: multipart upload, versions, downloads, metadata and search, under
//! `/projects/{id}/documents`.
//!
//! Every handler checks the permission and the caller's access to the project first, then looks
//! the document up *within that project*: a document id of another project is 404, like one
//! that does not exist. Uploads are read only after those checks, as a stream (see
//! [`crate::documents::upload`]). Documents synced from a connection are read-only here (409).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access;
use super::audit::record;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{present, ApiJson, ApiPath, ApiQuery, Checks, Validate};
use super::pagination::{window, Paginated};
use super::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::documents::blobs::BlobError;
use crate::documents::upload::{self, human_bytes, SpooledFile, Upload, UploadError, UploadRules};
use crate::documents::{clean_filename, content_disposition};
use crate::ids::{DocumentId, ProjectId, UserId};
use crate::rbac::Permission;
use crate::store::documents::{Document, DocumentFields, DocumentFilter, NewVersion, Version};
use crate::store::StoreError;

mod downloads;
mod uploads;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents, uploads::create_document))
        .routes(routes!(get_document, update_document, delete_document))
        .routes(routes!(downloads::download_current))
        .routes(routes!(downloads::list_versions, uploads::add_version))
        .routes(routes!(downloads::get_version))
        .routes(routes!(downloads::download_version))
}

/// Longest title, in characters.
const MAX_TITLE: usize = 200;
/// Most tags on a document.
const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
const MAX_TAG: usize = 64;
/// Largest metadata object, as JSON.
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// One version of a document.
#[derive(Debug, Serialize, ToSchema)]
struct DocumentVersionView {
    /// 1, 2, … within the document.
    number: i64,
    /// File name as uploaded (path and control characters removed).
    filename: String,
    /// Media type.
    content_type: String,
    /// Size in bytes.
    size: i64,
    /// SHA-256 of the content (lower-case hex); also the download's `ETag`.
    sha256: String,
    /// Uploader.
    created_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<Version> for DocumentVersionView {
    fn from(v: Version) -> Self {
        Self {
            number: v.number,
            filename: v.filename,
            content_type: v.content_type,
            size: v.size,
            sha256: v.sha256,
            created_by: v.created_by,
            created_at: v.created_at.to_datetime(),
        }
    }
}

/// Where a synced document comes from.
#[derive(Debug, Serialize, ToSchema)]
struct SourceView {
    /// The connection that syncs it (`null` once that connection is deleted).
    connection_id: Option<i64>,
    /// Its id in the source system.
    external_id: Option<String>,
}

/// A document and its current version.
#[derive(Debug, Serialize, ToSchema)]
struct DocumentView {
    id: i64,
    project_id: i64,
    title: String,
    tags: Vec<String>,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    metadata: Value,
    /// The latest version, served by `…/content`.
    current_version: DocumentVersionView,
    /// Set for documents synced from a connection; those are read-only here.
    source: Option<SourceView>,
    /// Whether changes through this API are refused (synced documents).
    read_only: bool,
    created_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    updated_by: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        let synced = d.source_connection_id.is_some() || d.external_id.is_some();
        Self {
            id: d.id,
            project_id: d.project_id,
            title: d.title,
            tags: d.tags,
            metadata: serde_json::from_str(&d.metadata)
                .unwrap_or_else(|_| Value::Object(Map::new())),
            current_version: d.version.into(),
            source: synced.then_some(SourceView {
                connection_id: d.source_connection_id,
                external_id: d.external_id,
            }),
            read_only: d.source_connection_id.is_some(),
            created_by: d.created_by,
            created_at: d.created_at.to_datetime(),
            updated_by: d.updated_by,
            updated_at: d.updated_at.to_datetime(),
        }
    }
}

/// Changes to a document without a new version; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateDocument {
    /// New title (1–200 characters, one line).
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 200, format = "line", nullable = false)]
    title: Option<String>,
    /// New tags, replacing the old ones (up to 32, 1–64 characters each, unique ignoring case).
    #[serde(default, deserialize_with = "present")]
    #[schema(max_items = 32, nullable = false)]
    tags: Option<Vec<String>>,
    /// New metadata, replacing the old object (at most 16 KiB as JSON).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object, nullable = false)]
    metadata: Option<Map<String, Value>>,
}

fn check_title(c: &mut Checks, field: &str, title: &str) {
    c.line(field, title, 1, MAX_TITLE);
}

fn check_tags(c: &mut Checks, tags: &[String]) {
    if tags.len() > MAX_TAGS {
        c.push("tags", format!("at most {MAX_TAGS} tags"));
        return;
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        c.line(&field, tag, 1, MAX_TAG);
        let folded = tag.trim().to_lowercase();
        if seen.contains(&folded) {
            c.push(
                &field,
                "repeats an earlier tag (tags are compared ignoring case)",
            );
        }
        seen.push(folded);
    }
}

fn check_metadata(c: &mut Checks, metadata: &Map<String, Value>) {
    let size = Value::Object(metadata.clone()).to_string().len();
    c.check(
        size <= MAX_METADATA_BYTES,
        "metadata",
        "must be at most 16 KiB as JSON",
    );
}

fn trimmed(tags: Vec<String>) -> Vec<String> {
    tags.into_iter().map(|t| t.trim().to_owned()).collect()
}

impl Validate for UpdateDocument {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(title) = &self.title {
            check_title(&mut c, "title", title);
        }
        if let Some(tags) = &self.tags {
            check_tags(&mut c, tags);
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(&mut c, metadata);
        }
        c.check(
            self.title.is_some() || self.tags.is_some() || self.metadata.is_some(),
            "",
            "give at least one of title, tags, metadata",
        );
        c.finish()
    }
}

#[derive(Debug, Deserialize)]
struct ProjectPath {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct DocumentPath {
    id: i64,
    doc_id: i64,
}

#[derive(Debug, Deserialize)]
struct VersionPath {
    id: i64,
    doc_id: i64,
    number: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListDocuments {
    /// Case-insensitive substring of the title.
    #[param(max_length = 200)]
    title: Option<String>,
    /// Documents carrying this tag (compared ignoring case).
    #[param(max_length = 64)]
    tag: Option<String>,
    /// Case-insensitive text searched in the title, tags, metadata keys and values, and the
    /// start (64 KiB) of text content.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListVersions {
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

fn not_found_as(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

/// A document of a project the caller holds `permission` on.
async fn load(
    state: &AppState,
    who: &Principal,
    path: &DocumentPath,
    permission: Permission,
) -> ApiResult<Document> {
    access::project(&state.store, who, path.id, permission).await?;
    state
        .store
        .get_document(path.id, path.doc_id)
        .await
        .map_err(not_found_as("document"))
}

/// Synced documents change only at their source.
fn writable(document: &Document) -> ApiResult<()> {
    match document.source_connection_id {
        Some(connection) => Err(ApiError::Conflict(format!(
            "document {} is synced from connection {connection} (external id {}) and is \
             read-only here; change it in the source system and the next sync brings it in",
            document.id,
            document.external_id.as_deref().unwrap_or("unknown")
        ))),
        None => Ok(()),
    }
}

/// Lists a project's documents, optionally filtered by title, tag and text. Needs
/// `documents:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/documents", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ListDocuments),
    responses((status = 200, body = Paginated<DocumentView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_documents(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<ProjectPath>,
    query: ApiQuery<ListDocuments>,
) -> ApiResult<Json<Paginated<DocumentView>>> {
    access::project(&state.store, &who, path.id, Permission::DocumentsRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let mut c = Checks::default();
    for (field, value, max) in [
        ("title", &q.title, MAX_TITLE),
        ("tag", &q.tag, MAX_TAG),
        ("q", &q.q, MAX_TITLE),
    ] {
        if let Some(value) = value {
            c.check(
                value.chars().count() <= max,
                field,
                &format!("must be at most {max} characters"),
            );
        }
    }
    c.finish().map_err(ApiError::Validation)?;
    let filter = DocumentFilter {
        title: q.title.as_deref(),
        tag: q.tag.as_deref().map(str::trim),
        text: q.q.as_deref(),
    };
    let page = state
        .store
        .list_documents(path.id, &filter, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, DocumentView::from)))
}

/// Reads a document's title, tags, metadata and current version. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    responses((status = 200, body = DocumentView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_document(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<DocumentPath>,
) -> ApiResult<Json<DocumentView>> {
    Ok(Json(
        load(&state, &who, &path, Permission::DocumentsRead)
            .await?
            .into(),
    ))
}

/// Changes a document's title, tags or metadata without a new version (tags and metadata are
/// replaced whole). Synced documents are read-only (409). Needs `documents:manage`.
#[utoipa::path(patch, path = "/projects/{id}/documents/{doc_id}", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    request_body = UpdateDocument,
    responses((status = 200, body = DocumentView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_document(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<DocumentPath>,
    body: ApiJson<UpdateDocument>,
) -> ApiResult<Json<DocumentView>> {
    let current = load(&state, &who, &path, Permission::DocumentsManage).await?;
    let body = body.parse().await?;
    writable(&current)?;
    let title = body
        .title
        .as_deref()
        .map_or(current.title.clone(), |t| t.trim().to_owned());
    let tags = body.tags.map_or(current.tags.clone(), trimmed);
    let metadata = body
        .metadata
        .map_or(current.metadata.clone(), |m| Value::Object(m).to_string());
    let fields = DocumentFields {
        title: &title,
        tags: &tags,
        metadata: &metadata,
    };
    let document = state
        .store
        .update_document(
            ProjectId(path.id),
            DocumentId(current.id),
            &fields,
            UserId(who.user.id),
            state.now(),
        )
        .await
        .map_err(not_found_as("document"))?;
    let changed: Vec<&str> = [
        ("title", current.title != document.title),
        ("tags", current.tags != document.tags),
        ("metadata", current.metadata != document.metadata),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    record(
        &state,
        &who,
        &client,
        "document",
        "document.updated",
        document.id,
        serde_json::json!({ "project_id": path.id, "changed": changed }),
    )
    .await?;
    Ok(Json(document.into()))
}

/// Deletes a document with every version and its bytes. Synced documents are read-only (409).
/// Needs `documents:manage`.
#[utoipa::path(delete, path = "/projects/{id}/documents/{doc_id}", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_document(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<DocumentPath>,
) -> ApiResult<StatusCode> {
    let current = load(&state, &who, &path, Permission::DocumentsManage).await?;
    writable(&current)?;
    let blobs = state
        .store
        .delete_document(path.id, current.id)
        .await
        .map_err(not_found_as("document"))?;
    // Bytes in the database went with the rows; other stores are told now. A failure leaves an
    // unreferenced blob behind, never a reference to missing bytes.
    for (store, key) in blobs.iter().filter(|(store, _)| store != "database") {
        let deleted = match state.blobs.store(store) {
            Ok(s) => s.delete(key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::warn!(error = %e, store, key, "could not delete a deleted document's bytes");
        }
    }
    let detail = serde_json::json!({
        "project_id": path.id, "title": current.title, "versions": current.current_version,
    });
    record(
        &state,
        &who,
        &client,
        "document",
        "document.deleted",
        current.id,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A document's bytes, served with the version's own media type.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Describes download bodies for OpenAPI; never built.
struct FileContent(Vec<u8>);

fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::Store(e) => write_error(e),
        BlobError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => ApiError::Unavailable(
            "the disk of the blob store is full: the document was not stored; \
             try again when space has been freed"
                .into(),
        ),
        other => ApiError::internal("blob store", other),
    }
}

/// A failed write of a document: a full database is said as such (503, the host recovers by
/// itself once space is freed), other failures as the store maps them.
fn write_error(e: StoreError) -> ApiError {
    if e.is_full() {
        tracing::warn!(error = %e, "a document could not be stored");
        ApiError::Unavailable(
            "the database is full: the document was not stored; \
             try again when space has been freed"
                .into(),
        )
    } else {
        e.into()
    }
}
