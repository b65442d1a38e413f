//! The cache's invalidation bus through the database, for processes that share a database
//! without Redis (two hosts, a host and the `agentic` CLI).
//!
//! A write of a cached object forgets its keys here ([`Store::invalidate`]) and, when no Redis
//! carries invalidations, appends them to `cache_invalidations` after its commit. Every serving
//! process runs [`Store::follow_invalidations`]: it reads the rows after the last one it saw
//! every [`POLL`] and forgets those keys in its own in-process tier. So an upgrade, a rollback or
//! a revoked membership made anywhere is seen everywhere within a poll, not after
//! `cache.ttl_secs`. The writers keep the table short (its newest 10 000 rows). Written by hand:
//! a table and a poll are all it takes, on both databases
//! (PostgreSQL's LISTEN/NOTIFY would not serve SQLite, and sqlx's `Any` pool has no listener).

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Result, Store};
use crate::cache::Key;

/// How often a serving process reads new invalidations.
pub const POLL: Duration = Duration::from_millis(200);
/// Sequence numbers re-read behind the newest one seen: on PostgreSQL an identity value is taken
/// before its row commits, so a row can become visible after a higher one was already read.
const OVERLAP: i64 = 64;
/// Rows read per poll at most (a burst is read over several polls).
const BATCH: i64 = 1000;
/// Rows kept; older ones are deleted by the writer of every [`PRUNE_EVERY`]th row (the writers
/// own the table's growth: followers do not run where the cache is off).
const KEEP: i64 = 10_000;
/// How often (in rows written) the writer prunes.
const PRUNE_EVERY: i64 = 1000;

/// Where a follower is in the bus.
#[derive(Debug, Default)]
pub struct Follower {
    /// The newest sequence number read.
    newest: i64,
    /// Sequence numbers already applied within [`OVERLAP`] of `newest`.
    recent: BTreeSet<i64>,
}

impl Store {
    /// Forgets `keys` in this process's cache and, without Redis, tells the other processes on
    /// this database through the bus. Call after the write's transaction committed. Never fails:
    /// a bus row that cannot be written is logged (other processes then see the change after
    /// `cache.ttl_secs`, as before the bus).
    pub(crate) async fn invalidate(&self, keys: impl IntoIterator<Item = Key>) {
        let keys: Vec<Key> = keys.into_iter().collect();
        if keys.is_empty() {
            return;
        }
        self.cache.invalidate(keys.iter().cloned()).await;
        if self.cache.has_shared_bus() {
            return;
        }
        for key in &keys {
            let rendered = key.render();
            let written: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
                "INSERT INTO cache_invalidations (key) VALUES ($1) RETURNING seq",
            )
            .bind(&rendered)
            .fetch_one(&self.pool)
            .await;
            match written {
                Ok(seq) if seq % PRUNE_EVERY == 0 => {
                    let pruned = sqlx::query("DELETE FROM cache_invalidations WHERE seq < $1")
                        .bind(seq - KEEP)
                        .execute(&self.pool)
                        .await;
                    if let Err(e) = pruned {
                        tracing::warn!(error = %e, "old cache invalidations not pruned");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, key = %rendered, "cache invalidation not published to other processes");
                }
            }
        }
    }

    /// A follower positioned after the newest invalidation (a new process's cache is empty, so
    /// nothing before matters to it).
    pub async fn invalidation_follower(&self) -> Result<Follower> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM cache_invalidations")
            .fetch_one(&self.pool)
            .await?;
        Ok(Follower {
            newest: newest.unwrap_or(0),
            ..Follower::default()
        })
    }

    /// Applies the invalidations written since `follower` last read: forgets their keys in this
    /// process's cache. Returns how many keys were forgotten.
    pub async fn apply_invalidations(&self, follower: &mut Follower) -> Result<usize> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, key FROM cache_invalidations WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(follower.newest - OVERLAP)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let fresh: Vec<&(i64, String)> = rows
            .iter()
            .filter(|(seq, _)| *seq > follower.newest || !follower.recent.contains(seq))
            .collect();
        self.cache
            .forget_rendered(fresh.iter().map(|(_, key)| key.as_str()));
        for (seq, _) in &fresh {
            follower.recent.insert(*seq);
            follower.newest = follower.newest.max(*seq);
        }
        let floor = follower.newest - OVERLAP;
        follower.recent.retain(|seq| *seq > floor);
        Ok(fresh.len())
    }

    /// Follows the bus until `stop` turns true (a serving process's background task). Does
    /// nothing when Redis carries invalidations or the cache is off.
    pub async fn follow_invalidations(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.cache.has_shared_bus() || self.cache.mode() == "off" {
            return;
        }
        let mut follower = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let step = match follower.as_mut() {
                None => self.invalidation_follower().await.map(|f| {
                    follower = Some(f);
                    0
                }),
                Some(f) => self.apply_invalidations(f).await,
            };
            if let Err(e) = step {
                tracing::warn!(error = %e, "reading cache invalidations failed; retrying");
            }
        }
    }
}
