//! Markdown inline content → ADF inline nodes.
//!
//! CommonMark's inline syntax (backslash escapes, character references, code spans, emphasis
//! with its flanking rules, links, autolinks, hard breaks), GFM strikethrough, `<br>`, and text
//! directives `:kind[label]{json}` for marks and inline nodes. Brackets are matched in one pass
//! first (skipping escapes, code spans, autolinks and directive attributes), so nesting costs
//! nothing and malformed input stays linear.
//!
//! This module holds the entry points and the tokenizer; the pre-pass (`scan`), link
//! destinations and titles (`destination`), and the pairing of emphasis delimiters with the
//! flattening of tokens into ADF nodes (`emphasis`) are its submodules.

mod destination;
mod emphasis;
mod scan;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::print_inline::label_attr;
use super::{is_inline, is_mark, Mark, Node};
use destination::destination;
use emphasis::{flatten, plain, process_emphasis};
use scan::{autolink_end, directive_name_before, run_len, Scan};

/// Deepest nesting of links and directives read; deeper brackets are text.
const MAX_DEPTH: usize = 32;

/// Parses inline Markdown (lines separated by `\n`, already stripped of block syntax).
pub(super) fn parse(text: &str) -> Vec<Node> {
    let scan = Scan::new(text);
    let tokens = Tokenizer { text, scan: &scan }.run(0, text.len(), 0);
    let mut out = Vec::new();
    flatten(process_emphasis(tokens), &[], &mut out);
    out
}

/// When the whole of `text` is one image `![alt](src "title")`: alt, source and title.
pub(super) fn lone_image(text: &str) -> Option<(String, String, Option<String>)> {
    let scan = Scan::new(text);
    let tokenizer = Tokenizer { text, scan: &scan };
    let tokens = tokenizer.run(0, text.len(), 0);
    match tokens.as_slice() {
        [Tok::Image { alt, src, title }] => Some((alt.clone(), src.clone(), title.clone())),
        _ => None,
    }
}

/// Undoes a GFM table cell's pipe escapes: `\|` is `|`, whatever precedes it.
pub(super) fn unescape_pipes(cell: &str) -> String {
    cell.replace("\\|", "|")
}

/// Whether `url` can be written as an autolink `<url>`.
pub(super) fn is_autolink_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    let scheme_ok = (2..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    scheme_ok
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// Whether `kind` is read as a text directive: inline nodes and marks.
fn is_directive_name(kind: &str) -> bool {
    (is_inline(kind) && kind != "text" && kind != "hardBreak") || is_mark(kind)
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone)]
enum Tok {
    Text(String),
    Delim {
        ch: char,
        count: usize,
        open: bool,
        close: bool,
    },
    Break,
    Leaf(Node),
    Span(Mark, Vec<Tok>),
    Image {
        alt: String,
        src: String,
        title: Option<String>,
    },
}

struct Tokenizer<'a> {
    text: &'a str,
    scan: &'a Scan,
}

impl Tokenizer<'_> {
    /// Tokens of `text[start..end]`.
    fn run(&self, start: usize, end: usize, depth: usize) -> Vec<Tok> {
        let text = self.text;
        let b = text.as_bytes();
        let mut out: Vec<Tok> = Vec::new();
        let mut buf = String::new();
        let flush = |buf: &mut String, out: &mut Vec<Tok>| {
            if !buf.is_empty() {
                out.push(Tok::Text(std::mem::take(buf)));
            }
        };
        let mut i = start;
        while i < end {
            let c = b[i];
            match c {
                b'\\' => match b.get(i + 1) {
                    Some(n) if n.is_ascii_punctuation() && i + 1 < end => {
                        buf.push(char::from(*n));
                        i += 2;
                    }
                    Some(b'\n') if i + 1 < end => {
                        flush(&mut buf, &mut out);
                        out.push(Tok::Break);
                        i = skip_spaces(b, i + 2, end);
                    }
                    _ => {
                        buf.push('\\');
                        i += 1;
                    }
                },
                b'`' => match self.scan.code.get(&i) {
                    Some(&(from, to, after)) if after <= end => {
                        flush(&mut buf, &mut out);
                        out.push(Tok::Span(
                            Mark::new("code"),
                            vec![Tok::Text(code_content(&text[from..to]))],
                        ));
                        i = after;
                    }
                    _ => {
                        let run = run_len(b, i, b'`');
                        buf.push_str(&text[i..i + run]);
                        i += run;
                    }
                },
                b'*' | b'_' | b'~' => {
                    let run = run_len(b, i, c).min(end - i);
                    flush(&mut buf, &mut out);
                    out.push(self.delimiter(char::from(c), i, run));
                    i += run;
                }
                b'<' => match autolink_end(text, i).filter(|e| *e <= end) {
                    Some(after) => {
                        flush(&mut buf, &mut out);
                        out.push(autolink_token(&text[i + 1..after - 1]));
                        i = after;
                    }
                    None => {
                        buf.push('<');
                        i += 1;
                    }
                },
                b'&' => i = push_reference(text, i, end, &mut buf),
                b'!' if b.get(i + 1) == Some(&b'[') => match self.link(i + 1, end, depth) {
                    Some((label, href, title, after)) => {
                        flush(&mut buf, &mut out);
                        let alt = plain(&process_emphasis(label));
                        out.push(Tok::Image {
                            alt,
                            src: href,
                            title,
                        });
                        i = after;
                    }
                    None => {
                        buf.push('!');
                        i += 1;
                    }
                },
                b'[' => match self.link(i, end, depth) {
                    Some((label, href, title, after)) => {
                        flush(&mut buf, &mut out);
                        let mut attrs = Map::new();
                        attrs.insert("href".into(), Value::String(href));
                        if let Some(title) = title {
                            attrs.insert("title".into(), Value::String(title));
                        }
                        out.push(Tok::Span(
                            Mark::with_attrs("link", attrs),
                            process_emphasis(label),
                        ));
                        i = after;
                    }
                    None => {
                        buf.push('[');
                        i += 1;
                    }
                },
                b':' => match self.directive(i, end, depth) {
                    Some((token, after)) => {
                        flush(&mut buf, &mut out);
                        out.push(token);
                        i = after;
                    }
                    None => {
                        buf.push(':');
                        i += 1;
                    }
                },
                b'\n' => {
                    let trailing = buf.len() - buf.trim_end_matches(' ').len();
                    buf.truncate(buf.trim_end_matches([' ', '\t']).len());
                    if trailing >= 2 {
                        flush(&mut buf, &mut out);
                        out.push(Tok::Break);
                    } else {
                        buf.push(' ');
                    }
                    i = skip_spaces(b, i + 1, end);
                }
                _ => {
                    let len = utf8_len(c);
                    buf.push_str(&text[i..(i + len).min(end)]);
                    i += len;
                }
            }
        }
        flush(&mut buf, &mut out);
        out
    }

    /// A delimiter run of `count` `ch` at `at`, with CommonMark's flanking rules.
    fn delimiter(&self, ch: char, at: usize, count: usize) -> Tok {
        let before = self.text[..at].chars().next_back();
        let after = self.text[at + count..].chars().next();
        let space = |c: Option<char>| c.is_none_or(char::is_whitespace);
        let punct = |c: Option<char>| c.is_some_and(is_punctuation);
        let left = !space(after) && (!punct(after) || space(before) || punct(before));
        let right = !space(before) && (!punct(before) || space(after) || punct(after));
        let (open, close) = match ch {
            '_' => (
                left && (!right || punct(before)),
                right && (!left || punct(after)),
            ),
            '~' if count > 2 => (false, false),
            _ => (left, right),
        };
        Tok::Delim {
            ch,
            count,
            open,
            close,
        }
    }

    /// `[label](destination "title")` at `open`: label tokens, href, title, end.
    #[allow(clippy::type_complexity)]
    fn link(
        &self,
        open: usize,
        end: usize,
        depth: usize,
    ) -> Option<(Vec<Tok>, String, Option<String>, usize)> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let close = *self.scan.brackets.get(&open)?;
        if close >= end || self.text.as_bytes().get(close + 1) != Some(&b'(') {
            return None;
        }
        let (href, title, after) = destination(self.text, close + 1, end)?;
        let label = self.run(open + 1, close, depth + 1);
        Some((label, href, title, after))
    }

    /// `:kind[label]{json}` at `colon`.
    fn directive(&self, colon: usize, end: usize, depth: usize) -> Option<(Tok, usize)> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let b = self.text.as_bytes();
        let name_len = b[colon + 1..end]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        let open = colon + 1 + name_len;
        if name_len == 0 || b.get(open) != Some(&b'[') {
            return None;
        }
        let (found_colon, name) = directive_name_before(self.text, open)?;
        if found_colon != colon {
            return None;
        }
        let close = *self.scan.brackets.get(&open)?;
        if close >= end {
            return None;
        }
        let label = self.run(open + 1, close, depth + 1);
        let (attrs, after) = match self.scan.json.get(&(close + 1)) {
            Some((attrs, json_end)) if *json_end <= end => (attrs.clone(), *json_end),
            _ => (Map::new(), close + 1),
        };
        let token = if is_mark(name) {
            Tok::Span(Mark::with_attrs(name, attrs), process_emphasis(label))
        } else {
            inline_node(name, attrs, &plain(&process_emphasis(label)))
        };
        Some((token, after))
    }
}

/// The token of an inline-node directive, or its label as text when it lacks what ADF
/// requires of that node.
fn inline_node(kind: &str, mut attrs: Map<String, Value>, label: &str) -> Tok {
    if let Some(name) = label_attr(kind) {
        if !label.is_empty() {
            attrs.insert(name.into(), Value::String(label.to_owned()));
        }
    }
    let has =
        |attrs: &Map<String, Value>, name: &str| attrs.get(name).is_some_and(Value::is_string);
    match kind {
        "date" if !has(&attrs, "timestamp") => {
            if let Some(ms) = crate::time::millis(&format!("{}T00:00Z", label.trim())) {
                attrs.insert("timestamp".into(), Value::String(ms.to_string()));
            }
        }
        "status" if !attrs.contains_key("color") => {
            attrs.insert("color".into(), Value::String("neutral".into()));
        }
        _ => {}
    }
    let valid = match kind {
        "mention" => has(&attrs, "id"),
        "emoji" => has(&attrs, "shortName"),
        "date" => has(&attrs, "timestamp"),
        "status" | "placeholder" => has(&attrs, "text"),
        "inlineCard" => has(&attrs, "url") || attrs.contains_key("data"),
        "inlineExtension" => has(&attrs, "extensionKey") && has(&attrs, "extensionType"),
        "mediaInline" => has(&attrs, "id") && has(&attrs, "collection"),
        _ => true,
    };
    if valid {
        Tok::Leaf(Node {
            kind: kind.to_owned(),
            attrs,
            ..Node::default()
        })
    } else {
        Tok::Text(label.to_owned())
    }
}

fn autolink_token(inner: &str) -> Tok {
    if matches!(inner.to_ascii_lowercase().as_str(), "br" | "br/" | "br /") {
        return Tok::Break;
    }
    if is_autolink_url(inner) {
        return Tok::Leaf(Node::new("inlineCard").with_attr("url", inner));
    }
    let mut attrs = Map::new();
    attrs.insert("href".into(), Value::String(format!("mailto:{inner}")));
    Tok::Span(
        Mark::with_attrs("link", attrs),
        vec![Tok::Text(inner.to_owned())],
    )
}

/// A code span's content: line endings as spaces, one space stripped from each end when both
/// have one (and it is not all spaces).
fn code_content(raw: &str) -> String {
    let text = raw.replace('\n', " ");
    if text.len() >= 2
        && text.starts_with(' ')
        && text.ends_with(' ')
        && !text.chars().all(|c| c == ' ')
    {
        text[1..text.len() - 1].to_owned()
    } else {
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Characters and character references

fn skip_spaces(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Punctuation as CommonMark means it: ASCII punctuation and Unicode punctuation and symbols.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
}

/// Appends what the character reference at `i` stands for to `out`, or the `&` when none starts
/// there; the position after what was read.
fn push_reference(text: &str, i: usize, end: usize, out: &mut String) -> usize {
    match entity_at(&text[i..end]) {
        Some((decoded, len)) => {
            out.push_str(&decoded);
            i + len
        }
        None => {
            out.push('&');
            i + 1
        }
    }
}

/// A character reference at the start of `text`: the character(s) and the reference's length.
pub(super) fn entity_at(text: &str) -> Option<(String, usize)> {
    let end = text.bytes().take(40).position(|b| b == b';')?;
    let name = &text[1..end];
    let decoded = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) if (1..=6).contains(&hex.len()) => u32::from_str_radix(hex, 16).ok()?,
            Some(_) => return None,
            None if (1..=7).contains(&number.len()) => number.parse().ok()?,
            None => return None,
        };
        let c = if code == 0 {
            '\u{FFFD}'
        } else {
            char::from_u32(code).unwrap_or('\u{FFFD}')
        };
        c.to_string()
    } else {
        named_reference(name)?.to_owned()
    };
    Some((decoded, end + 1))
}

/// What the named character reference `&name;` stands for: any of HTML5's, as CommonMark reads
/// them (only the forms with `;`; `&eacute` without it stays text in Markdown).
pub(super) fn named_reference(name: &str) -> Option<&'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        entities::ENTITIES
            .iter()
            .filter_map(|e| {
                let name = e.entity.strip_prefix('&')?.strip_suffix(';')?;
                Some((name, e.characters))
            })
            .collect()
    });
    table.get(name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let marks: Vec<&str> = n.marks.iter().map(|m| m.kind.as_str()).collect();
                match n.kind.as_str() {
                    "text" if marks.is_empty() => format!("{:?}", n.text),
                    "text" => format!("{:?}{marks:?}", n.text),
                    kind => format!("<{kind}>"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn emphasis_follows_commonmark() {
        assert_eq!(show(&parse("**a** b")), r#""a"["strong"] " b""#);
        assert_eq!(show(&parse("***a***")), r#""a"["em", "strong"]"#);
        assert_eq!(
            show(&parse("*a **b***")),
            r#""a "["em"] "b"["em", "strong"]"#
        );
        assert_eq!(show(&parse("snake_case_name")), r#""snake_case_name""#);
        assert_eq!(show(&parse("a * b * c")), r#""a * b * c""#);
        assert_eq!(
            show(&parse("~~gone~~ and ~x~")),
            r#""gone"["strike"] " and " "x"["strike"]"#
        );
        assert_eq!(show(&parse("**open")), r#""**open""#);
        assert_eq!(show(&parse("*[a](u)*")), r#""a"["em", "link"]"#);
    }

    #[test]
    fn code_links_breaks_and_escapes() {
        assert_eq!(show(&parse("`a*b*` \\*c\\*")), r#""a*b*"["code"] " *c*""#);
        assert_eq!(show(&parse("`` a`b ``")), r#""a`b"["code"]"#);
        assert_eq!(
            show(&parse("a\\\nb  \nc\nd<br>e")),
            r#""a" <hardBreak> "b" <hardBreak> "c d" <hardBreak> "e""#
        );
        let link = &parse(r#"[x](http://a.b/(c) "T\"")"#)[0];
        assert_eq!(link.marks[0].attrs["href"], "http://a.b/(c)");
        assert_eq!(link.marks[0].attrs["title"], "T\"");
        assert_eq!(parse("[x](<a b>)")[0].marks[0].attrs["href"], "a b");
        assert_eq!(show(&parse("[not a link] (x)")), r#""[not a link] (x)""#);
        assert_eq!(show(&parse("<https://x.y/z>")), "<inlineCard>");
        assert_eq!(parse("<a@b.cd>")[0].marks[0].attrs["href"], "mailto:a@b.cd");
        assert_eq!(show(&parse("&amp;&#65;&#x42;&bogus;")), r#""&AB&bogus;""#);
        assert_eq!(show(&parse("`unclosed")), r#""`unclosed""#);
    }

    #[test]
    fn directives_are_marks_or_inline_nodes() {
        let nodes = parse(r#":mention[@Jane]{"id":"abc"} :underline[u **b**] :status[done]"#);
        assert_eq!(nodes[0].kind, "mention");
        assert_eq!(nodes[0].attrs["text"], "@Jane");
        assert_eq!(nodes[0].attrs["id"], "abc");
        assert_eq!(
            show(&nodes[1..4]),
            r#"" " "u "["underline"] "b"["underline", "strong"]"#
        );
        assert_eq!(nodes[5].attrs["color"], "neutral");
        let colored = parse(r##":textColor[red]{"color":"#ff0000"}"##);
        assert_eq!(colored[0].marks[0].attrs["color"], "#ff0000");
        // Attributes with brackets in strings, nested in a label.
        let nested = parse(r#":underline[:mention[@x]{"id":"a]b"}]"#);
        assert_eq!(nested[0].attrs["id"], "a]b");
        assert_eq!(nested[0].marks[0].kind, "underline");
        // Not directives: unknown names, escaped colons, missing required attributes.
        assert_eq!(
            show(&parse(":nope[x] \\:strong[y]")),
            r#"":nope[x] :strong[y]""#
        );
        assert_eq!(show(&parse(":mention[@x]")), r#""@x""#);
        let date = parse(":date[2024-05-01]");
        assert_eq!(date[0].attrs["timestamp"], "1714521600000");
    }

    #[test]
    fn pathological_input_stays_linear() {
        let brackets = "[".repeat(50_000);
        assert_eq!(parse(&brackets)[0].text.len(), 50_000);
        let ticks = "`a ``b ".repeat(10_000);
        assert!(!parse(&ticks).is_empty());
        let nested = format!("{}x{}", "[".repeat(100), "](u)".repeat(100));
        assert!(!parse(&nested).is_empty());
        let stars = "*a ".repeat(5_000);
        assert!(!parse(&stars).is_empty());
        let closers = "a* b_ ".repeat(5_000);
        assert!(!parse(&closers).is_empty());
    }
}
