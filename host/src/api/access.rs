//! Function-level and object-level access checks, used by every handler, and the one rule for
//! handing out access: nobody grants what it does not hold ([`Principal::require_grant`]).

use super::error::{ApiError, ApiResult};
use crate::auth::Principal;
use crate::rbac::{Permission, Role};
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

/// Access a request would hand out, checked by [`Principal::require_grant`].
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// A role: given to a new or changed account, or held by an account the request takes over
    /// or changes (a password reset hands the caller everything the account's role grants).
    Role(Role),
    /// The scopes of a new API key.
    Scopes(&'a [Permission]),
}

impl Grant<'_> {
    fn permissions(&self) -> Vec<Permission> {
        match self {
            Grant::Role(role) => role.permissions().collect(),
            Grant::Scopes(scopes) => scopes.to_vec(),
        }
    }
}

fn ticked(permissions: &[Permission]) -> String {
    permissions
        .iter()
        .map(|p| format!("`{}`", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Principal {
    /// Fails with 403 unless the caller itself holds every permission `grant` carries.
    ///
    /// Every place that creates, widens or assigns a role or scopes asks this, so no person,
    /// service account or API key can give (itself or anyone) more than it has: an
    /// Administrator's key narrowed to `service_accounts:manage` cannot mint a key with
    /// `audit:read`, and only a full Administrator may create an Administrator or reset one's
    /// password. `what` names the action for the problem's detail ("creating an account with
    /// the Administrator role"); the detail lists what the caller lacks.
    pub fn require_grant(&self, grant: Grant<'_>, what: &str) -> ApiResult<()> {
        let wanted = grant.permissions();
        let (by_role, by_scope): (Vec<Permission>, Vec<Permission>) = wanted
            .into_iter()
            .filter(|p| !self.can(*p))
            .partition(|p| !self.user.role.grants(*p));
        if by_role.is_empty() && by_scope.is_empty() {
            return Ok(());
        }
        let mut lacks = Vec::new();
        if !by_role.is_empty() {
            lacks.push(format!(
                "the {} role lacks {}",
                self.user.role.title(),
                ticked(&by_role)
            ));
        }
        if !by_scope.is_empty() {
            lacks.push(format!("this API key lacks {}", ticked(&by_scope)));
        }
        Err(ApiError::Forbidden(format!(
            "{what} needs every permission it hands out, and {}",
            lacks.join("; ")
        )))
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
