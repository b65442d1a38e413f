//! What a connection looks like over the API ([`ConnectionView`]): its configuration, base URL
//! and service origins, and of its credential only the kind and, for the kinds whose session the
//! host obtains, that session's status — never the secret.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::api::connection_check::CheckResult;
use crate::api::connection_origins::{self as origins, OriginView};
use crate::api::error::ApiResult;
use crate::api::AppState;
use crate::store::connections::Connection;
use crate::store::StoreError;

/// What is known of a connection's credential: its kind, never the secret.
#[derive(Debug, Serialize, ToSchema)]
struct CredentialView {
    kind: String,
    /// For kinds with a host-kept session (OAuth, service account, form login): `pending`
    /// (none obtained yet; an `oauth2-authorization-code` connection needs `…/authorize`),
    /// `active`, `refused` (a person must re-authorize or replace it) or `failing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// Why the last renewal failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A connection's view with its credential's session status.
pub(super) async fn view(state: &AppState, c: Connection) -> ApiResult<ConnectionView> {
    let session = match c.secret_id {
        Some(id) if SESSION_KINDS.contains(&c.credential_kind.as_str()) => {
            Some(state.sessions.status(id).await.map_err(StoreError::from)?)
        }
        _ => None,
    };
    // Without the manifest (the plugin was uninstalled) the overrides alone are shown.
    let manifest = state.plugins.manifest(&c.plugin_id).await.ok();
    let origins = origins::view(manifest.as_ref(), &c);
    let mut view = ConnectionView::from(c);
    view.origins = origins;
    if let Some((status, detail)) = session {
        view.credential.status = Some(status);
        view.credential.detail = detail;
    }
    Ok(view)
}

/// Credential kinds whose session the host obtains and renews.
const SESSION_KINDS: &[&str] = &[
    "oauth2-authorization-code",
    "oauth2-client-credentials",
    "google-service-account",
    "form-login",
];

/// A connection.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConnectionView {
    id: i64,
    project_id: i64,
    plugin_id: String,
    name: String,
    /// Non-secret configuration, valid against the plugin's config schema.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    /// Every request of the plugin stays under this URL.
    base_url: String,
    /// Whether the plugin may reach private and loopback addresses.
    allow_private_network: bool,
    /// The service origins the plugin declares besides the base URL (`[origins]` of its
    /// manifest), by name, at the connection's override or the manifest's URL: requests under
    /// them are let through with the credential, as under the base URL.
    origins: BTreeMap<String, OriginView>,
    credential: CredentialView,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// The connector's `check`, run before saving: on creation and when the credential changed
    /// (absent with `?check=false`, and for `oauth2-authorization-code` until it is authorized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) check: Option<CheckResult>,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id,
            project_id: c.project_id,
            plugin_id: c.plugin_id,
            name: c.name,
            config: serde_json::from_str(&c.config).unwrap_or_default(),
            base_url: c.base_url,
            allow_private_network: c.allow_private_network,
            origins: BTreeMap::new(),
            credential: CredentialView {
                kind: c.credential_kind,
                status: None,
                detail: None,
            },
            created_at: c.created_at.to_datetime(),
            updated_at: c.updated_at.to_datetime(),
            check: None,
        }
    }
}
