//! What one Markdown line is, on its own: blank, indented, a code fence, a thematic break, an
//! ATX heading or setext underline, a quote or list marker. Block structure is built from these
//! answers by the parent module; none of them looks at another line.

/// Without leading spaces and tabs (Markdown's whitespace; not Unicode's, which includes the
/// no-break space).
pub(super) fn trim_start(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

/// Without spaces and tabs at either end.
pub(super) fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

pub(super) fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c == ' ' || c == '\t')
}

/// Columns of leading whitespace (tabs to the next multiple of 4).
pub(super) fn indent_of(line: &str) -> usize {
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
pub(super) fn strip_indent(line: &str, n: usize) -> String {
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

pub(super) struct Fence {
    pub(super) indent: usize,
    pub(super) ch: char,
    pub(super) len: usize,
    pub(super) info: String,
}

pub(super) fn fence_open(line: &str) -> Option<Fence> {
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

pub(super) fn fence_closes(line: &str, fence: &Fence) -> bool {
    if indent_of(line) > 3 {
        return false;
    }
    let rest = trim(line);
    let len = rest.chars().take_while(|c| *c == fence.ch).count();
    len >= fence.len && rest.chars().all(|c| c == fence.ch)
}

pub(super) fn thematic_break(line: &str) -> bool {
    if indent_of(line) > 3 {
        return false;
    }
    let chars: Vec<char> = line.chars().filter(|c| !matches!(c, ' ' | '\t')).collect();
    chars.len() >= 3 && matches!(chars[0], '-' | '*' | '_') && chars.iter().all(|c| *c == chars[0])
}

pub(super) fn atx_heading(line: &str) -> Option<(u64, String)> {
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

pub(super) fn setext_level(line: &str) -> Option<u64> {
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

pub(super) fn quote_line(line: &str) -> Option<String> {
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

pub(super) struct ListMarker {
    pub(super) ordered: bool,
    /// The bullet (`-`, `*`, `+`) or the delimiter after the number (`.`, `)`).
    pub(super) ch: char,
    pub(super) start: u64,
    /// Columns before the item's content.
    pub(super) width: usize,
    /// Whether nothing follows the marker on its line.
    pub(super) empty: bool,
}

pub(super) fn list_marker(line: &str) -> Option<ListMarker> {
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
