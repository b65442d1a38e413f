//! ADF → Markdown.
//!
//! First [`prepare_blocks`] makes any JSON a tree of known nodes in their places (unknown nodes
//! become their text, unknown marks go), then blocks are printed natively where Markdown can say
//! all of a node, and as directives otherwise; inline content is printed by
//! [`super::print_inline`].

use serde_json::{Map, Value};

use super::print_inline::{inline_text, Context};
use super::{is_block_container, is_inline, is_known, is_mark, is_textblock, Mark, Node};

/// Prints the blocks of a `doc`.
pub(super) fn document(blocks: &[Node]) -> String {
    let blocks = prepare_blocks(blocks);
    Printer.blocks(&blocks, None)
}

// ---------------------------------------------------------------------------------------------
// Preparation

/// Blocks as the printer expects them: known kinds, inline runs gathered into paragraphs,
/// unknown nodes as paragraphs of their text.
fn prepare_blocks(nodes: &[Node]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut inlines: Vec<Node> = Vec::new();
    let flush = |inlines: &mut Vec<Node>, out: &mut Vec<Node>| {
        if !inlines.is_empty() {
            let content = prepare_inlines(inlines);
            out.push(Node::new("paragraph").with_content(content));
            inlines.clear();
        }
    };
    for node in nodes {
        if is_inline(&node.kind) {
            inlines.push(node.clone());
            continue;
        }
        flush(&mut inlines, &mut out);
        if !is_known(&node.kind) {
            let text = node.plain_text();
            if !text.is_empty() {
                out.push(Node::new("paragraph").with_content(text_with_breaks(&text)));
            }
            continue;
        }
        let mut node = node.clone();
        node.marks.retain(|m| is_mark(&m.kind));
        node.content = if node.kind == "codeBlock" {
            let text = Node::code_text(&node.content);
            if text.is_empty() {
                Vec::new()
            } else {
                vec![Node::text(text, Vec::new())]
            }
        } else if is_textblock(&node.kind) {
            prepare_inlines(&node.content)
        } else if is_block_container(&node.kind) {
            prepare_blocks(&node.content)
        } else {
            Vec::new()
        };
        out.push(node);
    }
    flush(&mut inlines, &mut out);
    out
}

/// Inline content as the printer expects it: known inline nodes with known marks, non-empty
/// texts, anything else as its text.
fn prepare_inlines(nodes: &[Node]) -> Vec<Node> {
    let mut out = Vec::new();
    for node in nodes {
        if !is_inline(&node.kind) {
            out.extend(text_with_breaks(&node.plain_text()));
            continue;
        }
        let mut node = node.clone();
        node.content.clear();
        if node.kind == "hardBreak" {
            node.marks.clear();
        } else {
            node.marks.retain(|m| is_mark(&m.kind));
            dedup_marks(&mut node.marks);
        }
        if node.kind == "text" && node.text.is_empty() {
            continue;
        }
        out.push(node);
    }
    out
}

/// Removes repeated marks (the same mark twice would print two identical spans).
fn dedup_marks(marks: &mut Vec<Mark>) {
    let mut seen: Vec<Mark> = Vec::new();
    marks.retain(|m| {
        if seen.contains(m) {
            false
        } else {
            seen.push(m.clone());
            true
        }
    });
}

/// `text` as text nodes separated by hard breaks at its newlines.
fn text_with_breaks(text: &str) -> Vec<Node> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(Node::new("hardBreak"));
        }
        if !line.is_empty() {
            out.push(Node::text(line, Vec::new()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Blocks

/// How a bullet list was printed, so the next list can use another marker (two adjacent lists
/// with the same marker would read back as one).
#[derive(Clone, Copy, PartialEq)]
enum ListMarker {
    Bullet(char),
    Ordered(char),
}

struct Printer;

impl Printer {
    /// Prints sibling blocks, separated by blank lines. `directive_kind`: the kind of the
    /// directive container they are in; children of that same kind are printed as directives,
    /// so they cannot be mistaken for the container's own native form.
    fn blocks(&self, nodes: &[Node], directive_kind: Option<&str>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut previous: Option<ListMarker> = None;
        for node in nodes {
            let force_directive = directive_kind == Some(node.kind.as_str());
            let (text, marker) = self.block(node, force_directive, previous);
            previous = marker;
            parts.push(text);
        }
        parts.join("\n\n")
    }

    /// One block, and the list marker it used if it is a natively printed list.
    fn block(
        &self,
        node: &Node,
        force_directive: bool,
        previous: Option<ListMarker>,
    ) -> (String, Option<ListMarker>) {
        if force_directive {
            return (self.directive(node), None);
        }
        let extras = native_extras(node);
        let Some(extras) = extras else {
            return (self.directive(node), None);
        };
        let (native, marker) = match node.kind.as_str() {
            "paragraph" => (paragraph(&node.content), None),
            "heading" => (heading(node), None),
            "blockquote" => (
                prefix_lines(&self.blocks(&node.content, None), "> ", "> "),
                None,
            ),
            "bulletList" => {
                let bullet = next_bullet(previous);
                (
                    self.list(node, |_| bullet.to_string()),
                    Some(ListMarker::Bullet(bullet)),
                )
            }
            "orderedList" => {
                let delim = match previous {
                    Some(ListMarker::Ordered('.')) => ')',
                    _ => '.',
                };
                let start = order(node).unwrap_or(1);
                (
                    self.list(node, |i| format!("{}{delim}", start + i as u64)),
                    Some(ListMarker::Ordered(delim)),
                )
            }
            "taskList" => {
                let bullet = next_bullet(previous);
                (
                    self.task_list(node, bullet),
                    Some(ListMarker::Bullet(bullet)),
                )
            }
            "codeBlock" => (code_block(node), None),
            "rule" => ("---".to_owned(), None),
            "table" => (self.table(node), None),
            _ => return (self.directive(node), None),
        };
        if extras.is_empty() {
            (native, marker)
        } else {
            // The native form inside a directive holding what it cannot say.
            (container(&node.kind, &extras, &native), None)
        }
    }

    /// `- item` lists; `marker(i)` is the marker of item `i`.
    fn list(&self, node: &Node, marker: impl Fn(usize) -> String) -> String {
        let items: Vec<String> = node
            .content
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let body = self.blocks(&item.content, None);
                list_item(&marker(i), &body)
            })
            .collect();
        let loose = node.content.iter().any(|item| item.content.len() > 1);
        items.join(if loose { "\n\n" } else { "\n" })
    }

    /// `- [ ] todo` lists; nested task lists are printed under the item before them.
    fn task_list(&self, node: &Node, bullet: char) -> String {
        let mut items: Vec<String> = Vec::new();
        let mut i = 0;
        while i < node.content.len() {
            let item = &node.content[i];
            let check = if item.attr_str("state") == Some("DONE") {
                "[x]"
            } else {
                "[ ]"
            };
            let text = paragraph_text(&item.content);
            let mut body = if text.is_empty() {
                check.to_owned()
            } else {
                format!("{check} {text}")
            };
            let nested_end = node.content[i + 1..]
                .iter()
                .position(|n| n.kind != "taskList")
                .map_or(node.content.len(), |p| i + 1 + p);
            if nested_end > i + 1 {
                body.push_str("\n\n");
                body.push_str(&self.blocks(&node.content[i + 1..nested_end], None));
            }
            items.push(list_item(&bullet.to_string(), &body));
            i = nested_end;
        }
        let loose = items.iter().any(|item| item.contains("\n\n"));
        items.join(if loose { "\n\n" } else { "\n" })
    }

    /// A GFM table (the caller checked [`gfm_table`]).
    fn table(&self, node: &Node) -> String {
        let rows: Vec<Vec<String>> = node
            .content
            .iter()
            .map(|row| {
                row.content
                    .iter()
                    .map(|cell| {
                        let paragraph = &cell.content[0];
                        inline_text(&paragraph.content, Context::Table)
                    })
                    .collect()
            })
            .collect();
        let line = |cells: &[String]| {
            let mut line = String::from("|");
            for cell in cells {
                if !cell.is_empty() {
                    line.push(' ');
                    line.push_str(cell);
                }
                line.push_str(" |");
            }
            line
        };
        let mut lines = vec![line(&rows[0])];
        lines.push(line(&vec!["---".to_owned(); rows[0].len()]));
        lines.extend(rows[1..].iter().map(|r| line(r)));
        lines.join("\n")
    }

    /// A node as a directive: `:::kind{attrs}` around its content, or `::kind{attrs}`.
    fn directive(&self, node: &Node) -> String {
        let mut attrs = node.attrs.clone();
        if !node.marks.is_empty() {
            attrs.insert(
                "marks".into(),
                Value::Array(node.marks.iter().map(Mark::to_value).collect()),
            );
        }
        if is_textblock(&node.kind) {
            let inner = if node.kind == "codeBlock" {
                code_block(&Node::new("codeBlock").with_content(node.content.clone()))
            } else {
                paragraph_text(&node.content)
            };
            container(&node.kind, &attrs, &inner)
        } else if is_block_container(&node.kind) || !node.content.is_empty() {
            container(
                &node.kind,
                &attrs,
                &self.blocks(&node.content, Some(&node.kind)),
            )
        } else {
            format!("::{}{}", node.kind, json(&attrs, false))
        }
    }
}

/// The attributes and marks a node's native Markdown cannot carry (`Some(empty)`: none), or
/// `None` when it has no native form at all (and must be a directive).
fn native_extras(node: &Node) -> Option<Map<String, Value>> {
    let mut extras = node.attrs.clone();
    extras.remove("localId");
    let plain_children = |kinds: &[&str], carried: &[&str]| {
        node.content.iter().all(|c| {
            kinds.contains(&c.kind.as_str())
                && c.marks.is_empty()
                && c.attrs
                    .keys()
                    .all(|k| k == "localId" || carried.contains(&k.as_str()))
        })
    };
    match node.kind.as_str() {
        "paragraph" | "blockquote" | "rule" => {}
        "heading" => {
            let level = node.attrs.get("level").and_then(Value::as_u64)?;
            if !(1..=6).contains(&level) {
                return None;
            }
            extras.remove("level");
        }
        "bulletList" if !node.content.is_empty() && plain_children(&["listItem"], &[]) => {}
        "orderedList" if !node.content.is_empty() && plain_children(&["listItem"], &[]) => {
            if node.attrs.contains_key("order") {
                order(node)?;
                extras.remove("order");
            }
        }
        "taskList" => {
            let first_is_item = node.content.first().is_some_and(|c| c.kind == "taskItem");
            let states_ok = node.content.iter().all(|c| {
                c.kind != "taskItem" || matches!(c.attr_str("state"), Some("TODO" | "DONE"))
            });
            if !(first_is_item
                && states_ok
                && plain_children(&["taskItem", "taskList"], &["state"]))
            {
                return None;
            }
        }
        "codeBlock" => {
            // The fence's info string carries everything: language, then JSON.
            return Some(Map::new());
        }
        "table" => {
            let cells = gfm_table(node)?;
            if let Some(cells) = cells {
                extras.insert("cells".into(), cells);
            }
        }
        _ => return None,
    }
    if !node.marks.is_empty() {
        extras.insert(
            "marks".into(),
            Value::Array(node.marks.iter().map(Mark::to_value).collect()),
        );
    }
    Some(extras)
}

/// An ordered list's start, when it is a whole number Markdown can write.
fn order(node: &Node) -> Option<u64> {
    match node.attrs.get("order") {
        None => Some(1),
        Some(v) => v.as_u64().filter(|n| *n < 1_000_000_000),
    }
}

fn next_bullet(previous: Option<ListMarker>) -> char {
    match previous {
        Some(ListMarker::Bullet('-')) => '*',
        Some(ListMarker::Bullet('*')) => '+',
        _ => '-',
    }
}

/// Whether a table is a GFM table: rows of equal length, each cell one plain paragraph, no
/// spans. `Some(Some(cells))` when the cells differ from a GFM table's reading (header row
/// first, body cells after, no attributes): the per-cell `type`/`attrs` to put back.
fn gfm_table(node: &Node) -> Option<Option<Value>> {
    let width = node.content.first()?.content.len();
    if width == 0 {
        return None;
    }
    let mut differs = false;
    let mut grid = Vec::new();
    for (r, row) in node.content.iter().enumerate() {
        let row_ok = row.kind == "tableRow"
            && row.marks.is_empty()
            && row.attrs.keys().all(|k| k == "localId")
            && row.content.len() == width;
        if !row_ok {
            return None;
        }
        let mut cells = Vec::new();
        for cell in &row.content {
            let plain_paragraph = cell.content.len() == 1
                && cell.content[0].kind == "paragraph"
                && cell.content[0].marks.is_empty()
                && cell.content[0].attrs.keys().all(|k| k == "localId");
            let span = |name: &str| {
                cell.attrs
                    .get(name)
                    .is_some_and(|v| v.as_f64() != Some(1.0))
            };
            if !matches!(cell.kind.as_str(), "tableHeader" | "tableCell")
                || !cell.marks.is_empty()
                || !plain_paragraph
                || span("colspan")
                || span("rowspan")
            {
                return None;
            }
            let expected = if r == 0 { "tableHeader" } else { "tableCell" };
            let mut attrs = cell.attrs.clone();
            attrs.remove("localId");
            let mut entry = Map::new();
            if cell.kind != expected {
                entry.insert("type".into(), Value::String(cell.kind.clone()));
            }
            if !attrs.is_empty() {
                entry.insert("attrs".into(), Value::Object(attrs));
            }
            differs |= !entry.is_empty();
            cells.push(if entry.is_empty() {
                Value::Null
            } else {
                Value::Object(entry)
            });
        }
        grid.push(Value::Array(cells));
    }
    while grid
        .last()
        .is_some_and(|row| row.as_array().is_some_and(|c| c.iter().all(Value::is_null)))
    {
        grid.pop();
    }
    Some(differs.then_some(Value::Array(grid)))
}

/// `marker` and a space before the first line of `body`, the other lines indented under it.
fn list_item(marker: &str, body: &str) -> String {
    if body.is_empty() {
        return marker.to_owned();
    }
    let indent = " ".repeat(marker.len() + 1);
    prefix_lines(body, &format!("{marker} "), &indent)
}

/// Prefixes the first line with `first` and the others with `rest` (blank lines get `rest`
/// without its trailing spaces).
fn prefix_lines(body: &str, first: &str, rest: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = if i == 0 { first } else { rest };
        if line.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            out.push_str(line);
        }
    }
    out
}

/// A container directive around `inner`, its fence longer than any inside.
fn container(kind: &str, attrs: &Map<String, Value>, inner: &str) -> String {
    let longest = inner
        .lines()
        .map(|line| {
            line.trim_start_matches([' ', '>'])
                .bytes()
                .take_while(|b| *b == b':')
                .count()
        })
        .filter(|n| *n >= 3)
        .max()
        .unwrap_or(2);
    let fence = ":".repeat(longest + 1);
    let head = format!("{fence}{kind}{}", json(attrs, false));
    if inner.is_empty() {
        format!("{head}\n{fence}")
    } else {
        format!("{head}\n{inner}\n{fence}")
    }
}

/// `{…}` JSON attributes, or nothing for none. In tables, pipes are escaped.
pub(super) fn json(attrs: &Map<String, Value>, table: bool) -> String {
    if attrs.is_empty() {
        return String::new();
    }
    let text = Value::Object(attrs.clone()).to_string();
    if table {
        text.replace('|', "\\|")
    } else {
        text
    }
}

/// A paragraph: its inline text, or `&nbsp;` when empty.
fn paragraph(content: &[Node]) -> String {
    let text = paragraph_text(content);
    if text.is_empty() {
        "&nbsp;".to_owned()
    } else {
        text
    }
}

fn paragraph_text(content: &[Node]) -> String {
    inline_text(content, Context::Block)
}

fn heading(node: &Node) -> String {
    let level = node
        .attrs
        .get("level")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 6);
    let hashes = "#".repeat(level as usize);
    let mut text = inline_text(&node.content, Context::Line);
    if text.ends_with('#') {
        text.insert(text.len() - 1, '\\');
    }
    if text.is_empty() {
        hashes
    } else {
        format!("{hashes} {text}")
    }
}

/// A fenced code block: language and JSON attributes in the info string.
fn code_block(node: &Node) -> String {
    let text: String = node.content.iter().map(|t| t.text.as_str()).collect();
    let mut attrs = node.attrs.clone();
    attrs.remove("localId");
    let language = match attrs.get("language") {
        Some(Value::String(l))
            if !l.is_empty() && !l.contains(char::is_whitespace) && !l.starts_with('{') =>
        {
            let l = l.clone();
            attrs.remove("language");
            l
        }
        _ => String::new(),
    };
    if !node.marks.is_empty() {
        attrs.insert(
            "marks".into(),
            Value::Array(node.marks.iter().map(Mark::to_value).collect()),
        );
    }
    let mut info = language;
    if !attrs.is_empty() {
        if !info.is_empty() {
            info.push(' ');
        }
        info.push_str(&json(&attrs, false));
    }
    let fence_char = if info.contains('`') { '~' } else { '`' };
    let longest_run = text
        .split(|c| c != fence_char)
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = fence_char.to_string().repeat(longest_run.max(2) + 1);
    if text.is_empty() {
        format!("{fence}{info}\n{fence}")
    } else {
        format!("{fence}{info}\n{text}\n{fence}")
    }
}
