//! `cargo xtask test` builds the components; then
//! `cargo bench -p agentic-tests --bench doors_sync` (SQLite; PostgreSQL too with
//! `AGENTIC_BENCH_POSTGRES=1`). `OBJECTS=…` (default 50 000, about 73 MiB of XML) and
//! `REQUIREMENTS=…` (default 10 000) for other sizes.
//!
//! Issue 18's two figures, each through the host beside the same connector code run natively:
//!
//! 1. **A ReqIF import**: a generated export (`agentic_tests::doors::Export`, the same the
//!    stories import: headings and children over two modules, XHTML texts of every Unicode
//!    class, links) served by the fake Jazz server behind its form login, as a `.reqifz` (how
//!    DOORS exports it) and as a plain `.reqif`; the `requirements` stream synced by a worker
//!    through the DOORS component installed signed, 5 000 records a page, the connection's
//!    `max_file_mib` raised to 128. The component parses the plain file as the response
//!    arrives and the `.reqifz`'s as it is decompressed, within the host's default 64 MiB a
//!    plugin instance; the host's response cap is raised to 128 MiB
//!    (`plugins.http_response_mib`) for the plain file, which is larger than the default 32.
//! 2. **A DOORS Next sync over OSLC RM**: the fake DOORS Next (built from the Lyo fixtures)
//!    with `REQUIREMENTS` requirements, discovery from `rootservices`, queries with
//!    `oslc.pageSize` 500 followed page by page, RDF/XML parsed in the component.
//!
//! Natively the SDK harness runs the same connector against a server of the same fake without
//! a login (the harness sends no credential).
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentic_sdk::testing::{FakeResponse, FakeServer, Harness};
use agentic_tests::doors::{next, Export};
use agentic_tests::providers::{Provider, JAZZ_PASSWORD, JAZZ_USER};
use agentic_tests::{bench, plugin_manifest, plugin_wasm, Backend, TestApp};
use serde_json::{json, Value};

const REQIF_PAGE: u32 = 5000;
const OSLC_PAGE: u32 = 500;
/// The ReqIF connection's configuration for the file `name`.
fn reqif_config(name: &str) -> Value {
    json!({"reqif_path": format!("/reqif/{name}"), "page_size": REQIF_PAGE, "max_file_mib": 128})
}

/// `xml` as a `.reqifz` holding `bench.reqif`, deflated as DOORS writes it.
fn reqifz(xml: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("bench.reqif", options).unwrap();
    zip.write_all(xml).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn oslc_config() -> Value {
    json!({"source": "doors-next", "project_areas": [next::PROJECT_AREA], "page_size": OSLC_PAGE})
}

/// A host on `backend` with the DOORS component installed signed and enabled in a project;
/// the app, the project and the administrator's token. The host's sandbox defaults but for
/// the response cap, which the plain 50 000-object file is past.
async fn host(backend: Backend) -> (TestApp, i64, String) {
    let app =
        TestApp::start_durable(backend, |config| config.plugins.http_response_mib = 128).await;
    let admin = app.admin().await;
    app.install_plugin(
        &admin.token,
        &plugin_manifest("doors"),
        &plugin_wasm("doors"),
    )
    .await;
    let project = app.project("Bench", admin.id, &[]).await;
    app.enable_plugin(&admin.token, project, "doors").await;
    // Compile the component before the clock starts, as a running host has.
    let _ = app.state.plugins.active("doors").await.unwrap();
    (app, project, admin.token)
}

/// Syncs `stream` of a new form-login connection with `config` to the fake Jazz server; records
/// per second, end to end (the job's records against the wall clock).
async fn end_to_end(
    app: &TestApp,
    project: i64,
    token: &str,
    jazz: &Provider,
    config: Value,
    stream: &str,
    expected: usize,
) -> f64 {
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections?check=false"),
            token,
            json!({"plugin_id": "doors", "name": format!("{stream} {}", config["reqif_path"].as_str().unwrap_or("oslc")), "base_url": format!("{}/rm", jazz.url),
                   "config": config, "allow_private_network": true,
                   "credential": {"kind": "form-login", "username": JAZZ_USER, "password": JAZZ_PASSWORD,
                                  "login_url": format!("{}/rm/j_security_check", jazz.url)}}),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().unwrap();
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Arc::clone(&worker).run(stopped));
    let started = Instant::now();
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            json!({"stream": stream, "mode": "full"}),
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
    assert_eq!(job["result"]["records"], expected, "{job}");
    let _ = stop.send(true);
    let _ = running.await;
    expected as f64 / elapsed
}

/// Reads `stream` natively against `server`; (records, records per second).
fn native(server: &FakeServer, config: &Value, stream: &str) -> (usize, f64) {
    let h = Harness::new(doors::DoorsConnector).with_base_url(format!("{}/rm", server.url()));
    let started = Instant::now();
    let pages = h.read_all(config, stream, None).unwrap();
    let took = started.elapsed().as_secs_f64();
    let count: usize = pages.iter().map(|p| p.records.len()).sum();
    (count, count as f64 / took)
}

fn main() {
    let (objects, requirements) = (
        bench::count("OBJECTS", 50_000),
        bench::count("REQUIREMENTS", 10_000),
    );
    let runtime = bench::runtime();

    let reqif = Export::generate(objects).to_reqif().into_bytes();
    let zipped = reqifz(&reqif);
    let files: HashMap<String, Vec<u8>> = [
        ("/rm/reqif/bench.reqif".to_owned(), reqif.clone()),
        ("/rm/reqif/bench.reqifz".to_owned(), zipped.clone()),
    ]
    .into();
    let reqif_server = FakeServer::start(move |request| match files.get(&request.path) {
        Some(file) => FakeResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: file.clone(),
        },
        None => FakeResponse::status(404),
    });
    let next_data = Arc::new(Mutex::new(next::NextData::generate(
        u32::try_from(requirements).unwrap(),
    )));
    let data = Arc::clone(&next_data);
    let oslc_server = FakeServer::start(move |request| {
        let query: HashMap<String, String> = request.query.iter().cloned().collect();
        let host = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map_or("127.0.0.1", |(_, v)| v.as_str())
            .to_owned();
        let (status, body) = next::answer(
            &mut data.lock().unwrap(),
            &format!("http://{host}"),
            &request.path,
            &query,
            None,
        );
        FakeResponse {
            status,
            headers: vec![("content-type".into(), "application/rdf+xml".into())],
            body: body.into_bytes(),
        }
    });

    println!(
        "\nReqIF: {objects} spec objects, {:.1} MiB (.reqifz {:.1} MiB), {REQIF_PAGE} a page; DOORS Next: {requirements} requirements, {OSLC_PAGE} a page",
        reqif.len() as f64 / f64::from(1 << 20),
        zipped.len() as f64 / f64::from(1 << 20)
    );
    let mut native_rates = HashMap::new();
    for name in ["bench.reqifz", "bench.reqif"] {
        let (n, rate) = native(&reqif_server, &reqif_config(name), "requirements");
        assert_eq!(n, objects);
        println!(
            "{:<58} {rate:>9.0} requirements/s",
            format!("ReqIF import ({name}), native connector")
        );
        native_rates.insert(name, rate);
    }
    let (n, oslc_native) = native(&oslc_server, &oslc_config(), "oslc-requirements");
    assert_eq!(n, requirements);
    println!(
        "{:<58} {oslc_native:>9.0} requirements/s",
        "DOORS Next sync, native connector"
    );

    for (name, backend) in bench::backends() {
        let jazz = runtime.block_on(Provider::start());
        jazz.put_reqif("bench.reqif", reqif.clone());
        jazz.put_reqif("bench.reqifz", zipped.clone());
        jazz.seen().next = next::NextData::generate(u32::try_from(requirements).unwrap());
        let (app, project, token) = runtime.block_on(host(backend));
        for file in ["bench.reqifz", "bench.reqif"] {
            let rate = runtime.block_on(end_to_end(
                &app,
                project,
                &token,
                &jazz,
                reqif_config(file),
                "requirements",
                objects,
            ));
            println!(
                "{:<58} {rate:>9.0} requirements/s  ({:.2} of native)",
                format!("ReqIF import ({file}) through the host → {name}"),
                rate / native_rates[file]
            );
        }
        let rate = runtime.block_on(end_to_end(
            &app,
            project,
            &token,
            &jazz,
            oslc_config(),
            "oslc-requirements",
            requirements,
        ));
        println!(
            "{:<58} {rate:>9.0} requirements/s  ({:.2} of native)",
            format!("DOORS Next sync through the host → {name}"),
            rate / oslc_native
        );
    }
}
