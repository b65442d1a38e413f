//! The bounds of one sync run of a stream.
//!
//! A connector decides when a stream ends (`has-more`) and where the next page starts (its
//! state); both come from untrusted code and from services that can misbehave. A run that never
//! ends would hold a worker and a share of plugin instances forever and fill the database, so
//! every run is bounded in pages, records and time, and a state that comes back (the same page
//! asked for again, or a cycle of states) ends the run at once. Each bound ends the run with a
//! permanent error that names it and the setting that raises it; the pages stored until then
//! are kept, so the next sync resumes where this one stopped.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Bounds of one sync run of one stream (configuration section `sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncLimits {
    /// Pages one run may read.
    pub max_pages_per_run: u64,
    /// Records one run may store.
    pub max_records_per_run: u64,
    /// Seconds one run may take.
    pub max_run_secs: u64,
}

impl Default for SyncLimits {
    fn default() -> Self {
        // Far above any real stream's run (a 100 000-issue JIRA project is 1 000 pages and
        // takes seconds), far below "forever".
        Self {
            max_pages_per_run: 100_000,
            max_records_per_run: 10_000_000,
            max_run_secs: 6 * 3600,
        }
    }
}

impl SyncLimits {
    /// Refuses bounds that would stop every sync.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_pages_per_run == 0 || self.max_records_per_run == 0 || self.max_run_secs == 0 {
            return Err("sync.max_pages_per_run, sync.max_records_per_run and \
                        sync.max_run_secs must be greater than zero"
                .into());
        }
        Ok(())
    }
}

/// Watches one run: call [`Run::state`] for every page before it is stored, and
/// [`Run::stored`] after.
#[derive(Debug)]
pub(crate) struct Run {
    limits: SyncLimits,
    started: Instant,
    pages: u64,
    records: u64,
    /// Hashes of every state this run started a page from: a state seen again means the
    /// connector asks for a page it already read.
    states: HashSet<u64>,
}

impl Run {
    /// A run starting from `state`.
    pub(crate) fn new(limits: SyncLimits, state: Option<&str>) -> Self {
        let mut states = HashSet::new();
        states.insert(hash(state));
        Self {
            limits,
            started: Instant::now(),
            pages: 0,
            records: 0,
            states,
        }
    }

    /// Checks the state a page returned (with more pages to follow) before the page is stored.
    pub(crate) fn state(&mut self, stream: &str, state: &str) -> Result<(), String> {
        if self.states.insert(hash(Some(state))) {
            return Ok(());
        }
        Err(format!(
            "stream {stream}: after {} pages the connector returned a state it had already \
             returned in this run, with more pages to come; its reads do not advance, so the run \
             was ended (a connector must return a new state with every page)",
            self.pages + 1
        ))
    }

    /// Counts a stored page of `records`; an error when the run has reached a bound and more
    /// pages would follow.
    pub(crate) fn stored(&mut self, stream: &str, records: u64) -> Result<(), String> {
        self.pages += 1;
        self.records += records;
        let kept = "the pages read are kept and the next sync resumes after them";
        if self.pages >= self.limits.max_pages_per_run {
            return Err(format!(
                "stream {stream}: the run read {} pages, the most one run may \
                 (sync.max_pages_per_run); {kept}",
                self.pages
            ));
        }
        if self.records >= self.limits.max_records_per_run {
            return Err(format!(
                "stream {stream}: the run stored {} records, the most one run may \
                 (sync.max_records_per_run); {kept}",
                self.records
            ));
        }
        if self.started.elapsed() >= Duration::from_secs(self.limits.max_run_secs) {
            return Err(format!(
                "stream {stream}: the run took longer than {} s, the longest one run may \
                 (sync.max_run_secs); {kept}",
                self.limits.max_run_secs
            ));
        }
        Ok(())
    }
}

fn hash(state: Option<&str>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    state.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_seen_before_ends_the_run() {
        let mut run = Run::new(SyncLimits::default(), None);
        run.state("s", "1").expect("new");
        run.state("s", "2").expect("new");
        let e = run.state("s", "1").expect_err("a cycle");
        assert!(e.contains("do not advance"), "{e}");
        // The state the run started from counts too.
        let mut run = Run::new(SyncLimits::default(), Some("7"));
        assert!(run.state("s", "7").is_err());
    }

    #[test]
    fn pages_and_records_are_bounded() {
        let limits = SyncLimits {
            max_pages_per_run: 3,
            max_records_per_run: 1_000,
            max_run_secs: 3600,
        };
        let mut run = Run::new(limits, None);
        run.stored("s", 10).expect("1");
        run.stored("s", 10).expect("2");
        let e = run.stored("s", 10).expect_err("3 is the bound");
        assert!(e.contains("sync.max_pages_per_run"), "{e}");
        let mut run = Run::new(limits, None);
        let e = run.stored("s", 1_000).expect_err("records");
        assert!(e.contains("sync.max_records_per_run"), "{e}");
    }
}
