//! People and groups an identity provider provisions over SCIM 2.0 (`scim_users`,
//! `scim_groups`, `scim_group_members`). A SCIM person is a platform account (`users`, kind
//! `human`, no password) plus a `scim_users` row; SCIM sees and changes only such accounts, so
//! a provider can never take over an account created here by hand.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::{user_from_row, User, USER_COLUMNS_U};
use super::{Result, Store, StoreError};
use crate::cache::Key;
use crate::clock::Millis;
use crate::rbac::Role;

/// A provisioned person as stored.
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    /// The platform account (its id is the SCIM `id`).
    pub user: User,
    /// `userName` as the provider spelled it.
    pub user_name: String,
    /// The provider's own id for the person.
    pub external_id: Option<String>,
    /// The User resource as JSON, without `id` and `meta`.
    pub resource: String,
    /// When provisioned.
    pub created_at: Millis,
    /// Last change over SCIM.
    pub updated_at: Millis,
}

/// What a create or replace writes for a person.
#[derive(Debug)]
pub struct ScimUserFields<'a> {
    /// Lower-cased login e-mail of the account.
    pub email: &'a str,
    /// Name shown in the UI.
    pub display_name: &'a str,
    /// `userName`.
    pub user_name: &'a str,
    /// `externalId`.
    pub external_id: Option<&'a str>,
    /// The resource as JSON.
    pub resource: &'a str,
}

/// One `attribute eq value` condition of a list filter, as the store can index it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The SCIM id.
    Id(i64),
    /// `userName` (compared case-insensitively).
    UserName(String),
    /// `externalId` (compared exactly).
    ExternalId(String),
    /// `displayName` (compared case-insensitively).
    DisplayName(String),
    /// The account's e-mail (`emails.value`, compared case-insensitively).
    Email(String),
    /// Groups having this person as a member (`members.value`).
    Member(i64),
}

/// A provisioned group as stored.
#[derive(Debug, Clone)]
pub struct ScimGroupRow {
    /// The SCIM `id`.
    pub id: i64,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Members: (person id, their display name), in id order; empty when not asked for.
    pub members: Vec<(i64, String)>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// A value bound into a dynamic WHERE clause.
enum Bind {
    Int(i64),
    Text(String),
}

/// `AND`-joined SQL for `conditions` from bind number `first`; `user` says which table's columns.
fn where_clause(conditions: &[Condition], first: usize, user: bool) -> (String, Vec<Bind>) {
    let mut sql = String::from("1 = 1");
    let mut binds = Vec::new();
    for c in conditions {
        let n = first + binds.len();
        let (clause, bind) = match (c, user) {
            (Condition::Id(id), true) => (format!("s.user_id = ${n}"), Bind::Int(*id)),
            (Condition::Id(id), false) => (format!("g.id = ${n}"), Bind::Int(*id)),
            (Condition::UserName(v), _) => (
                format!("s.user_name_key = ${n}"),
                Bind::Text(v.to_lowercase()),
            ),
            (Condition::ExternalId(v), true) => {
                (format!("s.external_id = ${n}"), Bind::Text(v.clone()))
            }
            (Condition::ExternalId(v), false) => {
                (format!("g.external_id = ${n}"), Bind::Text(v.clone()))
            }
            (Condition::DisplayName(v), true) => (
                format!("LOWER(u.display_name) = ${n}"),
                Bind::Text(v.to_lowercase()),
            ),
            (Condition::DisplayName(v), false) => (
                format!("g.display_name_key = ${n}"),
                Bind::Text(v.to_lowercase()),
            ),
            (Condition::Email(v), _) => (format!("u.email = ${n}"), Bind::Text(v.to_lowercase())),
            (Condition::Member(id), _) => (
                format!(
                    "EXISTS (SELECT 1 FROM scim_group_members m \
                     WHERE m.group_id = g.id AND m.user_id = ${n})"
                ),
                Bind::Int(*id),
            ),
        };
        sql.push_str(" AND ");
        sql.push_str(&clause);
        binds.push(bind);
    }
    (sql, binds)
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

impl Store {
    /// The `COUNT(*)` of `sql` with `binds` (the total of a filtered list).
    async fn count(&self, sql: &str, binds: &[Bind]) -> Result<i64> {
        let row = bind_all(sqlx::query(sql), binds)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}

fn scim_user_from_row(row: &AnyRow) -> Result<ScimUserRow> {
    Ok(ScimUserRow {
        user: user_from_row(row)?,
        user_name: row.try_get("user_name")?,
        external_id: row.try_get("external_id")?,
        resource: row.try_get("resource")?,
        created_at: row.try_get("scim_created_at")?,
        updated_at: row.try_get("scim_updated_at")?,
    })
}

fn user_select() -> String {
    format!(
        "SELECT {USER_COLUMNS_U}, s.user_name, s.external_id, s.resource, \
         s.created_at AS scim_created_at, s.updated_at AS scim_updated_at \
         FROM scim_users s JOIN users u ON u.id = s.user_id"
    )
}

/// A unique violation of a SCIM create or change, said in the provider's terms.
fn conflict(e: sqlx::Error, what: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Duplicate { constraint } => {
            let field = if constraint.contains("email") {
                "an account with this e-mail already exists"
            } else if constraint.contains("user_name") {
                "a person with this userName is already provisioned"
            } else if constraint.contains("display_name") {
                "a group with this displayName already exists"
            } else {
                what
            };
            StoreError::Conflict(field.into())
        }
        other => other,
    }
}

impl Store {
    /// Creates the account (no password) and its SCIM record in one transaction.
    pub async fn scim_create_user(
        &self,
        f: &ScimUserFields<'_>,
        role: Role,
        now: Millis,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (kind, email, display_name, password_hash, role, created_at, updated_at) \
             VALUES ('human', $1, $2, NULL, $3, $4, $4) RETURNING id",
        )
        .bind(f.email)
        .bind(f.display_name)
        .bind(role.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the person already exists"))?;
        sqlx::query(
            "INSERT INTO scim_users (user_id, user_name, user_name_key, external_id, resource, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id)
        .bind(f.user_name)
        .bind(f.user_name.to_lowercase())
        .bind(f.external_id)
        .bind(f.resource)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the person already exists"))?;
        tx.commit().await?;
        Ok(id)
    }

    /// One provisioned person.
    pub async fn scim_user(&self, id: i64) -> Result<ScimUserRow> {
        let sql = format!("{} WHERE s.user_id = $1", user_select());
        scim_user_from_row(&sqlx::query(&sql).bind(id).fetch_one(&self.pool).await?)
    }

    /// Provisioned people matching every condition, in id order: how many in all, and the
    /// `limit` from `offset`.
    pub async fn scim_list_users(
        &self,
        conditions: &[Condition],
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<ScimUserRow>)> {
        let (clause, binds) = where_clause(conditions, 1, true);
        let count_sql = format!(
            "SELECT COUNT(*) FROM scim_users s JOIN users u ON u.id = s.user_id WHERE {clause}"
        );
        let total = self.count(&count_sql, &binds).await?;
        let n = binds.len();
        let sql = format!(
            "{} WHERE {clause} ORDER BY s.user_id LIMIT ${} OFFSET ${}",
            user_select(),
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let users = rows
            .iter()
            .map(scim_user_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((total, users))
    }

    /// Rewrites a person's account e-mail and name and their SCIM record.
    pub async fn scim_update_user(
        &self,
        id: i64,
        f: &ScimUserFields<'_>,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE scim_users SET user_name = $2, user_name_key = $3, external_id = $4, \
             resource = $5, updated_at = $6 WHERE user_id = $1",
        )
        .bind(id)
        .bind(f.user_name)
        .bind(f.user_name.to_lowercase())
        .bind(f.external_id)
        .bind(f.resource)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the person already exists"))?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE users SET email = $2, display_name = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(f.email)
        .bind(f.display_name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the person already exists"))?;
        tx.commit().await?;
        // The e-mail and name are part of the principal every request reads through the cache.
        self.invalidate([Key::user(id)]).await;
        Ok(())
    }

    /// Forgets a person's SCIM record and group memberships (the account itself stays,
    /// deactivated by the caller, for the audit trail). Returns whether there was one.
    pub async fn scim_delete_user(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM scim_group_members WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM scim_users WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    /// Which of `ids` are provisioned people.
    pub async fn scim_existing_users(&self, ids: &[i64]) -> Result<Vec<i64>> {
        let mut found = Vec::new();
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT user_id FROM scim_users WHERE user_id IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query_scalar::<_, i64>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            let rows: Vec<i64> = q.fetch_all(&self.pool).await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The names and external ids of the groups a person is in.
    pub async fn scim_groups_of(&self, user_id: i64) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT g.display_name, g.external_id FROM scim_groups g \
             JOIN scim_group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("display_name")?, r.try_get("external_id")?)))
            .collect()
    }

    /// Creates a group with its members in one transaction.
    pub async fn scim_create_group(
        &self,
        display_name: &str,
        external_id: Option<&str>,
        members: &[i64],
        now: Millis,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scim_groups (display_name, display_name_key, external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(display_name)
        .bind(display_name.to_lowercase())
        .bind(external_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the group already exists"))?;
        for m in members {
            sqlx::query("INSERT INTO scim_group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(id)
                .bind(*m)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn group_members(&self, id: i64) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT u.id, u.display_name FROM scim_group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("display_name")?)))
            .collect()
    }

    fn group_from_row(row: &AnyRow) -> Result<ScimGroupRow> {
        Ok(ScimGroupRow {
            id: row.try_get("id")?,
            display_name: row.try_get("display_name")?,
            external_id: row.try_get("external_id")?,
            members: Vec::new(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// One group, with its members when `members`.
    pub async fn scim_group(&self, id: i64, members: bool) -> Result<ScimGroupRow> {
        let row = sqlx::query(
            "SELECT id, display_name, external_id, created_at, updated_at FROM scim_groups WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let mut group = Self::group_from_row(&row)?;
        if members {
            group.members = self.group_members(id).await?;
        }
        Ok(group)
    }

    /// Groups matching every condition, in id order: how many in all, and the `limit` from
    /// `offset` (with members when `members`).
    pub async fn scim_list_groups(
        &self,
        conditions: &[Condition],
        offset: i64,
        limit: i64,
        members: bool,
    ) -> Result<(i64, Vec<ScimGroupRow>)> {
        let (clause, binds) = where_clause(conditions, 1, false);
        let count_sql = format!("SELECT COUNT(*) FROM scim_groups g WHERE {clause}");
        let total = self.count(&count_sql, &binds).await?;
        let n = binds.len();
        let sql = format!(
            "SELECT g.id, g.display_name, g.external_id, g.created_at, g.updated_at \
             FROM scim_groups g WHERE {clause} ORDER BY g.id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let mut groups = rows
            .iter()
            .map(Self::group_from_row)
            .collect::<Result<Vec<_>>>()?;
        if members {
            for g in &mut groups {
                g.members = self.group_members(g.id).await?;
            }
        }
        Ok((total, groups))
    }

    /// Sets a group's name, external id and members; returns the members before.
    pub async fn scim_replace_group(
        &self,
        id: i64,
        display_name: &str,
        external_id: Option<&str>,
        members: &[i64],
        now: Millis,
    ) -> Result<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE scim_groups SET display_name = $2, display_name_key = $3, external_id = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(display_name)
        .bind(display_name.to_lowercase())
        .bind(external_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "the group already exists"))?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let before: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM scim_group_members WHERE group_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for gone in before.iter().filter(|b| !members.contains(b)) {
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = $2")
                .bind(id)
                .bind(*gone)
                .execute(&mut *tx)
                .await?;
        }
        for new in members.iter().filter(|m| !before.contains(m)) {
            sqlx::query("INSERT INTO scim_group_members (group_id, user_id) VALUES ($1, $2)")
                .bind(id)
                .bind(*new)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Deletes a group; returns its members, whose roles may change.
    pub async fn scim_delete_group(&self, id: i64) -> Result<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM scim_group_members WHERE group_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM scim_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(members)
    }
}
