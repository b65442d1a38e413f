//! Directives: `:::kind{json}` … `:::` containers (a longer fence for each level of nesting),
//! `::kind{json}` leaves, and the JSON attributes they carry. A directive holding one block of
//! its own kind written in Markdown adds its attributes and marks to that block (a centred
//! paragraph, a table with column widths); any other is the node it names.

use serde_json::{Map, Value};

use super::lines::{fence_closes, fence_open, indent_of, trim};
use super::Parsed;
use crate::adf::{is_known, is_textblock, Mark, Node};

/// Removes `"marks"` from directive attributes and reads them.
pub(super) fn take_marks(attrs: &mut Map<String, Value>) -> Vec<Mark> {
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

pub(super) struct DirectiveOpen {
    pub(super) colons: usize,
    pub(super) kind: String,
    pub(super) attrs: Map<String, Value>,
}

/// `:::kind{json}` (three or more colons).
pub(super) fn directive_open(line: &str) -> Option<DirectiveOpen> {
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
pub(super) fn leaf_directive(line: &str) -> Option<(String, Map<String, Value>)> {
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
pub(super) fn directive_close(lines: &[String], open: usize, colons: usize) -> usize {
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
pub(super) fn directive_node(
    kind: String,
    mut attrs: Map<String, Value>,
    children: Vec<Parsed>,
) -> Parsed {
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
