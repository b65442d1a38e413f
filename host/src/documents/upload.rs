//! Reading a document upload: a `multipart/form-data` body with a `file` part and optional
//! `title`, `tags` (a JSON array) and `metadata` (a JSON object) parts.
//!
//! The body is never held in memory. It is read through a length limit (the request body limit
//! of the upload routes) and parsed as it streams; the file part goes chunk by chunk into a
//! temporary file with a running count that refuses the upload the moment it passes
//! `documents.max_upload_bytes`, while its SHA-256 is computed on the way. The file part's
//! media type is checked against the allow-list as soon as its headers arrive, before any of
//! its bytes are read. Only when everything is read and valid do the bytes go to a blob store.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{clean_filename, content_type_allowed, is_text, TEXT_EXCERPT_BYTES};

/// Names of the parts an upload may have.
pub const PARTS: [&str; 4] = ["file", "title", "tags", "metadata"];

/// Largest text part (`title`, `tags`, `metadata`), in bytes; their own rules are stricter.
pub const MAX_TEXT_PART_BYTES: u64 = 64 * 1024;

/// Room for the text parts, part headers and boundaries beside the file.
pub const ENVELOPE_BYTES: u64 = 4 * MAX_TEXT_PART_BYTES;

/// The rules an upload is read under.
#[derive(Debug, Clone, Copy)]
pub struct UploadRules<'a> {
    /// Largest file, in bytes.
    pub max_file_bytes: u64,
    /// Accepted media types (`type/subtype` or `type/*`).
    pub allowed_types: &'a [String],
    /// Directory for the temporary file.
    pub spool_dir: &'a Path,
}

impl UploadRules<'_> {
    /// The largest whole body: the file and its envelope.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_file_bytes.saturating_add(ENVELOPE_BYTES)
    }
}

/// The file part, spooled to a temporary file (deleted when dropped).
#[derive(Debug)]
pub struct SpooledFile {
    /// The bytes, positioned at the start.
    pub file: tokio::fs::File,
    /// Cleaned file name.
    pub filename: String,
    /// Media type (`type/subtype`, lower case).
    pub content_type: String,
    /// Size in bytes (at least 1).
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Lower-cased start of the text, for text types (search).
    pub text: Option<String>,
}

/// An upload as read: the file and the text parts, not yet validated.
#[derive(Debug, Default)]
pub struct Upload {
    /// The `file` part.
    pub file: Option<SpooledFile>,
    /// The `title` part.
    pub title: Option<String>,
    /// The `tags` part (JSON array text).
    pub tags: Option<String>,
    /// The `metadata` part (JSON object text).
    pub metadata: Option<String>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The body is not `multipart/form-data` (415).
    #[error("{0}")]
    NotMultipart(String),
    /// The multipart body is malformed (400).
    #[error("{0}")]
    Malformed(String),
    /// The body or the file is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The file's media type is not accepted (415).
    #[error("{0}")]
    ContentType(String),
    /// A part breaks a rule (422).
    #[error("{field}: {message}")]
    Part {
        /// The part's name.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The temporary file could not be written (500).
    #[error("spooling the upload: {0}")]
    Io(#[from] std::io::Error),
}

fn part(field: &str, message: impl Into<String>) -> UploadError {
    UploadError::Part {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The multipart boundary of a request's `Content-Type`.
pub fn boundary(content_type: Option<&str>) -> Result<String, UploadError> {
    let content_type = content_type.unwrap_or_default();
    multer::parse_boundary(content_type).map_err(|e| {
        UploadError::NotMultipart(match e {
            multer::Error::NoBoundary => {
                "the multipart/form-data Content-Type lacks its boundary parameter".to_owned()
            }
            _ if content_type.is_empty() => {
                "send the document as multipart/form-data with a `file` part, got no Content-Type"
                    .to_owned()
            }
            _ => format!(
                "send the document as multipart/form-data with a `file` part, got {content_type}"
            ),
        })
    })
}

/// `n` bytes in the most readable unit.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

fn too_large(rules: &UploadRules<'_>) -> UploadError {
    UploadError::TooLarge(format!(
        "the file is larger than the limit of {} (documents.max_upload_bytes)",
        human_bytes(rules.max_file_bytes)
    ))
}

/// Whether a multer error is (or wraps) a size limit.
fn is_size_error(e: &multer::Error) -> bool {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => true,
        multer::Error::StreamReadFailed(inner) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return true;
                }
                if let Some(m) = err.downcast_ref::<multer::Error>() {
                    return is_size_error(m);
                }
                source = err.source();
            }
            false
        }
        _ => false,
    }
}

fn multipart_error(e: multer::Error, rules: &UploadRules<'_>) -> UploadError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() != Some("file") =>
        {
            let field = field_name.unwrap_or_default();
            part(
                &field,
                format!("must be at most {}", human_bytes(MAX_TEXT_PART_BYTES)),
            )
        }
        e if is_size_error(&e) => too_large(rules),
        multer::Error::UnknownField { field_name } => part(
            field_name.as_deref().unwrap_or_default(),
            format!("unknown part; expected {}", PARTS.join(", ")),
        ),
        other => UploadError::Malformed(format!("malformed multipart body: {other}")),
    }
}

/// Hands the parser one chunk per poll.
///
/// multer reads everything its stream has ready into its buffer before it parses; from a client
/// that sends fast, that could be most of the body in memory at once. Answering `Pending` (and
/// asking to be polled again at once) after every chunk lets the parser hand each chunk on
/// before it takes the next, so about one chunk is buffered at a time.
struct OneChunkAtATime<S> {
    inner: S,
    yielded: bool,
}

impl<S> OneChunkAtATime<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            yielded: false,
        }
    }
}

impl<S: Stream + Unpin> Stream for OneChunkAtATime<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.yielded {
            self.yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        self.yielded = true;
        Poll::Ready(item)
    }
}

/// Reads an upload from `body`, whose `Content-Type` carried `boundary`.
pub async fn read(
    body: Body,
    boundary: String,
    rules: &UploadRules<'_>,
) -> Result<Upload, UploadError> {
    // The request body limit: the body stops being read (413) one byte past the largest
    // acceptable upload, whatever the parser does.
    let max_body = usize::try_from(rules.max_body_bytes()).unwrap_or(usize::MAX);
    let limited = Body::new(http_body_util::Limited::new(body, max_body));
    let constraints = multer::Constraints::new()
        .allowed_fields(PARTS.to_vec())
        .size_limit(
            multer::SizeLimit::new()
                .whole_stream(rules.max_body_bytes())
                .per_field(MAX_TEXT_PART_BYTES)
                .for_field("file", rules.max_file_bytes),
        );
    let mut multipart = multer::Multipart::with_constraints(
        OneChunkAtATime::new(limited.into_data_stream()),
        boundary,
        constraints,
    );
    let mut upload = Upload::default();
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e, rules))?;
        let Some(mut field) = field else { break };
        let name = field.name().unwrap_or_default().to_owned();
        let duplicate = match name.as_str() {
            "file" => upload.file.is_some(),
            "title" => upload.title.is_some(),
            "tags" => upload.tags.is_some(),
            _ => upload.metadata.is_some(),
        };
        if duplicate {
            return Err(part(&name, "given more than once"));
        }
        if name == "file" {
            upload.file = Some(spool(&mut field, rules).await?);
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, rules))? {
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes).map_err(|_| part(&name, "must be UTF-8 text"))?;
        match name.as_str() {
            "title" => upload.title = Some(text),
            "tags" => upload.tags = Some(text),
            _ => upload.metadata = Some(text),
        }
    }
    Ok(upload)
}

/// Streams the file part into a temporary file, counting, hashing and keeping the start of text.
async fn spool(
    field: &mut multer::Field<'static>,
    rules: &UploadRules<'_>,
) -> Result<SpooledFile, UploadError> {
    let content_type = field
        .content_type()
        .map(|m| m.essence_str().to_ascii_lowercase())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if !content_type_allowed(rules.allowed_types, &content_type) {
        return Err(UploadError::ContentType(format!(
            "documents of type {content_type} are not accepted; accepted types: {} \
             (documents.allowed_content_types)",
            rules.allowed_types.join(", ")
        )));
    }
    let filename = clean_filename(field.file_name().unwrap_or_default());
    tokio::fs::create_dir_all(rules.spool_dir).await?;
    let std_file = tempfile::tempfile_in(rules.spool_dir)?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut text = is_text(&content_type).then(Vec::new);
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, rules))? {
        size += chunk.len() as u64;
        if size > rules.max_file_bytes {
            return Err(too_large(rules));
        }
        hasher.update(&chunk);
        if let Some(text) = text.as_mut() {
            let room = TEXT_EXCERPT_BYTES.saturating_sub(text.len());
            text.extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
        file.write_all(&chunk).await?;
    }
    if size == 0 {
        return Err(part("file", "is empty"));
    }
    file.flush().await?;
    file.rewind().await?;
    Ok(SpooledFile {
        file,
        filename,
        content_type,
        size,
        sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        text: text.map(|t| String::from_utf8_lossy(&t).to_lowercase().replace('\0', "")),
    })
}
