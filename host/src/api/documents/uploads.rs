//! Uploads: a new document or a new version of one, read as a multipart stream after the
//! permission checks ([`crate::documents::upload`]).

use super::*;

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
pub(super) async fn create_document(
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

/// Uploads a new version (`multipart/form-data`: `file`, and optionally `title`, `tags`,
/// `metadata` to change with it); it becomes current and earlier ones stay downloadable. Same
/// limits as a new document. Synced documents are read-only (409). Needs `documents:manage`.
#[utoipa::path(post, path = "/projects/{id}/documents/{doc_id}/versions", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = DocumentView), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 503, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn add_version(
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
            ProjectId(path.id),
            DocumentId(current.id),
            &fields,
            &new_version(&file, store, &key),
            UserId(who.user.id),
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
