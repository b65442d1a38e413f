//! The sync engine: a connection's stream read page by page through its plugin into the
//! internal models.
//!
//! A sync is a job (kind [`SYNC`]). Each page's records and the stream's new state are stored
//! in one transaction ([`Store::store_page`]), so a sync killed at any instant resumes from the
//! last stored page on its next attempt — none lost, none duplicated (records are upserted on
//! their source key). While a page is stored, the next one is read (one page ahead, no more),
//! so a sync costs the slower of the two per page rather than their sum; what is stored is
//! still page after page, each with the state it ends at, and a page read ahead of a failed
//! store is read again by the next attempt. Modes:
//!
//! - `incremental` continues from the stored state: a connector that supports it returns only
//!   what changed since, and (contract 0.3.0) the records that are gone: each page's deletions
//!   are marked in the page's transaction (`record-data.deleted`);
//! - `full` reads everything from the start in a new cycle; when it completes, records the
//!   cycle did not see are marked deleted. A full sync interrupted midway resumes its cycle.
//!
//! A stream the connector declares full-refresh only is always read in `full` mode, and a
//! stream it does not declare is refused. Only one sync of a stream runs at a time: a second
//! one (a schedule firing during a manual run, say) is postponed until the first is done
//! ([`Store::lock_stream`]).
//!
//! Synced documents are mirrored into the Documents API, read-only, in the page's transaction
//! (see `store::synced_documents`).
//!
//! A sync job without a stream fans out: it asks the plugin's `discover` for the streams and
//! enqueues one job per stream, so a failing stream does not stop the others. Connector errors
//! map to the queue's: `rate-limited` postpones to the service's `Retry-After`, `transient`
//! retries with backoff, `auth`/`config`/`invalid-input`/`not-found` are permanent.
//!
//! Every run is bounded in pages, records and time, and ends when the connector's state stops
//! advancing ([`bounds`]).

/// The bounds of one run: pages, records, time, a state that does not advance.
pub mod bounds;
/// Progress shown on the job: records stored and the connector's own report.
mod progress;

use std::future::Future;
use std::sync::Arc;

use futures_util::future::OptionFuture;
use serde::{Deserialize, Serialize};

use crate::jobs::{new_job, JobContext, JobError, JobFuture, JobHandler};
use crate::plugins::package::Manifest;
use crate::plugins::registry::Registry;
use crate::plugins::runtime::{Plugin, Runtime, StreamSpec};
use crate::plugins::{Call, ConnectorError, EgressPolicy, PluginError};
use crate::plugins::{Deletion, Record};
use crate::store::connections::Connection;
use crate::store::jobs::{Job, NewJob};
use crate::store::records::{DeletedRecord, NewRecord, SyncState};
use crate::store::{Store, StoreError};
use crate::vault::provider::VaultCredential;
use crate::vault::sessions::{SessionTarget, Sessions};

pub use bounds::SyncLimits;

/// The job kind of syncs.
pub const SYNC: &str = "sync";

/// Full or incremental.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// From the stored state on.
    #[default]
    Incremental,
    /// Everything, detecting deletions.
    Full,
}

/// A sync job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The connection.
    pub connection_id: i64,
    /// The stream; `None`: every stream the plugin discovers (one job each).
    #[serde(default)]
    pub stream: Option<String>,
    /// Full or incremental.
    #[serde(default)]
    pub mode: Mode,
}

/// What a finished sync job reports: totals over all its attempts (a page stored by an
/// attempt that then hit a rate limit counts), kept as the job's checkpoint as pages are stored.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SyncReport {
    /// Records stored.
    pub records: u64,
    /// Pages read.
    pub pages: u64,
    /// Records marked deleted: reported gone by the connector's pages (contract 0.3.0), and
    /// not seen by a completed full refresh.
    pub deleted: u64,
}

/// The plugin call context of a connection: its egress policy with the credential injected by
/// the host. Shared by `check`, syncs and actions.
pub fn connection_call(
    manifest: &Manifest,
    connection: &Connection,
    sessions: &Arc<Sessions>,
) -> Result<Call, String> {
    let mut policy = EgressPolicy::new(&manifest.allowed_hosts, &connection.base_url)
        .map_err(|e| format!("the connection's base URL is no longer allowed: {e}"))?
        .allow_private(connection.allow_private_network);
    // The manifest's service origins, each at the connection's override if it has one. An
    // override of a name the (upgraded) manifest no longer declares is ignored.
    for (name, url) in effective_origins(manifest, connection) {
        policy = policy
            .origin(name, url)
            .map_err(|e| format!("the connection's {e} is no longer allowed"))?;
    }
    if let Some(secret_id) = connection.secret_id {
        let target = SessionTarget {
            secret_id,
            connection_id: connection.id,
            base_url: connection.base_url.clone(),
            allow_private: connection.allow_private_network,
        };
        policy = policy.credential(Arc::new(VaultCredential::new(sessions.clone(), target)));
    }
    Ok(Call {
        egress: Some(Arc::new(policy)),
        progress: None,
        connection: Some(connection.id),
    })
}

/// The service origins of `connection`: every name its plugin's manifest declares, at the
/// connection's override or else the manifest's URL.
pub fn effective_origins<'a>(
    manifest: &'a Manifest,
    connection: &'a Connection,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    manifest.origins.iter().map(|(name, url)| {
        let url = connection.origins.get(name).unwrap_or(url);
        (name.as_str(), url.as_str())
    })
}

/// Runs sync jobs.
pub struct SyncHandler {
    store: Store,
    plugins: Arc<Registry>,
    sessions: Arc<Sessions>,
    clock: Arc<dyn crate::clock::Clock>,
    limits: SyncLimits,
    listener: Option<Arc<dyn SyncListener>>,
}

/// The future a [`SyncListener`] returns.
pub type ListenerFuture<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Told when a stream's sync has stored its last page (the agents that run on sync events
/// listen: `agents::triggers`). A trait rather than a call, so that syncing does not depend on
/// the agents that react to it. It must not fail the sync: it handles its own errors.
pub trait SyncListener: Send + Sync {
    /// `connection`'s `stream` was synced by job `job_id`, as `report` says.
    fn finished<'a>(
        &'a self,
        connection: &'a Connection,
        stream: &'a str,
        job_id: i64,
        report: &'a SyncReport,
    ) -> ListenerFuture<'a>;
}

impl std::fmt::Debug for SyncHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncHandler")
    }
}

impl SyncHandler {
    /// The handler of a host.
    pub fn new(
        store: Store,
        plugins: Arc<Registry>,
        sessions: Arc<Sessions>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        Self {
            store,
            plugins,
            sessions,
            clock,
            limits: SyncLimits::default(),
            listener: None,
        }
    }

    /// The same handler with the bounds of each run set to `limits`.
    pub fn with_limits(mut self, limits: SyncLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same handler, telling `listener` about every stream sync that succeeds.
    pub fn with_listener(mut self, listener: Arc<dyn SyncListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    async fn sync(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let request: SyncRequest = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("bad sync payload: {e}")))?;
        let connection = self
            .store
            .connection_by_id(request.connection_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    JobError::Permanent("the connection no longer exists".into())
                }
                other => JobError::Retry(other.to_string()),
            })?;
        if !self
            .store
            .plugin_enabled(connection.project_id, &connection.plugin_id)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        {
            return Err(JobError::Permanent(format!(
                "plugin {} is not enabled in the project",
                connection.plugin_id
            )));
        }
        let (manifest, plugin) = self
            .plugins
            .active(&connection.plugin_id)
            .await
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let call =
            connection_call(&manifest, &connection, &self.sessions).map_err(JobError::Permanent)?;
        let runtime = self
            .plugins
            .runtime()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let Some(stream) = request.stream.clone() else {
            // Fan out: one job per stream.
            let streams = ctx
                .unless_cancelled(runtime.discover(&plugin, &call, &connection.config))
                .await?
                .map_err(plugin_error)?;
            let mut jobs = Vec::new();
            for s in streams {
                let job = enqueue(
                    &self.store,
                    &ctx.job,
                    &connection,
                    Some(s.name.clone()),
                    mode_for(&s, request.mode),
                    self.clock.now_ms(),
                )
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
                jobs.push(job.id);
            }
            return Ok(serde_json::json!({"streams": jobs.len(), "jobs": jobs}));
        };
        // The stream as the plugin declares it now: an unknown one is refused, and one that
        // cannot resume incrementally is always read in full.
        let declared = ctx
            .unless_cancelled(runtime.discover(&plugin, &call, &connection.config))
            .await?
            .map_err(plugin_error)?;
        let Some(spec) = declared.iter().find(|s| s.name == stream) else {
            let names: Vec<&str> = declared.iter().map(|s| s.name.as_str()).collect();
            return Err(JobError::Permanent(format!(
                "the connector has no stream {stream:?} (it has {})",
                names.join(", ")
            )));
        };
        let mode = mode_for(spec, request.mode);
        // One sync of a stream at a time: two would interleave their states and cycles.
        let job = ctx.job.id;
        if let Some(holder) = self
            .store
            .lock_stream(
                ctx.fence().as_ref(),
                connection.id,
                &stream,
                job,
                self.clock.now_ms(),
            )
            .await
            .map_err(|e| JobError::store("taking the stream's sync lock", e))?
        {
            return Err(JobError::Waiting {
                retry_after_secs: STREAM_BUSY_RETRY_SECS,
                message: format!("another sync of stream {stream} is running (job {holder})"),
            });
        }
        let result = self
            .read_stream(ctx, &connection, &runtime, &plugin, &call, &stream, mode)
            .await;
        let fence = ctx.fence();
        let now = self.clock.now_ms();
        if let Err(e) = (self.store)
            .unlock_stream(fence.as_ref(), connection.id, &stream, job, now)
            .await
        {
            // The lock goes with the job anyway: a holder that is not running holds nothing.
            tracing::warn!(job, "releasing the stream's sync lock failed: {e}");
        }
        result
    }

    /// Reads `stream` page by page into the store, from its stored state on (or from the start
    /// of a new cycle, in full mode).
    #[allow(clippy::too_many_arguments)]
    async fn read_stream(
        &self,
        ctx: &JobContext,
        connection: &Connection,
        runtime: &Runtime,
        plugin: &Plugin,
        call: &Call,
        stream: &str,
        mode: Mode,
    ) -> Result<serde_json::Value, JobError> {
        let stored = self
            .store
            .sync_state(connection.id, stream)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        let mut sync = match mode {
            // A full sync starts a new cycle, unless the last one was interrupted: then it
            // resumes it, so what it already stored still counts as seen.
            Mode::Full if stored.complete || stored.cycle == 0 => SyncState {
                state: None,
                cycle: stored.cycle + 1,
                complete: false,
            },
            _ => stored,
        };
        // Totals carry over from earlier attempts (stored with their pages).
        let mut report = ctx.checkpoint().unwrap_or(SyncReport {
            records: 0,
            pages: 0,
            deleted: 0,
        });
        // The connector's progress reports go to the job, beside the records stored.
        let tally = progress::Tally::new(ctx, stream, report.records, report.pages);
        let call = tally.call(call);
        // One instance serves the stream's pages (a fresh one after any failure).
        let mut reader = runtime.reader(plugin, &call);
        let mut run = bounds::Run::new(self.limits, sync.state.as_deref());
        let mut page = ctx
            .unless_cancelled(reader.read(&connection.config, stream, sync.state.as_deref()))
            .await?
            .map_err(plugin_error)?;
        loop {
            if page.has_more {
                run.state(stream, &page.state)
                    .map_err(JobError::Permanent)?;
            }
            sync.state = Some(page.state);
            sync.complete = !page.has_more;
            let records: Vec<NewRecord<'_>> = page.records.iter().map(NewRecord::from).collect();
            let deletions = live_deletions(&page.deletions, &page.records);
            // Fenced by the job's lease, with the totals after this page as its checkpoint.
            let mut counted = SyncReport {
                records: report.records + records.len() as u64,
                pages: report.pages + 1,
                ..report
            };
            // A bound this page reaches ends the run once it is stored: nothing more is read.
            // Deletions count as records: each is a statement in the page's transaction.
            let entries = (records.len() + deletions.len()) as u64;
            let bound = if page.has_more {
                run.stored(stream, entries).err()
            } else {
                None
            };
            let read_ahead = page.has_more && bound.is_none() && !ctx.is_cancelled();
            let now = self.clock.now_ms();
            let (project, id) = (connection.project_id, connection.id);
            // Fenced by the job's lease: an attempt that lost it stores and reads nothing more.
            let mut page_write = self
                .store
                .begin_page(ctx.fence_with(&counted).as_ref(), now)
                .await
                .map_err(|e| JobError::store("storing a page", e))?;
            // The lease held, the next page is read while this one is stored, from the state
            // this one ends at: its plugin call starts here, before the page's statements are
            // built (see `Reader::read`).
            let next = OptionFuture::from(read_ahead.then(|| {
                let state = sync.state.as_deref();
                ctx.unless_cancelled(reader.read(&connection.config, stream, state))
            }));
            let write = async {
                page_write
                    .upsert(project, id, stream, &records, sync.cycle, now)
                    .await?;
                let marked = page_write.delete(id, stream, &deletions, now).await?;
                if marked > 0 {
                    // The checkpoint counts the records really marked, in the same transaction.
                    let after = SyncReport {
                        deleted: counted.deleted + marked,
                        ..counted
                    };
                    if let Some(fence) = ctx.fence_with(&after) {
                        page_write.checkpoint(&fence, now).await?;
                    }
                }
                page_write.commit(id, stream, &sync, now).await?;
                Ok::<u64, StoreError>(marked)
            };
            let (marked, next) = beside(write, next)
                .await
                .map_err(|e| JobError::store("storing a page", e))?;
            counted.deleted += marked;
            report = counted;
            metrics::counter!("agentic_sync_records_total").increment(records.len() as u64);
            tally.stored(report.records, report.pages);
            if let Some(bound) = bound {
                return Err(JobError::Permanent(bound));
            }
            if !page.has_more {
                break;
            }
            // Not read ahead: cancelled before it started.
            let Some(next) = next else {
                return Err(JobError::Cancelled);
            };
            page = next?.map_err(plugin_error)?;
            if ctx.is_cancelled() {
                return Err(JobError::Cancelled);
            }
        }
        if mode == Mode::Full {
            // Beside those the pages reported gone (counted as they were stored).
            report.deleted += self
                .store
                .mark_unseen_deleted(
                    ctx.fence().as_ref(),
                    connection.id,
                    stream,
                    sync.cycle,
                    self.clock.now_ms(),
                )
                .await
                .map_err(|e| JobError::store("marking unseen records deleted", e))?;
        }
        if let Some(listener) = &self.listener {
            listener
                .finished(connection, stream, ctx.job.id, &report)
                .await;
        }
        serde_json::to_value(report).map_err(|e| JobError::Permanent(e.to_string()))
    }
}

impl JobHandler for SyncHandler {
    fn kind(&self) -> &'static str {
        SYNC
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(self.sync(ctx))
    }
}

/// Enqueues a sync of `connection` (one stream, or all when `stream` is `None`); `parent` is
/// the job that asked, if any (its creator is kept).
pub async fn enqueue(
    store: &Store,
    parent: &Job,
    connection: &Connection,
    stream: Option<String>,
    mode: Mode,
    now: crate::clock::Millis,
) -> Result<Job, StoreError> {
    // A fan-out retried after a crash enqueues each stream once.
    let key = stream.as_ref().map(|s| format!("sync:{}:{s}", parent.id));
    request(store, connection, stream, mode, parent.created_by, key, now).await
}

/// Enqueues a sync job for a connection.
pub async fn request(
    store: &Store,
    connection: &Connection,
    stream: Option<String>,
    mode: Mode,
    created_by: Option<i64>,
    idempotency_key: Option<String>,
    now: crate::clock::Millis,
) -> Result<Job, StoreError> {
    let payload = SyncRequest {
        connection_id: connection.id,
        stream,
        mode,
    };
    let job = NewJob {
        idempotency_key,
        ..new_job(SYNC, Some(connection.project_id), &payload, created_by, now)
    };
    Ok(store.enqueue(&job, now).await?.0)
}

/// How long a sync waits for another sync of the same stream to finish, before trying again.
const STREAM_BUSY_RETRY_SECS: u64 = 5;

/// Runs `write` to its end with `read` beside it: a sync costs the slower of reading and
/// storing a page, not their sum. When the write fails, `read` is dropped at once (a plugin
/// call in it stops; the page it was reading is simply read again by the next run) and the
/// write's error returned. A read that fails or is cancelled does not stop the write: the page
/// already read is stored either way.
async fn beside<W, T, E>(
    write: impl Future<Output = Result<W, E>>,
    read: impl Future<Output = T>,
) -> Result<(W, T), E> {
    let (mut write, mut read) = (std::pin::pin!(write), std::pin::pin!(read));
    tokio::select! {
        written = &mut write => {
            let written = written?;
            Ok((written, read.await))
        }
        next = &mut read => {
            let written = write.await?;
            Ok((written, next))
        }
    }
}

/// The `deletions` of a page to apply: those no later record of the page (`records`) brings
/// back (entries of a page apply in order, so a record named after its deletion is not gone).
fn live_deletions<'a>(deletions: &'a [Deletion], records: &[Record]) -> Vec<DeletedRecord<'a>> {
    deletions
        .iter()
        .filter(|d| !d.superseded(records))
        .map(DeletedRecord::from)
        .collect()
}

/// A deletion in the store's shape, borrowed.
impl<'a> From<&'a Deletion> for DeletedRecord<'a> {
    fn from(deletion: &'a Deletion) -> Self {
        Self {
            kind: deletion.kind,
            external_id: deletion.external_id.as_str().into(),
        }
    }
}

/// The mode a sync of stream `spec` runs in when `asked`: a stream that cannot resume
/// incrementally is read in full (its stored state means nothing to an incremental read).
fn mode_for(spec: &StreamSpec, asked: Mode) -> Mode {
    if spec.incremental {
        asked
    } else {
        Mode::Full
    }
}

fn plugin_error(e: PluginError) -> JobError {
    match e {
        PluginError::Connector(c) => match c {
            ConnectorError::RateLimited(r) => JobError::RateLimited {
                retry_after_secs: u64::from(r.retry_after_secs),
                message: r.message,
            },
            ConnectorError::Transient(m) => JobError::Retry(format!("transient: {m}")),
            ConnectorError::Internal(m) => JobError::Retry(format!("connector error: {m}")),
            ConnectorError::Auth(m) => JobError::Permanent(format!("auth: {m}")),
            ConnectorError::Config(m) => JobError::Permanent(format!("config: {m}")),
            ConnectorError::InvalidInput(m) => JobError::Permanent(format!("invalid input: {m}")),
            ConnectorError::NotFound(m) => JobError::Permanent(format!("not found: {m}")),
        },
        // The same page would break the contract again.
        PluginError::InvalidOutput(m) => JobError::Permanent(format!("plugin output refused: {m}")),
        // Crashes, timeouts and limits may be load; a few more tries then dead.
        other => JobError::Retry(other.to_string()),
    }
}

/// A plugin record in the store's shape: the lift already built it; this borrows it.
impl<'a> From<&'a Record> for NewRecord<'a> {
    fn from(record: &'a Record) -> Self {
        Self {
            kind: record.kind,
            external_id: record.external_id().into(),
            title: record.title().into(),
            status: record.status().map(Into::into),
            source_updated_at: record.updated_at,
            data: record.data().into(),
        }
    }
}
