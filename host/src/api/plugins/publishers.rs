//! Trusted publishers: the keys whose signatures make a plugin package installable. Managed
//! by administrators (`plugins:manage`); a key stays while plugins it signed are installed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::actor;
use crate::api::error::{ApiResult, FieldError};
use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Checks, NoQuery, Validate};
use crate::api::{AppState, Problem};
use crate::auth::{ClientInfo, Principal};
use crate::rbac::Permission;
use crate::store::plugins::Publisher;

/// A trusted publisher key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PublisherView {
    id: i64,
    name: String,
    /// `ed25519:<base64>`.
    public_key: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<Publisher> for PublisherView {
    fn from(p: Publisher) -> Self {
        Self {
            id: p.id,
            name: p.name,
            public_key: p.public_key,
            created_at: p.created_at.to_datetime(),
        }
    }
}

/// A publisher key to trust.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TrustPublisher {
    /// Who they are (1–100 characters).
    #[schema(min_length = 1, max_length = 100, format = "line")]
    name: String,
    /// Their public key, `ed25519:<base64 of 32 bytes>` as `agentic plugin keygen` prints it.
    #[schema(pattern = "^ed25519:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    public_key: String,
}

impl Validate for TrustPublisher {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Checks::default();
        c.line("name", &self.name, 1, 100);
        c.check(
            self.public_key.trim() == self.public_key
                && crate::plugins::package::PublicKey::parse(&self.public_key).is_ok(),
            "public_key",
            "must look like ed25519:<base64 of 32 bytes>",
        );
        c.finish()
    }
}

/// Lists trusted publisher keys. Needs `plugins:manage`.
#[utoipa::path(get, path = "/plugin-publishers", tag = "plugins",
    responses((status = 200, body = Vec<PublisherView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_publishers(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<Vec<PublisherView>>> {
    who.require(Permission::PluginsManage)?;
    query.parse()?;
    let publishers = state.store.list_publishers().await?;
    Ok(Json(publishers.into_iter().map(Into::into).collect()))
}

/// Trusts a publisher key: packages it signs may be installed. Needs `plugins:manage`.
#[utoipa::path(post, path = "/plugin-publishers", tag = "plugins", request_body = TrustPublisher,
    responses((status = 201, body = PublisherView), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn trust_publisher(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    body: ApiJson<TrustPublisher>,
) -> ApiResult<(StatusCode, Json<PublisherView>)> {
    who.require(Permission::PluginsManage)?;
    let body = body.parse().await?;
    let publisher = state
        .plugins
        .trust(&actor(&who, &client), body.name.trim(), &body.public_key)
        .await?;
    Ok((StatusCode::CREATED, Json(publisher.into())))
}

#[derive(Debug, Deserialize)]
pub(super) struct PublisherPath {
    id: i64,
}

/// Stops trusting a publisher key (409 while plugins it signed are installed). Needs
/// `plugins:manage`.
#[utoipa::path(delete, path = "/plugin-publishers/{id}", tag = "plugins", params(("id" = i64, Path, description = "Publisher id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn remove_publisher(
    State(state): State<AppState>,
    who: Principal,
    client: ClientInfo,
    ApiPath(path): ApiPath<PublisherPath>,
) -> ApiResult<StatusCode> {
    who.require(Permission::PluginsManage)?;
    state
        .plugins
        .untrust(&actor(&who, &client), path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
