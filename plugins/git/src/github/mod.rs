//! `source = "github"`: a repository's issues, pull requests, comments and reviews over
//! GitHub's REST API (api.github.com, or GitHub Enterprise Server at `https://host/api/v3/`),
//! the connection's base URL. Requests go through the SDK's HTTP client, so the host's egress adds
//! the token (or none, for a public repository).
//!
//! | stream | reads | paging and state |
//! |---|---|---|
//! | `issues` | `GET /repos/{owner}/{repo}/issues` (pull requests dropped) | oldest first with `since` ([`state::Ascending`]) |
//! | `pull-requests` | `GET /repos/{owner}/{repo}/pulls` | newest first down to the last run ([`state::Descending`]) |
//! | `comments` | `…/issues/comments`, then `…/pulls/comments` | oldest first with `since`, each |
//! | `reviews` | `…/pulls/{number}/reviews` of the pull requests the pulls list names as changed | as `pull-requests`, then each one's reviews ([`reviews`]) |
//! | `people` | authors and assignees (the issues list), commenters (both comment lists), reviewers (as `reviews`) | as each, one after the other |
//! | `trace-links` | the issues list (titles and bodies) | as `issues` |
//!
//! Errors: `304` is "nothing changed"; a primary rate limit (`403`/`429` with
//! `x-ratelimit-remaining: 0`) waits until `x-ratelimit-reset`, a secondary one (`403`/`429`
//! with `retry-after`, or GitHub's "secondary rate limit" message) for `retry-after` or a
//! minute; `401` is `auth`; `404` names the repository (GitHub answers 404 for a private
//! repository the token may not read); `5xx` is `transient`.

pub mod actions;
pub mod model;
pub mod reviews;
pub mod state;

use agentic_sdk::http::{endpoint, retry_after_secs, Request, Response};
use agentic_sdk::{Error, Page, RecordData, RecordKind, StreamSpec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use agentic_sdk::paging::resume;
use model::{seen, Issue, IssueComment, Pull, ReviewComment};
use state::{Ascending, Descending, Etag, Seen, Take};

/// GitHub's REST API version the requests ask for (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";
/// Logins a `people` run remembers to return each person once; beyond, some come twice
/// (harmless: the host stores a person once).
const MAX_REMEMBERED_PEOPLE: usize = 2000;

/// The streams of a `github` connection.
pub fn specs() -> Vec<StreamSpec> {
    vec![
        StreamSpec::new("issues", RecordKind::WorkItem)
            .with_description(
                "Issues (not pull requests) as work items keyed owner/repo#number: title, body \
                 (Markdown), open/closed, labels, assignees, milestone, author, times, web link. \
                 Incremental on updated_at (since), conditional on the ETag.",
            )
            .incremental(),
        StreamSpec::new("pull-requests", RecordKind::WorkItem)
            .with_description(
                "Pull requests as work items of type pull-request (status open, closed or \
                 merged), with head and base refs, merged and draft in attributes; incremental \
                 (newest first down to the last run).",
            )
            .incremental(),
        StreamSpec::new("comments", RecordKind::Comment)
            .with_description(
                "Conversation comments of issues and pull requests, and review comments on pull \
                 request diffs, each on its item (owner/repo#number); incremental.",
            )
            .incremental(),
        StreamSpec::new("reviews", RecordKind::Raw)
            .with_description(
                "Reviews of pull requests (approved, changes requested, commented, dismissed) as \
                 raw records keyed pullrequestreview-<id>: the pull request's key, state, \
                 reviewer, body, submitted_at, commit_id; incremental (the reviews of the pull \
                 requests changed since the last run).",
            )
            .incremental(),
        StreamSpec::new("people", RecordKind::Person)
            .with_description(
                "Authors and assignees of the issues and pull requests, the authors of their \
                 comments and review comments, and the reviewers, by login; incremental.",
            )
            .incremental(),
        StreamSpec::new("trace-links", RecordKind::TraceLink)
            .with_description(
                "A link from each issue and pull request to each work item key its title or \
                 body names (work_item_patterns); incremental.",
            )
            .incremental(),
    ]
}

/// The repository's path under the API: `repos/{owner}/{name}`.
fn repo_path(config: &Config) -> Result<String, Error> {
    let (owner, name) = config.owner_and_name()?;
    Ok(format!("repos/{owner}/{name}"))
}

/// `request` with the headers GitHub asks every client to send.
fn with_github_headers(request: Request) -> Request {
    request
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", API_VERSION)
        .header(
            "user-agent",
            concat!("agentic-git-connector/", env!("CARGO_PKG_VERSION")),
        )
}

/// `GET url`, conditionally when `etag` is given. `Ok(None)`: `304 Not Modified`.
fn get(config: &Config, url: &str, etag: Option<&str>) -> Result<Option<Response>, Error> {
    let mut request = with_github_headers(Request::get(url));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send()?;
    if response.status == 304 {
        return Ok(None);
    }
    error_for_status(config, response).map(Some)
}

/// GitHub's statuses as the contract's errors (the SDK's mapping, plus secondary rate limits,
/// which come as `403` with `retry-after` or only a message, and the repository's `404`).
fn error_for_status(config: &Config, response: Response) -> Result<Response, Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let now = std::time::SystemTime::now();
    let secondary = response.header("retry-after").is_some()
        || response.text().contains("secondary rate limit");
    if matches!(status, 403 | 429) && secondary {
        let detail = response.text().chars().take(200).collect::<String>();
        return Err(Error::RateLimited {
            retry_after_secs: retry_after_secs(&response, now)
                .unwrap_or(agentic_sdk::http::DEFAULT_RETRY_AFTER_SECS),
            message: format!(
                "GitHub's secondary rate limit ({} {}: {status}): {detail}",
                response.method, response.url
            ),
        });
    }
    if status == 404 {
        return Err(Error::Config(format!(
            "GitHub has no repository {} under {} (or the credential may not read it: GitHub \
             answers 404 for a private repository); check `repository` and the token's access \
             ({} {}: 404)",
            config.repository.as_deref().unwrap_or_default(),
            agentic_sdk::host::base_url().unwrap_or_default(),
            response.method,
            response.url
        )));
    }
    response.error_for_status()
}

/// The answer's ETag, remembered for `url`.
fn etag_of(url: &str, response: &Response) -> Option<Etag> {
    response.header("etag").map(|value| Etag {
        url: url.to_owned(),
        value: value.to_owned(),
    })
}

fn json<T: DeserializeOwned>(response: &Response) -> Result<T, Error> {
    response.json()
}

/// `check`: the repository is there and readable.
pub fn check(config: &Config) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Repository {
        full_name: String,
        #[serde(default)]
        private: bool,
        #[serde(default)]
        has_issues: Option<bool>,
        #[serde(default)]
        open_issues_count: Option<u64>,
    }
    let url = endpoint(&repo_path(config)?)?;
    let response = get(config, &url, None)?
        .ok_or_else(|| Error::Internal(format!("GET {url}: 304 to an unconditional request")))?;
    let repo: Repository = json(&response)?;
    let visibility = if repo.private { "private" } else { "public" };
    let issues = if repo.has_issues == Some(false) {
        "issues are turned off".to_owned()
    } else {
        format!(
            "{} open issues and pull requests",
            repo.open_issues_count.unwrap_or_default()
        )
    };
    Ok(format!(
        "connected to GitHub repository {} ({visibility}): {issues}",
        repo.full_name
    ))
}

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    match stream {
        "issues" => {
            let (items, page) = ascending_issues(config, state)?;
            let records = items
                .iter()
                .filter(|i| i.pull_request.is_none())
                .map(|i| model::issue(&repository, i))
                .collect();
            Ok(page.with(records))
        }
        "trace-links" => {
            let patterns = config.patterns()?;
            let (items, page) = ascending_issues(config, state)?;
            let records = items
                .iter()
                .flat_map(|i| model::trace_links(&repository, i, &patterns))
                .collect();
            Ok(page.with(records))
        }
        "people" => people(config, state),
        "pull-requests" => pulls(config, state),
        "comments" => comments(config, state),
        "reviews" => reviews::read(config, state),
        other => Err(Error::NotFound(format!(
            "no stream `{other}` with source = \"github\""
        ))),
    }
}

/// A page's state and whether more follow, waiting for its records.
struct Pending {
    state: String,
    has_more: bool,
}

impl Pending {
    fn new<S: Serialize>(state: &S, has_more: bool) -> Result<Self, Error> {
        Ok(Self {
            state: serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?,
            has_more,
        })
    }

    fn with(self, records: Vec<RecordData>) -> Page {
        Page {
            records,
            state: self.state,
            has_more: self.has_more,
            deleted: Vec::new(),
        }
    }
}

/// One page of an oldest-first `since` listing at `path`, with `extra` query parameters: the
/// new items and the next state (`None` items: `304`, nothing changed).
fn ascending<T: DeserializeOwned>(
    config: &Config,
    path: &str,
    extra: &[(&str, &str)],
    at: &Ascending,
    key: impl Fn(&T) -> Seen,
) -> Result<(Vec<T>, Ascending, bool), Error> {
    let mut request = Request::get(endpoint(&format!("{}/{path}", repo_path(config)?))?);
    for (name, value) in extra {
        request = request.query(name, value);
    }
    request = request
        .query("sort", "updated")
        .query("direction", "asc")
        .query("per_page", config.per_page.to_string());
    if let Some(since) = &at.since {
        request = request.query("since", since);
    }
    if at.page > 1 {
        request = request.query("page", at.page.to_string());
    }
    let url = request.url;
    let Some(response) = get(config, &url, at.if_none_match(&url))? else {
        return Ok((Vec::new(), at.clone(), false));
    };
    let items: Vec<T> = json(&response)?;
    let seen: Vec<Seen> = items.iter().map(&key).collect();
    let (next, more) = at.after(
        &seen,
        response.next_link().is_some(),
        etag_of(&url, &response),
    );
    let fresh = items
        .into_iter()
        .zip(&seen)
        .filter(|(_, s)| !at.already_read(s))
        .map(|(item, _)| item)
        .collect();
    Ok((fresh, next, more))
}

/// A page of the issues list (issues and pull requests), for `issues` and `trace-links`.
fn ascending_issues(config: &Config, state: Option<&str>) -> Result<(Vec<Issue>, Pending), Error> {
    let at: Ascending = resume(state)?;
    let (items, next, more) =
        ascending::<Issue>(config, "issues", &[("state", "all")], &at, |i| {
            seen(&i.updated_at, i.id)
        })?;
    Ok((items, Pending::new(&next, more)?))
}

/// Which listing the `people` stream is reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PeoplePhase {
    /// The issues list: authors and assignees of issues and pull requests.
    #[default]
    Issues,
    /// `…/issues/comments`: their authors.
    Conversation,
    /// `…/pulls/comments`: their authors.
    ReviewComments,
    /// The reviews of changed pull requests: the reviewers.
    Reviews,
}

/// The `people` state: each listing's, which one is read, and the logins this run returned.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleState {
    #[serde(default)]
    phase: PeoplePhase,
    #[serde(default)]
    issues: Ascending,
    #[serde(default)]
    conversation: Ascending,
    #[serde(default)]
    review_comments: Ascending,
    #[serde(default)]
    reviews: reviews::ReviewWalk,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    returned: Vec<String>,
}

/// `people`: the authors and assignees on the issues list, then the authors of conversation
/// and review comments, then the reviewers of changed pull requests; each login once a run.
fn people(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let mut at: PeopleState = resume(state)?;
    let (people, more) = match at.phase {
        PeoplePhase::Issues => {
            let (items, next, more) =
                ascending::<Issue>(config, "issues", &[("state", "all")], &at.issues, |i| {
                    seen(&i.updated_at, i.id)
                })?;
            at.issues = next;
            let people: Vec<RecordData> = items.iter().flat_map(model::people).collect();
            (people, more)
        }
        PeoplePhase::Conversation => {
            let (items, next, more) =
                ascending::<IssueComment>(config, "issues/comments", &[], &at.conversation, |c| {
                    seen(&c.updated_at, c.id)
                })?;
            at.conversation = next;
            let people = items
                .iter()
                .filter_map(|c| c.user.as_ref())
                .map(model::person);
            (people.collect(), more)
        }
        PeoplePhase::ReviewComments => {
            let (items, next, more) = ascending::<ReviewComment>(
                config,
                "pulls/comments",
                &[],
                &at.review_comments,
                |c| seen(&c.updated_at, c.id),
            )?;
            at.review_comments = next;
            let people = items
                .iter()
                .filter_map(|c| c.user.as_ref())
                .map(model::person);
            (people.collect(), more)
        }
        PeoplePhase::Reviews => {
            let (reviews, more) = at.reviews.step(config)?;
            let people = reviews.iter().filter_map(|(_, r)| r.user.as_ref());
            (people.map(model::person).collect(), more)
        }
    };
    let mut records = Vec::new();
    for person in people {
        let id = person.external_id().to_owned();
        if !at.returned.contains(&id) {
            if at.returned.len() < MAX_REMEMBERED_PEOPLE {
                at.returned.push(id);
            }
            records.push(person);
        }
    }
    if !more {
        at.phase = match at.phase {
            PeoplePhase::Issues => PeoplePhase::Conversation,
            PeoplePhase::Conversation => PeoplePhase::ReviewComments,
            PeoplePhase::ReviewComments => PeoplePhase::Reviews,
            PeoplePhase::Reviews => PeoplePhase::Issues,
        };
    }
    let run_over = !more && at.phase == PeoplePhase::Issues;
    if run_over {
        at.returned.clear();
    }
    Ok(Pending::new(&at, !run_over)?.with(records))
}

fn pulls(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    let at: Descending = resume(state)?;
    let (items, next, more) = pulls_page(config, &at)?;
    let records = items.iter().map(|p| model::pull(&repository, p)).collect();
    Ok(Pending::new(&next, more)?.with(records))
}

/// One page of the pulls list, newest first from `at`: the pull requests new or changed since
/// the last run, the next state, and whether the run goes on (`304`: none, the state as it
/// was, the run over).
pub(crate) fn pulls_page(
    config: &Config,
    at: &Descending,
) -> Result<(Vec<Pull>, Descending, bool), Error> {
    let mut request = Request::get(endpoint(&format!("{}/pulls", repo_path(config)?))?)
        .query("state", "all")
        .query("sort", "updated")
        .query("direction", "desc")
        .query("per_page", config.per_page.to_string());
    if at.page > 1 {
        request = request.query("page", at.page.to_string());
    }
    let url = request.url;
    let Some(response) = get(config, &url, at.if_none_match(&url))? else {
        return Ok((Vec::new(), at.clone(), false));
    };
    let items: Vec<Pull> = json(&response)?;
    let seen: Vec<Seen> = items.iter().map(|p| seen(&p.updated_at, p.id)).collect();
    let mut taken = Vec::new();
    for (pull, s) in items.into_iter().zip(&seen) {
        match at.take(s) {
            Take::Read => taken.push(pull),
            Take::Skip => {}
            Take::Stop => break,
        }
    }
    let (next, more) = at.after(
        &seen,
        response.next_link().is_some(),
        etag_of(&url, &response),
    );
    Ok((taken, next, more))
}

/// Which listing the `comments` stream is reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Phase {
    /// `…/issues/comments`.
    #[default]
    Conversation,
    /// `…/pulls/comments`.
    Review,
}

/// The `comments` state: each listing's, and which one is being read.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentsState {
    #[serde(default)]
    phase: Phase,
    #[serde(default)]
    conversation: Ascending,
    #[serde(default)]
    review: Ascending,
}

fn comments(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    let mut at: CommentsState = resume(state)?;
    match at.phase {
        Phase::Conversation => {
            let (items, next, more) =
                ascending::<IssueComment>(config, "issues/comments", &[], &at.conversation, |c| {
                    seen(&c.updated_at, c.id)
                })?;
            let records = items
                .iter()
                .filter_map(|c| model::issue_comment(&repository, c))
                .collect();
            at.conversation = next;
            if !more {
                // The review comments follow in the same run.
                at.phase = Phase::Review;
            }
            Ok(Pending::new(&at, true)?.with(records))
        }
        Phase::Review => {
            let (items, next, more) =
                ascending::<ReviewComment>(config, "pulls/comments", &[], &at.review, |c| {
                    seen(&c.updated_at, c.id)
                })?;
            let records = items
                .iter()
                .filter_map(|c| model::review_comment(&repository, c))
                .collect();
            at.review = next;
            if !more {
                at.phase = Phase::Conversation;
            }
            Ok(Pending::new(&at, more)?.with(records))
        }
    }
}
