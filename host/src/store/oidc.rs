use sqlx::Row;

use super::users::{user_from_row, User, USER_COLUMNS_U};
use super::{Result, Store};
use crate::clock::Millis;

/// A sign-in waiting for the provider's callback (see `oidc_logins`).
#[derive(Debug, Clone)]
pub struct PendingLogin {
    /// The configured provider's name.
    pub provider: String,
    /// The vault secret holding the nonce and PKCE verifier.
    pub secret_id: i64,
    /// When the callback stops being accepted.
    pub expires_at: Millis,
}

/// A finished sign-in waiting for its one-time code (see `oidc_handoffs`).
#[derive(Debug, Clone)]
pub struct Handoff {
    /// The person.
    pub user_id: i64,
    /// The provider's name.
    pub provider: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The person's subject at the provider.
    pub subject: String,
    /// The provider's session id (`sid`), for back-channel logout.
    pub idp_sid: Option<String>,
    /// Until when the code may be exchanged.
    pub expires_at: Millis,
}

impl Store {
    /// Records a sign-in under the hash of its `state`.
    pub async fn create_oidc_login(&self, state_hash: &str, login: &PendingLogin) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, provider, secret_id, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash)
        .bind(&login.provider)
        .bind(login.secret_id)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns the sign-in of a `state`: each state is used once.
    pub async fn take_oidc_login(&self, state_hash: &str) -> Result<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM oidc_logins WHERE state_hash = $1 \
             RETURNING provider, secret_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PendingLogin {
                provider: row.try_get("provider")?,
                secret_id: row.try_get("secret_id")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// The vault secrets of sign-ins that expired before `now` (deleting the secret deletes
    /// the sign-in), and drops expired hand-offs.
    pub async fn expired_oidc_logins(&self, now: Millis) -> Result<Vec<i64>> {
        sqlx::query("DELETE FROM oidc_handoffs WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT secret_id FROM oidc_logins WHERE expires_at < $1 LIMIT 100")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("secret_id"))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The person linked to a provider's `(issuer, subject)`.
    pub async fn user_by_oidc_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS_U} FROM oidc_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.issuer = $1 AND i.subject = $2"
        );
        let row = sqlx::query(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The accounts SCIM provisioned (and has not deleted) whose `externalId` is `external_id`,
    /// each with whether it is already linked to a subject of `issuer`. At most two: one is the
    /// answer, two mean the `externalId` is ambiguous (SCIM does not make it unique). Accounts
    /// made by hand have no SCIM row and are never among them.
    pub async fn scim_users_by_external_id(
        &self,
        external_id: &str,
        issuer: &str,
    ) -> Result<Vec<(User, bool)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS_U}, (SELECT COUNT(*) FROM oidc_identities i \
             WHERE i.user_id = u.id AND i.issuer = $2) AS links \
             FROM scim_users s JOIN users u ON u.id = s.user_id \
             WHERE s.external_id = $1 ORDER BY u.id LIMIT 2"
        );
        let rows = sqlx::query(&sql)
            .bind(external_id)
            .bind(issuer)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let links: i64 = row.try_get("links")?;
                Ok((user_from_row(row)?, links > 0))
            })
            .collect()
    }

    /// Whether SCIM provisioned this person (and has not deleted them from SCIM).
    pub async fn is_scim_provisioned(&self, user_id: i64) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM scim_users WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Links `(issuer, subject)` to a person, or notes the sign-in of an existing link.
    pub async fn link_oidc_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: i64,
        provider: &str,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_identities (issuer, subject, user_id, provider, created_at, \
             last_login_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (issuer, subject) DO UPDATE SET last_login_at = $5",
        )
        .bind(issuer)
        .bind(subject)
        .bind(user_id)
        .bind(provider)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a person has any SSO identity (such people have no password here).
    pub async fn has_oidc_identity(&self, user_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Stores a finished sign-in under the hash of its one-time code.
    pub async fn create_oidc_handoff(&self, code_hash: &str, h: &Handoff) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_handoffs (code_hash, user_id, provider, issuer, subject, idp_sid, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(code_hash)
        .bind(h.user_id)
        .bind(&h.provider)
        .bind(&h.issuer)
        .bind(&h.subject)
        .bind(h.idp_sid.as_deref())
        .bind(h.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes and returns the hand-off of a code: each code is used once.
    pub async fn take_oidc_handoff(&self, code_hash: &str) -> Result<Option<Handoff>> {
        let row = sqlx::query(
            "DELETE FROM oidc_handoffs WHERE code_hash = $1 \
             RETURNING user_id, provider, issuer, subject, idp_sid, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Handoff {
                user_id: row.try_get("user_id")?,
                provider: row.try_get("provider")?,
                issuer: row.try_get("issuer")?,
                subject: row.try_get("subject")?,
                idp_sid: row.try_get("idp_sid")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Notes that `session_id` was started by an SSO sign-in.
    pub async fn link_oidc_session(&self, session_id: i64, h: &Handoff) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_sessions (session_id, provider, issuer, subject, idp_sid) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_id)
        .bind(&h.provider)
        .bind(&h.issuer)
        .bind(&h.subject)
        .bind(h.idp_sid.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The provider of the SSO sign-in that started `session_id`, if one did.
    pub async fn oidc_session_provider(&self, session_id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT provider FROM oidc_sessions WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Live sessions started by the issuer's sign-ins of `subject`, or of its session `sid`
    /// (either may be absent, not both).
    pub async fn oidc_sessions_of(
        &self,
        issuer: &str,
        subject: Option<&str>,
        idp_sid: Option<&str>,
    ) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT o.session_id FROM oidc_sessions o JOIN sessions s ON s.id = o.session_id \
             WHERE o.issuer = $1 AND s.revoked_at IS NULL \
             AND ($2 IS NULL OR o.subject = $2) AND ($3 IS NULL OR o.idp_sid = $3)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(idp_sid)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("session_id"))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The vault secret holding a provider's client secret (`client_secret_vault`), if set.
    pub async fn oidc_client_secret_id(&self, provider: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT secret_id FROM oidc_client_secrets WHERE provider = $1")
                .bind(provider)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records `secret_id` as the provider's client secret; `false` (nothing changed) when the
    /// provider already has one, which the caller then replaces instead.
    pub async fn add_oidc_client_secret(
        &self,
        provider: &str,
        secret_id: i64,
        now: Millis,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO oidc_client_secrets (provider, secret_id, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (provider) DO NOTHING",
        )
        .bind(provider)
        .bind(secret_id)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Notes that a provider's client secret was replaced.
    pub async fn touch_oidc_client_secret(&self, provider: &str, now: Millis) -> Result<()> {
        sqlx::query("UPDATE oidc_client_secrets SET updated_at = $2 WHERE provider = $1")
            .bind(provider)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
