//! `/scim/v2/Users`: a User is a person's platform account plus the resource the provider
//! sent. `userName`/`emails` give the login e-mail, `displayName`/`name` the shown name,
//! `active: false` (and DELETE) deactivate the account and end its sessions at once.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schema::{self, ENTERPRISE, ENTERPRISE_ATTRS, USER, USER_ATTRS};
use super::{
    base_url, meta, parse_id, patch, uniqueness, ListParams, ListQuery, Provisioner, Scim,
    ScimBody, ScimError, ScimErrorBody, ScimId,
};
use crate::api::AppState;
use crate::store::scim::{Condition, ScimUserFields, ScimUserRow};
use crate::store::users::UserChanges;
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scim_list_users, scim_create_user))
        .routes(routes!(
            scim_get_user,
            scim_replace_user,
            scim_patch_user,
            scim_delete_user
        ))
}

/// A User resource (RFC 7643 §4.1 with the enterprise extension §4.3). Documented in outline;
/// `/scim/v2/Schemas` lists every attribute.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Documents the body; the handlers work on JSON checked by `schema`.
pub struct ScimUser {
    /// `urn:ietf:params:scim:schemas:core:2.0:User` (and the enterprise extension's URN).
    schemas: Option<Vec<String>>,
    /// The platform's id (answered; ignored when sent).
    id: Option<String>,
    /// The provider's id of the person.
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    /// Unique, case-insensitive; the login e-mail when `emails` has none.
    #[serde(rename = "userName")]
    #[schema(format = Email, max_length = 254)]
    user_name: String,
    /// The person's name (`formatted`, `familyName`, `givenName`, …).
    #[schema(value_type = Option<Object>)]
    name: Option<Value>,
    /// The name shown in the platform.
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    /// E-mails (`value`, `type`, `primary`); the primary one is the login e-mail.
    #[schema(value_type = Option<Vec<Object>>)]
    emails: Option<Vec<Value>>,
    /// `false` deactivates the account and ends its sessions.
    active: Option<bool>,
    /// `resourceType`, `created`, `lastModified`, `location`, `version` (answered).
    #[schema(value_type = Option<Object>)]
    meta: Option<Value>,
}

/// A SCIM list response.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Documents the body.
pub struct ScimList {
    /// `urn:ietf:params:scim:api:messages:2.0:ListResponse`.
    schemas: Vec<String>,
    /// How many resources match.
    #[serde(rename = "totalResults")]
    total_results: i64,
    /// 1-based index of the first one returned.
    #[serde(rename = "startIndex")]
    start_index: i64,
    /// How many are returned.
    #[serde(rename = "itemsPerPage")]
    items_per_page: i64,
    /// The resources.
    #[serde(rename = "Resources")]
    #[schema(value_type = Vec<Object>)]
    resources: Vec<Value>,
}

/// A PATCH request (RFC 7644 §3.5.2).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Documents the body; `patch` reads it.
pub struct ScimPatch {
    /// `urn:ietf:params:scim:api:messages:2.0:PatchOp`.
    schemas: Option<Vec<String>>,
    /// `op` (`add`, `replace`, `remove`, any case), `path` (optional for add and replace),
    /// `value`.
    #[serde(rename = "Operations")]
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 1000)]
    operations: Vec<Value>,
}

/// The User resource a provisioned person is answered as.
fn resource(state: &AppState, row: &ScimUserRow) -> Value {
    let mut r: Map<String, Value> = serde_json::from_str(&row.resource).unwrap_or_default();
    let mut schemas = vec![json!(USER)];
    if r.contains_key(ENTERPRISE) {
        schemas.push(json!(ENTERPRISE));
    }
    let id = row.user.id.to_string();
    r.insert("schemas".into(), Value::Array(schemas));
    r.insert("id".into(), json!(id));
    r.insert("active".into(), json!(row.user.is_active()));
    let modified = row.updated_at.max(row.user.updated_at);
    r.insert(
        "meta".into(),
        meta(
            "User",
            format!("{}/Users/{id}", base_url(state)),
            row.created_at,
            modified,
        ),
    );
    Value::Object(r)
}

/// A provisioned person by path id.
async fn load(state: &AppState, id: &str) -> Result<ScimUserRow, ScimError> {
    let n = parse_id(id, "User")?;
    match state.store.scim_user(n).await {
        Ok(row) => Ok(row),
        Err(StoreError::NotFound) => Err(ScimError::not_found("User", id)),
        Err(e) => Err(e.into()),
    }
}

/// A string attribute, trimmed; empty when absent.
fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).map(str::trim).unwrap_or("")
}

/// What a checked resource sets on the account.
struct Account {
    email: String,
    display_name: String,
    user_name: String,
    external_id: Option<String>,
    /// `active` as sent; `None` leaves the account as it is.
    active: Option<bool>,
    /// The resource to keep (without `active`, which the account holds).
    resource: String,
}

/// Checks a body (or a patched resource) and derives the account from it.
fn account(body: &Map<String, Value>) -> Result<Account, ScimError> {
    schema::check_envelope(body, &[USER, ENTERPRISE])?;
    let mut input = body.clone();
    input.retain(|k, _| {
        !["schemas", "id", "meta"]
            .iter()
            .any(|s| k.eq_ignore_ascii_case(s))
    });
    let mut r = schema::normalize(&input, USER_ATTRS, Some((ENTERPRISE, ENTERPRISE_ATTRS)))?;
    let active = r.remove("active").and_then(|v| v.as_bool());
    let user_name = text(r.get("userName")).to_owned();
    if user_name.is_empty() {
        return Err(ScimError::bad(
            "invalidValue",
            "`userName` may not be blank".into(),
        ));
    }
    let emails = r
        .get("emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| e["primary"] == json!(true))
        .or_else(|| emails.first());
    let email = match primary.map(|e| text(e.get("value"))) {
        Some(e) if !e.is_empty() => e,
        _ => user_name.as_str(),
    }
    .to_lowercase();
    let plausible = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !plausible {
        return Err(ScimError::bad(
            "invalidValue",
            "a person needs an e-mail address: in `emails` (the primary one), or as `userName`"
                .into(),
        ));
    }
    let name = r.get("name");
    let joined = [
        text(name.and_then(|n| n.get("givenName"))),
        text(name.and_then(|n| n.get("familyName"))),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    let shown = [
        text(r.get("displayName")),
        text(name.and_then(|n| n.get("formatted"))),
        joined.as_str(),
        user_name.as_str(),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or(user_name.as_str());
    // The platform shows names of at most 100 characters on one line.
    let display_name: String = shown
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect::<String>()
        .trim()
        .to_owned();
    let external_id = r
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Account {
        email,
        display_name,
        user_name,
        external_id,
        active,
        resource: Value::Object(r).to_string(),
    })
}

/// Deactivates (ending every session at once) or reactivates an account; returns the
/// sessions ended.
async fn set_active(
    state: &AppState,
    id: i64,
    active: bool,
    was_active: bool,
) -> Result<u64, ScimError> {
    if active == was_active {
        return Ok(0);
    }
    let changes = UserChanges {
        deactivate: Some(!active),
        ..Default::default()
    };
    state.store.update_user(id, changes, state.now()).await?;
    if active {
        return Ok(0);
    }
    Ok(state
        .store
        .revoke_user_sessions(id, None, "scim_deactivated", state.now())
        .await?)
}

/// Lists provisioned people. Filters: `userName`, `externalId`, `displayName`, `id`,
/// `emails.value` (`eq`, joined by `and`). Needs `scim:provision`.
#[utoipa::path(get, path = "/Users", tag = "scim", params(ListParams),
    responses((status = 200, body = ScimList, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidFilter`, or a malformed `startIndex`/`count`")))]
async fn scim_list_users(
    State(state): State<AppState>,
    _p: Provisioner,
    q: ListQuery,
) -> Result<Scim, ScimError> {
    let conditions = q.conditions(
        USER,
        &[
            "userName",
            "externalId",
            "displayName",
            "emails.value",
            "id",
        ],
        |name, v| match name {
            "userName" => Condition::UserName(v.to_owned()),
            "externalId" => Condition::ExternalId(v.to_owned()),
            "displayName" => Condition::DisplayName(v.to_owned()),
            "emails.value" => Condition::Email(v.to_owned()),
            // Ids are positive integers: another value names nobody.
            _ => Condition::Id(v.parse().unwrap_or(-1)),
        },
    )?;
    let (total, rows) = state
        .store
        .scim_list_users(&conditions, q.offset, q.count)
        .await?;
    let resources = rows.iter().map(|r| resource(&state, r)).collect();
    Ok(q.respond(total, resources))
}

/// Provisions a person: an account without a password (they sign in with single sign-on),
/// with the role of no group (`auth.scim`). Needs `scim:provision`.
#[utoipa::path(post, path = "/Users", tag = "scim",
    request_body(content = ScimUser, content_type = "application/scim+json"),
    responses((status = 201, body = ScimUser, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidValue`, `invalidSyntax`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`: the userName or e-mail is taken")))]
async fn scim_create_user(
    State(state): State<AppState>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let a = account(&body)?;
    let auth = &state.config.auth;
    let role = auth.scim.role(&auth.oidc, &[]);
    let fields = ScimUserFields {
        email: &a.email,
        display_name: &a.display_name,
        user_name: &a.user_name,
        external_id: a.external_id.as_deref(),
        resource: &a.resource,
    };
    let id = state
        .store
        .scim_create_user(&fields, role, state.now())
        .await
        .map_err(uniqueness)?;
    let active = a.active.unwrap_or(true);
    set_active(&state, id, active, true).await?;
    p.audit(
        &state,
        "user",
        "scim.user_created",
        id,
        json!({ "email": a.email, "role": role, "active": active }),
    )
    .await?;
    let row = state.store.scim_user(id).await?;
    Ok(Scim::created(resource(&state, &row)))
}

/// Reads a provisioned person. Needs `scim:provision`.
#[utoipa::path(get, path = "/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json")))]
async fn scim_get_user(
    State(state): State<AppState>,
    _p: Provisioner,
    ScimId(id): ScimId,
) -> Result<Scim, ScimError> {
    let row = load(&state, &id).await?;
    Ok(Scim::ok(resource(&state, &row)))
}

/// Writes a checked resource over a person's; `action` names the audit event.
async fn save(
    state: &AppState,
    p: &Provisioner,
    before: &ScimUserRow,
    a: Account,
    action: &'static str,
) -> Result<Scim, ScimError> {
    let id = before.user.id;
    let fields = ScimUserFields {
        email: &a.email,
        display_name: &a.display_name,
        user_name: &a.user_name,
        external_id: a.external_id.as_deref(),
        resource: &a.resource,
    };
    state
        .store
        .scim_update_user(id, &fields, state.now())
        .await
        .map_err(uniqueness)?;
    let was_active = before.user.is_active();
    let active = a.active.unwrap_or(was_active);
    let ended = set_active(state, id, active, was_active).await?;
    p.audit(
        state,
        "user",
        action,
        id,
        json!({
            "email": (before.user.email.as_deref() != Some(a.email.as_str())).then_some(&a.email),
            "active": (active != was_active).then_some(active),
            "sessions_ended": ended,
        }),
    )
    .await?;
    let row = state.store.scim_user(id).await?;
    Ok(Scim::ok(resource(state, &row)))
}

/// Replaces a provisioned person's resource (PUT). Needs `scim:provision`.
#[utoipa::path(put, path = "/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "User id")),
    request_body(content = ScimUser, content_type = "application/scim+json"),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidValue`, `invalidSyntax`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`, or the last active Administrator")))]
async fn scim_replace_user(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let before = load(&state, &id).await?;
    let a = account(&body)?;
    save(&state, &p, &before, a, "scim.user_replaced").await
}

/// Changes a provisioned person (PATCH: add, replace, remove; Entra ID's and Okta's forms).
/// Needs `scim:provision`.
#[utoipa::path(patch, path = "/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "User id")),
    request_body(content = ScimPatch, content_type = "application/scim+json"),
    responses((status = 200, body = ScimUser, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidPath`, `invalidValue`, `invalidSyntax`, `noTarget`, `mutability`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`, or the last active Administrator")))]
async fn scim_patch_user(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let before = load(&state, &id).await?;
    let mut current: Map<String, Value> =
        serde_json::from_str(&before.resource).unwrap_or_default();
    current.insert("active".into(), json!(before.user.is_active()));
    let schema = patch::Schema {
        attrs: USER_ATTRS,
        extension: Some(ENTERPRISE_ATTRS),
        urn: USER,
    };
    patch::apply(&mut current, &body, &schema)?;
    let a = account(&current)?;
    save(&state, &p, &before, a, "scim.user_patched").await
}

/// Deprovisions a person: the account is deactivated (its sessions end at once) and kept for
/// the audit trail; SCIM no longer sees it. Needs `scim:provision`.
#[utoipa::path(delete, path = "/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deprovisioned"),
              (status = 409, body = ScimErrorBody, description = "the last active Administrator")))]
async fn scim_delete_user(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
) -> Result<StatusCode, ScimError> {
    let before = load(&state, &id).await?;
    let n = before.user.id;
    let ended = set_active(&state, n, false, before.user.is_active()).await?;
    state.store.scim_delete_user(n).await?;
    p.audit(
        &state,
        "user",
        "scim.user_deleted",
        n,
        json!({ "sessions_ended": ended }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
