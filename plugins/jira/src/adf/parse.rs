//! Markdown blocks → ADF blocks.
//!
//! CommonMark's block structure (paragraphs, ATX and setext headings, thematic breaks, fenced
//! and indented code, block quotes, bullet and ordered lists with lazy continuation), GFM tables
//! and task lists, and container (`:::kind{json}` … `:::`) and leaf (`::kind{json}`)
//! directives. The result may break ADF's content rules; `sanitize` fixes that.

use serde_json::{Map, Value};

use super::inline;
use super::{is_known, is_textblock, Mark, Node};

/// Deepest nesting of quotes, lists and directives read; deeper containers are text.
const MAX_DEPTH: usize = 48;

/// Parses a Markdown document into ADF blocks.
pub(super) fn document(markdown: &str) -> Vec<Node> {
    let text = markdown.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    blocks(&lines, 0).into_iter().map(|p| p.node).collect()
}

/// A parsed block, and whether it came from Markdown syntax (rather than a directive): a
/// directive holding one native block of its own kind adds attributes to it.
struct Parsed {
    node: Node,
    native: bool,
}

fn native(node: Node) -> Parsed {
    Parsed { node, native: true }
}

fn blocks(lines: &[String], depth: usize) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if is_blank(line) {
            i += 1;
            continue;
        }
        if indent_of(line) >= 4 {
            let (node, next) = indented_code(lines, i);
            out.push(native(node));
            i = next;
            continue;
        }
        if let Some(fence) = fence_open(line) {
            let (node, next) = fenced_code(lines, i, &fence);
            out.push(native(node));
            i = next;
            continue;
        }
        if depth < MAX_DEPTH {
            if let Some(open) = directive_open(line) {
                let close = directive_close(lines, i, open.colons);
                let children = blocks(&lines[i + 1..close], depth + 1);
                out.push(directive_node(open.kind, open.attrs, children));
                i = (close + 1).min(lines.len());
                continue;
            }
        }
        if let Some((kind, attrs)) = leaf_directive(line) {
            out.push(directive_node(kind, attrs, Vec::new()));
            i += 1;
            continue;
        }
        if thematic_break(line) {
            out.push(native(Node::new("rule")));
            i += 1;
            continue;
        }
        if let Some((level, text)) = atx_heading(line) {
            out.push(native(heading(level, &text)));
            i += 1;
            continue;
        }
        if depth < MAX_DEPTH && quote_line(line).is_some() {
            let (inner, next) = quote_lines(lines, i);
            let children = blocks(&inner, depth + 1)
                .into_iter()
                .map(|p| p.node)
                .collect();
            out.push(native(Node::new("blockquote").with_content(children)));
            i = next;
            continue;
        }
        if depth < MAX_DEPTH {
            if let Some(marker) = list_marker(line) {
                let (node, next) = list(lines, i, &marker, depth);
                out.push(native(node));
                i = next;
                continue;
            }
        }
        if let Some(columns) = table_start(lines, i) {
            let (node, next) = table(lines, i, columns);
            out.push(native(node));
            i = next;
            continue;
        }
        let (node, next) = paragraph(lines, i);
        out.push(native(node));
        i = next;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Lines

/// Without leading spaces and tabs (Markdown's whitespace; not Unicode's, which includes the
/// no-break space).
fn trim_start(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

/// Without spaces and tabs at either end.
fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c == ' ' || c == '\t')
}

/// Columns of leading whitespace (tabs to the next multiple of 4).
fn indent_of(line: &str) -> usize {
    let mut col = 0;
    for c in line.chars() {
        match c {
            ' ' => col += 1,
            '\t' => col += 4 - col % 4,
            _ => break,
        }
    }
    col
}

/// `line` without its first `n` columns of indentation (a tab that straddles them leaves the
/// rest of its width as spaces).
fn strip_indent(line: &str, n: usize) -> String {
    let mut col = 0;
    for (i, c) in line.char_indices() {
        if col >= n {
            return line[i..].to_owned();
        }
        match c {
            ' ' => col += 1,
            '\t' => {
                let next = col + 4 - col % 4;
                if next > n {
                    return format!("{}{}", " ".repeat(next - n), &line[i + 1..]);
                }
                col = next;
            }
            _ => return line[i..].to_owned(),
        }
    }
    String::new()
}

struct Fence {
    indent: usize,
    ch: char,
    len: usize,
    info: String,
}

fn fence_open(line: &str) -> Option<Fence> {
    let indent = indent_of(line);
    if indent > 3 {
        return None;
    }
    let rest = trim_start(line);
    let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.chars().take_while(|c| *c == ch).count();
    if len < 3 {
        return None;
    }
    let info = trim(&rest[len..]).to_owned();
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some(Fence {
        indent,
        ch,
        len,
        info,
    })
}

fn fence_closes(line: &str, fence: &Fence) -> bool {
    if indent_of(line) > 3 {
        return false;
    }
    let rest = trim(line);
    let len = rest.chars().take_while(|c| *c == fence.ch).count();
    len >= fence.len && rest.chars().all(|c| c == fence.ch)
}

fn thematic_break(line: &str) -> bool {
    if indent_of(line) > 3 {
        return false;
    }
    let chars: Vec<char> = line.chars().filter(|c| !matches!(c, ' ' | '\t')).collect();
    chars.len() >= 3 && matches!(chars[0], '-' | '*' | '_') && chars.iter().all(|c| *c == chars[0])
}

fn atx_heading(line: &str) -> Option<(u64, String)> {
    if indent_of(line) > 3 {
        return None;
    }
    let rest = trim_start(line);
    let level = rest.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = trim(after);
    // An optional closing sequence: #s preceded by a space (or nothing else).
    let without = text.trim_end_matches('#');
    if without.len() < text.len() && (without.is_empty() || without.ends_with([' ', '\t'])) {
        let escaped = without.ends_with('\\');
        if !escaped {
            text = without.trim_end_matches([' ', '\t']);
        }
    }
    Some((level as u64, text.to_owned()))
}

fn setext_level(line: &str) -> Option<u64> {
    if indent_of(line) > 3 {
        return None;
    }
    let rest = trim(line);
    if !rest.is_empty() && rest.chars().all(|c| c == '=') {
        Some(1)
    } else if !rest.is_empty() && rest.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

fn quote_line(line: &str) -> Option<String> {
    if indent_of(line) > 3 {
        return None;
    }
    let rest = line.trim_start_matches([' ', '\t']).strip_prefix('>')?;
    Some(match rest.strip_prefix(' ') {
        Some(r) => r.to_owned(),
        None if rest.starts_with('\t') => strip_indent(rest, 1),
        None => rest.to_owned(),
    })
}

struct ListMarker {
    ordered: bool,
    /// The bullet (`-`, `*`, `+`) or the delimiter after the number (`.`, `)`).
    ch: char,
    start: u64,
    /// Columns before the item's content.
    width: usize,
    /// Whether nothing follows the marker on its line.
    empty: bool,
}

fn list_marker(line: &str) -> Option<ListMarker> {
    let indent = indent_of(line);
    if indent > 3 || thematic_break(line) {
        return None;
    }
    let rest = line.trim_start_matches([' ', '\t']);
    let (ordered, ch, start, marker_len) = match rest.chars().next()? {
        c @ ('-' | '*' | '+') => (false, c, 0, 1),
        c if c.is_ascii_digit() => {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits > 9 {
                return None;
            }
            let delim = rest[digits..]
                .chars()
                .next()
                .filter(|d| *d == '.' || *d == ')')?;
            (true, delim, rest[..digits].parse().ok()?, digits + 1)
        }
        _ => return None,
    };
    let after = &rest[marker_len..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    let empty = is_blank(after);
    let spaces = indent_of(after);
    let width = indent + marker_len + if empty || spaces > 4 { 1 } else { spaces };
    Some(ListMarker {
        ordered,
        ch,
        start,
        width,
        empty,
    })
}

/// Whether `line` starts a block that ends a paragraph.
fn interrupts_paragraph(lines: &[String], i: usize) -> bool {
    let line = &lines[i];
    fence_open(line).is_some()
        || directive_open(line).is_some()
        || leaf_directive(line).is_some()
        || thematic_break(line)
        || atx_heading(line).is_some()
        || quote_line(line).is_some()
        || list_marker(line).is_some_and(|m| !m.empty && (!m.ordered || m.start == 1))
        || table_start(lines, i).is_some()
}

/// Whether `line` starts a block that ends a table.
fn interrupts_table(lines: &[String], i: usize) -> bool {
    let line = &lines[i];
    fence_open(line).is_some()
        || directive_open(line).is_some()
        || leaf_directive(line).is_some()
        || thematic_break(line)
        || atx_heading(line).is_some()
        || quote_line(line).is_some()
}

// ---------------------------------------------------------------------------------------------
// Leaf blocks

fn paragraph(lines: &[String], start: usize) -> (Node, usize) {
    let mut text: Vec<&str> = vec![trim_start(&lines[start])];
    let mut i = start + 1;
    while i < lines.len() && !is_blank(&lines[i]) {
        if let Some(level) = setext_level(&lines[i]) {
            let joined = join_lines(&text);
            return (heading(level, &joined), i + 1);
        }
        if interrupts_paragraph(lines, i) {
            break;
        }
        text.push(trim_start(&lines[i]));
        i += 1;
    }
    let joined = join_lines(&text);
    if joined == "&nbsp;" {
        return (Node::new("paragraph"), i);
    }
    if let Some((alt, src, title)) = inline::lone_image(&joined) {
        let mut media = Node::new("media")
            .with_attr("type", "external")
            .with_attr("url", src);
        if !alt.is_empty() {
            media = media.with_attr("alt", alt);
        }
        let _untitled = title; // ADF media has no title.
        let single = Node::new("mediaSingle")
            .with_attr("layout", "center")
            .with_content(vec![media]);
        return (single, i);
    }
    (
        Node::new("paragraph").with_content(inline::parse(&joined)),
        i,
    )
}

fn join_lines(lines: &[&str]) -> String {
    let joined = lines.join("\n");
    joined.trim_end_matches([' ', '\t']).to_owned()
}

fn heading(level: u64, text: &str) -> Node {
    Node::new("heading")
        .with_attr("level", level)
        .with_content(inline::parse(text))
}

fn indented_code(lines: &[String], start: usize) -> (Node, usize) {
    let mut body = Vec::new();
    let mut i = start;
    while i < lines.len() && (is_blank(&lines[i]) || indent_of(&lines[i]) >= 4) {
        body.push(strip_indent(&lines[i], 4));
        i += 1;
    }
    while body.last().is_some_and(|l| is_blank(l)) {
        body.pop();
    }
    (code_node(&body.join("\n"), Map::new(), Vec::new()), i)
}

fn fenced_code(lines: &[String], start: usize, fence: &Fence) -> (Node, usize) {
    let mut body = Vec::new();
    let mut i = start + 1;
    while i < lines.len() && !fence_closes(&lines[i], fence) {
        body.push(strip_indent(&lines[i], fence.indent));
        i += 1;
    }
    let (language, json) = match fence.info.find(char::is_whitespace) {
        _ if fence.info.starts_with('{') => ("", fence.info.as_str()),
        Some(space) => (&fence.info[..space], fence.info[space..].trim()),
        None => (fence.info.as_str(), ""),
    };
    let mut attrs = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let marks = take_marks(&mut attrs);
    if !language.is_empty() {
        attrs.insert("language".into(), Value::String(language.to_owned()));
    }
    (
        code_node(&body.join("\n"), attrs, marks),
        (i + 1).min(lines.len()),
    )
}

fn code_node(text: &str, attrs: Map<String, Value>, marks: Vec<Mark>) -> Node {
    let mut node = Node::new("codeBlock");
    node.attrs = attrs;
    node.marks = marks;
    if !text.is_empty() {
        node.content = vec![Node::text(text, Vec::new())];
    }
    node
}

/// Removes `"marks"` from directive attributes and reads them.
fn take_marks(attrs: &mut Map<String, Value>) -> Vec<Mark> {
    match attrs.remove("marks") {
        Some(Value::Array(marks)) => marks
            .iter()
            .filter_map(|m| {
                let node = Node::from_value(m);
                (!node.kind.is_empty()).then(|| Mark::with_attrs(&node.kind, node.attrs))
            })
            .collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Directives

struct DirectiveOpen {
    colons: usize,
    kind: String,
    attrs: Map<String, Value>,
}

/// `:::kind{json}` (three or more colons).
fn directive_open(line: &str) -> Option<DirectiveOpen> {
    if indent_of(line) > 3 {
        return None;
    }
    let rest = trim(line);
    let colons = rest.chars().take_while(|c| *c == ':').count();
    if colons < 3 {
        return None;
    }
    let (kind, attrs) = directive_head(&rest[colons..])?;
    Some(DirectiveOpen {
        colons,
        kind,
        attrs,
    })
}

/// `::kind{json}`.
fn leaf_directive(line: &str) -> Option<(String, Map<String, Value>)> {
    if indent_of(line) > 3 {
        return None;
    }
    let rest = trim(line).strip_prefix("::")?;
    if rest.starts_with(':') {
        return None;
    }
    directive_head(rest)
}

/// `kind{json}` with nothing after: a known node kind and its attributes.
fn directive_head(text: &str) -> Option<(String, Map<String, Value>)> {
    let name_len = text.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let kind = &text[..name_len];
    if !kind.starts_with(|c: char| c.is_ascii_alphabetic()) || !is_known(kind) || kind == "text" {
        return None;
    }
    let rest = trim(&text[name_len..]);
    let attrs = if rest.is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(rest) {
            Ok(Value::Object(map)) => map,
            _ => return None,
        }
    };
    Some((kind.to_owned(), attrs))
}

/// The line that closes the container opened at `open` with `colons` colons (the end of the
/// input when none does), skipping fenced code and nested containers of the same fence.
fn directive_close(lines: &[String], open: usize, colons: usize) -> usize {
    let mut depth = 0;
    let mut i = open + 1;
    while i < lines.len() {
        let line = &lines[i];
        // Code at the container's own level may hold a line like the fence; deeper code (in a
        // list item) is indented, and a printed fence is longer than any colon line inside.
        if let Some(fence) = fence_open(line).filter(|f| f.indent == 0) {
            i += 1;
            while i < lines.len() && !fence_closes(&lines[i], &fence) {
                i += 1;
            }
            i += 1;
            continue;
        }
        if indent_of(line) <= 3 {
            let trimmed = trim(line);
            let count = trimmed.chars().take_while(|c| *c == ':').count();
            if count == colons && trimmed.len() == colons {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            } else if directive_open(line).is_some_and(|d| d.colons == colons) {
                depth += 1;
            }
        }
        i += 1;
    }
    lines.len()
}

/// The node a directive stands for. A directive holding exactly one block of its own kind
/// written in Markdown adds its attributes and marks to that block.
fn directive_node(kind: String, mut attrs: Map<String, Value>, children: Vec<Parsed>) -> Parsed {
    let marks = take_marks(&mut attrs);
    let cells = if kind == "table" {
        attrs.remove("cells")
    } else {
        None
    };
    if let [only] = children.as_slice() {
        if only.native && only.node.kind == kind {
            let mut node = children
                .into_iter()
                .next()
                .map(|p| p.node)
                .unwrap_or_default();
            node.attrs.extend(attrs);
            node.marks = marks;
            if let Some(cells) = cells {
                apply_cells(&mut node, &cells);
            }
            return Parsed {
                node,
                native: false,
            };
        }
    }
    let mut node = Node::new(&kind);
    node.attrs = attrs;
    node.marks = marks;
    node.content = if kind == "codeBlock" {
        let text: String = children
            .iter()
            .map(|c| Node::code_text(&c.node.content))
            .collect();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Node::text(text, Vec::new())]
        }
    } else if is_textblock(&kind) {
        inline_content(children)
    } else {
        children.into_iter().map(|p| p.node).collect()
    };
    Parsed {
        node,
        native: false,
    }
}

/// The inline content of blocks: a paragraph's content; several blocks joined by hard breaks.
fn inline_content(children: Vec<Parsed>) -> Vec<Node> {
    let mut out = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        if i > 0 {
            out.push(Node::new("hardBreak"));
        }
        if matches!(child.node.kind.as_str(), "paragraph" | "heading") {
            out.extend(child.node.content);
        } else {
            let text = child.node.plain_text();
            if !text.is_empty() {
                out.push(Node::text(text, Vec::new()));
            }
        }
    }
    out
}

/// Puts back the cell types and attributes a GFM table cannot show.
fn apply_cells(table: &mut Node, cells: &Value) {
    let Some(rows) = cells.as_array() else { return };
    for (row, spec) in table.content.iter_mut().zip(rows) {
        let Some(specs) = spec.as_array() else {
            continue;
        };
        for (cell, spec) in row.content.iter_mut().zip(specs) {
            if let Some(kind) = spec.get("type").and_then(Value::as_str) {
                if matches!(kind, "tableCell" | "tableHeader") {
                    cell.kind = kind.to_owned();
                }
            }
            if let Some(attrs) = spec.get("attrs").and_then(Value::as_object) {
                cell.attrs.extend(attrs.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Containers

/// The lines of a block quote starting at `start` (prefixes removed), and the next line.
fn quote_lines(lines: &[String], start: usize) -> (Vec<String>, usize) {
    let mut inner = Vec::new();
    let mut i = start;
    while i < lines.len() {
        if let Some(rest) = quote_line(&lines[i]) {
            inner.push(rest);
        } else if !is_blank(&lines[i])
            && inner.last().is_some_and(|l: &String| !is_blank(l))
            && !interrupts_paragraph(lines, i)
            && fence_open(inner.last().map_or("", String::as_str)).is_none()
        {
            // Lazy continuation of a quoted paragraph.
            inner.push(lines[i].clone());
        } else {
            break;
        }
        i += 1;
    }
    (inner, i)
}

/// A bullet, ordered or task list starting at `start`, and the next line.
fn list(lines: &[String], start: usize, first: &ListMarker, depth: usize) -> (Node, usize) {
    let mut items: Vec<Vec<String>> = Vec::new();
    let mut i = start;
    while let Some(marker) = list_marker(&lines[i]) {
        if marker.ordered != first.ordered || marker.ch != first.ch {
            break;
        }
        let mut item = vec![after_marker(&lines[i], &marker)];
        i += 1;
        while i < lines.len() {
            let line = &lines[i];
            if is_blank(line) {
                // Blank lines belong to the item when it goes on after them.
                let next = (i..lines.len()).find(|&k| !is_blank(&lines[k]));
                let continues = next.is_some_and(|k| indent_of(&lines[k]) >= marker.width);
                let starts_empty = item.len() == 1 && item[0].is_empty();
                if !continues || starts_empty {
                    break;
                }
                item.push(strip_indent(line, marker.width));
            } else if indent_of(line) >= marker.width {
                item.push(strip_indent(line, marker.width));
            } else if item.last().is_some_and(|l| !is_blank(l))
                && !interrupts_paragraph(lines, i)
                && list_marker(line).is_none()
            {
                // Lazy continuation of the item's paragraph.
                item.push(trim_start(line).to_owned());
            } else {
                break;
            }
            i += 1;
        }
        items.push(item);
        // The next item of the same list, maybe after blank lines.
        let next = (i..lines.len()).find(|&k| !is_blank(&lines[k]));
        match next {
            Some(k)
                if list_marker(&lines[k])
                    .is_some_and(|m| m.ordered == first.ordered && m.ch == first.ch) =>
            {
                i = k;
            }
            _ => break,
        }
    }
    let is_task = !first.ordered && items.iter().all(|item| task_marker(&item[0]).is_some());
    if is_task {
        let mut content = Vec::new();
        for item in items {
            task_item(item, depth, &mut content);
        }
        return (Node::new("taskList").with_content(content), i);
    }
    let content = items
        .into_iter()
        .map(|item| {
            let children = blocks(&item, depth + 1)
                .into_iter()
                .map(|p| p.node)
                .collect();
            Node::new("listItem").with_content(children)
        })
        .collect();
    let mut node = Node::new(if first.ordered {
        "orderedList"
    } else {
        "bulletList"
    })
    .with_content(content);
    if first.ordered && first.start != 1 {
        node = node.with_attr("order", first.start);
    }
    (node, i)
}

/// The first line of a list item without its marker.
fn after_marker(line: &str, marker: &ListMarker) -> String {
    if marker.empty {
        return String::new();
    }
    let leading = line.len() - line.trim_start_matches([' ', '\t']).len();
    let marker_len = if marker.ordered {
        line[leading..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count()
            + 1
    } else {
        1
    };
    let masked = format!(
        "{}{}{}",
        &line[..leading],
        " ".repeat(marker_len),
        &line[leading + marker_len..]
    );
    strip_indent(&masked, marker.width)
}

/// `[ ]`, `[x]` or `[X]` at the start of an item, followed by a space or nothing: whether it is
/// done, and the text after it.
fn task_marker(first_line: &str) -> Option<(bool, &str)> {
    let done = match first_line.get(..3)? {
        "[ ]" => false,
        "[x]" | "[X]" => true,
        _ => return None,
    };
    let rest = &first_line[3..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((done, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A task item and the task lists nested under it (ADF keeps those beside it, in the list).
fn task_item(mut item: Vec<String>, depth: usize, out: &mut Vec<Node>) {
    let Some((done, rest)) = task_marker(&item[0]) else {
        return;
    };
    let rest = rest.to_owned();
    item[0] = rest;
    let mut inline = Vec::new();
    let mut nested = Vec::new();
    let mut first = true;
    for child in blocks(&item, depth + 1).into_iter().map(|p| p.node) {
        match child.kind.as_str() {
            "paragraph" if first && !trim(&item[0]).is_empty() => inline.extend(child.content),
            "taskList" => nested.push(child),
            _ => {
                let text = child.plain_text();
                if !text.is_empty() {
                    if !inline.is_empty() {
                        inline.push(Node::new("hardBreak"));
                    }
                    inline.push(Node::text(text, Vec::new()));
                }
            }
        }
        first = false;
    }
    out.push(
        Node::new("taskItem")
            .with_attr("state", if done { "DONE" } else { "TODO" })
            .with_content(inline),
    );
    out.extend(nested);
}

// ---------------------------------------------------------------------------------------------
// Tables

/// When a GFM table starts at `i` (a row with pipes, then a delimiter row of as many cells):
/// its number of columns.
fn table_start(lines: &[String], i: usize) -> Option<usize> {
    let header = &lines[i];
    let delimiter = lines.get(i + 1)?;
    if indent_of(header) > 3 || !has_unescaped_pipe(header) {
        return None;
    }
    let cells = split_row(delimiter);
    let is_delimiter = has_unescaped_pipe(delimiter)
        && cells.iter().all(|c| {
            let c = trim(c);
            let inner = c.trim_start_matches(':').trim_end_matches(':');
            !inner.is_empty() && inner.chars().all(|ch| ch == '-')
        });
    let columns = split_row(header).len();
    (is_delimiter && cells.len() == columns).then_some(columns)
}

fn has_unescaped_pipe(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// The cells of a table row, trimmed, pipe escapes kept.
fn split_row(line: &str) -> Vec<String> {
    let mut text = trim(line);
    text = text.strip_prefix('|').unwrap_or(text);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cell.push('\\');
                if let Some(next) = chars.next() {
                    cell.push(next);
                }
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    if !trim(&cell).is_empty() {
        cells.push(cell);
    }
    cells.into_iter().map(|c| trim(&c).to_owned()).collect()
}

fn table(lines: &[String], start: usize, columns: usize) -> (Node, usize) {
    let mut rows = vec![split_row(&lines[start])];
    let mut i = start + 2;
    // A row reading like a table's start is still a row of this table.
    while i < lines.len() && !is_blank(&lines[i]) && !interrupts_table(lines, i) {
        rows.push(split_row(&lines[i]));
        i += 1;
    }
    let content = rows
        .into_iter()
        .enumerate()
        .map(|(r, mut cells)| {
            cells.resize(columns, String::new());
            let kind = if r == 0 { "tableHeader" } else { "tableCell" };
            let cells = cells
                .iter()
                .map(|text| {
                    let inline = inline::parse(&inline::unescape_pipes(text));
                    Node::new(kind).with_content(vec![Node::new("paragraph").with_content(inline)])
                })
                .collect();
            Node::new("tableRow").with_content(cells)
        })
        .collect();
    (Node::new("table").with_content(content), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(nodes: &[Node]) -> Vec<String> {
        nodes
            .iter()
            .map(|n| {
                if n.content.is_empty() || n.kind == "paragraph" || n.kind == "heading" {
                    n.kind.clone()
                } else {
                    format!("{}({})", n.kind, kinds(&n.content).join(","))
                }
            })
            .collect()
    }

    #[test]
    fn commonmark_blocks() {
        let doc = document(
            "# Title\n\nText *em*\ncontinued\n\n> quoted\nlazy\n\n- a\n- b\n\n  more b\n\n1) one\n2) two\n\n---\n\n```rust\nfn x() {}\n```\n\n    indented\n\nSetext\n======",
        );
        assert_eq!(
            kinds(&doc),
            [
                "heading",
                "paragraph",
                "blockquote(paragraph)",
                "bulletList(listItem(paragraph),listItem(paragraph,paragraph))",
                "orderedList(listItem(paragraph),listItem(paragraph))",
                "rule",
                "codeBlock(text)",
                "codeBlock(text)",
                "heading"
            ]
        );
        assert_eq!(doc[1].content[1].text, "em");
        assert_eq!(doc[1].content[2].text, " continued");
        assert_eq!(doc[2].content[0].content[0].text, "quoted lazy");
        assert_eq!(doc[6].attrs["language"], "rust");
        assert_eq!(doc[7].content[0].text, "indented");
        assert_eq!(doc[8].attrs["level"], 1);
    }

    #[test]
    fn lists_nest_by_indentation_and_tasks_are_recognised() {
        let doc = document("- [ ] todo\n  - [x] done\n- [X] also\n\n3. three\n4. four");
        assert_eq!(
            kinds(&doc),
            [
                "taskList(taskItem(text),taskList(taskItem(text)),taskItem(text))",
                "orderedList(listItem(paragraph),listItem(paragraph))"
            ]
        );
        assert_eq!(doc[0].content[2].attrs["state"], "DONE");
        assert_eq!(doc[1].attrs["order"], 3);
        // A paragraph is not interrupted by an ordered list that does not start at 1.
        assert_eq!(kinds(&document("text\n2. not a list")), ["paragraph"]);
    }

    #[test]
    fn gfm_tables() {
        let doc = document("| a | b \\| c |\n|---|:-:|\n| `x\\|y` |\n\nafter");
        assert_eq!(
            kinds(&doc),
            ["table(tableRow(tableHeader(paragraph),tableHeader(paragraph)),tableRow(tableCell(paragraph),tableCell(paragraph)))", "paragraph"]
        );
        let header = &doc[0].content[0].content[1].content[0].content[0];
        assert_eq!(header.text, "b | c");
        let code = &doc[0].content[1].content[0].content[0].content[0];
        assert_eq!(
            (code.text.as_str(), code.marks[0].kind.as_str()),
            ("x|y", "code")
        );
    }

    #[test]
    fn directives_nest_and_wrap() {
        let doc = document(
            "::::panel{\"panelType\":\"info\"}\n:::expand{\"title\":\"t\"}\nx\n:::\n::::\n\n:::paragraph{\"marks\":[{\"type\":\"alignment\",\"attrs\":{\"align\":\"center\"}}]}\nmiddle\n:::\n\n::rule\n\n::nope{}",
        );
        assert_eq!(
            kinds(&doc),
            ["panel(expand(paragraph))", "paragraph", "rule", "paragraph"]
        );
        assert_eq!(doc[1].marks[0].attrs["align"], "center");
        assert_eq!(doc[1].content[0].text, "middle");
        assert_eq!(doc[3].content[0].text, "::nope{}");
    }

    #[test]
    fn images_alone_become_media() {
        let doc = document("![chart](https://x.test/c.png)");
        assert_eq!(kinds(&doc), ["mediaSingle(media)"]);
        assert_eq!(doc[0].content[0].attrs["url"], "https://x.test/c.png");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let quotes = format!("{}x", "> ".repeat(10_000));
        assert!(!document(&quotes).is_empty());
        let lists = (0..2_000)
            .map(|i| format!("{}- x", "  ".repeat(i)))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!document(&lists).is_empty());
    }
}
