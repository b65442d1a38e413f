//! A directory of backups, kept apart from the data (another disk, a mounted volume).
//!
//! A backup is written under a hidden temporary name (`.agentic-….age.partial`) and only
//! renamed to `agentic-<UTC time>.age` once it is complete and on disk; nothing lists a partial
//! backup, and a crash leaves at most a partial file that [`Directory::prune`] removes later.
//! Beside each backup a receipt (`<name>.json`, not secret) records its size and SHA-256 and
//! what it holds, so a cut-off or altered file is named as such before anything decrypts it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::macros::format_description;

use super::{BackupError, Result};
use crate::clock::Millis;

const PREFIX: &str = "agentic-";
const SUFFIX: &str = ".age";
const PARTIAL: &str = ".partial";
/// Partial files older than this are leftovers of a crashed backup.
const STALE_PARTIAL: Duration = Duration::from_secs(24 * 3600);

/// What a backup's receipt records (readable without the key; holds no data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    /// The backup's file name.
    pub name: String,
    /// When its snapshot was taken (epoch milliseconds in the JSON).
    pub created_at: Millis,
    /// The host version that made it.
    pub host_version: String,
    /// `sqlite` or `postgres`.
    pub source_backend: String,
    /// The schema (migration) version of the source.
    pub schema_version: i64,
    /// Size of the encrypted file.
    pub size: u64,
    /// SHA-256 of the encrypted file.
    pub sha256: String,
    /// How long making it took.
    pub duration_ms: u64,
}

/// A backup in a directory.
#[derive(Debug, Clone)]
pub struct Listed {
    /// File name.
    pub name: String,
    /// Where it is: a file path, or `s3://bucket/prefix/name` for a bucket.
    pub path: PathBuf,
    /// When its snapshot was taken (from the name).
    pub created_at: Millis,
    /// Size on disk.
    pub size: u64,
    /// Its receipt, when present and readable.
    pub receipt: Option<Receipt>,
}

/// What [`Directory::prune`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The backups deleted (or, in a dry run, that would be).
    pub deleted: Vec<String>,
    /// How many the policy keeps.
    pub kept: usize,
}

/// A backup being written.
#[derive(Debug)]
pub struct Pending {
    /// The open temporary file.
    pub file: File,
    partial: PathBuf,
    name: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Reached with the file still there only when the backup failed.
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// The file name of a backup taken at `at`.
pub fn backup_name(at: Millis) -> String {
    let t = at.to_datetime();
    let f = format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    format!("{PREFIX}{}{SUFFIX}", t.format(&f).unwrap_or_default())
}

/// When the backup named `name` was taken; `None` for a name that is not a backup's.
pub fn parse_name(name: &str) -> Option<Millis> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let f = format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");
    let t = time::PrimitiveDateTime::parse(stamp, &f).ok()?.assume_utc();
    Some(Millis::from_datetime(t))
}

fn receipt_path(backup: &Path) -> PathBuf {
    let mut p = backup.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// Reads the receipt beside `backup`, if there is one.
pub fn read_receipt(backup: &Path) -> Option<Receipt> {
    let bytes = std::fs::read(receipt_path(backup)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks `backup` against its receipt, if it has one: a shorter file was cut off, a different
/// SHA-256 was altered. Returns the receipt.
pub fn check_receipt(backup: &Path) -> Result<Option<Receipt>> {
    let Some(receipt) = read_receipt(backup) else {
        return Ok(None);
    };
    let mut file = File::open(backup)?;
    let size = file.metadata()?.len();
    if size < receipt.size {
        return Err(BackupError::Truncated(format!(
            "the file is {size} bytes, {} when it was made",
            receipt.size
        )));
    }
    let mut hash = Sha256::new();
    std::io::copy(&mut file, &mut hash)?;
    let sum: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if size != receipt.size || sum != receipt.sha256 {
        return Err(BackupError::Damaged(format!(
            "the file's SHA-256 is {sum} ({size} bytes), its receipt says {} ({} bytes): it \
             was modified after it was made",
            receipt.sha256, receipt.size
        )));
    }
    Ok(Some(receipt))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A directory holding backups.
#[derive(Debug, Clone)]
pub struct Directory {
    dir: PathBuf,
}

impl Directory {
    /// The directory `dir` (created when the first backup is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Starts writing the backup taken at `at` under a temporary name.
    pub fn begin(&self, at: Millis) -> Result<Pending> {
        std::fs::create_dir_all(&self.dir)?;
        let name = backup_name(at);
        if self.dir.join(&name).exists() {
            return Err(BackupError::Config(format!(
                "a backup named {name} already exists in {}",
                self.dir.display()
            )));
        }
        let partial = self.dir.join(format!(
            ".{name}.{}{PARTIAL}",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)?;
        Ok(Pending {
            file,
            partial,
            name,
        })
    }

    /// Publishes a finished backup (its data already synced to disk): the receipt first, then
    /// the backup under its final name, never replacing another. Returns its path.
    pub fn commit(&self, pending: Pending, mut receipt: Receipt) -> Result<PathBuf> {
        let path = self.dir.join(&pending.name);
        receipt.name.clone_from(&pending.name);
        let receipt_file = receipt_path(&path);
        let tmp = self.dir.join(format!(".{}.receipt{PARTIAL}", pending.name));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&receipt).map_err(|e| BackupError::Io(e.into()))?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &receipt_file)?;
        // A hard link fails where the name is taken: no backup is ever replaced.
        std::fs::hard_link(&pending.partial, &path)?;
        std::fs::remove_file(&pending.partial)?;
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// The complete backups, oldest first.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(created_at) = parse_name(&name) else {
                continue;
            };
            let path = entry.path();
            out.push(Listed {
                size: entry.metadata()?.len(),
                receipt: read_receipt(&path),
                name,
                path,
                created_at,
            });
        }
        out.sort_by_key(|b| b.created_at);
        Ok(out)
    }

    /// Deletes a backup and its receipt.
    pub fn delete(&self, backup: &Listed) -> Result<()> {
        std::fs::remove_file(&backup.path)?;
        match std::fs::remove_file(receipt_path(&backup.path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        Ok(())
    }

    /// Removes what crashed backups left: partial files older than a day, and receipts whose
    /// backup is gone. Returns how many files went.
    pub fn clean(&self, now: Millis) -> Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let stale = if name.starts_with('.') && name.ends_with(PARTIAL) {
                let modified = entry
                    .metadata()?
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(Millis::EPOCH, |d| Millis::EPOCH + d);
                now - modified > STALE_PARTIAL
            } else if let Some(backup) = name.strip_suffix(".json") {
                parse_name(backup).is_some() && !self.dir.join(backup).exists()
            } else {
                false
            };
            if stale {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_to_the_millisecond() {
        let at = Millis::from_ms(1_736_942_400_123); // 2025-01-15T12:00:00.123Z
        let name = backup_name(at);
        assert_eq!(name, "agentic-20250115T120000.123Z.age");
        assert_eq!(parse_name(&name), Some(at));
        assert_eq!(
            parse_name(".agentic-20250115T120000.123Z.age.x.partial"),
            None
        );
        assert_eq!(parse_name("agentic-20250115T120000.123Z.age.json"), None);
    }
}
