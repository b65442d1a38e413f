//! Where document bytes live.
//!
//! A [`BlobStore`] takes bytes from a reader and gives them back as a stream, so neither an
//! upload nor a download ever holds a whole file in memory. Two stores exist:
//! [`DatabaseBlobs`] (the default: chunks in the application database, so hosts of a cluster
//! share them with nothing else to run or back up) and [`FileBlobs`] (files in a directory, for
//! large volumes on one host or a shared volume). An object store would be a third
//! implementation. Each version records the store that holds its bytes, so changing the
//! configured store later leaves earlier versions readable: [`Blobs`] keeps every store for
//! reading and writes to the configured one.

use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::config::{BlobBackend, DocumentsConfig};
use crate::clock::Millis;
use crate::store::blobs::CHUNK_BYTES;
use crate::store::{Store, StoreError};

/// The bytes of a blob, in order.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under this key.
    #[error("blob not found")]
    NotFound,
    /// A version names a store this host does not have.
    #[error("unknown blob store `{0}`")]
    UnknownStore(String),
    /// Reading the source or a file failed.
    #[error("blob i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A place to keep bytes, addressed by a key the store chooses.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// The name versions record (`database`, `filesystem`).
    fn name(&self) -> &'static str;

    /// Stores everything `source` yields; returns the new blob's key. The blob is whole or
    /// absent: a failure part-way leaves nothing behind.
    fn put<'a>(
        &'a self,
        source: &'a mut (dyn AsyncRead + Unpin + Send),
        now: Millis,
    ) -> BoxFuture<'a, Result<String, BlobError>>;

    /// The bytes under `key`, as a stream of chunks.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<BlobStream, BlobError>>;

    /// Deletes the blob under `key`; deleting a missing blob is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BlobError>>;
}

/// Reads up to `buf.len()` bytes, fewer only at the end of `source`.
async fn fill(
    source: &mut (dyn AsyncRead + Unpin + Send),
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = source.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Blobs in the application database (`blobs`, `blob_chunks`); the key is the blob id.
#[derive(Debug, Clone)]
pub struct DatabaseBlobs {
    store: Store,
}

impl DatabaseBlobs {
    /// A store on the application database.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn blob_id(key: &str) -> Result<i64, BlobError> {
    key.parse().map_err(|_| BlobError::NotFound)
}

impl BlobStore for DatabaseBlobs {
    fn name(&self) -> &'static str {
        "database"
    }

    fn put<'a>(
        &'a self,
        source: &'a mut (dyn AsyncRead + Unpin + Send),
        now: Millis,
    ) -> BoxFuture<'a, Result<String, BlobError>> {
        Box::pin(async move {
            let mut writer = self.store.begin_blob(now).await?;
            let mut buf = vec![0u8; CHUNK_BYTES];
            loop {
                let n = fill(source, &mut buf).await?;
                if n == 0 {
                    break;
                }
                writer.write(&buf[..n]).await?;
            }
            Ok(writer.finish().await?.to_string())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<BlobStream, BlobError>> {
        Box::pin(async move {
            let id = blob_id(key)?;
            self.store.blob_size(id).await.map_err(|e| match e {
                StoreError::NotFound => BlobError::NotFound,
                other => other.into(),
            })?;
            let store = self.store.clone();
            // One chunk per query, fetched as the client reads: no connection is held between
            // chunks and at most one chunk is in memory.
            let chunks = stream::unfold(Some(0i64), move |seq| {
                let store = store.clone();
                async move {
                    let seq = seq?;
                    match store.blob_chunk(id, seq).await {
                        Ok(Some(data)) => Some((Ok(Bytes::from(data)), Some(seq + 1))),
                        Ok(None) => None,
                        Err(e) => Some((Err(BlobError::from(e)), None)),
                    }
                }
            });
            Ok(Box::pin(chunks) as BlobStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(async move {
            if let Ok(id) = key.parse::<i64>() {
                self.store.delete_blob(id).await?;
            }
            Ok(())
        })
    }
}

/// Blobs as files in a directory; the key is a random file name.
#[derive(Debug, Clone)]
pub struct FileBlobs {
    dir: PathBuf,
}

impl FileBlobs {
    /// A store in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        // Keys are ours (32 hex digits); anything else never names a file.
        if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(self.dir.join(key))
        } else {
            Err(BlobError::NotFound)
        }
    }
}

impl BlobStore for FileBlobs {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn put<'a>(
        &'a self,
        source: &'a mut (dyn AsyncRead + Unpin + Send),
        _now: Millis,
    ) -> BoxFuture<'a, Result<String, BlobError>> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.dir).await?;
            let key = uuid::Uuid::new_v4().simple().to_string();
            let path = self.path(&key)?;
            let partial = path.with_extension("partial");
            let written = async {
                let mut file = tokio::fs::File::create(&partial).await?;
                tokio::io::copy(source, &mut file).await?;
                file.flush().await?;
                file.sync_all().await?;
                tokio::fs::rename(&partial, &path).await
            }
            .await;
            if let Err(e) = written {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e.into());
            }
            Ok(key)
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<BlobStream, BlobError>> {
        Box::pin(async move {
            let file = match tokio::fs::File::open(self.path(key)?).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound)
                }
                Err(e) => return Err(e.into()),
            };
            let chunks = stream::unfold(Some(file), |file| async move {
                let mut file = file?;
                let mut buf = vec![0u8; 64 * 1024];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), Some(file)))
                    }
                    Err(e) => Some((Err(BlobError::from(e)), None)),
                }
            });
            Ok(Box::pin(chunks) as BlobStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(async move {
            let Ok(path) = self.path(key) else {
                return Ok(());
            };
            match tokio::fs::remove_file(path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }
}

/// Every blob store of this host: new bytes go to the configured one, and any version is read
/// from the store it names.
#[derive(Debug, Clone)]
pub struct Blobs {
    writer: Arc<dyn BlobStore>,
    stores: Vec<Arc<dyn BlobStore>>,
}

impl Blobs {
    /// The stores of `config` on `store`, the filesystem one in `blob_dir`.
    pub fn new(config: &DocumentsConfig, blob_dir: PathBuf, store: Store) -> Self {
        let database: Arc<dyn BlobStore> = Arc::new(DatabaseBlobs::new(store));
        let files: Arc<dyn BlobStore> = Arc::new(FileBlobs::new(blob_dir));
        let writer = match config.blob_store {
            BlobBackend::Database => database.clone(),
            BlobBackend::Filesystem => files.clone(),
        };
        Self {
            writer,
            stores: vec![database, files],
        }
    }

    /// The store new bytes go to.
    pub fn writer(&self) -> &dyn BlobStore {
        self.writer.as_ref()
    }

    /// The store named `name`.
    pub fn store(&self, name: &str) -> Result<&dyn BlobStore, BlobError> {
        self.stores
            .iter()
            .find(|s| s.name() == name)
            .map(AsRef::as_ref)
            .ok_or_else(|| BlobError::UnknownStore(name.to_owned()))
    }
}
