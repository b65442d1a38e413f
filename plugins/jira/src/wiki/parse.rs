//! Wiki markup → ADF: blocks line by line (headings, lists by their marker depth, tables,
//! `bq.`, the `{quote}`, `{code}`, `{noformat}` and `{panel}` macros, rules), then inline
//! effects, links, mentions and `{color}` within them. What is not markup stays text.

use agentic_sdk::serde_json::{Map, Value};

use crate::adf::{Mark, Node};

/// Parses wiki markup into ADF blocks.
pub fn parse(wiki: &str) -> Vec<Node> {
    let text = wiki.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    blocks(&lines)
}

fn blocks(lines: &[&str]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if let Some((name, param)) = macro_start(trimmed) {
            if let Some(end) =
                (i + 1..lines.len()).find(|&k| lines[k].trim() == format!("{{{name}}}"))
            {
                let body = &lines[i + 1..end];
                out.push(match name {
                    "code" | "noformat" => {
                        let mut node = Node::new("codeBlock");
                        if let Some(lang) = param.filter(|p| !p.contains('=')) {
                            node = node.with_attr("language", lang);
                        }
                        let code = body.join("\n");
                        if code.is_empty() {
                            node
                        } else {
                            node.with_content(vec![Node::text(code, Vec::new())])
                        }
                    }
                    "quote" => Node::new("blockquote").with_content(blocks(body)),
                    _ => Node::new("panel")
                        .with_attr("panelType", "info")
                        .with_content(blocks(body)),
                });
                i = end + 1;
                continue;
            }
        }
        if let Some(level) = heading_level(trimmed) {
            let content = inline(trimmed[3..].trim());
            out.push(
                Node::new("heading")
                    .with_attr("level", level)
                    .with_content(content),
            );
            i += 1;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("bq. ") {
            let paragraph = Node::new("paragraph").with_content(inline(rest));
            out.push(Node::new("blockquote").with_content(vec![paragraph]));
            i += 1;
            continue;
        }
        if trimmed.len() >= 4 && trimmed.chars().all(|c| c == '-') {
            out.push(Node::new("rule"));
            i += 1;
            continue;
        }
        if list_marker(trimmed).is_some() {
            let start = i;
            while i < lines.len() && list_marker(lines[i].trim_start()).is_some() {
                i += 1;
            }
            let items: Vec<(String, &str)> = lines[start..i]
                .iter()
                .filter_map(|l| list_marker(l.trim_start()))
                .collect();
            out.extend(list(&items));
            continue;
        }
        if trimmed.starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                i += 1;
            }
            out.push(table(&lines[start..i]));
            continue;
        }
        // A paragraph: lines up to a blank line or another block; newlines are line breaks.
        let start = i;
        i += 1;
        while i < lines.len() {
            let t = lines[i].trim();
            if t.is_empty()
                || heading_level(t).is_some()
                || t.starts_with("bq. ")
                || list_marker(t).is_some()
                || t.starts_with('|')
                || macro_start(t).is_some()
            {
                break;
            }
            i += 1;
        }
        let mut content = Vec::new();
        for (n, line) in lines[start..i].iter().enumerate() {
            if n > 0 {
                content.push(Node::new("hardBreak"));
            }
            content.extend(inline(line.trim()));
        }
        out.push(Node::new("paragraph").with_content(content));
    }
    out
}

/// `{code:java}`, `{quote}`, `{noformat}`, `{panel:title=…}` alone on a line: name and parameter.
fn macro_start(line: &str) -> Option<(&'static str, Option<&str>)> {
    let inner = line.strip_prefix('{')?.strip_suffix('}')?;
    let (name, param) = match inner.split_once(':') {
        Some((n, p)) => (n, Some(p.split('|').next().unwrap_or_default())),
        None => (inner, None),
    };
    let name = ["code", "noformat", "quote", "panel"]
        .into_iter()
        .find(|n| *n == name)?;
    Some((name, param))
}

fn heading_level(line: &str) -> Option<u64> {
    let b = line.as_bytes();
    (b.len() >= 4 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) && b[2] == b'.' && b[3] == b' ')
        .then(|| u64::from(b[1] - b'0'))
}

/// `** text`, `# text`, `*# text`: the marker string and the text.
fn list_marker(line: &str) -> Option<(String, &str)> {
    let marker: String = line
        .chars()
        .take_while(|c| matches!(c, '*' | '#' | '-'))
        .collect();
    let rest = line[marker.len()..].strip_prefix(' ')?;
    // `- item` is a list item with one dash only (`-- x` is text).
    if marker.is_empty() || (marker.contains('-') && marker != "-") {
        return None;
    }
    let marker = marker.replace('-', "*");
    Some((marker, rest))
}

/// Nested lists from `(marker, text)` lines.
fn list(items: &[(String, &str)]) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let depth = items[i].0.len();
        let kind = if items[i].0.ends_with('#') {
            "orderedList"
        } else {
            "bulletList"
        };
        let kind_char = items[i].0.chars().last().unwrap_or('*');
        let mut list_items = Vec::new();
        while i < items.len() && items[i].0.len() == depth && items[i].0.ends_with(kind_char) {
            let mut content = vec![Node::new("paragraph").with_content(inline(items[i].1))];
            i += 1;
            let nested_start = i;
            while i < items.len() && items[i].0.len() > depth {
                i += 1;
            }
            if i > nested_start {
                let nested: Vec<(String, &str)> = items[nested_start..i]
                    .iter()
                    .map(|(m, t)| (m[depth..].to_owned(), *t))
                    .collect();
                content.extend(list(&nested));
            }
            list_items.push(Node::new("listItem").with_content(content));
        }
        if list_items.is_empty() {
            // A deeper item with no parent: read it at this depth.
            let (m, t) = &items[i];
            let shallow = vec![(m[m.len() - 1..].to_owned(), *t)];
            out.extend(list(&shallow));
            i += 1;
            continue;
        }
        out.push(Node::new(kind).with_content(list_items));
    }
    out
}

fn table(lines: &[&str]) -> Node {
    let rows = lines
        .iter()
        .map(|line| {
            let line = line.trim();
            let header = line.starts_with("||");
            let inner = line.trim_start_matches('|').trim_end_matches('|');
            let separator = if header { "||" } else { "|" };
            let cells = split_unescaped(inner, separator)
                .into_iter()
                .map(|cell| {
                    let kind = if header { "tableHeader" } else { "tableCell" };
                    let paragraph = Node::new("paragraph").with_content(inline(cell.trim()));
                    Node::new(kind).with_content(vec![paragraph])
                })
                .collect();
            Node::new("tableRow").with_content(cells)
        })
        .collect();
    Node::new("table").with_content(rows)
}

fn split_unescaped<'t>(text: &'t str, separator: &str) -> Vec<&'t str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let b = text.as_bytes();
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
        } else if text[i..].starts_with(separator) {
            parts.push(&text[start..i]);
            i += separator.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Inline wiki markup as ADF inline nodes.
pub fn inline(text: &str) -> Vec<Node> {
    let mut out = Vec::new();
    inline_into(text, &[], &mut out);
    out
}

const EFFECTS: [(&str, &str, &str); 8] = [
    ("*", "*", "strong"),
    ("_", "_", "em"),
    ("-", "-", "strike"),
    ("+", "+", "underline"),
    ("^", "^", "sup"),
    ("~", "~", "sub"),
    ("??", "??", "em"),
    ("{{", "}}", "code"),
];

fn effect_mark(name: &str) -> Mark {
    match name {
        "sup" | "sub" => {
            let mut attrs = Map::new();
            attrs.insert("type".into(), Value::String(name.into()));
            Mark::with_attrs("subsup", attrs)
        }
        other => Mark::new(other),
    }
}

fn inline_into(text: &str, marks: &[Mark], out: &mut Vec<Node>) {
    let mut buf = String::new();
    let flush = |buf: &mut String, out: &mut Vec<Node>| {
        if !buf.is_empty() {
            push_text(out, std::mem::take(buf), marks);
        }
    };
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let before = text[..i].chars().next_back();
        if let Some(escaped) = rest.strip_prefix("\\\\") {
            flush(&mut buf, out);
            out.push(Node::new("hardBreak"));
            i = text.len() - escaped.len();
            continue;
        }
        if rest.starts_with('\\') && rest.len() > 1 {
            let c = rest[1..].chars().next().unwrap_or_default();
            buf.push(c);
            i += 1 + c.len_utf8();
            continue;
        }
        if let Some((node_or_span, used)) = link(rest, marks) {
            flush(&mut buf, out);
            out.extend(node_or_span);
            i += used;
            continue;
        }
        if let Some(body) = rest.strip_prefix("{color:") {
            if let Some((color, after)) = body.split_once('}') {
                if let Some((inner, _)) = after.split_once("{color}") {
                    flush(&mut buf, out);
                    let mut nested = marks.to_vec();
                    let hex = color.trim();
                    if hex.len() == 7
                        && hex.starts_with('#')
                        && hex[1..].chars().all(|c| c.is_ascii_hexdigit())
                    {
                        let mut attrs = Map::new();
                        attrs.insert("color".into(), Value::String(hex.to_ascii_lowercase()));
                        nested.push(Mark::with_attrs("textColor", attrs));
                    }
                    inline_into(inner, &nested, out);
                    i += "{color:".len() + color.len() + 1 + inner.len() + "{color}".len();
                    continue;
                }
            }
        }
        let boundary_before = before.is_none_or(|c| !c.is_alphanumeric());
        let mut matched = false;
        for (open, close, name) in EFFECTS {
            let Some(after_open) = rest.strip_prefix(open) else {
                continue;
            };
            // Superscript, subscript and monospace work inside words (E=mc^2^, H~2~O).
            let in_word = matches!(name, "code" | "sup" | "sub");
            if !boundary_before && !in_word {
                continue;
            }
            if after_open.starts_with(char::is_whitespace) || after_open.is_empty() {
                continue;
            }
            let Some(end) = find_close(after_open, close, in_word) else {
                continue;
            };
            let inner = &after_open[..end];
            flush(&mut buf, out);
            let mut nested = marks.to_vec();
            nested.push(effect_mark(name));
            if name == "code" {
                push_text(out, inner.to_owned(), &nested);
            } else {
                inline_into(inner, &nested, out);
            }
            i += open.len() + end + close.len();
            matched = true;
            break;
        }
        if matched {
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        buf.push(c);
        i += c.len_utf8();
    }
    flush(&mut buf, out);
}

/// The end of an effect's text: a closing delimiter after non-space, before a boundary (or
/// anywhere, `in_word`).
fn find_close(text: &str, close: &str, in_word: bool) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(close).map(|p| p + from) {
        let before = text[..at].chars().next_back();
        let after = text[at + close.len()..].chars().next();
        let ok = in_word
            || (before.is_some_and(|c| !c.is_whitespace())
                && after.is_none_or(|c| !c.is_alphanumeric()));
        if ok && at > 0 {
            return Some(at);
        }
        from = at + close.len();
    }
    None
}

/// `[text|url]`, `[url]`, `[~user]`: nodes and the length read.
fn link(text: &str, marks: &[Mark]) -> Option<(Vec<Node>, usize)> {
    let inner = text.strip_prefix('[')?;
    let end = inner.find(']')?;
    let body = &inner[..end];
    if body.is_empty() || body.contains('\n') {
        return None;
    }
    let used = end + 2;
    if let Some(user) = body.strip_prefix('~') {
        let mention = Node::new("mention")
            .with_attr("id", user)
            .with_attr("text", format!("@{user}"));
        return Some((vec![mention], used));
    }
    let (label, href) = match body.rsplit_once('|') {
        Some((label, href)) => (label, href.trim()),
        None => ("", body.trim()),
    };
    let looks_like_url = href.contains("://") || href.starts_with("mailto:");
    if !looks_like_url {
        return None;
    }
    if label.is_empty() {
        return Some((vec![Node::new("inlineCard").with_attr("url", href)], used));
    }
    let mut attrs = Map::new();
    attrs.insert("href".into(), Value::String(href.to_owned()));
    let mut nested = marks.to_vec();
    nested.push(Mark::with_attrs("link", attrs));
    let mut nodes = Vec::new();
    inline_into(label, &nested, &mut nodes);
    Some((nodes, used))
}

fn push_text(out: &mut Vec<Node>, text: String, marks: &[Mark]) {
    if let Some(last) = out.last_mut() {
        if last.kind == "text" && last.marks == marks {
            last.text.push_str(&text);
            return;
        }
    }
    out.push(Node::text(text, marks.to_vec()));
}
