//! `source = "gitlab"`: a project's issues, merge requests and their notes over GitLab's REST
//! API v4 (gitlab.com, or a self-managed instance, whose base URL may carry a path prefix:
//! `https://git.acme.example/gitlab/api/v4/`), the connection's base URL. Requests go through
//! the SDK's HTTP client, so the host's egress adds the token (`bearer`: GitLab takes personal,
//! project and group access tokens and OAuth tokens as `Authorization: Bearer`).
//!
//! | stream | reads | paging and state |
//! |---|---|---|
//! | `issues` | `GET /projects/:id/issues` | oldest first by `updated_at`, keyset where GitLab offers it ([`list`]) |
//! | `merge-requests` | `GET /projects/:id/merge_requests`, and each one's `…/approvals` | oldest first, page numbers |
//! | `comments` | the notes of each issue, then merge request, the lists name as changed | as the lists, then each item's notes |
//! | `people` | authors and assignees of issues, then merge requests, and their note authors | as `comments` |
//! | `trace-links` | titles and descriptions of issues, then merge requests | as the lists |
//!
//! Errors: `401` and `403` are `auth`; `404` names the project (GitLab answers 404 for a
//! project the token may not see); `429` waits for `Retry-After` or `RateLimit-Reset`; `5xx` is
//! `transient`; an HTML page where JSON belongs (a login page, a base URL without `/api/v4/`) is
//! a `config` error saying so.

pub mod actions;
pub mod list;
pub mod model;

use agentic_sdk::http::{encode, endpoint, Request, Response};
use agentic_sdk::{Error, Page, RecordKind, StreamSpec};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::config::Config;

/// The streams of a `gitlab` connection.
pub fn specs() -> Vec<StreamSpec> {
    vec![
        StreamSpec::new("issues", RecordKind::WorkItem)
            .with_description(
                "Issues as work items keyed by GitLab's reference (group/project#iid): title, \
                 description (Markdown), open/closed, labels, assignees, milestone, author, \
                 times, web link. Incremental on updated_at (updated_after), keyset pages.",
            )
            .incremental(),
        StreamSpec::new("merge-requests", RecordKind::WorkItem)
            .with_description(
                "Merge requests as work items of type merge-request keyed group/project!iid \
                 (status open, closed, merged or locked), with branches, merge commit, draft \
                 and the approvers (approved_by) in attributes; incremental on updated_at.",
            )
            .incremental(),
        StreamSpec::new("comments", RecordKind::Comment)
            .with_description(
                "Notes of the issues and merge requests changed since the last run, on their \
                 item; GitLab's system notes are skipped; incremental.",
            )
            .incremental(),
        StreamSpec::new("people", RecordKind::Person)
            .with_description(
                "Authors and assignees of the issues and merge requests and the authors of their \
                 notes, by username with their name; incremental.",
            )
            .incremental(),
        StreamSpec::new("trace-links", RecordKind::TraceLink)
            .with_description(
                "A link from each issue and merge request to each work item key its title or \
                 description names (work_item_patterns); incremental.",
            )
            .incremental(),
    ]
}

/// The project as `projects/{id}` with the path URL-encoded (`group%2Fsub%2Fname`), as GitLab
/// wants a namespaced path in one segment.
fn project_path(config: &Config) -> Result<String, Error> {
    Ok(format!("projects/{}", encode(config.gitlab_project()?)))
}

/// `request` with the headers every GitLab request carries.
fn with_headers(request: Request) -> Request {
    request.header("accept", "application/json").header(
        "user-agent",
        concat!("agentic-git-connector/", env!("CARGO_PKG_VERSION")),
    )
}

/// `GET url`, whatever the status.
fn send(url: &str) -> Result<Response, Error> {
    with_headers(Request::get(url)).send()
}

/// `GET url` with GitLab's error mapping.
fn get(config: &Config, url: &str) -> Result<Response, Error> {
    error_for_status(config, send(url)?)
}

/// GitLab's statuses as the contract's errors: the SDK's mapping (`429` with `Retry-After` or
/// `RateLimit-Reset`), with the project named on `404`.
fn error_for_status(config: &Config, response: Response) -> Result<Response, Error> {
    if response.status == 404 {
        return Err(Error::Config(format!(
            "GitLab has no project {} under {} (or the credential may not read it: GitLab \
             answers 404 for a private project); check `project`, the base URL (…/api/v4/) and \
             the token's scopes ({} {}: 404)",
            config.project.as_deref().unwrap_or_default(),
            agentic_sdk::host::base_url().unwrap_or_default(),
            response.method,
            response.url
        )));
    }
    response.error_for_status()
}

/// The body as `T`; an HTML page where GitLab's JSON belongs is a configuration error.
fn json<T: DeserializeOwned>(response: &Response) -> Result<T, Error> {
    let html = response
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
    if html {
        return Err(Error::Config(format!(
            "{} {}: an HTML page, not GitLab's API (a sign-in page, or a base URL without \
             /api/v4/?)",
            response.method, response.url
        )));
    }
    response.json()
}

/// `check`: the project is there and readable.
pub fn check(config: &Config) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Project {
        path_with_namespace: String,
        #[serde(default)]
        visibility: Option<String>,
        #[serde(default)]
        open_issues_count: Option<u64>,
        #[serde(default)]
        issues_enabled: Option<bool>,
    }
    let url = endpoint(&project_path(config)?)?;
    let project: Project = json(&get(config, &url)?)?;
    let issues = match (project.issues_enabled, project.open_issues_count) {
        (Some(false), _) => "issues are turned off".to_owned(),
        (_, count) => format!("{} open issues", count.unwrap_or_default()),
    };
    Ok(format!(
        "connected to GitLab project {} ({}): {issues}",
        project.path_with_namespace,
        project
            .visibility
            .as_deref()
            .unwrap_or("visibility unknown")
    ))
}

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    match stream {
        "issues" => list::items(config, model::Kind::Issue, state),
        "merge-requests" => list::items(config, model::Kind::MergeRequest, state),
        "people" => list::people(config, state),
        "trace-links" => list::trace_links(config, state),
        "comments" => list::notes(config, state),
        other => Err(Error::NotFound(format!(
            "no stream `{other}` with source = \"gitlab\""
        ))),
    }
}
