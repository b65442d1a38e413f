//! Markdown blocks → ADF blocks.
//!
//! CommonMark's block structure (paragraphs, ATX and setext headings, thematic breaks, fenced
//! and indented code, block quotes, bullet and ordered lists with lazy continuation), GFM tables
//! and task lists, and container (`:::kind{json}` … `:::`) and leaf (`::kind{json}`)
//! directives. The result may break ADF's content rules; `sanitize` fixes that.
//!
//! This module walks the lines and reads paragraphs, headings, code and quotes; what a single
//! line is (`lines`), and the blocks with rules of their own — directives (`directive`), lists
//! (`list`) and GFM tables (`table`) — are read by the submodules.

mod directive;
mod lines;
mod list;
mod table;

use serde_json::{Map, Value};

use super::inline;
use super::{Mark, Node};
use directive::{directive_close, directive_node, directive_open, leaf_directive, take_marks};
use lines::{
    atx_heading, fence_closes, fence_open, indent_of, is_blank, list_marker, quote_line,
    setext_level, strip_indent, thematic_break, trim_start, Fence,
};
use list::list;
use table::{table, table_start};

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

// ---------------------------------------------------------------------------------------------
// Block quotes

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
