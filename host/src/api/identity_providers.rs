//! Administering single sign-on's identity providers: their client secrets in the vault.
//!
//! A provider configured with `client_secret_vault = true` reads its client secret from the
//! vault at every sign-in (`auth::oidc::secret`); an administrator puts it there here (or with
//! `agentic oidc set-secret`). Setting it again replaces it: rotating the secret at the provider
//! needs no restart. The permission is checked before the body is read; the secret is never
//! returned, logged or audited.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, Checks, Validate};
use super::oidc::ProviderPath;
use super::AppState;
use crate::auth::oidc::secret;
use crate::auth::{ClientInfo, Principal};
use crate::rbac::Permission;
use crate::store::audit::NewAuditEntry;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(oidc_set_client_secret))
}

/// A new client secret for a provider.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetClientSecret {
    /// The client secret the provider issued for this host's client (one line of text; never
    /// returned).
    #[schema(min_length = 1, max_length = 4096, write_only)]
    client_secret: String,
}

impl Validate for SetClientSecret {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut checks = Checks::default();
        if let Some(why) = secret::problem(&self.client_secret) {
            checks.push("client_secret", why);
        }
        checks.finish()
    }
}

/// What was stored (never the secret).
#[derive(Debug, Serialize, ToSchema)]
struct ClientSecretSet {
    /// The provider.
    provider: String,
    /// Whether a secret set before was replaced (rotation).
    replaced: bool,
    /// Whether the provider's configuration takes its secret from the vault
    /// (`client_secret_vault = true`); if not, the secret waits there until it does.
    in_use: bool,
}

/// Sets (or replaces) a provider's client secret in the vault, where a provider configured with
/// `client_secret_vault = true` reads it at every sign-in. Needs `identity_providers:manage`;
/// the secret is never returned, logged or audited.
#[utoipa::path(put, path = "/auth/oidc/{provider}/client-secret", tag = "auth",
    params(ProviderPath), request_body = SetClientSecret,
    responses((status = 200, body = ClientSecretSet)))]
async fn oidc_set_client_secret(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<ProviderPath>,
    body: ApiJson<SetClientSecret>,
) -> ApiResult<Json<ClientSecretSet>> {
    who.require(Permission::IdentityProvidersManage)?;
    let in_use = state
        .auth
        .oidc()
        .provider_config(&path.provider)?
        .client_secret_vault;
    let body = body.parse().await?;
    let now = state.now();
    let replaced = secret::set(
        &state.store,
        &state.vault,
        &path.provider,
        &body.client_secret,
        now,
    )
    .await?;
    let entry = NewAuditEntry {
        actor_id: Some(who.user.id),
        action: "identity_provider.client_secret_set",
        target_type: Some("identity_provider"),
        target_id: Some(path.provider.clone()),
        ip: client.ip.clone(),
        detail: serde_json::json!({"replaced": replaced, "in_use": in_use, "via": "api"}),
    };
    state.store.append_audit(entry, now).await?;
    Ok(Json(ClientSecretSet {
        provider: path.provider,
        replaced,
        in_use,
    }))
}
