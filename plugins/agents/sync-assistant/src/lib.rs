//! The built-in `sync-assistant` agent: keeps one connection's streams synced.
//!
//! Each run, for every configured stream (or, without `streams`, for the connection as a whole:
//! one sync that fans out to every stream the connector discovers):
//! - if the sync it started last time has finished, it takes the outcome (`platform.sync-job`):
//!   records stored, and the time of the last success (for lag); a sync that ended `dead` or
//!   `cancelled` counts as a failure of the stream, retried after a backoff that doubles per
//!   failure (one interval, two, four… capped at 32) — an event says so when
//!   `notify_on_failure` is on;
//! - if no sync of the stream is under way and no backoff holds it, it starts an incremental
//!   sync (`platform.start-sync`).
//!
//! It reports `records` (stored by the syncs that finished since the last run),
//! `streams_synced`, `streams_failed`, `syncs_started` and `lag_secs` (the longest time since a
//! stream last synced successfully, from the host's clock), and fails (`check-failed`) when a
//! stream's sync failed since the last run (an outcome with a `problem`, so its state is kept),
//! so that repeated failures make the agent unhealthy. Its state keeps, per stream, the sync under way, the last success and the
//! failures in a row.

// The generated import glue flattens a record argument into many parameters.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "agentic:agent/agent@0.2.0",
    generate_all,
});

use agentic::agent::platform;
use agentic::agent::types::PlatformError;
use serde_json::{json, Map, Value};

struct SyncAssistant;

/// The key of the whole-connection sync in the state (no `streams` configured).
const ALL: &str = "*";

fn platform_error(e: PlatformError) -> Error {
    match e {
        PlatformError::Denied(m) => Error::Denied(m),
        PlatformError::NotFound(m) | PlatformError::InvalidInput(m) => Error::Config(m),
        PlatformError::Unavailable(m) => Error::Transient(m),
    }
}

impl Guest for SyncAssistant {
    fn run(trigger: Trigger, config: String, state: Option<String>) -> Result<Outcome, Error> {
        let config: Value =
            serde_json::from_str(&config).map_err(|e| Error::Config(format!("config: {e}")))?;
        let connection = config["connection_id"]
            .as_i64()
            .ok_or_else(|| Error::Config("config.connection_id is missing".into()))?;
        let interval_ms = config["interval_secs"].as_i64().unwrap_or(900) * 1000;
        let notify = config["notify_on_failure"].as_bool().unwrap_or(true);
        let streams: Vec<Option<String>> = match config["streams"].as_array() {
            Some(list) if !list.is_empty() => list
                .iter()
                .filter_map(|s| s.as_str().map(|s| Some(s.to_owned())))
                .collect(),
            _ => vec![None],
        };
        let mut state: Map<String, Value> = state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let now = trigger.at;
        let (mut records, mut synced, mut failed, mut started) = (0u64, 0u64, 0u64, 0u64);
        let mut failures_now = Vec::new();
        let mut lag_ms: i64 = 0;
        for stream in &streams {
            let key = stream.as_deref().unwrap_or(ALL).to_owned();
            let mut entry = state
                .get(&key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(job) = entry.get("job").and_then(Value::as_i64) {
                let status = platform::sync_job(job).map_err(platform_error)?;
                match status.state.as_str() {
                    "succeeded" => {
                        let result: Value = status
                            .result
                            .as_deref()
                            .and_then(|r| serde_json::from_str(r).ok())
                            .unwrap_or_default();
                        records += result["records"].as_u64().unwrap_or(0);
                        synced += 1;
                        entry.remove("job");
                        entry.insert("failures".into(), json!(0));
                        entry.remove("retry_at");
                        entry.insert(
                            "last_success".into(),
                            json!(status.finished_at.unwrap_or(now)),
                        );
                    }
                    "dead" | "cancelled" => {
                        failed += 1;
                        let failures = entry["failures"].as_i64().unwrap_or(0) + 1;
                        let backoff = interval_ms * (1i64 << (failures - 1).clamp(0, 5));
                        entry.remove("job");
                        entry.insert("failures".into(), json!(failures));
                        entry.insert("retry_at".into(), json!(now + backoff - interval_ms));
                        let why = status.last_error.unwrap_or_else(|| status.state.clone());
                        let message = format!(
                            "the sync of {key} (job {job}) ended {}: {why}; failure {failures} in a row, retried in {} s",
                            status.state,
                            backoff / 1000
                        );
                        if notify {
                            platform::emit_event("stream-failed", &message);
                        }
                        failures_now.push(message);
                    }
                    // Still queued or running: leave it be.
                    _ => {}
                }
            }
            let waiting = entry
                .get("retry_at")
                .and_then(Value::as_i64)
                .is_some_and(|at| now < at);
            if entry.get("job").and_then(Value::as_i64).is_none() && !waiting {
                let job =
                    platform::start_sync(connection, stream.as_deref()).map_err(platform_error)?;
                entry.insert("job".into(), json!(job));
                entry.entry("first_started").or_insert_with(|| json!(now));
                started += 1;
            }
            let since = entry
                .get("last_success")
                .or_else(|| entry.get("first_started"))
                .and_then(Value::as_i64)
                .unwrap_or(now);
            lag_ms = lag_ms.max(now - since);
            state.insert(key, Value::Object(entry));
        }
        platform::emit_metric("records", records as f64);
        platform::emit_metric("streams_synced", synced as f64);
        platform::emit_metric("streams_failed", failed as f64);
        platform::emit_metric("syncs_started", started as f64);
        platform::emit_metric("lag_secs", (lag_ms / 1000) as f64);
        Ok(Outcome {
            problem: (!failures_now.is_empty()).then(|| failures_now.join("; ")),
            state: Some(Value::Object(state).to_string()),
            metrics: Vec::new(),
            events: Vec::new(),
            summary: format!(
                "{synced} sync(s) finished with {records} record(s); {started} started; lag {} s",
                lag_ms / 1000
            ),
        })
    }
}

export!(SyncAssistant);
