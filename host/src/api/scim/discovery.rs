//! What the service provider says about itself (RFC 7644 §4): `ServiceProviderConfig`,
//! `ResourceTypes` and `Schemas`. Entra ID and Okta read none of them today, but other
//! clients (and people setting a client up) do; they state exactly what the other modules do.

use axum::extract::State;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schema::{self, ENTERPRISE, GROUP, USER};
use super::users::ScimList;
use super::{base_url, Provisioner, Scim, ScimError, ScimId, MAX_RESULTS};
use crate::api::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scim_service_provider_config))
        .routes(routes!(scim_resource_types))
        .routes(routes!(scim_resource_type))
        .routes(routes!(scim_schemas))
        .routes(routes!(scim_schema))
}

fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person's account",
            "schema": USER,
            "schemaExtensions": [{ "schema": ENTERPRISE, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of people; groups give roles by the role rules",
            "schema": GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

fn list(items: Vec<Value>) -> Scim {
    Scim::ok(json!({
        "schemas": [super::LIST],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    }))
}

/// What this service provider supports. Needs `scim:provision`.
#[utoipa::path(get, path = "/ServiceProviderConfig", tag = "scim",
    responses((status = 200, content_type = "application/scim+json", description = "The configuration")))]
async fn scim_service_provider_config(
    State(state): State<AppState>,
    _p: Provisioner,
) -> Result<Scim, ScimError> {
    let base = base_url(&state);
    Ok(Scim::ok(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "docs/IDENTITY.md#provisioning-with-scim-20",
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": false },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "API key",
            "description": "A service account's API key (agk_…) with the scim:provision scope, sent as a bearer token",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })))
}

/// The resource types: User (with the enterprise extension) and Group. Needs `scim:provision`.
#[utoipa::path(get, path = "/ResourceTypes", tag = "scim",
    responses((status = 200, body = ScimList, content_type = "application/scim+json")))]
async fn scim_resource_types(
    State(state): State<AppState>,
    _p: Provisioner,
) -> Result<Scim, ScimError> {
    Ok(list(resource_types(&base_url(&state))))
}

/// One resource type (`User`, `Group`). Needs `scim:provision`.
#[utoipa::path(get, path = "/ResourceTypes/{id}", tag = "scim",
    params(("id" = String, Path, description = "`User` or `Group`")),
    responses((status = 200, content_type = "application/scim+json", description = "The resource type")))]
async fn scim_resource_type(
    State(state): State<AppState>,
    _p: Provisioner,
    ScimId(id): ScimId,
) -> Result<Scim, ScimError> {
    resource_types(&base_url(&state))
        .into_iter()
        .find(|t| t["id"] == json!(id))
        .map(Scim::ok)
        .ok_or_else(|| ScimError::not_found("ResourceType", &id))
}

/// The schemas: core User, enterprise User extension, core Group, with every attribute this
/// service provider keeps. Needs `scim:provision`.
#[utoipa::path(get, path = "/Schemas", tag = "scim",
    responses((status = 200, body = ScimList, content_type = "application/scim+json")))]
async fn scim_schemas(State(state): State<AppState>, _p: Provisioner) -> Result<Scim, ScimError> {
    Ok(list(schema::schemas(&base_url(&state))))
}

/// One schema, by its URN. Needs `scim:provision`.
#[utoipa::path(get, path = "/Schemas/{id}", tag = "scim",
    params(("id" = String, Path, description = "The schema's URN")),
    responses((status = 200, content_type = "application/scim+json", description = "The schema")))]
async fn scim_schema(
    State(state): State<AppState>,
    _p: Provisioner,
    ScimId(id): ScimId,
) -> Result<Scim, ScimError> {
    schema::schemas(&base_url(&state))
        .into_iter()
        .find(|s| s["id"] == json!(id))
        .map(Scim::ok)
        .ok_or_else(|| ScimError::not_found("Schema", &id))
}
