//! The pre-pass over a paragraph's inline text, before any token is made: code spans (a
//! backtick run and the next run of the same length), bracket pairs, and the JSON attributes
//! after a directive's label. Matching them once, left to right, lets the tokenizer skip over
//! them without looking ahead again, so nesting costs nothing and malformed input stays linear.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{is_autolink_url, is_directive_name};

#[derive(Default)]
pub(super) struct Scan {
    /// Opening backtick run → (content start, content end, end of the closing run).
    pub(super) code: HashMap<usize, (usize, usize, usize)>,
    /// `[` → its `]`.
    pub(super) brackets: HashMap<usize, usize>,
    /// `{` after a directive's label → (its attributes, the end of the JSON).
    pub(super) json: HashMap<usize, (Map<String, Value>, usize)>,
}

impl Scan {
    pub(super) fn new(text: &str) -> Self {
        let b = text.as_bytes();
        let mut scan = Scan::default();
        let mut stack: Vec<usize> = Vec::new();
        // Backtick run lengths with no closing run after this position.
        let mut unclosed: HashMap<usize, usize> = HashMap::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => i += 2,
                b'`' => {
                    let run = run_len(b, i, b'`');
                    let after = i + run;
                    let known_unclosed = unclosed.get(&run).is_some_and(|from| *from <= i);
                    match (!known_unclosed).then(|| find_run(b, after, run)).flatten() {
                        Some(close) => {
                            scan.code.insert(i, (after, close, close + run));
                            i = close + run;
                        }
                        None => {
                            unclosed.insert(run, i);
                            i = after;
                        }
                    }
                }
                b'<' => i = autolink_end(text, i).unwrap_or(i + 1),
                b'[' => {
                    stack.push(i);
                    i += 1;
                }
                b']' => {
                    if let Some(open) = stack.pop() {
                        scan.brackets.insert(open, i);
                        if directive_name_before(text, open).is_some()
                            && b.get(i + 1) == Some(&b'{')
                        {
                            if let Some((attrs, end)) = json_object(text, i + 1) {
                                scan.json.insert(i + 1, (attrs, end));
                                i = end;
                                continue;
                            }
                        }
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        scan
    }
}

pub(super) fn run_len(b: &[u8], at: usize, c: u8) -> usize {
    b[at..].iter().take_while(|x| **x == c).count()
}

/// The next run of exactly `len` backticks from `from`.
fn find_run(b: &[u8], from: usize, len: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if b[i] == b'`' {
            let run = run_len(b, i, b'`');
            if run == len {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// A JSON object starting at `at`: its members and the position after it.
fn json_object(text: &str, at: usize) -> Option<(Map<String, Value>, usize)> {
    let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Object(map))) => Some((map, at + stream.byte_offset())),
        _ => None,
    }
}

/// The directive name `:name` right before the `[` at `open`, if there is one (and its `:` is
/// not escaped).
pub(super) fn directive_name_before(text: &str, open: usize) -> Option<(usize, &str)> {
    let head = &text[..open];
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric())
        .last()
        .map(|(i, _)| i)?;
    let name = &head[start..];
    if start == 0 || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let colon = start - 1;
    if head.as_bytes()[colon] != b':' || !is_directive_name(name) {
        return None;
    }
    let backslashes = head[..colon]
        .bytes()
        .rev()
        .take_while(|b| *b == b'\\')
        .count();
    (backslashes % 2 == 0).then_some((colon, name))
}

/// The end of an autolink, email autolink or `<br>` starting at `at`.
pub(super) fn autolink_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at + 1..];
    let close = rest.find('>')?;
    let inner = &rest[..close];
    let br = matches!(inner.to_ascii_lowercase().as_str(), "br" | "br/" | "br /");
    (br || is_autolink_url(inner) || is_email(inner)).then_some(at + close + 2)
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c))
        && !domain.is_empty()
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}
