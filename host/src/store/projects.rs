use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::{user_from_row, User, USER_COLUMNS_U};
use super::{like_pattern, Page, Result, Store, StoreError};
use crate::cache::Key;
use crate::clock::Millis;
use crate::ids::{ProjectId, UserId};

/// A project: the unit of ownership and access for everything else in the product.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    /// Primary key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The accountable user; always a member.
    pub owner_id: i64,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

const PROJECT_COLUMNS: &str = "p.id, p.name, p.description, p.owner_id, p.created_at, p.updated_at";

fn project_from_row(row: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        owner_id: row.try_get("owner_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A member of a project, with the user's public fields.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user: User,
    /// When they were added.
    pub added_at: Millis,
    /// Who added them (`None` for the owner at creation by the system).
    pub added_by: Option<i64>,
}

/// Changes to a project; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct ProjectChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New owner (becomes a member if not one yet).
    pub owner_id: Option<i64>,
}

impl Store {
    /// Creates a project; its owner and its creator become members in the same transaction.
    pub async fn create_project(
        &self,
        name: &str,
        description: &str,
        owner_id: i64,
        creator_id: i64,
        now: Millis,
    ) -> Result<Project> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO projects (name, description, owner_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             RETURNING id, name, description, owner_id, created_at, updated_at",
        )
        .bind(name)
        .bind(description)
        .bind(owner_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let project = project_from_row(&row)?;
        for user_id in [owner_id, creator_id] {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, added_at, added_by) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(project.id)
            .bind(user_id)
            .bind(now)
            .bind(creator_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        // A lookup of this id before it existed may have cached "no such project" or "not a
        // member".
        self.cache
            .invalidate([
                Key::project(project.id),
                Key::membership(project.id, owner_id),
                Key::membership(project.id, creator_id),
            ])
            .await;
        Ok(project)
    }

    /// One project by id (through the cache).
    pub async fn get_project(&self, id: i64) -> Result<Project> {
        self.cache
            .get_or_load(Key::project(id), || self.load_project(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn load_project(&self, id: i64) -> Result<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(project_from_row)
            .transpose()
    }

    /// Projects in id order; only those `member` belongs to when given; `name` filters by
    /// case-insensitive substring.
    pub async fn list_projects(
        &self,
        member: Option<i64>,
        name: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Page<Project>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id > $1 \
             AND ($2 IS NULL OR EXISTS (SELECT 1 FROM project_members m \
                                        WHERE m.project_id = p.id AND m.user_id = $2)) \
             AND ($3 IS NULL OR LOWER(p.name) LIKE $3 ESCAPE '\\') \
             ORDER BY p.id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(member)
            .bind(name.map(like_pattern))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let projects = rows
            .iter()
            .map(project_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(projects, limit, |p| p.id))
    }

    /// Applies `changes`; a new owner becomes a member in the same transaction.
    pub async fn update_project(
        &self,
        id: i64,
        changes: ProjectChanges,
        actor_id: i64,
        now: Millis,
    ) -> Result<Project> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE projects SET name = COALESCE($2, name), description = COALESCE($3, description), \
             owner_id = COALESCE($4, owner_id), updated_at = $5 WHERE id = $1 \
             RETURNING id, name, description, owner_id, created_at, updated_at",
        )
        .bind(id)
        .bind(changes.name)
        .bind(changes.description)
        .bind(changes.owner_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let project = project_from_row(&row)?;
        if changes.owner_id.is_some() {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, added_at, added_by) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(project.owner_id)
            .bind(now)
            .bind(actor_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let mut stale = vec![Key::project(id)];
        if changes.owner_id.is_some() {
            stale.push(Key::membership(id, project.owner_id));
        }
        self.invalidate(stale).await;
        Ok(project)
    }

    /// Deletes a project with its memberships, plugin enablements and connections (cascade).
    pub async fn delete_project(&self, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // What the cascade takes with it, to invalidate. (A row added concurrently and missed
        // here is harmless: its project is gone, so no lookup gets past the project.)
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM project_members WHERE project_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let plugins: Vec<String> =
            sqlx::query_scalar("SELECT plugin_id FROM project_plugins WHERE project_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let done = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        let stale = std::iter::once(Key::project(id))
            .chain(members.into_iter().map(|u| Key::membership(id, u)))
            .chain(plugins.iter().map(|p| Key::plugin_enabled(id, p)));
        self.invalidate(stale).await;
        Ok(())
    }

    /// The projects `user_id` is a member of.
    pub async fn member_project_ids(&self, user_id: i64) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT project_id FROM project_members WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Whether `user_id` is a member of `project_id` (through the cache).
    pub async fn is_member(&self, project_id: i64, user_id: i64) -> Result<bool> {
        self.cache
            .get_or_load(Key::membership(project_id, user_id), || {
                self.load_is_member(project_id, user_id)
            })
            .await
    }

    async fn load_is_member(&self, project_id: i64, user_id: i64) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Members of a project in user-id order.
    pub async fn list_members(
        &self,
        project_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<Member>> {
        let sql = format!(
            "SELECT {USER_COLUMNS_U}, m.added_at, m.added_by FROM project_members m \
             JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 AND u.id > $2 \
             ORDER BY u.id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(project_id)
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let members = rows
            .iter()
            .map(|row| {
                Ok(Member {
                    user: user_from_row(row)?,
                    added_at: row.try_get("added_at")?,
                    added_by: row.try_get("added_by")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(members, limit, |m| m.user.id))
    }

    /// Adds a member; adding an existing member changes nothing. Returns whether it was new.
    pub async fn add_member(
        &self,
        project_id: ProjectId,
        user_id: UserId,
        by: UserId,
        now: Millis,
    ) -> Result<bool> {
        let (project_id, user_id) = (project_id.get(), user_id.get());
        let done = sqlx::query(
            "INSERT INTO project_members (project_id, user_id, added_at, added_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(now)
        .bind(by.get())
        .execute(&self.pool)
        .await?;
        let added = done.rows_affected() == 1;
        if added {
            self.cache
                .invalidate([Key::membership(project_id, user_id)])
                .await;
        }
        Ok(added)
    }

    /// Removes a member. Returns whether they were one. On return, no host that shares the
    /// cache lets them in any more.
    pub async fn remove_member(&self, project_id: i64, user_id: i64) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
        let removed = done.rows_affected() == 1;
        if removed {
            self.cache
                .invalidate([Key::membership(project_id, user_id)])
                .await;
        }
        Ok(removed)
    }
}
