//! Google Docs through the Docs API, on the connection's service origin `docs` (contract
//! 0.3.0): a Doc's body is Drive's Markdown export, and where the export cannot serve (Google
//! exports nothing over 10 MB: `exportSizeLimitExceeded`), `documents.get` rendered to Markdown
//! here.
//!
//! The rendering keeps `TITLE` and `HEADING_n` paragraphs as `#` headings, bulleted paragraphs
//! as `- ` items (indented by nesting level), bold, italic and linked runs, tables as rows of
//! their cells' text, footnotes as Markdown footnotes (`[^n]` where the reference is, numbered
//! in the order of the references as Docs numbers them, the footnotes' text at the end) and
//! inline images as `![alt](uri)` (the object's `title` and `description` as the alt text, its
//! `imageProperties.sourceUri` — where the image was inserted from — as the URI; an image
//! uploaded from a computer has none and is `*[image: alt]*`). Never `contentUri`: that is
//! Google's copy of the image behind a capability (for 30 minutes anyone holding the URI sees
//! the image as the connection's identity), which must not end up in records. It leaves out embedded objects without an image
//! (drawings), positioned objects, suggestions, and the tabs after the first (`documents.get`
//! without `includeTabsContent` answers the first tab's content).

use agentic_sdk::serde_json::Value;
use agentic_sdk::Error;

use crate::api::{Google, Service};
use crate::content::Body;

/// The Markdown of the Doc `id` from `documents.get`; `Ok(None)` when it is gone.
pub fn doc(google: &Google, id: &str, max_bytes: u64) -> Result<Option<Body>, Error> {
    let response = match google.get(
        Service::Docs,
        &["documents", id],
        &[],
        &format!("read document {id}"),
    ) {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let document: Value = response.json()?;
    let text = document_to_markdown(&document);
    let n = text.len() as u64;
    if n > max_bytes {
        return Ok(Some(Body::text(
            "text/markdown",
            String::new(),
            Some(format!(
                "content not kept: {n} bytes, over the connection's max_file_bytes of {max_bytes}"
            )),
        )));
    }
    Ok(Some(Body::text(
        "text/markdown",
        text,
        Some("rendered from the Docs API: Drive could not export this document".into()),
    )))
}

/// A Docs API document (`body.content`, `footnotes`, `inlineObjects`) as Markdown; see the
/// module's documentation for what is kept.
pub fn document_to_markdown(document: &Value) -> String {
    let mut render = Render {
        document,
        footnotes: Vec::new(),
    };
    let mut out = render.content(&document["body"]["content"]);
    let mut notes = String::new();
    // Indexed: a footnote's text could reference another (Docs does not let it).
    let mut i = 0;
    while let Some(id) = render.footnotes.get(i).cloned() {
        i += 1;
        let text = render.content(&document["footnotes"][&id]["content"]);
        let lines: Vec<String> = text
            .trim()
            .lines()
            .enumerate()
            .map(|(n, line)| match (n, line.is_empty()) {
                (0, _) | (_, true) => line.to_owned(),
                // Continuation lines of a footnote are indented.
                _ => format!("    {line}"),
            })
            .collect();
        notes.push_str(&format!("[^{i}]: {}\n", lines.join("\n")));
    }
    if !notes.is_empty() {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(&notes);
    }
    out
}

/// One rendering: the document (for its footnotes and inline objects) and the footnotes
/// referenced so far.
struct Render<'a> {
    document: &'a Value,
    /// Footnote ids in the order of their first reference: `[^n]` is the n-th.
    footnotes: Vec<String>,
}

impl Render<'_> {
    /// Structural elements (a body's, a footnote's): paragraphs and tables.
    fn content(&mut self, content: &Value) -> String {
        let mut out = String::new();
        for element in content.as_array().into_iter().flatten() {
            if let Some(paragraph) = element.get("paragraph") {
                out.push_str(&self.paragraph(paragraph));
            } else if let Some(table) = element.get("table") {
                for row in table["tableRows"].as_array().into_iter().flatten() {
                    let cells: Vec<String> = row["tableCells"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|cell| {
                            let text = self.content(&cell["content"]);
                            text.trim().replace('|', "\\|").replace('\n', "<br>")
                        })
                        .collect();
                    out.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
            }
        }
        out
    }

    fn paragraph(&mut self, paragraph: &Value) -> String {
        let mut text = String::new();
        for element in paragraph["elements"].as_array().into_iter().flatten() {
            if let Some(run) = element.get("textRun") {
                text.push_str(&text_run(run));
            } else if let Some(reference) = element.get("footnoteReference") {
                text.push_str(&self.footnote(reference));
            } else if let Some(object) = element.get("inlineObjectElement") {
                text.push_str(&self.image(object));
            }
        }
        let style = paragraph["paragraphStyle"]["namedStyleType"]
            .as_str()
            .unwrap_or_default();
        let prefix = match style {
            "TITLE" => "# ".to_owned(),
            s if s.starts_with("HEADING_") => {
                let level: usize = s["HEADING_".len()..].parse().unwrap_or(1);
                format!("{} ", "#".repeat(level.clamp(1, 6)))
            }
            _ => match paragraph.get("bullet") {
                Some(bullet) => {
                    let level = bullet["nestingLevel"].as_u64().unwrap_or(0) as usize;
                    format!("{}- ", "  ".repeat(level))
                }
                None => String::new(),
            },
        };
        if text.trim().is_empty() {
            return "\n".repeat(usize::from(text.ends_with('\n')));
        }
        format!("{prefix}{text}")
    }

    /// `[^n]` for a reference to a footnote the document has; nothing else.
    fn footnote(&mut self, reference: &Value) -> String {
        let Some(id) = reference["footnoteId"].as_str() else {
            return String::new();
        };
        if self.document["footnotes"].get(id).is_none() {
            return String::new();
        }
        let n = match self.footnotes.iter().position(|f| f == id) {
            Some(at) => at + 1,
            None => {
                self.footnotes.push(id.to_owned());
                self.footnotes.len()
            }
        };
        format!("[^{n}]")
    }

    /// `![alt](uri)` for an inline image inserted from a URL, `*[image: alt]*` for one without
    /// (uploaded); nothing for an object that is no image (a drawing).
    fn image(&self, element: &Value) -> String {
        let id = element["inlineObjectId"].as_str().unwrap_or_default();
        let object =
            &self.document["inlineObjects"][id]["inlineObjectProperties"]["embeddedObject"];
        let image = &object["imageProperties"];
        if !image.is_object() {
            return String::new();
        }
        let said = |k: &str| object[k].as_str().map(str::trim).filter(|s| !s.is_empty());
        let alt = match (said("title"), said("description")) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            (Some(t), None) => t.to_owned(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => String::new(),
        };
        let alt = alt
            .replace('\\', "\\\\")
            .replace('[', "\\[")
            .replace(']', "\\]")
            .replace(['\n', '\r'], " ");
        let source = image["sourceUri"]
            .as_str()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        match source {
            Some(uri) => {
                let uri = uri
                    .replace(' ', "%20")
                    .replace('(', "%28")
                    .replace(')', "%29");
                format!("![{alt}]({uri})")
            }
            None if alt.is_empty() => "*[image]*".to_owned(),
            None => format!("*[image: {alt}]*"),
        }
    }
}

/// A text run as Markdown: its text, linked, italic and bold as its style says; the
/// paragraph's own line break kept outside the markup.
fn text_run(run: &Value) -> String {
    let content = run["content"].as_str().unwrap_or_default();
    let (body, newline) = match content.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (content, ""),
    };
    if body.is_empty() {
        return newline.to_owned();
    }
    let style = &run["textStyle"];
    let mut piece = body.to_owned();
    if let Some(url) = style["link"]["url"].as_str() {
        piece = format!("[{piece}]({url})");
    }
    if style["italic"] == true {
        piece = format!("*{piece}*");
    }
    if style["bold"] == true {
        piece = format!("**{piece}**");
    }
    piece + newline
}
