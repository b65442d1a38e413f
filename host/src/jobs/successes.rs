//! Successes recorded in batches. While one batch is being written, the successes of the jobs
//! that finish meanwhile gather, and the next write records them all in one transaction (one
//! statement for the outcomes, fenced by each attempt's lease, one for their history rows):
//! under load a worker writes once per handful of jobs instead of once per job, and when idle
//! a success is still written at once (a batch of one). Failures, postponements and
//! cancellations are rarer and keep their own transaction (`Store::finish_job`).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::store::job_attempts::Lease;
use crate::store::Store;

/// Most successes written by one statement (four parameters each, and eight for its history row).
const MAX_BATCH: usize = 256;

/// A success waiting to be written, and who waits for the answer.
struct Pending {
    lease: Lease,
    result: String,
    recorded: oneshot::Sender<Result<bool, String>>,
}

/// The batching writer of one worker's successes; its task ends when this is dropped.
pub(super) struct Successes {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Successes {
    /// Starts the writer of one worker's successes.
    pub(super) fn start(store: Store, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(store, clock, rx));
        Self { tx }
    }

    /// Records that the attempt holding `lease` succeeded with `result`: `true` once written,
    /// `false` if the lease was lost meanwhile (the outcome is then another attempt's).
    pub(super) async fn record(&self, lease: Lease, result: String) -> Result<bool, String> {
        let (recorded, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                lease,
                result,
                recorded,
            })
            .map_err(|_| "the worker is stopping".to_owned())?;
        answer
            .await
            .map_err(|_| "the outcome writer stopped".to_owned())?
    }
}

async fn write(store: Store, clock: Arc<dyn Clock>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let items: Vec<(&Lease, &str)> = batch
            .iter()
            .map(|p| (&p.lease, p.result.as_str()))
            .collect();
        let written = store
            .finish_succeeded(&items, clock.now_ms())
            .await
            .map_err(|e| e.to_string());
        metrics::histogram!("agentic_job_outcome_batch").record(batch.len() as f64);
        for pending in batch {
            let answer = match &written {
                Ok(ids) => Ok(ids.contains(&pending.lease.job_id)),
                Err(e) => Err(e.clone()),
            };
            let _ = pending.recorded.send(answer);
        }
    }
}
