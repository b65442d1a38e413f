//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-tests --bench google_sync` (SQLite; PostgreSQL too with
//! `AGENTIC_BENCH_POSTGRES=1`). `FILES=…` for another size (default 100 000).
//!
//! A full sync of the `files` stream of a Drive folder holding 100 000 files, metadata only
//! (`max_file_bytes: 0`, so no content is fetched), 1 000 files a page (Drive's largest), from the
//! fake Google of the end-to-end tests (every request checked against Google's discovery
//! documents, `fields` applied), through the Google component installed signed, the host's
//! egress injecting a service account's token, a real worker and the sync engine storing each
//! page with its state in one transaction: records per second, end to end. Beside it, the same
//! connector code run natively (the SDK harness) against the same fake.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::rbac::Role;
use agentic_sdk::testing::{FakeResponse, FakeServer, Harness};
use agentic_tests::google::{loopback_manifest, Data, FakeGoogle, Google};
use agentic_tests::providers::Provider;
use agentic_tests::{bench, Backend, TestApp};
use serde_json::{json, Value};

const PAGE: u32 = 1000;

fn config() -> Value {
    json!({"scope": "folder", "folder_id": Data::FOLDER, "page_size": PAGE, "max_file_bytes": 0})
}

/// A host on `backend` with the Google component installed signed and a service-account
/// connection to `fake`: the app, the project, the connection and a Project Manager's token.
async fn host(
    backend: Backend,
    fake: &FakeGoogle,
    provider: &Provider,
) -> (TestApp, i64, i64, String) {
    let app = TestApp::start_durable(backend, |_| {}).await;
    let admin = app.admin().await;
    let pm = app.user(Role::ProjectManager).await;
    let manifest = loopback_manifest();
    let project =
        (app.project_with_plugin(&admin.token, "google", &manifest, ("Bench", pm.id, &[]))).await;
    let mut key: Value =
        serde_json::from_str(include_str!("../fixtures/google-auth/service_account.json")).unwrap();
    key["token_uri"] = json!(format!("{}/google/token", provider.url));
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections?check=false"),
            &admin.token,
            json!({
                "plugin_id": "google", "name": "drive", "base_url": format!("{}/", fake.url),
                "config": config(), "allow_private_network": true,
                "origins": {"sheets": format!("{}/", fake.url), "docs": format!("{}/", fake.url)},
                "credential": {"kind": "google-service-account", "key": key,
                               "scopes": ["https://www.googleapis.com/auth/drive.readonly"]},
            }),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().unwrap();
    // Compile the component before the clock starts, as a running host has.
    let _ = app.state.plugins.active("google").await.unwrap();
    (app, project, cid, pm.token)
}

/// The end-to-end sync by a worker: records per second.
async fn end_to_end(app: &TestApp, project: i64, cid: i64, token: &str, files: usize) -> f64 {
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&worker).run(stopped));
    let started = Instant::now();
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            json!({"stream": "files", "mode": "full"}),
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
    assert_eq!(job["result"]["records"], files, "{job}");
    let _ = stop.send(true);
    let _ = running.await;
    files as f64 / elapsed
}

fn main() {
    let n = bench::count("FILES", 100_000);
    let runtime = bench::runtime();
    let started = Instant::now();
    let provider = runtime.block_on(Provider::start());
    let fake = runtime.block_on(FakeGoogle::start(Data::generate(n), &provider));
    // The generated folder also holds one big text file.
    let files = n + 1;
    println!("\nfake Google with {files} files in the folder tree ready in {:.1?}; files stream, metadata only, {PAGE} a page", started.elapsed());

    // Native: the same connector code against the same fake, nothing stored (the harness
    // sends no credential: this server of the same fake takes any).
    let anonymous: Google = fake.google.anonymous();
    let server = FakeServer::start(move |request| {
        let answer = anonymous.handle(&agentic_tests::google::Request {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            authorization: None,
            content_type: request.header("content-type").map(str::to_owned),
            body: request.body.clone(),
        });
        FakeResponse {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        }
    });
    // Sheets and Docs are origins of their own (plugin.toml); a metadata-only sync calls
    // neither, but the connector checks they are configured.
    let h = Harness::new(google::GoogleConnector)
        .with_base_url(format!("{}/", server.url()))
        .with_service_url("sheets", format!("{}/", server.url()))
        .with_service_url("docs", format!("{}/", server.url()));
    let started = Instant::now();
    let pages = h.read_all(&config(), "files", None).unwrap();
    let native = started.elapsed();
    let count: usize = pages.iter().map(|p| p.records.len()).sum();
    assert_eq!(count, files);
    let rate = |d: Duration| files as f64 / d.as_secs_f64();
    println!(
        "{:<58} {:>10.0} records/s  ({:.1} s)",
        "native connector, fetch + transform only",
        rate(native),
        native.as_secs_f64()
    );

    for (name, backend) in bench::backends() {
        let (app, project, cid, token) = runtime.block_on(host(backend, &fake, &provider));
        let e2e = runtime.block_on(end_to_end(&app, project, cid, &token, files));
        println!(
            "{:<58} {:>10.0} records/s  ({:.2} of native)",
            format!("component → worker → sync engine → {name}"),
            e2e,
            e2e / rate(native)
        );
        drop(app);
    }
    assert!(
        fake.google.violations().is_empty(),
        "{:?}",
        fake.google.violations()
    );
}
