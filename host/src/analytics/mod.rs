//! Analytics: counts and time series of a project's (or the installation's) work items,
//! documents, syncs, jobs, agents and API usage.
//!
//! # Layout
//! - [`range`]: the window (`from`, `to`, bucket width), checked and aligned.
//! - [`usage`]: API requests counted in memory and flushed to `api_usage`.
//! - [`report`]: one [`Report`] per section, read through the cache.
//!
//! Every number is computed by the database (`store::analytics`), on both backends; this module
//! only lays the rows out as a dense series (every bucket present, zeros included) and derives
//! averages from sums. Reports are cached under their scope, section and window for the cache's
//! time-to-live (`cache.ttl_secs`, 10 s by default): aggregates over many tables have no single
//! write that could invalidate them, and a dashboard polled by many people then costs one set
//! of queries per window and TTL instead of one per viewer. The default window ends where the
//! current bucket ends, so repeated default requests share a cache entry.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cache::Key;
use crate::clock::Millis;
use crate::store::analytics::{Cell, Window};
use crate::store::{Result, Store};

/// The report window.
pub mod range;
/// API usage counters.
pub mod usage;

pub use range::{Bucket, Range, RangeError, MAX_POINTS};

/// What a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    /// Synced work items: now by status; per bucket, items last changed, by status.
    WorkItems,
    /// Documents now; per bucket, documents created, versions uploaded and their bytes.
    Documents,
    /// Sync runs finished per bucket: outcomes, retries, records stored, run time.
    Syncs,
    /// Jobs now by state; per bucket, jobs enqueued and finished by final state.
    Jobs,
    /// Agents now by state and health; per bucket, metrics samples and agents reporting.
    Agents,
    /// API requests per bucket by status class, average duration, most requested routes.
    ApiUsage,
}

impl Section {
    /// The name in paths and cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::WorkItems => "work-items",
            Section::Documents => "documents",
            Section::Syncs => "syncs",
            Section::Jobs => "jobs",
            Section::Agents => "agents",
            Section::ApiUsage => "api-usage",
        }
    }

    /// Names every point of the series carries, even when zero (others appear as found, such
    /// as work-item statuses).
    fn series_names(self) -> &'static [&'static str] {
        match self {
            Section::WorkItems => &[],
            Section::Documents => &["created", "versions", "bytes"],
            Section::Syncs => &[
                "runs",
                "succeeded",
                "failed",
                "cancelled",
                "retries",
                "records",
                "duration_ms",
                "duration_ms_max",
                "duration_ms_avg",
            ],
            Section::Jobs => &["created", "succeeded", "dead", "cancelled"],
            Section::Agents => &["samples", "reporting"],
            Section::ApiUsage => &["requests", "2xx", "3xx", "4xx", "5xx", "duration_ms_avg"],
        }
    }

    /// Names `current` always carries.
    fn current_names(self) -> &'static [&'static str] {
        match self {
            Section::WorkItems => &[],
            Section::Documents => &["documents", "synced", "versions", "bytes"],
            Section::Syncs => &["queued", "running"],
            Section::Jobs => crate::store::jobs::JobState::NAMES,
            // Every lifecycle state (a test keeps them equal to `AgentState`), then health.
            Section::Agents => &[
                "draft",
                "deploying",
                "running",
                "stopping",
                "stopped",
                "failed",
                "healthy",
                "unhealthy",
            ],
            Section::ApiUsage => &[],
        }
    }
}

/// One bucket of a series.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Point {
    /// Start of the bucket (the first bucket may start before `from`).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Name → value in this bucket.
    pub values: BTreeMap<String, i64>,
}

/// Requests to one route in the window.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteUsage {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/api/v1/projects/{id}/documents`.
    pub route: String,
    /// Requests.
    pub requests: i64,
    /// Of which answered 4xx or 5xx.
    pub errors: i64,
}

/// A report: a snapshot now, totals over the window and a dense series.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// What it counts.
    pub section: Section,
    /// The project, or `null` for every project.
    pub project_id: Option<i64>,
    /// Start of the window, inclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// End of the window, exclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Bucket width of `series`.
    pub bucket: Bucket,
    /// The state now (independent of the window): e.g. jobs by state, agents by health.
    pub current: BTreeMap<String, i64>,
    /// Over the whole window; the same names as each point of `series`.
    pub totals: BTreeMap<String, i64>,
    /// One point per bucket of the window, oldest first, zeros included.
    pub series: Vec<Point>,
    /// API usage only: the most requested routes of the window (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_routes: Vec<RouteUsage>,
}

/// How many routes `top_routes` lists.
const TOP_ROUTES: i64 = 20;

/// The report of `section` for `project` (`None`: every project) over `range`, from the cache
/// when a fresh one is there. `heartbeat_timeout` judges agent health as the agent API does.
pub async fn report(
    store: &Store,
    project: Option<i64>,
    section: Section,
    range: &Range,
    now: Millis,
    heartbeat_timeout: Duration,
) -> Result<Report> {
    let scope = project.map_or_else(|| "all".to_owned(), |p| format!("p{p}"));
    let key = Key::analytics(format!(
        "{scope}:{}:{}:{}:{}",
        section.as_str(),
        range.from.as_ms(),
        range.to.as_ms(),
        range.bucket.as_str()
    ));
    store
        .cache()
        .get_or_load(key, || {
            build(store, project, section, range, now, heartbeat_timeout)
        })
        .await
}

/// Runs the section's queries and lays the result out.
async fn build(
    store: &Store,
    project: Option<i64>,
    section: Section,
    range: &Range,
    now: Millis,
    heartbeat_timeout: Duration,
) -> Result<Report> {
    let w = Window {
        project,
        from: range.from,
        to: range.to,
    };
    let b = Some(range.bucket);
    let mut top_routes = Vec::new();
    let (current, cells, totals) = match section {
        Section::WorkItems => (
            store.work_item_counts(project).await?,
            store.work_item_series(&w, b).await?,
            store.work_item_series(&w, None).await?,
        ),
        Section::Documents => (
            store.document_counts(project).await?,
            store.document_series(&w, b).await?,
            store.document_series(&w, None).await?,
        ),
        Section::Syncs => (
            store
                .job_state_counts(project, Some(crate::sync::SYNC))
                .await?,
            store.sync_series(&w, b).await?,
            store.sync_series(&w, None).await?,
        ),
        Section::Jobs => (
            store.job_state_counts(project, None).await?,
            store.job_series(&w, b).await?,
            store.job_series(&w, None).await?,
        ),
        Section::Agents => (
            store.agent_counts(project, now - heartbeat_timeout).await?,
            store.agent_series(&w, b).await?,
            store.agent_series(&w, None).await?,
        ),
        Section::ApiUsage => {
            top_routes = store
                .usage_top_routes(&w, TOP_ROUTES)
                .await?
                .into_iter()
                .map(|r| RouteUsage {
                    method: r.method,
                    route: r.route,
                    requests: r.requests,
                    errors: r.errors,
                })
                .collect();
            (
                Vec::new(),
                store.usage_series(&w, b).await?,
                store.usage_series(&w, None).await?,
            )
        }
    };
    Ok(lay_out(
        section, project, range, current, cells, totals, top_routes,
    ))
}

/// A dense report from the database's rows.
fn lay_out(
    section: Section,
    project: Option<i64>,
    range: &Range,
    current: Vec<(String, i64)>,
    cells: Vec<Cell>,
    totals: Vec<Cell>,
    top_routes: Vec<RouteUsage>,
) -> Report {
    let mut names: Vec<String> = section
        .series_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    // Work-item statuses: those found in the window, and those of items now (as zeros), so a
    // series always shows every status a client sees in `current`.
    let now_names = current
        .iter()
        .map(|(name, _)| name)
        .filter(|_| section == Section::WorkItems);
    for name in cells
        .iter()
        .chain(&totals)
        .map(|(_, name, _)| name)
        .chain(now_names)
    {
        if !names.contains(name) && !is_internal(name) {
            names.push(name.clone());
        }
    }
    let zero = |names: &[String]| -> BTreeMap<String, i64> {
        names.iter().map(|n| (n.clone(), 0)).collect()
    };
    let starts = range.starts();
    let mut points: Vec<BTreeMap<String, i64>> = starts.iter().map(|_| zero(&names)).collect();
    for (start, name, value) in cells {
        match starts.binary_search(&start) {
            Ok(i) => *points[i].entry(name).or_default() += value,
            Err(_) => {
                tracing::warn!(start = start.as_ms(), %name, "analytics row outside the series; skipped")
            }
        }
    }
    let mut sums = zero(&names);
    for (_, name, value) in totals {
        *sums.entry(name).or_default() += value;
    }
    derive(section, &mut sums);
    for p in &mut points {
        derive(section, p);
    }
    let mut now: BTreeMap<String, i64> = section
        .current_names()
        .iter()
        .map(|n| ((*n).to_owned(), 0))
        .collect();
    for (name, value) in current {
        *now.entry(name).or_default() += value;
    }
    Report {
        section,
        project_id: project,
        from: range.from.to_datetime(),
        to: range.to.to_datetime(),
        bucket: range.bucket,
        current: now,
        totals: sums,
        series: starts
            .into_iter()
            .zip(points)
            .map(|(start, values)| Point {
                start: start.to_datetime(),
                values,
            })
            .collect(),
        top_routes,
    }
}

/// A sum the database returns only to derive an average from.
fn is_internal(name: &str) -> bool {
    name == "timed"
}

/// Averages from sums: a sync's mean run time (over runs that started), a request's mean
/// duration. Integer milliseconds, rounded down.
fn derive(section: Section, values: &mut BTreeMap<String, i64>) {
    let avg = |sum: i64, n: i64| if n > 0 { sum / n } else { 0 };
    match section {
        Section::Syncs => {
            let timed = values.remove("timed").unwrap_or(0);
            let total = values.get("duration_ms").copied().unwrap_or(0);
            values.insert("duration_ms_avg".into(), avg(total, timed));
        }
        Section::ApiUsage => {
            let total = values.remove("duration_ms").unwrap_or(0);
            let requests = values.get("requests").copied().unwrap_or(0);
            values.insert("duration_ms_avg".into(), avg(total, requests));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_counts_name_every_state() {
        use crate::store::agents::{AgentState, Health};
        let agents = Section::Agents.current_names();
        let (states, health) = agents.split_at(AgentState::NAMES.len());
        assert_eq!(states, AgentState::NAMES);
        assert_eq!(
            health,
            [Health::Healthy.as_str(), Health::Unhealthy.as_str()]
        );
    }

    #[test]
    fn a_series_is_dense_and_averages_come_from_sums() {
        let range = Range {
            from: Millis::EPOCH,
            to: Millis::from_ms(3 * 3_600_000),
            bucket: Bucket::Hour,
        };
        let hour = Millis::from_ms(3_600_000);
        let cells = vec![
            (hour, "runs".to_owned(), 2),
            (hour, "duration_ms".to_owned(), 300),
            (hour, "timed".to_owned(), 2),
        ];
        let zero = Millis::EPOCH;
        let totals = vec![
            (zero, "runs".to_owned(), 2),
            (zero, "duration_ms".to_owned(), 300),
            (zero, "timed".to_owned(), 2),
        ];
        let r = lay_out(
            Section::Syncs,
            Some(1),
            &range,
            vec![],
            cells,
            totals,
            vec![],
        );
        assert_eq!(r.series.len(), 3);
        assert_eq!(r.series[0].values["runs"], 0);
        assert_eq!(r.series[1].values["runs"], 2);
        assert_eq!(r.series[1].values["duration_ms_avg"], 150);
        assert!(!r.series[1].values.contains_key("timed"));
        assert_eq!(r.totals["duration_ms_avg"], 150);
        assert_eq!(r.current["queued"], 0);
    }
}
