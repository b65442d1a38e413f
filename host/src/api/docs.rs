//! The served OpenAPI document and the Swagger UI.
//!
//! Handlers annotate their own successes and the failures particular to them (409 for a
//! conflict, 502 for a plugin). The failures every operation of a kind can answer come from the
//! shared extractors and layers, not from the handler, so [`finish`] declares them in one place
//! from what the operation has: a request body, path or query parameters, a credential. It also
//! declares every error as the `application/problem+json` it is served as.
//!
//! Text rules the shared checks enforce are declared the same way. A field checked with
//! [`Checks::line`](super::extract::Checks::line) says `#[schema(format = "line")]`, one checked
//! with [`Checks::text`](super::extract::Checks::text) says `format = "text"`, a `cursor` says
//! `format = "cursor"`, a web task's host pattern `format = "host-pattern"`; [`finish`] replaces
//! each marker with the pattern the server holds the value to ([`text_pattern`], [`CURSOR`],
//! [`HOST_PATTERN`]), so each regular expression lives in one place. Every other string gets
//! [`NO_NUL`], as the extractors refuse NUL everywhere.

use axum::Router;
use serde_json::json;
use utoipa::openapi::encoding::Encoding;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Object, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

/// `GET /api/v1/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (Swagger UI, assets compiled into
/// the binary — no CDN). Both public: the document describes the API, it grants nothing.
pub(super) fn router(openapi: OpenApi) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
}

/// Completes the generated document: standard failures declared, errors as problem+json —
/// except under [`SCIM_PREFIX`], whose errors are SCIM error messages (RFC 7644 §3.12) served
/// as `application/scim+json`, as SCIM clients expect ([`complete_scim`]).
pub(super) fn finish(mut openapi: OpenApi) -> OpenApi {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let scim = path.starts_with(SCIM_PREFIX);
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            if scim {
                complete_scim(op);
            } else {
                complete(op);
            }
            for param in op.parameters.iter_mut().flatten() {
                if let Some(schema) = &mut param.schema {
                    constrain(schema);
                }
            }
            if let Some(body) = &mut op.request_body {
                if let Some(form) = body.content.get_mut("multipart/form-data") {
                    declare_file_types(form);
                }
                for content in body.content.values_mut() {
                    if let Some(schema) = &mut content.schema {
                        constrain(schema);
                    }
                }
            }
        }
    }
    if let Some(components) = &mut openapi.components {
        for schema in components.schemas.values_mut() {
            constrain(schema);
        }
    }
    openapi
}

/// A multipart upload's `file` part: the media types the host accepts by default
/// (`documents.allowed_content_types`; anything else is a 415).
fn declare_file_types(form: &mut Content) {
    let mut file = Encoding::default();
    file.content_type = Some(crate::documents::default_content_types().join(", "));
    form.encoding.insert("file".to_owned(), file);
}

/// Characters [`Checks::line`](super::extract::Checks::line) refuses: Unicode's control
/// characters (`char::is_control`, general category Cc).
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// What `str::trim` removes besides control characters (Unicode White_Space).
const SPACE: &str = r"\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Characters [`Checks::text`](super::extract::Checks::text) refuses: control characters
/// except tab and line feed.
const TEXT_CONTROL: &str = r"\u0000-\u0008\u000B-\u001F\u007F-\u009F";

/// An opaque `cursor`: empty (the first page) or eleven base64url characters (the
/// [`pagination`](super::pagination) encoding of a position), as `next_cursor` returns it.
pub const CURSOR: &str = r"^([A-Za-z0-9_-]{10}[AEIMQUYcgkosw048])?$";
/// A host pattern of a web task (`valid_host_pattern` of plugin manifests): `*`, or an optional
/// `*.` before a host name of dot-separated labels (1–63 letters, digits and inner hyphens;
/// at most 253 characters) or an IPv6 address (an IPv4 address is a host name by this rule).
pub const HOST_PATTERN: &str = concat!(
    r"^(\*|(\*\.)?((?=[^*]{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    r"|([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
    r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
    r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
    r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
    r"|:((:[0-9a-fA-F]{1,4}){1,7}|:)))$"
);
/// Any other string: no NUL. The query extractor refuses `%00`, the JSON one `\u0000`
/// (PostgreSQL text cannot hold it), so no string of this API holds one.
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// The pattern a `line` (`text`: `multi_line`) field is held to, non-blank when `required`.
fn text_pattern(multi_line: bool, required: bool) -> String {
    let refused = if multi_line { TEXT_CONTROL } else { CONTROL };
    if required {
        format!("^[^{refused}]*[^{CONTROL}{SPACE}][^{refused}]*$")
    } else {
        format!("^[^{refused}]*$")
    }
}

/// Replaces the `line`, `text`, `cursor` and `host-pattern` markers under `schema` with their
/// patterns; any other string without a pattern, an enum or a format of its own gets [`NO_NUL`].
fn constrain(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            mark(object);
            for property in object.properties.values_mut() {
                constrain(property);
            }
            if let Some(extra) = &mut object.additional_properties {
                if let AdditionalProperties::RefOr(extra) = extra.as_mut() {
                    constrain(extra);
                }
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                constrain(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(constrain),
        Schema::AllOf(all) => all.items.iter_mut().for_each(constrain),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(constrain),
        _ => {}
    }
}

fn mark(object: &mut Object) {
    // utoipa-gen 5.5 writes `#[schema(min_properties = n)]` as `.max_properties(Some(n))`; the
    // changes (`Update*`) say `min_properties = 1` (give at least one field), and nothing in the
    // API means at most one. Put it where it belongs (a story checks the document says so).
    if object.max_properties == Some(1) && object.min_properties.is_none() {
        object.max_properties = None;
        object.min_properties = Some(1);
    }
    let required = object.min_length.unwrap_or(0) > 0;
    let pattern = match &object.format {
        Some(SchemaFormat::Custom(marker)) => match marker.as_str() {
            "line" => text_pattern(false, required),
            "text" => text_pattern(true, required),
            "cursor" => CURSOR.to_owned(),
            "host-pattern" => HOST_PATTERN.to_owned(),
            _ => return,
        },
        None | Some(SchemaFormat::KnownFormat(KnownFormat::Password))
            if object.pattern.is_none()
                && object.enum_values.is_none()
                && match &object.schema_type {
                    SchemaType::Type(t) => *t == Type::String,
                    SchemaType::Array(types) => types.contains(&Type::String),
                    SchemaType::AnyValue => false,
                } =>
        {
            NO_NUL.to_owned()
        }
        _ => return,
    };
    object.format = None;
    object.pattern = Some(pattern);
}

/// Operations that need a valid credential and nothing more: they act on the caller's own
/// account and sessions, so no role or key scope can be missing (no 403 to declare).
pub const NO_PERMISSION: &[&str] = &[
    "me",
    "logout",
    "list_sessions",
    "revoke_session",
    "oidc_logout",
];

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
    let own = op
        .operation_id
        .as_deref()
        .is_some_and(|id| NO_PERMISSION.contains(&id));
    if bearer && !own {
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
    declare_errors(op, &standard, "application/problem+json", "Problem");
}

/// Where SCIM lives; its operations are completed by [`complete_scim`], not [`complete`].
pub const SCIM_PREFIX: &str = "/scim/v2/";

/// Declares the failures of a SCIM operation, each a SCIM error message (`ScimErrorBody`) in
/// `application/scim+json`: 400 for a malformed body or query, 401, 403, 404 for a path id, 413
/// and 415 for bodies, 503.
fn complete_scim(op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let mut standard: Vec<(&str, &str)> = Vec::new();
    if op.request_body.is_some() {
        standard.extend([
            (
                "400",
                "The body is not a JSON object, or breaks the schema (`scimType` says how).",
            ),
            ("413", "The body is larger than the configured limit."),
            (
                "415",
                "The body is not application/scim+json or application/json.",
            ),
        ]);
    }
    if has(ParameterIn::Query) {
        standard.push((
            "400",
            "A malformed filter (`invalidFilter`) or number (`invalidValue`).",
        ));
    }
    if has(ParameterIn::Path) {
        standard.push(("404", "No such resource."));
    }
    standard.extend([
        ("401", "No valid credential (`WWW-Authenticate: Bearer`)."),
        ("403", "The credential lacks `scim:provision`."),
        ("503", "The database is unavailable; see `Retry-After`."),
    ]);
    declare_errors(op, &standard, "application/scim+json", "ScimErrorBody");
}

/// Adds the `standard` failures `op` does not declare itself, and makes every 4xx and 5xx of it
/// (declared or added) a `schema` body in `media_type`, with a description where it has none.
fn declare_errors(op: &mut Operation, standard: &[(&str, &str)], media_type: &str, schema: &str) {
    let responses = &mut op.responses.responses;
    for (status, description) in standard {
        responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(Response::new(*description)));
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
            media_type.to_owned(),
            Content::new(Some(Ref::from_schema_name(schema))),
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
