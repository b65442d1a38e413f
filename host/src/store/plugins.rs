use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Result, Store, StoreError};
use crate::cache::Key;
use crate::clock::Millis;

/// A publisher key trusted to sign plugins.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Primary key.
    pub id: i64,
    /// Who they are, e.g. `acme`.
    pub name: String,
    /// `ed25519:<base64>`.
    pub public_key: String,
    /// When it was trusted.
    pub created_at: Millis,
}

fn publisher_from_row(row: &AnyRow) -> Result<Publisher> {
    Ok(Publisher {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
    })
}

/// One installed version of a plugin (without its component bytes).
#[derive(Debug, Clone)]
pub struct PluginVersion {
    /// Semver version.
    pub version: String,
    /// Contract version.
    pub wit_version: String,
    /// The manifest text as signed.
    pub manifest: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The publisher whose key signed it.
    pub publisher: String,
    /// That publisher's key, `ed25519:<base64>`.
    pub publisher_key: String,
    /// When it was installed.
    pub installed_at: Millis,
}

/// An installed plugin.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    /// Plugin id.
    pub id: String,
    /// The version calls run.
    pub active_version: String,
    /// The version `rollback` returns to.
    pub previous_version: Option<String>,
    /// First installation.
    pub installed_at: Millis,
    /// Last install, upgrade or rollback.
    pub updated_at: Millis,
    /// Every installed version, oldest first.
    pub versions: Vec<PluginVersion>,
    /// Projects the plugin is enabled in.
    pub enabled_projects: Vec<i64>,
}

impl InstalledPlugin {
    /// The active version's row.
    pub fn active(&self) -> Option<&PluginVersion> {
        self.versions
            .iter()
            .find(|v| v.version == self.active_version)
    }
}

/// A version to store.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// Plugin id.
    pub plugin_id: &'a str,
    /// Semver version.
    pub version: &'a str,
    /// Contract version.
    pub wit_version: &'a str,
    /// Manifest text.
    pub manifest: &'a str,
    /// Component bytes.
    pub component: &'a [u8],
    /// Hex SHA-256 of `component`.
    pub sha256: &'a str,
    /// Signing publisher.
    pub publisher_id: i64,
    /// Installing user (`None` from the CLI).
    pub installed_by: Option<i64>,
}

/// What the active version of a plugin is: enough to find or build its compiled form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActiveVersion {
    /// Semver version.
    pub version: String,
    /// Manifest text.
    pub manifest: String,
    /// Component hash.
    pub sha256: String,
}

impl Store {
    /// Trusts a publisher key.
    pub async fn add_publisher(
        &self,
        name: &str,
        public_key: &str,
        by: Option<i64>,
        now: Millis,
    ) -> Result<Publisher> {
        let row = sqlx::query(
            "INSERT INTO plugin_publishers (name, public_key, created_at, created_by) \
             VALUES ($1, $2, $3, $4) RETURNING id, name, public_key, created_at",
        )
        .bind(name)
        .bind(public_key)
        .bind(now)
        .bind(by)
        .fetch_one(&self.pool)
        .await?;
        publisher_from_row(&row)
    }

    /// Every trusted publisher, by id.
    pub async fn list_publishers(&self) -> Result<Vec<Publisher>> {
        let rows = sqlx::query(
            "SELECT id, name, public_key, created_at FROM plugin_publishers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(publisher_from_row).collect()
    }

    /// The publisher holding `public_key`, if trusted.
    pub async fn publisher_by_key(&self, public_key: &str) -> Result<Option<Publisher>> {
        let row = sqlx::query(
            "SELECT id, name, public_key, created_at FROM plugin_publishers WHERE public_key = $1",
        )
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(publisher_from_row).transpose()
    }

    /// Stops trusting a publisher; refused while versions it signed are installed.
    pub async fn remove_publisher(&self, id: i64) -> Result<Publisher> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT id, name, public_key, created_at FROM plugin_publishers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let publisher = publisher_from_row(&row)?;
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM plugin_versions WHERE publisher_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "{used} installed plugin version(s) are signed by {}; uninstall them first",
                publisher.name
            )));
        }
        sqlx::query("DELETE FROM plugin_publishers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(publisher)
    }

    /// Installs a plugin that is not installed yet, with `version` active.
    pub async fn install_plugin(&self, v: &NewVersion<'_>, now: Millis) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO plugins (id, active_version, previous_version, installed_at, updated_at) \
             VALUES ($1, $2, NULL, $3, $3)",
        )
        .bind(v.plugin_id)
        .bind(v.version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_version(&mut tx, v, now).await?;
        tx.commit().await?;
        self.invalidate([Key::plugin(v.plugin_id)]).await;
        Ok(())
    }

    /// Adds a version to an installed plugin (if new) and makes it active; the version active
    /// until now becomes the rollback target. Returns that previous version. `expected_active`: the
    /// active version the caller judged the upgrade against; if another is active now, 409.
    pub async fn upgrade_plugin(
        &self,
        v: &NewVersion<'_>,
        expected_active: Option<&str>,
        now: Millis,
    ) -> Result<String> {
        let mut tx = self.begin_write().await?;
        let active: String = sqlx::query_scalar("SELECT active_version FROM plugins WHERE id = $1")
            .bind(v.plugin_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if expected_active.is_some_and(|expected| expected != active) {
            return Err(StoreError::Conflict(format!(
                "the plugin changed meanwhile (version {active} is active now); try again"
            )));
        }
        if active == v.version {
            return Err(StoreError::Conflict(format!(
                "version {active} is already the active one"
            )));
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT sha256 FROM plugin_versions WHERE plugin_id = $1 AND version = $2",
        )
        .bind(v.plugin_id)
        .bind(v.version)
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            None => insert_version(&mut tx, v, now).await?,
            Some(sha) if sha != v.sha256 => {
                return Err(StoreError::Conflict(format!(
                "version {} is installed with another component; a new build needs a new version",
                v.version
            )))
            }
            Some(_) => {}
        }
        // Guarded by the active version read above: a concurrent upgrade or rollback wins, this
        // one is refused rather than silently undone.
        let changed = sqlx::query(
            "UPDATE plugins SET active_version = $2, previous_version = $3, updated_at = $4 \
             WHERE id = $1 AND active_version = $3",
        )
        .bind(v.plugin_id)
        .bind(v.version)
        .bind(&active)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(
                "the plugin changed meanwhile; try again".into(),
            ));
        }
        tx.commit().await?;
        self.invalidate([Key::plugin(v.plugin_id)]).await;
        Ok(active)
    }

    /// Makes the rollback target (`previous_version`) active; the version installed before it
    /// becomes the next target (none: no further rollback). Returns (now active, the version left).
    pub async fn rollback_plugin(&self, id: &str, now: Millis) -> Result<(String, String)> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT active_version, previous_version FROM plugins WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let active: String = row.try_get("active_version")?;
        let previous: Option<String> = row.try_get("previous_version")?;
        let Some(previous) = previous else {
            return Err(StoreError::Conflict(format!(
                "{id} has no previous version to roll back to"
            )));
        };
        // History, not a swap: the version installed before the one rolled back to becomes the
        // next rollback target, so a second rollback goes further back instead of returning to
        // the version just left.
        let before: Option<String> = sqlx::query_scalar(
            "SELECT v.version FROM plugin_versions v, plugin_versions t \
             WHERE v.plugin_id = $1 AND t.plugin_id = $1 AND t.version = $2 \
               AND v.version <> $2 AND v.version <> $3 \
               AND (v.installed_at < t.installed_at \
                    OR (v.installed_at = t.installed_at AND v.version < t.version)) \
             ORDER BY v.installed_at DESC, v.version DESC LIMIT 1",
        )
        .bind(id)
        .bind(&previous)
        .bind(&active)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = sqlx::query(
            "UPDATE plugins SET active_version = $2, previous_version = $3, updated_at = $4 \
             WHERE id = $1 AND active_version = $5 AND previous_version = $2",
        )
        .bind(id)
        .bind(&previous)
        .bind(&before)
        .bind(now)
        .bind(&active)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict(
                "the plugin changed meanwhile; try again".into(),
            ));
        }
        tx.commit().await?;
        self.invalidate([Key::plugin(id)]).await;
        Ok((previous, active))
    }

    /// Removes a plugin, all its versions and its enablements; refused while connections use
    /// it or, for an agent package, while agents of its kind exist (in any state: an agent
    /// whose kind is gone could neither run nor be reconfigured).
    pub async fn uninstall_plugin(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE plugin_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(StoreError::Conflict(format!(
                "{used} connection(s) use plugin {id}; delete them first"
            )));
        }
        let agents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE kind = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if agents > 0 {
            return Err(StoreError::Conflict(format!(
                "{agents} agent(s) of kind {id} exist; stop and delete them first"
            )));
        }
        let projects: Vec<i64> =
            sqlx::query_scalar("SELECT project_id FROM project_plugins WHERE plugin_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for sql in [
            "DELETE FROM project_plugins WHERE plugin_id = $1",
            "DELETE FROM plugin_versions WHERE plugin_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let gone = sqlx::query("DELETE FROM plugins WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        let stale = std::iter::once(Key::plugin(id))
            .chain(projects.into_iter().map(|p| Key::plugin_enabled(p, id)));
        self.invalidate(stale).await;
        Ok(())
    }

    /// Every installed plugin, by id.
    pub async fn list_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM plugins ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_plugin(&id).await?);
        }
        Ok(out)
    }

    /// One installed plugin with its versions and enablements.
    pub async fn get_plugin(&self, id: &str) -> Result<InstalledPlugin> {
        let row = sqlx::query(
            "SELECT id, active_version, previous_version, installed_at, updated_at \
             FROM plugins WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let versions = sqlx::query(
            "SELECT v.version, v.wit_version, v.manifest, v.sha256, v.installed_at, p.name, \
             p.public_key \
             FROM plugin_versions v JOIN plugin_publishers p ON p.id = v.publisher_id \
             WHERE v.plugin_id = $1 ORDER BY v.installed_at, v.version",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PluginVersion {
                version: r.try_get("version")?,
                wit_version: r.try_get("wit_version")?,
                manifest: r.try_get("manifest")?,
                sha256: r.try_get("sha256")?,
                publisher: r.try_get("name")?,
                publisher_key: r.try_get("public_key")?,
                installed_at: r.try_get("installed_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let enabled_projects: Vec<i64> = sqlx::query_scalar(
            "SELECT project_id FROM project_plugins WHERE plugin_id = $1 ORDER BY project_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(InstalledPlugin {
            id: row.try_get("id")?,
            active_version: row.try_get("active_version")?,
            previous_version: row.try_get("previous_version")?,
            installed_at: row.try_get("installed_at")?,
            updated_at: row.try_get("updated_at")?,
            versions,
            enabled_projects,
        })
    }

    /// The active version of a plugin, through the cache: install, upgrade, rollback and
    /// uninstall invalidate it on every host sharing the cache, so each host runs the new
    /// version on its next call.
    pub async fn active_version(&self, id: &str) -> Result<ActiveVersion> {
        self.cache
            .get_or_load(Key::plugin(id), || self.load_active_version(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn load_active_version(&self, id: &str) -> Result<Option<ActiveVersion>> {
        let row = sqlx::query(
            "SELECT v.version, v.manifest, v.sha256 FROM plugins p \
             JOIN plugin_versions v ON v.plugin_id = p.id AND v.version = p.active_version \
             WHERE p.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ActiveVersion {
                version: row.try_get("version")?,
                manifest: row.try_get("manifest")?,
                sha256: row.try_get("sha256")?,
            })
        })
        .transpose()
    }

    /// The component bytes of a version.
    pub async fn plugin_component(&self, id: &str, version: &str) -> Result<Vec<u8>> {
        sqlx::query_scalar(
            "SELECT component FROM plugin_versions WHERE plugin_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Enables a plugin in a project; `false` if it already was.
    pub async fn enable_plugin(
        &self,
        project_id: i64,
        plugin_id: &str,
        by: Option<i64>,
        now: Millis,
    ) -> Result<bool> {
        match sqlx::query(
            "INSERT INTO project_plugins (project_id, plugin_id, enabled_at, enabled_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(project_id)
        .bind(plugin_id)
        .bind(now)
        .bind(by)
        .execute(&self.pool)
        .await
        {
            Ok(_) => {
                self.cache
                    .invalidate([Key::plugin_enabled(project_id, plugin_id)])
                    .await;
                Ok(true)
            }
            Err(e) => match StoreError::from(e) {
                StoreError::Duplicate { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Disables a plugin in a project; `false` if it was not enabled.
    pub async fn disable_plugin(&self, project_id: i64, plugin_id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM project_plugins WHERE project_id = $1 AND plugin_id = $2")
            .bind(project_id)
            .bind(plugin_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n > 0 {
            self.cache
                .invalidate([Key::plugin_enabled(project_id, plugin_id)])
                .await;
        }
        Ok(n > 0)
    }

    /// Whether a plugin is enabled in a project (through the cache).
    pub async fn plugin_enabled(&self, project_id: i64, plugin_id: &str) -> Result<bool> {
        self.cache
            .get_or_load(Key::plugin_enabled(project_id, plugin_id), || {
                self.load_plugin_enabled(project_id, plugin_id)
            })
            .await
    }

    async fn load_plugin_enabled(&self, project_id: i64, plugin_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM project_plugins WHERE project_id = $1 AND plugin_id = $2",
        )
        .bind(project_id)
        .bind(plugin_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Ids of the plugins enabled in a project.
    pub async fn project_plugins(&self, project_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT plugin_id FROM project_plugins WHERE project_id = $1 ORDER BY plugin_id",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    v: &NewVersion<'_>,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_versions (plugin_id, version, wit_version, manifest, component, \
         sha256, publisher_id, installed_at, installed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(v.plugin_id)
    .bind(v.version)
    .bind(v.wit_version)
    .bind(v.manifest)
    .bind(v.component)
    .bind(v.sha256)
    .bind(v.publisher_id)
    .bind(now)
    .bind(v.installed_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
