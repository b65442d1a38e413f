//! The `jobs` section of the configuration: how this process runs jobs of the queue.

use serde::{Deserialize, Serialize};

/// How this process runs jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Jobs `agentic serve` runs at once beside the API; 0 leaves them to `agentic worker`s.
    pub workers: usize,
    /// Jobs `agentic worker` runs at once.
    pub concurrency: usize,
    /// Seconds a claimed job stays claimed without a heartbeat.
    pub lease_secs: u64,
    /// Postponements in a row without progress (a service that rate-limits every attempt)
    /// after which a job is dead, its last error naming the count and the last reason. A
    /// postponement does not spend an attempt, so without this a job could wait forever.
    pub max_postponements: u32,
    /// Jobs a worker claims ahead of its free slots, in the same round trip (its local queue);
    /// 0: as many as `concurrency` (`jobs.workers` for `serve`). More serves short jobs with
    /// fewer claims; they are held by this worker meanwhile (given back after a second if no
    /// slot frees up).
    pub claim_ahead: usize,
    /// Whether a job's outcome is on disk before the queue records it as finished (PostgreSQL:
    /// its commit waits for the WAL flush). Off trades that for throughput: an outcome lost in
    /// a database crash means its job runs again, repeating its side effects.
    pub durable_outcomes: bool,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            concurrency: 4,
            lease_secs: 30,
            max_postponements: 50,
            claim_ahead: 0,
            durable_outcomes: true,
        }
    }
}
