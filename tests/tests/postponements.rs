//! Postponements are bounded: a job that a service rate-limits on every attempt, without ever
//! making progress, is dead after `jobs.max_postponements` postponements in a row, its last
//! error naming the count and the last reason; a job that makes progress between
//! postponements keeps going until it is done; a service's Retry-After parks a job an hour at
//! most.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::clock::Millis;
use agentic_host::jobs::{
    JobContext, JobError, JobFuture, JobHandler, JobState, Worker, WorkerOptions,
};
use agentic_host::store::jobs::{Job, NewJob};
use agentic_tests::{stories, TestApp};
use serde_json::json;

/// Rate-limited on every run; with payload `"progress"` it first reports a new page each run
/// and succeeds on its sixth run.
#[derive(Clone, Default)]
struct Limited {
    runs: Arc<Mutex<HashMap<i64, i64>>>,
}

impl JobHandler for Limited {
    fn kind(&self) -> &'static str {
        "limited"
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(async move {
            let run = {
                let mut runs = self.runs.lock().expect("lock");
                let n = runs.entry(ctx.job.id).or_default();
                *n += 1;
                *n
            };
            if ctx.job.payload == "\"century\"" {
                return Err(JobError::RateLimited {
                    retry_after_secs: 4_000_000_000,
                    message: "Retry-After: 4000000000".into(),
                });
            }
            if ctx.job.payload == "\"progress\"" {
                // The same start every run is not progress; the page after it is.
                ctx.progress(0, None, "starting");
                if run == 6 {
                    return Ok(json!({ "runs": run }));
                }
                ctx.progress(run, None, format!("page {run}"));
            }
            Err(JobError::RateLimited {
                retry_after_secs: 0,
                message: format!("429 Too Many Requests (run {run})"),
            })
        })
    }
}

fn job(payload: &str, now: Millis) -> NewJob {
    NewJob {
        kind: "limited".into(),
        project_id: None,
        payload: payload.into(),
        priority: 0,
        max_attempts: 3,
        run_at: now,
        idempotency_key: None,
        created_by: None,
    }
}

async fn finished(app: &TestApp, id: i64) -> Job {
    for _ in 0..1500 {
        let job = app.state.store.get_job(id).await.expect("job");
        if matches!(job.state.as_str(), "succeeded" | "dead" | "cancelled") {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "job {id} did not finish: {:?}",
        app.state.store.get_job(id).await
    );
}

stories! {
    async fn a_job_rate_limited_without_progress_dies_after_max_postponements(backend) {
        let app = TestApp::start(backend).await;
        let handler = Limited::default();
        let worker = Arc::new(
            Worker::new(
                app.state.store.clone(),
                app.clock.clone(),
                vec![Arc::new(handler.clone())],
                WorkerOptions { concurrency: 2, lease: Duration::from_secs(30), idle_poll: Duration::from_millis(20), claim_ahead: 0 },
            )
            .with_max_postponements(3),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(worker.run(stopped));
        let now = app.state.now();
        let (stalled, _) = app.state.store.enqueue(&job("\"stalled\"", now), now).await.expect("enqueue");
        let (moving, _) = app.state.store.enqueue(&job("\"progress\"", now), now).await.expect("enqueue");

        let dead = finished(&app, stalled.id).await;
        assert_eq!(dead.state, JobState::Dead, "{dead:?}");
        let error = dead.last_error.clone().unwrap_or_default();
        assert!(error.contains("postponed 3 times in a row without progress"), "{error}");
        assert!(error.contains("jobs.max_postponements"), "{error}");
        assert!(error.contains("429 Too Many Requests (run 3)"), "the last reason: {error}");
        assert_eq!(handler.runs.lock().expect("lock")[&stalled.id], 3);
        // Postponements spend no attempt; the history keeps each.
        let history = app.state.store.job_attempts(stalled.id).await.expect("history");
        let outcomes: Vec<&str> = history.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["postponed", "postponed", "failed"]);

        // Six runs, five postponements: more than the bound, but each made progress.
        let done = finished(&app, moving.id).await;
        assert_eq!(done.state, JobState::Succeeded, "{done:?}");
        assert_eq!(done.result.as_deref(), Some(r#"{"runs":6}"#));

        // A service asking for 4e9 seconds parks the job for an hour at most.
        let now = app.state.now();
        let (century, _) = app.state.store.enqueue(&job("\"century\"", now), now).await.expect("enqueue");
        let mut parked = None;
        for _ in 0..1500 {
            let job = app.state.store.get_job(century.id).await.expect("job");
            if job.postponements == 1 && job.state == JobState::Queued {
                parked = Some(job);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let parked = parked.expect("the job was postponed");
        assert!(parked.run_at <= app.state.now() + Duration::from_secs(3600), "{parked:?}");
        assert!(parked.run_at >= now + Duration::from_secs(3600), "{parked:?}");
        let _ = stop.send(true);
    }
}
