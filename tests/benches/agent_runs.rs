//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-tests --bench agent_runs` (SQLite; PostgreSQL too with
//! `AGENTIC_BENCH_POSTGRES=1`). `AGENTS=…` for another number of agents (default 200),
//! `QUERIES=…` for the latency samples (default 200).
//!
//! Two figures of issue 15, both through the real host: a test host on the backend, the
//! hostile agent component (`plugins/agents/hostile`) installed signed as the package
//! `bench-agent`, a real worker.
//!
//! 1. **Runs per second of a no-op agent through the queue.** `AGENTS` agents of the package are
//!    deployed with `attack: trigger` (the component only answers what started it) and their
//!    first runs done; then the manual clock moves one interval on, every agent's next run is
//!    due at once, and the clock times the worker until all of them have run: each run is a
//!    queue job leased, a fresh component instance, the host's bookkeeping (run row, metrics,
//!    health, the next run enqueued in the same fenced transaction).
//! 2. **The added latency of a platform query from inside an agent vs the same query through
//!    the REST API.** Inside: the host-measured `duration_ms` of runs with `attack: records`
//!    (one `platform::query-records`: 50 work items of a connection) minus that of no-op runs
//!    of the same agent, means (the host
//!    measures whole milliseconds). Outside: `GET /projects/{id}/work-items?connection_id=…&limit=50`
//!    through the host's router in process (authentication, the permission check, the query
//!    and the JSON), mean.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_tests::{bench, plugin_wasm, Backend, TestApp};
use serde_json::{json, Value};

const INTERVAL_SECS: u64 = 60;

/// The package's manifest: the hostile component as an agent kind that may read records.
const MANIFEST: &str = r#"type = "agent"
id = "bench-agent"
version = "1.0.0"
wit = "0.2.0"
name = "Bench agent"
description = "The hostile agent component: a no-op run, or one platform query."
allowed_hosts = []
needs = ["records:read"]
[config_schema]
type = "object"
additionalProperties = false
[config_schema.properties.attack]
type = "string"
[config_schema.properties.connection_id]
type = "integer"
"#;

struct Host {
    app: TestApp,
    admin: String,
    project: i64,
    connection: i64,
    stop: tokio::sync::watch::Sender<bool>,
}

/// A host on `backend` with the package installed and enabled, a worker running, and an
/// example connection whose 500 work items are synced.
async fn host(backend: Backend) -> Host {
    let app = TestApp::start_durable(backend, |_| {}).await;
    let admin = app.admin().await;
    let project = app.project_with_example(&admin.token, admin.id, &[]).await;
    let admin = admin.token;
    app.trust_publisher(&admin, "bench")
        .await
        .install(&app, &admin, MANIFEST, &plugin_wasm("agent_hostile"))
        .await;
    app.enable_plugin(&admin, project, "bench-agent").await;
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&worker).run(stopped));

    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            &admin,
            json!({"plugin_id": "example", "name": "items", "base_url": "https://tracker.example.com",
                   "config": {"items": 500, "page_size": 500}, "credential": {"kind": "anonymous"}}),
        )
        .await;
    created.expect(201);
    let connection = created.json["id"].as_i64().unwrap();
    let sync = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{connection}/sync"),
            &admin,
            json!({"stream": "items"}),
        )
        .await;
    sync.expect(202);
    let job = app
        .finished_job(&admin, sync.json["job"]["id"].as_i64().unwrap())
        .await;
    assert_eq!(job["result"]["records"], 500, "{job}");
    Host {
        app,
        admin,
        project,
        connection,
        stop,
    }
}

impl Host {
    /// Creates and deploys an agent of the package with `attack`; its path.
    async fn agent(&self, name: &str, attack: &str) -> String {
        let created = self
            .app
            .post(
                &format!("/api/v1/projects/{}/agents", self.project),
                &self.admin,
                json!({"name": name, "kind": "bench-agent", "config": {
                    "attack": attack, "connection_id": self.connection, "interval_secs": INTERVAL_SECS}}),
            )
            .await;
        created.expect(201);
        let path = format!(
            "/api/v1/projects/{}/agents/{}",
            self.project, created.json["id"]
        );
        let r = self
            .app
            .call("POST", &format!("{path}/deploy"), Some(&self.admin), None)
            .await;
        r.expect(202);
        let job = self
            .app
            .finished_job(&self.admin, r.json["job"]["id"].as_i64().unwrap())
            .await;
        assert_eq!(job["state"], "succeeded", "{job}");
        path
    }

    /// Logs in again (the administrator's access token expires by the clock too), then moves
    /// the clock one interval on: every deployed agent's next run is due.
    async fn tick(&mut self) {
        self.admin = self.app.admin().await.token;
        self.app.advance(Duration::from_secs(INTERVAL_SECS));
    }

    /// The agent's runs, oldest first.
    async fn runs(&self, path: &str) -> Vec<Value> {
        let mut runs = self.app.all(&self.admin, &format!("{path}/runs")).await;
        runs.sort_by_key(|r| r["id"].as_i64());
        runs
    }

    /// Waits until every agent of `paths` has `n` runs.
    async fn until(&self, paths: &[String], n: usize) {
        for path in paths {
            loop {
                if self.runs(path).await.len() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// The mean: run durations are whole milliseconds, so a mean of many resolves what a median
/// cannot, and the truncation cancels in a difference of two means.
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Runs per second: `agents` no-op agents, each due once at the same moment.
async fn throughput(host: &mut Host, agents: usize) -> f64 {
    let mut paths = Vec::with_capacity(agents);
    for i in 0..agents {
        paths.push(host.agent(&format!("noop-{i}"), "trigger").await);
    }
    host.until(&paths, 1).await;
    // Timed by the run rows in the database, not by asking the API, which would compete with
    // the worker for the same two threads.
    let before = host.app.count("agent_runs").await;
    host.admin = host.app.admin().await.token;
    let started = Instant::now();
    host.app.advance(Duration::from_secs(INTERVAL_SECS));
    while host.app.count("agent_runs").await < before + agents as i64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for path in &paths {
        let runs = host.runs(path).await;
        assert_eq!(runs.len(), 2, "one run per interval: {runs:?}");
        assert_eq!(runs[1]["succeeded"], true, "{}", runs[1]);
        host.app
            .call("POST", &format!("{path}/stop"), Some(&host.admin), None)
            .await;
    }
    agents as f64 / elapsed
}

/// Mean host-measured run durations (ms) of `samples` runs each of a no-op agent and of one
/// doing one platform query.
async fn inside(host: &mut Host, samples: usize) -> (f64, f64) {
    let noop = host.agent("noop", "trigger").await;
    let query = host.agent("query", "records").await;
    let both = [noop.clone(), query.clone()];
    host.until(&both, 1).await;
    for n in 2..=samples + 1 {
        host.tick().await;
        host.until(&both, n).await;
    }
    let durations = |runs: Vec<Value>| -> Vec<f64> {
        runs.iter()
            .skip(1)
            .map(|r| {
                assert_eq!(r["succeeded"], true, "{r}");
                r["duration_ms"].as_f64().unwrap()
            })
            .collect()
    };
    let q = host.runs(&query).await;
    assert!(
        q[1]["summary"].as_str().unwrap_or_default() == "ok: 50 records",
        "{}",
        q[1]
    );
    (
        mean(&durations(host.runs(&noop).await)),
        mean(&durations(q)),
    )
}

/// Mean latency (ms) of the same query through the REST API.
async fn outside(host: &Host, samples: usize) -> f64 {
    let path = format!(
        "/api/v1/projects/{}/work-items?connection_id={}&limit=50",
        host.project, host.connection
    );
    let mut took = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let r = host.app.get(&path, &host.admin).await;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.json["items"].as_array().map(Vec::len), Some(50));
    }
    mean(&took)
}

fn main() {
    let (agents, samples) = (bench::count("AGENTS", 200), bench::count("QUERIES", 200));
    let runtime = bench::runtime();
    println!("\n{agents} no-op agents due at once; {samples} samples of a 50-work-item query");
    for (name, backend) in bench::backends() {
        let mut host = runtime.block_on(host(backend));
        let rate = runtime.block_on(throughput(&mut host, agents));
        println!("{name:<11} no-op agent runs through the queue {rate:>10.0} runs/s");
        let (noop, query) = runtime.block_on(inside(&mut host, samples));
        let rest = runtime.block_on(outside(&host, samples));
        println!(
            "{name:<11} run: no-op {noop:.2} ms, with one platform query {query:.2} ms → the query adds {:.2} ms; the same query by REST {rest:.2} ms ({:.2}×)",
            query - noop,
            (query - noop) / rest
        );
        let _ = host.stop.send(true);
    }
}
