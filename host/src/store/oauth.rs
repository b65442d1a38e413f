use sqlx::Row;

use super::{Result, Store};
use crate::clock::Millis;

/// An authorization code flow in progress (see `oauth_authorizations`).
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The connection being authorized.
    pub connection_id: i64,
    /// The credential it was started for; a replaced credential voids the flow.
    pub secret_id: i64,
    /// The vault secret holding the PKCE verifier.
    pub verifier_secret_id: i64,
    /// Who started it.
    pub user_id: i64,
    /// Where to send the browser afterwards.
    pub return_to: Option<String>,
    /// When the callback stops being accepted.
    pub expires_at: Millis,
}

impl Store {
    /// Records a flow under the hash of its `state`.
    pub async fn create_authorization(&self, state_hash: &str, a: &Authorization) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_authorizations (state_hash, connection_id, secret_id, \
             verifier_secret_id, user_id, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(a.connection_id)
        .bind(a.secret_id)
        .bind(a.verifier_secret_id)
        .bind(a.user_id)
        .bind(a.return_to.as_deref())
        .bind(a.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns the flow of a `state`: each state is used once.
    pub async fn take_authorization(&self, state_hash: &str) -> Result<Option<Authorization>> {
        let row = sqlx::query(
            "DELETE FROM oauth_authorizations WHERE state_hash = $1 RETURNING connection_id, \
             secret_id, verifier_secret_id, user_id, return_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Authorization {
                connection_id: row.try_get("connection_id")?,
                secret_id: row.try_get("secret_id")?,
                verifier_secret_id: row.try_get("verifier_secret_id")?,
                user_id: row.try_get("user_id")?,
                return_to: row.try_get("return_to")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// The verifier secrets of flows that expired before `now` (deleting a verifier's secret
    /// deletes its flow).
    pub async fn expired_authorizations(&self, now: Millis) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT verifier_secret_id FROM oauth_authorizations WHERE expires_at < $1 LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("verifier_secret_id"))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The verifier secrets of a project's flows, or of one connection's: deleting a
    /// connection deletes its flows, whose verifiers must go from the vault too.
    pub async fn flow_verifiers(
        &self,
        project_id: i64,
        connection_id: Option<i64>,
    ) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT a.verifier_secret_id, a.connection_id FROM oauth_authorizations a \
             JOIN connections c ON c.id = a.connection_id WHERE c.project_id = $1",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let connection: i64 = row.try_get("connection_id")?;
            if connection_id.is_none_or(|id| id == connection) {
                out.push(row.try_get("verifier_secret_id")?);
            }
        }
        Ok(out)
    }

    /// A connection by id alone (the OAuth callback knows no project).
    pub async fn connection_by_id(&self, id: i64) -> Result<super::connections::Connection> {
        let project: i64 = sqlx::query_scalar("SELECT project_id FROM connections WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(super::StoreError::NotFound)?;
        self.get_connection(project, id).await
    }
}
