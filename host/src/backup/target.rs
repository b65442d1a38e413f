//! Where backups go: a directory, or a bucket of an S3-compatible store (`s3://bucket/prefix`),
//! behind one type so that making, listing, pruning and fetching a backup read the same
//! whichever it is.

use std::path::{Path, PathBuf};

use age::x25519::Recipient;

use super::bucket::{Bucket, S3Settings};
use super::destination::{Directory, Listed, Pruned};
use super::{create, BackupError, Created, Policy, Progress, Result};
use crate::clock::Millis;
use crate::store::Store;

/// A backup destination.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A directory (another disk or a mounted volume).
    Directory(Directory),
    /// A bucket and prefix of an S3-compatible object store.
    Bucket(Bucket),
}

impl Destination {
    /// `s3://bucket/prefix` (reached with `s3`), else a directory path.
    pub fn open(spec: &str, s3: &S3Settings) -> Result<Self> {
        if spec.starts_with("s3://") {
            Ok(Self::Bucket(Bucket::open(spec, s3)?))
        } else if spec.contains("://") {
            Err(BackupError::Config(format!(
                "backup destination {spec:?}: only directories and s3:// URLs are supported"
            )))
        } else if spec.trim().is_empty() {
            Err(BackupError::Config(
                "the backup destination is empty".into(),
            ))
        } else {
            Ok(Self::Directory(Directory::new(spec)))
        }
    }

    /// The destination as configured (a path or a URL), for logs and the backup log.
    pub fn describe(&self) -> String {
        match self {
            Self::Directory(d) => d.path().display().to_string(),
            Self::Bucket(b) => b.url().to_owned(),
        }
    }

    /// Makes a backup into it. A bucket's backup is made in a directory under `staging` first
    /// and uploaded once complete (the staged copy is removed either way).
    pub async fn create(
        &self,
        store: &Store,
        blob_dir: &Path,
        staging: &Path,
        recipients: Vec<Recipient>,
        now: Millis,
        progress: &dyn Progress,
    ) -> Result<Created> {
        match self {
            Self::Directory(dir) => create(store, blob_dir, recipients, dir, now, progress).await,
            Self::Bucket(bucket) => {
                std::fs::create_dir_all(staging)?;
                let stage = tempfile::Builder::new()
                    .prefix(".backup-staging-")
                    .tempdir_in(staging)?;
                let local = Directory::new(stage.path());
                let mut created =
                    create(store, blob_dir, recipients, &local, now, progress).await?;
                bucket.upload(&created.path, &created.receipt).await?;
                created.path = PathBuf::from(format!("{}/{}", bucket.url(), created.receipt.name));
                Ok(created)
            }
        }
    }

    /// The complete backups, oldest first.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        match self {
            Self::Directory(d) => d.list(),
            Self::Bucket(b) => b.list().await,
        }
    }

    /// Deletes the backups `policy` does not keep (with `dry_run`, only names them), then, in a
    /// directory, the leftovers of crashed backups. Returns the names deleted and how many
    /// backups remain. An empty policy keeps everything: pruning without a rule must not delete
    /// every backup.
    pub async fn prune(&self, policy: &Policy, now: Millis, dry_run: bool) -> Result<Pruned> {
        let backups = self.list().await?;
        if policy.is_empty() {
            return Ok(Pruned {
                deleted: Vec::new(),
                kept: backups.len(),
            });
        }
        let times: Vec<Millis> = backups.iter().map(|b| b.created_at).collect();
        let keep = policy.keep(&times);
        let mut deleted = Vec::new();
        for (i, backup) in backups.iter().enumerate() {
            if keep.contains(&i) {
                continue;
            }
            if !dry_run {
                match self {
                    Self::Directory(d) => d.delete(backup)?,
                    Self::Bucket(b) => b.delete(&backup.name).await?,
                }
            }
            deleted.push(backup.name.clone());
        }
        if let (Self::Directory(d), false) = (self, dry_run) {
            d.clean(now)?;
        }
        Ok(Pruned {
            deleted,
            kept: keep.len(),
        })
    }
}

/// A backup file to read: a local path, or `s3://bucket/prefix/agentic-….age` downloaded (with
/// its receipt) into a temporary directory that lives as long as this.
#[derive(Debug)]
pub struct Fetched {
    /// The local file.
    pub path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// Makes `spec` readable as a local file (downloading it from a bucket).
pub async fn fetch(spec: &str, s3: &S3Settings, staging: &Path) -> Result<Fetched> {
    let Some(rest) = spec.strip_prefix("s3://") else {
        return Ok(Fetched {
            path: PathBuf::from(spec),
            _dir: None,
        });
    };
    let (parent, name) = rest.rsplit_once('/').ok_or_else(|| {
        BackupError::Config(format!("{spec:?} does not name a backup in a bucket"))
    })?;
    let bucket = Bucket::open(&format!("s3://{parent}"), s3)?;
    std::fs::create_dir_all(staging)?;
    let dir = tempfile::Builder::new()
        .prefix(".backup-download-")
        .tempdir_in(staging)?;
    let path = bucket.download(name, dir.path()).await?;
    Ok(Fetched {
        path,
        _dir: Some(dir),
    })
}
