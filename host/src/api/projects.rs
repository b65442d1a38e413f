use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
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
use crate::ids::{ProjectId, UserId};
use crate::rbac::{Permission, Role};
use crate::store::projects::{Member, Project, ProjectChanges};
use crate::store::StoreError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(list_members))
        .routes(routes!(add_member, remove_member))
}

/// A project, in the seed's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Owning user.
    pub owner_id: i64,
    /// Creation time (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            owner_id: p.owner_id,
            created_at: p.created_at.to_datetime(),
        }
    }
}

/// A new project.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProject {
    /// Name (1–200 characters).
    #[schema(min_length = 1, max_length = 200, format = "line")]
    name: String,
    /// Description (up to 10 000 characters).
    #[serde(default)]
    #[schema(max_length = 10000, format = "text")]
    description: String,
    /// Owning user (an active account); defaults to the caller. Owner and caller become members.
    #[schema(minimum = 1)]
    owner_id: Option<i64>,
}

impl Validate for CreateProject {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 200)
            .text("description", &self.description, 0, 10_000);
        if let Some(owner) = self.owner_id {
            c.id("owner_id", owner);
        }
        c.finish()
    }
}

/// Changes to a project; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateProject {
    /// New name.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 200, format = "line", nullable = false)]
    name: Option<String>,
    /// New description.
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 10000, format = "text", nullable = false)]
    description: Option<String>,
    /// New owner (an active account; becomes a member).
    #[serde(default, deserialize_with = "present")]
    #[schema(minimum = 1, nullable = false)]
    owner_id: Option<i64>,
}

impl Validate for UpdateProject {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        if let Some(name) = &self.name {
            c.line("name", name, 1, 200);
        }
        if let Some(d) = &self.description {
            c.text("description", d, 0, 10_000);
        }
        if let Some(owner) = self.owner_id {
            c.id("owner_id", owner);
        }
        c.check(
            self.name.is_some() || self.description.is_some() || self.owner_id.is_some(),
            "",
            "give at least one of name, description, owner_id",
        );
        c.finish()
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListProjects {
    /// Case-insensitive substring of the project name.
    #[param(max_length = 200)]
    name: Option<String>,
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Checks that `owner_id` names an active account.
async fn active_owner(state: &AppState, owner_id: i64) -> ApiResult<()> {
    match state.store.get_user(owner_id).await {
        Ok(u) if u.is_active() => Ok(()),
        Ok(_) | Err(StoreError::NotFound) => {
            Err(ApiError::field("owner_id", "no active user has this id"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Lists the projects the caller belongs to (Administrators: all). Needs `projects:read`.
#[utoipa::path(get, path = "/projects", tag = "projects", params(ListProjects),
    responses((status = 200, body = Paginated<ProjectView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_projects(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<ListProjects>,
) -> ApiResult<Json<Paginated<ProjectView>>> {
    who.require(Permission::ProjectsRead)?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    if q.name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::field("name", "must be at most 200 characters"));
    }
    let member = (!who.user.role.sees_all_projects()).then_some(who.user.id);
    let page = state
        .store
        .list_projects(member, q.name.as_deref(), after, limit)
        .await?;
    Ok(Json(Paginated::from_page(page, ProjectView::from)))
}

/// Creates a project. Needs `projects:create` (Administrator, Project Manager).
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_project(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    who.require(Permission::ProjectsCreate)?;
    let body = body.parse().await?;
    let owner_id = body.owner_id.unwrap_or(who.user.id);
    active_owner(&state, owner_id).await?;
    let project = state
        .store
        .create_project(
            body.name.trim(),
            &body.description,
            owner_id,
            who.user.id,
            state.now(),
        )
        .await?;
    record(
        &state,
        &who,
        &client,
        "project",
        "project.created",
        project.id,
        serde_json::json!({ "name": project.name, "owner_id": owner_id }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

/// Reads a project the caller belongs to. Needs `projects:read`.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectView), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn get_project(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(
        access::project(&state.store, &who, id, Permission::ProjectsRead)
            .await?
            .into(),
    ))
}

/// Changes a project. Needs `projects:update` and membership (Administrators: any project).
#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    request_body = UpdateProject,
    responses((status = 200, body = ProjectView), (status = 404, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn update_project(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<UpdateProject>,
) -> ApiResult<Json<ProjectView>> {
    let before = access::project(&state.store, &who, id, Permission::ProjectsUpdate).await?;
    let body = body.parse().await?;
    if let Some(owner) = body.owner_id {
        active_owner(&state, owner).await?;
    }
    let changes = ProjectChanges {
        name: body.name.map(|n| n.trim().to_owned()),
        description: body.description,
        owner_id: body.owner_id,
    };
    let project = state
        .store
        .update_project(id, changes, who.user.id, state.now())
        .await?;
    let detail = serde_json::json!({
        "name": (before.name != project.name).then(|| serde_json::json!({ "from": before.name, "to": project.name })),
        "owner_id": (before.owner_id != project.owner_id).then(|| serde_json::json!({ "from": before.owner_id, "to": project.owner_id })),
        "description_changed": before.description != project.description,
    });
    record(
        &state,
        &who,
        &client,
        "project",
        "project.updated",
        id,
        detail,
    )
    .await?;
    Ok(Json(project.into()))
}

/// Deletes a project and its memberships. Needs `projects:delete`; a Project Manager may delete
/// only projects they own.
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", params(("id" = i64, Path, description = "Project id")),
    responses((status = 204), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn delete_project(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let project = access::project(&state.store, &who, id, Permission::ProjectsDelete).await?;
    if who.user.role != Role::Administrator && project.owner_id != who.user.id {
        return Err(ApiError::Forbidden(
            "only the project's owner or an Administrator may delete it".into(),
        ));
    }
    // The project's connections go with it (cascade); their secrets must not stay behind.
    let mut secrets: Vec<i64> = state
        .store
        .list_connections(id)
        .await?
        .into_iter()
        .filter_map(|c| c.secret_id)
        .collect();
    secrets.extend(state.store.flow_verifiers(id, None).await?);
    // So must document bytes kept outside the database (those inside go with their rows).
    let blobs = state.store.project_external_blobs(id).await?;
    state.store.delete_project(id).await?;
    for (store, key) in &blobs {
        let deleted = match state.blobs.store(store) {
            Ok(s) => s.delete(key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::warn!(error = %e, store, key, "could not delete a deleted project's document bytes");
        }
    }
    for secret in &secrets {
        state.vault.delete(*secret).await?;
    }
    record(
        &state,
        &who,
        &client,
        "project",
        "project.deleted",
        id,
        serde_json::json!({ "name": project.name }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// User id.
    pub user_id: i64,
    /// E-mail (`null` for service accounts).
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// The member's role.
    pub role: Role,
    /// `human` or `service`.
    pub kind: &'static str,
    /// When they were added.
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user.id,
            kind: m.user.kind.as_str(),
            email: m.user.email,
            display_name: m.user.display_name,
            role: m.user.role,
            added_at: m.added_at.to_datetime(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListMembers {
    /// Cursor from the previous page.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists a project's members. Needs `members:read` and membership.
#[utoipa::path(get, path = "/projects/{id}/members", tag = "projects",
    params(("id" = i64, Path, description = "Project id"), ListMembers),
    responses((status = 200, body = Paginated<MemberView>), (status = 404, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
    query: ApiQuery<ListMembers>,
) -> ApiResult<Json<Paginated<MemberView>>> {
    access::project(&state.store, &who, id, Permission::MembersRead).await?;
    let q = query.parse()?;
    let (after, limit) = window(q.cursor.as_deref(), q.limit)?;
    let page = state.store.list_members(id, after, limit).await?;
    Ok(Json(Paginated::from_page(page, MemberView::from)))
}

/// Adds a user (person or service account) to a project; 201 when added, 200 when already a
/// member. Needs `members:manage` and membership.
#[utoipa::path(put, path = "/projects/{id}/members/{user_id}", tag = "projects",
    params(("id" = i64, Path, description = "Project id"), ("user_id" = i64, Path, description = "User id")),
    responses((status = 201, body = MemberView), (status = 200, body = MemberView), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn add_member(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    access::project(&state.store, &who, id, Permission::MembersManage).await?;
    match state.store.get_user(user_id).await {
        Ok(u) if u.is_active() => {}
        Ok(_) => return Err(ApiError::field("user_id", "the user is deactivated")),
        Err(StoreError::NotFound) => return Err(ApiError::not_found("user")),
        Err(e) => return Err(e.into()),
    }
    let added = state
        .store
        .add_member(
            ProjectId(id),
            UserId(user_id),
            UserId(who.user.id),
            state.now(),
        )
        .await?;
    if added {
        record(
            &state,
            &who,
            &client,
            "project",
            "member.added",
            id,
            serde_json::json!({ "user_id": user_id }),
        )
        .await?;
    }
    let member = find_member(&state, id, user_id).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(member.into())))
}

async fn find_member(state: &AppState, project_id: i64, user_id: i64) -> ApiResult<Member> {
    let page = state.store.list_members(project_id, user_id - 1, 1).await?;
    page.items
        .into_iter()
        .find(|m| m.user.id == user_id)
        .ok_or_else(|| ApiError::not_found("member"))
}

/// Removes a member. The owner cannot be removed (transfer ownership first). Needs
/// `members:manage` and membership.
#[utoipa::path(delete, path = "/projects/{id}/members/{user_id}", tag = "projects",
    params(("id" = i64, Path, description = "Project id"), ("user_id" = i64, Path, description = "User id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let project = access::project(&state.store, &who, id, Permission::MembersManage).await?;
    if project.owner_id == user_id {
        return Err(ApiError::Conflict(
            "the owner cannot be removed; transfer ownership first".into(),
        ));
    }
    if !state.store.remove_member(id, user_id).await? {
        return Err(ApiError::not_found("member"));
    }
    record(
        &state,
        &who,
        &client,
        "project",
        "member.removed",
        id,
        serde_json::json!({ "user_id": user_id }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
