//! The `documents` section of the configuration: upload bounds, accepted media types, and the
//! blob store new bytes go to.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Document uploads and where their bytes are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// Largest file one upload may carry, in bytes. The upload is refused (413) as soon as its
    /// body passes this, before the rest is read.
    pub max_upload_bytes: u64,
    /// Media types a document may have: `type/subtype` or `type/*`, lower case. Anything else is
    /// refused (415), so the host never stores or serves types nobody chose to accept.
    pub allowed_content_types: Vec<String>,
    /// Where new document bytes are written. Versions remember their store, so switching later
    /// keeps earlier versions readable.
    pub blob_store: BlobBackend,
    /// Directory of the filesystem blob store; `None` means `<data_dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 << 20,
            allowed_content_types: super::default_content_types(),
            blob_store: BlobBackend::Database,
            blob_dir: None,
        }
    }
}

/// A blob store for document bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// Chunks in the application database: nothing else to run, share or back up.
    Database,
    /// Files under `documents.blob_dir` (one host, or a volume shared by all hosts).
    Filesystem,
}

impl DocumentsConfig {
    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=(4u64 << 30)).contains(&self.max_upload_bytes) {
            return Err(
                "documents.max_upload_bytes must be between 1 and 4294967296 (4 GiB)".into(),
            );
        }
        if self.allowed_content_types.is_empty() {
            return Err("documents.allowed_content_types must name at least one media type".into());
        }
        if let Some(p) = self
            .allowed_content_types
            .iter()
            .find(|p| !super::valid_type_pattern(p))
        {
            return Err(format!(
                "documents.allowed_content_types: `{p}` is not a lower-case media type like text/plain or text/*"
            ));
        }
        Ok(())
    }
}
