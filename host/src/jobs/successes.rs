//! Successes recorded in batches, off the job's slot. A handler that succeeds hands its result
//! to this writer and its slot takes the next job at once; while one batch is being written,
//! the successes of the jobs that finish meanwhile gather, and the next write records them all
//! in one statement (fenced by each attempt's lease; the job's row is the success's history
//! entry): under load a worker writes — and, with durable outcomes, waits for the
//! disk — once per batch instead of once per job, and when idle a success is still written at
//! once (a batch of one). Failures, postponements and cancellations are rarer and keep their
//! own transaction (`Store::finish_job`).
//!
//! A job whose success is not written yet still holds its lease, as graphile-worker's batched
//! completions do: if the process dies before the write, the lease expires and the job runs
//! again (at least once), and nothing is reported finished that is not in the database.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::store::job_attempts::Lease;
use crate::store::Store;

/// Most successes written by one statement (four parameters each).
const MAX_BATCH: usize = 256;

/// Successes handed over and not written yet, at most: beyond it a finishing job waits for
/// the writer (a database slower than the handlers must slow the worker down, not grow memory).
const MAX_PENDING: usize = 4 * MAX_BATCH;

/// A success waiting to be written.
struct Pending {
    lease: Lease,
    result: String,
}

/// The batching writer of one worker's successes; [`Successes::close`] writes what is pending.
pub(super) struct Successes {
    tx: mpsc::Sender<Pending>,
    writer: JoinHandle<()>,
}

impl Successes {
    /// Starts the writer of one worker's successes.
    pub(super) fn start(store: Store, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::channel(MAX_PENDING);
        let writer = tokio::spawn(write(store, clock, rx));
        Self { tx, writer }
    }

    /// Hands over the success of the attempt holding `lease`; waits only while
    /// [`MAX_PENDING`] successes are already waiting. The writer logs a lease lost meanwhile
    /// (the outcome is then another attempt's) and a failed write (the lease expires and the
    /// job runs again).
    pub(super) async fn record(&self, lease: Lease, result: String) -> Result<(), String> {
        self.tx
            .send(Pending { lease, result })
            .await
            .map_err(|_| "the outcome writer stopped".to_owned())
    }

    /// Writes the successes still pending and stops the writer.
    pub(super) async fn close(self) {
        drop(self.tx);
        if let Err(e) = self.writer.await {
            tracing::error!("the job outcome writer failed: {e}");
        }
    }
}

async fn write(store: Store, clock: Arc<dyn Clock>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let items: Vec<(&Lease, &str)> = batch
            .iter()
            .map(|p| (&p.lease, p.result.as_str()))
            .collect();
        metrics::histogram!("agentic_job_outcome_batch").record(batch.len() as f64);
        match store.finish_succeeded(&items, clock.now_ms()).await {
            Ok(written) if written.len() < batch.len() => {
                for pending in &batch {
                    if !written.contains(&pending.lease.job_id) {
                        tracing::warn!(
                            job = pending.lease.job_id,
                            "the job changed hands before it finished"
                        );
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                let jobs: Vec<i64> = batch.iter().map(|p| p.lease.job_id).collect();
                tracing::error!(
                    ?jobs,
                    "recording successes failed (the leases will expire and the jobs run again): {e}"
                );
            }
        }
        batch.clear();
    }
}
