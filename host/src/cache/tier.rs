//! The contract of one tier of the cache ([`Tier`]), what a lookup answers ([`Lookup`]) and
//! why a tier could not answer ([`CacheError`]).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::Key;

/// The answer of a tier: the value, or the stamp a later fill of this key must carry (the
/// fill is dropped if the key was invalidated in between).
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Found.
    Hit(Bytes),
    /// Not found; fill with this stamp.
    Miss(u64),
}

/// Why a tier could not answer. The front never lets one reach a caller: it goes to the next
/// tier or the database instead.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// `cache.redis_url` is not a Redis URL.
    #[error("invalid cache.redis_url: {0}")]
    Url(String),
    /// The circuit breaker is open: Redis failed recently and is left alone for a while.
    #[error("Redis is unavailable (recent failure; retrying later)")]
    Unavailable,
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] ::redis::RedisError),
}

impl CacheError {
    /// The metric label.
    pub(super) fn reason(&self) -> &'static str {
        match self {
            CacheError::Url(_) => "config",
            CacheError::Unavailable => "unavailable",
            CacheError::Timeout(_) => "timeout",
            CacheError::Redis(_) => "error",
        }
    }
}

/// One tier of the cache: bytes under [`Key`]s. A fill carries the stamp of the lookup that
/// missed, so that a value loaded before an invalidation is never stored after it.
pub trait Tier {
    /// The value of `key`, or the stamp to fill it with.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Lookup, CacheError>> + Send;
    /// Stores `value` for `key` (with the tier's time-to-live) unless `key` was invalidated
    /// since the lookup that returned `stamp`.
    fn set(
        &self,
        key: &Key,
        stamp: u64,
        value: Bytes,
    ) -> impl Future<Output = Result<(), CacheError>> + Send;
    /// Drops `keys` — in every process that shares the tier.
    fn delete(&self, keys: &[Key]) -> impl Future<Output = Result<(), CacheError>> + Send;
}
