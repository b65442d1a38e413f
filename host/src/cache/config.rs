//! The `cache` section of the configuration: the in-process tier, Redis, and their bounds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The read-through cache of projects, memberships and plugin lookups (see [`crate::cache`]).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Cache at all. Off, every lookup reads the database.
    pub enabled: bool,
    /// Longest an entry is kept. Changes made by another process on the same database (the CLI,
    /// a second host) are forgotten sooner: through Redis at once, else through the database
    /// bus (`store::invalidations`) within a poll.
    pub ttl_secs: u64,
    /// Entries kept in this process; 0 keeps none (every lookup asks Redis or the database).
    pub max_entries: u64,
    /// Redis shared by every host of a cluster: a second tier and the invalidation bus. Also
    /// read from `AGENTIC_REDIS_URL`.
    pub redis_url: Option<String>,
    /// Prefix of every key and channel; deployments sharing one Redis need different ones.
    pub redis_prefix: String,
    /// Longest wait for one Redis call before the database answers instead.
    pub redis_timeout_ms: u64,
    /// After a failed call Redis is not asked again for this long (then one call probes it).
    pub redis_retry_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 10,
            max_entries: 100_000,
            redis_url: None,
            redis_prefix: "agentic:".into(),
            redis_timeout_ms: 50,
            redis_retry_ms: 1_000,
        }
    }
}

/// The Redis URL may carry a password.
impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("enabled", &self.enabled)
            .field("ttl_secs", &self.ttl_secs)
            .field("max_entries", &self.max_entries)
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(crate::telemetry::redact_url),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("redis_retry_ms", &self.redis_retry_ms)
            .finish()
    }
}

impl CacheConfig {
    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.ttl_secs) {
            return Err("cache.ttl_secs must be between 1 and 86400".into());
        }
        if !(1..=10_000).contains(&self.redis_timeout_ms) {
            return Err("cache.redis_timeout_ms must be between 1 and 10000".into());
        }
        if !(10..=600_000).contains(&self.redis_retry_ms) {
            return Err("cache.redis_retry_ms must be between 10 and 600000".into());
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err("cache.redis_prefix must be non-empty, without spaces".into());
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
                return Err(
                    "cache.redis_url must be redis://HOST:PORT/DB (rediss:// is not supported)"
                        .into(),
                );
            }
        }
        Ok(())
    }
}
