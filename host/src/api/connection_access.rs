//! Which connection a request is about: the path's project and connection, loaded after the
//! caller's permission on the project is checked. Every handler under
//! `/projects/{id}/connections/{cid}` (connections, check, records, actions, OAuth) starts here,
//! so it is a module of its own that those import without importing one another.

use serde::Deserialize;

use super::access;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Principal;
use crate::rbac::Permission;
use crate::store::connections::Connection;
use crate::store::StoreError;

/// `/projects/{id}/connections/{cid}`.
#[derive(Debug, Deserialize)]
pub(super) struct ConnectionPath {
    pub(super) id: i64,
    pub(super) cid: i64,
}

/// The connection of `path`, once `who` holds `p` on its project (404 when the project has no
/// such connection).
pub(super) async fn load(
    state: &AppState,
    who: &Principal,
    path: &ConnectionPath,
    p: Permission,
) -> ApiResult<Connection> {
    access::project(&state.store, who, path.id, p).await?;
    state
        .store
        .get_connection(path.id, path.cid)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("connection"),
            other => other.into(),
        })
}
