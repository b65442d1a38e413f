//! Web-automation tasks: an ordered list of steps (navigate, fetch, extract by CSS selector,
//! submit a form, wait) run against a site on the job queue, without a browser.
//!
//! - [`Step`] is the task's program, checked field by field by [`check_task`] before it is stored
//!   (`steps[2].selector`).
//! - [`session`] sends the run's requests through the **same egress rules as plugins**
//!   ([`crate::plugins::egress`]): only the task's declared hosts, no private or loopback
//!   addresses unless an Administrator allowed them, link-local and metadata addresses never,
//!   names resolved by the guarded resolver (no DNS rebinding), no redirect to another origin
//!   (same-origin redirects are followed here, a bounded number of times), bounded response
//!   size, request count and time. Cookies live in memory for one run.
//! - [`html`] reads pages with `scraper`: extraction and form filling.
//! - [`runner`] is the job handler (kind [`RUN`]): it records per-step results on the run and
//!   stores the extracted data as a JSON document in the project.

/// HTML reading: CSS extraction and form filling.
pub mod html;
/// The job handler that executes runs.
pub mod runner;
/// One run's HTTP session: egress checks, redirects, cookies, caps.
pub mod session;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use runner::WebTaskHandler;

/// The job kind of task runs.
pub const RUN: &str = "web_task.run";
/// Most steps in a task.
pub const MAX_STEPS: usize = 50;
/// Longest `wait`, in milliseconds.
pub const MAX_WAIT_MS: u64 = 10_000;
/// Most values one `extract` keeps.
pub const MAX_EXTRACT_LIMIT: u32 = 500;
/// Values one `extract` keeps when it names no `limit`.
pub const DEFAULT_EXTRACT_LIMIT: u32 = 100;
/// Longest extracted value kept, in characters (longer ones are cut).
pub const MAX_VALUE_CHARS: usize = 2_000;
/// Most declared host patterns.
pub const MAX_HOSTS: usize = 32;

/// Caps on one run's traffic.
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// Requests one run may send (redirects count).
    pub max_requests: u32,
    /// Largest response body, in bytes; a bigger page fails its step.
    pub max_response_bytes: usize,
    /// Budget of one request, from sending to the end of its body.
    pub request_timeout: Duration,
    /// Same-origin redirects followed per request.
    pub max_redirects: u32,
}

impl Default for WebLimits {
    fn default() -> Self {
        Self {
            max_requests: 100,
            max_response_bytes: 5 << 20,
            request_timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// The method of a `fetch` step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum FetchMethod {
    /// GET (default).
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// POST with an empty body.
    #[serde(rename = "POST")]
    Post,
}

/// One step of a task. URLs may be relative: they resolve against the current page, or the
/// task's `target_url` before the first page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// GET a page and make it the current page (same-origin redirects followed).
    Navigate {
        /// Absolute or relative URL.
        url: String,
    },
    /// Request a URL with GET or POST (empty body); the response becomes the current page.
    Fetch {
        /// Absolute or relative URL.
        url: String,
        /// `GET` (default) or `POST`.
        #[serde(default)]
        method: FetchMethod,
    },
    /// Select elements of the current page by CSS selector and keep their text (or an
    /// attribute) under `name` in the run's data.
    Extract {
        /// A CSS selector (`table.results td.price`).
        selector: String,
        /// An attribute to read instead of the text (`href`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attribute: Option<String>,
        /// The key of the values in the run's data.
        name: String,
        /// Most values kept, 1–500 (default 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Fill the `<form>` the selector finds on the current page (its own fields, hidden ones
    /// such as CSRF tokens included, overridden by `fields`) and send it as the form's `method`
    /// and `action` say, URL-encoded; the response becomes the current page.
    SubmitForm {
        /// A CSS selector matching the form.
        selector: String,
        /// Field values to set, by field name.
        #[serde(default)]
        fields: BTreeMap<String, String>,
    },
    /// Pause, up to 10 000 ms.
    Wait {
        /// Milliseconds, at most 10 000.
        #[schema(maximum = 10000)]
        millis: u64,
    },
}

impl Step {
    /// The step's type, as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Navigate { .. } => "navigate",
            Step::Fetch { .. } => "fetch",
            Step::Extract { .. } => "extract",
            Step::SubmitForm { .. } => "submit_form",
            Step::Wait { .. } => "wait",
        }
    }
}

/// A task's network-relevant fields, to check together.
#[derive(Debug)]
pub struct TaskShape<'a> {
    /// The target URL.
    pub target_url: &'a str,
    /// Declared host patterns.
    pub allowed_hosts: &'a [String],
    /// The steps.
    pub steps: &'a [Step],
}

/// Every problem of a task's target, hosts and steps, as `(field, message)`.
pub fn check_task(task: &TaskShape<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |field: String, message: &str| out.push((field, message.to_owned()));
    if task.allowed_hosts.is_empty() || task.allowed_hosts.len() > MAX_HOSTS {
        push(
            "allowed_hosts".into(),
            &format!("must list 1 to {MAX_HOSTS} host patterns"),
        );
    }
    for (i, host) in task.allowed_hosts.iter().enumerate() {
        if !crate::plugins::package::valid_host_pattern(host) {
            push(
                format!("allowed_hosts[{i}]"),
                "must be a host name, an IP address, `*.example.com` or `*`",
            );
        }
    }
    if let Err(why) = url_problem(task.target_url, None, task.allowed_hosts) {
        push("target_url".into(), &why);
    }
    // Relative step URLs resolve against the target even when the target itself is refused
    // (say, for its host), so every step's problem is reported at once.
    let target = url::Url::parse(task.target_url)
        .ok()
        .filter(|u| u.host_str().is_some());
    if task.steps.is_empty() || task.steps.len() > MAX_STEPS {
        push("steps".into(), &format!("must hold 1 to {MAX_STEPS} steps"));
    }
    let mut has_page = false;
    let mut names = std::collections::HashSet::new();
    for (i, step) in task.steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        match step {
            Step::Navigate { url } | Step::Fetch { url, .. } => {
                if let Some(target) = &target {
                    if let Err(why) = url_problem(url, Some(target), task.allowed_hosts) {
                        push(at("url"), &why);
                    }
                }
                has_page = true;
            }
            Step::Extract {
                selector,
                attribute,
                name,
                limit,
            } => {
                if let Err(why) = selector_problem(selector) {
                    push(at("selector"), &why);
                }
                if let Some(attribute) = attribute {
                    let ok = (1..=100).contains(&attribute.len())
                        && !attribute
                            .chars()
                            .any(|c| c.is_whitespace() || c.is_control());
                    if !ok {
                        push(
                            at("attribute"),
                            "must be an attribute name of 1 to 100 characters",
                        );
                    }
                }
                let name_ok =
                    (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control);
                if !name_ok {
                    push(
                        at("name"),
                        "must be 1 to 64 characters without control characters",
                    );
                } else if !names.insert(name.clone()) {
                    push(at("name"), "is already used by an earlier extract step");
                }
                if limit.is_some_and(|l| l == 0 || l > MAX_EXTRACT_LIMIT) {
                    push(
                        at("limit"),
                        &format!("must be between 1 and {MAX_EXTRACT_LIMIT}"),
                    );
                }
                if !has_page {
                    push(
                        at("type"),
                        "needs a page: put a navigate or fetch step before it",
                    );
                }
            }
            Step::SubmitForm { selector, fields } => {
                if let Err(why) = selector_problem(selector) {
                    push(at("selector"), &why);
                }
                if fields.len() > 100 {
                    push(at("fields"), "must hold at most 100 fields");
                }
                for (name, value) in fields {
                    if name.is_empty() || name.chars().count() > 200 {
                        push(at("fields"), "field names must be 1 to 200 characters");
                    }
                    if value.chars().count() > 10_000 {
                        push(
                            format!("steps[{i}].fields.{name}"),
                            "must be at most 10000 characters",
                        );
                    }
                }
                if !has_page {
                    push(
                        at("type"),
                        "needs a page: put a navigate or fetch step before it",
                    );
                }
            }
            Step::Wait { millis } => {
                if *millis > MAX_WAIT_MS {
                    push(at("millis"), &format!("must be at most {MAX_WAIT_MS}"));
                }
            }
        }
    }
    out
}

/// A URL a step may request: absolute, or relative to `base`; http(s); no credentials; on a
/// declared host.
fn url_problem(
    raw: &str,
    base: Option<&url::Url>,
    allowed_hosts: &[String],
) -> Result<url::Url, String> {
    if raw.is_empty() || raw.len() > 2000 || raw.chars().any(char::is_control) {
        return Err("must be a URL of 1 to 2000 characters".into());
    }
    let url = match base {
        Some(base) => base.join(raw),
        None => url::Url::parse(raw),
    }
    .map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be http or https".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("may not carry credentials".into());
    }
    let Some(host) = url.host_str() else {
        return Err("has no host".into());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !allowed_hosts
        .iter()
        .any(|p| crate::plugins::egress::host_matches(p, host))
    {
        return Err(format!("host {host} is not among the task's allowed_hosts"));
    }
    Ok(url)
}

fn selector_problem(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() || selector.chars().count() > 500 {
        return Err("must be a CSS selector of 1 to 500 characters".into());
    }
    scraper::Selector::parse(selector)
        .map(|_| ())
        .map_err(|e| format!("is not a CSS selector: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_checked_with_their_paths() {
        let steps: Vec<Step> = serde_json::from_value(serde_json::json!([
            {"type": "extract", "selector": "p", "name": "early"},
            {"type": "navigate", "url": "https://evil.com/"},
            {"type": "extract", "selector": "p[", "name": "x", "limit": 0},
            {"type": "wait", "millis": 20000},
            {"type": "fetch", "url": "/ok", "method": "POST"},
        ]))
        .expect("steps");
        let hosts = vec!["*.example.com".to_owned()];
        let problems = check_task(&TaskShape {
            target_url: "https://www.example.com/start",
            allowed_hosts: &hosts,
            steps: &steps,
        });
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "steps[0].type",
                "steps[1].url",
                "steps[2].selector",
                "steps[2].limit",
                "steps[3].millis"
            ]
        );
        let bad: Result<Step, _> =
            serde_json::from_value(serde_json::json!({"type": "click", "selector": "a"}));
        assert!(bad.is_err());
        let unknown: Result<Step, _> =
            serde_json::from_value(serde_json::json!({"type": "wait", "millis": 1, "x": 1}));
        assert!(unknown.is_err(), "unknown fields are refused");
    }
}
