//! Lists: bullet and ordered lists, and GFM task lists (a bullet list whose every item starts
//! with `[ ]` or `[x]`). An item holds the lines indented to its content, blank lines it goes
//! on after, and lazy continuation lines of its paragraph; its content is read as blocks again.

use super::lines::{indent_of, is_blank, list_marker, strip_indent, trim, trim_start, ListMarker};
use super::{blocks, interrupts_paragraph};
use crate::adf::Node;

/// A bullet, ordered or task list starting at `start`, and the next line.
pub(super) fn list(
    lines: &[String],
    start: usize,
    first: &ListMarker,
    depth: usize,
) -> (Node, usize) {
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
