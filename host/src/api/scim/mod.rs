//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) under `/scim/v2`: an identity provider (Entra
//! ID, Okta) creates, changes, deactivates and deletes people and groups here, with a service
//! account's API key holding `scim:provision`.
//!
//! SCIM speaks its own dialect of HTTP, so this module has its own edges: bodies are
//! `application/scim+json` (or `application/json`), errors are SCIM error bodies
//! ([`ScimError`]), not problem+json, and ids are strings. Behind the edges it is the platform:
//! a User is a person's account (`store::users`), deactivating it ends its sessions as an
//! administrator's deactivation does, roles come from groups by the single sign-on role rules
//! (`auth::scim`), and every change goes to the audit log.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::audit::record;
use super::error::ApiError;
use super::AppState;
use crate::auth::{ClientInfo, Principal};
use crate::clock::Millis;
use crate::rbac::Permission;
use crate::store::users::UserChanges;
use crate::store::StoreError;

/// ServiceProviderConfig, ResourceTypes and Schemas.
mod discovery;
/// The filter grammar: parsing, list conditions, value filters.
mod filter;
/// Groups: CRUD, membership, role mapping.
mod groups;
/// PATCH operations over a resource held as JSON.
mod patch;
/// The User and Group schemas: validation and the `/Schemas` documents.
mod schema;
/// Users: CRUD, activation.
mod users;

/// The SCIM error message schema.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The SCIM list response schema.
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The media type of every SCIM body.
pub const MEDIA_TYPE: &str = "application/scim+json";
/// Most resources one list page returns (`count` above it is lowered to it).
pub const MAX_RESULTS: i64 = 200;
/// Page size when `count` is not given.
const DEFAULT_COUNT: i64 = 100;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(discovery::router())
}

/// A SCIM error (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimError {
    /// HTTP status.
    pub status: StatusCode,
    /// `scimType`: `invalidFilter`, `invalidPath`, `invalidValue`, `uniqueness`, …
    pub scim_type: Option<&'static str>,
    /// What went wrong, for the provider's log.
    pub detail: String,
}

impl ScimError {
    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail,
        }
    }

    /// 404 naming what.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            scim_type: None,
            detail: format!("no {what} with id `{id}`"),
        }
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let detail = match &e {
            ApiError::Internal { .. } => {
                tracing::error!(error = %crate::api::error::chain(&e), "internal error");
                "the server failed to handle the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        Self {
            status,
            scim_type: None,
            detail,
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// A unique value already taken: 409 `uniqueness`; anything else as it is.
fn uniqueness(e: StoreError) -> ScimError {
    match e {
        e @ (StoreError::Conflict(_) | StoreError::Duplicate { .. } | StoreError::EmailTaken) => {
            let detail = match e {
                StoreError::Conflict(detail) => detail,
                // The constraint's name is the schema's, not the provider's.
                _ => "a unique attribute is already taken".into(),
            };
            ScimError {
                status: StatusCode::CONFLICT,
                scim_type: Some("uniqueness"),
                detail,
            }
        }
        other => other.into(),
    }
}

/// The body of a SCIM error, as served and as documented.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimErrorBody {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    schemas: Vec<String>,
    /// The HTTP status, as a string (RFC 7644 §3.12).
    status: String,
    /// The kind of a 400 or 409: `invalidFilter`, `invalidPath`, `invalidValue`,
    /// `invalidSyntax`, `noTarget`, `mutability`, `uniqueness`.
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<String>,
    /// What went wrong.
    detail: String,
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        // A detail may quote the request; control characters in it are shown escaped.
        let detail = self
            .detail
            .chars()
            .map(|c| {
                if c.is_control() {
                    format!("\\u{:04x}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect();
        let body = ScimErrorBody {
            schemas: vec![ERROR.to_owned()],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(str::to_owned),
            detail,
        };
        let mut response = Scim::new(self.status, json!(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A SCIM response: JSON served as `application/scim+json`, with `Location` for a creation.
#[derive(Debug)]
pub struct Scim {
    status: StatusCode,
    body: Value,
    location: Option<String>,
}

impl Scim {
    /// A response with this status and body.
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            location: None,
        }
    }

    /// 200 with a body.
    pub fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, body)
    }

    /// 201 with the resource and its `Location` (its `meta.location`).
    pub fn created(body: Value) -> Self {
        let location = body["meta"]["location"].as_str().map(str::to_owned);
        Self {
            status: StatusCode::CREATED,
            body,
            location,
        }
    }
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            self.body.to_string(),
        )
            .into_response();
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// The authenticated caller, holding `scim:provision`; checked before anything else is read.
#[derive(Debug)]
pub struct Provisioner {
    /// Who (the provider's service account, normally).
    pub who: Principal,
    /// From where, for the audit log.
    pub client: ClientInfo,
}

impl FromRequestParts<AppState> for Provisioner {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let who = Principal::from_request_parts(parts, state).await?;
        who.require(Permission::ScimProvision)?;
        let client = ClientInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_default();
        Ok(Self { who, client })
    }
}

impl Provisioner {
    /// Appends an audit entry for a change.
    async fn audit(
        &self,
        state: &AppState,
        target_type: &'static str,
        action: &'static str,
        id: i64,
        detail: Value,
    ) -> Result<(), ScimError> {
        Ok(record(
            state,
            &self.who,
            &self.client,
            target_type,
            action,
            id,
            detail,
        )
        .await?)
    }
}

/// A JSON object body of media type `application/scim+json` or `application/json`.
#[derive(Debug)]
pub struct ScimBody(pub Map<String, Value>);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ScimError> {
        let essence = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if essence != MEDIA_TYPE && essence != "application/json" {
            return Err(ScimError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                scim_type: None,
                detail: format!("the body must be {MEDIA_TYPE} (or application/json)"),
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    scim_type: None,
                    detail: format!(
                        "the body is larger than the limit of {} bytes",
                        state.config.http.max_body_bytes
                    ),
                }
            } else {
                ScimError::bad("invalidSyntax", format!("the body could not be read: {r}"))
            }
        })?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(ScimBody(map)),
            Ok(_) => Err(ScimError::bad(
                "invalidSyntax",
                "the body must be a JSON object".into(),
            )),
            Err(e) => Err(ScimError::bad(
                "invalidSyntax",
                format!("the body is not JSON: {e}"),
            )),
        }
    }
}

/// The query of a list (RFC 7644 §3.4.2), as documented.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query; `ListQuery` reads it.
pub struct ListParams {
    /// A filter: `attr eq "value"` conditions joined by `and` (see docs/IDENTITY.md for the
    /// attributes), e.g. `userName eq "ann@example.com"`.
    #[param(max_length = 1024)]
    filter: Option<String>,
    /// 1-based index of the first result (values below 1 count as 1).
    #[param(rename = "startIndex")]
    start_index: Option<i64>,
    /// Page size; 0 returns only `totalResults`; at most 200 (more is lowered to 200).
    count: Option<i64>,
    /// Attributes to return; Groups leave `members` out unless it is named.
    attributes: Option<String>,
    /// Attributes to leave out; Groups honour `members`.
    #[param(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

/// A list query, read.
#[derive(Debug)]
pub struct ListQuery {
    /// The parsed filter.
    pub filter: Option<filter::Filter>,
    /// 0-based offset.
    pub offset: i64,
    /// Page size.
    pub count: i64,
    /// Whether `members` is wanted (Groups).
    pub members: bool,
    /// 1-based index of the first result, as answered.
    pub start_index: i64,
}

/// `attributes`/`excludedAttributes` as they concern `members`.
fn wants_members(attributes: Option<&str>, excluded: Option<&str>) -> bool {
    let names = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| {
                a.trim()
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            })
            .collect()
    };
    let excluded = excluded.is_some_and(|e| names(e).iter().any(|n| n == "members"));
    let listed = attributes.is_none_or(|a| names(a).iter().any(|n| n == "members"));
    listed && !excluded
}

impl FromRequestParts<AppState> for ListQuery {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ScimError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).map_err(|e| {
                ScimError::bad("invalidValue", format!("malformed query string: {e}"))
            })?;
        if pairs.iter().any(|(_, v)| v.contains('\0')) {
            return Err(ScimError::bad(
                "invalidValue",
                "a query parameter may not hold NUL".into(),
            ));
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            get(name)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        ScimError::bad("invalidValue", format!("`{name}` must be an integer"))
                    })
                })
                .transpose()
        };
        let start_index = number("startIndex")?.unwrap_or(1).max(1);
        let count = number("count")?
            .unwrap_or(DEFAULT_COUNT)
            .clamp(0, MAX_RESULTS);
        let filter = get("filter")
            .map(|f| filter::parse(f).map_err(|e| ScimError::bad("invalidFilter", e.0)))
            .transpose()?;
        Ok(Self {
            filter,
            offset: start_index - 1,
            count,
            members: wants_members(get("attributes"), get("excludedAttributes")),
            start_index,
        })
    }
}

impl ListQuery {
    /// The filter as `attribute eq "value"` conditions on the attributes `supported` (by
    /// lower-cased name, any core schema URN prefix removed); anything else is `invalidFilter`.
    fn conditions<T>(
        &self,
        urn: &str,
        supported: &[&'static str],
        make: impl Fn(&'static str, &str) -> T,
    ) -> Result<Vec<T>, ScimError> {
        let Some(filter) = &self.filter else {
            return Ok(Vec::new());
        };
        let unsupported = || {
            ScimError::bad(
                "invalidFilter",
                format!(
                    "only `eq` conditions joined by `and` on {} are supported",
                    supported.join(", ")
                ),
            )
        };
        let conjunction = filter.conjunction().ok_or_else(unsupported)?;
        let prefix = format!("{}:", urn.to_ascii_lowercase());
        conjunction
            .into_iter()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let name = lower.strip_prefix(&prefix).unwrap_or(&lower);
                let canonical = supported
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(name))
                    .copied()
                    .ok_or_else(unsupported)?;
                let Value::String(s) = value else {
                    return Err(ScimError::bad(
                        "invalidFilter",
                        format!("`{name}` is compared with a quoted string"),
                    ));
                };
                if s.contains('\0') {
                    return Err(ScimError::bad(
                        "invalidFilter",
                        "a filter value may not hold NUL".into(),
                    ));
                }
                Ok(make(canonical, &s))
            })
            .collect()
    }

    /// A ListResponse of `resources` out of `total`.
    fn respond(&self, total: i64, resources: Vec<Value>) -> Scim {
        Scim::ok(json!({
            "schemas": [LIST],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }))
    }
}

/// Where this service provider is reached: `<public_url>/scim/v2`.
fn base_url(state: &AppState) -> String {
    let base = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.listen));
    format!("{}/scim/v2", base.trim_end_matches('/'))
}

/// `meta` of a resource.
fn meta(kind: &str, location: String, created: Millis, modified: Millis) -> Value {
    json!({
        "resourceType": kind,
        "created": created.rfc3339(),
        "lastModified": modified.rfc3339(),
        "location": location,
        "version": format!("W/\"{}\"", modified.as_ms()),
    })
}

/// The `{id}` of a path, as sent (SCIM ids are strings); unreadable ones are a SCIM 404.
#[derive(Debug)]
pub struct ScimId(pub String);

impl FromRequestParts<AppState> for ScimId {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| ScimId(id))
            .map_err(|_| ScimError::not_found("resource", "?"))
    }
}

/// An id from the path: ours are positive integers; anything else names nothing.
fn parse_id(id: &str, what: &str) -> Result<i64, ScimError> {
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ScimError::not_found(what, id))
}

/// Recomputes the role of each person from their groups; a change is audited, and so is a
/// change refused because it would leave no active Administrator.
async fn remap_roles(state: &AppState, p: &Provisioner, ids: &[i64]) -> Result<(), ScimError> {
    let auth = &state.config.auth;
    for &id in ids {
        let groups = state.store.scim_groups_of(id).await?;
        let role = auth.scim.role(&auth.oidc, &groups);
        let user = match state.store.get_user(id).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        if user.role == role {
            continue;
        }
        let changes = UserChanges {
            role: Some(role),
            ..Default::default()
        };
        match state.store.update_user(id, changes, state.now()).await {
            Ok(_) => {
                p.audit(
                    state,
                    "user",
                    "scim.role_mapped",
                    id,
                    json!({ "from": user.role, "to": role }),
                )
                .await?
            }
            // The last active Administrator keeps the role; the membership change itself
            // stands (the provider cannot undo it), and the refusal is on the audit log.
            Err(e @ StoreError::LastAdministrator) => {
                p.audit(
                    state,
                    "user",
                    "scim.role_kept",
                    id,
                    json!({ "role": user.role, "rules_say": role, "why": e.to_string() }),
                )
                .await?
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wants_members;

    #[test]
    fn members_follow_attributes_and_excluded_attributes() {
        assert!(wants_members(None, None));
        assert!(!wants_members(None, Some("members")));
        assert!(!wants_members(Some("displayName"), None));
        assert!(wants_members(
            Some("urn:ietf:params:scim:schemas:core:2.0:Group:members, displayName"),
            None
        ));
    }
}
