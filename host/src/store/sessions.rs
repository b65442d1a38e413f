//! Login sessions and their refresh tokens.
//!
//! Authentication reads a session on every request made with an access token, through the
//! cache ([`Store::cached_session`]). So every write of a `sessions` row that must act at once —
//! revocation of one session or of all of a user's, refresh-token reuse, a `last_seen_at` touch —
//! invalidates its key here, next to the write, after the commit: no caller can forget it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::users::{user_from_row, User, USER_COLUMNS_U};
use super::{Result, Store};
use crate::cache::Key;
use crate::clock::Millis;

/// A login session: the server-side record behind a user's access and refresh tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Primary key; the `sid` claim of access tokens.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Login time (absolute timeout counts from here).
    pub created_at: Millis,
    /// Last authenticated request (idle timeout counts from here).
    pub last_seen_at: Millis,
    /// When it was revoked (logout, reuse detection, admin action).
    pub revoked_at: Option<Millis>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// Client IP at login.
    pub ip: Option<String>,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
}

const SESSION_COLUMNS: &str =
    "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
     s.last_seen_at AS s_last_seen_at, s.revoked_at AS s_revoked_at, \
     s.revoked_reason AS s_revoked_reason, s.ip AS s_ip, s.user_agent AS s_user_agent";

fn session_from_row(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id: row.try_get("s_id")?,
        user_id: row.try_get("s_user_id")?,
        created_at: row.try_get("s_created_at")?,
        last_seen_at: row.try_get("s_last_seen_at")?,
        revoked_at: row.try_get("s_revoked_at")?,
        revoked_reason: row.try_get("s_revoked_reason")?,
        ip: row.try_get("s_ip")?,
        user_agent: row.try_get("s_user_agent")?,
    })
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was current; it is now spent and `new_hash` replaces it.
    Rotated(Session),
    /// The token had already been used: a sign it was stolen. The session is now revoked.
    Reused(Session),
    /// No such token.
    Unknown,
}

impl Store {
    /// Starts a session with its first refresh token.
    pub async fn create_session(
        &self,
        user_id: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
        refresh_hash: &str,
        now: Millis,
    ) -> Result<Session> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (user_id, created_at, last_seen_at, ip, user_agent) \
             VALUES ($1, $2, $2, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(now)
        .bind(ip)
        .bind(user_agent)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_hash)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Session {
            id,
            user_id,
            created_at: now,
            last_seen_at: now,
            revoked_at: None,
            revoked_reason: None,
            ip: ip.map(str::to_owned),
            user_agent: user_agent.map(str::to_owned),
        })
    }

    /// One session by id, through the cache (authentication's read on every request).
    pub async fn cached_session(&self, session_id: i64) -> Result<Session> {
        self.cache
            .get_or_load(Key::session(session_id), || self.get_session(session_id))
            .await
    }

    /// One session by id, from the database.
    pub async fn get_session(&self, session_id: i64) -> Result<Session> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
        let row = sqlx::query(&sql)
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?;
        session_from_row(&row)
    }

    /// A session and its user, read in one query from the database (not the cache): for the
    /// decisions that must see the newest row (refresh, the `last_seen_at` touch).
    pub async fn session_with_user(&self, session_id: i64) -> Result<(Session, User)> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, {USER_COLUMNS_U} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1");
        let row = sqlx::query(&sql)
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((session_from_row(&row)?, user_from_row(&row)?))
    }

    /// Records activity on a session (idle timeout counts from the last one). The cached row
    /// is invalidated, so every host's next read carries the new time (a host holding the old
    /// one would otherwise think the session idle, or touch it again).
    pub async fn touch_session(&self, session_id: i64, now: Millis) -> Result<()> {
        let done = sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2",
        )
        .bind(session_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.invalidate([Key::session(session_id)]).await;
        }
        Ok(())
    }

    /// Revokes one session; returns whether it was still live.
    pub async fn revoke_session(&self, session_id: i64, reason: &str, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        let revoked = done.rows_affected() == 1;
        if revoked {
            self.invalidate([Key::session(session_id)]).await;
        }
        Ok(revoked)
    }

    /// Revokes every live session of a user but `except` (the caller's own); returns how many.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        except: Option<i64>,
        reason: &str,
        now: Millis,
    ) -> Result<u64> {
        let revoked: Vec<i64> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4) RETURNING id",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .bind(except)
        .fetch_all(&self.pool)
        .await?;
        self.invalidate(revoked.iter().copied().map(Key::session))
            .await;
        Ok(revoked.len() as u64)
    }

    /// Deletes sessions created before `created_before` (refresh tokens cascade). Nothing to
    /// invalidate: housekeeping only deletes sessions past their absolute timeout, which a cached
    /// copy fails just the same (the check counts from the immutable `created_at`).
    pub async fn purge_sessions(&self, created_before: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE created_at < $1")
            .bind(created_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The user's sessions that are neither revoked nor timed out, newest first.
    pub async fn live_sessions(
        &self,
        user_id: i64,
        idle_after: Millis,
        created_after: Millis,
    ) -> Result<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 \
             AND s.revoked_at IS NULL AND s.last_seen_at > $2 AND s.created_at > $3 \
             ORDER BY s.id DESC LIMIT 200"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(idle_after)
            .bind(created_after)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Spends the refresh token `old_hash` and stores `new_hash` in its place, atomically.
    /// A token presented twice revokes its whole session (refresh-token reuse detection).
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: Millis,
    ) -> Result<RefreshOutcome> {
        let mut tx = self.begin_write().await?;
        // Spend first: a conditional update takes SQLite's write lock at once (no lock upgrade
        // later) and makes exactly one of two concurrent refreshes win.
        let spent: Option<i64> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             RETURNING session_id",
        )
        .bind(old_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let (session_id, reused) = match spent {
            Some(id) => (id, false),
            None => {
                let known: Option<i64> = sqlx::query_scalar(
                    "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                match known {
                    Some(id) => (id, true),
                    None => return Ok(RefreshOutcome::Unknown),
                }
            }
        };
        if reused {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' \
                 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(new_hash)
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
        let session = session_from_row(
            &sqlx::query(&sql)
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?,
        )?;
        tx.commit().await?;
        if reused {
            self.invalidate([Key::session(session_id)]).await;
        }
        Ok(if reused {
            RefreshOutcome::Reused(session)
        } else {
            RefreshOutcome::Rotated(session)
        })
    }
}
