//! The archive as bytes on disk: tar, compressed with gzip, encrypted with age (X25519) to the
//! backup's recipients — written and read as a stream on a blocking thread of its own, fed by
//! (or feeding) the async side through a small bounded channel, so no backup is ever whole in
//! memory.
//!
//! age authenticates the payload in 64 KiB chunks and marks the last one, so a modified byte
//! anywhere, a cut-off end or a wrong key is an error, never wrong data; this module says
//! which of them it was. The members' SHA-256 sums ([`Checksums`]) are checked on top, as the
//! archive is read.

use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use age::x25519::{Identity, Recipient};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::format::{self, Checksums, Manifest, MemberSum};
use super::BackupError;

/// What the async side hands the writer.
#[derive(Debug)]
pub(crate) enum Out {
    /// A member held in memory (the manifest, a part of a table).
    Member {
        /// Path in the archive.
        path: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A filesystem blob, read from `file` by the writer.
    Blob {
        /// The blob's key.
        key: String,
        /// Where it is.
        file: PathBuf,
    },
    /// Everything was sent: write the checksums and close the archive.
    Finish,
}

/// What the writer wrote.
#[derive(Debug)]
pub(crate) struct Written {
    /// The checksums member as written.
    pub checksums: Checksums,
    /// Size of the encrypted file.
    pub size: u64,
    /// SHA-256 of the encrypted file.
    pub sha256: String,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts and hashes what passes through.
struct Hashing<T> {
    inner: T,
    hash: Sha256,
    size: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            size: 0,
        }
    }

    fn sum(self) -> (T, u64, String) {
        (self.inner, self.size, hex(&self.hash.finalize()))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes the archive to `file` from what `rx` brings, until [`Out::Finish`]; a channel closed
/// before that is an abandoned backup (an error, the file left to the caller to delete).
pub(crate) fn write(
    file: std::fs::File,
    recipients: &[Recipient],
    mtime_secs: u64,
    mut rx: mpsc::Receiver<Out>,
) -> Result<Written, BackupError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| BackupError::Config(format!("backup recipients: {e}")))?;
    let counted = Hashing::new(file);
    let encrypted = encryptor.wrap_output(BufWriter::with_capacity(256 * 1024, counted))?;
    let gz = flate2::write::GzEncoder::new(encrypted, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut checksums = Checksums::default();
    let mut finished = false;
    while let Some(out) = rx.blocking_recv() {
        match out {
            Out::Member { path, bytes } => {
                let sum = hex(&Sha256::digest(&bytes));
                tar.append_data(&mut header(bytes.len() as u64, mtime_secs), &path, &*bytes)?;
                checksums.members.push(MemberSum {
                    path,
                    size: bytes.len() as u64,
                    sha256: sum,
                });
            }
            Out::Blob { key, file } => {
                let f = match std::fs::File::open(&file) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        tracing::warn!(
                            key,
                            "a document blob named by a version is gone; backed up without it"
                        );
                        checksums.missing_blobs.push(key);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let len = f.metadata()?.len();
                let path = format::blob_path(&key);
                let mut reader = Hashing::new(f.take(len));
                tar.append_data(&mut header(len, mtime_secs), &path, &mut reader)?;
                let (_, size, sha256) = reader.sum();
                checksums.members.push(MemberSum { path, size, sha256 });
            }
            Out::Finish => {
                finished = true;
                break;
            }
        }
    }
    if !finished {
        return Err(BackupError::Io(io::Error::other(
            "the backup was abandoned before it was complete",
        )));
    }
    let bytes =
        serde_json::to_vec_pretty(&checksums).map_err(|e| BackupError::Io(io::Error::other(e)))?;
    tar.append_data(
        &mut header(bytes.len() as u64, mtime_secs),
        format::CHECKSUMS,
        &*bytes,
    )?;
    let gz = tar.into_inner()?;
    let encrypted = gz.finish()?;
    let buffered = encrypted.finish()?;
    let counted = buffered.into_inner().map_err(|e| e.into_error())?;
    let (file, size, sha256) = counted.sum();
    file.sync_all()?;
    Ok(Written {
        checksums,
        size,
        sha256,
    })
}

/// What the reader hands the async side.
#[derive(Debug)]
pub(crate) enum In {
    /// The manifest (always first).
    Manifest(Box<Manifest>),
    /// One part of a table's rows.
    Part {
        /// The table.
        table: String,
        /// JSON lines.
        bytes: Vec<u8>,
    },
    /// A filesystem blob, written to the staging directory under its key.
    Blob,
}

/// The first error the age layer met, kept to say what went wrong when it surfaces through the
/// decompressor and the tar reader.
#[derive(Clone, Default)]
struct Watch(Arc<Mutex<Option<(io::ErrorKind, String, u64)>>>);

struct Watched<R> {
    inner: R,
    watch: Watch,
    /// Plaintext bytes read so far.
    at: u64,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.at += n as u64;
                Ok(n)
            }
            Err(e) => {
                if let Ok(mut first) = self.watch.0.lock() {
                    first.get_or_insert((e.kind(), e.to_string(), self.at));
                }
                Err(e)
            }
        }
    }
}

impl Watch {
    /// The error to report for `e`, which surfaced while reading the archive.
    fn explain(&self, e: io::Error) -> BackupError {
        let first = self.0.lock().ok().and_then(|f| f.clone());
        match first {
            Some((io::ErrorKind::UnexpectedEof, _, at)) => BackupError::Truncated(format!(
                "the encrypted data ends early (after {at} bytes of content): the file was \
                 cut off — an interrupted copy or upload"
            )),
            Some((_, message, at)) if message.contains("truncated") => BackupError::Truncated(
                format!("the encrypted data ends early (after {at} bytes of content): {message}"),
            ),
            Some((_, message, at)) => BackupError::Damaged(format!(
                "the encrypted data fails authentication after {at} bytes of content ({message}): \
                 the file was modified or corrupted"
            )),
            None => BackupError::Damaged(format!("the decrypted archive is malformed: {e}")),
        }
    }
}

/// Opens an age file for the first identity in `identities` that it was encrypted to.
fn decrypt<R: Read>(
    input: R,
    identities: &[Identity],
) -> Result<age::stream::StreamReader<R>, BackupError> {
    use age::DecryptError as D;
    let decryptor = age::Decryptor::new(input).map_err(|e| match e {
        D::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            BackupError::Truncated("the file ends inside the age header".into())
        }
        D::Io(e) => BackupError::Io(e),
        D::InvalidHeader | D::UnknownFormat => BackupError::NotABackup(
            "the file does not start with an age header (not a backup, or its header is damaged)"
                .into(),
        ),
        other => BackupError::Damaged(format!("the age header is unreadable: {other}")),
    })?;
    decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            D::NoMatchingKeys => {
                BackupError::WrongKey(format!(
                "the backup is not encrypted to {} (public key{} {}): use the identity of one of \
                 the recipients it was made for",
                if identities.len() == 1 { "this identity" } else { "any of these identities" },
                if identities.len() == 1 { "" } else { "s" },
                identities
                    .iter()
                    .map(|i| i.to_public().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            }
            D::InvalidMac | D::DecryptionFailed | D::KeyDecryptionFailed => BackupError::Damaged(
                format!("the age header fails authentication ({e}): the file was modified"),
            ),
            D::Io(e) => BackupError::Io(e),
            other => BackupError::Damaged(format!("the backup cannot be decrypted: {other}")),
        })
}

/// Reads the archive in `file`, sending the manifest, each part and each blob (written into
/// `staging` under its key) through `tx`, and checking every member against the checksums at
/// the end. Returns the checksums once everything matched.
pub(crate) fn read(
    file: std::fs::File,
    identities: &[Identity],
    staging: &Path,
    tx: mpsc::Sender<In>,
) -> Result<Checksums, BackupError> {
    let watch = Watch::default();
    let plain = Watched {
        inner: decrypt(io::BufReader::with_capacity(256 * 1024, file), identities)?,
        watch: watch.clone(),
        at: 0,
    };
    let gz = flate2::read::GzDecoder::new(plain);
    let mut archive = tar::Archive::new(gz);
    read_members(&mut archive, staging, &tx).map_err(|e| match e {
        BackupError::Io(e) => watch.explain(e),
        other => other,
    })
}

/// Reads only the manifest at the head of the archive in `file` (unchecked: the full read
/// checks it against the checksums), to learn the schema version a restore must start from.
pub(crate) fn read_manifest(
    file: std::fs::File,
    identities: &[Identity],
) -> Result<Manifest, BackupError> {
    let watch = Watch::default();
    let plain = Watched {
        inner: decrypt(io::BufReader::with_capacity(256 * 1024, file), identities)?,
        watch: watch.clone(),
        at: 0,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(plain));
    let read = (|| {
        let entry = archive
            .entries()?
            .next()
            .ok_or_else(|| BackupError::Truncated("the archive is empty".into()))??;
        let path = entry.path()?.to_string_lossy().into_owned();
        if path != format::MANIFEST {
            return Err(BackupError::NotABackup(format!(
                "the archive starts with {path}, not {}",
                format::MANIFEST
            )));
        }
        let bytes = read_all(entry, &path)?;
        serde_json::from_slice::<Manifest>(&bytes)
            .map_err(|e| BackupError::Damaged(format!("{} is not readable: {e}", format::MANIFEST)))
    })();
    read.map_err(|e| match e {
        BackupError::Io(e) => watch.explain(e),
        other => other,
    })
}

fn read_members<R: Read>(
    archive: &mut tar::Archive<R>,
    staging: &Path,
    tx: &mpsc::Sender<In>,
) -> Result<Checksums, BackupError> {
    let mut seen: HashMap<String, (u64, String)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut entries = archive.entries()?;
    let mut first = true;
    let checksums = loop {
        let Some(entry) = entries.next() else {
            return Err(BackupError::Truncated(format!(
                "the archive ends after {} members, before its checksums",
                order.len()
            )));
        };
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if first && path != format::MANIFEST {
            return Err(BackupError::NotABackup(format!(
                "the archive starts with {path}, not {}",
                format::MANIFEST
            )));
        }
        first = false;
        if path == format::CHECKSUMS {
            let bytes = read_all(entry, &path)?;
            break serde_json::from_slice::<Checksums>(&bytes).map_err(|e| {
                BackupError::Damaged(format!("{} is not readable: {e}", format::CHECKSUMS))
            })?;
        }
        if seen.contains_key(&path) {
            return Err(BackupError::Damaged(format!("{path} appears twice")));
        }
        let (message, size, sum) = if let Some(key) = path.strip_prefix("blobs/") {
            if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BackupError::Damaged(format!("{path} is not a blob key")));
            }
            let mut out = Hashing::new(std::fs::File::create(staging.join(key))?);
            let mut entry = entry;
            io::copy(&mut entry, &mut out)?;
            let (file, size, sum) = out.sum();
            file.sync_all()?;
            (In::Blob, size, sum)
        } else {
            let bytes = read_all(entry, &path)?;
            let size = bytes.len() as u64;
            let sum = hex(&Sha256::digest(&bytes));
            let message = if path == format::MANIFEST {
                let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                    BackupError::NotABackup(format!("{} is not readable: {e}", format::MANIFEST))
                })?;
                In::Manifest(Box::new(manifest))
            } else if let Some(table) = format::part_table(&path) {
                In::Part {
                    table: table.to_owned(),
                    bytes,
                }
            } else {
                return Err(BackupError::Damaged(format!("unexpected member {path}")));
            };
            (message, size, sum)
        };
        seen.insert(path.clone(), (size, sum));
        order.push(path);
        if tx.blocking_send(message).is_err() {
            // The restore stopped on an error of its own, which it reports.
            return Err(BackupError::Io(io::Error::other("the restore stopped")));
        }
    };
    if entries.next().is_some() {
        return Err(BackupError::Damaged(format!(
            "members follow {}",
            format::CHECKSUMS
        )));
    }
    let listed: Vec<&str> = checksums.members.iter().map(|m| m.path.as_str()).collect();
    if listed != order.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(BackupError::Damaged(format!(
            "the archive's members ({} of them) are not the {} its checksums list",
            order.len(),
            listed.len()
        )));
    }
    for m in &checksums.members {
        let (size, sum) = &seen[&m.path];
        if *size != m.size || *sum != m.sha256 {
            return Err(BackupError::Damaged(format!(
                "{}: SHA-256 {sum} ({size} bytes) where the checksums say {} ({} bytes)",
                m.path, m.sha256, m.size
            )));
        }
    }
    Ok(checksums)
}

fn read_all<R: Read>(entry: tar::Entry<'_, R>, path: &str) -> Result<Vec<u8>, BackupError> {
    let size = entry.header().size()?;
    if size > format::MAX_MEMBER_BYTES {
        return Err(BackupError::Damaged(format!(
            "{path} is {size} bytes, more than a member may hold"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}
