//! Link destinations and titles: `(<dest> "title")`, `(dest 'title')`, `(dest (title))`, with
//! balanced parentheses, backslash escapes and character references, as CommonMark reads them
//! after a link's or image's `]`.

use super::{push_reference, utf8_len};

/// `(destination "title")` starting at the `(` at `at`: href, title, end.
pub(super) fn destination(
    text: &str,
    at: usize,
    end: usize,
) -> Option<(String, Option<String>, usize)> {
    let b = text.as_bytes();
    let mut i = skip_space(b, at + 1, end);
    let mut href = String::new();
    if b.get(i) == Some(&b'<') {
        i += 1;
        loop {
            match *b.get(i).filter(|_| i < end)? {
                b'>' => {
                    i += 1;
                    break;
                }
                b'\n' | b'<' => return None,
                b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                    href.push(char::from(b[i + 1]));
                    i += 2;
                }
                b'&' => i = push_reference(text, i, end, &mut href),
                c => {
                    let len = utf8_len(c);
                    href.push_str(&text[i..i + len]);
                    i += len;
                }
            }
        }
    } else {
        let mut parens = 0_usize;
        while i < end {
            match b[i] {
                c if c.is_ascii_whitespace() || c.is_ascii_control() => break,
                b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                    href.push(char::from(b[i + 1]));
                    i += 2;
                }
                b'(' => {
                    parens += 1;
                    href.push('(');
                    i += 1;
                }
                b')' if parens == 0 => break,
                b')' => {
                    parens -= 1;
                    href.push(')');
                    i += 1;
                }
                b'&' => i = push_reference(text, i, end, &mut href),
                c => {
                    let len = utf8_len(c);
                    href.push_str(&text[i..i + len]);
                    i += len;
                }
            }
        }
        if parens != 0 {
            return None;
        }
    }
    let before_title = i;
    i = skip_space(b, i, end);
    let mut title = None;
    if i > before_title {
        if let Some(&quote) = b.get(i).filter(|q| matches!(q, b'"' | b'\'' | b'(')) {
            let closing = if quote == b'(' { b')' } else { quote };
            let mut t = String::new();
            i += 1;
            loop {
                match *b.get(i).filter(|_| i < end)? {
                    c if c == closing => {
                        i += 1;
                        break;
                    }
                    b'\\' if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) => {
                        t.push(char::from(b[i + 1]));
                        i += 2;
                    }
                    b'&' => i = push_reference(text, i, end, &mut t),
                    c => {
                        let len = utf8_len(c);
                        t.push_str(&text[i..i + len]);
                        i += len;
                    }
                }
            }
            title = Some(t);
            i = skip_space(b, i, end);
        }
    }
    (b.get(i) == Some(&b')') && i < end).then_some((href, title, i + 1))
}

fn skip_space(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && matches!(b[i], b' ' | b'\t' | b'\n') {
        i += 1;
    }
    i
}
