//! Downloads and versions: a version's metadata and its bytes, with `ETag`/`If-None-Match`.

use super::*;

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
pub(super) async fn download_current(
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
pub(super) async fn list_versions(
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
        .list_versions(ProjectId(path.id), DocumentId(document.id), after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, DocumentVersionView::from)))
}

/// Reads one version's facts. Needs `documents:read`.
#[utoipa::path(get, path = "/projects/{id}/documents/{doc_id}/versions/{number}", tag = "documents",
    params(("id" = i64, Path, description = "Project id"), ("doc_id" = i64, Path, description = "Document id"),
           ("number" = i64, Path, description = "Version number (1, 2, …)")),
    responses((status = 200, body = DocumentVersionView), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn get_version(
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
        .get_version(ProjectId(path.id), DocumentId(path.doc_id), path.number)
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
pub(super) async fn download_version(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(path): ApiPath<VersionPath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let version = version(&state, &who, &path).await?;
    serve(&state, version, &headers).await
}
