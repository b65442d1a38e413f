//! A file's text for the document's body: Google Docs exported as Markdown, Sheets as a
//! Markdown table, Slides as plain text, text files as they are; everything else, and anything
//! over the size cap, is metadata only with a note saying why.

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
    /// `files.get?alt=media`.
    Download,
    /// Nothing: metadata only.
    None,
}

/// Where the text of a file of `mime` comes from.
pub fn source(mime: &str) -> Source {
    match mime {
        DOC => Source::Export("text/markdown"),
        SHEET => Source::Export("text/csv"),
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
            let shown = if as_type == "text/csv" {
                "text/markdown"
            } else {
                as_type
            };
            (r, shown.to_owned())
        }
    };
    let response = match response {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(None),
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
    if mime == SHEET {
        let (table, note) = csv_to_markdown(&text, max_cells);
        return Ok(Some(Body {
            content_type,
            text: table,
            note,
        }));
    }
    Ok(Some(Body {
        content_type,
        text,
        note: None,
    }))
}

/// A CSV export (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes) as a
/// Markdown table, its first row the header, at most `max_cells` cells (whole rows); the note
/// says what was cut. Drive exports a spreadsheet's first sheet only.
pub fn csv_to_markdown(csv: &str, max_cells: u64) -> (String, Option<String>) {
    let rows = parse_csv(csv);
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return (String::new(), None);
    }
    let max_rows = usize::try_from((max_cells / width as u64).max(1)).unwrap_or(usize::MAX);
    let cell = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace("\r\n", "<br>")
            .replace('\n', "<br>")
    };
    let line = |row: &[String]| {
        let mut out = String::from("|");
        for i in 0..width {
            out.push(' ');
            out.push_str(&cell(row.get(i).map_or("", String::as_str)));
            out.push_str(" |");
        }
        out
    };
    let mut out = vec![line(&rows[0]), format!("|{}", " --- |".repeat(width))];
    out.extend(
        rows.iter()
            .skip(1)
            .take(max_rows.saturating_sub(1))
            .map(|r| line(r)),
    );
    let note = (rows.len() > max_rows).then(|| {
        format!(
            "table cut to {max_rows} of {} rows ({width} columns): over the connection's max_sheet_cells of {max_cells}",
            rows.len()
        )
    });
    (out.join("\n") + "\n", note)
}

fn parse_csv(csv: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_becomes_a_markdown_table() {
        let (t, note) = csv_to_markdown(
            "Name,Value\nalpha,1\n\"with, comma\",\"a \"\"q\"\" |\nnext\"\n",
            100,
        );
        assert_eq!(
            t,
            "| Name | Value |\n| --- | --- |\n| alpha | 1 |\n| with, comma | a \"q\" \\|<br>next |\n"
        );
        assert_eq!(note, None);
    }

    #[test]
    fn a_million_cells_are_cut_to_the_cap() {
        let csv: String = (0..100_000)
            .map(|r| format!("{r},b,c,d,e,f,g,h,i,j\n"))
            .collect();
        let (t, note) = csv_to_markdown(&csv, 10_000);
        assert_eq!(
            t.lines().count(),
            1_000 + 1,
            "1000 rows of 10 cells, plus the rule"
        );
        assert!(note.expect("a note").contains("1000 of 100000 rows"));
    }

    #[test]
    fn sources_by_mime_type() {
        assert_eq!(source(DOC), Source::Export("text/markdown"));
        assert_eq!(source("text/plain"), Source::Download);
        assert_eq!(source("application/pdf"), Source::None);
        assert_eq!(source(FOLDER), Source::None);
    }
}
