//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-tests --bench jira_sync` (SQLite; PostgreSQL too with
//! `AGENTIC_BENCH_POSTGRES=1`, in a scratch schema of the tests' server,
//! `AGENTIC_TEST_POSTGRES_URL`). `ISSUES=…` for another size (default 100 000), `ROUNDS=…`
//! for more rounds (default 3).
//!
//! A full sync of the `issues` stream of a Jira Cloud with 100 000 issues — the fake of the
//! end-to-end tests (`agentic_tests::jira`, every request validated against Atlassian's
//! OpenAPI document), 100 issues a page — through the JIRA component installed signed, the
//! host's mediated egress injecting the API token as HTTP Basic, a real worker and the sync
//! engine storing each page with its state in one transaction while it reads the next: records
//! per second, end to end, beside the same connector code run natively (the SDK harness)
//! against the same fake, fetching and transforming only: in `ROUNDS` rounds, the order of
//! the legs reversed every other round, each host leg divided by its round's native leg, and
//! the median of those ratios reported (a first native pass warms the fake up, uncompared).
//! The fake serves from a tokio runtime of its own (two workers), never the host's.
//! Each leg also reports the CPU time it spent a record (`bench::Cpu`): beside the fake (this
//! process less the fake's threads, plus PostgreSQL's processes on this machine) and the fake's
//! own. The rounds' native / host ratios of the first say what the sandbox, the sync engine and
//! the database cost in work, where the rates' ratio also counts what the host's leg runs in
//! parallel on the machine's cores.
//!
//! Then the same read again with each step timed apart, one after the other (read, then store:
//! the engine overlaps them, this loop does not), to say what bounds it:
//! the fake JIRA answering (validation, building and serialising the page), the component's
//! `read` (the rest of it: loopback HTTP through wasi:http, parsing JIRA's JSON in the guest,
//! issues into work items, ADF into Markdown, lowering the records to the host and lifting them
//! straight into rows with their JSON), and storing the page. And the native
//! connector once more, each page stored by the same `Store::store_page` into the same database
//! (records serialised to JSON natively): the ratio to it says what the sandbox and the sync
//! engine add to a sync that stores what it reads.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::clock::Millis;
use agentic_host::rbac::Role;
use agentic_host::store::records::{NewRecord, SyncState};
use agentic_sdk::testing::Harness;
use agentic_sdk::RecordData;
use agentic_tests::jira::{generate, Deployment, FakeJira};
use agentic_tests::{bench, plugin_manifest, Backend, TestApp};
use base64::Engine;
use serde_json::json;

const PAGE: u32 = 100;
const EMAIL: &str = "bench@acme.example";
const TOKEN: &str = "ATATT3xFfGF0-bench-token";
/// The fake JIRA's threads, whose CPU time each leg counts apart.
const FAKE_THREADS: &str = "fake-jira";

/// A host on `backend` with the JIRA component installed signed and a connection to `fake`:
/// the app, the project, the connection and a Project Manager's token.
async fn host(backend: Backend, fake: &FakeJira) -> (TestApp, i64, i64, String) {
    let app = TestApp::start_durable(backend, |_| {}).await;
    let admin = app.admin().await;
    let pm = app.user(Role::ProjectManager).await;
    let manifest = plugin_manifest("jira");
    let project =
        (app.project_with_plugin(&admin.token, "jira", &manifest, ("Bench", pm.id, &[]))).await;
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            &admin.token,
            json!({
                "plugin_id": "jira", "name": "jira", "base_url": fake.url,
                "config": {"deployment": "cloud", "page_size": PAGE},
                "allow_private_network": true,
                "credential": {"kind": "api-token", "email": EMAIL, "token": TOKEN},
            }),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().unwrap();
    // Compile the component before the clock starts, as a running host has.
    let _ = app.state.plugins.active("jira").await.unwrap();
    (app, project, cid, pm.token)
}

/// The end-to-end sync by a worker: records per second.
async fn end_to_end(app: &TestApp, project: i64, cid: i64, token: &str, issues: usize) -> f64 {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&worker).run(stopped));
    let started = Instant::now();
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            json!({"stream": "issues", "mode": "full"}),
        )
        .await;
    r.expect(202);
    let id = r.json["job"]["id"].as_i64().unwrap();
    let job = loop {
        let job = app.get(&format!("/api/v1/jobs/{id}"), token).await.json;
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "dead" | "cancelled")
        ) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["records"], issues, "{job}");
    assert_eq!(app.count("records").await as usize, issues);
    let _ = stop.send(true);
    let _ = running.await;
    issues as f64 / elapsed
}

/// Where a sync's time goes.
#[derive(Default)]
struct Split {
    fake: Duration,
    read: Duration,
    store: Duration,
    total: Duration,
}

/// The sync loop again, step by step, into a stream of its own.
async fn split(app: &TestApp, project: i64, cid: i64, fake: &FakeJira, issues: usize) -> Split {
    let store = &app.state.store;
    let connection = store.connection_by_id(cid).await.unwrap();
    let (manifest, plugin) = app.state.plugins.active("jira").await.unwrap();
    let call =
        agentic_host::sync::connection_call(&manifest, &connection, &app.state.sessions).unwrap();
    let runtime = app.state.plugins.runtime().await.unwrap();
    // As the sync engine reads a stream: one instance for its pages.
    let mut reader = runtime.reader(&plugin, &call);
    let mut out = Split::default();
    let (mut state, mut count) = (None::<String>, 0);
    let fake_before = fake.with(|d| d.busy());
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let page = reader
            .read(&connection.config, "issues", state.as_deref())
            .await
            .unwrap();
        out.read += t.elapsed();
        let t = Instant::now();
        let rows: Vec<NewRecord<'_>> = page.records.iter().map(NewRecord::from).collect();
        let sync = SyncState {
            state: Some(page.state.clone()),
            cycle: 1,
            complete: !page.has_more,
        };
        store
            .store_page(
                None,
                project,
                cid,
                "issues-split",
                &rows,
                &sync,
                app.state.now(),
            )
            .await
            .unwrap();
        out.store += t.elapsed();
        count += rows.len();
        if !page.has_more {
            break;
        }
        state = Some(page.state);
    }
    out.total = started.elapsed();
    out.fake = fake.with(|d| d.busy()) - fake_before;
    assert_eq!(count, issues);
    out
}

/// The connector run natively, each page stored by `Store::store_page` with its state into a
/// stream of its own, as the sync engine stores a page (without its lease checks and
/// read-ahead): records per second. The harness's HTTP client blocks, so each page is read on
/// this thread and stored through the runtime.
fn native_stored(
    runtime: &tokio::runtime::Runtime,
    app: &TestApp,
    project: i64,
    cid: i64,
    base_url: &str,
    issues: usize,
) -> f64 {
    let store = &app.state.store;
    let h = Harness::new(jira::JiraConnector).with_base_url(base_url.to_owned());
    let config = json!({"deployment": "cloud", "page_size": PAGE});
    let (mut state, mut count) = (None::<String>, 0);
    let started = Instant::now();
    loop {
        let page = h.read(&config, "issues", state.as_deref()).unwrap();
        h.take_host_events();
        let rows: Vec<NewRecord<'_>> = page
            .records
            .iter()
            .map(|r| match r {
                RecordData::WorkItem(w) => NewRecord {
                    kind: "work_item",
                    external_id: w.external_id.as_str().into(),
                    title: w.title.as_str().into(),
                    status: Some(w.status.as_str().into()),
                    source_updated_at: w.updated_at.map(Millis::from_ms),
                    data: serde_json::to_string(w).unwrap().into(),
                },
                other => panic!("the issues stream returned {other:?}"),
            })
            .collect();
        let sync = SyncState {
            state: Some(page.state.clone()),
            cycle: 1,
            complete: !page.has_more,
        };
        runtime
            .block_on(store.store_page(
                None,
                project,
                cid,
                "issues-native",
                &rows,
                &sync,
                app.state.now(),
            ))
            .unwrap();
        count += rows.len();
        if !page.has_more {
            break;
        }
        state = Some(page.state);
    }
    assert_eq!(count, issues);
    issues as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let (issues, rounds) = (
        bench::count("ISSUES", 100_000),
        bench::count("ROUNDS", 3).max(1),
    );
    let runtime = bench::runtime();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
    );
    let started = Instant::now();
    // The fake serves from a runtime of its own, as a real JIRA runs apart from the host: on the
    // host's runtime its page answers (a JQL scan of every issue, milliseconds each) would hold
    // the host's tasks queued behind them on the same two worker threads. Both still share the
    // machine's cores, in every leg alike.
    let fake_runtime = bench::named_runtime(FAKE_THREADS);
    let fake = fake_runtime.block_on(FakeJira::start(generate(Deployment::Cloud, issues, &auth)));
    println!(
        "\nfake Jira Cloud with {issues} issues ready in {:.1?}; issues stream, {PAGE} a page",
        started.elapsed()
    );
    let backends = bench::backends();
    let rate = |d: Duration| issues as f64 / d.as_secs_f64();
    let report_native = |(native, fake_busy): (Duration, Duration), when: &str| {
        println!(
            "{:<58} {:>10.0} records/s  (fake JIRA {:.1} s of {:.1} s)",
            format!("native connector, fetch + transform only ({when})"),
            rate(native),
            fake_busy.as_secs_f64(),
            native.as_secs_f64()
        );
    };
    // CPU a record: beside the fake (the connector's side, and on PostgreSQL the server too),
    // and the fake's own.
    let per_record = |d: Duration| d.as_secs_f64() * 1e6 / issues as f64;
    let report_cpu = |cpu: &bench::Cpu| {
        println!(
            "{:<58} {:>10.1} µs CPU a record  (the fake {:.1} µs, PostgreSQL's processes {:.1} µs)",
            "",
            per_record(cpu.rest() + cpu.server),
            per_record(cpu.threads),
            per_record(cpu.server)
        );
    };

    // Native: the same connector code reading the same pages, nothing stored. A first pass
    // warms the fake and the allocator up and is not compared: it is a run's slowest, and a
    // reference slowed by it would flatter the host.
    report_native(native_fetch(&fake, &auth, issues), "warm-up, not compared");

    // Then ROUNDS rounds of the native leg and each host leg side by side, the order reversed
    // every other round: this machine's rates drift and swing between runs (by up to half),
    // so each host leg is compared with the native leg of its own round, and the figure is the
    // median of those ratios.
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); backends.len()];
    let mut e2e_rates = ratios.clone();
    let mut cpu_ratios = ratios.clone();
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        let mut legs: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..backends.len()).map(Some))
            .collect();
        if round % 2 == 0 {
            legs.reverse();
        }
        let (mut native, mut host_rates) = (0.0, vec![0.0; backends.len()]);
        let (mut native_cpu, mut host_cpu) = (Duration::ZERO, vec![Duration::ZERO; backends.len()]);
        for leg in legs {
            match leg {
                None => {
                    let before = bench::Cpu::now(FAKE_THREADS);
                    let run = native_fetch(&fake, &auth, issues);
                    let cpu = bench::Cpu::now(FAKE_THREADS).since(before);
                    report_native(run, "this round");
                    report_cpu(&cpu);
                    native = rate(run.0);
                    native_cpu = cpu.rest() + cpu.server;
                }
                Some(b) => {
                    let (name, backend) = backends[b];
                    let (app, project, cid, token) = runtime.block_on(host(backend, &fake));
                    let before = bench::Cpu::now(FAKE_THREADS);
                    let e2e = runtime.block_on(end_to_end(&app, project, cid, &token, issues));
                    let cpu = bench::Cpu::now(FAKE_THREADS).since(before);
                    println!(
                        "{:<58} {:>10.0} records/s",
                        format!("component → worker → sync engine → {name}"),
                        e2e,
                    );
                    report_cpu(&cpu);
                    host_rates[b] = e2e;
                    host_cpu[b] = cpu.rest() + cpu.server;
                }
            }
        }
        for (b, (name, _)) in backends.iter().enumerate() {
            let ratio = host_rates[b] / native;
            // Records per CPU second beside the fake, host over native: the work the sandbox,
            // the sync engine and the database add, parallel or not.
            let cpu_ratio = native_cpu.as_secs_f64() / host_cpu[b].as_secs_f64();
            println!(
                "{:<58} {:>10.2}  (CPU a record, native / host: {cpu_ratio:.2})",
                format!("  host on {name} / native, this round"),
                ratio
            );
            ratios[b].push(ratio);
            e2e_rates[b].push(host_rates[b]);
            cpu_ratios[b].push(cpu_ratio);
        }
    }

    // Where the host's time goes, once per database: the same read step by step, and the
    // native connector storing each page with the same store call.
    for (b, (name, backend)) in backends.iter().enumerate() {
        let (app, project, cid, _) = runtime.block_on(host(*backend, &fake));
        let s = runtime.block_on(split(&app, project, cid, &fake, issues));
        let secs = |d: Duration| d.as_secs_f64();
        let share = |d: Duration| 100.0 * secs(d) / secs(s.total);
        println!(
            "{name}: read then store, timed step by step: {:.0} records/s over {:.1} s",
            rate(s.total),
            secs(s.total)
        );
        println!(
            "  without the fake's share (a JIRA answering at once): {:.0} records/s",
            rate(s.total.saturating_sub(s.fake))
        );
        for (step, d) in [
            ("fake JIRA answering (validate, build, serialise)", s.fake),
            (
                "component read, less the fake (HTTP, parse, transform, lower, lift)",
                s.read.saturating_sub(s.fake),
            ),
            ("store_page (rows + state, one transaction)", s.store),
        ] {
            println!("    {step:<64} {:>6.1} s {:>5.1} %", secs(d), share(d));
        }
        // The native leg again, storing each page: the harness sends no credential.
        fake.with(|d| d.authorization = None);
        let stored = native_stored(&runtime, &app, project, cid, &fake.url, issues);
        fake.with(|d| d.authorization = Some(auth.clone()));
        println!(
            "{:<58} {:>10.0} records/s  (host's median / this: {:.2})",
            format!("native connector → store_page → {name}"),
            stored,
            median(&e2e_rates[b]) / stored
        );
        drop(app);
    }
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let listed = |r: &[f64]| {
        r.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (((name, _), r), c) in backends.iter().zip(ratios).zip(cpu_ratios) {
        println!(
            "{:<58} {:>10.2}  (rounds: {})",
            format!("host on {name} / native fetch + transform, median"),
            median(&r),
            listed(&r)
        );
        println!(
            "{:<58} {:>10.2}  (rounds: {})",
            format!("  CPU a record beside the fake, native / host, median"),
            median(&c),
            listed(&c)
        );
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The JIRA connector run natively (SDK harness, native HTTP client) over every page of the
/// `issues` stream, storing nothing: how long it took, and how much of it the fake was busy.
/// The harness sends no credential: the fake lets it in anonymously for this leg only.
fn native_fetch(fake: &FakeJira, auth: &str, issues: usize) -> (Duration, Duration) {
    fake.with(|d| d.authorization = None);
    let h = Harness::new(jira::JiraConnector).with_base_url(fake.url.clone());
    let config = json!({"deployment": "cloud", "page_size": PAGE});
    let (mut state, mut count) = (None::<String>, 0);
    let fake_before = fake.with(|d| d.busy());
    let started = Instant::now();
    loop {
        let page = h.read(&config, "issues", state.as_deref()).unwrap();
        h.take_host_events();
        count += page.records.len();
        if !page.has_more {
            break;
        }
        state = Some(page.state);
    }
    let elapsed = started.elapsed();
    let fake_busy = fake.with(|d| d.busy()) - fake_before;
    assert_eq!(count, issues);
    fake.with(|d| d.authorization = Some(auth.to_owned()));
    (elapsed, fake_busy)
}
