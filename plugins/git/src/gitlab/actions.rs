//! The actions of a `gitlab` connection: `comment` (a note on an issue or merge request) and
//! `create-issue`, with the input schemas the GitHub source shares (`plugin.toml`).
//!
//! `comment` reads the item first (`GET …/issues/:iid` or `…/merge_requests/:iid`): a missing
//! one is `not-found` before anything is written, and the answer gives the key and web page the
//! output names. `create-issue` resolves assignees' usernames to the user ids GitLab takes
//! (`GET /users?username=`). GitLab's refusals of a write (`400`, `422`) are `invalid-input`
//! with GitLab's message.

use agentic_sdk::http::{encode, endpoint, Request, Response};
use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::Error;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::model::{Item, Kind};
use super::{error_for_status, get, json, project_path, with_headers};
use crate::config::Config;
use crate::github::actions::IssueRef;

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

fn require(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::InvalidInput(format!("{field}: must not be empty")))
    } else {
        Ok(())
    }
}

/// The item a reference names: `group/project#12` or `#12` or `12` (an issue),
/// `group/project!7` or `!7` (a merge request); and the project part, when given.
fn target(reference: &IssueRef) -> Result<(Kind, u64, Option<String>), Error> {
    let text = match reference {
        IssueRef::Number(n) if *n > 0 => return Ok((Kind::Issue, *n, None)),
        IssueRef::Number(n) => n.to_string(),
        IssueRef::Text(t) => t.trim().to_owned(),
    };
    let bad = || {
        Error::InvalidInput(format!(
            "issue: {text:?} is not an issue (group/project#12, #12, 12) or a merge request \
             (group/project!7, !7)"
        ))
    };
    let (project, kind, number) = match text.rfind(['#', '!']) {
        Some(at) => {
            let kind = if text[at..].starts_with('!') {
                Kind::MergeRequest
            } else {
                Kind::Issue
            };
            (&text[..at], kind, &text[at + 1..])
        }
        None => ("", Kind::Issue, text.as_str()),
    };
    let number = number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    let project = (!project.is_empty()).then(|| project.to_owned());
    Ok((kind, number, project))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    issue: IssueRef,
    body: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

fn comment(config: &Config, input: Comment) -> Result<Value, Error> {
    let configured = config.gitlab_project()?;
    let (kind, iid, given) = target(&input.issue)?;
    require("body", &input.body)?;
    let other_project = |project: &str| {
        Error::InvalidInput(format!(
            "issue: {project} is another project; this connection writes to {configured}"
        ))
    };
    let numeric = configured.bytes().all(|b| b.is_ascii_digit());
    if let Some(project) = given.as_deref().filter(|_| !numeric) {
        if !project.eq_ignore_ascii_case(configured) {
            return Err(other_project(project));
        }
    }
    let path = format!("{}/{}/{iid}", project_path(config)?, kind.collection());
    let response = with_headers(Request::get(endpoint(&path)?)).send()?;
    if response.status == 404 {
        return Err(not_found(configured, kind, iid, &response));
    }
    let item: Item = json(&error_for_status(config, response)?)?;
    let key = item.key(configured, kind.sigil());
    if let Some(project) = given {
        let (item_project, _) = key.rsplit_once(kind.sigil()).unwrap_or_default();
        if !project.eq_ignore_ascii_case(item_project) {
            return Err(other_project(&project));
        }
    }
    let url = endpoint(&format!("{path}/notes"))?;
    let created: Created = post(config, &url, &json!({"body": input.body}))?.json()?;
    Ok(json!({
        "id": format!("note_{}", created.id),
        "issue": key,
        "url": format!("{}#note_{}", item.web_url, created.id),
    }))
}

fn not_found(project: &str, kind: Kind, iid: u64, response: &Response) -> Error {
    let what = match kind {
        Kind::Issue => "issue",
        Kind::MergeRequest => "merge request",
    };
    Error::NotFound(format!(
        "GitLab has no {what} {}{iid} in {project} (or the credential may not see it) ({} {}: \
         404)",
        kind.sigil(),
        response.method,
        response.url
    ))
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
    let project = config.gitlab_project()?;
    require("title", &input.title)?;
    for label in &input.labels {
        require("labels[]", label)?;
        if label.contains(',') {
            return Err(Error::InvalidInput(format!(
                "labels: {label:?}: GitLab takes labels as a comma-separated list, so a label \
                 name cannot hold a comma"
            )));
        }
    }
    for username in &input.assignees {
        require("assignees[]", username)?;
    }
    let mut body = json!({"title": input.title});
    if let Some(text) = input.body.filter(|b| !b.is_empty()) {
        body["description"] = json!(text);
    }
    if !input.labels.is_empty() {
        body["labels"] = json!(input.labels.join(","));
    }
    if !input.assignees.is_empty() {
        let ids = input
            .assignees
            .iter()
            .map(|u| user_id(config, u))
            .collect::<Result<Vec<u64>, Error>>()?;
        body["assignee_ids"] = json!(ids);
    }
    let url = endpoint(&format!("{}/issues", project_path(config)?))?;
    let item: Item = json(&post(config, &url, &body)?)?;
    Ok(json!({
        "key": item.key(project, '#'),
        "number": item.iid,
        "id": item.id,
        "url": item.web_url,
    }))
}

/// The id of the user `username` (`GET /users?username=`, which answers a list).
fn user_id(config: &Config, username: &str) -> Result<u64, Error> {
    #[derive(Deserialize)]
    struct UserId {
        id: u64,
    }
    let url = format!("{}?username={}", endpoint("users")?, encode(username));
    let users: Vec<UserId> = json(&get(config, &url)?)?;
    users
        .first()
        .map(|u| u.id)
        .ok_or_else(|| Error::InvalidInput(format!("assignees: GitLab has no user {username:?}")))
}

/// `POST url` with `body`; GitLab's refusals of a write as the contract's errors.
fn post(config: &Config, url: &str, body: &Value) -> Result<Response, Error> {
    let response = with_headers(Request::post(url)).json(body)?.send()?;
    if matches!(response.status, 400 | 422) {
        let said = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| {
                let m = v.get("message").or_else(|| v.get("error"))?;
                Some(match m {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
            .unwrap_or_else(|| response.text().chars().take(200).collect());
        return Err(Error::InvalidInput(format!(
            "GitLab refused the input: {} ({} {}: {})",
            said.chars().take(500).collect::<String>(),
            response.method,
            response.url,
            response.status
        )));
    }
    error_for_status(config, response)
}
