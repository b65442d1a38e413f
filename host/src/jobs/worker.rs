//! The worker loop: claim, run under a heartbeated lease, record the outcome.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

use super::successes::Successes;
use super::{backoff, schedule, JobContext, JobError, JobHandler, MAX_RETRY_AFTER_SECS};
use crate::clock::Clock;
use crate::store::job_attempts::Lease;
use crate::store::jobs::{Job, Outcome, Postponement};
use crate::store::{Store, StoreError};

/// Longest a job claimed ahead of a free slot waits before it goes back to the queue.
const AHEAD_MAX_WAIT: Duration = Duration::from_secs(1);

/// The latest progress a handler reported (done, total, message), written by the heartbeat.
type LastProgress = Arc<Mutex<Option<(i64, Option<i64>, String)>>>;

/// Default of `jobs.max_postponements`.
pub const DEFAULT_MAX_POSTPONEMENTS: i32 = 50;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat; a dead worker's jobs wait this long.
    pub lease: Duration,
    /// The longest wait between polls of an empty queue.
    pub idle_poll: Duration,
    /// Jobs claimed ahead of the free slots (the local queue); 0: `concurrency`.
    pub claim_ahead: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(500),
            claim_ahead: 0,
        }
    }
}

/// Claims and runs jobs. Cheap to share; [`Worker::run`] until shutdown.
pub struct Worker {
    store: Store,
    clock: Arc<dyn Clock>,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    options: WorkerOptions,
    /// Postponements in a row without progress after which a job is dead.
    max_postponements: i32,
    /// This worker's name in leases (unique per process and worker).
    owner: String,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Worker {
    /// A worker for `handlers`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        handlers: Vec<Arc<dyn JobHandler>>,
        options: WorkerOptions,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        Self {
            store,
            clock,
            handlers: handlers.into_iter().map(|h| (h.kind(), h)).collect(),
            options,
            max_postponements: DEFAULT_MAX_POSTPONEMENTS,
            owner: format!(
                "{host}:{}:{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    /// This worker with `jobs.max_postponements` set to `n` (at least 1).
    pub fn with_max_postponements(mut self, n: u32) -> Self {
        self.max_postponements = i32::try_from(n).unwrap_or(i32::MAX).max(1);
        self
    }

    /// This worker's lease owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims and runs jobs until `shutdown` turns true, then waits for running jobs to end.
    ///
    /// Up to `claim_ahead` jobs are claimed ahead of the free slots, so a slot that frees up
    /// starts its next job at once and one claim serves several jobs. A job claimed ahead
    /// waits at most [`AHEAD_MAX_WAIT`] (then the jobs waiting go back to the queue, where
    /// another worker may take them: slots busy with long jobs must not hold short ones), and
    /// its lease is renewed before it starts if it waited long.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let kinds: Vec<String> = self.handlers.keys().map(|k| (*k).to_owned()).collect();
        let concurrency = self.options.concurrency.max(1);
        let ahead_size = match self.options.claim_ahead {
            0 => concurrency,
            n => n,
        };
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut ahead: VecDeque<(Job, Instant)> = VecDeque::new();
        let mut claim_ahead = true;
        let successes = Arc::new(Successes::start(self.store.clone(), self.clock.clone()));
        let mut housekeeping = Instant::now() - Duration::from_secs(3600);
        let mut idle = Duration::from_millis(10);
        tracing::info!(owner = %self.owner, kinds = ?kinds, "worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            if housekeeping.elapsed() > Duration::from_secs(1) {
                housekeeping = Instant::now();
                self.housekeeping().await;
            }
            if ahead.is_empty() {
                if !claim_ahead && slots.available_permits() == 0 {
                    // Slots are busy with long jobs: claim only once one is free.
                    tokio::select! {
                        permit = slots.acquire() => drop(permit),
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
                let now = self.clock.now_ms();
                let extra = if claim_ahead { ahead_size } else { 0 };
                let want = slots.available_permits() + extra;
                match self
                    .store
                    .claim_jobs(&kinds, &self.owner, now + self.options.lease, now, want)
                    .await
                {
                    Ok(jobs) if !jobs.is_empty() => {
                        idle = Duration::from_millis(10);
                        let at = Instant::now();
                        ahead.extend(jobs.into_iter().map(|job| (job, at)));
                    }
                    Ok(_) => {
                        tokio::select! {
                            () = tokio::time::sleep(idle) => {}
                            _ = shutdown.changed() => {}
                        }
                        idle = (idle * 2).min(self.options.idle_poll);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!("claiming a job failed: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                () = tokio::time::sleep(AHEAD_MAX_WAIT) => {
                    self.give_back(&mut ahead).await;
                    claim_ahead = false;
                    continue;
                }
                _ = shutdown.changed() => continue,
            };
            // Slots turn over: claiming ahead pays.
            claim_ahead = true;
            let Some((job, claimed)) = ahead.pop_front() else {
                continue;
            };
            if claimed.elapsed() > self.options.lease / 3 && !self.still_ours(&job).await {
                continue;
            }
            let (me, successes) = (self.clone(), successes.clone());
            tokio::spawn(async move {
                me.execute(job, successes).await;
                drop(permit);
            });
        }
        self.give_back(&mut ahead).await;
        // Let running jobs finish (their leases keep them ours meanwhile).
        let _all = slots
            .acquire_many(u32::try_from(concurrency).unwrap_or(1))
            .await;
        // Every job has handed its outcome over (each drops its handle before its slot).
        match Arc::try_unwrap(successes) {
            Ok(successes) => successes.close().await,
            Err(_) => tracing::error!(
                "a job still holds the outcome writer; its last successes may run again"
            ),
        }
        tracing::info!(owner = %self.owner, "worker stopped");
    }

    /// Returns the jobs claimed ahead to the queue, unstarted.
    async fn give_back(&self, ahead: &mut VecDeque<(Job, Instant)>) {
        if ahead.is_empty() {
            return;
        }
        let ids: Vec<i64> = ahead.drain(..).map(|(job, _)| job.id).collect();
        if let Err(e) = self
            .store
            .release_jobs(&ids, &self.owner, self.clock.now_ms())
            .await
        {
            // Their leases run out and any worker takes them then.
            tracing::warn!(jobs = ?ids, "giving back jobs claimed ahead failed: {e}");
        }
    }

    /// Renews the lease of a job that waited after its claim; `false` when it is not ours
    /// any more (its lease ran out and another worker took it).
    async fn still_ours(&self, job: &Job) -> bool {
        let Some(lease) = job.lease() else {
            return false;
        };
        let now = self.clock.now_ms();
        match self
            .store
            .heartbeat(&lease, now + self.options.lease, now)
            .await
        {
            Ok(_) => true,
            Err(StoreError::LeaseLost) => false,
            // The lease may well hold; the heartbeat of the run will tell.
            Err(_) => true,
        }
    }

    /// Reclaims expired leases, ticks schedules, exports queue gauges.
    async fn housekeeping(&self) {
        let now = self.clock.now_ms();
        match self.store.reclaim_expired(now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(jobs = n, "reclaimed jobs whose worker stopped heartbeating");
                metrics::counter!("agentic_jobs_reclaimed_total").increment(n);
            }
            Err(e) => tracing::warn!("reclaiming expired leases failed: {e}"),
        }
        if let Err(e) = schedule::tick(&self.store, now).await {
            tracing::warn!("schedules: {e}");
        }
        if let Ok(counts) = self.store.job_counts().await {
            for (state, n) in counts {
                metrics::gauge!("agentic_jobs", "state" => state).set(n as f64);
            }
        }
    }

    /// Runs one claimed job to an outcome.
    async fn execute(self: Arc<Self>, job: Job, successes: Arc<Successes>) {
        let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        let Some(lease) = job.lease() else {
            return;
        };
        let started = Instant::now();
        let wait = self.clock.now_ms() - job.run_at;
        metrics::histogram!("agentic_job_wait_seconds", "kind" => job.kind.clone())
            .record(wait.as_secs_f64());
        let (cancel_tx, cancel_rx) = watch::channel(job.cancel_requested);
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress: LastProgress = Arc::default();
        let heartbeat = {
            let (me, lease, lost, progress) =
                (self.clone(), lease.clone(), lost.clone(), progress.clone());
            tokio::spawn(async move {
                me.heartbeat(&lease, cancel_tx, lost, progress).await;
            })
        };
        let sink = progress.clone();
        // Progress is a report that differs from what the job showed when claimed: a handler
        // that reports the same start on every run has not moved.
        let progressed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let moved = progressed.clone();
        let claimed = (job.progress_done, job.progress_message.clone());
        let ctx = JobContext {
            job: job.clone(),
            lease: Some(lease.clone()),
            progress: Arc::new(move |done, total, message| {
                if done != claimed.0 || message != claimed.1 {
                    moved.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                *sink.lock().unwrap_or_else(|e| e.into_inner()) = Some((done, total, message));
            }),
            cancel: cancel_rx,
        };
        let result = handler.run(&ctx).await;
        heartbeat.abort();
        // The last progress report, so a finished job shows where it ended.
        let last = progress.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((done, total, message)) = last {
            let _ = self
                .store
                .job_progress(&lease, done, total, &message, self.clock.now_ms())
                .await;
        }
        if lost.load(std::sync::atomic::Ordering::SeqCst)
            || matches!(result, Err(JobError::LeaseLost))
        {
            tracing::warn!(
                job = job.id,
                "lost the lease; the outcome is another attempt's"
            );
            return;
        }
        let now = self.clock.now_ms();
        let (label, outcome_text);
        let outcome = match &result {
            Ok(value) => {
                label = "succeeded";
                outcome_text = value.to_string();
                Outcome::Succeeded(&outcome_text)
            }
            Err(JobError::Cancelled) => {
                label = "cancelled";
                Outcome::Cancelled
            }
            // Returned above: a lost lease writes no outcome.
            Err(JobError::LeaseLost) => return,
            Err(JobError::RateLimited {
                retry_after_secs,
                message,
            }) => {
                let progressed = progressed.load(std::sync::atomic::Ordering::SeqCst);
                if !progressed && job.postponements + 1 >= self.max_postponements {
                    label = "dead";
                    outcome_text = format!(
                        "postponed {} times in a row without progress (jobs.max_postponements); \
                         the last time: {message}",
                        job.postponements + 1
                    );
                    Outcome::Failed {
                        error: &outcome_text,
                        retry_at: now,
                        permanent: true,
                    }
                } else {
                    label = "postponed";
                    Outcome::Postponed {
                        reason: message,
                        at: now + retry_after(*retry_after_secs),
                        count: if progressed {
                            Postponement::Progressed
                        } else {
                            Postponement::Stalled
                        },
                    }
                }
            }
            Err(JobError::Waiting {
                retry_after_secs,
                message,
            }) => {
                label = "postponed";
                // Not counted: neither progress nor its absence (see `JobError::Waiting`).
                Outcome::Postponed {
                    reason: message,
                    at: now + retry_after(*retry_after_secs),
                    count: Postponement::Waiting,
                }
            }
            Err(JobError::Retry(e)) => {
                label = if job.attempts >= job.max_attempts {
                    "dead"
                } else {
                    "retried"
                };
                Outcome::Failed {
                    error: e,
                    retry_at: now + backoff(job.attempts),
                    permanent: false,
                }
            }
            Err(JobError::Permanent(e)) => {
                label = "dead";
                Outcome::Failed {
                    error: e,
                    retry_at: now,
                    permanent: true,
                }
            }
        };
        let written = match outcome {
            // Written by the batching writer, which logs what goes wrong there.
            Outcome::Succeeded(text) => successes
                .record(lease.clone(), text.to_owned())
                .await
                .map(|()| true),
            other => self
                .store
                .finish_job(&lease, other, now)
                .await
                .map_err(|e| e.to_string()),
        };
        match written {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = job.id, "the job changed hands before it finished"),
            Err(e) => tracing::error!(
                job = job.id,
                "recording the outcome failed (the lease will expire and the job run again): {e}"
            ),
        }
        if let Err(e) = &result {
            if !matches!(e, JobError::Cancelled) {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, "job failed: {e}");
            }
        }
        metrics::counter!("agentic_jobs_finished_total", "kind" => job.kind.clone(), "outcome" => label)
            .increment(1);
        metrics::histogram!("agentic_job_run_seconds", "kind" => job.kind.clone())
            .record(started.elapsed().as_secs_f64());
    }

    /// Renews the lease every third of it, writes progress, and passes on cancellation; a lost
    /// lease cancels the run too (the job is someone else's now).
    async fn heartbeat(
        &self,
        lease: &Lease,
        cancel: watch::Sender<bool>,
        lost: Arc<std::sync::atomic::AtomicBool>,
        progress: LastProgress,
    ) {
        // Often enough that a cancellation reaches a running job within about a second.
        let beat = (self.options.lease / 3).min(Duration::from_secs(1));
        let mut last_beat = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250).min(beat)).await;
            let now = self.clock.now_ms();
            let report = progress.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((done, total, message)) = report {
                let _ = self
                    .store
                    .job_progress(lease, done, total, &message, now)
                    .await;
            }
            if last_beat.elapsed() < beat {
                continue;
            }
            last_beat = Instant::now();
            match self
                .store
                .heartbeat(lease, now + self.options.lease, now)
                .await
            {
                Ok(true) => {
                    let _ = cancel.send(true);
                }
                Ok(false) => {}
                Err(StoreError::LeaseLost) => {
                    lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = cancel.send(true);
                    return;
                }
                Err(e) => tracing::warn!(job = lease.job_id, "heartbeat failed: {e}"),
            }
        }
    }
}

/// A postponement's delay: what was asked, at most [`MAX_RETRY_AFTER_SECS`].
fn retry_after(asked_secs: u64) -> Duration {
    Duration::from_secs(asked_secs.min(MAX_RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_is_at_most_an_hour() {
        let hour = Duration::from_secs(3600);
        assert_eq!(retry_after(0), Duration::ZERO);
        assert_eq!(retry_after(30), Duration::from_secs(30));
        assert_eq!(retry_after(4_000_000_000), hour);
        assert_eq!(retry_after(u64::MAX), hour);
    }
}
