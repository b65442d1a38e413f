//! The job queue: retries with backoff into the dead letter and back, cooperative cancellation
//! of running jobs, idempotency keys, priorities, leases of dead workers, cron schedules — with
//! real workers on both databases, time moved by the test clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::clock::Millis;
use agentic_host::jobs::{
    JobContext, JobError, JobFuture, JobHandler, JobState, Worker, WorkerOptions,
};
use agentic_host::rbac::Role;
use agentic_host::store::jobs::{Job, NewJob};
use agentic_tests::{stories, TestApp};
use serde_json::json;

/// A handler whose behaviour the test sets: fail, succeed, or wait for cancellation.
#[derive(Clone, Default)]
struct Scripted {
    fail: Arc<Mutex<bool>>,
    ran: Arc<Mutex<Vec<i64>>>,
}

impl JobHandler for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(async move {
            self.ran.lock().expect("lock").push(ctx.job.id);
            match ctx.job.payload.as_str() {
                "\"wait\"" => {
                    ctx.progress(1, Some(10), "waiting to be cancelled");
                    ctx.unless_cancelled(std::future::pending::<()>()).await?;
                    Ok(json!(null))
                }
                _ if *self.fail.lock().expect("lock") => {
                    Err(JobError::Retry("the service is down".into()))
                }
                _ => Ok(json!({"done": ctx.job.id})),
            }
        })
    }
}

fn start_worker(
    app: &TestApp,
    handler: Scripted,
    concurrency: usize,
) -> tokio::sync::watch::Sender<bool> {
    let worker = Arc::new(Worker::new(
        app.state.store.clone(),
        app.clock.clone(),
        vec![Arc::new(handler)],
        WorkerOptions {
            concurrency,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(50),
            claim_ahead: 0,
        },
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(worker.run(stopped));
    stop
}

fn job(payload: &str, key: Option<&str>, priority: i32, max_attempts: i32, at: Millis) -> NewJob {
    NewJob {
        kind: "scripted".into(),
        project_id: None,
        payload: payload.into(),
        priority,
        max_attempts,
        run_at: at,
        idempotency_key: key.map(str::to_owned),
        created_by: None,
    }
}

/// Waits (in real time) until the job satisfies `done`.
async fn until(app: &TestApp, id: i64, what: &str, done: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..750 {
        let job = app.state.store.get_job(id).await.expect("job");
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "job {id} never became {what}: {:?}",
        app.state.store.get_job(id).await
    );
}

stories! {
    async fn failures_back_off_then_die_and_a_retry_brings_the_job_back(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let handler = Scripted::default();
        *handler.fail.lock().expect("lock") = true;
        let _worker = start_worker(&app, handler.clone(), 2);
        let now = app.state.now();
        let (queued, _) = app.state.store.enqueue(&job("\"x\"", None, 0, 3, now), now).await.expect("enqueue");

        // Attempt 1 fails: back in the queue, due 1–2 s later (2 s with equal jitter).
        let j = until(&app, queued.id, "retried", |j| j.attempts == 1 && j.state == JobState::Queued).await;
        let wait = j.run_at - app.state.now();
        assert!((Duration::from_secs(1)..=Duration::from_secs(2)).contains(&wait), "backoff {wait:?}");
        assert_eq!(j.last_error.as_deref(), Some("the service is down"));
        // Not before its time.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.state.store.get_job(queued.id).await.expect("job").attempts, 1);
        app.advance(Duration::from_secs(2));
        let j = until(&app, queued.id, "retried twice", |j| j.attempts == 2 && j.state == JobState::Queued).await;
        assert!((Duration::from_secs(2)..=Duration::from_secs(4)).contains(&(j.run_at - app.state.now())), "doubles");
        app.advance(Duration::from_secs(4));
        let dead = until(&app, queued.id, "dead", |j| j.state == JobState::Dead).await;
        assert_eq!(dead.attempts, 3);
        assert!(dead.finished_at.is_some());

        // The dead letter is visible, and an operator can send it back once the cause is fixed.
        let r = app.get("/api/v1/jobs?state=dead", &admin.token).await;
        assert_eq!(r.json["items"][0]["id"], queued.id, "{}", r.json);
        assert_eq!(r.json["items"][0]["last_error"], "the service is down");
        *handler.fail.lock().expect("lock") = false;
        let r = app.post(&format!("/api/v1/jobs/{}/retry", queued.id), &admin.token, json!({})).await;
        r.expect(200);
        assert_eq!(r.json["attempts"], 0);
        let done = until(&app, queued.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(done.result.as_deref(), Some(format!("{{\"done\":{}}}", queued.id).as_str()));
        app.post(&format!("/api/v1/jobs/{}/cancel", queued.id), &admin.token, json!({})).await.problem(409);
        // Its event stream shows the finished job and ends.
        let events = app.get(&format!("/api/v1/jobs/{}/events", queued.id), &admin.token).await;
        events.expect(200);
        assert_eq!(events.headers["content-type"], "text/event-stream");
        assert!(events.text.starts_with("event: job\ndata: {"), "{}", events.text);
        assert!(events.text.contains("\"state\":\"succeeded\""), "{}", events.text);
        let audit = app.get("/api/v1/audit?action=job.retried", &admin.token).await;
        assert_eq!(audit.json["items"][0]["target_id"], queued.id.to_string());

        // The performance summary sees it, for those who read metrics.
        let perf = app.get("/api/v1/admin/performance", &admin.token).await;
        perf.expect(200);
        assert_eq!(perf.json["kinds"]["scripted"]["finished"], json!({"succeeded": 1}), "{}", perf.json);
        assert_eq!(perf.json["dead_letters"], 0);
        let pm = app.user(Role::ProjectManager).await;
        app.get("/api/v1/admin/performance", &pm.token).await.problem(403);
        app.get("/api/v1/admin/performance?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z", &admin.token).await.problem(422);
    }

    async fn cancelling_stops_queued_jobs_at_once_and_running_ones_cooperatively(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let now = app.state.now();
        let (later, _) = app.state.store.enqueue(&job("\"x\"", None, 0, 3, now + Duration::from_secs(3600)), now).await.expect("enqueue");
        let r = app.post(&format!("/api/v1/jobs/{}/cancel", later.id), &admin.token, json!({})).await;
        assert_eq!(r.json["state"], "cancelled", "{}", r.json);

        let handler = Scripted::default();
        let _worker = start_worker(&app, handler.clone(), 1);
        let (long, _) = app.state.store.enqueue(&job("\"wait\"", None, 0, 3, now), now).await.expect("enqueue");
        let running = until(&app, long.id, "running with progress", |j| j.state == JobState::Running && j.progress_done == 1).await;
        assert_eq!(running.progress_total, Some(10));
        let r = app.get(&format!("/api/v1/jobs/{}", long.id), &admin.token).await;
        assert_eq!(r.json["progress"], json!({"done": 1, "total": 10, "message": "waiting to be cancelled"}));
        let r = app.post(&format!("/api/v1/jobs/{}/cancel", long.id), &admin.token, json!({})).await;
        assert_eq!(r.json["cancel_requested"], true);
        // Only the handler, told by the heartbeat, ends it as cancelled (a lease running out
        // would put it back in the queue instead), so no clock is needed to tell them apart.
        until(&app, long.id, "cancelled", |j| j.state == JobState::Cancelled).await;
        assert_eq!(handler.ran.lock().expect("lock").as_slice(), [long.id], "the cancelled queued job never ran");
    }

    async fn idempotency_keys_priorities_and_dead_workers_leases(backend) {
        let app = TestApp::start(backend).await;
        let store = &app.state.store;
        let now = app.state.now();
        let (a, fresh) = store.enqueue(&job("\"x\"", Some("k-1"), 0, 3, now), now).await.expect("enqueue");
        let (b, again) = store.enqueue(&job("\"y\"", Some("k-1"), 0, 3, now), now).await.expect("enqueue");
        assert!(fresh && !again);
        assert_eq!(a.id, b.id, "the same key is the same job");
        let (low, _) = store.enqueue(&job("\"x\"", None, -5, 3, now), now).await.expect("enqueue");
        let (high, _) = store.enqueue(&job("\"x\"", None, 10, 3, now), now).await.expect("enqueue");

        // A worker claims a job and dies (never heartbeats).
        let ghost = store.claim_job(&["scripted".into()], "ghost", now + Duration::from_secs(30), now).await.expect("claim").expect("a job");
        assert_eq!(ghost.id, high.id, "highest priority first");

        let handler = Scripted::default();
        let _worker = start_worker(&app, handler.clone(), 1);
        until(&app, low.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(handler.ran.lock().expect("lock").as_slice(), [a.id, low.id], "by priority, then age");
        assert_eq!(store.get_job(high.id).await.expect("job").state, JobState::Running, "still the ghost's");
        // Its lease runs out: the job goes to a live worker, as a second attempt.
        app.advance(Duration::from_secs(31));
        let done = until(&app, high.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(done.attempts, 2);
        // The ghost coming back cannot overwrite the outcome.
        let late = store.finish_job(&ghost.lease().expect("lease"), agentic_host::store::jobs::Outcome::Cancelled, app.state.now()).await.expect("finish");
        assert!(!late);
    }

    async fn a_claim_takes_at_most_the_free_slots_most_urgent_first(backend) {
        let app = TestApp::start(backend).await;
        let store = &app.state.store;
        let now = app.state.now();
        let mut ids = Vec::new();
        for priority in [0, 0, 5, 0, 9, 0, 0, 0, 0, 0] {
            ids.push(store.enqueue(&job("\"x\"", None, priority, 3, now), now).await.expect("enqueue").0.id);
        }
        let later = store.enqueue(&job("\"x\"", None, 99, 3, now + Duration::from_secs(60)), now).await.expect("enqueue").0;
        let kinds = ["scripted".to_owned()];
        let first = store.claim_jobs(&kinds, "w1", now + Duration::from_secs(30), now, 3).await.expect("claim");
        assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[4], ids[2], ids[0]], "by priority, then age");
        let second = store.claim_jobs(&kinds, "w2", now + Duration::from_secs(30), now, 4).await.expect("claim");
        assert_eq!(second.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[1], ids[3], ids[5], ids[6]]);
        let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'running'")
            .fetch_one(store.pool()).await.expect("count");
        assert_eq!(running, 7, "a claim changes exactly the jobs it returns");
        assert!(second.iter().all(|j| j.lease_owner.as_deref() == Some("w2") && j.attempts == 1));
        let rest = store.claim_jobs(&kinds, "w3", now + Duration::from_secs(30), now, 100).await.expect("claim");
        assert_eq!(rest.len(), 3, "the job not yet due stays: {rest:?}");
        assert!(rest.iter().all(|j| j.id != later.id));
        assert!(store.claim_jobs(&kinds, "w3", now + Duration::from_secs(30), now, 5).await.expect("claim").is_empty());

        // Successes in one statement: only the owner's running jobs are written.
        let lease = |j: &Job| j.lease().expect("lease");
        // w1 claims w2's job as its own: the fence refuses it.
        let forged = agentic_host::store::job_attempts::Lease { owner: "w1".into(), ..lease(&second[0]) };
        let (l0, l1) = (lease(&first[0]), lease(&first[1]));
        let items = [(&l0, "{\"n\":0}"), (&l1, "{\"n\":1}"), (&forged, "{\"n\":2}")];
        let mut written = store.finish_succeeded(&items, now + Duration::from_millis(5)).await.expect("finish");
        written.sort_unstable();
        let mut want = vec![first[0].id, first[1].id];
        want.sort_unstable();
        assert_eq!(written, want, "w2's job is not w1's to finish");
        let done = store.get_job(first[1].id).await.expect("job");
        assert_eq!((done.state.as_str(), done.result.as_deref(), done.finished_at), ("succeeded", Some("{\"n\":1}"), Some(now + Duration::from_millis(5))));
        // The row is the success's history entry: it keeps who ran it, and holds no lease.
        assert_eq!((done.lease_owner.as_deref(), done.lease()), (Some("w1"), None));
        let history = store.job_attempts(first[1].id).await.expect("history");
        assert_eq!(history.iter().map(|a| (a.attempt, a.worker.as_str(), a.outcome.as_str(), a.finished_at)).collect::<Vec<_>>(),
            [(1, "w1", "succeeded", now + Duration::from_millis(5))]);
        let written_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_attempts")
            .fetch_one(store.pool()).await.expect("count");
        assert_eq!(written_rows, 0, "a success writes no history row of its own");
        assert_eq!(store.get_job(second[0].id).await.expect("job").state, JobState::Running);
        assert!(store.finish_succeeded(&items, now + Duration::from_millis(6)).await.expect("again").is_empty(), "written once");
    }

    async fn jobs_claimed_ahead_of_a_busy_slot_go_back_for_other_workers(backend) {
        let app = TestApp::start(backend).await;
        let store = &app.state.store;
        let now = app.state.now();
        let long = store.enqueue(&job("\"wait\"", None, 9, 3, now), now).await.expect("enqueue").0;
        let short = store.enqueue(&job("\"x\"", None, 0, 3, now), now).await.expect("enqueue").0;
        // One slot, taken by a job that runs until cancelled: the short job, claimed ahead,
        // must not wait behind it.
        let busy = Scripted::default();
        let _busy = start_worker(&app, busy.clone(), 1);
        until(&app, long.id, "running", |j| j.state == JobState::Running).await;
        let ahead = until(&app, short.id, "claimed ahead", |j| j.state == JobState::Running).await;
        assert_eq!(ahead.lease_owner, store.get_job(long.id).await.expect("job").lease_owner);
        let back = until(&app, short.id, "given back", |j| {
            j.state == JobState::Queued && j.lease_owner.is_none()
        }).await;
        assert_eq!(back.attempts, 0, "a job never started spent no attempt");
        assert_eq!(back.started_at, None);
        let free = Scripted::default();
        let _free = start_worker(&app, free.clone(), 1);
        let done = until(&app, short.id, "succeeded", |j| j.state == JobState::Succeeded).await;
        assert_eq!(done.attempts, 1);
        assert_eq!(free.ran.lock().expect("lock").as_slice(), [short.id], "the free worker ran it");
        assert_eq!(busy.ran.lock().expect("lock").as_slice(), [long.id]);
        store.cancel_job(long.id, app.state.now()).await.expect("cancel");
        until(&app, long.id, "cancelled", |j| j.state == JobState::Cancelled).await;
    }

    async fn outcomes_are_on_disk_before_a_job_counts_as_finished_unless_configured_not_to(backend) {
        let app = TestApp::start(backend).await;
        let store = app.state.store.clone();
        let (durable, fast) = match backend {
            // Claims commit without waiting for the disk; outcomes wait, unless told not to.
            agentic_tests::Backend::Postgres => ("on", "off"),
            // WAL with `synchronous = NORMAL` on every connection, whatever the setting.
            agentic_tests::Backend::Sqlite => ("1", "1"),
        };
        assert_eq!(store.outcome_commit().await.expect("setting"), durable);
        let store = store.with_durable_outcomes(false);
        assert_eq!(store.outcome_commit().await.expect("setting"), fast);
    }

    async fn a_stopping_worker_writes_every_success_its_slots_handed_over(backend) {
        let app = TestApp::start(backend).await;
        let store = &app.state.store;
        let now = app.state.now();
        for _ in 0..300 {
            store.enqueue(&job("\"x\"", None, 0, 3, now), now).await.expect("enqueue");
        }
        let handler = Scripted::default();
        // A local queue bigger than the slots, and slots that do not wait for outcome writes.
        let worker = Arc::new(Worker::new(
            store.clone(),
            app.clock.clone(),
            vec![Arc::new(handler.clone())],
            WorkerOptions {
                concurrency: 2,
                lease: Duration::from_secs(30),
                idle_poll: Duration::from_millis(20),
                claim_ahead: 50,
            },
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker.run(stopped));
        for _ in 0..1500 {
            if handler.ran.lock().expect("lock").len() == 300 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(handler.ran.lock().expect("lock").len(), 300, "every job ran once");
        // Stopped the moment the last handler returned: its success may not be written yet.
        stop.send(true).expect("stop");
        running.await.expect("the worker stops");
        let states: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM jobs GROUP BY state",
        )
        .fetch_all(store.pool())
        .await
        .expect("states");
        assert_eq!(states, [("succeeded".to_owned(), 300)], "all written before the worker stopped");
    }

    async fn a_cron_schedule_runs_each_slot_once_however_many_workers_tick(backend) {
        let app = TestApp::start(backend).await;
        let now = app.state.now();
        let next = agentic_host::jobs::schedule::upsert(&app.state.store, "every-five", &job("\"x\"", None, 0, 3, Millis::EPOCH), "*/5 * * * *", now)
            .await.expect("schedule");
        assert!(next > now && next - now <= Duration::from_secs(300) && next.as_ms() % 300_000 == 0, "next slot on the five minutes");
        assert!(agentic_host::jobs::schedule::upsert(&app.state.store, "bad", &job("\"x\"", None, 0, 3, Millis::EPOCH), "every tuesday", now).await.is_err());
        let handler = Scripted::default();
        let _one = start_worker(&app, handler.clone(), 2);
        let _two = start_worker(&app, handler.clone(), 2);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app.count("jobs").await, 0, "not due yet");
        app.advance(next - now);
        for _ in 0..150 {
            if handler.ran.lock().expect("lock").len() == 1 { break; }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(app.count("jobs").await, 1, "one run for the slot");
        app.advance(Duration::from_secs(300));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(app.count("jobs").await, 2);
        assert_eq!(handler.ran.lock().expect("lock").len(), 2);
    }

    async fn jobs_are_visible_to_their_projects_members_only(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let outsider = app.user(Role::TechnicalLead).await;
        let project = app.project("Mine", pm.id, &[se.id]).await;
        let now = app.state.now();
        let mut mine = job("\"x\"", None, 0, 3, now + Duration::from_secs(3600));
        mine.project_id = Some(project);
        let (mine, _) = app.state.store.enqueue(&mine, now).await.expect("enqueue");
        let (system, _) = app.state.store.enqueue(&job("\"x\"", None, 0, 3, now + Duration::from_secs(3600)), now).await.expect("enqueue");

        assert_eq!(app.get(&format!("/api/v1/jobs?project_id={project}"), &se.token).await.json["items"][0]["id"], mine.id);
        let listed = app.get("/api/v1/jobs", &se.token).await;
        assert_eq!(listed.json["items"].as_array().expect("items").len(), 1, "{}", listed.json);
        app.get(&format!("/api/v1/jobs/{}", system.id), &se.token).await.problem(404);
        app.get(&format!("/api/v1/jobs/{}", mine.id), &outsider.token).await.problem(404);
        app.post(&format!("/api/v1/jobs/{}/cancel", mine.id), &outsider.token, json!({})).await.problem(404);
        assert_eq!(app.get("/api/v1/jobs", &outsider.token).await.json["items"], json!([]));
        app.get(&format!("/api/v1/jobs?project_id={project}"), &outsider.token).await.problem(404);
        assert_eq!(app.get("/api/v1/jobs", &admin.token).await.json["items"].as_array().expect("items").len(), 2);
        app.get("/api/v1/jobs?state=sleeping", &admin.token).await.problem(422);
        // A support engineer operates jobs of their projects.
        let r = app.post(&format!("/api/v1/jobs/{}/cancel", mine.id), &se.token, json!({})).await;
        assert_eq!(r.json["state"], "cancelled", "{}", r.json);
    }
}
