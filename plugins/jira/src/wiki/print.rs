//! ADF → wiki markup, for what Markdown becomes on Data Center: each block and inline node in
//! its wiki form (marks as effects, links as `[text|url]`, mentions as `[~user]`), other nodes
//! as their text, and text escaped only where wiki markup would read it as syntax.

use agentic_sdk::serde_json::Value;

use crate::adf::Node;

pub(super) fn block_wiki(node: &Node) -> String {
    match node.kind.as_str() {
        "paragraph" => inline_wiki(&node.content, false),
        "heading" => {
            let level = node
                .attrs
                .get("level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            format!("h{level}. {}", inline_wiki(&node.content, false))
        }
        "blockquote" => format!("{{quote}}\n{}\n{{quote}}", blocks_wiki(&node.content)),
        "panel" | "expand" | "nestedExpand" => {
            format!("{{panel}}\n{}\n{{panel}}", blocks_wiki(&node.content))
        }
        "bulletList" | "orderedList" | "taskList" => list_wiki(node, ""),
        "codeBlock" => {
            let code = Node::code_text(&node.content);
            match node.attr_str("language").filter(|l| !l.is_empty()) {
                Some(lang) => format!("{{code:{lang}}}\n{code}\n{{code}}"),
                None => format!("{{noformat}}\n{code}\n{{noformat}}"),
            }
        }
        "rule" => "----".to_owned(),
        "table" => node
            .content
            .iter()
            .map(|row| {
                let mut line = String::new();
                for cell in &row.content {
                    let sep = if cell.kind == "tableHeader" {
                        "||"
                    } else {
                        "|"
                    };
                    line.push_str(sep);
                    let text: Vec<String> = cell
                        .content
                        .iter()
                        .map(|b| block_wiki(b).replace('\n', " "))
                        .collect();
                    line.push_str(&text.join(" "));
                }
                line.push_str(
                    if row.content.last().is_some_and(|c| c.kind == "tableHeader") {
                        "||"
                    } else {
                        "|"
                    },
                );
                line
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "mediaSingle" | "mediaGroup" => node
            .content
            .iter()
            .filter_map(|m| m.attr_str("url").or_else(|| m.attr_str("alt")))
            .map(|u| format!("!{u}!"))
            .collect::<Vec<_>>()
            .join(" "),
        _ if !node.content.is_empty() => blocks_wiki(&node.content),
        _ => escape(&node.plain_text()),
    }
}

fn blocks_wiki(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(block_wiki)
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn list_wiki(node: &Node, prefix: &str) -> String {
    let own = match node.kind.as_str() {
        "orderedList" => "#",
        _ => "*",
    };
    let marker = format!("{prefix}{own}");
    let mut lines = Vec::new();
    for item in &node.content {
        match item.kind.as_str() {
            "taskItem" => {
                let check = if item.attr_str("state") == Some("DONE") {
                    "(/)"
                } else {
                    "(x)"
                };
                lines.push(format!(
                    "{marker} {check} {}",
                    inline_wiki(&item.content, false)
                ));
            }
            "taskList" | "bulletList" | "orderedList" => lines.push(list_wiki(item, &marker)),
            _ => {
                let mut first = true;
                for child in &item.content {
                    if matches!(
                        child.kind.as_str(),
                        "bulletList" | "orderedList" | "taskList"
                    ) {
                        lines.push(list_wiki(child, &marker));
                    } else if first {
                        lines.push(format!("{marker} {}", block_wiki(child).replace('\n', " ")));
                        first = false;
                    } else {
                        lines.push(block_wiki(child).replace('\n', " "));
                    }
                }
                if first && item.content.is_empty() {
                    lines.push(format!("{marker} "));
                }
            }
        }
    }
    lines.join("\n")
}

pub(super) fn inline_wiki(nodes: &[Node], in_link: bool) -> String {
    let mut out = String::new();
    for node in nodes {
        let mut text = match node.kind.as_str() {
            "text" => {
                if node.marks.iter().any(|m| m.kind == "code") {
                    format!("{{{{{}}}}}", node.text)
                } else {
                    escape(&node.text)
                }
            }
            "hardBreak" => "\n".to_owned(),
            "mention" => format!("[~{}]", node.attr_str("id").unwrap_or_default()),
            "inlineCard" => match node.attr_str("url") {
                Some(url) => format!("[{url}]"),
                None => String::new(),
            },
            _ => escape(&node.plain_text()),
        };
        for mark in &node.marks {
            text = match mark.kind.as_str() {
                "strong" => format!("*{text}*"),
                "em" => format!("_{text}_"),
                "strike" => format!("-{text}-"),
                "underline" => format!("+{text}+"),
                "subsup" if mark.attrs.get("type") == Some(&Value::from("sup")) => {
                    format!("^{text}^")
                }
                "subsup" => format!("~{text}~"),
                "textColor" => match mark.attrs.get("color").and_then(Value::as_str) {
                    Some(color) => format!("{{color:{color}}}{text}{{color}}"),
                    None => text,
                },
                "link" if !in_link => match mark.attrs.get("href").and_then(Value::as_str) {
                    Some(href) => format!("[{text}|{href}]"),
                    None => text,
                },
                _ => text,
            };
        }
        out.push_str(&text);
    }
    out
}

/// Escapes what wiki markup would read as syntax: `*`, `_`, `-` and `+` only where they could
/// open or close an effect (next to a non-alphanumeric), the rest always.
fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).and_then(|p| chars.get(p));
        let after = chars.get(i + 1);
        let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
        let escape = match c {
            '*' | '_' | '-' | '+' => !(word(before) && word(after)),
            '?' => before == Some(&'?') || after == Some(&'?'),
            '^' | '~' | '{' | '}' | '[' | ']' | '|' | '\\' | '!' => true,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
