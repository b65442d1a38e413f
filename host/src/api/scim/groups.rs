//! `/scim/v2/Groups`: the provider's groups and their members (provisioned people only). A
//! person's groups decide their role by the single sign-on role rules (`auth::scim`), so each
//! change of membership — or of a group's name, which the rules match — recomputes the roles
//! of the people it touches.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schema::{self, GROUP, GROUP_ATTRS};
use super::users::{ScimList, ScimPatch};
use super::{
    base_url, meta, parse_id, patch, remap_roles, uniqueness, ListParams, ListQuery, Provisioner,
    Scim, ScimBody, ScimError, ScimErrorBody, ScimId,
};
use crate::api::AppState;
use crate::store::scim::{Condition, ScimGroupRow};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scim_list_groups, scim_create_group))
        .routes(routes!(
            scim_get_group,
            scim_replace_group,
            scim_patch_group,
            scim_delete_group
        ))
}

/// A Group resource (RFC 7643 §4.2).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Documents the body; the handlers work on JSON checked by `schema`.
pub struct ScimGroup {
    /// `urn:ietf:params:scim:schemas:core:2.0:Group`.
    schemas: Option<Vec<String>>,
    /// The platform's id (answered; ignored when sent).
    id: Option<String>,
    /// The provider's id of the group.
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    /// Unique, case-insensitive name.
    #[serde(rename = "displayName")]
    #[schema(min_length = 1, max_length = 1024, format = "line")]
    display_name: String,
    /// Members: `value` is a provisioned User's id.
    #[schema(value_type = Option<Vec<Object>>)]
    members: Option<Vec<Value>>,
    /// `resourceType`, `created`, `lastModified`, `location`, `version` (answered).
    #[schema(value_type = Option<Object>)]
    meta: Option<Value>,
}

fn resource(state: &AppState, g: &ScimGroupRow, members: bool) -> Value {
    let base = base_url(state);
    let id = g.id.to_string();
    let mut r = json!({
        "schemas": [GROUP],
        "id": id,
        "displayName": g.display_name,
        "meta": meta("Group", format!("{base}/Groups/{id}"), g.created_at, g.updated_at),
    });
    if let Some(e) = &g.external_id {
        r["externalId"] = json!(e);
    }
    if members {
        r["members"] = g
            .members
            .iter()
            .map(|(id, name)| {
                json!({
                    "value": id.to_string(),
                    "display": name,
                    "type": "User",
                    "$ref": format!("{base}/Users/{id}"),
                })
            })
            .collect();
    }
    r
}

async fn load(state: &AppState, id: &str, members: bool) -> Result<ScimGroupRow, ScimError> {
    let n = parse_id(id, "Group")?;
    match state.store.scim_group(n, members).await {
        Ok(g) => Ok(g),
        Err(StoreError::NotFound) => Err(ScimError::not_found("Group", id)),
        Err(e) => Err(e.into()),
    }
}

/// A checked group: name, external id, member ids.
struct Checked {
    display_name: String,
    external_id: Option<String>,
    members: Vec<i64>,
}

async fn check(state: &AppState, body: &Map<String, Value>) -> Result<Checked, ScimError> {
    schema::check_envelope(body, &[GROUP])?;
    let mut input = body.clone();
    input.retain(|k, _| {
        !["schemas", "id", "meta"]
            .iter()
            .any(|s| k.eq_ignore_ascii_case(s))
    });
    let r = schema::normalize(&input, GROUP_ATTRS, None)?;
    let display_name = r
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if display_name.is_empty() {
        return Err(ScimError::bad(
            "invalidValue",
            "`displayName` may not be blank".into(),
        ));
    }
    let mut members = Vec::new();
    for (i, m) in r
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if m["type"]
            .as_str()
            .is_some_and(|t| !t.eq_ignore_ascii_case("User"))
        {
            return Err(ScimError::bad(
                "invalidValue",
                format!("members[{i}]: only Users can be members (no nested groups)"),
            ));
        }
        let value = m["value"].as_str().unwrap_or("");
        let Some(id) = value.parse::<i64>().ok().filter(|id| *id > 0) else {
            return Err(ScimError::bad(
                "invalidValue",
                format!("members[{i}].value `{value}` is not the id of a provisioned User"),
            ));
        };
        if !members.contains(&id) {
            members.push(id);
        }
    }
    let known = state.store.scim_existing_users(&members).await?;
    if let Some(missing) = members.iter().find(|m| !known.contains(m)) {
        return Err(ScimError::bad(
            "invalidValue",
            format!("members: no provisioned User has the id `{missing}`"),
        ));
    }
    Ok(Checked {
        display_name,
        external_id: r
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        members,
    })
}

/// Lists groups. Filters: `displayName`, `externalId`, `id`, `members.value` /
/// `members[value eq "…"]` (`eq`, joined by `and`); `excludedAttributes=members` leaves the
/// members out. Needs `scim:provision`.
#[utoipa::path(get, path = "/Groups", tag = "scim", params(ListParams),
    responses((status = 200, body = ScimList, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidFilter`, or a malformed `startIndex`/`count`")))]
async fn scim_list_groups(
    State(state): State<AppState>,
    _p: Provisioner,
    q: ListQuery,
) -> Result<Scim, ScimError> {
    let conditions = q.conditions(
        GROUP,
        &["displayName", "externalId", "id", "members.value"],
        |name, v| match name {
            "displayName" => Condition::DisplayName(v.to_owned()),
            "externalId" => Condition::ExternalId(v.to_owned()),
            // Ids are positive integers: another value names nothing.
            "id" => Condition::Id(v.parse().unwrap_or(-1)),
            _ => Condition::Member(v.parse().unwrap_or(-1)),
        },
    )?;
    let (total, rows) = state
        .store
        .scim_list_groups(&conditions, q.offset, q.count, q.members)
        .await?;
    let resources = rows
        .iter()
        .map(|g| resource(&state, g, q.members))
        .collect();
    Ok(q.respond(total, resources))
}

/// Creates a group with its members; their roles are recomputed. Needs `scim:provision`.
#[utoipa::path(post, path = "/Groups", tag = "scim",
    request_body(content = ScimGroup, content_type = "application/scim+json"),
    responses((status = 201, body = ScimGroup, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidValue`, `invalidSyntax`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`: the displayName is taken")))]
async fn scim_create_group(
    State(state): State<AppState>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let c = check(&state, &body).await?;
    let id = state
        .store
        .scim_create_group(
            &c.display_name,
            c.external_id.as_deref(),
            &c.members,
            state.now(),
        )
        .await
        .map_err(uniqueness)?;
    remap_roles(&state, &p, &c.members).await?;
    p.audit(
        &state,
        "scim_group",
        "scim.group_created",
        id,
        json!({ "display_name": c.display_name, "members": c.members.len() }),
    )
    .await?;
    let g = state.store.scim_group(id, true).await?;
    Ok(Scim::created(resource(&state, &g, true)))
}

/// Reads a group (`excludedAttributes=members` leaves the members out). Needs `scim:provision`.
#[utoipa::path(get, path = "/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "Group id"), ListParams),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "A malformed query")))]
async fn scim_get_group(
    State(state): State<AppState>,
    _p: Provisioner,
    ScimId(id): ScimId,
    q: ListQuery,
) -> Result<Scim, ScimError> {
    let g = load(&state, &id, q.members).await?;
    Ok(Scim::ok(resource(&state, &g, q.members)))
}

/// Stores a checked group over `before` and recomputes the roles it touches.
async fn save(
    state: &AppState,
    p: &Provisioner,
    before: &ScimGroupRow,
    c: Checked,
    action: &'static str,
) -> Result<Scim, ScimError> {
    let old = state
        .store
        .scim_replace_group(
            before.id,
            &c.display_name,
            c.external_id.as_deref(),
            &c.members,
            state.now(),
        )
        .await
        .map_err(uniqueness)?;
    let added: Vec<i64> = c
        .members
        .iter()
        .filter(|m| !old.contains(m))
        .copied()
        .collect();
    let removed: Vec<i64> = old
        .iter()
        .filter(|m| !c.members.contains(m))
        .copied()
        .collect();
    let renamed = before.display_name != c.display_name || before.external_id != c.external_id;
    // The rules match names: a renamed group may change the role of every member.
    let touched: Vec<i64> = if renamed {
        old.iter().chain(&added).copied().collect()
    } else {
        added.iter().chain(&removed).copied().collect()
    };
    remap_roles(state, p, &touched).await?;
    p.audit(
        state,
        "scim_group",
        action,
        before.id,
        json!({ "added": added, "removed": removed, "renamed": renamed }),
    )
    .await?;
    let g = state.store.scim_group(before.id, true).await?;
    Ok(Scim::ok(resource(state, &g, true)))
}

/// Replaces a group: name, external id and the whole member list (PUT). Needs `scim:provision`.
#[utoipa::path(put, path = "/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "Group id")),
    request_body(content = ScimGroup, content_type = "application/scim+json"),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidValue`, `invalidSyntax`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`: the displayName is taken")))]
async fn scim_replace_group(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let before = load(&state, &id, false).await?;
    let c = check(&state, &body).await?;
    save(&state, &p, &before, c, "scim.group_replaced").await
}

/// Changes a group: rename, add and remove members (PATCH, with value filters such as
/// `members[value eq "…"]`). Needs `scim:provision`.
#[utoipa::path(patch, path = "/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "Group id")),
    request_body(content = ScimPatch, content_type = "application/scim+json"),
    responses((status = 200, body = ScimGroup, content_type = "application/scim+json"),
              (status = 400, body = ScimErrorBody, description = "`invalidPath`, `invalidValue`, `invalidSyntax`, `noTarget`"),
              (status = 409, body = ScimErrorBody, description = "`uniqueness`: the displayName is taken")))]
async fn scim_patch_group(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let before = load(&state, &id, true).await?;
    let mut current = Map::new();
    current.insert("displayName".into(), json!(before.display_name));
    if let Some(e) = &before.external_id {
        current.insert("externalId".into(), json!(e));
    }
    current.insert(
        "members".into(),
        before
            .members
            .iter()
            .map(|(id, _)| json!({ "value": id.to_string() }))
            .collect(),
    );
    let schema = patch::Schema {
        attrs: GROUP_ATTRS,
        extension: None,
        urn: GROUP,
    };
    patch::apply(&mut current, &body, &schema)?;
    let c = check(&state, &current).await?;
    save(&state, &p, &before, c, "scim.group_patched").await
}

/// Deletes a group; its members' roles are recomputed. Needs `scim:provision`.
#[utoipa::path(delete, path = "/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 204, description = "Deleted")))]
async fn scim_delete_group(
    State(state): State<AppState>,
    p: Provisioner,
    ScimId(id): ScimId,
) -> Result<StatusCode, ScimError> {
    let before = load(&state, &id, false).await?;
    let members = state.store.scim_delete_group(before.id).await?;
    remap_roles(&state, &p, &members).await?;
    p.audit(
        &state,
        "scim_group",
        "scim.group_deleted",
        before.id,
        json!({ "display_name": before.display_name, "members": members.len() }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
