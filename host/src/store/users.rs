use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{like_pattern, Backend, Page, Result, Store, StoreError};
use crate::cache::Key;
use crate::clock::Millis;
use crate::rbac::Role;

/// Whether a principal is a person or a service calling the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserKind {
    /// A person who logs in with a password.
    Human,
    /// A non-human principal that authenticates with API keys.
    Service,
}

impl UserKind {
    /// `human` or `service`, as stored and as shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Human => "human",
            UserKind::Service => "service",
        }
    }
}

/// A user account (without its password hash, which only login reads). Serializable because
/// authentication reads it through the cache ([`Store::cached_user`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Person or service account.
    pub kind: UserKind,
    /// Lower-cased login e-mail; `None` for service accounts.
    pub email: Option<String>,
    /// Name shown in the UI.
    pub display_name: String,
    /// The one role of this principal.
    pub role: Role,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// When the account was deactivated; deactivated accounts cannot authenticate.
    pub deactivated_at: Option<Millis>,
}

impl User {
    /// Whether the account may authenticate.
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

pub(crate) const USER_COLUMNS: &str =
    "id, kind, email, display_name, role, created_at, updated_at, deactivated_at";

/// [`USER_COLUMNS`] qualified by the alias `u`, for joins.
pub(crate) const USER_COLUMNS_U: &str =
    "u.id, u.kind, u.email, u.display_name, u.role, u.created_at, u.updated_at, u.deactivated_at";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    let kind: String = row.try_get("kind")?;
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        kind: if kind == "service" {
            UserKind::Service
        } else {
            UserKind::Human
        },
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(format!("role {role}").into()))
        })?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
    })
}

/// A user to create.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// Person or service account.
    pub kind: UserKind,
    /// Lower-cased e-mail (people only).
    pub email: Option<&'a str>,
    /// Name shown in the UI.
    pub display_name: &'a str,
    /// argon2id PHC string (people only).
    pub password_hash: Option<&'a str>,
    /// Role.
    pub role: Role,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New argon2id hash.
    pub password_hash: Option<String>,
    /// `Some(true)` deactivates, `Some(false)` reactivates.
    pub deactivate: Option<bool>,
}

/// Filters of the user list.
#[derive(Debug, Default)]
pub struct UserFilter<'a> {
    /// Only people or only service accounts.
    pub kind: Option<UserKind>,
    /// Case-insensitive substring of e-mail or display name.
    pub query: Option<&'a str>,
}

impl Store {
    /// Number of accounts, people and services alike.
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Creates an account.
    pub async fn create_user(&self, new: NewUser<'_>, now: Millis) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (kind, email, display_name, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.kind.as_str())
            .bind(new.email)
            .bind(new.display_name)
            .bind(new.password_hash)
            .bind(new.role.as_str())
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Duplicate { .. } => StoreError::EmailTaken,
                other => other,
            })?;
        user_from_row(&row)
    }

    /// One account by id, through the cache: what authentication checks on every request. Every
    /// write of a user row ([`Store::update_user`], the SCIM attribute update) invalidates it.
    pub async fn cached_user(&self, id: i64) -> Result<User> {
        self.cache
            .get_or_load(Key::user(id), || self.get_user(id))
            .await
    }

    /// One account by id.
    pub async fn get_user(&self, id: i64) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_one(&self.pool).await?;
        user_from_row(&row)
    }

    /// A person's account and password hash, by lower-cased e-mail (login only).
    pub async fn user_for_login(&self, email: &str) -> Result<Option<(User, Option<String>)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND kind = 'human'"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?)))
    }

    /// Accounts in id order, a page at a time.
    pub async fn list_users(
        &self,
        filter: &UserFilter<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Page<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id > $1 \
             AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR LOWER(COALESCE(email, '')) LIKE $3 ESCAPE '\\' \
                  OR LOWER(display_name) LIKE $3 ESCAPE '\\') \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(filter.kind.map(UserKind::as_str))
            .bind(filter.query.map(like_pattern))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(users, limit, |u| u.id))
    }

    /// Applies `changes` in one transaction, refusing to remove the last active administrator.
    pub async fn update_user(&self, id: i64, changes: UserChanges, now: Millis) -> Result<User> {
        let mut tx = self.begin_write().await?;
        // Write first: takes SQLite's write lock (no later lock upgrade) and PostgreSQL's row lock.
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let current = user_from_row(&sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?)?;

        let loses_admin = current.role == Role::Administrator
            && current.is_active()
            && (changes.role.is_some_and(|r| r != Role::Administrator)
                || changes.deactivate == Some(true));
        if loses_admin {
            // Lock the other administrators' rows so two concurrent demotions cannot both pass.
            let lock = if self.backend == Backend::Postgres {
                " FOR UPDATE"
            } else {
                ""
            };
            let others: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM users WHERE role = 'administrator' AND kind = 'human' \
                 AND deactivated_at IS NULL AND id <> $1{lock}"
            ))
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if others.is_empty() {
                return Err(StoreError::LastAdministrator);
            }
        }

        let deactivated_at = match changes.deactivate {
            Some(true) => current.deactivated_at.or(Some(now)),
            Some(false) => None,
            None => current.deactivated_at,
        };
        let sql = format!(
            "UPDATE users SET display_name = COALESCE($2, display_name), role = COALESCE($3, role), \
             password_hash = COALESCE($4, password_hash), deactivated_at = $5, updated_at = $6 \
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(changes.display_name)
            .bind(changes.role.map(Role::as_str))
            .bind(changes.password_hash)
            .bind(deactivated_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let user = user_from_row(&row)?;
        tx.commit().await?;
        // Role and deactivation act on the next request, on every host.
        self.invalidate([Key::user(id)]).await;
        Ok(user)
    }
}
