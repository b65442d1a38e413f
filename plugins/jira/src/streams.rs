//! The streams: what each reads, how it pages, and its records.
//!
//! | stream | records | reads | paging and state |
//! |---|---|---|---|
//! | `projects` | raw (key, name, type, lead) | `project/search` (DC: `project`) | offset; full refresh |
//! | `issues` | work items | JQL search, explicit fields | [`crate::scan`]; incremental |
//! | `comments` | comments | the search's `comment` field, then `issue/{id}/comment` | [`crate::scan`]; incremental |
//! | `issue-links` | trace links | the search's `issuelinks` field | [`crate::scan`]; incremental |
//! | `users` | people | `users/search` (DC: `user/search?username=.`) | offset; full refresh |
//! | `changelog` | raw (one per change) | the search's changelog, then `issue/{id}/changelog` | [`crate::scan`]; incremental |

use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::{log, progress, Error, LogLevel, Page, RecordData, RecordKind, StreamSpec};

use crate::api::Jira;
use crate::config::Config;
use crate::scan::{self, issue_id, ScanPage, Want};
use crate::transform;

/// Every stream, as `spec()` and `discover()` list them.
pub fn specs() -> Vec<StreamSpec> {
    let raw = |properties: Value| {
        let mut schema = RecordKind::Raw.schema();
        schema["properties"]["data"] = json!({"type": "object", "properties": properties});
        schema
    };
    let mut work_items = RecordKind::WorkItem.schema();
    work_items["properties"]["attributes"] = json!({
        "type": "object",
        "properties": {
            "project": {"type": "object"},
            "components": {"type": "array", "items": {"type": "string"}},
            "fix_versions": {"type": "array", "items": {"type": "string"}},
            "resolution": {"type": "string"},
            "due_date": {"type": "string"},
            "status_category": {"type": "string"},
            "parent_key": {"type": "string"},
            "subtasks": {"type": "array", "items": {"type": "string"}},
            "epic_key": {"type": "string"},
            "custom_fields": {"type": "object"},
            "description_format": {"enum": ["adf", "wiki"]}
        }
    });
    vec![
        StreamSpec::new("projects", RecordKind::Raw)
            .with_description("Projects: key, name, type, lead and link (full refresh).")
            .with_schema(raw(json!({
                "key": {"type": "string"},
                "name": {"type": ["string", "null"]},
                "project_type": {"type": ["string", "null"]},
                "lead": {"type": ["string", "null"]},
                "url": {"type": "string"}
            }))),
        StreamSpec::new("issues", RecordKind::WorkItem)
            .with_description(
                "Issues as work items: summary, description (Markdown), status, type, priority, \
                 assignee, reporter, labels, components, parent, dates; incremental on `updated`.",
            )
            .incremental()
            .with_schema(work_items),
        StreamSpec::new("comments", RecordKind::Comment)
            .with_description("Comments on issues (Markdown); incremental with their issues.")
            .incremental(),
        StreamSpec::new("issue-links", RecordKind::TraceLink)
            .with_description(
                "Links between issues (blocks, relates to, …), from the issue on their outward \
                 side; incremental with their issues.",
            )
            .incremental(),
        StreamSpec::new("users", RecordKind::Person)
            .with_description("Users as people (full refresh)."),
        StreamSpec::new("changelog", RecordKind::Raw)
            .with_description("Change history of issues, one record per change; incremental.")
            .incremental()
            .with_schema(raw(json!({
                "issue_id": {"type": "string"},
                "issue_key": {"type": ["string", "null"]},
                "author": {"type": ["string", "null"]},
                "created_at": {"type": ["integer", "null"]},
                "items": {"type": "array"}
            }))),
    ]
}

/// Reads one page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    match stream {
        "projects" => projects(config, state),
        "users" => users(config, state),
        "issues" | "comments" | "issue-links" | "changelog" => issues(config, stream, state),
        other => Err(Error::NotFound(format!(
            "no stream `{other}` (streams: projects, issues, comments, issue-links, users, changelog)"
        ))),
    }
}

/// An offset state: `None` or empty is 0.
fn offset(state: Option<&str>) -> Result<u64, Error> {
    state.map_or(Ok(0), |s| {
        s.parse()
            .map_err(|_| Error::InvalidInput(format!("state {s:?} is not an offset")))
    })
}

fn projects(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let start = offset(state)?;
    let (projects, last) = Jira::new(config).projects(start, config.page_size())?;
    let next = start + projects.len() as u64;
    let records: Vec<RecordData> = projects
        .iter()
        .filter_map(|p| transform::project(p, config))
        .collect();
    progress(next, None, "projects read");
    let has_more = !last && !projects.is_empty();
    Ok(Page {
        records,
        state: end_state(next, has_more),
        has_more,
        deleted: Vec::new(),
    })
}

fn users(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let start = offset(state)?;
    let users = Jira::new(config).users(start, config.page_size())?;
    let next = start + users.len() as u64;
    let records: Vec<RecordData> = users.iter().filter_map(transform::person).collect();
    progress(next, None, "users read");
    // JIRA may return short pages before the end: only an empty page ends the listing.
    let has_more = !users.is_empty();
    Ok(Page {
        records,
        state: end_state(next, has_more),
        has_more,
        deleted: Vec::new(),
    })
}

/// A full-refresh stream's state: the offset while the listing goes on; empty at its end, so
/// that the next sync (which the host starts from the stored state) reads it all again.
fn end_state(next: u64, has_more: bool) -> String {
    if has_more {
        next.to_string()
    } else {
        String::new()
    }
}

fn want(config: &Config, stream: &str) -> Want {
    let fields: Vec<String> = match stream {
        "issues" => transform::ISSUE_FIELDS
            .iter()
            .map(|f| (*f).to_owned())
            .chain(config.custom_fields.iter().cloned())
            .chain(config.epic_link_field.iter().cloned())
            .collect(),
        "comments" => vec!["updated".into(), "comment".into()],
        "issue-links" => vec!["updated".into(), "issuelinks".into()],
        _ => vec!["updated".into()],
    };
    let changelog = stream == "changelog";
    Want {
        fields,
        expand: changelog.then_some("changelog"),
        // A search shows up to 100 changes per issue: keep pages well inside the memory a
        // component gets.
        max_page: changelog.then_some(20),
    }
}

fn issues(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    let page = scan::read(config, state, &want(config, stream))?;
    let (records, stopped) = match stream {
        "issues" => (
            page.issues
                .iter()
                .map(|issue| transform::work_item(issue, config))
                .collect(),
            None,
        ),
        "comments" => per_issue(&page, |issue| comments(config, &page, issue))?,
        "issue-links" => (
            page.issues
                .iter()
                .flat_map(transform::trace_links)
                .collect(),
            None,
        ),
        _ => per_issue(&page, |issue| histories(config, &page, issue))?,
    };
    Ok(match stopped {
        // Stopped midway: keep what was read, and come back for the rest of the page.
        Some(done) => Page {
            records,
            state: page.partial(done).to_text(),
            has_more: true,
            deleted: Vec::new(),
        },
        None => Page {
            records,
            state: page.state.to_text(),
            has_more: page.has_more,
            deleted: Vec::new(),
        },
    })
}

/// Reads each issue of the page with `read` (one or more requests per issue). A rate limit or
/// a transient failure after some issues were read ends the page there: the records so far and
/// `Some(issues read)`, so the host stores them and calls again for the rest (when the same
/// failure comes first, it is the page's error, and the host waits as the service asked).
fn per_issue(
    page: &ScanPage,
    mut read: impl FnMut(&Value) -> Result<Vec<RecordData>, Error>,
) -> Result<(Vec<RecordData>, Option<usize>), Error> {
    let mut records = Vec::new();
    for (done, issue) in page.issues.iter().enumerate() {
        match read(issue) {
            Ok(more) => records.extend(more),
            Err(Error::RateLimited { .. } | Error::Transient(_)) if done > 0 => {
                log(
                    LogLevel::Info,
                    &format!("stopped after {done} issues of the page; the rest come next"),
                );
                return Ok((records, Some(done)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((records, None))
}

/// Whether something changed at `at` is new to this run.
fn is_new(at: Option<i64>, since: Option<i64>) -> bool {
    match (at, since) {
        (Some(at), Some(since)) => at >= since,
        _ => true,
    }
}

/// The comments of one of the page's issues (all of them, fetching what the search left out),
/// minus those unchanged since earlier runs.
fn comments(config: &Config, page: &ScanPage, issue: &Value) -> Result<Vec<RecordData>, Error> {
    let jira = Jira::new(config);
    let mut records = Vec::new();
    {
        let id = issue_id(issue);
        let field = &issue["fields"]["comment"];
        let (mut all, total) = match field {
            Value::Array(list) => (list.clone(), list.len() as u64),
            Value::Object(page) => {
                let list = page
                    .get("comments")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let total = page
                    .get("total")
                    .and_then(Value::as_u64)
                    .unwrap_or(list.len() as u64);
                (list, total)
            }
            _ => (Vec::new(), 0),
        };
        while (all.len() as u64) < total {
            let (more, _) = jira.comments(&id, all.len() as u64)?;
            if more.is_empty() {
                break;
            }
            all.extend(more);
        }
        records.extend(
            all.iter()
                .filter(|c| is_new(transform::comment_time(c), page.since))
                .filter_map(|c| transform::comment(c, &id, config)),
        );
    }
    Ok(records)
}

/// The change histories of one of the page's issues, minus those earlier runs read.
fn histories(config: &Config, page: &ScanPage, issue: &Value) -> Result<Vec<RecordData>, Error> {
    let jira = Jira::new(config);
    let mut records = Vec::new();
    {
        let changelog = &issue["changelog"];
        let mut histories = changelog["histories"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let total = changelog["total"]
            .as_u64()
            .unwrap_or(histories.len() as u64);
        if (histories.len() as u64) < total {
            // The search holds only the latest changes: read them all, oldest first.
            let id = issue_id(issue);
            histories = if config.is_cloud() {
                let mut all = Vec::new();
                while (all.len() as u64) < total {
                    let (more, _) = jira.changelog(&id, all.len() as u64)?;
                    if more.is_empty() {
                        break;
                    }
                    all.extend(more);
                }
                all
            } else {
                jira.issue_histories(&id)?
            };
        }
        records.extend(
            histories
                .iter()
                .filter(|h| is_new(transform::history_time(h), page.since))
                .filter_map(|h| transform::history(h, issue)),
        );
    }
    Ok(records)
}
