//! How lookups are counted: this cache's own [`Stats`], and the process-wide Prometheus
//! metrics of hits, misses, lookup times and tier failures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::{CacheError, Inner, Key};

/// This cache's own counts (the Prometheus metrics are process-wide).
#[derive(Default)]
pub(super) struct Counters {
    memory: AtomicU64,
    redis: AtomicU64,
    flight: AtomicU64,
    database: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    /// The counts so far.
    pub(super) fn stats(&self) -> Stats {
        Stats {
            memory_hits: self.memory.load(Ordering::Relaxed),
            redis_hits: self.redis.load(Ordering::Relaxed),
            shared_loads: self.flight.load(Ordering::Relaxed),
            misses: self.database.load(Ordering::Relaxed),
            redis_errors: self.errors.load(Ordering::Relaxed),
            redis_skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// Lookups answered by each tier since the cache was built, and Redis failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Answered by this process's tier.
    pub memory_hits: u64,
    /// Answered by Redis.
    pub redis_hits: u64,
    /// Answered by another caller's load of the same key (single flight).
    pub shared_loads: u64,
    /// Loaded from the database.
    pub misses: u64,
    /// Redis calls that failed or timed out.
    pub redis_errors: u64,
    /// Redis calls not made because the breaker was open.
    pub redis_skipped: u64,
}

/// Where a lookup was answered, for metrics.
#[derive(Clone, Copy)]
pub(super) enum Source {
    Memory,
    Redis,
    /// Another caller's load, waited for.
    Flight,
    Database,
}

impl Inner {
    pub(super) fn record(&self, key: &Key, source: Source, started: Instant) {
        let counter = match source {
            Source::Memory => &self.counters.memory,
            Source::Redis => &self.counters.redis,
            Source::Flight => &self.counters.flight,
            Source::Database => &self.counters.database,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        record(key, source, started);
    }

    pub(super) fn error(&self, key: &Key, op: &'static str, e: &CacheError) {
        let counter = match e {
            CacheError::Unavailable => &self.counters.skipped,
            _ => &self.counters.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        error(key, op, e);
    }
}

fn record(key: &Key, source: Source, started: Instant) {
    let cache = key.namespace().as_str();
    let (result, tier) = match source {
        Source::Memory => ("hit", "memory"),
        Source::Redis => ("hit", "redis"),
        Source::Flight => ("hit", "flight"),
        Source::Database => ("miss", "database"),
    };
    if result == "hit" {
        metrics::counter!("cache_hits_total", "cache" => cache, "tier" => tier).increment(1);
    } else {
        metrics::counter!("cache_misses_total", "cache" => cache).increment(1);
    }
    metrics::histogram!("cache_lookup_duration_seconds", "cache" => cache, "result" => result)
        .record(started.elapsed().as_secs_f64());
}

fn error(key: &Key, op: &'static str, e: &CacheError) {
    metrics::counter!("cache_errors_total", "cache" => key.namespace().as_str(), "op" => op, "reason" => e.reason())
        .increment(1);
    tracing::debug!(key = %key.render(), op, error = %e, "cache tier failed; using the next one");
}
