//! The durable job queue: long work (syncs, deploys, scheduled runs) outside request handlers.
//!
//! Jobs live in the application database ([`crate::store::jobs`]), so any number of
//! `agentic serve` and `agentic worker` processes share one queue. A [`Worker`] claims due
//! jobs of the kinds it has [`JobHandler`]s for, holds each under a lease it renews with
//! heartbeats, and records the outcome:
//!
//! - success stores the handler's output;
//! - a failure is retried after an exponential backoff with jitter ([`backoff`]) until
//!   `max_attempts`, then the job is dead (kept, and retryable by hand);
//! - a rate limit postpones the job to the service's `Retry-After` without spending an attempt;
//! - cancellation is cooperative: the heartbeat learns of it and the handler's
//!   [`JobContext::cancelled`] fires, which a plugin call awaits beside its own future (dropping
//!   the call stops the guest);
//! - a worker that dies stops heartbeating; its lease expires and another worker reclaims the
//!   job ([`crate::store::Store::reclaim_expired`]);
//! - every write an attempt makes is fenced by its lease ([`JobContext::fence`]): a worker that
//!   lost its lease (paused past it, cut off from the database) gets [`JobError::LeaseLost`]
//!   and stops, having changed nothing — pages, sync state, progress and outcome alike;
//! - each ended attempt is kept in the job's history (`job_attempts`, or for the success that
//!   ends a job, the job's own row: one write per outcome); a success clears the job's
//!   `last_error`, and a handler carries totals across attempts in the job's checkpoint.

/// The `jobs` section of the configuration.
pub mod config;
/// The performance summary of the queue and syncs over a time window.
pub mod report;
/// Cron schedules that enqueue jobs.
pub mod schedule;
mod successes;
/// The worker loop.
pub mod worker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

pub use worker::{Worker, WorkerOptions};

use crate::clock::Millis;
use crate::store::job_attempts::{Fence, Lease};
use crate::store::jobs::{Job, NewJob};
use crate::store::StoreError;

pub use crate::store::jobs::JobState;

/// The longest a job is postponed at once, whatever a service asks: a connector asking for
/// 4e9 seconds must not park a job for a century.
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// Why a run of a job did not succeed; decides what happens next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (network, a transient service error).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (bad input, refused credential, missing connection).
    #[error("{0}")]
    Permanent(String),
    /// The service asked to wait: run again then (at most [`MAX_RETRY_AFTER_SECS`] later),
    /// without spending an attempt. Bounded: after `jobs.max_postponements` of these in a row
    /// without progress the job is dead.
    #[error("rate limited for {retry_after_secs}s: {message}")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
        /// What the service said.
        message: String,
    },
    /// Another run holds what this one needs (a stream's sync lock): run again later without
    /// spending an attempt. Not counted against `jobs.max_postponements`: the run it waits
    /// for is the one making progress, and it ends by its own bounds.
    #[error("waiting {retry_after_secs}s: {message}")]
    Waiting {
        /// Seconds to wait.
        retry_after_secs: u64,
        /// What is awaited.
        message: String,
    },
    /// Stopped because cancellation was asked.
    #[error("cancelled")]
    Cancelled,
    /// The attempt lost its lease (another attempt owns the job now): it stops and writes
    /// nothing, not even its outcome.
    #[error("the lease was lost; this attempt stopped without writing")]
    LeaseLost,
}

impl JobError {
    /// A store error met while `doing` something: a lost lease stops the attempt, anything
    /// else is worth another try.
    pub fn store(doing: &str, e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost => JobError::LeaseLost,
            other => JobError::Retry(format!("{doing}: {other}")),
        }
    }
}

/// What a handler gets: the job, a way to report progress, and the cancellation signal.
#[derive(Clone)]
pub struct JobContext {
    /// The job as claimed.
    pub job: Job,
    /// The lease this attempt runs under (`None`: run outside the queue, unfenced).
    lease: Option<Lease>,
    progress: Arc<dyn Fn(i64, Option<i64>, String) + Send + Sync>,
    cancel: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.job.id)
            .finish()
    }
}

impl JobContext {
    /// A context for running a handler outside a worker (tests, the CLI). A job claimed by
    /// hand keeps its lease: its writes are fenced as a worker's are.
    pub fn detached(job: Job) -> (Self, tokio::sync::watch::Sender<bool>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (
            Self {
                lease: job.lease(),
                job,
                progress: Arc::new(|_, _, _| {}),
                cancel: rx,
            },
            tx,
        )
    }

    /// Reports progress: `done` of `total` units, and what is happening. Cheap to call often:
    /// the worker writes it to the database at most a few times a second.
    pub fn progress(&self, done: i64, total: Option<i64>, message: impl Into<String>) {
        (self.progress)(done, total, message.into());
    }

    /// The lease this attempt holds (`None` outside the queue).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The fence of a write this attempt makes: the store refuses the write with
    /// [`StoreError::LeaseLost`] once the lease is lost. `None` outside the queue.
    pub fn fence(&self) -> Option<Fence<'_>> {
        self.lease.as_ref().map(|lease| Fence {
            lease,
            checkpoint: None,
        })
    }

    /// [`JobContext::fence`], storing `checkpoint` in the same transaction as the write: what
    /// the next attempt starts from ([`JobContext::checkpoint`]).
    pub fn fence_with(&self, checkpoint: &impl serde::Serialize) -> Option<Fence<'_>> {
        self.lease.as_ref().map(|lease| Fence {
            lease,
            checkpoint: serde_json::to_string(checkpoint).ok(),
        })
    }

    /// The checkpoint the attempts before this one stored, if any.
    pub fn checkpoint<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.job.checkpoint.as_deref()?).ok()
    }

    /// Whether cancellation was asked.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when cancellation is asked (never, if it is not).
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                // The worker went away without cancelling: wait forever, as documented.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `work` unless cancellation comes first (then `work` is dropped: a plugin call in it
    /// stops at once).
    pub async fn unless_cancelled<T>(&self, work: impl Future<Output = T>) -> Result<T, JobError> {
        tokio::select! {
            out = work => Ok(out),
            () = self.cancelled() => Err(JobError::Cancelled),
        }
    }
}

/// The future a handler returns.
pub type JobFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, JobError>> + Send + 'a>>;

/// Runs jobs of one kind.
pub trait JobHandler: Send + Sync {
    /// The kind it runs (`sync`, …).
    fn kind(&self) -> &'static str;

    /// Runs one attempt. Progress and cancellation through `ctx`.
    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a>;
}

/// The delay before attempt `attempt + 1` after `attempt` failed: 2 s doubling per attempt,
/// capped at an hour, with "equal jitter" (half fixed, half random) so a burst of failures does
/// not come back as a burst.
pub fn backoff(attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 20) - 1;
    let full_ms: u64 = (2_000u64 << exp).min(3_600_000);
    let half = full_ms / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=half))
}

/// Attempts of a new job before it is dead.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// A job of `kind` for `project` with `payload` as its input, due at `run_at`, with the
/// defaults every enqueuer shares (priority 0, [`DEFAULT_MAX_ATTEMPTS`], no idempotency key);
/// change a field where a caller needs otherwise.
pub fn new_job(
    kind: &str,
    project_id: Option<i64>,
    payload: &impl serde::Serialize,
    created_by: Option<i64>,
    run_at: Millis,
) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        project_id,
        payload: serde_json::to_string(payload).unwrap_or_default(),
        priority: 0,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
        run_at,
        idempotency_key: None,
        created_by,
    }
}

/// A job that does nothing: measures the queue itself (benchmarks) and proves a worker is
/// alive. Its output names the worker that ran it.
#[derive(Debug)]
pub struct Noop;

impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(async move { Ok(serde_json::json!({"worker": ctx.job.lease_owner})) })
    }
}
