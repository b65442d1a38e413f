//! CommonMark's delimiter pairing ("process emphasis") into strong, em and strike spans, and
//! the flattening of the token tree into ADF inline nodes, each carrying the marks of the spans
//! around it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Tok;
use crate::adf::{Mark, Node};

/// CommonMark's "process emphasis": pairs delimiter runs into strong, em and strike spans.
pub(super) fn process_emphasis(mut toks: Vec<Tok>) -> Vec<Tok> {
    // Closers before `from` are done; openers below `bottom[key]` cannot match such a closer.
    let mut from = 0;
    let mut bottom: HashMap<(char, usize, bool), usize> = HashMap::new();
    loop {
        let closer = toks[from..]
            .iter()
            .position(|t| matches!(t, Tok::Delim { close: true, count, .. } if *count > 0))
            .map(|p| p + from);
        let Some(c) = closer else { break };
        let Tok::Delim {
            ch,
            count: c_count,
            open: c_open,
            ..
        } = toks[c].clone()
        else {
            unreachable!("position found a delimiter")
        };
        let key = (ch, c_count % 3, c_open);
        let floor = bottom.get(&key).copied().unwrap_or(0);
        let opener = (floor..c).rev().find(|&o| match &toks[o] {
            Tok::Delim {
                ch: och,
                count,
                open: true,
                close: o_close,
            } if *och == ch && *count > 0 => {
                if ch == '~' {
                    *count == c_count
                } else {
                    let odd_match = (*o_close || c_open)
                        && (count + c_count) % 3 == 0
                        && !(count % 3 == 0 && c_count % 3 == 0);
                    !odd_match
                }
            }
            _ => false,
        });
        let Some(o) = opener else {
            if let Tok::Delim { close, .. } = &mut toks[c] {
                *close = false;
            }
            bottom.insert(key, c);
            from = c + 1;
            continue;
        };
        let o_count = match &toks[o] {
            Tok::Delim { count, .. } => *count,
            _ => unreachable!("found an opener"),
        };
        let used = if ch == '~' {
            c_count
        } else if o_count >= 2 && c_count >= 2 {
            2
        } else {
            1
        };
        let mark = match (ch, used) {
            ('~', _) => "strike",
            (_, 2) => "strong",
            _ => "em",
        };
        let inner: Vec<Tok> = toks.drain(o + 1..c).map(literal).collect();
        toks.insert(o + 1, Tok::Span(Mark::new(mark), inner));
        for at in [o + 2, o] {
            if let Tok::Delim { count, .. } = &mut toks[at] {
                *count -= used;
                if *count == 0 {
                    toks.remove(at);
                }
            }
        }
        // Indices after the opener moved: start over from it, with no stale bounds.
        from = o;
        bottom.clear();
    }
    toks.into_iter().map(literal).collect()
}

/// A delimiter that paired with nothing, as text.
fn literal(tok: Tok) -> Tok {
    match tok {
        Tok::Delim { ch, count, .. } => Tok::Text(ch.to_string().repeat(count)),
        other => other,
    }
}

/// Plain text of tokens (image alt text, directive labels).
pub(super) fn plain(toks: &[Tok]) -> String {
    let mut out = String::new();
    for tok in toks {
        match tok {
            Tok::Text(t) => out.push_str(t),
            Tok::Delim { ch, count, .. } => out.push_str(&ch.to_string().repeat(*count)),
            Tok::Break => out.push('\n'),
            Tok::Leaf(node) => out.push_str(&node.plain_text()),
            Tok::Span(_, inner) => out.push_str(&plain(inner)),
            Tok::Image { alt, .. } => out.push_str(alt),
        }
    }
    out
}

/// Tokens as ADF inline nodes, each with the marks of the spans around it (the innermost of
/// two marks of one kind wins; annotations, which may stack, all stay).
pub(super) fn flatten(toks: Vec<Tok>, marks: &[Mark], out: &mut Vec<Node>) {
    for tok in toks {
        match tok {
            Tok::Text(text) => push_text(out, text, marks),
            Tok::Delim { ch, count, .. } => push_text(out, ch.to_string().repeat(count), marks),
            Tok::Break => out.push(Node::new("hardBreak")),
            Tok::Leaf(mut node) => {
                node.marks = marks.to_vec();
                out.push(node);
            }
            Tok::Span(mark, inner) => {
                let mut nested: Vec<Mark> = marks
                    .iter()
                    .filter(|m| m.kind != mark.kind || (m.kind == "annotation" && **m != mark))
                    .cloned()
                    .collect();
                nested.push(mark);
                flatten(inner, &nested, out);
            }
            Tok::Image { alt, src, title } => {
                let mut attrs = Map::new();
                attrs.insert("href".into(), Value::String(src));
                if let Some(title) = title {
                    attrs.insert("title".into(), Value::String(title));
                }
                let mut nested: Vec<Mark> =
                    marks.iter().filter(|m| m.kind != "link").cloned().collect();
                nested.push(Mark::with_attrs("link", attrs));
                let text = if alt.is_empty() {
                    "image".to_owned()
                } else {
                    alt
                };
                push_text(out, text, &nested);
            }
        }
    }
}

fn push_text(out: &mut Vec<Node>, text: String, marks: &[Mark]) {
    if text.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.kind == "text" && last.marks == marks {
            last.text.push_str(&text);
            return;
        }
    }
    out.push(Node::text(text, marks.to_vec()));
}
