//! API usage counting: cheap on the request path, durable in aggregate.
//!
//! Every API request adds one to an in-memory counter keyed by (hour, project, route template,
//! method, status class); [`UsageRecorder::flush`] adds the counters to the `api_usage` table in
//! one transaction and starts afresh. `agentic serve` flushes once a minute and when it stops,
//! so a request never costs a database write, and what a crash can lose is at most a minute of
//! counts. Memory is bounded: keys use route templates (never raw paths) and a handful of
//! methods and classes, and past [`MAX_KEYS`] new keys fold into one `(other)` route per hour.
//! A failed flush puts its counts back (within the same bound) for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, Millis};
use crate::store::analytics::UsageRow;
use crate::store::{Result, Store};

/// Distinct counters held between flushes at most.
pub const MAX_KEYS: usize = 10_000;

/// The route counted for requests that matched no route, and for keys past [`MAX_KEYS`].
const UNMATCHED: &str = "(unmatched)";
const OTHER: &str = "(other)";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    hour: Millis,
    project: i64,
    route: String,
    method: &'static str,
    class: &'static str,
}

#[derive(Debug, Clone, Copy, Default)]
struct Count {
    requests: i64,
    duration_ms: i64,
}

/// One request, as the middleware saw it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The matched route template, if any.
    pub route: Option<&'a str>,
    /// The raw path (only read for the project id).
    pub path: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The response status.
    pub status: u16,
    /// How long it took.
    pub duration: Duration,
}

/// Counts API requests in memory until they are flushed to the database.
#[derive(Debug)]
pub struct UsageRecorder {
    clock: Arc<dyn Clock>,
    counts: Mutex<HashMap<Key, Count>>,
}

impl UsageRecorder {
    /// An empty recorder reading the time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request. Requests outside `/api/v1` (health, metrics, docs) are not API
    /// usage and are not counted.
    pub fn record(&self, r: &Request<'_>) {
        if !r.path.starts_with("/api/v1/") {
            return;
        }
        let key = Key {
            hour: super::Bucket::Hour.floor(self.clock.now_ms()),
            project: project_of(r.route, r.path, r.status).unwrap_or(0),
            route: r.route.unwrap_or(UNMATCHED).to_owned(),
            method: method(r.method),
            class: class(r.status),
        };
        let count = Count {
            requests: 1,
            duration_ms: i64::try_from(r.duration.as_millis()).unwrap_or(i64::MAX),
        };
        add(&mut self.lock(), key, count);
    }

    /// Adds every counter to the database and forgets it; on failure the counters are kept
    /// for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<usize> {
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return Ok(0);
        }
        let rows: Vec<UsageRow> = taken
            .iter()
            .map(|(k, c)| UsageRow {
                bucket_start: k.hour,
                project_id: k.project,
                route: k.route.clone(),
                method: k.method.to_owned(),
                status_class: k.class.to_owned(),
                requests: c.requests,
                duration_ms: c.duration_ms,
            })
            .collect();
        match store.add_api_usage(&rows).await {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                let mut counts = self.lock();
                for (key, count) in taken {
                    add(&mut counts, key, count);
                }
                Err(e)
            }
        }
    }

    /// Counters waiting for the next flush.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Count>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Adds `count` under `key`, or under the hour's `(other)` key when the map is full.
fn add(counts: &mut HashMap<Key, Count>, mut key: Key, count: Count) {
    if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
        key = Key {
            hour: key.hour,
            project: 0,
            route: OTHER.to_owned(),
            method: "OTHER",
            class: key.class,
        };
    }
    let entry = counts.entry(key).or_default();
    entry.requests += count.requests;
    entry.duration_ms += count.duration_ms;
}

/// The project a request addressed: the `{id}` of a `/api/v1/projects/{id}…` route. Requests
/// answered 401 (nobody known) or 404 (possibly a project the caller may not see) are not
/// attributed, so nobody can put traffic on the books of a project that is not theirs.
fn project_of(route: Option<&str>, path: &str, status: u16) -> Option<i64> {
    if matches!(status, 401 | 404) {
        return None;
    }
    route?.strip_prefix("/api/v1/projects/{id}")?;
    let id = path.strip_prefix("/api/v1/projects/")?.split('/').next()?;
    id.parse().ok().filter(|id: &i64| *id > 0)
}

/// The method, from a fixed set (clients may send any token as a method).
fn method(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

fn class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "1xx",
    }
}

/// Flushes `recorder` every `every` until the process ends (the caller aborts the task and
/// flushes once more on shutdown).
pub async fn flush_periodically(
    recorder: Arc<UsageRecorder>,
    store: Store,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = recorder.flush(&store).await {
            tracing::warn!(error = %e, "API usage counters not stored; kept for the next try");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn request<'a>(route: Option<&'a str>, path: &'a str, status: u16) -> Request<'a> {
        Request {
            route,
            path,
            method: "GET",
            status,
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn requests_are_attributed_to_the_project_in_their_route() {
        let docs = Some("/api/v1/projects/{id}/documents");
        assert_eq!(
            project_of(docs, "/api/v1/projects/12/documents", 200),
            Some(12)
        );
        assert_eq!(
            project_of(docs, "/api/v1/projects/12/documents", 403),
            Some(12)
        );
        assert_eq!(project_of(docs, "/api/v1/projects/12/documents", 404), None);
        assert_eq!(project_of(docs, "/api/v1/projects/12/documents", 401), None);
        assert_eq!(
            project_of(Some("/api/v1/projects"), "/api/v1/projects", 200),
            None
        );
        assert_eq!(project_of(None, "/api/v1/projects/12/nothing", 200), None);
    }

    #[test]
    fn counters_are_bounded_and_aggregated() {
        let recorder = UsageRecorder::new(ManualClock::new());
        recorder.record(&request(Some("/api/v1/jobs"), "/api/v1/jobs", 200));
        recorder.record(&request(Some("/api/v1/jobs"), "/api/v1/jobs", 200));
        recorder.record(&request(None, "/healthz", 200));
        assert_eq!(
            recorder.pending(),
            1,
            "same key, and /healthz is not API usage"
        );
        for i in 0..(MAX_KEYS + 50) {
            let path = format!("/api/v1/projects/{i}/jobs");
            let r = request(Some("/api/v1/projects/{id}/jobs"), &path, 200);
            recorder.record(&r);
        }
        assert_eq!(
            recorder.pending(),
            MAX_KEYS + 1,
            "one (other) key past the bound"
        );
        let counts = recorder.lock();
        let other = counts
            .iter()
            .find(|(k, _)| k.route == OTHER)
            .map(|(_, c)| c.requests);
        assert_eq!(other, Some(51));
    }
}
