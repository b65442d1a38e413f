//! An S3-compatible object store as a backup destination (AWS S3, MinIO, Ceph, Garage, R2, …),
//! through the `object_store` crate.
//!
//! A backup is made in a local staging directory as for a directory destination, then uploaded:
//! the receipt first, then the backup itself as one multipart upload, which the store makes
//! visible only when it is completed. So a partial upload is never listed (an upload that fails
//! is aborted, and its receipt deleted); `list` shows only complete `agentic-….age` objects.
//! `verify` and `restore` download a backup and its receipt into a temporary directory and go on
//! as for a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::destination::{parse_name, Listed, Receipt};
use super::{BackupError, Result};

/// Bytes per uploaded part (S3 wants at least 5 MiB for every part but the last).
const PART: usize = 8 << 20;

/// How to reach an S3-compatible store (`backup.s3`). Anything not set here comes from the
/// standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, …) or the instance's role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The service's URL, for stores other than AWS (`http://minio.internal:9000`).
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when neither this nor `AWS_REGION` says).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// A file holding the secret access key (never the key itself in the configuration).
    pub secret_access_key_file: Option<PathBuf>,
}

/// A bucket (and a prefix in it) holding backups.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    url: String,
}

fn s3_error(doing: &str, e: &object_store::Error) -> BackupError {
    BackupError::Io(std::io::Error::other(format!("{doing}: {e}")))
}

impl Bucket {
    /// The bucket of `url` (`s3://bucket/prefix`), reached with `settings`.
    pub fn open(url: &str, settings: &S3Settings) -> Result<Self> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            BackupError::Config(format!("{url:?} is not an s3://bucket/prefix URL"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::Config(format!("{url:?} names no bucket")));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(file) = &settings.secret_access_key_file {
            let secret = std::fs::read_to_string(file).map_err(|e| {
                BackupError::Config(format!(
                    "reading backup.s3.secret_access_key_file {}: {e}",
                    file.display()
                ))
            })?;
            builder = builder.with_secret_access_key(secret.trim());
        }
        let store = builder
            .build()
            .map_err(|e| BackupError::Config(format!("backup destination {url}: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Key::from(prefix.trim_matches('/')),
            url: url.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, name: &str) -> Key {
        self.prefix.child(name)
    }

    /// Uploads the finished backup at `file` (its receipt beside it): the receipt, then the
    /// backup in one multipart upload that becomes visible only once complete. On failure the
    /// upload is aborted and the receipt removed, so nothing is listed.
    pub async fn upload(&self, file: &Path, receipt: &Receipt) -> Result<()> {
        let name = &receipt.name;
        let receipt_key = self.key(&format!("{name}.json"));
        let body = serde_json::to_vec_pretty(receipt).map_err(|e| BackupError::Io(e.into()))?;
        self.store
            .put(&receipt_key, PutPayload::from(body))
            .await
            .map_err(|e| s3_error("uploading the receipt", &e))?;
        let uploaded = self.upload_parts(file, &self.key(name)).await;
        if uploaded.is_err() {
            let _ = self.store.delete(&receipt_key).await;
        }
        uploaded
    }

    async fn upload_parts(&self, file: &Path, key: &Key) -> Result<()> {
        let mut upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| s3_error("starting the upload", &e))?;
        let sent = async {
            let mut input = tokio::fs::File::open(file).await?;
            loop {
                let mut part = Vec::with_capacity(PART);
                while part.len() < PART {
                    let read = (&mut input)
                        .take((PART - part.len()) as u64)
                        .read_to_end(&mut part)
                        .await?;
                    if read == 0 {
                        break;
                    }
                }
                if part.is_empty() {
                    break;
                }
                let last = part.len() < PART;
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(|e| s3_error("uploading a part", &e))?;
                if last {
                    break;
                }
            }
            upload
                .complete()
                .await
                .map_err(|e| s3_error("completing the upload", &e))?;
            Ok::<(), BackupError>(())
        }
        .await;
        if sent.is_err() {
            // Frees the parts sent; the object never appeared.
            let _ = upload.abort().await;
        }
        sent
    }

    /// The complete backups, oldest first.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let objects: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| s3_error("listing the bucket", &e))?;
        let mut out = Vec::new();
        for meta in &objects {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let Some(created_at) = parse_name(name) else {
                continue;
            };
            let receipt_key = self.key(&format!("{name}.json"));
            let receipt = if objects.iter().any(|o| o.location == receipt_key) {
                match self.store.get(&receipt_key).await {
                    Ok(got) => got
                        .bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok()),
                    Err(_) => None,
                }
            } else {
                None
            };
            out.push(Listed {
                name: name.to_owned(),
                path: PathBuf::from(format!("{}/{name}", self.url)),
                created_at,
                size: meta.size,
                receipt,
            });
        }
        out.sort_by_key(|b| b.created_at);
        Ok(out)
    }

    /// Deletes a backup and its receipt.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.store
            .delete(&self.key(name))
            .await
            .map_err(|e| s3_error("deleting a backup", &e))?;
        match self.store.delete(&self.key(&format!("{name}.json"))).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error("deleting a receipt", &e)),
        }
    }

    /// Downloads backup `name` (and its receipt, if any) into `dir`; returns the file's path.
    pub async fn download(&self, name: &str, dir: &Path) -> Result<PathBuf> {
        if parse_name(name).is_none() {
            return Err(BackupError::NotABackup(format!(
                "{name:?} is not a backup's name (agentic-<UTC time>.age)"
            )));
        }
        let path = dir.join(name);
        let got = self.store.get(&self.key(name)).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                BackupError::Config(format!("no backup {name} in {}", self.url))
            }
            other => s3_error("downloading the backup", &other),
        })?;
        let mut stream = got.into_stream();
        let mut out = tokio::fs::File::create(&path).await?;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| s3_error("downloading the backup", &e))?
        {
            out.write_all(&chunk).await?;
        }
        out.sync_all().await?;
        if let Ok(got) = self.store.get(&self.key(&format!("{name}.json"))).await {
            if let Ok(bytes) = got.bytes().await {
                tokio::fs::write(dir.join(format!("{name}.json")), bytes).await?;
            }
        }
        Ok(path)
    }
}
