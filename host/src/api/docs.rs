use axum::Router;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

/// `GET /api/v1/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (Swagger UI, assets compiled into
/// the binary — no CDN). Both public: the document describes the API, it grants nothing.
pub(super) fn router(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
}
