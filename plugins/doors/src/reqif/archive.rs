//! `.reqifz`: a zip of one or more `.reqif` files (and the attachments they point to). The
//! archive is untrusted: entry names must be plain relative paths (no `..`, no absolute paths,
//! no drive letters), the entry count is bounded, and every `.reqif` entry is decompressed
//! under a budget (its own size, the total, and the ratio to its compressed size), stopping at
//! the first byte past it whatever the entry's header claims. Other entries are not read.

use std::io::{Cursor, Read};

use crate::limits::Limits;
use crate::ImportError;

/// The `.reqif` files of the archive `file`, in archive order: (entry name, bytes).
pub fn reqif_files(
    file: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<(String, Vec<u8>)>, ImportError> {
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
    let mut total: u64 = 0;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| ImportError::archive(file, format!("entry {index}: {e}")))?;
        let name = entry.name().to_owned();
        if !is_safe_name(&name) {
            return Err(ImportError::limit(
                file,
                format!("entry {name:?} is not a plain relative path (path traversal is refused)"),
            ));
        }
        if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".reqif") {
            continue;
        }
        let budget = limits.max_xml_bytes - total;
        let ratio_cap = entry
            .compressed_size()
            .max(1)
            .saturating_mul(limits.max_compression_ratio);
        let cap = budget.min(ratio_cap);
        let mut xml = Vec::new();
        (&mut entry)
            .take(cap + 1)
            .read_to_end(&mut xml)
            .map_err(|e| ImportError::archive(file, format!("entry {name:?}: {e}")))?;
        let got = xml.len() as u64;
        if got > ratio_cap {
            return Err(ImportError::limit(
                &format!("{file}!{name}"),
                format!(
                    "decompresses to more than {} times its compressed size of {} bytes \
                     (the compression-ratio limit; a zip bomb?)",
                    limits.max_compression_ratio,
                    entry.compressed_size()
                ),
            ));
        }
        if got > budget {
            return Err(ImportError::limit(
                &format!("{file}!{name}"),
                format!(
                    "the archive's .reqif files decompress to more than {} bytes together \
                     (the size limit)",
                    limits.max_xml_bytes
                ),
            ));
        }
        total += got;
        files.push((name, xml));
    }
    if files.is_empty() {
        return Err(ImportError::structure(
            file,
            "the archive holds no .reqif file",
        ));
    }
    Ok(files)
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
