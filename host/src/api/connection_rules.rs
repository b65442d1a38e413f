//! The rules a connection must meet to be saved, on creation and on change: the plugin
//! installed, a connector and enabled in the project, the config valid against its schema, the
//! credential of a kind it accepts and sent only over https, the base URL allowed by its
//! manifest and not aimed at link-local or metadata addresses, private networks only by an
//! Administrator's choice.

use super::error::{ApiError, ApiResult};
use super::extract::Checks;
use super::plugins::validate_config;
use super::AppState;
use crate::auth::Principal;
use crate::plugins::egress::base_url_refusal;
use crate::plugins::package::Manifest;
use crate::plugins::EgressPolicy;
use crate::rbac::Role;
use crate::store::StoreError;
use crate::vault::credentials::CredentialInput;

/// Every problem of `credential` for `base_url`, pushed as field errors.
pub(super) fn credential_problems(
    credential: &CredentialInput,
    base_url: &str,
    allow_private: bool,
    c: &mut Checks,
) {
    for (field, message) in credential.problems(base_url, allow_private) {
        c.push(&field, message);
    }
}

/// The manifest of a plugin a connection may use in this project, with the rules a connection
/// must meet checked: installed and a connector, not an agent package (422), enabled here
/// (409), the config, credential kind and base URL acceptable to it and not on a link-local
/// or metadata address (422 with the field).
pub(super) async fn admit(
    state: &AppState,
    project: i64,
    plugin_id: &str,
    config: &serde_json::Value,
    kind: &str,
    base_url: &str,
) -> ApiResult<Manifest> {
    let manifest = state
        .plugins
        .manifest(plugin_id)
        .await
        .map_err(|e| match e {
            crate::plugins::registry::RegistryError::NotFound(_) => {
                ApiError::field("plugin_id", "no installed plugin has this id")
            }
            e @ crate::plugins::registry::RegistryError::WrongType { .. } => ApiError::field(
                "plugin_id",
                format!("{e}: a connection uses a connector plugin; an agent package is deployed as an agent"),
            ),
            other => other.into(),
        })?;
    if !state.store.plugin_enabled(project, plugin_id).await? {
        return Err(ApiError::Conflict(format!(
            "plugin {plugin_id} is not enabled in this project"
        )));
    }
    validate_config(&manifest, config)?;
    if !manifest.auth_kinds.iter().any(|k| k == kind) {
        return Err(ApiError::field(
            "credential.kind",
            format!(
                "plugin {plugin_id} works with {}, not {kind}",
                manifest.auth_kinds.join(", ")
            ),
        ));
    }
    EgressPolicy::new(&manifest.allowed_hosts, base_url)
        .map_err(|e| ApiError::field("base_url", e.to_string()))?;
    // Link-local and cloud-metadata addresses are refused on every request even where private
    // ones are allowed; a connection aimed at one is refused here, where someone can fix it.
    if let Some(why) = base_url_refusal(base_url) {
        return Err(ApiError::field("base_url", why));
    }
    Ok(manifest)
}

/// Credentials travel only over https, except to private networks an Administrator allowed.
pub(super) fn credential_transport(
    kind: &str,
    base_url: &str,
    allow_private: bool,
) -> ApiResult<()> {
    if kind != "anonymous" && !allow_private && !base_url.starts_with("https://") {
        return Err(ApiError::field(
            "base_url",
            "a connection with a credential must use https (credentials are never sent in clear text)",
        ));
    }
    Ok(())
}

/// Only an Administrator may let a connection reach private and loopback addresses (403).
pub(super) fn private_network_allowed(who: &Principal, wanted: bool) -> ApiResult<()> {
    if wanted && who.user.role != Role::Administrator {
        return Err(ApiError::Forbidden(
            "only an Administrator may allow a connection to reach private addresses".into(),
        ));
    }
    Ok(())
}

/// A connection's name is unique in its project: a duplicate is 409.
pub(super) fn conflict_on_name(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { .. } => {
            ApiError::Conflict("a connection with this name exists in the project".into())
        }
        other => other.into(),
    }
}
