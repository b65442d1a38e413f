//! The built-in `web-monitor` agent, written with the agent SDK: one run fetches the configured
//! URL once through the host's mediated `wasi:http` and checks it.
//!
//! A run measures the latency (the host's monotonic clock, from sending the request to the end
//! of the body), the status and — when the config has a `keyword` — whether the body contains
//! it, and reports them as metrics (`latency_ms`, `status`, `bytes`, `keyword_found`). The
//! check fails (a report with a `problem`: a failed run, its state kept) when the page cannot
//! be fetched, answers another status than `expect_status` (default: any 2xx), lacks the
//! keyword or takes longer than `timeout_secs`; the run fails with `denied` when the host
//! refuses the request (the URL is outside the egress rules, e.g. a private address the agent
//! may not reach). Its state counts checks and remembers the last status.
//! Only the first MiB of the body is read.

use agentic_agent_sdk::clock::Stopwatch;
use agentic_agent_sdk::http::{HttpError, Request};
use agentic_agent_sdk::platform::{self, LogLevel};
use agentic_agent_sdk::{register_agent, Agent, Error, Report, Run};
use serde::{Deserialize, Serialize};

/// Most of the body read for the keyword check.
const MAX_BODY: usize = 1 << 20;

/// The kind's configuration (the host validates it against the kind's schema; the schedule,
/// health and alert settings in it are the host's).
#[derive(Debug, Deserialize)]
pub struct Config {
    /// The page to watch.
    pub url: String,
    /// Seconds one check may take.
    #[serde(default = "ten")]
    pub timeout_secs: u64,
    /// The status a healthy page answers with; absent: any 2xx.
    pub expect_status: Option<u16>,
    /// Text a healthy page contains.
    pub keyword: Option<String>,
}

fn ten() -> u64 {
    10
}

/// What the agent keeps between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Checks made in this deployment.
    pub checks: u64,
    /// The status of the last check that got an answer.
    pub last_status: Option<u16>,
}

/// The agent.
#[derive(Debug, Default)]
pub struct WebMonitor;

impl Agent for WebMonitor {
    type Config = Config;
    type State = State;

    fn run(&self, _run: &Run, config: &Config, state: &mut State) -> Result<Report, Error> {
        let url = &config.url;
        state.checks += 1;
        state.last_status = None;
        let watch = Stopwatch::start();
        let fetched = Request::get(url.as_str()).max_body(MAX_BODY).send();
        let latency_ms = watch.elapsed_ms();
        platform::emit_metric("latency_ms", latency_ms);
        let page = match fetched {
            Ok(page) => page,
            Err(HttpError::Refused(why)) => {
                platform::log(LogLevel::Warn, &format!("request refused: {why}"));
                return Err(Error::Denied(why));
            }
            Err(HttpError::Failed(why)) => {
                let problem = format!("{url} is unreachable: {why}");
                return Ok(Report::new(problem.clone()).problem(problem));
            }
        };
        state.last_status = Some(page.status);
        platform::emit_metric("status", f64::from(page.status));
        platform::emit_metric("bytes", page.body.len() as f64);
        let mut problems = Vec::new();
        let status_ok = match config.expect_status {
            Some(want) => page.status == want,
            None => page.is_success(),
        };
        if !status_ok {
            problems.push(match config.expect_status {
                Some(want) => format!("status {} (expected {want})", page.status),
                None => format!("status {} (expected 2xx)", page.status),
            });
        }
        if let Some(keyword) = &config.keyword {
            let found = contains(&page.body, keyword.as_bytes());
            platform::emit_metric("keyword_found", if found { 1.0 } else { 0.0 });
            if !found {
                problems.push(format!("the page does not contain {keyword:?}"));
            }
        }
        let timeout_ms = config.timeout_secs.saturating_mul(1000);
        if latency_ms > timeout_ms as f64 {
            problems.push(format!(
                "took {latency_ms:.0} ms, more than {timeout_ms} ms"
            ));
        }
        let summary = format!(
            "{url} answered {} in {latency_ms:.0} ms{}",
            page.status,
            match config.keyword {
                Some(_) if problems.is_empty() => " with the keyword",
                _ => "",
            }
        );
        let report = Report::new(summary);
        Ok(if problems.is_empty() {
            report
        } else {
            report.problem(format!("{url}: {}", problems.join("; ")))
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

register_agent!(WebMonitor);
