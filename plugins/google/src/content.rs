//! A file's text for the document's body: Google Docs exported as Markdown (rendered from the
//! Docs API where the export cannot serve: [`crate::docs`]), Sheets as a Markdown table per
//! sheet read through the Sheets API ([`crate::sheets`]), Slides as plain text, text files as
//! they are; everything else, and anything over the size cap, is metadata only with a note
//! saying why.

use agentic_sdk::Error;

use crate::api::{Google, Service};

/// Google Docs.
pub const DOC: &str = "application/vnd.google-apps.document";
/// Google Sheets.
pub const SHEET: &str = "application/vnd.google-apps.spreadsheet";
/// Google Slides.
pub const SLIDES: &str = "application/vnd.google-apps.presentation";
/// Drive folders.
pub const FOLDER: &str = "application/vnd.google-apps.folder";

/// A document's body, or why it has none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    /// MIME type of `text`.
    pub content_type: String,
    /// The text (empty with a note).
    pub text: String,
    /// Why there is no text, or why it is cut.
    pub note: Option<String>,
}

impl Body {
    /// A body of `text`, with a note when something was cut or rendered otherwise.
    pub fn text(content_type: &str, text: String, note: Option<String>) -> Self {
        Self {
            content_type: content_type.into(),
            text,
            note,
        }
    }

    fn note(content_type: &str, note: String) -> Self {
        Self {
            content_type: content_type.into(),
            text: String::new(),
            note: Some(note),
        }
    }
}

/// What a file's body comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `files.export` as this MIME type.
    Export(&'static str),
    /// Every sheet's values through the Sheets API.
    Sheets,
    /// `files.get?alt=media`.
    Download,
    /// Nothing: metadata only.
    None,
}

/// Where the text of a file of `mime` comes from.
pub fn source(mime: &str) -> Source {
    match mime {
        DOC => Source::Export("text/markdown"),
        SHEET => Source::Sheets,
        SLIDES => Source::Export("text/plain"),
        m if m.starts_with("text/")
            || matches!(
                m,
                "application/json" | "application/xml" | "application/x-yaml" | "application/yaml"
            ) =>
        {
            Source::Download
        }
        _ => Source::None,
    }
}

/// The body of file `id` (`mime`, `size` as Drive reports it for binary files); `Ok(None)`
/// when the file is gone (deleted since it was listed: the caller skips it).
pub fn fetch(
    google: &Google,
    id: &str,
    mime: &str,
    size: Option<u64>,
    max_bytes: u64,
    max_cells: u64,
) -> Result<Option<Body>, Error> {
    let over = |n: u64| {
        format!("content not kept: {n} bytes, over the connection's max_file_bytes of {max_bytes}")
    };
    let (response, content_type) = match source(mime) {
        Source::None => {
            return Ok(Some(Body::note(
                mime,
                format!("metadata only: {mime} has no text form"),
            )))
        }
        _ if max_bytes == 0 => {
            return Ok(Some(Body::note(
                mime,
                "metadata only: max_file_bytes is 0".into(),
            )))
        }
        Source::Sheets => return crate::sheets::sheet(google, id, max_bytes, max_cells),
        Source::Download => {
            if let Some(n) = size.filter(|n| *n > max_bytes) {
                return Ok(Some(Body::note(mime, over(n))));
            }
            let r = google.get(
                Service::Drive,
                &["files", id],
                &[("alt", "media"), ("supportsAllDrives", "true")],
                &format!("download file {id}"),
            );
            (r, mime.to_owned())
        }
        Source::Export(as_type) => {
            let r = google.get(
                Service::Drive,
                &["files", id, "export"],
                &[("mimeType", as_type)],
                &format!("export file {id} as {as_type}"),
            );
            (r, as_type.to_owned())
        }
    };
    let response = match response {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(None),
        // A Doc Drive cannot export: rendered from the Docs API instead.
        Err(Error::Auth(m)) if m.contains("exportSizeLimitExceeded") && mime == DOC => {
            return crate::docs::doc(google, id, max_bytes);
        }
        Err(Error::Auth(m)) if m.contains("exportSizeLimitExceeded") => {
            return Ok(Some(Body::note(
                &content_type,
                "content not kept: Google cannot export a file this large (over 10 MB)".into(),
            )));
        }
        Err(e) => return Err(e),
    };
    let n = response.body.len() as u64;
    if n > max_bytes {
        return Ok(Some(Body::note(&content_type, over(n))));
    }
    let Ok(text) = String::from_utf8(response.body) else {
        return Ok(Some(Body::note(
            &content_type,
            "content not kept: not UTF-8 text".into(),
        )));
    };
    Ok(Some(Body {
        content_type,
        text,
        note: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_by_mime_type() {
        assert_eq!(source(DOC), Source::Export("text/markdown"));
        assert_eq!(source(SHEET), Source::Sheets);
        assert_eq!(source("text/plain"), Source::Download);
        assert_eq!(source("application/pdf"), Source::None);
        assert_eq!(source(FOLDER), Source::None);
    }
}
