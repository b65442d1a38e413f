//! Documents: files kept in a project with every version, title, tags and metadata.
//!
//! This module holds what documents need beyond SQL and HTTP: where the bytes live
//! ([`blobs`]), how an upload is read without buffering it ([`upload`]), and the rules for media
//! types, file names and the text that search sees. The REST handlers are in
//! `api/documents.rs`, the queries in `store/documents.rs` and `store/blobs.rs`.

/// Blob stores: the [`blobs::BlobStore`] trait, the database and filesystem stores.
pub mod blobs;
/// The `documents` section of the configuration.
pub mod config;
/// Streaming `multipart/form-data` uploads into a temporary file.
pub mod upload;

/// How much of a text document's start is kept for search.
pub const TEXT_EXCERPT_BYTES: usize = 64 * 1024;

/// Longest file name kept, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// The media types accepted by default: text, PDF, office documents, common images.
pub fn default_content_types() -> Vec<String> {
    [
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/pdf",
        "application/json",
        "application/xml",
        "text/xml",
        "application/rtf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Whether `pattern` is an allow-list entry: `type/subtype` or `type/*`, lower case.
pub fn valid_type_pattern(pattern: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&^_.+-".contains(&b))
    };
    match pattern.split_once('/') {
        Some((kind, "*")) => token(kind),
        Some((kind, sub)) => token(kind) && token(sub),
        None => false,
    }
}

/// Whether the media type `essence` (`type/subtype`, lower case) matches the allow-list.
pub fn content_type_allowed(allowed: &[String], essence: &str) -> bool {
    allowed
        .iter()
        .any(|pattern| match pattern.strip_suffix("/*") {
            Some(kind) => essence.split_once('/').is_some_and(|(k, _)| k == kind),
            None => pattern == essence,
        })
}

/// Whether the content of this type is text that search should see.
pub fn is_text(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(essence, "application/json" | "application/xml")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
}

/// The last path component of an uploaded file name, without control characters, at most
/// [`MAX_FILENAME_CHARS`]; `document` when nothing is left.
pub fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "document".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// A `Content-Disposition: attachment` value for `filename` (RFC 6266): an ASCII fallback
/// `filename` with anything unsafe replaced, and the exact name in `filename*` (RFC 8187).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_types() {
        let allowed = vec!["text/*".to_owned(), "application/pdf".to_owned()];
        assert!(content_type_allowed(&allowed, "text/plain"));
        assert!(content_type_allowed(&allowed, "application/pdf"));
        assert!(!content_type_allowed(&allowed, "application/pdfx"));
        assert!(!content_type_allowed(&allowed, "image/png"));
        assert!(!content_type_allowed(&allowed, "textual/plain"));
        assert!(valid_type_pattern("text/*"));
        assert!(valid_type_pattern("application/vnd.ms-excel"));
        assert!(!valid_type_pattern("*/*"));
        assert!(!valid_type_pattern("Text/Plain"));
        assert!(!valid_type_pattern("text"));
        assert!(!valid_type_pattern("text/plain; charset=utf-8"));
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(clean_filename("a\r\nb.txt"), "ab.txt");
        assert_eq!(clean_filename(""), "document");
        assert_eq!(clean_filename("..."), "document");
        assert_eq!(clean_filename(".hidden"), "hidden");
        assert_eq!(clean_filename(&"x".repeat(300)).chars().count(), 255);
    }

    #[test]
    fn disposition_is_safe_and_exact() {
        assert_eq!(
            content_disposition("plan \"v2\".pdf"),
            "attachment; filename=\"plan _v2_.pdf\"; filename*=UTF-8''plan%20%22v2%22.pdf"
        );
        assert_eq!(
            content_disposition("Übersicht.txt"),
            "attachment; filename=\"_bersicht.txt\"; filename*=UTF-8''%C3%9Cbersicht.txt"
        );
    }
}
