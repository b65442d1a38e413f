//! Synced records — the internal models connectors transform into — and the state of each
//! stream's sync.
//!
//! A page of records and the stream's new state are written in one transaction
//! ([`Store::store_page`]), so a sync stopped at any instant resumes from the last stored page:
//! nothing is lost, and as records are upserted on their source key (connection, stream,
//! external id), nothing is duplicated either. A sync job's writes are fenced by its lease
//! (see [`super::job_attempts`]): a worker that lost its lease stores nothing more.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::job_attempts::Fence;
pub use super::page_contents::{DeletedRecord, NewRecord, SyncState};
pub use super::page_write::PageWrite;
use super::{like_pattern, Page, Result, Store};
use crate::clock::Millis;

/// A stored record.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// Primary key.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The connection it came from.
    pub connection_id: i64,
    /// The stream.
    pub stream: String,
    /// The model.
    pub kind: String,
    /// The service's id.
    pub external_id: String,
    /// The record as JSON.
    pub data: String,
    /// Deleted at the source (seen missing by a full refresh, or reported gone by a page).
    pub deleted: bool,
    /// Last stored.
    pub synced_at: Millis,
}

/// Filters of a model list.
#[derive(Debug, Default)]
pub struct RecordFilter<'a> {
    /// Only from this connection.
    pub connection_id: Option<i64>,
    /// Exact status.
    pub status: Option<&'a str>,
    /// Title contains (case-insensitive).
    pub q: Option<&'a str>,
    /// Include records deleted at the source.
    pub include_deleted: bool,
}

fn record_from_row(row: &AnyRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        connection_id: row.try_get("connection_id")?,
        stream: row.try_get("stream")?,
        kind: row.try_get("kind")?,
        external_id: row.try_get("external_id")?,
        data: row.try_get("data")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        synced_at: row.try_get("synced_at")?,
    })
}

impl Store {
    /// The sync state of a stream (default: never synced).
    pub async fn sync_state(&self, connection_id: i64, stream: &str) -> Result<SyncState> {
        let row = sqlx::query(
            "SELECT state, cycle, complete FROM sync_states WHERE connection_id = $1 AND stream = $2",
        )
        .bind(connection_id)
        .bind(stream)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => SyncState {
                state: row.try_get("state")?,
                cycle: row.try_get("cycle")?,
                complete: row.try_get::<i64, _>("complete")? != 0,
            },
            None => SyncState::default(),
        })
    }

    /// Takes the stream's sync for `job`: `None` when it got it (or already held it), else the
    /// job that holds it. A holder that is not running any more holds nothing. Fenced like
    /// [`Store::store_page`].
    pub async fn lock_stream(
        &self,
        fence: Option<&Fence<'_>>,
        connection_id: i64,
        stream: &str,
        job: i64,
        now: Millis,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, now).await?;
        }
        let taken = sqlx::query(
            "INSERT INTO sync_states (connection_id, stream, state, cycle, complete, updated_at, \
             lock_job) VALUES ($1, $2, NULL, 0, 0, $3, $4) \
             ON CONFLICT (connection_id, stream) DO UPDATE SET lock_job = excluded.lock_job \
             WHERE sync_states.lock_job IS NULL OR sync_states.lock_job = excluded.lock_job \
             OR NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = sync_states.lock_job \
                            AND jobs.state = 'running') \
             RETURNING lock_job",
        )
        .bind(connection_id)
        .bind(stream)
        .bind(now)
        .bind(job)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            tx.commit().await?;
            return Ok(None);
        }
        let holder: Option<i64> = sqlx::query_scalar(
            "SELECT lock_job FROM sync_states WHERE connection_id = $1 AND stream = $2",
        )
        .bind(connection_id)
        .bind(stream)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        tx.commit().await?;
        Ok(Some(holder.unwrap_or_default()))
    }

    /// Gives the stream's sync up, if `job` holds it. Fenced like [`Store::store_page`]: an
    /// attempt that lost its lease must not free the lock of the attempt that took over.
    pub async fn unlock_stream(
        &self,
        fence: Option<&Fence<'_>>,
        connection_id: i64,
        stream: &str,
        job: i64,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, now).await?;
        }
        sqlx::query(
            "UPDATE sync_states SET lock_job = NULL \
             WHERE connection_id = $1 AND stream = $2 AND lock_job = $3",
        )
        .bind(connection_id)
        .bind(stream)
        .bind(job)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores one page: its records (upserted on their source key) and the stream's state
    /// after it, in one transaction. With a `fence` (a sync job's), the transaction first
    /// checks the job's lease and stores its checkpoint; a lost lease is
    /// [`super::StoreError::LeaseLost`] and nothing is written. [`Store::begin_page`] and
    /// [`PageWrite::store`] in one call.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_page(
        &self,
        fence: Option<&Fence<'_>>,
        project_id: i64,
        connection_id: i64,
        stream: &str,
        records: &[NewRecord<'_>],
        state: &SyncState,
        now: Millis,
    ) -> Result<()> {
        self.begin_page(fence, now)
            .await?
            .store(project_id, connection_id, stream, records, state, now)
            .await
    }

    /// The first half of [`Store::store_page`]: begins the page's transaction and, with a
    /// `fence`, checks the job's lease and stores its checkpoint. Apart so that a caller knows
    /// when the lease is confirmed: from then until the page commits, no other attempt can
    /// take the job (the transaction holds its row), so the sync engine starts reading the
    /// next page only from here on, and an attempt that lost its lease reads nothing more.
    pub async fn begin_page(&self, fence: Option<&Fence<'_>>, now: Millis) -> Result<PageWrite> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, now).await?;
        }
        Ok(PageWrite::new(tx, self.backend))
    }

    /// After a completed full refresh: records of the stream that cycle did not see are marked
    /// deleted, and the documents mirrored from them go (see `synced_documents`). Returns how
    /// many records. Fenced like [`Store::store_page`].
    pub async fn mark_unseen_deleted(
        &self,
        fence: Option<&Fence<'_>>,
        connection_id: i64,
        stream: &str,
        cycle: i64,
        now: Millis,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        if let Some(fence) = fence {
            Self::hold_lease(&mut tx, fence, now).await?;
        }
        let n = sqlx::query(
            "UPDATE records SET deleted = 1 WHERE connection_id = $1 AND stream = $2 \
             AND cycle < $3 AND deleted = 0",
        )
        .bind(connection_id)
        .bind(stream)
        .bind(cycle)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        super::synced_documents::unmirror_deleted(&mut tx, connection_id, stream).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// A project's records of one model, in id order, a page at a time.
    pub async fn list_records(
        &self,
        project_id: i64,
        kind: &str,
        filter: &RecordFilter<'_>,
        after: i64,
        limit: i64,
    ) -> Result<Page<StoredRecord>> {
        let rows = sqlx::query(
            "SELECT id, project_id, connection_id, stream, kind, external_id, data, deleted, synced_at \
             FROM records WHERE project_id = $1 AND kind = $2 AND id > $3 \
             AND ($4 IS NULL OR connection_id = $4) AND ($5 IS NULL OR status = $5) \
             AND ($6 IS NULL OR LOWER(title) LIKE $6 ESCAPE '\\') AND ($7 = 1 OR deleted = 0) \
             ORDER BY id LIMIT $8",
        )
        .bind(project_id)
        .bind(kind)
        .bind(after)
        .bind(filter.connection_id)
        .bind(filter.status)
        .bind(filter.q.map(like_pattern))
        .bind(i64::from(filter.include_deleted))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let records = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(records, limit, |r| r.id))
    }
}

/// A comment an agent writes on a record ([`Store::add_agent_comment`]).
#[derive(Debug)]
pub struct NewAgentComment<'a> {
    /// The commented record's connection: the comment is stored beside it.
    pub connection_id: i64,
    /// Unique within the connection's [`AGENT_COMMENTS`] stream.
    pub external_id: &'a str,
    /// What people search by (the text's first line).
    pub title: &'a str,
    /// The `comment` model's fields (JSON object).
    pub data: &'a str,
}

/// The stream of the comments agents write: no connector reads it, so no sync replaces or
/// deletes them.
pub const AGENT_COMMENTS: &str = "agent-comments";

impl Store {
    /// One record of a project (also one deleted at the source); [`super::StoreError::NotFound`]
    /// when the project has none of that id.
    pub async fn project_record(&self, project_id: i64, id: i64) -> Result<StoredRecord> {
        let row = sqlx::query(
            "SELECT id, project_id, connection_id, stream, kind, external_id, data, deleted, synced_at \
             FROM records WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => record_from_row(&row),
            None => Err(super::StoreError::NotFound),
        }
    }

    /// Stores an agent's comment as a `comment` record of `project_id` in the
    /// [`AGENT_COMMENTS`] stream of the commented record's connection; returns its id.
    pub async fn add_agent_comment(
        &self,
        project_id: i64,
        comment: &NewAgentComment<'_>,
        now: Millis,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
             status, data, source_updated_at, synced_at) \
             VALUES ($1, $2, $3, 'comment', $4, $5, NULL, $6, $7, $7) RETURNING id",
        )
        .bind(project_id)
        .bind(comment.connection_id)
        .bind(AGENT_COMMENTS)
        .bind(comment.external_id)
        .bind(comment.title)
        .bind(comment.data)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}
