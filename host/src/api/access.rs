//! Function-level and object-level access checks, used by every handler.

use super::error::{ApiError, ApiResult};
use crate::auth::Principal;
use crate::rbac::Permission;
use crate::store::projects::Project;
use crate::store::{Store, StoreError};

impl Principal {
    /// Fails with 403 unless the caller's role (and key scopes) grant `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.can(permission) {
            Ok(())
        } else if self.user.role.grants(permission) {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the `{}` scope",
                permission.as_str()
            )))
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role does not have the `{}` permission",
                self.user.role.title(),
                permission.as_str()
            )))
        }
    }
}

/// Loads a project the caller holds `permission` on. A project that does not exist and one the
/// caller is not a member of both answer 404, so project ids cannot be probed.
pub async fn project(
    store: &Store,
    who: &Principal,
    id: i64,
    permission: Permission,
) -> ApiResult<Project> {
    let visible = if who.user.role.sees_all_projects() {
        true
    } else {
        store.is_member(id, who.user.id).await?
    };
    if !visible {
        return Err(ApiError::not_found("project"));
    }
    let project = store.get_project(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("project"),
        other => other.into(),
    })?;
    who.require(permission)?;
    Ok(project)
}
