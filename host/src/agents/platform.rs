//! The `agentic:agent/platform` interface as the host serves it to one run of one agent.
//!
//! Every call is checked against the agent's **grant** before anything is read or done:
//! - the permission the call needs must be in the grant (fixed at deploy: those of the kind's
//!   [`super::Kind::needs`] the deploying person held);
//! - the object must be in the agent's project (another project's connection or job is
//!   `not-found`, exactly as the REST API answers a non-member);
//! - connections for `start-sync`, `sync-job` and `invoke-action` must be the ones the agent's
//!   configuration names (`connection_id`), so an agent cannot reach the project's other
//!   connections either.
//!
//! The writes (`write-document`, `comment-on-record`) are in [`writes`].
//!
//! Each call — allowed or refused — is written to the audit log as `agent.platform_call` with
//! the agent as target, the deploying person as actor, the call, its object and its outcome.
//! Work runs on the host's runtime (the platform's futures are awaited from the plugin
//! threads), so database pools and HTTP clients stay on the runtime that owns them.

use std::future::Future;
use std::sync::Arc;

use serde_json::json;

use crate::actions::ActionError;
use crate::clock::{Clock, Millis};
use crate::documents::blobs::Blobs;
use crate::plugins::agent::{
    JobStatus, Model, Platform, PlatformError, PlatformFuture, RecordPage, RecordQuery,
    StoredRecord,
};
use crate::plugins::registry::Registry;
use crate::plugins::{ConnectorError, PluginError};
use crate::rbac::Permission;
use crate::store::audit::NewAuditEntry;
use crate::store::records::RecordFilter;
use crate::store::{Store, StoreError};
use crate::vault::sessions::Sessions;

/// The platform's writes: documents and comments.
mod writes;

/// Largest record page an agent may ask for.
pub const MAX_PAGE: u32 = 200;
/// Largest document an agent may write (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// What one run of an agent may reach.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The agent.
    pub agent_id: i64,
    /// Its project.
    pub project_id: i64,
    /// Who deployed it (the actor of its audit entries).
    pub deployed_by: Option<i64>,
    /// Permissions its calls may use.
    pub permissions: Vec<Permission>,
    /// The connections its configuration names.
    pub connections: Vec<i64>,
}

impl Grant {
    /// The grant stored on the agent at deploy, with the connections its config names.
    pub fn of(agent: &crate::store::agents::Agent, config: &serde_json::Value) -> Self {
        let permissions = agent
            .grant_permissions
            .as_deref()
            .and_then(|g| serde_json::from_str::<Vec<String>>(g).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Permission::parse(p))
            .collect();
        let connections = config
            .get("connection_id")
            .and_then(serde_json::Value::as_i64)
            .into_iter()
            .collect();
        Self {
            agent_id: agent.id,
            project_id: agent.project_id,
            deployed_by: agent.deployed_by,
            permissions,
            connections,
        }
    }
}

/// What the platform calls use of the host.
#[derive(Clone)]
pub struct Services {
    /// The database.
    pub store: Store,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Installed plugins (actions).
    pub plugins: Arc<Registry>,
    /// Connection credentials (actions).
    pub sessions: Arc<Sessions>,
    /// Document bytes.
    pub blobs: Blobs,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services")
    }
}

impl Services {
    /// The services of a host.
    pub fn of(state: &crate::AppState) -> Self {
        Self {
            store: state.store.clone(),
            clock: state.clock.clone(),
            plugins: state.plugins.clone(),
            sessions: state.sessions.clone(),
            blobs: state.blobs.clone(),
        }
    }
}

/// The host side of the `platform` interface for one run.
#[derive(Clone)]
pub struct AgentPlatform(Arc<Inner>);

impl std::fmt::Debug for AgentPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentPlatform")
            .field("grant", &self.0.grant)
            .finish_non_exhaustive()
    }
}

struct Inner {
    grant: Grant,
    store: Store,
    clock: Arc<dyn Clock>,
    plugins: Arc<Registry>,
    sessions: Arc<Sessions>,
    blobs: Blobs,
    runtime: tokio::runtime::Handle,
}

impl AgentPlatform {
    /// The platform of a run under `grant`; its work runs on the current tokio runtime.
    pub fn new(grant: Grant, services: Services) -> Self {
        Self(Arc::new(Inner {
            grant,
            store: services.store,
            clock: services.clock,
            plugins: services.plugins,
            sessions: services.sessions,
            blobs: services.blobs,
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// Runs `work` on the host's runtime, then audits the call with its outcome.
    fn spawn<T: Send + Sync + 'static>(
        &self,
        call: &'static str,
        detail: serde_json::Value,
        work: impl FnOnce(
                Arc<Inner>,
            )
                -> std::pin::Pin<Box<dyn Future<Output = Result<T, PlatformError>> + Send>>
            + Send
            + 'static,
    ) -> PlatformFuture<'static, T> {
        let inner = self.0.clone();
        Box::pin(async move {
            let handle = inner.runtime.clone();
            let task = {
                let inner = inner.clone();
                handle.spawn(async move {
                    let result = work(inner.clone()).await;
                    inner.audit(call, detail, &result).await;
                    result
                })
            };
            match task.await {
                Ok(result) => result,
                Err(e) => Err(PlatformError::Unavailable(format!("the host failed: {e}"))),
            }
        })
    }
}

impl Inner {
    fn require(&self, permission: Permission) -> Result<(), PlatformError> {
        if self.grant.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(PlatformError::Denied(format!(
                "the agent's grant does not include {} (it holds: {})",
                permission.as_str(),
                if self.grant.permissions.is_empty() {
                    "nothing".to_owned()
                } else {
                    self.grant
                        .permissions
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )))
        }
    }

    fn configured(&self, connection_id: i64) -> Result<(), PlatformError> {
        if self.grant.connections.contains(&connection_id) {
            Ok(())
        } else {
            Err(PlatformError::Denied(format!(
                "connection {connection_id} is not one the agent's configuration names"
            )))
        }
    }

    async fn connection(
        &self,
        id: i64,
    ) -> Result<crate::store::connections::Connection, PlatformError> {
        match self.store.get_connection(self.grant.project_id, id).await {
            Ok(c) => Ok(c),
            Err(StoreError::NotFound) => Err(PlatformError::NotFound(format!(
                "the agent's project has no connection {id}"
            ))),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn audit<T>(
        &self,
        call: &'static str,
        mut detail: serde_json::Value,
        result: &Result<T, PlatformError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(PlatformError::Denied(_)) => "denied",
            Err(PlatformError::NotFound(_)) => "not-found",
            Err(PlatformError::InvalidInput(_)) => "invalid-input",
            Err(PlatformError::Unavailable(_)) => "unavailable",
        };
        detail["call"] = json!(call);
        detail["outcome"] = json!(outcome);
        detail["project_id"] = json!(self.grant.project_id);
        if let Err(PlatformError::Denied(why)) = result {
            detail["reason"] = json!(why);
        }
        let entry = NewAuditEntry {
            actor_id: self.grant.deployed_by,
            action: "agent.platform_call",
            target_type: Some("agent"),
            target_id: Some(self.grant.agent_id.to_string()),
            ip: None,
            detail,
        };
        if let Err(e) = self.store.append_audit(entry, self.clock.now_ms()).await {
            tracing::error!(
                agent = self.grant.agent_id,
                "could not audit a platform call: {e}"
            );
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> PlatformError {
    PlatformError::Unavailable(e.to_string())
}

fn model_kind(model: Model) -> &'static str {
    match model {
        Model::Document => "document",
        Model::WorkItem => "work_item",
        Model::Comment => "comment",
        Model::Requirement => "requirement",
        Model::TraceLink => "trace_link",
        Model::Person => "person",
        Model::Raw => "raw",
    }
}

fn action_error(e: ActionError) -> PlatformError {
    match e {
        ActionError::Unknown { .. } | ActionError::Input(_) => {
            PlatformError::InvalidInput(match e {
                ActionError::Input(fields) => fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            })
        }
        ActionError::Plugin(PluginError::Connector(ConnectorError::NotFound(m))) => {
            PlatformError::NotFound(m)
        }
        ActionError::Plugin(PluginError::Connector(ConnectorError::InvalidInput(m))) => {
            PlatformError::InvalidInput(m)
        }
        other => PlatformError::Unavailable(other.to_string()),
    }
}

impl Platform for AgentPlatform {
    fn query_records(&self, query: RecordQuery) -> PlatformFuture<'_, RecordPage> {
        let detail =
            json!({"model": model_kind(query.model), "connection_id": query.connection_id});
        self.spawn("query-records", detail, move |inner| {
            Box::pin(async move {
                inner.require(Permission::RecordsRead)?;
                if !(1..=MAX_PAGE).contains(&query.limit) {
                    return Err(PlatformError::InvalidInput(format!(
                        "limit must be 1–{MAX_PAGE}"
                    )));
                }
                let too_long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > 200);
                if too_long(&query.status) || too_long(&query.text) {
                    return Err(PlatformError::InvalidInput(
                        "status and text are at most 200 bytes".into(),
                    ));
                }
                if let Some(id) = query.connection_id {
                    inner.connection(id).await?;
                }
                let filter = RecordFilter {
                    connection_id: query.connection_id,
                    status: query.status.as_deref(),
                    q: query.text.as_deref(),
                    include_deleted: false,
                };
                let page = inner
                    .store
                    .list_records(
                        inner.grant.project_id,
                        model_kind(query.model),
                        &filter,
                        query.after.unwrap_or(0),
                        i64::from(query.limit),
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(RecordPage {
                    records: page
                        .items
                        .into_iter()
                        .map(|r| StoredRecord {
                            id: r.id,
                            connection_id: r.connection_id,
                            stream: r.stream,
                            external_id: r.external_id,
                            data: r.data,
                            synced_at: r.synced_at.as_ms(),
                        })
                        .collect(),
                    next_after: page.next_after,
                })
            })
        })
    }

    fn start_sync(&self, connection_id: i64, stream: Option<String>) -> PlatformFuture<'_, i64> {
        let detail = json!({"connection_id": connection_id, "stream": stream});
        self.spawn("start-sync", detail, move |inner| {
            Box::pin(async move {
                inner.require(Permission::ConnectionsSync)?;
                let connection = inner.connection(connection_id).await?;
                inner.configured(connection_id)?;
                if stream
                    .as_ref()
                    .is_some_and(|s| s.is_empty() || s.len() > 100)
                {
                    return Err(PlatformError::InvalidInput(
                        "a stream name is 1–100 bytes".into(),
                    ));
                }
                let enabled = inner
                    .store
                    .plugin_enabled(connection.project_id, &connection.plugin_id)
                    .await
                    .map_err(unavailable)?;
                if !enabled {
                    return Err(PlatformError::Unavailable(format!(
                        "plugin {} is not enabled in the project",
                        connection.plugin_id
                    )));
                }
                let job = crate::sync::request(
                    &inner.store,
                    &connection,
                    stream,
                    crate::sync::Mode::Incremental,
                    inner.grant.deployed_by,
                    None,
                    inner.clock.now_ms(),
                )
                .await
                .map_err(unavailable)?;
                Ok(job.id)
            })
        })
    }

    fn sync_job(&self, job_id: i64) -> PlatformFuture<'_, JobStatus> {
        self.spawn("sync-job", json!({"job_id": job_id}), move |inner| {
            Box::pin(async move {
                inner.require(Permission::JobsRead)?;
                let missing = || {
                    PlatformError::NotFound(format!(
                        "no sync job {job_id} of the agent's connections"
                    ))
                };
                let job = match inner.store.get_job(job_id).await {
                    Ok(job) => job,
                    Err(StoreError::NotFound) => return Err(missing()),
                    Err(e) => return Err(unavailable(e)),
                };
                let request = serde_json::from_str::<crate::sync::SyncRequest>(&job.payload).ok();
                let ours = job.kind == crate::sync::SYNC
                    && job.project_id == Some(inner.grant.project_id)
                    && request.is_some_and(|r| inner.grant.connections.contains(&r.connection_id));
                if !ours {
                    return Err(missing());
                }
                Ok(JobStatus {
                    id: job.id,
                    state: job.state.to_string(),
                    result: job.result,
                    last_error: job.last_error,
                    finished_at: job.finished_at.map(Millis::as_ms),
                })
            })
        })
    }

    fn write_document(
        &self,
        title: String,
        markdown: String,
        tags: Vec<String>,
        records: Vec<i64>,
    ) -> PlatformFuture<'_, i64> {
        let shown: String = title.chars().take(200).collect();
        let linked: Vec<i64> = records
            .iter()
            .take(writes::MAX_LINKS + 1)
            .copied()
            .collect();
        let detail = json!({"title": shown, "bytes": markdown.len(), "records": linked});
        self.spawn("write-document", detail, move |inner| {
            Box::pin(writes::document(inner, title, markdown, tags, records))
        })
    }

    fn comment_on_record(&self, record_id: i64, markdown: String) -> PlatformFuture<'_, i64> {
        let detail = json!({"record_id": record_id, "bytes": markdown.len()});
        self.spawn("comment-on-record", detail, move |inner| {
            Box::pin(writes::comment(inner, record_id, markdown))
        })
    }

    fn invoke_action(
        &self,
        connection_id: i64,
        action: String,
        input: String,
    ) -> PlatformFuture<'_, String> {
        let detail = json!({"connection_id": connection_id, "action": action});
        self.spawn("invoke-action", detail, move |inner| {
            Box::pin(async move {
                inner.require(Permission::ConnectionsAct)?;
                let connection = inner.connection(connection_id).await?;
                inner.configured(connection_id)?;
                let input: serde_json::Value = serde_json::from_str(&input)
                    .map_err(|e| PlatformError::InvalidInput(format!("input is not JSON: {e}")))?;
                let output = crate::actions::run(
                    &inner.plugins,
                    &inner.sessions,
                    &connection,
                    &action,
                    &input,
                )
                .await
                .map_err(action_error)?;
                Ok(output.to_string())
            })
        })
    }
}
