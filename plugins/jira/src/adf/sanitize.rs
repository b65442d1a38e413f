//! Reshapes parsed Markdown into ADF's content model (the content and mark rules of the ADF
//! JSON schema): what may not stand where it is becomes something that may (a heading in a
//! list item becomes a paragraph, a quote in a table cell gives up its paragraphs, a table in a
//! list item becomes lines of text), required attributes get defaults, marks that may not meet
//! are dropped. Valid ADF passes through unchanged.

use serde_json::Value;

use super::{is_inline, is_textblock, Mark, Node};

/// Fixes the children of a `parent` node.
pub(super) fn blocks(parent: &str, nodes: Vec<Node>) -> Vec<Node> {
    Sanitizer::default().blocks(parent, nodes)
}

/// Block kinds each container may hold (from the ADF schema; a test compares).
pub(super) fn allowed_children(parent: &str) -> &'static [&'static str] {
    const NON_NESTABLE: &[&str] = &[
        "blockCard",
        "blockquote",
        "bulletList",
        "codeBlock",
        "decisionList",
        "embedCard",
        "extension",
        "heading",
        "mediaGroup",
        "mediaSingle",
        "orderedList",
        "panel",
        "paragraph",
        "rule",
        "table",
        "taskList",
    ];
    match parent {
        "doc" => &[
            "blockCard",
            "blockquote",
            "bodiedExtension",
            "bodiedSyncBlock",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "expand",
            "extension",
            "heading",
            "layoutSection",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "syncBlock",
            "table",
            "taskList",
        ],
        "blockquote" => &[
            "bulletList",
            "codeBlock",
            "extension",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "paragraph",
        ],
        "bodiedExtension" => NON_NESTABLE,
        "bodiedSyncBlock" => &[
            "blockCard",
            "blockquote",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "expand",
            "heading",
            "layoutSection",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "table",
            "taskList",
        ],
        "bulletList" | "orderedList" => &["listItem"],
        "listItem" => &[
            "bulletList",
            "codeBlock",
            "extension",
            "mediaSingle",
            "orderedList",
            "paragraph",
            "taskList",
        ],
        "expand" => &[
            "blockCard",
            "blockquote",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "nestedExpand",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "table",
            "taskList",
        ],
        "nestedExpand" => &[
            "blockquote",
            "bulletList",
            "codeBlock",
            "decisionList",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "taskList",
        ],
        "panel" => &[
            "blockCard",
            "bulletList",
            "codeBlock",
            "decisionList",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "paragraph",
            "rule",
            "taskList",
        ],
        "tableCell" | "tableHeader" => &[
            "blockCard",
            "blockquote",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "nestedExpand",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "taskList",
        ],
        "layoutColumn" => &[
            "blockCard",
            "blockquote",
            "bodiedExtension",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "expand",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "table",
            "taskList",
        ],
        "layoutSection" => &["layoutColumn"],
        "table" => &["tableRow"],
        "tableRow" => &["tableCell", "tableHeader"],
        "taskList" => &["blockTaskItem", "taskItem", "taskList"],
        "blockTaskItem" => &["extension", "paragraph"],
        "decisionList" => &["decisionItem"],
        "mediaGroup" => &["media"],
        "mediaSingle" => &["caption", "media"],
        _ => &[],
    }
}

/// Inline kinds a textblock may hold.
pub(super) fn allowed_inlines(parent: &str) -> &'static [&'static str] {
    match parent {
        "caption" => &[
            "date",
            "emoji",
            "hardBreak",
            "inlineCard",
            "mention",
            "placeholder",
            "status",
            "text",
        ],
        "codeBlock" => &["text"],
        _ => &[
            "date",
            "emoji",
            "hardBreak",
            "inlineCard",
            "inlineExtension",
            "mediaInline",
            "mention",
            "placeholder",
            "status",
            "text",
        ],
    }
}

/// Marks each kind may carry (from the ADF schema; a test compares).
pub(super) fn allowed_marks(kind: &str) -> &'static [&'static str] {
    match kind {
        "text" => &[
            "annotation",
            "backgroundColor",
            "code",
            "em",
            "link",
            "strike",
            "strong",
            "subsup",
            "textColor",
            "underline",
        ],
        "paragraph" => &["alignment", "fontSize", "indentation"],
        "heading" => &["alignment", "indentation"],
        "codeBlock" | "expand" | "layoutSection" | "syncBlock" | "bodiedSyncBlock" => &["breakout"],
        "table" => &["fragment"],
        "extension" | "bodiedExtension" | "inlineExtension" => &["dataConsumer", "fragment"],
        "mediaSingle" => &["link"],
        "media" | "mediaInline" => &["annotation", "border", "dataConsumer", "link"],
        _ => &[],
    }
}

/// Containers that need at least one child: given a paragraph when empty.
const NEEDS_CONTENT: [&str; 10] = [
    "listItem",
    "blockquote",
    "tableCell",
    "tableHeader",
    "panel",
    "expand",
    "nestedExpand",
    "layoutColumn",
    "bodiedExtension",
    "blockTaskItem",
];

/// Lists and groups without items are dropped.
const DROPPED_WHEN_EMPTY: [&str; 8] = [
    "bulletList",
    "orderedList",
    "taskList",
    "decisionList",
    "table",
    "mediaGroup",
    "mediaSingle",
    "layoutSection",
];

#[derive(Default)]
struct Sanitizer {
    ids: u64,
}

impl Sanitizer {
    /// A new `localId`, shaped like the UUIDs Atlassian's editors make.
    fn local_id(&mut self) -> String {
        self.ids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.ids)
    }

    fn blocks(&mut self, parent: &str, nodes: Vec<Node>) -> Vec<Node> {
        let allowed = allowed_children(parent);
        let mut out: Vec<Node> = Vec::new();
        let mut inlines: Vec<Node> = Vec::new();
        for node in nodes {
            if is_inline(&node.kind) && !allowed.contains(&node.kind.as_str()) {
                inlines.push(node);
                continue;
            }
            self.flush_inlines(parent, &mut inlines, &mut out);
            let Some(node) = self.node(node) else {
                continue;
            };
            if allowed.contains(&node.kind.as_str()) {
                out.push(node);
            } else {
                let converted = self.convert(parent, node);
                out.extend(
                    converted
                        .into_iter()
                        .filter(|n| allowed.contains(&n.kind.as_str())),
                );
            }
        }
        self.flush_inlines(parent, &mut inlines, &mut out);
        if out.is_empty() && NEEDS_CONTENT.contains(&parent) {
            out.push(Node::new("paragraph"));
        }
        out
    }

    fn flush_inlines(&mut self, parent: &str, inlines: &mut Vec<Node>, out: &mut Vec<Node>) {
        if inlines.is_empty() {
            return;
        }
        let paragraph = Node::new("paragraph").with_content(std::mem::take(inlines));
        if allowed_children(parent).contains(&"paragraph") {
            if let Some(p) = self.node(paragraph) {
                out.push(p);
            }
        }
    }

    /// A node with its content, attributes and marks fixed; `None` to drop it.
    fn node(&mut self, mut node: Node) -> Option<Node> {
        let kind = node.kind.clone();
        node.marks
            .retain(|m| allowed_marks(&kind).contains(&m.kind.as_str()));
        dedup_marks(&mut node.marks);
        if kind == "codeBlock" {
            let text = Node::code_text(&node.content);
            node.content = if text.is_empty() {
                Vec::new()
            } else {
                vec![Node::text(text, Vec::new())]
            };
        } else if is_textblock(&kind) {
            node.content = self.inlines(&kind, std::mem::take(&mut node.content));
        } else if !allowed_children(&kind).is_empty() {
            node.content = self.blocks(&kind, std::mem::take(&mut node.content));
            if node.content.is_empty() && DROPPED_WHEN_EMPTY.contains(&kind.as_str()) {
                return None;
            }
        } else {
            node.content.clear();
        }
        self.required_attrs(&mut node);
        Some(node)
    }

    fn required_attrs(&mut self, node: &mut Node) {
        let missing = |node: &Node, name: &str| !node.attrs.get(name).is_some_and(Value::is_string);
        match node.kind.as_str() {
            "heading" => {
                let level = node.attrs.get("level").and_then(Value::as_f64);
                if !level.is_some_and(|l| (1.0..=6.0).contains(&l)) {
                    let fixed = level.map_or(1, |l| l.clamp(1.0, 6.0) as u64);
                    node.attrs.insert("level".into(), Value::from(fixed));
                }
            }
            "orderedList" => {
                let order = node.attrs.get("order").map(Value::as_f64);
                if order.is_some_and(|o| !o.is_some_and(|o| o >= 0.0)) {
                    node.attrs.remove("order");
                }
            }
            "taskList" | "decisionList" | "blockTaskItem" | "taskItem" | "decisionItem" => {
                if missing(node, "localId") {
                    let id = self.local_id();
                    node.attrs.insert("localId".into(), Value::String(id));
                }
                let default_state = match node.kind.as_str() {
                    "taskItem" | "blockTaskItem" => "TODO",
                    "decisionItem" => "DECIDED",
                    _ => return,
                };
                let state_ok = match node.attr_str("state") {
                    Some(s) if default_state == "TODO" => s == "TODO" || s == "DONE",
                    Some(_) => true,
                    None => false,
                };
                if !state_ok {
                    node.attrs
                        .insert("state".into(), Value::String(default_state.into()));
                }
            }
            "panel" if missing(node, "panelType") => {
                node.attrs
                    .insert("panelType".into(), Value::String("info".into()));
            }
            "layoutColumn" if !node.attrs.get("width").is_some_and(Value::is_number) => {
                node.attrs.insert("width".into(), Value::from(50));
            }
            _ => {}
        }
    }

    /// What a node becomes where it may not stand: its content, a paragraph of its text, or
    /// nothing. The caller keeps only what `parent` allows.
    fn convert(&mut self, parent: &str, node: Node) -> Vec<Node> {
        let allowed = allowed_children(parent);
        let wrap = |list: &str, node: Node| Node::new(list).with_content(vec![node]);
        match node.kind.as_str() {
            "listItem" if allowed.contains(&"bulletList") => vec![wrap("bulletList", node)],
            "taskItem" | "blockTaskItem" if allowed.contains(&"taskList") => {
                let id = self.local_id();
                vec![wrap("taskList", node).with_attr("localId", id)]
            }
            "nestedExpand" if allowed.contains(&"expand") => {
                let mut node = node;
                node.kind = "expand".into();
                self.node(node).into_iter().collect()
            }
            "expand" if allowed.contains(&"nestedExpand") => {
                let mut node = node;
                node.kind = "nestedExpand".into();
                node.marks.clear();
                self.node(node).into_iter().collect()
            }
            "heading" | "taskItem" | "decisionItem" | "caption" => {
                let paragraph = Node::new("paragraph").with_content(node.content);
                self.node(paragraph).into_iter().collect()
            }
            "rule" => Vec::new(),
            "table" => node
                .content
                .iter()
                .filter_map(|row| {
                    let cells: Vec<String> = row.content.iter().map(Node::plain_text).collect();
                    let line = cells.join(" | ");
                    (!line.trim().is_empty()).then(|| {
                        Node::new("paragraph").with_content(vec![Node::text(line, Vec::new())])
                    })
                })
                .collect(),
            _ if !node.content.is_empty() && !is_textblock(&node.kind) => {
                self.blocks(parent, node.content)
            }
            _ => {
                let text = node.plain_text();
                if text.is_empty() {
                    Vec::new()
                } else {
                    vec![Node::new("paragraph").with_content(vec![Node::text(text, Vec::new())])]
                }
            }
        }
    }

    /// Fixes the inline content of a `parent` textblock.
    fn inlines(&mut self, parent: &str, nodes: Vec<Node>) -> Vec<Node> {
        let allowed = allowed_inlines(parent);
        let mut out: Vec<Node> = Vec::new();
        for mut node in nodes {
            if !allowed.contains(&node.kind.as_str()) {
                let text = node.plain_text();
                for (i, line) in text.split('\n').enumerate() {
                    if i > 0 && allowed.contains(&"hardBreak") {
                        out.push(Node::new("hardBreak"));
                    }
                    push_text(&mut out, Node::text(line, Vec::new()));
                }
                continue;
            }
            let kind = node.kind.clone();
            node.marks
                .retain(|m| allowed_marks(&kind).contains(&m.kind.as_str()));
            if node.marks.iter().any(|m| m.kind == "code") {
                node.marks
                    .retain(|m| matches!(m.kind.as_str(), "code" | "link" | "annotation"));
            }
            dedup_marks(&mut node.marks);
            node.marks.sort_by_key(Mark::rank);
            node.content.clear();
            if kind == "text" {
                push_text(&mut out, node);
            } else {
                out.push(node);
            }
        }
        out
    }
}

/// Keeps the last mark of each kind (annotations, which may stack, unless equal).
fn dedup_marks(marks: &mut Vec<Mark>) {
    let mut kept: Vec<Mark> = Vec::new();
    for mark in marks.drain(..).rev() {
        let clash = kept
            .iter()
            .any(|k| k.kind == mark.kind && (k.kind != "annotation" || *k == mark));
        if !clash {
            kept.push(mark);
        }
    }
    kept.reverse();
    *marks = kept;
}

/// Appends a text node, merging it with the one before when their marks agree.
fn push_text(out: &mut Vec<Node>, node: Node) {
    if node.text.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.kind == "text" && last.marks == node.marks {
            last.text.push_str(&node.text);
            return;
        }
    }
    out.push(node);
}
