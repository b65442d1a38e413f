use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::{user_from_row, User, USER_COLUMNS_U};
use super::{Result, Store};
use crate::clock::Millis;
use crate::ids::{ApiKeyId, UserId};

/// A service-account API key, without its secret (only a hash is stored).
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Primary key.
    pub id: i64,
    /// The service account it belongs to.
    pub user_id: i64,
    /// Label given at creation.
    pub name: String,
    /// Public lookup prefix, part of the key text; lets admins recognise a key in use.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub key_hash: String,
    /// JSON array of permission names the key is limited to.
    pub scopes: String,
    /// Creation time.
    pub created_at: Millis,
    /// After this the key is refused.
    pub expires_at: Millis,
    /// When it was revoked.
    pub revoked_at: Option<Millis>,
    /// Last successful use.
    pub last_used_at: Option<Millis>,
}

const KEY_COLUMNS: &str = "k.id AS k_id, k.user_id AS k_user_id, k.name AS k_name, \
    k.prefix AS k_prefix, k.key_hash AS k_key_hash, k.scopes AS k_scopes, \
    k.created_at AS k_created_at, k.expires_at AS k_expires_at, k.revoked_at AS k_revoked_at, \
    k.last_used_at AS k_last_used_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("k_id")?,
        user_id: row.try_get("k_user_id")?,
        name: row.try_get("k_name")?,
        prefix: row.try_get("k_prefix")?,
        key_hash: row.try_get("k_key_hash")?,
        scopes: row.try_get("k_scopes")?,
        created_at: row.try_get("k_created_at")?,
        expires_at: row.try_get("k_expires_at")?,
        revoked_at: row.try_get("k_revoked_at")?,
        last_used_at: row.try_get("k_last_used_at")?,
    })
}

/// A key to store.
#[derive(Debug)]
pub struct NewApiKey<'a> {
    /// The service account.
    pub user_id: i64,
    /// Label.
    pub name: &'a str,
    /// Public lookup prefix.
    pub prefix: &'a str,
    /// SHA-256 of the whole key, hex.
    pub key_hash: &'a str,
    /// JSON array of permission names.
    pub scopes: &'a str,
    /// Expiry.
    pub expires_at: Millis,
}

impl Store {
    /// Stores a new key.
    pub async fn create_api_key(&self, new: NewApiKey<'_>, now: Millis) -> Result<ApiKey> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.user_id)
        .bind(new.name)
        .bind(new.prefix)
        .bind(new.key_hash)
        .bind(new.scopes)
        .bind(now)
        .bind(new.expires_at)
        .fetch_one(&self.pool)
        .await?;
        self.get_api_key(new.user_id, id).await
    }

    /// One key of one service account.
    pub async fn get_api_key(&self, user_id: i64, key_id: i64) -> Result<ApiKey> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1 AND k.user_id = $2");
        key_from_row(
            &sqlx::query(&sql)
                .bind(key_id)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A key and its owner by public prefix (authentication).
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<(ApiKey, User)>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS}, {USER_COLUMNS_U} FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.prefix = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((key_from_row(&row)?, user_from_row(&row)?)))
    }

    /// Every key of a service account, newest first.
    pub async fn list_api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.id DESC LIMIT 500"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; `NotFound` if it is not this account's.
    pub async fn revoke_api_key(
        &self,
        user_id: UserId,
        key_id: ApiKeyId,
        now: Millis,
    ) -> Result<ApiKey> {
        let (user_id, key_id) = (user_id.get(), key_id.get());
        sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2",
        )
        .bind(key_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_api_key(user_id, key_id).await
    }

    /// Revokes every key of a service account (on deactivation).
    pub async fn revoke_all_api_keys(&self, user_id: i64, now: Millis) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Records a key's use (the caller decides how often); never moves the time backwards.
    pub async fn touch_api_key(&self, key_id: i64, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(key_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
