//! The served OpenAPI document and the Swagger UI.
//!
//! Handlers annotate their own successes and the failures particular to them (409 for a
//! conflict, 502 for a plugin). The failures every operation of a kind can answer come from the
//! shared extractors and layers, not from the handler, so [`finish`] declares them in one place
//! from what the operation has: a request body, path or query parameters, a credential. It also
//! declares every error as the `application/problem+json` it is served as.

use axum::Router;
use serde_json::json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

/// `GET /api/v1/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (Swagger UI, assets compiled into
/// the binary — no CDN). Both public: the document describes the API, it grants nothing.
pub(super) fn router(openapi: OpenApi) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
}

/// Completes the generated document: standard failures declared, errors as problem+json.
pub(super) fn finish(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            complete(op);
        }
    }
    openapi
}

/// Declares what the shared machinery of the API may answer for one operation.
fn complete(op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    // No `security` of its own: the document's default, the bearer credential and its
    // permissions. Agent-token operations have no permissions to lack (no 403).
    let security = op.security.as_ref().map(|s| json!(s));
    let public = security == Some(json!([{}]));
    let bearer = security.is_none_or(|s| s.to_string().contains("\"bearer\""));
    let mut standard: Vec<(&str, &str)> = Vec::new();
    if op.request_body.is_some() {
        standard.extend([
            (
                "400",
                "The body is not well-formed (malformed JSON, an unreadable form).",
            ),
            ("413", "The body is larger than the configured limit."),
            ("415", "The body is not of the declared media type."),
            (
                "422",
                "A field breaks a rule; `errors` names each field and why.",
            ),
        ]);
    }
    if has(ParameterIn::Path) {
        standard.extend([
            ("400", "A path parameter is not of its declared type."),
            ("404", "No such object, or not one the caller may see."),
        ]);
    }
    if has(ParameterIn::Query) {
        standard.extend([
            (
                "400",
                "An unknown query parameter, or a value not of its declared type.",
            ),
            (
                "422",
                "A parameter breaks a rule (`limit` out of range, a cursor this list did not \
                 return); `errors` names it.",
            ),
        ]);
    }
    if !public {
        standard.push(("401", "No valid credential (`WWW-Authenticate: Bearer`)."));
    }
    if bearer {
        standard.push((
            "403",
            "The credential lacks the permission the operation needs.",
        ));
    }
    // Every request runs under the deadline, and nearly every one needs the database.
    standard.push((
        "503",
        "The database is unavailable or the request ran past the deadline; see `Retry-After`.",
    ));
    let responses = &mut op.responses.responses;
    for (status, description) in standard {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, response) in responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        let RefOr::T(response) = response else {
            continue;
        };
        if response.description.is_empty() {
            response.description = default_description(status).to_owned();
        }
        response.content.clear();
        response.content.insert(
            "application/problem+json".to_owned(),
            Content::new(Some(Ref::from_schema_name("Problem"))),
        );
    }
}

/// The description of an error response an annotation left without one.
fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "Bad request.",
        "401" => "Not authenticated.",
        "403" => "Not allowed.",
        "404" => "Not found.",
        "409" => "Conflicts with the current state.",
        "413" => "Payload too large.",
        "415" => "Unsupported media type.",
        "422" => "Invalid input.",
        "429" => "Too many requests; see `Retry-After`.",
        "502" => "A plugin or provider failed.",
        "503" => "Service unavailable; see `Retry-After`.",
        _ => "Error.",
    }
}
