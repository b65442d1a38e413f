//! The actions of a `github` connection (`invoke`): `comment` on an issue or pull request, and
//! `create-issue`. Their input and output schemas are in `plugin.toml`; bodies are Markdown,
//! which GitHub renders itself, so they are sent as given.
//!
//! Outputs name what the streams will read back: a comment's `id` is the comment record's
//! external id (`issuecomment-<id>`), an issue's `key` the work item's (`owner/repo#<number>`).
//!
//! Failures: `422` (GitHub's validation) and a reference to another repository are
//! `invalid-input` with what GitHub said; `404` on a comment names the issue (GitHub answers 404
//! for a missing issue and for a repository the token may not see); `410` means the
//! repository's issues are turned off; rate limits, `401`/`403` and `5xx` as for the streams.

use agentic_sdk::http::{endpoint, Request, Response};
use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::Error;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{error_for_status, repo_path, with_github_headers};
use crate::config::Config;

/// Performs `action`.
pub fn invoke(config: &Config, action: &str, input: Value) -> Result<Value, Error> {
    match action {
        "comment" => comment(config, parse(action, input)?),
        "create-issue" => create_issue(config, parse(action, input)?),
        other => Err(Error::NotFound(format!(
            "no action `{other}` (actions: comment, create-issue)"
        ))),
    }
}

fn parse<T: DeserializeOwned>(action: &str, input: Value) -> Result<T, Error> {
    serde_json::from_value(input)
        .map_err(|e| Error::InvalidInput(format!("input of `{action}`: {e}")))
}

/// An issue or pull request as the input names it: its number, or its key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IssueRef {
    /// `12`.
    Number(u64),
    /// `"12"`, `"#12"` or `"owner/repo#12"` (the work item's key).
    Text(String),
}

impl IssueRef {
    /// The number, checked to be in `repository` (GitHub's names are case-insensitive).
    pub fn number(&self, repository: &str) -> Result<u64, Error> {
        let text = match self {
            IssueRef::Number(n) => return positive(*n, &n.to_string()),
            IssueRef::Text(text) => text.trim(),
        };
        let (repo, number) = match text.rsplit_once('#') {
            Some((repo, number)) => (repo, number),
            None => ("", text),
        };
        if !repo.is_empty() && !repo.eq_ignore_ascii_case(repository) {
            return Err(Error::InvalidInput(format!(
                "issue: {text:?} is in another repository; this connection writes to \
                 {repository} (give {repository}#<number> or the number)"
            )));
        }
        let n = number.parse::<u64>().map_err(|_| {
            Error::InvalidInput(format!(
                "issue: {text:?} is not a number, #number or {repository}#number"
            ))
        })?;
        positive(n, text)
    }
}

fn positive(n: u64, text: &str) -> Result<u64, Error> {
    if n == 0 {
        Err(Error::InvalidInput(format!(
            "issue: {text:?}: issue numbers start at 1"
        )))
    } else {
        Ok(n)
    }
}

fn require(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::InvalidInput(format!("{field}: must not be empty")))
    } else {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    issue: IssueRef,
    body: String,
}

/// What GitHub answers to a created comment or issue (the fields read).
#[derive(Deserialize)]
struct Created {
    id: u64,
    #[serde(default)]
    number: Option<u64>,
    html_url: String,
}

fn comment(config: &Config, input: Comment) -> Result<Value, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    let number = input.issue.number(&repository)?;
    require("body", &input.body)?;
    let url = endpoint(&format!(
        "{}/issues/{number}/comments",
        super::repo_path(config)?
    ))?;
    let response = post(config, &url, &json!({"body": input.body}), Some(number))?;
    let created: Created = response.json()?;
    Ok(json!({
        "id": format!("issuecomment-{}", created.id),
        "issue": format!("{repository}#{number}"),
        "url": created.html_url,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIssue {
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    assignees: Vec<String>,
}

fn create_issue(config: &Config, input: CreateIssue) -> Result<Value, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    require("title", &input.title)?;
    for label in &input.labels {
        require("labels[]", label)?;
    }
    for login in &input.assignees {
        require("assignees[]", login)?;
    }
    let mut body = json!({"title": input.title});
    if let Some(text) = input.body.filter(|b| !b.is_empty()) {
        body["body"] = json!(text);
    }
    if !input.labels.is_empty() {
        body["labels"] = json!(input.labels);
    }
    if !input.assignees.is_empty() {
        body["assignees"] = json!(input.assignees);
    }
    let url = endpoint(&format!("{}/issues", repo_path(config)?))?;
    let created: Created = post(config, &url, &body, None)?.json()?;
    let number = created
        .number
        .ok_or_else(|| Error::Internal(format!("POST {url}: the created issue has no `number`")))?;
    Ok(json!({
        "key": format!("{repository}#{number}"),
        "number": number,
        "id": created.id,
        "url": created.html_url,
    }))
}

/// `POST url` with `body`; GitHub's refusals of a write as the contract's errors. `issue`: the
/// issue the write is on, for a `404`'s message.
fn post(config: &Config, url: &str, body: &Value, issue: Option<u64>) -> Result<Response, Error> {
    let response = with_github_headers(Request::post(url)).json(body)?.send()?;
    let repository = config.repository.as_deref().unwrap_or_default();
    let what = || format!("{} {}: {}", response.method, response.url, response.status);
    match (response.status, issue) {
        (422, _) => Err(Error::InvalidInput(format!(
            "GitHub refused the input: {} ({})",
            validation_detail(&response),
            what()
        ))),
        (404, Some(number)) => Err(Error::NotFound(format!(
            "GitHub has no issue or pull request #{number} in {repository} (or the credential \
             may not see it) ({})",
            what()
        ))),
        (410, _) => Err(Error::Config(format!(
            "issues are turned off in GitHub repository {repository} ({})",
            what()
        ))),
        _ => error_for_status(config, response),
    }
}

/// GitHub's `message` and each `errors[]` entry (`field code`, or its `message`).
fn validation_detail(response: &Response) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        return response.text().chars().take(200).collect();
    };
    let mut parts = vec![body["message"].as_str().unwrap_or("no message").to_owned()];
    for e in body["errors"].as_array().into_iter().flatten().take(10) {
        let part = match e {
            Value::String(s) => s.clone(),
            e => match e["message"].as_str() {
                Some(m) => m.to_owned(),
                None => format!(
                    "{} {} {}",
                    e["resource"].as_str().unwrap_or_default(),
                    e["field"].as_str().unwrap_or_default(),
                    e["code"].as_str().unwrap_or_default()
                ),
            },
        };
        parts.push(part.chars().take(200).collect());
    }
    parts.join("; ")
}
