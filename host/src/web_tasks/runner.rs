//! The `web_task.run` job: runs a task's steps in order, records each step's result on the
//! run, and stores the extracted data as a JSON document in the task's project.
//!
//! A step that fails (refused by the egress rules, an HTTP error status, a missing form, a page
//! past the size cap) ends the run `failed` with the remaining steps `skipped`; that is the
//! run's outcome, not a job failure, so it is not retried. Only the host's own trouble (the
//! database) fails the job, which then retries the same run from its first step.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::session::{Page, Session};
use super::{html, Step, WebLimits, DEFAULT_EXTRACT_LIMIT, RUN};
use crate::clock::Clock;
use crate::documents::blobs::Blobs;
use crate::documents::TEXT_EXCERPT_BYTES;
use crate::ids::{JobId, ProjectId, UserId, WebTaskId, WebTaskRunId};
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::names::named_enum;
use crate::plugins::egress::Clients;
use crate::store::documents::{DocumentFields, NewVersion};
use crate::store::web_tasks::{RunOutcome, RunState, WebTask, WebTaskRun};
use crate::store::{Store, StoreError};

/// A run job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    /// The task.
    pub task_id: i64,
    /// The run created when it was asked for through the API; absent for scheduled runs,
    /// which create their own.
    #[serde(default)]
    pub run_id: Option<i64>,
}

named_enum! {
    /// How one step of a run went.
    pub enum StepStatus as "step status" {
        /// It did what it says.
        Succeeded = "succeeded",
        /// It failed (or the run was cancelled during it); `error` says why.
        Failed = "failed",
        /// Not run: an earlier step failed.
        Skipped = "skipped",
    }
}

/// The result of one step, as the run shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepResult {
    /// Position in the task, from 0.
    pub index: usize,
    /// The step's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// How the step went.
    pub status: StepStatus,
    /// The page it ended on (navigate, fetch, submit_form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The HTTP status of that page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Milliseconds it took.
    pub duration_ms: u64,
    /// The data key (extract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The values extracted (extract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a step did.
#[derive(Debug, Default)]
struct Done {
    page: Option<(String, u16)>,
    values: Option<(String, Vec<String>)>,
}

/// Runs web tasks.
pub struct WebTaskHandler {
    store: Store,
    blobs: Blobs,
    clock: Arc<dyn Clock>,
    clients: Clients,
    limits: WebLimits,
}

impl std::fmt::Debug for WebTaskHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebTaskHandler")
    }
}

/// A store error: a lost lease stops the attempt ([`JobError::LeaseLost`]), anything else is
/// retried.
fn retry(e: StoreError) -> JobError {
    match e {
        StoreError::LeaseLost => JobError::LeaseLost,
        other => JobError::Retry(other.to_string()),
    }
}

impl WebTaskHandler {
    /// The handler of a host; fails only when the HTTP clients cannot be built.
    pub fn new(
        store: Store,
        blobs: Blobs,
        clock: Arc<dyn Clock>,
        limits: WebLimits,
    ) -> Result<Self, String> {
        Ok(Self {
            store,
            blobs,
            clock,
            clients: Clients::new()?,
            limits,
        })
    }

    async fn execute(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let request: RunRequest = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("bad web task payload: {e}")))?;
        let task = self
            .store
            .web_task_by_id(request.task_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => JobError::Permanent("the task no longer exists".into()),
                other => retry(other),
            })?;
        let run = self.the_run(ctx, &task, request.run_id).await?;
        self.store
            .start_web_task_run(run.id, self.clock.now_ms())
            .await
            .map_err(retry)?;
        let steps: Vec<Step> = serde_json::from_str(&task.steps)
            .map_err(|e| JobError::Permanent(format!("the task's steps are unreadable: {e}")))?;
        let hosts: Vec<String> = serde_json::from_str(&task.allowed_hosts).unwrap_or_default();
        let target = url::Url::parse(&task.target_url)
            .map_err(|e| JobError::Permanent(format!("the task's target URL: {e}")))?;
        let mut session = Session::new(
            &self.clients,
            hosts,
            task.allow_private_network,
            self.limits.clone(),
        );
        let mut page: Option<Page> = None;
        let mut results = Vec::with_capacity(steps.len());
        let mut data = serde_json::Map::new();
        let mut failure: Option<String> = None;
        let total = i64::try_from(steps.len()).unwrap_or(i64::MAX);
        for (index, step) in steps.iter().enumerate() {
            let mut result = StepResult {
                index,
                kind: step.kind().into(),
                status: StepStatus::Skipped,
                url: None,
                http_status: None,
                duration_ms: 0,
                name: None,
                values: None,
                error: None,
            };
            if failure.is_some() {
                results.push(result);
                continue;
            }
            ctx.progress(
                i64::try_from(index).unwrap_or(0),
                Some(total),
                format!("step {} of {total}: {}", index + 1, step.kind()),
            );
            let started = Instant::now();
            let outcome = ctx
                .unless_cancelled(self.step(&mut session, &target, &mut page, step))
                .await;
            result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match outcome {
                Err(JobError::Cancelled) => {
                    result.status = StepStatus::Failed;
                    result.error = Some("cancelled".into());
                    results.push(result);
                    self.finish(
                        ctx,
                        &run,
                        RunState::Cancelled,
                        &results,
                        Some("cancelled"),
                        None,
                    )
                    .await?;
                    return Err(JobError::Cancelled);
                }
                Err(other) => return Err(other),
                Ok(Ok(done)) => {
                    result.status = StepStatus::Succeeded;
                    if let Some((url, status)) = done.page {
                        result.url = Some(url);
                        result.http_status = Some(status);
                    }
                    if let Some((name, values)) = done.values {
                        data.insert(name.clone(), serde_json::json!(values));
                        result.name = Some(name);
                        result.values = Some(values);
                    }
                }
                Ok(Err(why)) => {
                    result.status = StepStatus::Failed;
                    if let Some(p) = &page {
                        result.url.get_or_insert_with(|| p.url.to_string());
                    }
                    failure = Some(format!("step {} ({}): {why}", index + 1, step.kind()));
                    result.error = Some(why);
                }
            }
            results.push(result);
        }
        ctx.progress(total, Some(total), "done");
        let state = if failure.is_some() {
            RunState::Failed
        } else {
            RunState::Succeeded
        };
        let document_id = if data.is_empty() {
            None
        } else {
            self.store_document(&task, &run, state, &data, page.as_ref())
                .await?
        };
        self.finish(ctx, &run, state, &results, failure.as_deref(), document_id)
            .await?;
        Ok(serde_json::json!({
            "run_id": run.id,
            "run_number": run.number,
            "state": state,
            "requests": session.sent(),
            "document_id": document_id,
            "error": failure,
        }))
    }

    /// The run this job executes: the one named, the one a retried attempt started, or (for a
    /// scheduled job) a new one linked to the job.
    async fn the_run(
        &self,
        ctx: &JobContext,
        task: &WebTask,
        run_id: Option<i64>,
    ) -> Result<WebTaskRun, JobError> {
        if let Some(run) = self
            .store
            .web_task_run_of_job(ctx.job.id)
            .await
            .map_err(retry)?
        {
            return Ok(run);
        }
        if let Some(id) = run_id {
            let run = self
                .store
                .get_web_task_run(
                    ProjectId(task.project_id),
                    WebTaskId(task.id),
                    WebTaskRunId(id),
                )
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => JobError::Permanent("the run no longer exists".into()),
                    other => retry(other),
                })?;
            self.store
                .set_web_task_run_job(WebTaskRunId(run.id), JobId(ctx.job.id))
                .await
                .map_err(retry)?;
            return Ok(run);
        }
        let run = self
            .store
            .create_web_task_run(
                WebTaskId(task.id),
                "schedule",
                ctx.job.created_by.map(UserId),
                self.clock.now_ms(),
            )
            .await
            .map_err(retry)?;
        self.store
            .set_web_task_run_job(WebTaskRunId(run.id), JobId(ctx.job.id))
            .await
            .map_err(retry)?;
        Ok(run)
    }

    async fn step(
        &self,
        session: &mut Session,
        target: &url::Url,
        page: &mut Option<Page>,
        step: &Step,
    ) -> Result<Done, String> {
        let base = page.as_ref().map_or(target, |p| &p.url).clone();
        let fetched = match step {
            Step::Navigate { url } => {
                let url = base.join(url).map_err(|e| format!("bad URL: {e}"))?;
                session.request(reqwest::Method::GET, url, None).await?
            }
            Step::Fetch { url, method } => {
                let url = base.join(url).map_err(|e| format!("bad URL: {e}"))?;
                let method = match method {
                    super::FetchMethod::Get => reqwest::Method::GET,
                    super::FetchMethod::Post => reqwest::Method::POST,
                };
                session.request(method, url, None).await?
            }
            Step::SubmitForm { selector, fields } => {
                let current = page.as_ref().ok_or("no page has been fetched yet")?;
                let form = html::fill_form(&current.body, &current.url, selector, fields)?;
                session.request(form.method, form.url, form.body).await?
            }
            Step::Extract {
                selector,
                attribute,
                name,
                limit,
            } => {
                let current = page.as_ref().ok_or("no page has been fetched yet")?;
                let limit = limit.unwrap_or(DEFAULT_EXTRACT_LIMIT) as usize;
                let values = html::extract(&current.body, selector, attribute.as_deref(), limit)?;
                return Ok(Done {
                    page: None,
                    values: Some((name.clone(), values)),
                });
            }
            Step::Wait { millis } => {
                tokio::time::sleep(std::time::Duration::from_millis(*millis)).await;
                return Ok(Done::default());
            }
        };
        let (url, status) = (fetched.url.to_string(), fetched.status);
        *page = Some(fetched);
        if status >= 400 {
            return Err(format!("{url} answered HTTP {status}"));
        }
        Ok(Done {
            page: Some((url, status)),
            values: None,
        })
    }

    async fn finish(
        &self,
        ctx: &JobContext,
        run: &WebTaskRun,
        state: RunState,
        results: &[StepResult],
        error: Option<&str>,
        document_id: Option<i64>,
    ) -> Result<(), JobError> {
        let steps = serde_json::to_string(results).unwrap_or_else(|_| "[]".into());
        let outcome = RunOutcome {
            state,
            steps: &steps,
            error,
            document_id,
        };
        self.store
            .finish_web_task_run(ctx.fence().as_ref(), run.id, &outcome, self.clock.now_ms())
            .await
            .map_err(retry)
    }

    /// Stores the extracted data as a JSON document of the task's project, owned by whoever
    /// asked for the run (the task's creator for scheduled runs).
    async fn store_document(
        &self,
        task: &WebTask,
        run: &WebTaskRun,
        state: RunState,
        data: &serde_json::Map<String, serde_json::Value>,
        page: Option<&Page>,
    ) -> Result<Option<i64>, JobError> {
        let Some(owner) = run.requested_by.or(task.created_by) else {
            tracing::warn!(
                task = task.id,
                run = run.id,
                "no user to own the run's document"
            );
            return Ok(None);
        };
        let content = serde_json::json!({
            "source": {"web_task_id": task.id, "task": task.name, "run_id": run.id, "run_number": run.number},
            "state": state,
            "url": page.map(|p| p.url.to_string()),
            "data": data,
        });
        let bytes = serde_json::to_vec_pretty(&content).unwrap_or_default();
        let now = self.clock.now_ms();
        let writer = self.blobs.writer();
        let mut source: &[u8] = &bytes;
        let key = writer
            .put(&mut source, now)
            .await
            .map_err(|e| JobError::Retry(format!("storing the run's document: {e}")))?;
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let text_end = bytes.len().min(TEXT_EXCERPT_BYTES);
        let text = String::from_utf8_lossy(&bytes[..text_end])
            .to_lowercase()
            .replace('\0', "");
        let title = format!("{} run {}", task.name, run.number);
        let filename = format!("web-task-{}-run-{}.json", task.id, run.number);
        let metadata = serde_json::json!({
            "source": "web_task", "web_task_id": task.id, "web_task_run_id": run.id,
            "run_number": run.number,
        })
        .to_string();
        let tags = vec!["web-task".to_owned()];
        let fields = DocumentFields {
            title: &title,
            tags: &tags,
            metadata: &metadata,
        };
        let version = NewVersion {
            filename: &filename,
            content_type: "application/json",
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: &sha256,
            blob_store: writer.name(),
            blob_key: &key,
            content_text: Some(&text),
        };
        match self
            .store
            .create_document(task.project_id, &fields, &version, owner, now)
            .await
        {
            Ok(document) => Ok(Some(document.id)),
            Err(e) => {
                // Nothing stays behind: the bytes go with the failed document.
                let _ = writer.delete(&key).await;
                Err(retry(e))
            }
        }
    }
}

impl JobHandler for WebTaskHandler {
    fn kind(&self) -> &'static str {
        RUN
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> JobFuture<'a> {
        Box::pin(self.execute(ctx))
    }
}
