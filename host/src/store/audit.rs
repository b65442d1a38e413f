use sqlx::Row;

use super::{Page, Result, Store};
use crate::clock::Millis;

/// One line of the append-only audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When it happened.
    pub at: Millis,
    /// Who did it; `None` for anonymous events (failed logins) and the system.
    pub actor_id: Option<i64>,
    /// What happened, e.g. `user.role_changed`.
    pub action: String,
    /// Kind of object acted on, e.g. `user`, `project`.
    pub target_type: Option<String>,
    /// Id of the object acted on.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// JSON object with event-specific detail; never a secret.
    pub detail: serde_json::Value,
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// Who did it.
    pub actor_id: Option<i64>,
    /// What happened.
    pub action: &'static str,
    /// Kind of object acted on.
    pub target_type: Option<&'static str>,
    /// Id of the object acted on.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Event-specific detail; never a secret.
    pub detail: serde_json::Value,
}

/// Filters of the audit list.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    /// Exact action name.
    pub action: Option<&'a str>,
    /// Only events by this actor.
    pub actor_id: Option<i64>,
}

impl Store {
    /// Appends an event. The tables' triggers refuse updates and deletes.
    pub async fn append_audit(&self, entry: NewAuditEntry, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, action, target_type, target_id, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now)
        .bind(entry.actor_id)
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id)
        .bind(entry.ip)
        .bind(entry.detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Events in sequence order, a page at a time.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Page<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, target_type, target_id, ip, detail FROM audit_log \
             WHERE id > $1 AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR actor_id = $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(after)
        .bind(filter.action)
        .bind(filter.actor_id)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let entries = rows
            .iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor_id: row.try_get("actor_id")?,
                    action: row.try_get("action")?,
                    target_type: row.try_get("target_type")?,
                    target_id: row.try_get("target_id")?,
                    ip: row.try_get("ip")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(entries, limit, |e| e.id))
    }
}
