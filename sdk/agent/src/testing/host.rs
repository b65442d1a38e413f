//! The harness's host: the platform calls answered under the host's rules (grant, project,
//! configured connection, input limits) and the egress check, for the run under way.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{ActionHandler, Invocation, StartedSync, WrittenComment, WrittenDocument};
use crate::agent::{Event, Metric};
use crate::error::PlatformError;
use crate::http::HttpError;
use crate::platform::{JobStatus, LogLevel, Model, RecordPage, RecordQuery, StoredRecord};

/// Log lines the host keeps per run.
const MAX_LOG_LINES: usize = 100;
/// Largest document the host accepts (bytes).
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Most records a document may be linked to.
const MAX_LINKS: usize = 32;
/// The stream of the comments agents write, as the host stores them.
pub const AGENT_COMMENTS: &str = "agent-comments";

/// What one run did, collected by the host.
#[derive(Debug, Default)]
pub(crate) struct RunLog {
    pub(super) logs: Vec<(LogLevel, String)>,
    pub(super) metrics: Vec<Metric>,
    pub(super) events: Vec<Event>,
    pub(super) documents: Vec<WrittenDocument>,
    pub(super) comments: Vec<WrittenComment>,
    pub(super) actions: Vec<Invocation>,
    pub(super) syncs: Vec<StartedSync>,
    pub(super) refusals: Vec<String>,
}

/// The harness's host: the project, the grant and the run under way.
#[derive(Default)]
pub(crate) struct Host {
    pub(super) grant: BTreeSet<String>,
    pub(super) connections: BTreeSet<i64>,
    pub(super) configured: BTreeSet<i64>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) routes: Vec<(String, String)>,
    pub(super) records: Vec<(Model, StoredRecord)>,
    pub(super) jobs: BTreeMap<i64, JobStatus>,
    pub(super) actions: HashMap<String, ActionHandler>,
    pub(super) documents: Vec<WrittenDocument>,
    pub(super) comments: Vec<WrittenComment>,
    pub(super) next_id: i64,
    pub(super) clock: i64,
    pub(super) run: RunLog,
}

impl Host {
    /// Records a refusal as the host audits it, and returns it.
    fn refuse(&mut self, e: PlatformError) -> PlatformError {
        self.run.refusals.push(e.to_string());
        e
    }

    fn require(&mut self, permission: &str) -> Result<(), PlatformError> {
        if self.grant.contains(permission) {
            return Ok(());
        }
        let held = if self.grant.is_empty() {
            "nothing".to_owned()
        } else {
            self.grant.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        Err(self.refuse(PlatformError::Denied(format!(
            "the agent's grant does not include {permission} (it holds: {held})"
        ))))
    }

    fn configured(&mut self, connection_id: i64) -> Result<(), PlatformError> {
        if !self.connections.contains(&connection_id) {
            return Err(self.refuse(PlatformError::NotFound(format!(
                "the agent's project has no connection {connection_id}"
            ))));
        }
        if !self.configured.contains(&connection_id) {
            return Err(self.refuse(PlatformError::Denied(format!(
                "connection {connection_id} is not one the agent's configuration names"
            ))));
        }
        Ok(())
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        if self.run.logs.len() < MAX_LOG_LINES {
            self.run
                .logs
                .push((level, message.chars().take(2048).collect()));
        }
    }

    pub(crate) fn emit_metric(&mut self, name: &str, value: f64) {
        self.run.metrics.push(Metric {
            name: name.to_owned(),
            value,
        });
    }

    pub(crate) fn emit_event(&mut self, kind: &str, message: &str) {
        self.run.events.push(Event {
            kind: kind.to_owned(),
            message: message.to_owned(),
        });
    }

    pub(crate) fn query_records(
        &mut self,
        query: &RecordQuery,
    ) -> Result<RecordPage, PlatformError> {
        self.require("records:read")?;
        if !(1..=crate::platform::MAX_LIMIT).contains(&query.limit) {
            return Err(PlatformError::InvalidInput(format!(
                "limit {} is not 1–200",
                query.limit
            )));
        }
        if let Some(id) = query.connection_id {
            if !self.connections.contains(&id) {
                return Err(self.refuse(PlatformError::NotFound(format!(
                    "the agent's project has no connection {id}"
                ))));
            }
        }
        let text = query.text.as_deref().map(str::to_lowercase);
        let mut matching: Vec<&StoredRecord> = self
            .records
            .iter()
            .filter(|(model, r)| {
                *model == query.model
                    && query.connection_id.is_none_or(|c| r.connection_id == c)
                    && query.after.is_none_or(|a| r.id > a)
                    && query
                        .status
                        .as_deref()
                        .is_none_or(|s| r.data["status"].as_str() == Some(s))
                    && text.as_deref().is_none_or(|t| {
                        r.data["title"]
                            .as_str()
                            .is_some_and(|title| title.to_lowercase().contains(t))
                    })
            })
            .map(|(_, r)| r)
            .collect();
        matching.sort_by_key(|r| r.id);
        let limit = query.limit as usize;
        let next_after = (matching.len() > limit).then(|| matching[limit - 1].id);
        Ok(RecordPage {
            records: matching.into_iter().take(limit).cloned().collect(),
            next_after,
        })
    }

    pub(crate) fn start_sync(
        &mut self,
        connection_id: i64,
        stream: Option<&str>,
    ) -> Result<i64, PlatformError> {
        self.require("connections:sync")?;
        self.configured(connection_id)?;
        self.next_id += 1;
        let job_id = self.next_id;
        self.jobs.insert(
            job_id,
            JobStatus {
                id: job_id,
                state: "queued".into(),
                result: None,
                last_error: None,
                finished_at: None,
            },
        );
        self.run.syncs.push(StartedSync {
            job_id,
            connection_id,
            stream: stream.map(str::to_owned),
        });
        Ok(job_id)
    }

    pub(crate) fn sync_job(&mut self, job_id: i64) -> Result<JobStatus, PlatformError> {
        self.require("jobs:read")?;
        match self.jobs.get(&job_id) {
            Some(job) => Ok(job.clone()),
            None => Err(self.refuse(PlatformError::NotFound(format!(
                "no sync job {job_id} of the agent's connections"
            )))),
        }
    }

    /// The project's record `id` with its model, as the host finds it.
    fn project_record(&mut self, id: i64) -> Result<(Model, StoredRecord), PlatformError> {
        match self.records.iter().find(|(_, r)| r.id == id) {
            Some(found) => Ok(found.clone()),
            None => Err(self.refuse(PlatformError::NotFound(format!(
                "the agent's project has no record {id}"
            )))),
        }
    }

    pub(crate) fn write_document(
        &mut self,
        title: &str,
        markdown: &str,
        tags: &[String],
        records: &[i64],
    ) -> Result<i64, PlatformError> {
        self.require("documents:manage")?;
        let invalid = |m: &str| Err(PlatformError::InvalidInput(m.to_owned()));
        if title.trim().is_empty() || title.chars().count() > 200 || title.contains(['\n', '\r']) {
            return invalid("title: 1 to 200 characters on one line");
        }
        if markdown.is_empty() || markdown.len() > MAX_DOCUMENT_BYTES {
            return invalid("markdown: 1 byte to 1 MiB");
        }
        if tags.len() > 32 || tags.iter().any(|t| t.is_empty() || t.chars().count() > 64) {
            return invalid("tags: at most 32, each 1 to 64 characters");
        }
        if records.len() > MAX_LINKS {
            return invalid("records: at most 32 linked records");
        }
        let mut linked = Vec::new();
        for id in records {
            if !linked.contains(id) {
                self.project_record(*id)?;
                linked.push(*id);
            }
        }
        self.next_id += 1;
        let document = WrittenDocument {
            id: self.next_id,
            title: title.to_owned(),
            markdown: markdown.to_owned(),
            tags: tags.to_vec(),
            records: linked,
        };
        self.documents.push(document.clone());
        self.run.documents.push(document);
        Ok(self.next_id)
    }

    pub(crate) fn comment_on_record(
        &mut self,
        record_id: i64,
        markdown: &str,
    ) -> Result<i64, PlatformError> {
        self.require("documents:manage")?;
        if markdown.trim().is_empty() || markdown.len() > crate::platform::MAX_COMMENT_BYTES {
            return Err(PlatformError::InvalidInput(
                "the comment is 1 byte to 64 KiB (not only white space)".into(),
            ));
        }
        let (model, parent) = self.project_record(record_id)?;
        if !matches!(model, Model::WorkItem | Model::Requirement) {
            return Err(PlatformError::InvalidInput(format!(
                "record {record_id} is a {}: agents comment on work items and requirements",
                model.as_str()
            )));
        }
        self.next_id += 1;
        let id = self.next_id;
        let external_id = format!("agent-comment-{id}");
        let data = json!({
            "external_id": external_id,
            "parent_external_id": parent.external_id,
            "parent_id": parent.id,
            "author": "agent:harness",
            "body": markdown,
            "created_at": self.clock,
            "updated_at": self.clock,
        });
        self.records.push((
            Model::Comment,
            StoredRecord {
                id,
                connection_id: parent.connection_id,
                stream: AGENT_COMMENTS.to_owned(),
                external_id,
                data,
                synced_at: self.clock,
            },
        ));
        let comment = WrittenComment {
            id,
            record_id,
            markdown: markdown.to_owned(),
        };
        self.comments.push(comment.clone());
        self.run.comments.push(comment);
        Ok(id)
    }

    pub(crate) fn invoke_action(
        &mut self,
        connection_id: i64,
        action: &str,
        input: &Value,
    ) -> Result<Value, PlatformError> {
        self.require("connections:act")?;
        self.configured(connection_id)?;
        let Some(handler) = self.actions.get_mut(action) else {
            return Err(PlatformError::NotFound(format!(
                "the connection's plugin has no action {action:?}"
            )));
        };
        let output = handler(input)?;
        self.run.actions.push(Invocation {
            connection_id,
            action: action.to_owned(),
            input: input.clone(),
        });
        Ok(output)
    }

    /// Where a request to `authority` goes: refused outside the manifest's allowed hosts, a
    /// route's base URL, or `None` (as addressed).
    pub(crate) fn egress(&mut self, authority: &str) -> Result<Option<String>, HttpError> {
        let authority = authority.to_ascii_lowercase();
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    authority.as_str()
                }
            });
        if let Some(allowed) = &self.allowed_hosts {
            if !allowed.iter().any(|pattern| host_matches(pattern, host)) {
                let why = format!(
                    "{host} is not among the manifest's allowed_hosts ({})",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
                self.run.refusals.push(why.clone());
                return Err(HttpError::Refused(why));
            }
        }
        Ok(self
            .routes
            .iter()
            .find(|(h, _)| *h == authority || *h == host)
            .map(|(_, base)| base.clone()))
    }
}

/// Whether `host` matches an `allowed_hosts` pattern: `*`, `*.example.com` (subdomains only)
/// or an exact name, as the host matches them.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        _ if pattern == "*" => true,
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn host_patterns_match_as_the_host_matches_them() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evil-example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil"));
    }
}
