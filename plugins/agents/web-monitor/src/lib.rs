//! The built-in `web-monitor` agent: one run fetches the configured URL once through the host's
//! mediated `wasi:http` and checks it.
//!
//! A run measures the latency (the host's monotonic clock, from sending the request to the end
//! of the body), the status and — when the config has a `keyword` — whether the body contains
//! it, and reports them as metrics (`latency_ms`, `status`, `bytes`, `keyword_found`). The
//! check fails (an outcome with a `problem`: a failed run, its state kept) when the page cannot
//! be fetched, answers another status than `expect_status` (default: any 2xx), lacks the
//! keyword or takes longer than `timeout_secs`; the run fails with `denied` when the host
//! refuses the request (the URL is outside the egress rules, e.g. a private address the agent
//! may not reach). Its state counts checks and failures.
//! Only the first MiB of the body is read.

// The generated import glue flattens a record argument into many parameters.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "agentic:agent/agent@0.1.0",
    generate_all,
});

use agentic::agent::platform;
use agentic::agent::types::LogLevel;
use serde_json::{json, Value};
use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Most of the body read for the keyword check.
const MAX_BODY: usize = 1 << 20;

struct WebMonitor;

/// A fetched page.
struct Fetched {
    status: u16,
    body: Vec<u8>,
}

impl Guest for WebMonitor {
    fn run(_trigger: Trigger, config: String, state: Option<String>) -> Result<Outcome, Error> {
        let config: Value =
            serde_json::from_str(&config).map_err(|e| Error::Config(format!("config: {e}")))?;
        let url = config["url"]
            .as_str()
            .ok_or_else(|| Error::Config("config.url is missing".into()))?;
        let timeout_ms = config["timeout_secs"].as_u64().unwrap_or(10) * 1000;
        let expect = config["expect_status"].as_u64();
        let keyword = config["keyword"].as_str();
        let checks = state
            .as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|s| s["checks"].as_u64())
            .unwrap_or(0)
            + 1;

        let started = monotonic_clock::now();
        let fetched = fetch(url);
        let latency_ms = (monotonic_clock::now() - started) as f64 / 1e6;
        platform::emit_metric("latency_ms", latency_ms);
        let page = match fetched {
            Ok(page) => page,
            Err(Failure::Denied(why)) => {
                platform::log(LogLevel::Warn, &format!("request refused: {why}"));
                return Err(Error::Denied(why));
            }
            Err(Failure::Unreachable(why)) => {
                let problem = format!("{url} is unreachable: {why}");
                return Ok(outcome(checks, None, problem.clone(), Some(problem)));
            }
        };
        platform::emit_metric("status", f64::from(page.status));
        platform::emit_metric("bytes", page.body.len() as f64);
        let mut problems = Vec::new();
        let status_ok = match expect {
            Some(want) => u64::from(page.status) == want,
            None => (200..300).contains(&page.status),
        };
        if !status_ok {
            problems.push(match expect {
                Some(want) => format!("status {} (expected {want})", page.status),
                None => format!("status {} (expected 2xx)", page.status),
            });
        }
        if let Some(keyword) = keyword {
            let found = contains(&page.body, keyword.as_bytes());
            platform::emit_metric("keyword_found", if found { 1.0 } else { 0.0 });
            if !found {
                problems.push(format!("the page does not contain {keyword:?}"));
            }
        }
        if latency_ms > timeout_ms as f64 {
            problems.push(format!(
                "took {latency_ms:.0} ms, more than {timeout_ms} ms"
            ));
        }
        let summary = format!(
            "{url} answered {} in {latency_ms:.0} ms{}",
            page.status,
            match keyword {
                Some(_) if problems.is_empty() => " with the keyword",
                _ => "",
            }
        );
        let problem = (!problems.is_empty()).then(|| format!("{url}: {}", problems.join("; ")));
        Ok(outcome(checks, Some(page.status), summary, problem))
    }
}

fn outcome(checks: u64, status: Option<u16>, summary: String, problem: Option<String>) -> Outcome {
    Outcome {
        state: Some(json!({"checks": checks, "last_status": status}).to_string()),
        metrics: Vec::new(),
        events: Vec::new(),
        summary,
        problem,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

enum Failure {
    /// The host refused the request (egress rules).
    Denied(String),
    /// The request went out but failed (connection refused, timeout, bad answer).
    Unreachable(String),
}

/// The failure of a `wasi:http` error code. (The host adds the egress rule that refused a
/// request to the run's error itself.)
fn code(e: &ErrorCode) -> Failure {
    let why = format!("{e:?}");
    match e {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => Failure::Denied(why),
        _ => Failure::Unreachable(why),
    }
}

fn fetch(url: &str) -> Result<Fetched, Failure> {
    let bad = |why: &str| Failure::Unreachable(why.to_owned());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("url without scheme"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| bad("bad method"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(Failure::Unreachable(format!(
                "scheme {other} is not http(s)"
            )))
        }
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("bad scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("bad host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("bad path"))?;
    let response = outgoing_handler::handle(request, None).map_err(|e| code(&e))?;
    response.subscribe().block();
    let response = response
        .get()
        .ok_or_else(|| bad("no response"))?
        .map_err(|()| bad("response taken"))?
        .map_err(|e| code(&e))?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| bad("body taken"))?;
    let stream = incoming.stream().map_err(|()| bad("body stream taken"))?;
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Failure::Unreachable(format!(
                    "reading the body: {}",
                    e.to_debug_string()
                )))
            }
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok(Fetched { status, body })
}

export!(WebMonitor);
