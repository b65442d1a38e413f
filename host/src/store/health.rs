//! Whether the database can write now, for readiness.
//!
//! A database that answers reads may still refuse every write: the disk is full, or a
//! connection holds the write lock and never lets go. Two signals tell:
//! - a probe ([`Store::check_writable`]) that does what a write does without keeping anything:
//!   on SQLite it takes the write lock (`BEGIN IMMEDIATE`, so a lock held elsewhere shows) and
//!   creates a table, which needs a fresh page (so a database that cannot grow by a page shows
//!   `SQLITE_FULL`), then rolls back; on PostgreSQL it asks whether the server accepts writes
//!   (not a replica in recovery, not read-only);
//! - the last "full" failure of a write, remembered for [`FULL_MEMORY`] or until a later write
//!   of the same kind succeeds: a real full disk often shows only when pages reach the file
//!   (SQLite's WAL), which a rolled-back probe never does. Blob writes (the largest writes, so
//!   the first to meet a full disk) report here.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Backend, Result, Store, StoreError};

/// How long a write that failed because the database was full keeps the host "not ready"
/// unless a later write succeeds first.
pub const FULL_MEMORY: Duration = Duration::from_secs(60);

/// What [`StoreError::Unavailable`] says when the database (or its disk) is full; how the
/// API recognises the case ([`StoreError::is_full`]) to say so instead of "unavailable".
pub(crate) const FULL: &str = "the database is full";

/// The last write that failed because the database was full.
#[derive(Debug, Default)]
pub(crate) struct WriteHealth {
    last_full: Mutex<Option<(Instant, String)>>,
}

impl WriteHealth {
    /// Remembers `e` when it says the database is full.
    pub(crate) fn failed(&self, e: &StoreError) {
        if e.is_full() {
            if let Ok(mut last) = self.last_full.lock() {
                *last = Some((Instant::now(), e.to_string()));
            }
        }
    }

    /// A write went through: the database is not full (any more).
    pub(crate) fn succeeded(&self) {
        if let Ok(mut last) = self.last_full.lock() {
            *last = None;
        }
    }

    /// The remembered failure, while it is recent.
    fn recent_full(&self) -> Option<(Duration, String)> {
        let last = self.last_full.lock().ok()?;
        let (at, why) = last.as_ref()?;
        let ago = at.elapsed();
        (ago < FULL_MEMORY).then(|| (ago, why.clone()))
    }
}

impl StoreError {
    /// Whether the database (or the disk under it) is full: `SQLITE_FULL`, or PostgreSQL's
    /// `disk_full` (53100).
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Unavailable(why) if why.contains(FULL))
    }
}

impl Store {
    /// Checks that the database can take a write now (see the module doc); the error says why
    /// it cannot. Keeps nothing: the probe's transaction is rolled back.
    pub async fn check_writable(&self) -> Result<()> {
        if let Some((ago, why)) = self.health.recent_full() {
            return Err(StoreError::Unavailable(format!(
                "a write failed {} s ago: {why}",
                ago.as_secs()
            )));
        }
        match self.backend {
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                sqlx::query("CREATE TABLE agentic_write_probe (data BLOB)")
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await?;
            }
            Backend::Postgres => {
                let writable: i64 = sqlx::query_scalar(
                    "SELECT CASE WHEN pg_is_in_recovery() \
                     OR current_setting('transaction_read_only') = 'on' THEN 0 ELSE 1 END",
                )
                .fetch_one(&self.pool)
                .await?;
                if writable == 0 {
                    return Err(StoreError::Unavailable(
                        "the PostgreSQL server accepts no writes (a replica, or read-only)".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}
