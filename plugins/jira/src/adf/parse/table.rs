//! GFM tables: a header row, a delimiter row of as many cells, then rows until a blank line or
//! another block. Cells are split on unescaped pipes and read as inline Markdown; the first row
//! holds the headers.

use super::interrupts_table;
use super::lines::{indent_of, is_blank, trim};
use crate::adf::{inline, Node};

/// When a GFM table starts at `i` (a row with pipes, then a delimiter row of as many cells):
/// its number of columns.
pub(super) fn table_start(lines: &[String], i: usize) -> Option<usize> {
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

pub(super) fn table(lines: &[String], start: usize, columns: usize) -> (Node, usize) {
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
