//! `.reqifz`: a zip of one or more `.reqif` files (and the attachments they point to). The
//! archive is untrusted: entry names must be plain relative paths (no `..`, no absolute paths,
//! no drive letters), the entry count is bounded, and every `.reqif` entry is decompressed
//! under a budget (its own size, the total, and the ratio to its compressed size), stopping at
//! the first byte past it whatever the entry's header claims. Other entries are not read.
//!
//! Each `.reqif` entry is parsed while it is decompressed ([`parse_from`]): the XML text, which
//! is ten to twenty times the archive's size, is never held whole, so a file's memory is the
//! archive plus the parsed model (README: Limits).

use std::io::{BufReader, Cursor, Read};

use super::model::ReqIf;
use super::parse::parse_from;
use crate::limits::Limits;
use crate::ImportError;

/// Bytes asked of the decompressor at a time.
const CHUNK: usize = 64 << 10;

/// The merged content of the archive `file`'s `.reqif` files, in archive order.
pub fn read(file: &str, bytes: &[u8], limits: &Limits) -> Result<ReqIf, ImportError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ImportError::archive(file, format!("not a readable zip archive: {e}")))?;
    if archive.len() > limits.max_archive_entries {
        return Err(ImportError::limit(
            file,
            format!(
                "{} entries is more than the {} a .reqifz may have",
                archive.len(),
                limits.max_archive_entries
            ),
        ));
    }
    // Every name is checked before anything is decompressed.
    let mut wanted = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|e| ImportError::archive(file, format!("entry {index}: {e}")))?;
        let name = entry.name().to_owned();
        if !is_safe_name(&name) {
            return Err(ImportError::limit(
                file,
                format!("entry {name:?} is not a plain relative path (path traversal is refused)"),
            ));
        }
        if !entry.is_dir() && name.to_ascii_lowercase().ends_with(".reqif") {
            wanted.push((index, name));
        }
    }
    if wanted.is_empty() {
        return Err(ImportError::structure(
            file,
            "the archive holds no .reqif file",
        ));
    }
    let mut total: u64 = 0;
    let mut doc = ReqIf::default();
    for (index, name) in wanted {
        let entry = archive
            .by_index(index)
            .map_err(|e| ImportError::archive(file, format!("entry {name:?}: {e}")))?;
        let compressed = entry.compressed_size();
        let entry_file = format!("{file}!{name}");
        let mut input = BufReader::with_capacity(
            CHUNK,
            Budget {
                inner: entry,
                read: 0,
                total: limits.max_xml_bytes - total,
                ratio: compressed
                    .max(1)
                    .saturating_mul(limits.max_compression_ratio),
                over: None,
            },
        );
        let parsed = parse_from(&entry_file, &mut input, limits);
        let budget = input.get_ref();
        match budget.over {
            Some(Over::Ratio) => {
                return Err(ImportError::limit(
                    &entry_file,
                    format!(
                        "decompresses to more than {} times its compressed size of {compressed} \
                         bytes (the compression-ratio limit; a zip bomb?)",
                        limits.max_compression_ratio,
                    ),
                ))
            }
            Some(Over::Total) => {
                return Err(ImportError::limit(
                    &entry_file,
                    format!(
                        "the archive's .reqif files decompress to more than {} bytes together \
                         (the size limit: the connection's max_file_mib, {} MiB at most)",
                        limits.max_xml_bytes,
                        crate::limits::MAX_FILE_MIB
                    ),
                ))
            }
            None => {}
        }
        total += budget.read;
        doc.merge(parsed?);
    }
    Ok(doc)
}

/// Which bound stopped an entry.
#[derive(Debug, Clone, Copy)]
enum Over {
    Ratio,
    Total,
}

/// An entry's decompressed bytes, failing at the first byte past either bound (whatever the
/// entry's header claims) and remembering which one it was.
struct Budget<R> {
    inner: R,
    /// Bytes yielded so far.
    read: u64,
    /// What is left of the archive's total.
    total: u64,
    /// The entry's compressed size times the ratio limit.
    ratio: u64,
    over: Option<Over>,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(over) = self.over {
            return Err(std::io::Error::other(format!("past the {over:?} limit")));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.over = if self.read > self.ratio {
            Some(Over::Ratio)
        } else if self.read > self.total {
            Some(Over::Total)
        } else {
            None
        };
        match self.over {
            Some(over) => Err(std::io::Error::other(format!("past the {over:?} limit"))),
            None => Ok(n),
        }
    }
}

/// A relative path of plain components: no `..`, no root, no drive, no backslashes.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && !name.contains('\0')
        && name.split('/').all(|part| part != "..")
}

#[cfg(test)]
mod tests {
    use super::is_safe_name;

    #[test]
    fn only_plain_relative_names_are_safe() {
        for good in ["a.reqif", "dir/a.reqif", "files/img.png"] {
            assert!(is_safe_name(good), "{good}");
        }
        for bad in [
            "../a.reqif",
            "a/../../b.reqif",
            "/etc/passwd",
            "C:/x.reqif",
            "a\\..\\b",
            "",
        ] {
            assert!(!is_safe_name(bad), "{bad}");
        }
    }
}
