//! The in-process tier: a bounded moka cache with a time-to-live, in front of everything else.
//!
//! A fill is conditional on a generation counter: a lookup that misses returns the current
//! generation as its stamp, every invalidation bumps it, and a fill whose stamp is no longer
//! current is dropped. So a value read from the database before a write committed can never be
//! stored after that write's invalidation ran (the classic cache-aside race). The counter is one
//! for the whole tier, not one per key: a fill is refused after *any* invalidation since its
//! lookup, which costs a few extra loads when writes are frequent and keeps no per-key state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::{CacheError, Key, Lookup, Tier};

/// Entries of this process.
pub(super) struct Memory {
    entries: moka::sync::Cache<Key, Bytes>,
    /// Bumped by every invalidation; a fill must carry the current value.
    generation: AtomicU64,
    /// Makes "check the generation, insert" and "bump the generation, remove" atomic with
    /// respect to each other. Lookups do not take it.
    writes: Mutex<()>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("entries", &self.entries.entry_count())
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish()
    }
}

impl Memory {
    /// Up to `max_entries` entries, each kept at most `ttl`.
    pub(super) fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            generation: AtomicU64::new(0),
            writes: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The entry, or the stamp a fill must carry.
    pub(super) fn lookup(&self, key: &Key) -> Lookup {
        match self.entries.get(key) {
            Some(bytes) => Lookup::Hit(bytes),
            None => Lookup::Miss(self.generation.load(Ordering::Acquire)),
        }
    }

    /// Stores `value` unless an invalidation ran since the lookup that returned `stamp`.
    pub(super) fn fill(&self, key: &Key, stamp: u64, value: Bytes) {
        let _guard = self.lock();
        if self.generation.load(Ordering::Acquire) == stamp {
            self.entries.insert(key.clone(), value);
        }
    }

    /// Drops `keys`; fills that looked up before this are refused.
    pub(super) fn invalidate(&self, keys: &[Key]) {
        let _guard = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for key in keys {
            self.entries.invalidate(key);
        }
    }

    /// Drops everything (the invalidation bus was down: anything may have changed).
    pub(super) fn clear(&self) {
        let _guard = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

impl Tier for Memory {
    async fn get(&self, key: &Key) -> Result<Lookup, CacheError> {
        Ok(self.lookup(key))
    }

    async fn set(&self, key: &Key, stamp: u64, value: Bytes) -> Result<(), CacheError> {
        self.fill(key, stamp, value);
        Ok(())
    }

    async fn delete(&self, keys: &[Key]) -> Result<(), CacheError> {
        self.invalidate(keys);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let memory = Memory::new(100, Duration::from_secs(60));
        let key = Key::project(1);
        let Lookup::Miss(stamp) = memory.lookup(&key) else {
            panic!("empty cache hit")
        };
        // A write commits and invalidates while the loader is still reading the old row.
        memory.invalidate(std::slice::from_ref(&key));
        memory.fill(&key, stamp, Bytes::from_static(b"old"));
        assert!(
            matches!(memory.lookup(&key), Lookup::Miss(_)),
            "stale fill refused"
        );

        let Lookup::Miss(stamp) = memory.lookup(&key) else {
            panic!("hit")
        };
        memory.fill(&key, stamp, Bytes::from_static(b"new"));
        assert!(matches!(memory.lookup(&key), Lookup::Hit(b) if b == "new"));
        memory.clear();
        assert!(matches!(memory.lookup(&key), Lookup::Miss(_)));
    }
}
