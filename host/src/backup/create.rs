//! Taking a backup: a snapshot of the database (it keeps serving), every table exported in
//! parts, the filesystem blobs its document versions name, the manifest first and the
//! checksums last — streamed through the archive writer into a directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use age::x25519::Recipient;
use futures_util::TryStreamExt;
use tokio::sync::mpsc;

use super::archive::{self, Out};
use super::destination::{Directory, Receipt};
use super::format::{self, Checksums, Manifest, TableEntry};
use super::{BackupError, Progress, Result};
use crate::clock::Millis;
use crate::store::backup::Select;
use crate::store::Store;

/// A backup made.
#[derive(Debug, Clone)]
pub struct Created {
    /// Where it is.
    pub path: PathBuf,
    /// Its receipt (size, SHA-256, versions).
    pub receipt: Receipt,
    /// Its manifest (tables and row counts).
    pub manifest: Manifest,
    /// Blobs named by a version but gone when read.
    pub missing_blobs: Vec<String>,
}

/// Makes a backup of `store` (and of the filesystem blobs in `blob_dir`) into `destination`,
/// encrypted to `recipients`, as of `now`.
pub async fn create(
    store: &Store,
    blob_dir: &Path,
    recipients: Vec<Recipient>,
    destination: &Directory,
    now: Millis,
    progress: &dyn Progress,
) -> Result<Created> {
    if recipients.is_empty() {
        return Err(BackupError::Config("no backup recipient".into()));
    }
    let started = Instant::now();
    let pending = destination.begin(now)?;
    let file = pending.file.try_clone()?;
    let (tx, rx) = mpsc::channel::<Out>(4);
    let mtime = u64::try_from(now.as_secs()).unwrap_or(0);
    let writer = tokio::task::spawn_blocking(move || archive::write(file, &recipients, mtime, rx));
    let exported = export(store, blob_dir, now, &tx, progress).await;
    let result = match exported {
        Ok(manifest) => {
            // The writer ends when it has written the checksums; a failure of its own shows here.
            let _ = tx.send(Out::Finish).await;
            drop(tx);
            join(writer).await.map(|w| (manifest, w))
        }
        Err(e) => {
            drop(tx);
            // The writer's own error, if it failed first, says more than the closed channel.
            match join(writer).await {
                Err(writer_error) if matches!(e, BackupError::Io(_)) => Err(writer_error),
                _ => Err(e),
            }
        }
    };
    progress.finish();
    let (manifest, written) = result?;
    let receipt = Receipt {
        name: String::new(),
        created_at: manifest.created_at,
        host_version: manifest.host_version.clone(),
        source_backend: manifest.source_backend.clone(),
        schema_version: manifest.schema_version,
        size: written.size,
        sha256: written.sha256,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let path = destination.commit(pending, receipt.clone())?;
    let receipt = super::destination::read_receipt(&path).unwrap_or(receipt);
    let Checksums { missing_blobs, .. } = written.checksums;
    Ok(Created {
        path,
        receipt,
        manifest,
        missing_blobs,
    })
}

async fn join(
    writer: tokio::task::JoinHandle<Result<archive::Written>>,
) -> Result<archive::Written> {
    writer
        .await
        .map_err(|e| BackupError::Io(std::io::Error::other(format!("backup writer: {e}"))))?
}

/// A closed channel means the writer stopped; its error is the one to report.
fn writer_gone() -> BackupError {
    BackupError::Io(std::io::Error::other("the archive writer stopped"))
}

async fn export(
    store: &Store,
    blob_dir: &Path,
    now: Millis,
    tx: &mpsc::Sender<Out>,
    progress: &dyn Progress,
) -> Result<Manifest> {
    let mut snapshot = store.snapshot().await?;
    let schema = snapshot.schema().await?;
    let mut tables = Vec::with_capacity(schema.tables.len());
    for (name, columns) in &schema.tables {
        tables.push(TableEntry {
            name: name.clone(),
            columns: columns.clone(),
            rows: snapshot.count(name).await?,
        });
    }
    let blob_keys = snapshot.filesystem_blob_keys().await?;
    let manifest = Manifest {
        format: format::FORMAT,
        created_at: now,
        host_version: env!("CARGO_PKG_VERSION").to_owned(),
        source_backend: format::backend_name(snapshot.backend()).to_owned(),
        schema_version: schema.schema_version,
        tables,
        sequences: schema.sequences,
        blobs: blob_keys.len() as u64,
    };
    let total: i64 = manifest.tables.iter().map(|t| t.rows).sum();
    progress.start("backup", u64::try_from(total).unwrap_or(0) + manifest.blobs);
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io(e.into()))?;
    send(tx, format::MANIFEST.to_owned(), bytes).await?;
    for table in &manifest.tables {
        let select = Select::new(&table.name, &table.columns)?;
        let mut rows = snapshot.rows(&select)?;
        let mut part = Vec::new();
        let mut n = 0u32;
        let mut count = 0i64;
        let mut in_part = 0u64;
        while let Some(row) = rows.try_next().await? {
            format::encode_row(&mut part, &row);
            count += 1;
            in_part += 1;
            if part.len() >= format::PART_BYTES {
                send(
                    tx,
                    format::part_path(&table.name, n),
                    std::mem::take(&mut part),
                )
                .await?;
                progress.advance(in_part);
                in_part = 0;
                n += 1;
            }
        }
        if !part.is_empty() {
            send(tx, format::part_path(&table.name, n), part).await?;
            progress.advance(in_part);
        }
        if count != table.rows {
            return Err(BackupError::Damaged(format!(
                "{} gave {count} rows where the snapshot counted {}",
                table.name, table.rows
            )));
        }
    }
    snapshot.close().await;
    for key in blob_keys {
        // The filesystem store's keys are 32 hex digits (see `documents::blobs::FileBlobs`);
        // anything else never names a file.
        if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BackupError::Damaged(format!(
                "a document version names the filesystem blob {key:?}, which is not a blob key"
            )));
        }
        let file = blob_dir.join(&key);
        tx.send(Out::Blob { key, file })
            .await
            .map_err(|_| writer_gone())?;
        progress.advance(1);
    }
    Ok(manifest)
}

async fn send(tx: &mpsc::Sender<Out>, path: String, bytes: Vec<u8>) -> Result<()> {
    tx.send(Out::Member { path, bytes })
        .await
        .map_err(|_| writer_gone())
}
