//! Web-automation tasks and their runs. Every task query names the project, so a task is only
//! ever reached through the project it belongs to.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Page, Result, Store, StoreError};
use crate::clock::Millis;
use crate::ids::{JobId, ProjectId, UserId, WebTaskId, WebTaskRunId};
use crate::names::named_enum;

/// A web-automation task.
#[derive(Debug, Clone)]
pub struct WebTask {
    /// Primary key.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Unique within the project.
    pub name: String,
    /// The site the task works on; relative step URLs resolve against it.
    pub target_url: String,
    /// Host patterns the task may reach (JSON array text).
    pub allowed_hosts: String,
    /// Whether the task may reach private and loopback addresses.
    pub allow_private_network: bool,
    /// The steps (JSON array text).
    pub steps: String,
    /// Runs so far (the last run's number).
    pub run_count: i64,
    /// Creator; owns the documents of scheduled runs.
    pub created_by: Option<i64>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// The fields of a task to write.
#[derive(Debug)]
pub struct WebTaskFields<'a> {
    /// Name.
    pub name: &'a str,
    /// Target URL.
    pub target_url: &'a str,
    /// Host patterns (JSON array text).
    pub allowed_hosts: &'a str,
    /// Private network allowed.
    pub allow_private_network: bool,
    /// Steps (JSON array text).
    pub steps: &'a str,
}

named_enum! {
    /// Where a run of a web task is, as the API names it.
    pub enum RunState as "web task run state" {
        /// Waiting for a worker.
        Queued = "queued",
        /// A worker is running its steps.
        Running = "running",
        /// Every step passed.
        Succeeded = "succeeded",
        /// A step failed (`error` says which and why).
        Failed = "failed",
        /// Stopped at someone's request.
        Cancelled = "cancelled",
    }
}

/// One run of a task.
#[derive(Debug, Clone)]
pub struct WebTaskRun {
    /// Primary key.
    pub id: i64,
    /// The task.
    pub task_id: i64,
    /// 1, 2, … within the task.
    pub number: i64,
    /// The job that runs it.
    pub job_id: Option<i64>,
    /// `manual` or `schedule`.
    pub origin: String,
    /// Where the run is.
    pub state: RunState,
    /// Per-step results (JSON array text).
    pub steps: String,
    /// Why the run failed.
    pub error: Option<String>,
    /// The document holding the extracted data.
    pub document_id: Option<i64>,
    /// Who asked for it (`None` for scheduled runs).
    pub requested_by: Option<i64>,
    /// When it was asked for.
    pub created_at: Millis,
    /// When a worker started it.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome<'a> {
    /// `succeeded`, `failed` or `cancelled`.
    pub state: RunState,
    /// Per-step results (JSON array text).
    pub steps: &'a str,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// The document with the extracted data.
    pub document_id: Option<i64>,
}

const TASK_COLUMNS: &str = "id, project_id, name, target_url, allowed_hosts, \
                            allow_private_network, steps, run_count, created_by, created_at, \
                            updated_at";

const RUN_COLUMNS: &str = "id, task_id, number, job_id, origin, state, steps, error, document_id, \
                           requested_by, created_at, started_at, finished_at";

fn task_from_row(row: &AnyRow) -> Result<WebTask> {
    Ok(WebTask {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        target_url: row.try_get("target_url")?,
        allowed_hosts: row.try_get("allowed_hosts")?,
        allow_private_network: row.try_get::<i64, _>("allow_private_network")? != 0,
        steps: row.try_get("steps")?,
        run_count: row.try_get("run_count")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn run_from_row(row: &AnyRow) -> Result<WebTaskRun> {
    Ok(WebTaskRun {
        id: row.try_get("id")?,
        task_id: row.try_get("task_id")?,
        number: row.try_get("number")?,
        job_id: row.try_get("job_id")?,
        origin: row.try_get("origin")?,
        state: super::decode_name(row, "state")?,
        steps: row.try_get("steps")?,
        error: row.try_get("error")?,
        document_id: row.try_get("document_id")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Store {
    /// Creates a task.
    pub async fn create_web_task(
        &self,
        project_id: ProjectId,
        f: &WebTaskFields<'_>,
        by: UserId,
        now: Millis,
    ) -> Result<WebTask> {
        let row = sqlx::query(&format!(
            "INSERT INTO web_tasks (project_id, name, target_url, allowed_hosts, \
             allow_private_network, steps, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {TASK_COLUMNS}"
        ))
        .bind(project_id.get())
        .bind(f.name)
        .bind(f.target_url)
        .bind(f.allowed_hosts)
        .bind(i64::from(f.allow_private_network))
        .bind(f.steps)
        .bind(by.get())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        task_from_row(&row)
    }

    /// Rewrites a task's fields.
    pub async fn update_web_task(
        &self,
        project_id: ProjectId,
        id: WebTaskId,
        f: &WebTaskFields<'_>,
        now: Millis,
    ) -> Result<WebTask> {
        let row = sqlx::query(&format!(
            "UPDATE web_tasks SET name = $3, target_url = $4, allowed_hosts = $5, \
             allow_private_network = $6, steps = $7, updated_at = $8 \
             WHERE id = $1 AND project_id = $2 RETURNING {TASK_COLUMNS}"
        ))
        .bind(id.get())
        .bind(project_id.get())
        .bind(f.name)
        .bind(f.target_url)
        .bind(f.allowed_hosts)
        .bind(i64::from(f.allow_private_network))
        .bind(f.steps)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        task_from_row(&row)
    }

    /// One task of a project.
    pub async fn get_web_task(&self, project_id: ProjectId, id: WebTaskId) -> Result<WebTask> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM web_tasks WHERE id = $1 AND project_id = $2"
        ))
        .bind(id.get())
        .bind(project_id.get())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        task_from_row(&row)
    }

    /// A task by id alone (the job runner; the API always names the project).
    pub async fn web_task_by_id(&self, id: i64) -> Result<WebTask> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM web_tasks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        task_from_row(&row)
    }

    /// A project's tasks in id order.
    pub async fn list_web_tasks(
        &self,
        project_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WebTask>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM web_tasks WHERE project_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(project_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(tasks, limit, |t| t.id))
    }

    /// Deletes a task with its runs (their documents stay).
    pub async fn delete_web_task(&self, project_id: ProjectId, id: WebTaskId) -> Result<()> {
        let done = sqlx::query("DELETE FROM web_tasks WHERE id = $1 AND project_id = $2")
            .bind(id.get())
            .bind(project_id.get())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Adds the next run of a task (numbered under the task's row lock), queued.
    pub async fn create_web_task_run(
        &self,
        task_id: WebTaskId,
        origin: &str,
        requested_by: Option<UserId>,
        now: Millis,
    ) -> Result<WebTaskRun> {
        let mut tx = self.begin_write().await?;
        let number: i64 = sqlx::query_scalar(
            "UPDATE web_tasks SET run_count = run_count + 1 WHERE id = $1 RETURNING run_count",
        )
        .bind(task_id.get())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let row = sqlx::query(&format!(
            "INSERT INTO web_task_runs (task_id, number, origin, state, requested_by, created_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING {RUN_COLUMNS}"
        ))
        .bind(task_id.get())
        .bind(number)
        .bind(origin)
        .bind(requested_by.map(UserId::get))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        run_from_row(&row)
    }

    /// Links a run to the job that runs it.
    pub async fn set_web_task_run_job(&self, run_id: WebTaskRunId, job_id: JobId) -> Result<()> {
        sqlx::query("UPDATE web_task_runs SET job_id = $2 WHERE id = $1")
            .bind(run_id.get())
            .bind(job_id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The run a job runs, if one is linked to it.
    pub async fn web_task_run_of_job(&self, job_id: i64) -> Result<Option<WebTaskRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM web_task_runs WHERE job_id = $1"
        ))
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// One run of a task of a project.
    pub async fn get_web_task_run(
        &self,
        project_id: ProjectId,
        task_id: WebTaskId,
        id: WebTaskRunId,
    ) -> Result<WebTaskRun> {
        let row = sqlx::query(&format!(
            "SELECT r.{} FROM web_task_runs r JOIN web_tasks t ON t.id = r.task_id \
             WHERE r.id = $1 AND r.task_id = $2 AND t.project_id = $3",
            RUN_COLUMNS.replace(", ", ", r.")
        ))
        .bind(id.get())
        .bind(task_id.get())
        .bind(project_id.get())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        run_from_row(&row)
    }

    /// A task's runs, newest last (id order).
    pub async fn list_web_task_runs(
        &self,
        task_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WebTaskRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM web_task_runs WHERE task_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(task_id)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let runs = rows.iter().map(run_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(runs, limit, |r| r.id))
    }

    /// Marks a run started (again, on a retried attempt: earlier results are dropped).
    pub async fn start_web_task_run(&self, id: i64, now: Millis) -> Result<()> {
        sqlx::query(
            "UPDATE web_task_runs SET state = 'running', steps = '[]', error = NULL, \
             started_at = $2, finished_at = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records how a run ended. With a `fence` (the run's job), only while the job's attempt
    /// holds its lease ([`super::StoreError::LeaseLost`] otherwise, and nothing is written).
    pub async fn finish_web_task_run(
        &self,
        fence: Option<&super::job_attempts::Fence<'_>>,
        id: i64,
        outcome: &RunOutcome<'_>,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, now).await?;
        }
        sqlx::query(
            "UPDATE web_task_runs SET state = $2, steps = $3, error = $4, document_id = $5, \
             finished_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(outcome.state.as_str())
        .bind(outcome.steps)
        .bind(outcome.error)
        .bind(outcome.document_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
