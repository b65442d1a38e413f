//! Who a verified sign-in is here: just-in-time provisioning, linking and the role.
//!
//! A provider's account is linked to a person only by the provider's stable `(issuer, subject)`.
//! A first sign-in (no link yet) is linked:
//! - to the account SCIM provisioned with the `externalId` that the provider's `scim_link_claim`
//!   of the verified token holds (Entra ID's `oid`, Okta's `sub`): the provider said who the
//!   person is when it provisioned them, so no e-mail address is trusted. Only accounts SCIM
//!   created (never one made by hand, such as the break-glass administrator), only one not yet
//!   linked to another subject of the same issuer, and never when two share the `externalId`;
//! - else, when its e-mail belongs to an existing account, to that account only when the provider
//!   is configured with `link_verified_email` and says the address is verified; otherwise it is
//!   refused, so a provider that lets people pick any address cannot be used to enter someone
//!   else's account. A new person is created without a password (they sign in
//! through the provider only). The role is evaluated from the rules at every sign-in, so a person
//! removed from a group loses the role at their next sign-in — except, with the provider's
//! `role_source = "scim"`, for people SCIM provisioned: they keep the role their SCIM groups
//! gave them (the provider's tokens may not carry those groups at all).

use serde_json::Value;

use super::config::{ProviderConfig, RoleSource};
use super::mapping::{self, Refusal};
use super::Verified;
use crate::clock::Millis;
use crate::rbac::Role;
use crate::store::audit::NewAuditEntry;
use crate::store::users::{NewUser, User, UserChanges, UserKind};
use crate::store::{Store, StoreError};

/// Why a verified person cannot sign in.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// The rules refuse them.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The linked account is deactivated.
    #[error("this account is deactivated")]
    Deactivated,
    /// An account with the same e-mail exists and linking by e-mail is not allowed.
    #[error(
        "an account with this e-mail address already exists and is not linked to this identity \
         provider; an administrator can allow linking verified e-mail addresses"
    )]
    EmailTaken,
    /// Two provisioned accounts carry the `externalId` the token names.
    #[error(
        "several provisioned accounts have this person's externalId; an administrator must make \
         it unique before this person can sign in"
    )]
    ScimLinkAmbiguous,
    /// The provisioned account with the token's `externalId` is linked to another subject.
    #[error(
        "the provisioned account with this person's externalId is already linked to another \
         account of this identity provider"
    )]
    ScimLinkTaken,
    /// The role change would remove the last active administrator.
    #[error("{}", StoreError::LastAdministrator)]
    LastAdministrator,
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PeopleError {
    fn from(e: StoreError) -> Self {
        PeopleError::Store(e)
    }
}

/// The name to show: `name`, else `preferred_username`, else the e-mail, else the subject.
fn display_name(claims: &Value, email: Option<&str>, subject: &str) -> String {
    let name = ["name", "preferred_username"]
        .iter()
        .filter_map(|c| claims.get(c).and_then(Value::as_str))
        .map(str::trim)
        .find(|n| !n.is_empty())
        .or(email)
        .unwrap_or(subject);
    name.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The SCIM-provisioned account named by the provider's `scim_link_claim`, when it is configured,
/// the claim is a non-empty string, and exactly one provisioned account has it as `externalId`.
async fn provisioned_account(
    store: &Store,
    config: &ProviderConfig,
    verified: &Verified,
) -> Result<Option<User>, PeopleError> {
    let Some(path) = config.scim_link_claim.as_deref() else {
        return Ok(None);
    };
    let Some(external_id) = mapping::claim_at(&verified.claims, path)
        .and_then(Value::as_str)
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let found = store
        .scim_users_by_external_id(external_id, &verified.issuer)
        .await?;
    match found.as_slice() {
        [] => Ok(None),
        [(user, false)] => Ok(Some(user.clone())),
        [(_, true)] => Err(PeopleError::ScimLinkTaken),
        _ => Err(PeopleError::ScimLinkAmbiguous),
    }
}

/// The person for a verified sign-in, created or updated (role, name) as the rules say.
pub async fn resolve(
    store: &Store,
    provider: &str,
    config: &ProviderConfig,
    verified: &Verified,
    ip: Option<String>,
    now: Millis,
) -> Result<User, PeopleError> {
    let email = mapping::admit(config, &verified.claims)?;
    // The token's role; a refusal (no rule matches) only counts where the token decides.
    let token_role = mapping::role_for(config, &verified.claims);
    let role_of = |user: Option<&User>, provisioned: bool| -> Result<Role, PeopleError> {
        match user {
            Some(user) if provisioned && config.role_source == RoleSource::Scim => Ok(user.role),
            _ => Ok(token_role.clone()?),
        }
    };
    let email_ref = email.as_ref().map(|(e, _)| e.as_str());
    let name = display_name(&verified.claims, email_ref, &verified.subject);
    let audit = |action: &'static str, user: i64, detail: Value| NewAuditEntry {
        actor_id: Some(user),
        action,
        target_type: Some("user"),
        target_id: Some(user.to_string()),
        ip: ip.clone(),
        detail,
    };

    let linked = store
        .user_by_oidc_identity(&verified.issuer, &verified.subject)
        .await?;
    let user = match linked {
        Some(user) => user,
        None => {
            let provisioned = provisioned_account(store, config, verified).await?;
            if let Some(user) = &provisioned {
                // Before the link is made: a refused sign-in links nobody.
                role_of(Some(user), true)?;
            }
            let existing = match (&provisioned, email_ref) {
                (Some(_), _) | (None, None) => None,
                (None, Some(e)) => store.user_for_login(e).await?.map(|(u, _)| u),
            };
            let user = match (provisioned, existing) {
                (Some(user), _) => {
                    let detail = serde_json::json!({"provider": provider,
                        "by": "scim_external_id", "claim": config.scim_link_claim});
                    store
                        .append_audit(audit("user.sso_linked", user.id, detail), now)
                        .await?;
                    user
                }
                (None, Some(user)) => {
                    let verified_email = email.as_ref().is_some_and(|(_, v)| *v);
                    if !(config.link_verified_email && verified_email) {
                        return Err(PeopleError::EmailTaken);
                    }
                    role_of(Some(&user), store.is_scim_provisioned(user.id).await?)?;
                    store
                        .append_audit(
                            audit(
                                "user.sso_linked",
                                user.id,
                                serde_json::json!({"provider": provider, "by": "verified_email"}),
                            ),
                            now,
                        )
                        .await?;
                    user
                }
                (None, None) => {
                    let role = token_role.clone()?;
                    let user = store
                        .create_user(
                            NewUser {
                                kind: UserKind::Human,
                                email: email_ref,
                                display_name: &name,
                                password_hash: None,
                                role,
                            },
                            now,
                        )
                        .await
                        .map_err(|e| match e {
                            StoreError::EmailTaken => PeopleError::EmailTaken,
                            other => other.into(),
                        })?;
                    store
                        .append_audit(
                            audit(
                                "user.provisioned",
                                user.id,
                                serde_json::json!({"provider": provider, "role": role.as_str()}),
                            ),
                            now,
                        )
                        .await?;
                    user
                }
            };
            store
                .link_oidc_identity(&verified.issuer, &verified.subject, user.id, provider, now)
                .await?;
            user
        }
    };
    if !user.is_active() {
        return Err(PeopleError::Deactivated);
    }
    store
        .link_oidc_identity(&verified.issuer, &verified.subject, user.id, provider, now)
        .await?;
    let provisioned =
        config.role_source == RoleSource::Scim && store.is_scim_provisioned(user.id).await?;
    let role = role_of(Some(&user), provisioned)?;
    if user.role == role && user.display_name == name {
        return Ok(user);
    }
    let before: Role = user.role;
    let changes = UserChanges {
        role: Some(role),
        display_name: Some(name),
        ..Default::default()
    };
    let updated = store
        .update_user(user.id, changes, now)
        .await
        .map_err(|e| match e {
            StoreError::LastAdministrator => PeopleError::LastAdministrator,
            other => other.into(),
        })?;
    if before != role {
        store
            .append_audit(
                audit(
                    "user.role_mapped",
                    user.id,
                    serde_json::json!({"provider": provider, "from": before.as_str(), "to": role.as_str()}),
                ),
                now,
            )
            .await?;
    }
    Ok(updated)
}
