//! What `agentic sync run` shows while it runs, and the summary it prints at the end.
//!
//! While the sync runs: a bar of the connector's own units (issues read of the total the
//! service reported) once every stream's connector has reported a total through
//! `host.progress`, a spinner until then; the line says what is being read. Log lines — a
//! connector's warnings, a failed attempt that will be retried — are printed above the bar,
//! not through it, and warnings and errors among them are counted. At the end, a table of the
//! streams (state, records stored, pages, records marked deleted, time) under a line of totals.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

use super::table::Table;
use crate::store::jobs::{Job, JobState};
use crate::sync::{SyncReport, SyncRequest};

/// The progress line of a running sync and the count of warnings printed above it.
pub(super) struct SyncView {
    bar: ProgressBar,
    warnings: Arc<AtomicU64>,
    spinner: ProgressStyle,
    full: ProgressStyle,
    /// The bar's length while it is a bar; `None` while it is a spinner.
    total: Option<u64>,
}

impl std::fmt::Debug for SyncView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncView")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl SyncView {
    /// A spinner on standard error (drawn only on a terminal).
    pub(super) fn new() -> Self {
        let spinner = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let full = ProgressStyle::with_template(
            "[{elapsed_precise}] {bar:30} {pos}/{len} {percent:>3}%  {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new_spinner();
        bar.set_style(spinner.clone());
        Self {
            bar,
            warnings: Arc::default(),
            spinner,
            full,
            total: None,
        }
    }

    /// Where the process's log lines go while the view exists: above the bar.
    pub(super) fn log_writer(&self) -> LogWriter {
        LogWriter {
            bar: self.bar.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Starts the spinner moving.
    pub(super) fn start(&self) {
        self.bar.set_message("starting");
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    /// Shows the jobs of the sync (the per-stream jobs, or the one job before it fans out).
    pub(super) fn show(&mut self, watched: &[Job]) {
        let total: Option<i64> = watched.iter().map(|j| j.progress_total).sum();
        match total.and_then(|t| u64::try_from(t).ok()).filter(|t| *t > 0) {
            Some(total) => {
                if self.total.is_none() {
                    self.bar.set_style(self.full.clone());
                }
                if self.total != Some(total) {
                    self.bar.set_length(total);
                    self.total = Some(total);
                }
                let done: i64 = watched.iter().map(|j| j.progress_done).sum();
                self.bar
                    .set_position(u64::try_from(done).unwrap_or_default());
            }
            // A stream without a total (yet): a spinner again, not a bar that lies.
            None if self.total.is_some() => {
                self.bar.set_style(self.spinner.clone());
                self.total = None;
            }
            None => {}
        }
        self.bar.set_message(message(watched));
    }

    /// Clears the line; returns how many warnings were printed above it.
    pub(super) fn finish(self) -> u64 {
        self.bar.finish_and_clear();
        self.warnings.load(Ordering::SeqCst)
    }
}

/// What is happening now, in one line.
fn message(watched: &[Job]) -> String {
    let now = if let Some(running) = watched.iter().find(|j| j.state == JobState::Running) {
        if running.progress_message.is_empty() {
            "starting".to_owned()
        } else {
            running.progress_message.clone()
        }
    } else if let Some(error) = watched
        .iter()
        .filter(|j| j.state == JobState::Queued)
        .find_map(|j| j.last_error.as_deref())
    {
        format!("waiting to try again: {error}")
    } else if watched.iter().all(finished) {
        "finishing".to_owned()
    } else {
        "queued".to_owned()
    };
    if watched.len() > 1 {
        let finished = watched.iter().filter(|j| finished(j)).count();
        format!("{finished}/{} streams done · {now}", watched.len())
    } else {
        now
    }
}

/// Whether a job reached a final state.
pub(super) fn finished(job: &Job) -> bool {
    job.state.is_finished()
}

/// Makes one [`AboveBar`] per log event, counting warnings and errors.
#[derive(Debug, Clone)]
pub(super) struct LogWriter {
    bar: ProgressBar,
    warnings: Arc<AtomicU64>,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = AboveBar;

    fn make_writer(&'a self) -> AboveBar {
        AboveBar {
            bar: self.bar.clone(),
            line: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> AboveBar {
        // More severe levels compare lower: this is WARN and ERROR.
        if *meta.level() <= tracing::Level::WARN {
            self.warnings.fetch_add(1, Ordering::SeqCst);
        }
        self.make_writer()
    }
}

/// One log event, written to standard error above the bar when it is complete.
#[derive(Debug)]
pub(super) struct AboveBar {
    bar: ProgressBar,
    line: Vec<u8>,
}

impl Write for AboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for AboveBar {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            // `suspend`, not `println`: it prints even where the bar is hidden (no terminal).
            self.bar.suspend(|| {
                let _ = std::io::stderr().write_all(&self.line);
            });
        }
    }
}

/// How one stream's sync ended.
#[derive(Debug, Clone)]
pub(super) struct StreamOutcome {
    /// The job.
    pub job: i64,
    /// The stream (`all streams` for a job that failed before it fanned out).
    pub stream: String,
    /// How the job ended.
    pub state: JobState,
    /// What it stored (for a failed job, up to its last stored page).
    pub report: SyncReport,
    /// From its first start to its end.
    pub time: Option<Duration>,
    /// Why it failed.
    pub error: Option<String>,
}

impl StreamOutcome {
    /// The outcome of a finished sync job.
    pub(super) fn of(job: &Job) -> Self {
        let stream = serde_json::from_str::<SyncRequest>(&job.payload)
            .ok()
            .and_then(|r| r.stream)
            .unwrap_or_else(|| "all streams".to_owned());
        // A success's result is its report; a failure's checkpoint holds what it stored.
        let report = job
            .result
            .as_deref()
            .filter(|_| job.state == JobState::Succeeded)
            .or(job.checkpoint.as_deref())
            .and_then(|text| serde_json::from_str::<SyncReport>(text).ok())
            .unwrap_or(SyncReport {
                records: 0,
                pages: 0,
                deleted: 0,
            });
        let time = job
            .started_at
            .zip(job.finished_at)
            .and_then(|(start, end)| (end >= start).then(|| end - start));
        Self {
            job: job.id,
            stream,
            state: job.state,
            report,
            time,
            error: (job.state != JobState::Succeeded)
                .then(|| job.last_error.clone())
                .flatten(),
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `4.2 s`, `3 min 05 s`, `1 h 02 min`.
pub(super) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, secs % 3600 / 60)
    }
}

/// The summary of a finished `sync run`: a line of totals, then one row per stream, then why
/// each failed stream failed.
pub(super) fn summary(
    connection: i64,
    outcomes: &[StreamOutcome],
    elapsed: Duration,
    warnings: u64,
) -> String {
    let sum = |f: fn(&SyncReport) -> u64| outcomes.iter().map(|o| f(&o.report)).sum::<u64>();
    let (records, pages, deleted) = (sum(|r| r.records), sum(|r| r.pages), sum(|r| r.deleted));
    let failed = outcomes
        .iter()
        .filter(|o| o.state != JobState::Succeeded)
        .count();
    let stored = format!(
        "{} stored in {}, {} marked deleted; {}",
        plural(records, "record", "records"),
        plural(pages, "page", "pages"),
        deleted,
        plural(warnings, "warning", "warnings"),
    );
    let mut text = if failed == 0 {
        format!(
            "Synced connection {connection} in {}: {stored}.\n",
            duration(elapsed)
        )
    } else {
        format!(
            "Sync of connection {connection} ended after {}: {failed} of {} did not succeed; {stored}.\n",
            duration(elapsed),
            plural(outcomes.len() as u64, "stream", "streams"),
        )
    };
    let mut table = Table::new(&["STREAM", "STATE", "RECORDS", "PAGES", "DELETED", "TIME"])
        .right(&[2, 3, 4, 5]);
    for o in outcomes {
        table.row([
            o.stream.clone(),
            o.state.to_string(),
            o.report.records.to_string(),
            o.report.pages.to_string(),
            o.report.deleted.to_string(),
            o.time.map(duration).unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    text.push_str(&table.to_string());
    for o in outcomes {
        if let Some(error) = &o.error {
            text.push_str(&format!("{} (job {}): {error}\n", o.stream, o.job));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(stream: &str, state: JobState, records: u64, pages: u64, ms: u64) -> StreamOutcome {
        StreamOutcome {
            job: 7,
            stream: stream.into(),
            state,
            report: SyncReport {
                records,
                pages,
                deleted: 0,
            },
            time: Some(Duration::from_millis(ms)),
            error: (state != JobState::Succeeded).then(|| "the service answered 500".into()),
        }
    }

    #[test]
    fn the_summary_totals_the_streams_and_says_why_one_failed() {
        let ok = [
            outcome("issues", JobState::Succeeded, 1200, 24, 11_900),
            outcome("projects", JobState::Succeeded, 1, 1, 300),
        ];
        assert_eq!(
            summary(3, &ok, Duration::from_millis(12_400), 1),
            "Synced connection 3 in 12.4 s: 1201 records stored in 25 pages, 0 marked deleted; 1 warning.\n\
             STREAM    STATE      RECORDS  PAGES  DELETED    TIME\n\
             issues    succeeded     1200     24        0  11.9 s\n\
             projects  succeeded        1      1        0   0.3 s\n"
        );
        let failed = [
            outcome("issues", JobState::Succeeded, 10, 1, 900),
            outcome("comments", JobState::Dead, 20, 2, 61_000),
        ];
        let text = summary(3, &failed, Duration::from_secs(3700), 0);
        assert!(
            text.starts_with(
                "Sync of connection 3 ended after 1 h 01 min: 1 of 2 streams did not succeed; \
                 30 records stored in 3 pages, 0 marked deleted; 0 warnings.\n"
            ),
            "{text}"
        );
        assert!(text.contains("comments  dead"), "{text}");
        assert!(text.contains("1 min 01 s"), "{text}");
        assert!(
            text.ends_with("comments (job 7): the service answered 500\n"),
            "{text}"
        );
    }
}
