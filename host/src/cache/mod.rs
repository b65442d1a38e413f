//! The read-through cache of the hot lookups.
//!
//! Every request made with an access token reads its session and its user; every authenticated
//! project request loads the project and (for non-administrators) checks a membership; every
//! plugin call reads which version is active and whether the project enabled
//! it. The store answers those through [`Cache::get_or_load`]; each write of those objects calls
//! [`Cache::invalidate`] after its transaction commits.
//!
//! # Layout
//! - `key`: what is cached ([`Namespace`]) and which object ([`Key`]).
//! - [`Tier`] (`tier`): the small contract of one tier: get (a hit, or a *stamp* for a
//!   conditional fill), set-with-stamp, delete.
//! - `memory`: the in-process tier (moka), on by default.
//! - `redis`: the shared tier and the invalidation bus, when `cache.redis_url` is set.
//! - [`breaker`]: leaves a failing Redis alone for an interval.
//! - [`Cache`]: the front: this process's tier, then Redis, then the database, with one load
//!   per key at a time (single flight) and metrics.
//! - `stats`: how lookups are counted ([`Stats`] and the Prometheus metrics).
//!
//! # Invalidation across processes
//! With Redis, two mechanisms work together, each for what it is good at:
//! - **Versioned keys** keep the Redis tier itself exact. Each object has a counter
//!   (`…v:<key>`); its value is stored under `…d:<key>:<counter>`. A reader reads the counter
//!   and the value in one script; a writer increments the counter after its commit. A reader
//!   that loaded an old row from the database can only store it under the old counter, where
//!   nobody looks any more, so no race can put a stale value back (plain delete-on-write cannot
//!   promise that).
//! - **Pub/sub** keeps every host's in-process tier exact without asking Redis on each hit: the
//!   writer's script also publishes the keys; every host drops them and acknowledges, and the
//!   writer waits (bounded) for as many acknowledgements as Redis counted receivers. So when a
//!   write returns, every host that is listening has already forgotten the old value — a
//!   revoked membership is refused on the very next request, on any host. Versioned keys alone
//!   would cost a Redis round trip per hit; pub/sub alone could lose a message and leave the
//!   Redis tier racy.
//!
//! A host uses its in-process tier only while its subscription is up and answering heartbeats
//! and Redis answers its calls; it empties that tier whenever the subscription is lost or comes
//! back, because it may have missed messages in between. With Redis down or slow every lookup
//! therefore goes to the database: slower, never wrong, never an error. Writes made while a
//! host could not reach Redis are published when it can again.
//!
//! Without Redis, invalidations travel through the database instead: every write appends its
//! keys to a table and every serving process reads the new rows a few times a second and
//! forgets them ([`Cache::forget_rendered`], driven by `store::invalidations`). A change made by
//! another process on the same database (the `agentic` CLI, a second host) is then seen within
//! that poll interval rather than `cache.ttl_secs`; Redis stays the way to see it at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use config::CacheConfig;

/// The circuit breaker in front of Redis.
pub mod breaker;
/// The `cache` section of the configuration.
pub mod config;
/// What is cached, and under which key.
mod key;
/// The in-process tier.
mod memory;
/// The Redis tier and the invalidation bus.
mod redis;
/// This cache's counts and the process-wide metrics of lookups.
mod stats;
/// The contract of one tier, and why a tier could not answer.
mod tier;

pub use key::{Key, Namespace};
use memory::Memory;
use redis::RedisTier;
pub use stats::Stats;
use stats::{Counters, Source};
pub use tier::{CacheError, Lookup, Tier};

/// How the cache is doing, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Caching is turned off.
    Off,
    /// In-process only, or Redis reachable and the invalidation bus listening.
    Ok,
    /// Redis is configured but unreachable (or not yet listening): lookups go to the database.
    Degraded,
}

impl Health {
    /// The word reported by `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Off => "off",
            Health::Ok => "ok",
            Health::Degraded => "degraded",
        }
    }
}

/// The cache front; cheap to clone. A disabled cache calls the loader every time.
#[derive(Clone, Default)]
pub struct Cache {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// One load under way for a key; callers that miss meanwhile wait for it instead of loading the
/// same row again.
type Flight = Arc<OnceCell<Bytes>>;

struct Inner {
    memory: Option<Memory>,
    redis: Option<RedisTier>,
    flights: Mutex<HashMap<Key, Flight>>,
    counters: Counters,
}

impl Cache {
    /// No caching: every lookup runs its loader.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// This process's tier only.
    pub fn in_process(max_entries: u64, ttl: Duration) -> Self {
        Self::build(Some(Memory::new(max_entries, ttl)), None)
    }

    /// The cache `config` describes; with Redis, starts listening for invalidations (in the
    /// background: an unreachable Redis delays nothing). Needs a tokio runtime.
    pub fn from_config(config: &CacheConfig) -> Result<Self, CacheError> {
        if !config.enabled {
            return Ok(Self::disabled());
        }
        let ttl = Duration::from_secs(config.ttl_secs);
        let memory = (config.max_entries > 0).then(|| Memory::new(config.max_entries, ttl));
        let Some(url) = &config.redis_url else {
            return Ok(Self::build(memory, None));
        };
        let redis = RedisTier::new(
            url,
            &config.redis_prefix,
            ttl,
            Duration::from_millis(config.redis_timeout_ms),
            Duration::from_millis(config.redis_retry_ms),
        )?;
        let cache = Self::build(memory, Some(redis));
        if let Some(inner) = &cache.inner {
            tokio::spawn(redis::listen(Arc::downgrade(inner)));
        }
        Ok(cache)
    }

    fn build(memory: Option<Memory>, redis: Option<RedisTier>) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                memory,
                redis,
                flights: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            })),
        }
    }

    /// `off`, `in-process`, `redis` or `redis-only` (no in-process tier).
    pub fn mode(&self) -> &'static str {
        match &self.inner {
            None => "off",
            Some(inner) => match (&inner.memory, &inner.redis) {
                (_, None) => "in-process",
                (Some(_), Some(_)) => "redis",
                (None, Some(_)) => "redis-only",
            },
        }
    }

    /// The value of `key`: from this process, else Redis, else `load` (the database), which
    /// then fills both. Concurrent misses of one key share one load. Cache trouble never
    /// fails the lookup; only `load`'s own error does.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: Key, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(inner) = &self.inner else {
            return load().await;
        };
        let started = Instant::now();
        let memory = inner.usable_memory();
        let stamp = match memory {
            Some(memory) => match memory.lookup(&key) {
                Lookup::Hit(bytes) => match decode(&key, &bytes) {
                    Some(value) => {
                        inner.record(&key, Source::Memory, started);
                        return Ok(value);
                    }
                    None => {
                        memory.invalidate(std::slice::from_ref(&key));
                        None
                    }
                },
                Lookup::Miss(stamp) => Some(stamp),
            },
            None => None,
        };

        let flight = inner.flight(&key);
        let mut loaded: Option<T> = None;
        let mut source = Source::Flight;
        let (loaded_here, source_here, load_here, k) = (&mut loaded, &mut source, &load, &key);
        let result = flight
            .get_or_try_init(|| async move {
                let version = match &inner.redis {
                    Some(redis) => match redis.get(k).await {
                        Ok(Lookup::Hit(bytes)) if decode::<T>(k, &bytes).is_some() => {
                            *source_here = Source::Redis;
                            return Ok(bytes);
                        }
                        // Unreadable (another release's format): load, and leave it to expire.
                        Ok(Lookup::Hit(_)) => None,
                        Ok(Lookup::Miss(version)) => Some(version),
                        Err(e) => {
                            inner.error(k, "get", &e);
                            None
                        }
                    },
                    None => None,
                };
                let value = load_here().await?;
                *source_here = Source::Database;
                let bytes = encode(k, &value);
                if let (Some(redis), Some(version), false) =
                    (&inner.redis, version, bytes.is_empty())
                {
                    if let Err(e) = redis.set(k, version, bytes.clone()).await {
                        inner.error(k, "set", &e);
                    }
                }
                *loaded_here = Some(value);
                Ok(bytes)
            })
            .await
            .cloned();
        inner.land(&key, &flight);
        let bytes = result?;
        if let (Some(memory), Some(stamp), false) = (memory, stamp, bytes.is_empty()) {
            memory.fill(&key, stamp, bytes.clone());
        }
        let value = match loaded {
            Some(value) => value,
            None => match decode(&key, &bytes) {
                Some(value) => value,
                None => {
                    source = Source::Database;
                    load().await?
                }
            },
        };
        inner.record(&key, source, started);
        Ok(value)
    }

    /// Forgets `keys` here and, with Redis, on every host (waiting, within bounds, until they
    /// have). Call after the write's transaction committed. Never fails: with Redis
    /// unreachable the keys are published once it is back.
    pub async fn invalidate(&self, keys: impl IntoIterator<Item = Key>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let keys: Vec<Key> = keys.into_iter().collect();
        if keys.is_empty() {
            return;
        }
        inner.forget_from(&keys, "local");
        if let Some(redis) = &inner.redis {
            if let Err(e) = redis.delete(&keys).await {
                inner.error(&keys[0], "invalidate", &e);
            }
            // Again: a lookup here between the first forget and the version bump may have found
            // the old value in Redis and stored it in memory.
            inner.forget(&keys);
        }
    }

    /// Whether invalidations reach other processes through Redis (otherwise the store carries
    /// them through the database).
    pub fn has_shared_bus(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.redis.is_some())
    }

    /// Forgets, in this process only, keys written by [`Key::render`] in another process (the
    /// database bus). Unknown keys are ignored.
    pub fn forget_rendered<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let keys: Vec<Key> = keys.into_iter().filter_map(Key::parse).collect();
        inner.forget_from(&keys, "database");
    }

    /// Counts since this cache was built (zero when disabled).
    pub fn stats(&self) -> Stats {
        let Some(inner) = &self.inner else {
            return Stats::default();
        };
        inner.counters.stats()
    }

    /// Whether the cache works as configured; with Redis, asks it (within its timeout; at once
    /// while the breaker is open).
    pub async fn health(&self) -> Health {
        match &self.inner {
            None => Health::Off,
            Some(inner) => match &inner.redis {
                None => Health::Ok,
                Some(redis) => {
                    if redis.ping().await && redis.listening() {
                        Health::Ok
                    } else {
                        Health::Degraded
                    }
                }
            },
        }
    }
}

impl Inner {
    /// The in-process tier, if there is one and it can be trusted right now: with Redis, only
    /// while this host hears about every other host's writes.
    fn usable_memory(&self) -> Option<&Memory> {
        let memory = self.memory.as_ref()?;
        match &self.redis {
            Some(redis) if !redis.in_sync() => None,
            _ => Some(memory),
        }
    }

    /// The load under way for `key`, or a new one.
    fn flight(&self, key: &Key) -> Flight {
        self.lock_flights()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone()
    }

    /// The load for `key` is over: later callers start their own (unless it was replaced).
    fn land(&self, key: &Key, flight: &Flight) {
        let mut flights = self.lock_flights();
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(key);
        }
    }

    fn lock_flights(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Flight>> {
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops `keys` from this process: its tier, and loads under way (a caller arriving after
    /// the write must not join a load that may have read the old row).
    fn forget(&self, keys: &[Key]) {
        if let Some(memory) = &self.memory {
            memory.invalidate(keys);
        }
        let mut flights = self.lock_flights();
        for key in keys {
            flights.remove(key);
        }
    }

    /// [`Inner::forget`], counted as invalidations from `origin` (`local`: this process's own
    /// write; `remote`: Redis; `database`: the database bus).
    fn forget_from(&self, keys: &[Key], origin: &'static str) {
        self.forget(keys);
        for key in keys {
            metrics::counter!("cache_invalidations_total", "cache" => key.namespace().as_str(), "origin" => origin)
                .increment(1);
        }
    }

    /// Drops everything this process holds.
    fn forget_all(&self) {
        if let Some(memory) = &self.memory {
            memory.clear();
        }
        self.lock_flights().clear();
    }
}

fn decode<T: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Option<T> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(key = %key.render(), error = %e, "unreadable cache entry ignored");
            None
        }
    }
}

/// The value's bytes; empty (and so never stored) if it cannot be encoded.
fn encode<T: Serialize>(key: &Key, value: &T) -> Bytes {
    match serde_json::to_vec(value) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => {
            tracing::warn!(key = %key.render(), error = %e, "value not cacheable");
            Bytes::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_invalidation_reloads() {
        let cache = Cache::in_process(100, Duration::from_secs(60));
        let loads = Arc::new(AtomicUsize::new(0));
        let load = || {
            let loads = loads.clone();
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, ()>(loads.load(Ordering::SeqCst))
            }
        };
        let results = futures_util::future::join_all(
            (0..16).map(|_| cache.get_or_load(Key::project(1), load)),
        )
        .await;
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for 16 callers");
        assert!(results.iter().all(|r| *r == Ok(1)));
        assert_eq!(
            cache.get_or_load(Key::project(1), load).await,
            Ok(1),
            "a hit"
        );
        cache.invalidate([Key::project(1)]).await;
        assert_eq!(
            cache.get_or_load(Key::project(1), load).await,
            Ok(2),
            "reloaded"
        );
    }

    #[tokio::test]
    async fn a_failed_load_is_not_cached_and_a_disabled_cache_always_loads() {
        let cache = Cache::in_process(100, Duration::from_secs(60));
        let failing = || async { Err::<i64, &str>("database down") };
        assert_eq!(
            cache.get_or_load(Key::project(2), failing).await,
            Err("database down")
        );
        let ok = || async { Ok::<i64, &str>(5) };
        assert_eq!(cache.get_or_load(Key::project(2), ok).await, Ok(5));

        let off = Cache::disabled();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            off.get_or_load(Key::project(3), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(1)
            })
            .await
            .ok();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(off.health().await, Health::Off);
    }
}
