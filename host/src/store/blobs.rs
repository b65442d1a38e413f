//! Bytes kept in the database: a `blobs` row per blob and its content in `blob_chunks` of at
//! most [`CHUNK_BYTES`], so no statement carries a whole file and a download reads one chunk at
//! a time. [`crate::documents::blobs::DatabaseBlobs`] is the blob store built on this.

use sqlx::{Any, Transaction};

use std::sync::Arc;

use super::health::WriteHealth;
use super::{Result, Store, StoreError};
use crate::clock::Millis;

/// Largest chunk written to `blob_chunks`.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// A blob being written: chunks go in one transaction, so a blob is either whole or absent.
#[derive(Debug)]
pub struct BlobWriter {
    tx: Transaction<'static, Any>,
    id: i64,
    seq: i64,
    size: i64,
    /// Told whether the blob could be written (a full database shows here first).
    health: Arc<WriteHealth>,
}

impl BlobWriter {
    /// Appends one chunk (at most [`CHUNK_BYTES`]; empty chunks are skipped).
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        sqlx::query("INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
            .bind(self.id)
            .bind(self.seq)
            .bind(data)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.failed(e))?;
        self.seq += 1;
        self.size += i64::try_from(data.len()).unwrap_or(i64::MAX);
        Ok(())
    }

    /// Commits the blob; returns its id.
    pub async fn finish(mut self) -> Result<i64> {
        sqlx::query("UPDATE blobs SET size = $2 WHERE id = $1")
            .bind(self.id)
            .bind(self.size)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.failed(e))?;
        let health = self.health.clone();
        self.tx.commit().await.map_err(|e| {
            let e = StoreError::from(e);
            health.failed(&e);
            e
        })?;
        health.succeeded();
        Ok(self.id)
    }

    fn failed(&self, e: sqlx::Error) -> StoreError {
        let e = StoreError::from(e);
        self.health.failed(&e);
        e
    }
}

impl Store {
    /// Starts a new blob; nothing is visible until [`BlobWriter::finish`].
    pub async fn begin_blob(&self, now: Millis) -> Result<BlobWriter> {
        let mut tx = self.begin_write().await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO blobs (size, created_at) VALUES (0, $1) RETURNING id")
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    let e = StoreError::from(e);
                    self.health.failed(&e);
                    e
                })?;
        Ok(BlobWriter {
            tx,
            id,
            seq: 0,
            size: 0,
            health: self.health.clone(),
        })
    }

    /// The size of a blob, or [`StoreError::NotFound`].
    pub async fn blob_size(&self, id: i64) -> Result<i64> {
        sqlx::query_scalar("SELECT size FROM blobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Chunk `seq` (from 0) of a blob; `None` past the last one.
    pub async fn blob_chunk(&self, id: i64, seq: i64) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2")
                .bind(id)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Deletes a blob and its chunks; returns whether it existed.
    pub async fn delete_blob(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM blobs WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
