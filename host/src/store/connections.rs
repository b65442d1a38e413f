use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::clock::Millis;

/// A connection, without its secret (which lives in the vault under `secret_id`).
#[derive(Debug, Clone)]
pub struct Connection {
    /// Primary key.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Plugin it runs.
    pub plugin_id: String,
    /// Unique within the project.
    pub name: String,
    /// Non-secret configuration (JSON text), valid against the plugin's config schema.
    pub config: String,
    /// The service's base URL: every request of the plugin must stay under it.
    pub base_url: String,
    /// Whether the plugin may reach private and loopback addresses (on-premises servers).
    pub allow_private_network: bool,
    /// The connection's overrides of the service origins the plugin's manifest declares, by
    /// name (the manifest's URL applies to the others).
    pub origins: BTreeMap<String, String>,
    /// How it authenticates (`anonymous`, `api-token`, `basic`, `bearer`).
    pub credential_kind: String,
    /// The vault secret holding the credential.
    pub secret_id: Option<i64>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

const COLUMNS: &str = "id, project_id, plugin_id, name, config, base_url, allow_private_network, \
                       origins, credential_kind, secret_id, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Connection> {
    Ok(Connection {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        plugin_id: row.try_get("plugin_id")?,
        name: row.try_get("name")?,
        config: row.try_get("config")?,
        base_url: row.try_get("base_url")?,
        allow_private_network: row.try_get::<i64, _>("allow_private_network")? != 0,
        // Written by this module only, from a map: unreadable text would be a corrupt row,
        // and no overrides is the safe reading of it (the manifest's URLs apply).
        origins: serde_json::from_str(&row.try_get::<String, _>("origins")?).unwrap_or_default(),
        credential_kind: row.try_get("credential_kind")?,
        secret_id: row.try_get("secret_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The fields of a connection to write.
#[derive(Debug)]
pub struct ConnectionFields<'a> {
    /// Name.
    pub name: &'a str,
    /// Configuration JSON.
    pub config: &'a str,
    /// Base URL.
    pub base_url: &'a str,
    /// Private network allowed.
    pub allow_private_network: bool,
    /// Service origin overrides, by name.
    pub origins: &'a BTreeMap<String, String>,
    /// Credential kind.
    pub credential_kind: &'a str,
    /// Vault secret.
    pub secret_id: Option<i64>,
}

/// The overrides as stored: a JSON object of name to URL.
fn origins_json(origins: &BTreeMap<String, String>) -> String {
    // A map of strings always serialises.
    serde_json::to_string(origins).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Creates a connection.
    pub async fn create_connection(
        &self,
        project_id: i64,
        plugin_id: &str,
        f: &ConnectionFields<'_>,
        by: i64,
        now: Millis,
    ) -> Result<Connection> {
        let row = sqlx::query(&format!(
            "INSERT INTO connections (project_id, plugin_id, name, config, base_url, \
             allow_private_network, credential_kind, secret_id, created_by, created_at, updated_at, \
             origins) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING {COLUMNS}"
        ))
        .bind(project_id)
        .bind(plugin_id)
        .bind(f.name)
        .bind(f.config)
        .bind(f.base_url)
        .bind(i64::from(f.allow_private_network))
        .bind(f.credential_kind)
        .bind(f.secret_id)
        .bind(by)
        .bind(now)
        .bind(origins_json(f.origins))
        .fetch_one(&self.pool)
        .await?;
        from_row(&row)
    }

    /// Rewrites a connection's fields.
    pub async fn update_connection(
        &self,
        id: i64,
        f: &ConnectionFields<'_>,
        now: Millis,
    ) -> Result<Connection> {
        let row = sqlx::query(&format!(
            "UPDATE connections SET name = $2, config = $3, base_url = $4, \
             allow_private_network = $5, credential_kind = $6, secret_id = $7, updated_at = $8, \
             origins = $9 WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(f.name)
        .bind(f.config)
        .bind(f.base_url)
        .bind(i64::from(f.allow_private_network))
        .bind(f.credential_kind)
        .bind(f.secret_id)
        .bind(now)
        .bind(origins_json(f.origins))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// One connection of a project.
    pub async fn get_connection(&self, project_id: i64, id: i64) -> Result<Connection> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// A project's connections, by id.
    pub async fn list_connections(&self, project_id: i64) -> Result<Vec<Connection>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM connections WHERE project_id = $1 ORDER BY id"
        ))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes a connection; returns it (its secret is the caller's to delete).
    pub async fn delete_connection(&self, project_id: i64, id: i64) -> Result<Connection> {
        let connection = self.get_connection(project_id, id).await?;
        sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(connection)
    }

    /// How many connections use a plugin.
    pub async fn connections_using(&self, plugin_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE plugin_id = $1")
                .bind(plugin_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
