//! The performance summary of the queue and the syncs over a time window, computed from the
//! database so it covers every host and worker process (the `/metrics` of one process only see
//! that process): throughput, wait and run time percentiles, retries, dead letters, queue depth
//! and records synced. Served by `GET /api/v1/admin/performance` and printed by
//! `agentic report performance`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sqlx::Row;

use crate::clock::Millis;
use crate::store::jobs::JobState;
use crate::store::{Result, Store};

/// Jobs of one kind in the window.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct KindReport {
    /// Jobs that finished in the window, by final state.
    pub finished: BTreeMap<JobState, i64>,
    /// Attempts beyond the first, of jobs finished in the window.
    pub retries: i64,
    /// Time from due to started, in milliseconds (p50, p95, max).
    pub wait_ms: Percentiles,
    /// Time from started to finished of succeeded jobs, in milliseconds (p50, p95, max).
    pub run_ms: Percentiles,
}

/// Three points of a distribution.
#[derive(Debug, Default, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    /// Median.
    pub p50: i64,
    /// 95th percentile.
    pub p95: i64,
    /// Largest.
    pub max: i64,
}

impl Percentiles {
    fn of(mut values: Vec<i64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.5),
            p95: at(0.95),
            max: *values.last().unwrap_or(&0),
        }
    }
}

/// The summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PerformanceReport {
    /// Window start (epoch ms).
    #[schema(value_type = i64)]
    pub since: Millis,
    /// Window end (epoch ms).
    #[schema(value_type = i64)]
    pub until: Millis,
    /// Jobs waiting now: due and queued.
    pub queue_depth: i64,
    /// Jobs running now.
    pub running: i64,
    /// Dead jobs now (waiting for a person).
    pub dead_letters: i64,
    /// Per job kind.
    pub kinds: BTreeMap<String, KindReport>,
    /// Records stored by syncs in the window.
    pub records_synced: i64,
    /// Records per second of sync run time in the window (records / summed run time).
    pub sync_records_per_second: f64,
}

/// Jobs examined at most, newest first: enough for percentiles, bounded for a busy queue.
const SAMPLE: i64 = 50_000;

/// Builds the report for `[since, until]`.
pub async fn performance(store: &Store, since: Millis, until: Millis) -> Result<PerformanceReport> {
    let now_row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND run_at <= $1) AS depth, \
           (SELECT COUNT(*) FROM jobs WHERE state = 'running') AS running, \
           (SELECT COUNT(*) FROM jobs WHERE state = 'dead') AS dead",
    )
    .bind(until)
    .fetch_one(store.pool())
    .await?;
    let rows = sqlx::query(
        "SELECT kind, state, attempts, run_at, started_at, finished_at FROM jobs \
         WHERE finished_at >= $1 AND finished_at <= $2 ORDER BY finished_at DESC LIMIT $3",
    )
    .bind(since)
    .bind(until)
    .bind(SAMPLE)
    .fetch_all(store.pool())
    .await?;
    let mut waits: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut runs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut kinds: BTreeMap<String, KindReport> = BTreeMap::new();
    let mut sync_run_ms = 0i64;
    for row in &rows {
        let kind: String = row.try_get("kind")?;
        let state: JobState = crate::store::decode_name(row, "state")?;
        let attempts: i32 = row.try_get("attempts")?;
        let run_at: Millis = row.try_get("run_at")?;
        let started: Option<Millis> = row.try_get("started_at")?;
        let finished: Option<Millis> = row.try_get("finished_at")?;
        let report = kinds.entry(kind.clone()).or_default();
        *report.finished.entry(state).or_default() += 1;
        report.retries += i64::from((attempts - 1).max(0));
        if let Some(started) = started {
            waits
                .entry(kind.clone())
                .or_default()
                .push(whole_ms(started - run_at));
            if let (Some(finished), JobState::Succeeded) = (finished, state) {
                let ms = whole_ms(finished - started);
                runs.entry(kind.clone()).or_default().push(ms);
                if kind == crate::sync::SYNC {
                    sync_run_ms += ms;
                }
            }
        }
    }
    for (kind, report) in &mut kinds {
        report.wait_ms = Percentiles::of(waits.remove(kind).unwrap_or_default());
        report.run_ms = Percentiles::of(runs.remove(kind).unwrap_or_default());
    }
    let records_synced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM records WHERE synced_at >= $1 AND synced_at <= $2",
    )
    .bind(since)
    .bind(until)
    .fetch_one(store.pool())
    .await?;
    Ok(PerformanceReport {
        since,
        until,
        queue_depth: now_row.try_get("depth")?,
        running: now_row.try_get("running")?,
        dead_letters: now_row.try_get("dead")?,
        kinds,
        records_synced,
        sync_records_per_second: if sync_run_ms > 0 {
            records_synced as f64 * 1000.0 / sync_run_ms as f64
        } else {
            0.0
        },
    })
}

/// A duration in whole milliseconds, the unit of the report's percentiles.
fn whole_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Display for PerformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Performance from {} to {}",
            self.since.rfc3339(),
            self.until.rfc3339()
        )?;
        writeln!(
            f,
            "  queue: {} due, {} running, {} dead (waiting for a person)",
            self.queue_depth, self.running, self.dead_letters
        )?;
        writeln!(
            f,
            "  syncs: {} records stored, {:.0} records/s of sync run time",
            self.records_synced, self.sync_records_per_second
        )?;
        if self.kinds.is_empty() {
            return writeln!(f, "  no job finished in the window");
        }
        writeln!(
            f,
            "  {:<10} {:>9} {:>7} {:>9} {:>8} {:>12} {:>12} {:>12}",
            "kind",
            "succeeded",
            "dead",
            "cancelled",
            "retries",
            "wait p50 ms",
            "wait p95 ms",
            "run p95 ms"
        )?;
        for (kind, r) in &self.kinds {
            let n = |s: JobState| r.finished.get(&s).copied().unwrap_or(0);
            writeln!(
                f,
                "  {:<10} {:>9} {:>7} {:>9} {:>8} {:>12} {:>12} {:>12}",
                kind,
                n(JobState::Succeeded),
                n(JobState::Dead),
                n(JobState::Cancelled),
                r.retries,
                r.wait_ms.p50,
                r.wait_ms.p95,
                r.run_ms.p95
            )?;
        }
        Ok(())
    }
}
