//! Atlassian Document Format (ADF) ⇄ Markdown, both ways, for every node and mark of the ADF
//! schema (`tests/fixtures/adf-schema-v1-full.json`).
//!
//! Jira Cloud keeps descriptions and comments as ADF, a ProseMirror JSON tree; the internal models
//! keep Markdown. [`to_markdown`] and [`from_markdown`] convert between them so that
//! **ADF → Markdown → ADF keeps the document's structure** ([`normalize`] says exactly what
//! that means), and so that Markdown people write (for the `add-comment` action, say) becomes
//! valid ADF. Neither direction ever fails: unknown ADF nodes degrade to their text, unknown
//! marks are dropped, Markdown that does not fit ADF's content rules is reshaped to fit.
//!
//! # The Markdown dialect
//!
//! CommonMark with GitHub's tables, strikethrough and task lists, plus *directives* (the
//! CommonMark generic-directive proposal, with JSON attributes) for what Markdown cannot say:
//!
//! | ADF | Markdown |
//! |---|---|
//! | paragraph, heading, blockquote, rule | as usual; an empty paragraph is `&nbsp;` |
//! | bulletList, orderedList (`order`), listItem | `- item`, `3. item` |
//! | taskList, taskItem (`TODO`/`DONE`) | `- [ ] todo`, `- [x] done` |
//! | codeBlock (`language`) | fenced code; other attributes as JSON after the language |
//! | table (rows of one-paragraph cells, first row headers) | GFM table |
//! | hardBreak | `\` at the end of the line (`<br>` in table cells and headings) |
//! | strong, em, strike, code, link (`href`, `title`) | `**b**`, `*i*`, `~~s~~`, `` `c` ``, `[t](href "title")` |
//! | inlineCard (`url`) | `<https://…>` |
//! | any other inline node | `:type[label]{attrs}`, e.g. `:mention[@Jane]{"id":"5b10…"}`, `:status[DONE]{"color":"green"}` |
//! | any other mark | `:type[text]{attrs}`, e.g. `:underline[u]`, `:textColor[red]{"color":"#ff0000"}` |
//! | any other block node | `:::type{attrs}` … `:::` around its content, or `::type{attrs}` without content |
//!
//! A node whose Markdown form cannot carry all its attributes or marks (a centred paragraph, a
//! table with column widths) is written in that form inside a `:::type{…}` directive holding the
//! rest. Directive attributes are one JSON object (`"marks"` holds a block node's marks); a
//! container's fence grows (`::::`, `:::::`) so that nested containers close unambiguously.
//! Inline text is escaped wherever Markdown would read it as syntax; a paragraph whose natural
//! Markdown would not read back the same (emphasis next to punctuation, say) is written with
//! directives for its marks instead, so the round trip holds everywhere.
//!
//! Not carried: `localId` attributes (the Markdown would drown in them; new ones are made where
//! ADF requires them), and strong/em/strike on whitespace alone (Markdown cannot emphasise a
//! space at the edge of a span).

mod inline;
mod parse;
mod print;
mod print_inline;
mod sanitize;

use serde_json::{Map, Value};

/// An ADF node, parsed leniently: missing or mistyped fields become empty, so any JSON can be
/// printed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    /// `paragraph`, `text`, `mention`, … (empty when the JSON had none).
    pub kind: String,
    /// The node's attributes.
    pub attrs: Map<String, Value>,
    /// Child nodes.
    pub content: Vec<Node>,
    /// Marks (on text and a few other nodes).
    pub marks: Vec<Mark>,
    /// A text node's text.
    pub text: String,
}

/// An ADF mark.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mark {
    /// `strong`, `link`, …
    pub kind: String,
    /// The mark's attributes.
    pub attrs: Map<String, Value>,
}

impl Mark {
    /// A mark without attributes.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            attrs: Map::new(),
        }
    }

    /// A mark with attributes.
    pub fn with_attrs(kind: &str, attrs: Map<String, Value>) -> Self {
        Self {
            kind: kind.to_owned(),
            attrs,
        }
    }

    fn from_value(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        Some(Self {
            kind: object.get("type")?.as_str()?.to_owned(),
            attrs: object
                .get("attrs")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }

    fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::String(self.kind.clone()));
        if !self.attrs.is_empty() {
            object.insert("attrs".into(), Value::Object(self.attrs.clone()));
        }
        Value::Object(object)
    }

    /// Position in the order marks are written in ADF output (and in [`normalize`]).
    fn rank(&self) -> usize {
        MARKS
            .iter()
            .position(|m| *m == self.kind)
            .unwrap_or(MARKS.len())
    }
}

impl Node {
    /// A node of `kind` without attributes or content.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            ..Self::default()
        }
    }

    /// A text node.
    pub fn text(text: impl Into<String>, marks: Vec<Mark>) -> Self {
        Self {
            kind: "text".into(),
            text: text.into(),
            marks,
            ..Self::default()
        }
    }

    /// The node with `content`.
    #[must_use]
    pub fn with_content(mut self, content: Vec<Node>) -> Self {
        self.content = content;
        self
    }

    /// The node with one more attribute.
    #[must_use]
    pub fn with_attr(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attrs.insert(name.into(), value.into());
        self
    }

    /// Reads any JSON as a node; what does not fit is left empty.
    pub fn from_value(value: &Value) -> Self {
        let Some(object) = value.as_object() else {
            return match value {
                Value::String(s) => Node::text(s.clone(), Vec::new()),
                _ => Node::default(),
            };
        };
        let list = |name: &str| object.get(name).and_then(Value::as_array);
        Self {
            kind: object
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            attrs: object
                .get("attrs")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            content: list("content")
                .map(|c| c.iter().map(Node::from_value).collect())
                .unwrap_or_default(),
            marks: list("marks")
                .map(|m| m.iter().filter_map(Mark::from_value).collect())
                .unwrap_or_default(),
            text: object
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The node as ADF JSON: `type`, then `attrs`, `text`, `content` and `marks` when not empty.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::String(self.kind.clone()));
        if self.kind == "doc" {
            object.insert("version".into(), Value::from(1));
        }
        // ADF requires `attrs` on a nested expand even when it is empty.
        if !self.attrs.is_empty() || self.kind == "nestedExpand" {
            object.insert("attrs".into(), Value::Object(self.attrs.clone()));
        }
        if self.kind == "text" {
            object.insert("text".into(), Value::String(self.text.clone()));
        }
        if !self.content.is_empty() || self.kind == "doc" {
            object.insert(
                "content".into(),
                Value::Array(self.content.iter().map(Node::to_value).collect()),
            );
        }
        if !self.marks.is_empty() {
            object.insert(
                "marks".into(),
                Value::Array(self.marks.iter().map(Mark::to_value).collect()),
            );
        }
        Value::Object(object)
    }

    /// The string attribute `name`, if it is one.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }

    /// The text of a code block's content, exactly (other nodes as their plain text).
    pub fn code_text(content: &[Node]) -> String {
        content
            .iter()
            .map(|n| {
                if n.kind == "text" {
                    n.text.clone()
                } else {
                    n.plain_text()
                }
            })
            .collect()
    }

    /// Every piece of text in the node, blocks separated by newlines: what an unknown node
    /// degrades to.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out.trim_matches('\n').to_owned()
    }

    fn collect_text(&self, out: &mut String) {
        match self.kind.as_str() {
            "text" => out.push_str(&self.text),
            "hardBreak" => out.push('\n'),
            "mention" | "status" | "placeholder" | "inlineExtension" | "extension" => {
                out.push_str(self.attr_str("text").unwrap_or_default());
            }
            "emoji" => out.push_str(
                self.attr_str("text")
                    .or_else(|| self.attr_str("shortName"))
                    .unwrap_or_default(),
            ),
            "date" => {
                if let Some(ms) = self.attr_str("timestamp").and_then(|t| t.parse().ok()) {
                    out.push_str(&crate::time::utc_date(ms));
                }
            }
            "inlineCard" | "blockCard" | "embedCard" => {
                out.push_str(self.attr_str("url").unwrap_or_default());
            }
            _ => {
                if self.kind.is_empty() || !self.text.is_empty() {
                    out.push_str(&self.text);
                }
                if let Some(text) = self.attr_str("text").filter(|_| self.content.is_empty()) {
                    out.push_str(text);
                }
            }
        }
        let block = is_block_container(&self.kind) || is_textblock(&self.kind);
        for child in &self.content {
            let before = out.len();
            child.collect_text(out);
            if (block || is_textblock(&child.kind) || is_block_container(&child.kind))
                && out.len() > before
                && !out.ends_with('\n')
            {
                out.push('\n');
            }
        }
    }
}

/// Every mark of the ADF schema, in the order they are written.
pub const MARKS: [&str; 17] = [
    "link",
    "em",
    "strong",
    "strike",
    "subsup",
    "underline",
    "code",
    "textColor",
    "backgroundColor",
    "annotation",
    "border",
    "fragment",
    "dataConsumer",
    "alignment",
    "indentation",
    "breakout",
    "fontSize",
];

/// Inline nodes (content of paragraphs, headings, task and decision items, captions).
pub const INLINE_NODES: [&str; 10] = [
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "placeholder",
    "inlineCard",
    "inlineExtension",
    "mediaInline",
];

/// Nodes whose content is inline.
pub const TEXTBLOCKS: [&str; 6] = [
    "paragraph",
    "heading",
    "taskItem",
    "decisionItem",
    "caption",
    "codeBlock",
];

/// Nodes whose content is other blocks.
pub const BLOCK_CONTAINERS: [&str; 21] = [
    "doc",
    "blockquote",
    "bulletList",
    "orderedList",
    "listItem",
    "panel",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
    "mediaGroup",
    "taskList",
    "blockTaskItem",
    "decisionList",
    "expand",
    "nestedExpand",
    "bodiedExtension",
    "layoutSection",
    "layoutColumn",
    "bodiedSyncBlock",
];

/// Blocks without content.
pub const LEAF_BLOCKS: [&str; 6] = [
    "rule",
    "blockCard",
    "embedCard",
    "extension",
    "media",
    "syncBlock",
];

/// Whether `kind` is a mark of the ADF schema.
pub fn is_mark(kind: &str) -> bool {
    MARKS.contains(&kind)
}

/// Whether `kind` is an inline node.
pub fn is_inline(kind: &str) -> bool {
    INLINE_NODES.contains(&kind)
}

/// Whether `kind`'s content is inline.
pub fn is_textblock(kind: &str) -> bool {
    TEXTBLOCKS.contains(&kind)
}

/// Whether `kind`'s content is blocks.
pub fn is_block_container(kind: &str) -> bool {
    BLOCK_CONTAINERS.contains(&kind)
}

/// Whether `kind` is a node of the ADF schema.
pub fn is_known(kind: &str) -> bool {
    is_inline(kind) || is_textblock(kind) || is_block_container(kind) || LEAF_BLOCKS.contains(&kind)
}

/// ADF as Markdown (see the module documentation for the dialect). Never fails: what is not ADF
/// is printed as its text, or nothing.
pub fn to_markdown(adf: &Value) -> String {
    let doc = Node::from_value(adf);
    let blocks = if doc.kind == "doc" {
        doc.content
    } else {
        vec![doc]
    };
    print::document(&blocks)
}

/// Markdown as an ADF `doc`, valid against the ADF schema whatever the input. Never fails.
pub fn from_markdown(markdown: &str) -> Value {
    let blocks = parse::document(markdown);
    Node::new("doc")
        .with_content(sanitize::blocks("doc", blocks))
        .to_value()
}

/// The form of an ADF document that a round trip through Markdown preserves; two documents with
/// the same normal form have the same structure: node types and nesting, text, marks and every
/// attribute, except
/// - `localId` attributes (and a hard break's `text`, always a newline), which are dropped;
/// - defaults written out (`order: 1` on ordered lists), which are dropped, as are empty
///   `attrs`, `content` and `marks`;
/// - adjacent text nodes with the same marks, which are merged (also a code block's texts);
/// - strong, em and strike on whitespace, which are dropped;
/// - marks, which are sorted.
pub fn normalize(adf: &Value) -> Value {
    normalize_node(Node::from_value(adf)).to_value()
}

/// [`normalize`] on a node.
pub(crate) fn normalize_node(mut node: Node) -> Node {
    node.attrs.remove("localId");
    if node.kind == "hardBreak" {
        node.attrs.remove("text");
    }
    if node.kind == "orderedList" && node.attrs.get("order").and_then(Value::as_f64) == Some(1.0) {
        node.attrs.remove("order");
    }
    sort_marks(&mut node.marks);
    let content = std::mem::take(&mut node.content)
        .into_iter()
        .map(normalize_node);
    let mut merged: Vec<Node> = Vec::new();
    for child in content {
        if child.kind == "text" {
            for piece in split_whitespace_marks(child) {
                match merged.last_mut() {
                    Some(last) if last.kind == "text" && last.marks == piece.marks => {
                        last.text.push_str(&piece.text);
                    }
                    _ => merged.push(piece),
                }
            }
        } else {
            merged.push(child);
        }
    }
    if node.kind == "codeBlock" && merged.len() > 1 {
        let text: String = merged.iter().map(|n| n.text.as_str()).collect();
        merged = vec![Node::text(text, Vec::new())];
    }
    node.content = merged;
    node
}

/// Splits a text node so that whitespace runs lose the marks Markdown cannot put on them.
fn split_whitespace_marks(node: Node) -> Vec<Node> {
    let plain = |m: &Mark| !matches!(m.kind.as_str(), "strong" | "em" | "strike");
    if node.marks.iter().all(plain) || node.text.is_empty() {
        return vec![node];
    }
    let mut pieces: Vec<Node> = Vec::new();
    let mut rest = node.text.as_str();
    while let Some(first) = rest.chars().next() {
        let space = first.is_whitespace();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace() != space)
            .map_or(rest.len(), |(i, _)| i);
        let marks = if space {
            node.marks.iter().filter(|m| plain(m)).cloned().collect()
        } else {
            node.marks.clone()
        };
        pieces.push(Node::text(&rest[..end], marks));
        rest = &rest[end..];
    }
    pieces
}

/// Sorts marks by their ADF order, then by attributes.
fn sort_marks(marks: &mut [Mark]) {
    marks.sort_by(|a, b| {
        a.rank()
            .cmp(&b.rank())
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| {
                Value::Object(a.attrs.clone())
                    .to_string()
                    .cmp(&Value::Object(b.attrs.clone()).to_string())
            })
    });
}

#[cfg(test)]
mod tests;
