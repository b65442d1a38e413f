//! Backups the platform runs by itself, on both databases: an administrator starts one through
//! the API (a job; one at a time), the log lists it with what it made, `/metrics` reports it,
//! and the file decrypts and verifies; without a destination the API refuses, and a failing
//! backup is logged and counted without costing a good one; the configured cron schedule makes
//! one backup per slot however many hosts run, and retention keeps what the policy says; the same
//! against a real S3-compatible server (moto), where an upload that fails midway leaves nothing
//! listed and no open upload.

use std::time::Duration;

use agentic_host::backup::bucket::S3Settings;
use agentic_host::backup::Destination;
use agentic_host::backup::{self, Directory, Quiet};
use agentic_host::config::Config;
use agentic_host::rbac::Role;
use agentic_tests::s3::{Faulty, Moto};
use agentic_tests::{stories, TestApp};
use serde_json::Value;

/// A backup key pair: the identity (to verify with) and the config that encrypts to it.
fn keys(config: &mut Config, dir: &std::path::Path) -> backup::Identity {
    let (text, public) = backup::keygen();
    let identity_file = dir.join("backup.identity");
    std::fs::write(&identity_file, text).expect("identity");
    config.backup.destination = Some(dir.join("backups").display().to_string());
    config.backup.recipients = vec![public.to_string()];
    backup::read_identities(&identity_file)
        .expect("identity")
        .remove(0)
}

/// Points `config` at `s3://BUCKET/prod` on `endpoint` (moto takes any credentials).
fn s3(config: &mut Config, dir: &std::path::Path, endpoint: &str) {
    let secret = dir.join("s3-secret");
    std::fs::write(&secret, "moto-secret\n").expect("secret");
    config.backup.destination = Some(format!("s3://{BUCKET}/prod"));
    config.backup.s3 = S3Settings {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        access_key_id: Some("moto-key".into()),
        secret_access_key_file: Some(secret),
    };
}

const BUCKET: &str = "agentic-backups";

/// Starts a worker of the app's own kinds (the backup job among them); dropping the sender
/// stops it.
fn worker(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(worker.run(stopped));
    stop
}

/// The value of an unlabelled metric line of `/metrics`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .parse()
        .expect("number")
}

/// Waits (real time) until the backup log holds `n` finished runs.
async fn finished_runs(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..1500 {
        let runs = app.all(token, "/api/v1/backups").await;
        if runs.iter().filter(|r| r["state"] != "running").count() >= n {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} backups did not finish");
}

stories! {
    async fn an_administrator_starts_a_backup_that_is_logged_measured_and_verifies(backend) {
        let scratch = tempfile::tempdir().expect("dir");
        let mut identity = None;
        let app = TestApp::start_with(backend, |c| identity = Some(keys(c, scratch.path()))).await;
        let identity = identity.expect("keys");
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        app.project("Backed up", tl.id, &[]).await;

        // Only administrators see or start backups.
        app.get("/api/v1/backups", &tl.token).await.problem(403);
        app.post("/api/v1/backups", &tl.token, Value::Null).await.problem(403);
        app.get("/api/v1/backups/status", &tl.token).await.problem(403);
        let status = app.get("/api/v1/backups/status", &admin.token).await;
        status.expect(200);
        assert_eq!(status.json["configured"], true);
        assert!(status.json["last_success_at"].is_null());
        let m = app.get("/metrics", &admin.token).await;
        assert_eq!(metric(&m.text, "agentic_backup_last_success_timestamp_seconds"), 0.0, "no backup yet");

        // One backup at a time: a second request while the first is queued is refused, naming it.
        let r = app.post("/api/v1/backups", &admin.token, Value::Null).await;
        r.expect(202);
        let job = r.json["job"]["id"].as_i64().expect("job id");
        assert_eq!(r.json["job"]["kind"], "backup");
        let again = app.post("/api/v1/backups", &admin.token, Value::Null).await;
        let detail = again.problem(409)["detail"].as_str().expect("detail").to_owned();
        assert!(detail.contains(&format!("backup job {job}")), "{detail}");

        let _worker = worker(&app);
        let done = app.finished_job(&admin.token, job).await;
        assert_eq!(done["state"], "succeeded", "{done}");
        let name = done["result"]["name"].as_str().expect("name").to_owned();

        let runs = app.all(&admin.token, "/api/v1/backups").await;
        assert_eq!(runs.len(), 1, "{runs:?}");
        let run = &runs[0];
        assert_eq!(run["state"], "succeeded");
        assert_eq!(run["started_by"], "api");
        assert_eq!(run["job_id"], job);
        assert_eq!(run["name"], name.as_str());
        assert!(run["rows"].as_i64().expect("rows") > 0);
        assert!(run["verified_at"].is_null());

        // The file is in the configured directory, whole, and verifies with the identity.
        let listed = Directory::new(scratch.path().join("backups")).list().expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, name);
        assert_eq!(i64::try_from(listed[0].size).expect("size"), run["size"].as_i64().expect("size"));
        let verified = backup::verify(&listed[0].path, &[identity], &Quiet).await.expect("verify");
        assert_eq!(verified.rows, run["rows"].as_i64().expect("rows"));

        // Measured where monitoring looks, by any host of the installation.
        let twin = app.twin().await;
        let m = twin.get("/metrics", &admin.token).await;
        let at = metric(&m.text, "agentic_backup_last_success_timestamp_seconds");
        assert!((at * 1000.0 - app.state.now().as_ms() as f64).abs() < 60_000.0, "{at}");
        assert_eq!(metric(&m.text, "agentic_backup_last_size_bytes"), run["size"].as_f64().expect("size"));
        assert_eq!(metric(&m.text, "agentic_backup_failures_since_last_success"), 0.0);
        let status = app.get("/api/v1/backups/status", &admin.token).await;
        assert!(status.json["last_success_at"].is_string());
        assert!(status.json["running_job_id"].is_null());

        // Audited: who asked, and what was made.
        let audit = app.all(&admin.token, "/api/v1/audit").await;
        let requested = audit.iter().find(|e| e["action"] == "backup.requested").expect("requested");
        assert_eq!(requested["actor_id"], admin.id);
        let created = audit.iter().find(|e| e["action"] == "backup.created").expect("created");
        assert_eq!(created["target_id"], name.as_str());
        assert_eq!(created["detail"]["via"], "api");
    }

    async fn without_a_destination_the_api_refuses_and_a_failed_backup_is_counted(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let refused = app.post("/api/v1/backups", &admin.token, Value::Null).await;
        let detail = refused.problem(409)["detail"].as_str().expect("detail").to_owned();
        assert!(detail.contains("backup.destination"), "{detail}");
        assert_eq!(app.get("/api/v1/backups/status", &admin.token).await.json["configured"], false);

        // A destination that cannot be written (a file where the directory should be): the
        // attempt is logged as failed with the reason, counted in /metrics, nothing published.
        let scratch = tempfile::tempdir().expect("dir");
        let blocked = scratch.path().join("not-a-dir");
        std::fs::write(&blocked, b"a file").expect("file");
        let mut bad = None;
        let app = TestApp::start_with(backend, |c| {
            bad = Some(keys(c, scratch.path()));
            c.backup.destination = Some(blocked.join("backups").display().to_string());
        })
        .await;
        let admin = app.admin().await;
        let r = app.post("/api/v1/backups", &admin.token, Value::Null).await;
        r.expect(202);
        let _worker = worker(&app);
        let runs = finished_runs(&app, &admin.token, 1).await;
        assert_eq!(runs[0]["state"], "failed", "{runs:?}");
        assert!(runs[0]["name"].is_null());
        assert!(!runs[0]["error"].as_str().expect("error").is_empty());
        let m = app.get("/metrics", &admin.token).await;
        assert_eq!(metric(&m.text, "agentic_backup_failures_since_last_success"), 1.0);
        assert_eq!(metric(&m.text, "agentic_backup_last_success_timestamp_seconds"), 0.0);
        // The failure is recorded on the run before it is audited: wait for the entry.
        let mut audit = Vec::new();
        for _ in 0..250 {
            audit = app.all(&admin.token, "/api/v1/audit?action=backup.failed").await;
            if !audit.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(audit.len(), 1);
    }

    async fn the_schedule_makes_one_backup_per_slot_across_hosts_and_retention_keeps_the_newest(backend) {
        let scratch = tempfile::tempdir().expect("dir");
        let app = TestApp::start_with(backend, |c| {
            keys(c, scratch.path());
            c.backup.schedule = Some("0 3 * * *".into());
            c.backup.keep_last = 2;
        })
        .await;
        let admin = app.admin().await;
        // Both hosts apply the same section as they start: one schedule, its slot unmoved.
        agentic_host::server::apply_backup_schedule(&app.state).await.expect("schedule");
        let twin = app.twin().await;
        agentic_host::server::apply_backup_schedule(&twin.state).await.expect("schedule");
        let status = app.get("/api/v1/backups/status", &admin.token).await;
        assert_eq!(status.json["schedule"], "0 3 * * *");
        let next = status.json["next_run_at"].as_str().expect("next run").to_owned();
        assert!(next.ends_with("T03:00:00Z"), "{next}");

        let _one = worker(&app);
        let _two = worker(&twin);
        for day in 1..=3 {
            app.advance(Duration::from_secs(24 * 3600));
            // A day later the access token has expired: sign in again.
            let admin = app.admin().await;
            finished_runs(&app, &admin.token, day).await;
        }
        let admin = app.admin().await;
        // A little longer: a second run of a slot would show up here.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let runs = app.all(&admin.token, "/api/v1/backups").await;
        assert_eq!(runs.len(), 3, "one backup per daily slot: {runs:?}");
        assert!(runs.iter().all(|r| r["state"] == "succeeded" && r["started_by"] == "schedule"), "{runs:?}");

        // keep_last = 2: the oldest was deleted after the third succeeded.
        let kept: Vec<String> = Directory::new(scratch.path().join("backups"))
            .list()
            .expect("list")
            .into_iter()
            .map(|b| b.name)
            .collect();
        let newest: Vec<String> = runs[1..].iter().map(|r| r["name"].as_str().expect("name").to_owned()).collect();
        assert_eq!(kept, newest);
        let pruned = app.all(&admin.token, "/api/v1/audit?action=backup.pruned").await;
        assert_eq!(pruned.len(), 1);
        assert_eq!(pruned[0]["detail"]["deleted"][0], runs[0]["name"]);
    }

    async fn backups_go_to_an_s3_bucket_are_pruned_there_and_verify_from_it(backend) {
        let Some(moto) = Moto::start().await else { return };
        moto.bucket(BUCKET).await;
        let scratch = tempfile::tempdir().expect("dir");
        let mut identity = None;
        let app = TestApp::start_with(backend, |c| {
            identity = Some(keys(c, scratch.path()));
            s3(c, scratch.path(), &moto.url);
            c.backup.keep_last = 1;
        })
        .await;
        let identity = identity.expect("keys");
        let admin = app.admin().await;
        let _worker = worker(&app);
        for n in 1..=2 {
            let r = app.post("/api/v1/backups", &admin.token, Value::Null).await;
            r.expect(202);
            let done = app.finished_job(&admin.token, r.json["job"]["id"].as_i64().expect("id")).await;
            assert_eq!(done["state"], "succeeded", "backup {n}: {done}");
            app.advance(Duration::from_secs(60));
        }
        let runs = app.all(&app.admin().await.token, "/api/v1/backups").await;
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1]["destination"], format!("s3://{BUCKET}/prod"));
        // keep_last = 1: only the second backup and its receipt are in the bucket.
        let second = runs[1]["name"].as_str().expect("name").to_owned();
        let mut keys = moto.keys(BUCKET, "prod/").await;
        keys.sort();
        assert_eq!(keys, [format!("prod/{second}"), format!("prod/{second}.json")]);
        let settings = app.state.config.backup.s3.clone();
        let listed = Destination::open(&format!("s3://{BUCKET}/prod"), &settings)
            .expect("open")
            .list()
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].receipt.as_ref().map(|r| r.size), Some(listed[0].size));

        // Fetched back from the bucket, it passes the receipt check and verifies.
        let fetched = backup::target::fetch(&format!("s3://{BUCKET}/prod/{second}"), &settings, scratch.path())
            .await
            .expect("fetch");
        let verified = backup::verify(&fetched.path, &[identity], &Quiet).await.expect("verify");
        assert!(verified.receipt.is_some());
        assert_eq!(verified.rows, runs[1]["rows"].as_i64().expect("rows"));
    }

    async fn an_upload_that_fails_midway_leaves_no_listed_backup(backend) {
        let Some(moto) = Moto::start().await else { return };
        moto.bucket(BUCKET).await;
        let faulty = Faulty::start(&moto).await;
        let scratch = tempfile::tempdir().expect("dir");
        let app = TestApp::start_with(backend, |c| {
            keys(c, scratch.path());
            s3(c, scratch.path(), &faulty.url);
        })
        .await;
        let admin = app.admin().await;
        app.post("/api/v1/backups", &admin.token, Value::Null).await.expect(202);
        let _worker = worker(&app);
        let runs = finished_runs(&app, &admin.token, 1).await;
        assert_eq!(runs[0]["state"], "failed", "{runs:?}");
        let error = runs[0]["error"].as_str().expect("error");
        assert!(error.contains("completing the upload"), "{error}");
        // The parts went through, but no object appeared, the receipt went, the upload was
        // aborted, and no staged copy is left on the host's disk.
        assert_eq!(moto.keys(BUCKET, "prod/").await, Vec::<String>::new());
        assert_eq!(moto.open_uploads(BUCKET).await, 0);
        let staged: Vec<_> = std::fs::read_dir(&app.state.config.data_dir)
            .expect("data dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-staging-"))
            .collect();
        assert!(staged.is_empty(), "{staged:?}");
    }
}
