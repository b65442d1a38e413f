//! What a sync job shows while it runs: the host's own count of records and pages stored,
//! combined with what the connector reports through `host.progress` (its own units, e.g. issues
//! read of a total it learned from the service).
//!
//! With a plugin total, the job's `done`/`total` are the plugin's (a real progress bar) and the
//! message carries the records stored; without one, `done` is the records stored and `total` is
//! unknown (a spinner). Either way the message says both.

use std::sync::{Arc, Mutex, PoisonError};

use crate::jobs::JobContext;
use crate::plugins::{Call, Progress};

/// The running totals of one stream's sync and the connector's last report.
#[derive(Debug)]
pub(crate) struct Tally {
    ctx: JobContext,
    stream: String,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    records: u64,
    pages: u64,
    plugin: Option<Progress>,
}

impl Tally {
    /// A tally for `stream` that starts from the totals of earlier attempts.
    pub(crate) fn new(ctx: &JobContext, stream: &str, records: u64, pages: u64) -> Arc<Self> {
        Arc::new(Self {
            ctx: ctx.clone(),
            stream: stream.to_owned(),
            counts: Mutex::new(Counts {
                records,
                pages,
                plugin: None,
            }),
        })
    }

    /// `call` with its progress going to this tally (and so to the job).
    pub(crate) fn call(self: &Arc<Self>, call: &Call) -> Call {
        let tally = Arc::clone(self);
        Call {
            progress: Some(Arc::new(move |p: Progress| tally.plugin(p))),
            ..call.clone()
        }
    }

    /// A page was stored: the host's totals now.
    pub(crate) fn stored(&self, records: u64, pages: u64) {
        let mut counts = self.lock();
        counts.records = records;
        counts.pages = pages;
        self.report(&counts);
    }

    fn plugin(&self, progress: Progress) {
        let mut counts = self.lock();
        counts.plugin = Some(progress);
        self.report(&counts);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, counts: &Counts) {
        let stored = format!(
            "{}: {} records in {} pages",
            self.stream, counts.records, counts.pages
        );
        let records = i64::try_from(counts.records).unwrap_or(i64::MAX);
        match &counts.plugin {
            Some(p) => {
                let of = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
                let message = format!("{stored}; connector: {}{of} {}", p.done, p.message);
                match p.total {
                    Some(total) => self.ctx.progress(
                        i64::try_from(p.done.min(total)).unwrap_or(i64::MAX),
                        Some(i64::try_from(total).unwrap_or(i64::MAX)),
                        message,
                    ),
                    None => self.ctx.progress(records, None, message),
                }
            }
            None => self.ctx.progress(records, None, stored),
        }
    }
}
