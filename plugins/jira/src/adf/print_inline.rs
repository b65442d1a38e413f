//! Inline content → Markdown, for [`super::print`].
//!
//! Inline nodes are grouped into spans by their marks (the mark that lasts longest opens
//! first), printed natively — `**strong**`, `*em*`, `~~strike~~`, `` `code` ``, `[link](…)`,
//! `<autolink>` — or as `:kind[…]{json}` directives, escaped so Markdown reads them as text,
//! then read back with the inline parser: content that would not read back the same is printed
//! again with a directive for every mark and every punctuation character escaped.

use serde_json::{Map, Value};

use super::inline;
use super::print::json;
use super::{Mark, Node};

/// Where inline content is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    /// A paragraph or similar block: hard breaks end lines; lines are escaped against block
    /// syntax.
    Block,
    /// A heading: one line.
    Line,
    /// A GFM table cell: one line, pipes escaped.
    Table,
}

/// Inline content as Markdown that reads back the same: natively if it does, else with every
/// mark as a directive.
pub(super) fn inline_text(nodes: &[Node], context: Context) -> String {
    if nodes.is_empty() {
        return String::new();
    }
    if let Some(native) = render_inlines(nodes, context, false) {
        if reads_back(&native, nodes, context) {
            return native;
        }
    }
    render_inlines(nodes, context, true).unwrap_or_default()
}

fn reads_back(markdown: &str, nodes: &[Node], context: Context) -> bool {
    let source = if context == Context::Table {
        inline::unescape_pipes(markdown)
    } else {
        markdown.to_owned()
    };
    let parsed = inline::parse(&source);
    let wrap =
        |content: Vec<Node>| super::normalize_node(Node::new("paragraph").with_content(content));
    wrap(parsed) == wrap(nodes.to_vec())
}

/// A node of inline content with the marks still to print around it.
struct Item<'a> {
    node: &'a Node,
    marks: Vec<&'a Mark>,
}

/// Inline content grouped by marks: each span is one mark around a run of content.
enum Tree<'a> {
    Leaf(&'a Node),
    Span(&'a Mark, Vec<Tree<'a>>),
}

/// Groups `items` into spans: at each position, the mark that lasts longest opens first.
fn group<'a>(items: Vec<Item<'a>>) -> Vec<Tree<'a>> {
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    let mut pending: Vec<Item<'a>> = Vec::new();
    loop {
        if pending.is_empty() {
            match items.next() {
                Some(item) => pending.push(item),
                None => break,
            }
        }
        let first = &pending[0];
        let open: Vec<&'a Mark> = first
            .marks
            .iter()
            .copied()
            .filter(|m| !(m.kind == "code" && first.node.kind == "text"))
            .collect();
        if open.is_empty() {
            let item = pending.remove(0);
            out.push(Tree::Leaf(item.node));
            continue;
        }
        // Pull in every following item that shares a mark with the first.
        while let Some(next) = items.peek() {
            if open.iter().any(|m| next.marks.contains(m)) {
                pending.push(items.next().expect("peeked"));
            } else {
                break;
            }
        }
        let run_of = |m: &&Mark| pending.iter().take_while(|i| i.marks.contains(m)).count();
        let best = open
            .iter()
            .copied()
            .max_by(|a, b| run_of(a).cmp(&run_of(b)).then(b.rank().cmp(&a.rank())))
            .expect("open is not empty");
        let run = run_of(&best);
        let rest = pending.split_off(run);
        let inner: Vec<Item<'a>> = std::mem::replace(&mut pending, rest)
            .into_iter()
            .map(|mut i| {
                i.marks.retain(|m| *m != best);
                i
            })
            .collect();
        out.push(Tree::Span(best, group(inner)));
    }
    out
}

/// Prints inline content; `safe`: every mark and inline node as a directive, all punctuation
/// escaped. `None` when a line would start with syntax that cannot be escaped.
fn render_inlines(nodes: &[Node], context: Context, safe: bool) -> Option<String> {
    let items = nodes
        .iter()
        .map(|node| Item {
            node,
            marks: node.marks.iter().collect(),
        })
        .collect();
    let tree = group(items);
    let last_break = nodes.last().is_some_and(|n| n.kind == "hardBreak");
    let mut out = String::new();
    let total = count_leaves(&tree);
    let mut seen = 0;
    render_trees(&tree, context, safe, &mut out, &mut seen, total, last_break);
    escape_lines(&out, context)
}

fn count_leaves(trees: &[Tree<'_>]) -> usize {
    trees
        .iter()
        .map(|t| match t {
            Tree::Leaf(_) => 1,
            Tree::Span(_, inner) => count_leaves(inner),
        })
        .sum()
}

fn render_trees(
    trees: &[Tree<'_>],
    context: Context,
    safe: bool,
    out: &mut String,
    seen: &mut usize,
    total: usize,
    last_break: bool,
) {
    for tree in trees {
        match tree {
            Tree::Leaf(node) => {
                *seen += 1;
                let is_last = *seen == total;
                render_leaf(node, context, safe, is_last && last_break, out);
            }
            Tree::Span(mark, inner) => {
                let mut text = String::new();
                render_trees(inner, context, safe, &mut text, seen, total, last_break);
                render_span(mark, &text, context, safe, out);
            }
        }
    }
}

fn render_span(mark: &Mark, inner: &str, context: Context, safe: bool, out: &mut String) {
    let delimiter = match mark.kind.as_str() {
        "strong" if !safe => Some("**"),
        "em" if !safe => Some("*"),
        "strike" if !safe => Some("~~"),
        _ => None,
    };
    if let Some(d) = delimiter {
        if mark.attrs.is_empty() {
            // Delimiters must touch non-space text: whitespace at the edges goes outside.
            let core = inner.trim_matches([' ', '\t']);
            let start = inner.len() - inner.trim_start_matches([' ', '\t']).len();
            out.push_str(&inner[..start]);
            if !core.is_empty() {
                out.push_str(d);
                out.push_str(core);
                out.push_str(d);
            }
            out.push_str(&inner[start + core.len()..]);
            return;
        }
    }
    if mark.kind == "link" && !safe {
        if let Some(target) = link_target(&mark.attrs, context == Context::Table) {
            out.push('[');
            out.push_str(inner);
            out.push_str("](");
            out.push_str(&target);
            out.push(')');
            return;
        }
    }
    out.push(':');
    out.push_str(&mark.kind);
    out.push('[');
    out.push_str(inner);
    out.push(']');
    out.push_str(&json(&mark.attrs, context == Context::Table));
}

/// `href "title"` for a link mark that has only those, when they can be written so (in a table
/// cell, with pipes escaped).
fn link_target(attrs: &Map<String, Value>, table: bool) -> Option<String> {
    if attrs.keys().any(|k| k != "href" && k != "title") {
        return None;
    }
    let href = attrs.get("href")?.as_str()?;
    if href.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return None;
    }
    let mut target = String::new();
    let bare = !href.is_empty() && !href.contains(' ');
    if !bare {
        target.push('<');
    }
    let mut chars = href.chars().peekable();
    while let Some(c) = chars.next() {
        let escape = match c {
            '\\' => chars.peek().is_some_and(char::is_ascii_punctuation),
            '(' | ')' => bare,
            '&' => true,
            '|' => table,
            _ => false,
        };
        if escape {
            target.push('\\');
        }
        target.push(c);
    }
    if !bare {
        target.push('>');
    }
    if let Some(title) = attrs.get("title") {
        let title = title.as_str().filter(|t| !t.contains(char::is_control))?;
        target.push_str(" \"");
        for c in title.chars() {
            if c.is_ascii_punctuation() {
                target.push('\\');
            }
            target.push(c);
        }
        target.push('"');
    }
    Some(target)
}

fn render_leaf(node: &Node, context: Context, safe: bool, last_break: bool, out: &mut String) {
    let table = context == Context::Table;
    match node.kind.as_str() {
        "text" => {
            if node.marks.iter().any(|m| m.kind == "code") {
                code_span(&node.text, context, safe, out);
            } else {
                escape_text(&node.text, safe, table, out);
            }
        }
        "hardBreak" => {
            if context != Context::Block || last_break {
                out.push_str("<br>");
            } else {
                out.push_str("\\\n");
            }
        }
        "inlineCard" if !safe => match autolink(node) {
            Some(url) => {
                out.push('<');
                out.push_str(url);
                out.push('>');
            }
            None => inline_directive(node, table, safe, out),
        },
        _ => inline_directive(node, table, safe, out),
    }
}

/// An inline card's URL, when it can be an autolink.
fn autolink(node: &Node) -> Option<&str> {
    if node.attrs.keys().any(|k| k != "url" && k != "localId") {
        return None;
    }
    let url = node.attr_str("url")?;
    inline::is_autolink_url(url).then_some(url)
}

/// The attribute an inline node's directive shows as its label.
pub(super) fn label_attr(kind: &str) -> Option<&'static str> {
    match kind {
        "mention" | "status" | "placeholder" | "inlineExtension" => Some("text"),
        "emoji" => Some("shortName"),
        _ => None,
    }
}

/// `:kind[label]{attrs}`.
fn inline_directive(node: &Node, table: bool, safe: bool, out: &mut String) {
    let mut attrs = node.attrs.clone();
    let label = match label_attr(&node.kind) {
        Some(name) => match attrs.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {
                let s = s.clone();
                attrs.remove(name);
                s
            }
            _ => String::new(),
        },
        None if node.kind == "date" => node
            .attr_str("timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .map(crate::time::utc_date)
            .unwrap_or_default(),
        None => String::new(),
    };
    out.push(':');
    out.push_str(&node.kind);
    out.push('[');
    escape_text(&label, safe, table, out);
    out.push(']');
    out.push_str(&json(&attrs, table));
}

/// A code span around `text`, or a `:code[…]` directive when a span cannot hold it.
fn code_span(text: &str, context: Context, safe: bool, out: &mut String) {
    // In a table, a backslash before a pipe would escape the cell's pipe escape.
    let table = context == Context::Table;
    if safe || text.contains(['\n', '\r']) || (table && text.contains('\\')) {
        out.push_str(":code[");
        escape_text(text, true, table, out);
        out.push(']');
        return;
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let all_spaces = text.chars().all(|c| c == ' ');
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (!all_spaces && text.starts_with(' ') && text.ends_with(' '));
    out.push_str(&fence);
    if pad {
        out.push(' ');
    }
    if table {
        out.push_str(&text.replace('|', "\\|"));
    } else {
        out.push_str(text);
    }
    if pad {
        out.push(' ');
    }
    out.push_str(&fence);
}

/// Escapes text so that it reads back as itself.
fn escape_text(text: &str, safe: bool, table: bool, out: &mut String) {
    for (i, c) in text.char_indices() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '|' if table => out.push_str("\\|"),
            '&' if safe || looks_like_entity(&text[i..]) => {
                out.push_str("\\&");
            }
            '{' if i == 0 => out.push_str("\\{"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if safe && c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// `&name;` or `&#…;`: what a Markdown reader might take for a character reference.
fn looks_like_entity(text: &str) -> bool {
    let body = &text[1..];
    let end = body.find(';');
    match end {
        Some(end) if end > 0 && end <= 32 => {
            let name = &body[..end];
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
        }
        _ => false,
    }
}

/// Escapes what would be read as block syntax at the start of a line, and whitespace at either
/// end of a line (Markdown strips it). `None` when a line starts with a code span of three or
/// more backticks (a code fence to a reader), which no escape can save.
fn escape_lines(text: &str, context: Context) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start_matches([' ', '\t']);
        for c in line[..line.len() - trimmed.len()].chars() {
            out.push_str(if c == '\t' { "&#9;" } else { "&#32;" });
        }
        let core = trimmed.trim_end_matches([' ', '\t']);
        if context != Context::Table {
            if core.starts_with("```") {
                return None;
            }
            let first = core.chars().next();
            let digits = core.bytes().take_while(u8::is_ascii_digit).count();
            if matches!(first, Some('#' | '>' | '-' | '+' | '=' | '|')) || core.starts_with("::") {
                out.push('\\');
                out.push_str(core);
            } else if (1..=9).contains(&digits)
                && matches!(core.as_bytes().get(digits), Some(b'.' | b')'))
            {
                out.push_str(&core[..digits]);
                out.push('\\');
                out.push_str(&core[digits..]);
            } else {
                out.push_str(core);
            }
        } else {
            out.push_str(core);
        }
        // A hard break's backslash ends the line: spaces before it are not at the end.
        for c in trimmed[core.len()..].chars() {
            out.push_str(if c == '\t' { "&#9;" } else { "&#32;" });
        }
    }
    Some(out)
}
