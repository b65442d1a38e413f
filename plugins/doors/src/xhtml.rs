//! XHTML (ReqIF `ATTRIBUTE-VALUE-XHTML`, DOORS Next primary text) to Markdown, fed element by
//! element by the XML parser, so no second parse and no DOM; and Markdown back to XHTML for
//! the ReqIF export ([`markdown_to_xhtml`]).
//!
//! Mapped: `p`, `div` (blocks), `br` (hard break), `b`/`strong`, `i`/`em`, `code`, `pre`,
//! `h1`–`h6`, `ul`/`ol`/`li` (nested), `a href`, `table`/`tr`/`td`/`th` (a GFM table), `object`
//! (a link to its `data`), `blockquote`. Other elements (`span`, `u`, `sub`, `sup`, `font`, …)
//! keep their text and lose their formatting. Text is whitespace-collapsed as a browser shows it
//! (except in `pre`), and Markdown punctuation in it is escaped, so `markdown → XHTML` (the
//! export) and back gives the same Markdown.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use quick_xml::escape::escape as escape_xml;

/// Converts a stream of XHTML events into Markdown.
#[derive(Debug, Default)]
pub struct ToMarkdown {
    /// Finished blocks.
    blocks: Vec<String>,
    /// The block being written (inline content).
    line: String,
    /// Open lists: ordered?, next number, indentation of their bullets.
    lists: Vec<(bool, u32, usize)>,
    /// Open list items: the indentation of their content.
    items: Vec<usize>,
    /// Inside `pre`.
    pre: u32,
    /// Open link targets.
    links: Vec<(usize, String)>,
    /// The table being built: rows of cells.
    table: Option<Vec<Vec<String>>>,
    /// The cell being written, when in a table.
    cell: Option<String>,
    /// The block prefix for the current block (heading marks, list bullet).
    prefix: String,
}

impl ToMarkdown {
    /// A new, empty conversion.
    pub fn new() -> Self {
        Self::default()
    }

    fn out(&mut self) -> &mut String {
        match &mut self.cell {
            Some(cell) => cell,
            None => &mut self.line,
        }
    }

    /// Ends the current block, if it has content.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.line);
        let text = text.trim_matches(|c: char| c == ' ' || c == '\n');
        if text.is_empty() {
            return;
        }
        let content = " ".repeat(self.items.last().copied().unwrap_or(0));
        let prefix = std::mem::take(&mut self.prefix);
        let first = if prefix.is_empty() {
            content.clone()
        } else {
            " ".repeat(self.lists.last().map_or(0, |l| l.2))
        };
        let body = text.replace('\n', &format!("\n{content}"));
        self.blocks.push(format!("{first}{prefix}{body}"));
    }

    /// An element opens: `name` is its local name, `attr` looks up its attributes.
    pub fn start(&mut self, name: &str, attr: impl Fn(&str) -> Option<String>) {
        match name {
            "p" | "div" | "blockquote" => self.flush(),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                let level = name[1..].parse::<usize>().unwrap_or(1);
                self.prefix = format!("{} ", "#".repeat(level));
            }
            "ul" | "ol" => {
                self.flush();
                let indent = self.items.last().copied().unwrap_or(0);
                self.lists.push((name == "ol", 1, indent));
            }
            "li" => {
                self.flush();
                let (bullet, indent) = match self.lists.last_mut() {
                    Some((true, n, indent)) => {
                        *n += 1;
                        (format!("{}. ", *n - 1), *indent)
                    }
                    Some((false, _, indent)) => ("- ".to_owned(), *indent),
                    None => ("- ".to_owned(), 0),
                };
                self.items.push(indent + bullet.len());
                self.prefix = bullet;
            }
            "br" => self.out().push_str("  \n"),
            "b" | "strong" => self.out().push_str("**"),
            "i" | "em" => self.out().push('*'),
            "code" if self.pre == 0 => self.out().push('`'),
            "pre" => {
                self.flush();
                self.pre += 1;
                self.line.push_str("```\n");
            }
            "a" => {
                let href = attr("href").unwrap_or_default();
                let at = self.out().len();
                self.links.push((at, href));
            }
            "object" => {
                let data = attr("data").unwrap_or_default();
                let label = attr("name").unwrap_or_else(|| "object".to_owned());
                let text = format!("[{}]({})", escape(&label), data.replace(' ', "%20"));
                self.out().push_str(&text);
            }
            "table" => {
                self.flush();
                self.table = Some(Vec::new());
            }
            "tr" => {
                if let Some(rows) = &mut self.table {
                    rows.push(Vec::new());
                }
            }
            "td" | "th" if self.table.is_some() => self.cell = Some(String::new()),
            _ => {}
        }
    }

    /// An element closes.
    pub fn end(&mut self, name: &str) {
        match name {
            "p" | "div" | "blockquote" => self.flush(),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                self.prefix.clear();
            }
            "li" => {
                self.flush();
                self.prefix.clear();
                self.items.pop();
            }
            "ul" | "ol" => {
                self.flush();
                self.lists.pop();
            }
            "b" | "strong" => self.out().push_str("**"),
            "i" | "em" => self.out().push('*'),
            "code" if self.pre == 0 => self.out().push('`'),
            "pre" => {
                self.pre = self.pre.saturating_sub(1);
                let text = std::mem::take(&mut self.line);
                let text = text.trim_end_matches('\n');
                self.blocks.push(format!("{text}\n```"));
            }
            "a" => {
                if let Some((at, href)) = self.links.pop() {
                    let out = self.out();
                    let at = at.min(out.len());
                    let label = out.split_off(at);
                    if href.is_empty() {
                        out.push_str(&label);
                    } else {
                        out.push_str(&format!("[{label}]({})", href.replace(' ', "%20")));
                    }
                }
            }
            "td" | "th" => {
                if let (Some(cell), Some(rows)) = (self.cell.take(), &mut self.table) {
                    if let Some(row) = rows.last_mut() {
                        row.push(cell.trim().replace('\n', " ").replace('|', "\\|"));
                    }
                }
            }
            "table" => {
                if let Some(rows) = self.table.take() {
                    self.blocks.push(table(&rows));
                }
            }
            _ => {}
        }
    }

    /// Character data.
    pub fn text(&mut self, text: &str) {
        if self.pre > 0 {
            self.line.push_str(text);
            return;
        }
        let out = self.out();
        let mut space = out.ends_with(' ') || out.ends_with('\n') || out.is_empty();
        for c in text.chars() {
            // XML's white space only: a no-break space is text.
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                if !space {
                    out.push(' ');
                    space = true;
                }
            } else {
                if needs_escape(c) {
                    out.push('\\');
                }
                out.push(c);
                space = false;
            }
        }
    }

    /// The Markdown.
    pub fn finish(mut self) -> String {
        self.cell = None;
        if let Some(rows) = self.table.take() {
            self.blocks.push(table(&rows));
        }
        self.flush();
        self.blocks.join("\n\n")
    }
}

/// A GFM table; the first row is the header.
fn table(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return String::new();
    }
    let line = |row: &[String]| {
        let cells: Vec<&str> = (0..width)
            .map(|i| row.get(i).map(String::as_str).unwrap_or(""))
            .collect();
        format!("| {} |", cells.join(" | "))
    };
    let mut out = vec![line(&rows[0]), format!("|{}", " --- |".repeat(width))];
    out.extend(rows[1..].iter().map(|r| line(r)));
    out.join("\n")
}

/// Markdown punctuation that would change the meaning of plain text.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|'
    )
}

/// Escapes Markdown punctuation in plain text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Markdown as one XHTML `div` (ReqIF's `XHTML-CONTENT`), elements in the XHTML namespace.
pub fn markdown_to_xhtml(markdown: &str) -> String {
    let mut out = String::from("<xhtml:div>");
    let mut open: Vec<&'static str> = Vec::new();
    let mut in_head = false;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(tag) => {
                let (name, attrs): (&'static str, String) = match tag {
                    Tag::Paragraph => ("p", String::new()),
                    Tag::Heading { level, .. } => (
                        ["h1", "h2", "h3", "h4", "h5", "h6"][level as usize - 1],
                        String::new(),
                    ),
                    Tag::BlockQuote(_) => ("blockquote", String::new()),
                    Tag::CodeBlock(_) => ("pre", String::new()),
                    Tag::List(None) => ("ul", String::new()),
                    Tag::List(Some(_)) => ("ol", String::new()),
                    Tag::Item => ("li", String::new()),
                    Tag::Emphasis => ("em", String::new()),
                    Tag::Strong => ("strong", String::new()),
                    Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                        ("a", format!(" href=\"{}\"", escape_xml(dest_url.as_ref())))
                    }
                    Tag::Table(_) => ("table", String::new()),
                    Tag::TableHead => {
                        in_head = true;
                        ("tr", String::new())
                    }
                    Tag::TableRow => ("tr", String::new()),
                    Tag::TableCell => (if in_head { "th" } else { "td" }, String::new()),
                    _ => ("", String::new()),
                };
                if !name.is_empty() {
                    out.push_str(&format!("<xhtml:{name}{attrs}>"));
                }
                open.push(name);
            }
            Event::End(end) => {
                if end == TagEnd::TableHead {
                    in_head = false;
                }
                if let Some(name) = open.pop().filter(|n| !n.is_empty()) {
                    out.push_str(&format!("</xhtml:{name}>"));
                }
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                out.push_str(&escape_xml(text.as_ref()))
            }
            Event::Code(code) => out.push_str(&format!(
                "<xhtml:code>{}</xhtml:code>",
                escape_xml(code.as_ref())
            )),
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<xhtml:br/>"),
            _ => {}
        }
    }
    out.push_str("</xhtml:div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(events: &[(&str, &str)]) -> String {
        let mut md = ToMarkdown::new();
        for (kind, value) in events {
            match *kind {
                "s" => md.start(value, |_| None),
                "e" => md.end(value),
                _ => md.text(value),
            }
        }
        md.finish()
    }

    #[test]
    fn paragraphs_emphasis_and_breaks() {
        let md = convert(&[
            ("s", "div"),
            ("t", "Some  "),
            ("s", "b"),
            ("t", "bold"),
            ("e", "b"),
            ("t", " text*"),
            ("s", "br"),
            ("e", "br"),
            ("t", "next"),
            ("e", "div"),
            ("s", "p"),
            ("t", "second"),
            ("e", "p"),
        ]);
        assert_eq!(md, "Some **bold** text\\*  \nnext\n\nsecond");
    }

    #[test]
    fn nested_lists() {
        let md = convert(&[
            ("s", "ul"),
            ("s", "li"),
            ("t", "a"),
            ("e", "li"),
            ("s", "li"),
            ("t", "b"),
            ("s", "ol"),
            ("s", "li"),
            ("t", "c"),
            ("e", "li"),
            ("e", "ol"),
            ("e", "li"),
            ("e", "ul"),
        ]);
        assert_eq!(md, "- a\n\n- b\n\n  1. c");
    }
}
