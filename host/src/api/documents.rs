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
use crate::clock::to_datetime;
use crate::documents::blobs::BlobError;
use crate::documents::upload::{self, human_bytes, SpooledFile, Upload, UploadError, UploadRules};
use crate::documents::{clean_filename, content_disposition};
use crate::rbac::Permission;
use crate::store::documents::{Document, DocumentFields, DocumentFilter, NewVersion, Version};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents, create_document))
        .routes(routes!(get_document, update_document, delete_document))
        .routes(routes!(download_current))
        .routes(routes!(list_versions, add_version))
        .routes(routes!(get_version))
        .routes(routes!(download_version))
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
            created_at: to_datetime(v.created_at),
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
            created_at: to_datetime(d.created_at),
            updated_by: d.updated_by,
            updated_at: to_datetime(d.updated_at),
        }
    }
}

/// A document upload (`multipart/form-data`). Only `file` is required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)] // For the document: any other part is refused (422).
#[allow(dead_code)] // Describes the form for OpenAPI; the parts are read by `documents::upload`.
struct UploadForm {
    /// The file, with its media type in the part's `Content-Type` and its name in `filename`.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    /// 1–200 characters, one line; defaults to the file name (on a new version: unchanged).
    #[schema(min_length = 1, max_length = 200, format = "line")]
    title: Option<String>,
    /// JSON array of up to 32 tags (1–64 characters each), e.g. `["spec", "draft"]`.
    #[schema(content_media_type = "application/json")]
    tags: Option<String>,
    /// JSON object of at most 16 KiB, e.g. `{"owner": "qa"}`.
    #[schema(content_media_type = "application/json")]
    metadata: Option<String>,
}

/// A document's bytes, served with the version's own media type.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Describes download bodies for OpenAPI; never built.
struct FileContent(Vec<u8>);

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

/// The text parts of an upload, parsed and checked; `None` where a part is absent.
#[derive(Debug, Default)]
struct PartFields {
    title: Option<String>,
    tags: Option<Vec<String>>,
    metadata: Option<Map<String, Value>>,
}

fn parse_parts(upload: &Upload, c: &mut Checks) -> PartFields {
    let mut fields = PartFields::default();
    if let Some(title) = &upload.title {
        check_title(c, "title", title);
        fields.title = Some(title.trim().to_owned());
    }
    if let Some(raw) = &upload.tags {
        match serde_json::from_str::<Vec<String>>(raw) {
            Ok(tags) => {
                check_tags(c, &tags);
                fields.tags = Some(trimmed(tags));
            }
            Err(_) => {
                c.push(
                    "tags",
                    "must be a JSON array of strings, like [\"spec\", \"draft\"]",
                );
            }
        }
    }
    if let Some(raw) = &upload.metadata {
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(metadata)) => {
                check_metadata(c, &metadata);
                fields.metadata = Some(metadata);
            }
            _ => {
                c.push(
                    "metadata",
                    "must be a JSON object, like {\"owner\": \"qa\"}",
                );
            }
        }
    }
    fields
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

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::NotMultipart(m) | UploadError::ContentType(m) => {
            ApiError::UnsupportedMediaType(m)
        }
        UploadError::Malformed(m) => ApiError::BadRequest(m),
        UploadError::TooLarge(m) => ApiError::PayloadTooLarge(m),
        UploadError::Part { field, message } => ApiError::field(&field, message),
        UploadError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => ApiError::Unavailable(
            "the disk is full: the upload could not be spooled; \
                 try again when space has been freed"
                .into(),
        ),
        UploadError::Io(e) => ApiError::internal("spooling an upload", e),
    }
}

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

/// Reads the multipart body under the configured limits. A declared `Content-Length` past the
/// limit is refused before a byte is read.
async fn read_upload(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Upload> {
    let config = &state.config.documents;
    let spool_dir = state.config.spool_dir();
    let rules = UploadRules {
        max_file_bytes: config.max_upload_bytes,
        allowed_types: &config.allowed_content_types,
        spool_dir: &spool_dir,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let boundary = upload::boundary(content_type).map_err(upload_error)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > rules.max_body_bytes()) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the upload is larger than the limit of {} for the file (documents.max_upload_bytes)",
            human_bytes(rules.max_file_bytes)
        )));
    }
    upload::read(body, boundary, &rules)
        .await
        .map_err(upload_error)
}

/// Puts the spooled file into the configured blob store.
async fn store_bytes(state: &AppState, file: &mut SpooledFile) -> ApiResult<String> {
    state
        .blobs
        .writer()
        .put(&mut file.file, state.now())
        .await
        .map_err(blob_error)
}

/// Removes bytes whose version was never recorded.
async fn discard_bytes(state: &AppState, key: &str) {
    if let Err(e) = state.blobs.writer().delete(key).await {
        tracing::warn!(error = %e, key, "could not delete the blob of a failed upload");
    }
}

fn new_version<'a>(file: &'a SpooledFile, store: &'a str, key: &'a str) -> NewVersion<'a> {
    NewVersion {
        filename: &file.filename,
        content_type: &file.content_type,
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
        sha256: &file.sha256,
        blob_store: store,
        blob_key: key,
        content_text: file.text.as_deref(),
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

/// Uploads a new document (`multipart/form-data`: `file`, optional `title`, `tags`,
/// `metadata`). The file's media type must be on the allow-list (415) and its size within
/// `documents.max_upload_bytes` (413, refused while streaming, never buffered). Needs
/// `documents:manage` and membership.
#[utoipa::path(post, path = "/projects/{id}/documents", tag = "documents",
    params(("id" = i64, Path, description = "Project id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = DocumentView), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_document(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProjectPath>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    access::project(&state.store, &who, path.id, Permission::DocumentsManage).await?;
    let mut upload = read_upload(&state, &headers, body).await?;
    let mut c = Checks::default();
    let parts = parse_parts(&upload, &mut c);
    c.check(
        upload.file.is_some(),
        "file",
        "is required: a part named `file` holding the document",
    );
    c.finish().map_err(ApiError::Validation)?;
    let Some(mut file) = upload.file.take() else {
        return Err(ApiError::field("file", "is required"));
    };
    let title = parts.title.unwrap_or_else(|| {
        clean_filename(&file.filename)
            .chars()
            .take(MAX_TITLE)
            .collect()
    });
    let tags = parts.tags.unwrap_or_default();
    let metadata = Value::Object(parts.metadata.unwrap_or_default()).to_string();
    let key = store_bytes(&state, &mut file).await?;
    let store = state.blobs.writer().name();
    let fields = DocumentFields {
        title: &title,
        tags: &tags,
        metadata: &metadata,
    };
    let created = state
        .store
        .create_document(
            path.id,
            &fields,
            &new_version(&file, store, &key),
            who.user.id,
            state.now(),
        )
        .await;
    let document = match created {
        Ok(d) => d,
        Err(e) => {
            discard_bytes(&state, &key).await;
            return Err(write_error(e));
        }
    };
    let detail = serde_json::json!({
        "project_id": path.id, "title": document.title, "version": 1,
        "filename": file.filename, "content_type": file.content_type,
        "size": file.size, "sha256": file.sha256,
    });
    record(
        &state,
        &who,
        &client,
        "document",
        "document.created",
        document.id,
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(document.into())))
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
        .update_document(path.id, current.id, &fields, who.user.id, state.now())
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

/// Whether `If-None-Match` already names this entity tag.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// The bytes of a version, streamed from its blob store, with its media type, a safe
/// attachment file name and its hash as `ETag`.
async fn serve(state: &AppState, version: Version, headers: &HeaderMap) -> ApiResult<Response> {
    let etag = format!("\"{}\"", version.sha256);
    let mut response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let store = state.blobs.store(&version.blob_store).map_err(blob_error)?;
        let chunks = store.get(&version.blob_key).await.map_err(blob_error)?;
        let mut response = Body::from_stream(chunks).into_response();
        let h = response.headers_mut();
        let content_type = HeaderValue::from_str(&version.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(version.size));
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&content_disposition(&version.filename))
                .unwrap_or(HeaderValue::from_static("attachment")),
        );
        // Even an allowed active type (an SVG, say) must not run as a page of this origin.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
        response
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    // Clients may keep a copy but must revalidate it (cheap: a 304 on the same hash).
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// Downloads the current version. `ETag` is the content's SHA-256; `If-None-Match` with it
/// answers 304. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}/content", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    responses((status = 200, description = "The bytes, with the version's media type, `Content-Disposition: attachment` and `ETag`",
               content_type = "*/*", body = FileContent,
               headers(("ETag" = String, description = "The content's SHA-256, quoted"),
                       ("Content-Disposition" = String, description = "attachment; filename=…; filename*=UTF-8''…"))),
              (status = 304, description = "Unchanged since the `If-None-Match` tag"),
              (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn download_current(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<DocumentPath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let document = load(&state, &who, &path, Permission::DocumentsRead).await?;
    serve(&state, document.version, &headers).await
}

/// Lists a document's versions, oldest first. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}/versions", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id"), ListVersions),
    responses((status = 200, body = Paginated<DocumentVersionView>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_versions(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<DocumentPath>,
    query: ApiQuery<ListVersions>,
) -> ApiResult<Json<Paginated<DocumentVersionView>>> {
    let document = load(&state, &who, &path, Permission::DocumentsRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state
        .store
        .list_versions(path.id, document.id, after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, DocumentVersionView::from)))
}

/// Uploads a new version (`multipart/form-data`: `file`, and optionally `title`, `tags`,
/// `metadata` to change with it); it becomes current and earlier ones stay downloadable. Same
/// limits as a new document. Synced documents are read-only (409). Needs `documents:manage`.
#[utoipa::path(post, path = "/projects/{id}/documents/{doc_id}/versions", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = DocumentView), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 503, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn add_version(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<DocumentPath>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let current = load(&state, &who, &path, Permission::DocumentsManage).await?;
    writable(&current)?;
    let mut upload = read_upload(&state, &headers, body).await?;
    let mut c = Checks::default();
    let parts = parse_parts(&upload, &mut c);
    c.check(
        upload.file.is_some(),
        "file",
        "is required: a part named `file` holding the new version",
    );
    c.finish().map_err(ApiError::Validation)?;
    let Some(mut file) = upload.file.take() else {
        return Err(ApiError::field("file", "is required"));
    };
    let title = parts.title.unwrap_or(current.title.clone());
    let tags = parts.tags.unwrap_or(current.tags.clone());
    let metadata = parts
        .metadata
        .map_or(current.metadata.clone(), |m| Value::Object(m).to_string());
    let key = store_bytes(&state, &mut file).await?;
    let store = state.blobs.writer().name();
    let fields = DocumentFields {
        title: &title,
        tags: &tags,
        metadata: &metadata,
    };
    let added = state
        .store
        .add_version(
            path.id,
            current.id,
            &fields,
            &new_version(&file, store, &key),
            who.user.id,
            state.now(),
        )
        .await;
    let document = match added {
        Ok(d) => d,
        Err(e) => {
            discard_bytes(&state, &key).await;
            return Err(match e {
                e if e.is_full() => write_error(e),
                e => not_found_as("document")(e),
            });
        }
    };
    let detail = serde_json::json!({
        "project_id": path.id, "version": document.current_version,
        "filename": file.filename, "content_type": file.content_type,
        "size": file.size, "sha256": file.sha256,
    });
    record(
        &state,
        &who,
        &client,
        "document",
        "document.version_created",
        document.id,
        detail,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(document.into())))
}

/// Reads one version's facts. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}/versions/{number}", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id"),
           ("number" = i64, Path, description = "Version number (1, 2, …)")),
    responses((status = 200, body = DocumentVersionView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_version(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<VersionPath>,
) -> ApiResult<Json<DocumentVersionView>> {
    Ok(Json(version(&state, &who, &path).await?.into()))
}

async fn version(state: &AppState, who: &Principal, path: &VersionPath) -> ApiResult<Version> {
    access::project(&state.store, who, path.id, Permission::DocumentsRead).await?;
    state
        .store
        .get_version(path.id, path.doc_id, path.number)
        .await
        .map_err(not_found_as("document version"))
}

/// Downloads one version, like `…/content` for the current one. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}/versions/{number}/content", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id"),
           ("number" = i64, Path, description = "Version number (1, 2, …)")),
    responses((status = 200, description = "The bytes, with the version's media type, `Content-Disposition: attachment` and `ETag`",
               content_type = "*/*", body = FileContent,
               headers(("ETag" = String, description = "The content's SHA-256, quoted"),
                       ("Content-Disposition" = String, description = "attachment; filename=…; filename*=UTF-8''…"))),
              (status = 304, description = "Unchanged since the `If-None-Match` tag"),
              (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn download_version(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<VersionPath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let version = version(&state, &who, &path).await?;
    serve(&state, version, &headers).await
}
