//! A hostile agent for the host's containment tests (not a kind: the tests load it directly).
//! Its config's `attack` says what it tries:
//! - `spin`: loops forever; `grow`: allocates until memory runs out; `flood`: returns a huge
//!   summary; `panic`: panics;
//! - `fetch`: requests `url` (any host, with a forged `Authorization` header);
//! - `records`: queries the work items of `connection_id` (another project's, in the tests);
//! - `action`: invokes `action` on `connection_id` (one the agent's config does not name);
//! - `sync`: starts a sync of `connection_id`;
//! - `document`: writes a document titled `title`, linked to the record ids of `records`;
//! - `comment`: comments `markdown` (default a short note) on `record_id`;
//! - `trigger`: does nothing, and says what started the run (kind and sync event), so that
//!   tests see what the host told it (as an installed package deployed with `run_on`).
//!
//! A platform call's answer comes back as the outcome's `summary` (`ok: …` or `refused: …`),
//! so tests see exactly what the guest was told.

// The generated import glue flattens a record argument into many parameters.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "agentic:agent/agent@0.2.0",
    generate_all,
});

use agentic::agent::platform;
use agentic::agent::types::{Model, PlatformError, RecordQuery, TriggerKind};
use serde_json::Value;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

struct Hostile;

fn said(e: PlatformError) -> String {
    match e {
        PlatformError::Denied(m) => format!("refused: denied: {m}"),
        PlatformError::NotFound(m) => format!("refused: not-found: {m}"),
        PlatformError::InvalidInput(m) => format!("refused: invalid-input: {m}"),
        PlatformError::Unavailable(m) => format!("refused: unavailable: {m}"),
    }
}

fn done(summary: String) -> Result<Outcome, Error> {
    Ok(Outcome {
        state: None,
        metrics: Vec::new(),
        events: Vec::new(),
        summary,
        problem: None,
    })
}

#[allow(clippy::empty_loop)]
impl Guest for Hostile {
    fn run(trigger: Trigger, config: String, _state: Option<String>) -> Result<Outcome, Error> {
        let config: Value = serde_json::from_str(&config).unwrap_or(Value::Null);
        let connection = config["connection_id"].as_i64().unwrap_or(0);
        match config["attack"].as_str().unwrap_or_default() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = n.wrapping_add(1);
                    std::hint::black_box(n);
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "flood" => done("x".repeat(20 << 20)),
            "panic" => panic!("the hostile agent panics"),
            "fetch" => {
                let url = config["url"].as_str().unwrap_or("http://127.0.0.1/");
                done(match fetch(url) {
                    Ok(status) => format!("ok: status {status}"),
                    Err(e) => format!("refused: {e}"),
                })
            }
            "records" => {
                let query = RecordQuery {
                    model: Model::WorkItem,
                    connection_id: Some(connection),
                    status: None,
                    text: None,
                    after: None,
                    limit: 50,
                };
                done(match platform::query_records(&query) {
                    Ok(page) => format!("ok: {} records", page.records.len()),
                    Err(e) => said(e),
                })
            }
            "action" => {
                let action = config["action"].as_str().unwrap_or("add-comment");
                done(match platform::invoke_action(connection, action, "{}") {
                    Ok(out) => format!("ok: {out}"),
                    Err(e) => said(e),
                })
            }
            "document" => {
                let title = config["title"].as_str().unwrap_or("Hostile notes");
                let records: Vec<i64> = config["records"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                done(
                    match platform::write_document(
                        title,
                        "# Notes\n\nWritten by an agent.",
                        &["agent".to_owned()],
                        &records,
                    ) {
                        Ok(id) => format!("ok: document {id}"),
                        Err(e) => said(e),
                    },
                )
            }
            "comment" => {
                let markdown = config["markdown"]
                    .as_str()
                    .unwrap_or("Looked at by an agent.");
                let record = config["record_id"].as_i64().unwrap_or(0);
                done(match platform::comment_on_record(record, markdown) {
                    Ok(id) => format!("ok: comment {id}"),
                    Err(e) => said(e),
                })
            }
            "trigger" => done(describe(&trigger)),
            "sync" => done(match platform::start_sync(connection, None) {
                Ok(job) => format!("ok: job {job}"),
                Err(e) => said(e),
            }),
            other => Err(Error::Config(format!("unknown attack {other:?}"))),
        }
    }
}

/// `trigger: <kind> run <n>`, and the sync event when there is one.
fn describe(trigger: &Trigger) -> String {
    let kind = match trigger.kind {
        TriggerKind::Schedule => "schedule",
        TriggerKind::Retry => "retry",
        TriggerKind::SyncFinished => "sync-finished",
        TriggerKind::RecordsChanged => "records-changed",
    };
    let mut said = format!("trigger: {kind} run {}", trigger.run);
    if let Some(e) = &trigger.event {
        said.push_str(&format!(
            "; connection {} stream {} job {} stored {} deleted {}",
            e.connection_id, e.stream, e.sync_job_id, e.records_stored, e.records_deleted
        ));
    }
    said
}

fn fetch(url: &str) -> Result<u16, String> {
    let (scheme, rest) = url.split_once("://").ok_or("url without scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    // The host refuses a guest's credential headers; try anyway.
    let _ = fields.append("authorization", b"Bearer forged");
    let request = OutgoingRequest::new(fields);
    request.set_method(&Method::Get).map_err(|()| "method")?;
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let response = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    response.subscribe().block();
    let response = response
        .get()
        .ok_or("no response")?
        .map_err(|()| "taken")?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status())
}

export!(Hostile);
