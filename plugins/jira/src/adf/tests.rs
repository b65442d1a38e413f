//! ADF ⇄ Markdown: round trips on Atlassian's documents, on a document using every node and
//! mark of the ADF schema, and on thousands of generated ones; schema validity of what Markdown
//! becomes; the content rules against the schema itself; and never failing on odd input.

use serde_json::{json, Value};

use super::sanitize::{allowed_children, allowed_inlines, allowed_marks};
use super::*;

const SCHEMA: &str = include_str!("../../tests/fixtures/adf-schema-v1-full.json");
const KITCHEN_SINK: &str = include_str!("../../tests/fixtures/adf-kitchen-sink.json");
const KITCHEN_SINK_MARKDOWN: &str = include_str!("../../tests/fixtures/adf-kitchen-sink.md");
const KITCHEN_SINK_WIKI: &str = include_str!("../../tests/fixtures/adf-kitchen-sink.wiki");
const ISSUE_EXAMPLE: &str = include_str!("../../tests/fixtures/issue_get_200.example.json");
const OPENAPI: &str = include_str!("../../tests/fixtures/jira-openapi-extract.json");

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the ADF schema is JSON");
    jsonschema::validator_for(&schema).expect("the ADF schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .take(5)
        .collect()
}

/// ADF → Markdown → ADF, compared in normal form; the Markdown on failure.
fn assert_round_trip(doc: &Value, what: &str) -> String {
    let markdown = to_markdown(doc);
    let back = from_markdown(&markdown);
    let (want, got) = (normalize(doc), normalize(&back));
    if want != got {
        panic!(
            "{what}: round trip changed the document\n--- markdown ---\n{markdown}\n--- want ---\n{}\n--- got ---\n{}",
            serde_json::to_string_pretty(&want).unwrap_or_default(),
            serde_json::to_string_pretty(&got).unwrap_or_default()
        );
    }
    markdown
}

/// Every ADF document in a JSON value (Atlassian's examples hold some as JSON text).
fn docs_in(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(o) if o.get("type") == Some(&json!("doc")) => out.push(value.clone()),
        Value::Object(o) => o.values().for_each(|v| docs_in(v, out)),
        Value::Array(a) => a.iter().for_each(|v| docs_in(v, out)),
        Value::String(s) if s.contains("\"doc\"") => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                docs_in(&inner, out);
            }
        }
        _ => {}
    }
}

#[test]
fn atlassians_example_documents_round_trip() {
    let mut docs = Vec::new();
    docs_in(
        &serde_json::from_str(ISSUE_EXAMPLE).expect("json"),
        &mut docs,
    );
    docs_in(&serde_json::from_str(OPENAPI).expect("json"), &mut docs);
    assert!(docs.len() >= 10, "found {} documents", docs.len());
    let validator = schema();
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(
            schema_errors(&validator, doc),
            Vec::<String>::new(),
            "{doc}"
        );
        assert_round_trip(doc, &format!("example document {i}"));
    }
    let description =
        &serde_json::from_str::<Value>(ISSUE_EXAMPLE).expect("json")["fields"]["description"];
    assert_eq!(to_markdown(description), "Main order flow broken");
}

#[test]
fn every_node_and_mark_of_the_schema_round_trips() {
    let doc: Value = serde_json::from_str(KITCHEN_SINK).expect("json");
    let validator = schema();
    assert_eq!(schema_errors(&validator, &doc), Vec::<String>::new());
    // The fixture really covers the schema.
    let mut kinds = std::collections::BTreeSet::new();
    let mut marks = std::collections::BTreeSet::new();
    fn walk(
        n: &Node,
        kinds: &mut std::collections::BTreeSet<String>,
        marks: &mut std::collections::BTreeSet<String>,
    ) {
        kinds.insert(n.kind.clone());
        marks.extend(n.marks.iter().map(|m| m.kind.clone()));
        n.content.iter().for_each(|c| walk(c, kinds, marks));
    }
    walk(&Node::from_value(&doc), &mut kinds, &mut marks);
    for kind in INLINE_NODES
        .iter()
        .chain(&TEXTBLOCKS)
        .chain(&BLOCK_CONTAINERS)
        .chain(&LEAF_BLOCKS)
    {
        assert!(kinds.contains(*kind), "the kitchen sink lacks {kind}");
    }
    for mark in MARKS {
        assert!(
            marks.contains(mark),
            "the kitchen sink lacks the {mark} mark"
        );
    }
    let markdown = assert_round_trip(&doc, "kitchen sink");
    let back = from_markdown(&markdown);
    assert_eq!(schema_errors(&validator, &back), Vec::<String>::new());
    // What people read: native Markdown where it exists.
    for expected in [
        "# Release checklist \\#",
        "Plain, **bold**, *italic*, ~~struck~~, `x = 1 * 2`, :underline[underlined]",
        "[a link](https://example.com/a_\\(b\\)?c=1\\&d=2 \"Example \\\"site\\\"\")",
        "Second line: 1. not a list, # not a heading, \\*not emphasis\\*",
        ":mention[@Mia Krystof]{",
        "<https://your-domain.atlassian.net/browse/ED-2>",
        "&nbsp;",
        ":::taskItem{\"localId\":\"t1-1\",\"state\":\"TODO\"}\nWrite notes",
        "- First\n\n  3. three",
        "```rust {\"marks\":[{\"attrs\":{\"mode\":\"wide\"},\"type\":\"breakout\"}],\"wrap\":true}",
        "| Key | Value \\| pipe |",
        ":::panel{\"panelType\":\"warning\"}\n### Careful",
    ] {
        assert!(
            markdown.contains(expected),
            "missing {expected:?} in\n{markdown}"
        );
    }
    // The fake JIRA (tests/fake-jira) serves and expects these renderings: still the connector's.
    assert_eq!(
        markdown,
        KITCHEN_SINK_MARKDOWN.trim_end(),
        "adf-kitchen-sink.md"
    );
    let wiki = crate::wiki::from_markdown(&markdown);
    assert_eq!(wiki, KITCHEN_SINK_WIKI.trim_end(), "adf-kitchen-sink.wiki");
}

#[test]
fn typical_jira_text_reads_as_plain_markdown() {
    let doc = json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Steps "},
            {"type": "text", "text": "to reproduce ", "marks": [{"type": "strong"}]},
            {"type": "text", "text": "the bug:"}]},
        {"type": "orderedList", "attrs": {"order": 1}, "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Open "}, {"type": "text", "text": "/orders", "marks": [{"type": "code"}]}]}]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Click Pay"}]}]}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "See "}, {"type": "text", "text": "the docs", "marks": [{"type": "link", "attrs": {"href": "https://docs.example.com"}}]}, {"type": "text", "text": "."}]}
    ]});
    let markdown = assert_round_trip(&doc, "typical");
    assert_eq!(
        markdown,
        "Steps **to reproduce** the bug:\n\n1. Open `/orders`\n2. Click Pay\n\nSee [the docs](https://docs.example.com)."
    );
}

#[test]
fn task_lists_are_gfm_task_lists() {
    let doc = json!({"type": "doc", "version": 1, "content": [
        {"type": "taskList", "attrs": {"localId": "a"}, "content": [
            {"type": "taskItem", "attrs": {"localId": "b", "state": "TODO"}, "content": [{"type": "text", "text": "write"}]},
            {"type": "taskList", "attrs": {"localId": "c"}, "content": [
                {"type": "taskItem", "attrs": {"localId": "d", "state": "DONE"}, "content": [{"type": "text", "text": "nested"}]}]},
            {"type": "taskItem", "attrs": {"localId": "e", "state": "DONE"}, "content": [{"type": "text", "text": "ship"}]}]}
    ]});
    let markdown = assert_round_trip(&doc, "task list");
    assert_eq!(markdown, "- [ ] write\n\n  - [x] nested\n\n- [x] ship");
}

#[test]
fn markdown_people_write_becomes_valid_adf() {
    let validator = schema();
    let markdown = "# Heading\n\nSome **bold** and _em_ and `code` and ~~gone~~ and [link](https://x.y).\n\n\
        - item\n  # heading in a list\n  > quote in a list\n- [ ] not a task in a bullet list\n\n\
        * [ ] task\n* [x] done\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n> quote\n> # heading in quote\n\n\
        ```\ncode\n```\n\n***\n\n1. one\n\n   | t | in list |\n   |---|---|\n   | x | y |\n\n\
        ![image](https://x.y/i.png)\n\ntext with ![inline](https://x.y/i.png) image <https://x.y> <br> end\n\n\
        **`bold code`** :status[DONE]{\"color\":\"green\"} :panel[not inline] ::nope\n\n:::panel\nno type\n:::";
    let doc = from_markdown(markdown);
    assert_eq!(
        schema_errors(&validator, &doc),
        Vec::<String>::new(),
        "{doc:#}"
    );
    let kinds: Vec<&str> = doc["content"]
        .as_array()
        .expect("content")
        .iter()
        .map(|n| n["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            "heading",
            "paragraph",
            "bulletList",
            "taskList",
            "table",
            "blockquote",
            "codeBlock",
            "rule",
            "orderedList",
            "mediaSingle",
            "paragraph",
            "paragraph",
            "panel"
        ]
    );
    // Reading what it printed gives the same document again.
    let again = from_markdown(&to_markdown(&doc));
    assert_eq!(normalize(&again), normalize(&doc));
}

#[test]
fn unknown_and_malformed_input_degrades_to_text() {
    let doc = json!({"type": "doc", "content": [
        {"type": "futureWidget", "attrs": {"x": 1}, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "inside"}]},
            {"type": "text", "text": "loose"}]},
        {"type": "paragraph", "content": [
            {"type": "sparkle", "attrs": {"text": "✨"}},
            {"type": "text", "text": "marked", "marks": [{"type": "glow"}, {"type": "strong"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "block in inline"}]}]},
        {"type": "text", "text": "text at the top"},
        {"no": "type"}, 42, null, "a string",
        {"type": "heading", "attrs": {"level": "two"}, "content": [{"type": "text", "text": "odd level"}]},
        {"type": "orderedList", "attrs": {"order": -1}, "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]}]}
    ]});
    let markdown = to_markdown(&doc);
    for expected in [
        "inside\\\nloose",
        "✨**marked**block in inline",
        "text at the top",
        "a string",
        "odd level",
    ] {
        assert!(
            markdown.contains(expected),
            "{expected:?} missing in\n{markdown}"
        );
    }
    assert!(!markdown.contains("futureWidget") && !markdown.contains("sparkle"));
    for odd in [
        json!(null),
        json!(1),
        json!("text"),
        json!([]),
        json!({}),
        json!({"type": "doc"}),
        json!({"type": "doc", "content": "x"}),
    ] {
        let _ = to_markdown(&odd);
    }
    let validator = schema();
    assert_eq!(
        schema_errors(&validator, &from_markdown(&markdown)),
        Vec::<String>::new()
    );
}

type Defs = serde_json::Map<String, Value>;

fn resolve<'v>(defs: &'v Defs, reference: &str) -> &'v Value {
    &defs[reference.rsplit('/').next().unwrap_or_default()]
}

/// The node kinds a schema fragment admits.
fn schema_kinds(defs: &Defs, v: &Value, out: &mut Vec<String>) {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return schema_kinds(defs, resolve(defs, r), out);
    }
    if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
        return any.iter().for_each(|s| schema_kinds(defs, s, out));
    }
    if let Some(all) = v.get("allOf").and_then(Value::as_array) {
        return schema_kinds(defs, &all[0], out);
    }
    if let Some(e) = v.pointer("/properties/type/enum/0").and_then(Value::as_str) {
        out.push(e.to_owned());
    }
}

/// The last word on a property of a node definition, following allOf refinements.
fn schema_property<'v>(defs: &'v Defs, v: &'v Value, name: &str) -> Option<&'v Value> {
    if let Some(all) = v.get("allOf").and_then(Value::as_array) {
        let mut found = all[0]
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| schema_property(defs, resolve(defs, r), name));
        for part in &all[1..] {
            if let Some(p) = part.pointer(&format!("/properties/{name}")) {
                found = Some(p);
            }
        }
        return found;
    }
    v.pointer(&format!("/properties/{name}"))
}

#[test]
fn content_rules_match_the_adf_schema() {
    use std::collections::{BTreeMap, BTreeSet};
    let schema: Value = serde_json::from_str(SCHEMA).expect("json");
    let defs = schema["definitions"].as_object().expect("definitions");
    let mut content: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut marks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, def) in defs {
        if !name.ends_with("_node") || def.get("anyOf").is_some() {
            continue;
        }
        let mut kind = Vec::new();
        schema_kinds(defs, def, &mut kind);
        let Some(kind) = kind.first().cloned() else {
            continue;
        };
        let entry = content.entry(kind.clone()).or_default();
        if let Some(c) = schema_property(defs, def, "content") {
            let c = c
                .get("$ref")
                .and_then(Value::as_str)
                .map_or(c, |r| resolve(defs, r));
            let mut found = Vec::new();
            match c.get("items") {
                Some(Value::Array(items)) => {
                    items.iter().for_each(|i| schema_kinds(defs, i, &mut found))
                }
                Some(items) => schema_kinds(defs, items, &mut found),
                None => {}
            }
            entry.extend(found);
        }
        let entry = marks.entry(kind).or_default();
        if let Some(items) = schema_property(defs, def, "marks").and_then(|m| m.get("items")) {
            let mut found = Vec::new();
            schema_kinds(defs, items, &mut found);
            entry.extend(found);
        }
    }
    assert!(content.len() > 40, "{content:?}");
    for (kind, children) in &content {
        let ours: BTreeSet<String> = if is_textblock(kind) {
            allowed_inlines(kind)
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            allowed_children(kind)
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        };
        assert_eq!(&ours, children, "content of {kind}");
        assert!(is_known(kind), "{kind} is not known");
    }
    for (kind, kind_marks) in &marks {
        let ours: BTreeSet<String> = allowed_marks(kind)
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(&ours, kind_marks, "marks of {kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// Generated documents

/// A small deterministic generator of schema-valid ADF (xorshift64*).
struct Gen {
    state: u64,
    ids: u64,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            ids: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn id(&mut self) -> String {
        self.ids += 1;
        format!("id-{}", self.ids)
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "word",
            "Jira",
            " ",
            "  ",
            "*",
            "**",
            "_",
            "__",
            "~",
            "~~",
            "`",
            "``",
            "[",
            "]",
            "(",
            ")",
            "<",
            ">",
            "#",
            "# ",
            "1.",
            "2)",
            "-",
            "- ",
            "+",
            "=",
            "|",
            "\\",
            ":",
            "::",
            ":::",
            ":strong[",
            "{",
            "}",
            "&",
            "&amp;",
            "&nbsp;",
            "!",
            "![",
            "\"",
            "'",
            "é",
            "😀",
            "\u{a0}",
            "\t",
            "\n",
            "http://x.y",
            "snake_case",
            "a*b",
            "x",
            "y",
            "42",
            ".",
            ",",
        ];
        let n = 1 + self.below(6);
        let mut s = String::new();
        for _ in 0..n {
            let piece = *self.pick(PIECES);
            s.push_str(piece);
        }
        s
    }

    fn color(&mut self) -> String {
        format!("#{:06x}", self.next() % 0x100_0000)
    }

    fn text_marks(&mut self) -> Vec<Value> {
        let mut marks = Vec::new();
        if self.chance(15) {
            marks.push(json!({"type": "code"}));
            if self.chance(30) {
                marks.push(json!({"type": "link", "attrs": {"href": format!("https://e.x/{}", self.below(3))}}));
            }
            if self.chance(20) {
                marks.push(json!({"type": "annotation", "attrs": {"id": format!("an{}", self.below(2)), "annotationType": "inlineComment"}}));
            }
            return marks;
        }
        type Recipe = fn(&mut Gen) -> Value;
        let options: [(usize, Recipe); 9] = [
            (25, |_| json!({"type": "strong"})),
            (25, |_| json!({"type": "em"})),
            (12, |_| json!({"type": "strike"})),
            (15, |g| {
                let href = g
                    .pick(&[
                        "https://e.x/a",
                        "https://e.x/a b",
                        "https://e.x/(p)",
                        "mailto:a@b.c",
                        "",
                        "a\\b&c",
                    ])
                    .to_string();
                if g.chance(30) {
                    json!({"type": "link", "attrs": {"href": href, "title": g.text()}})
                } else if g.chance(10) {
                    json!({"type": "link", "attrs": {"href": href, "id": "l1", "collection": "c"}})
                } else {
                    json!({"type": "link", "attrs": {"href": href}})
                }
            }),
            (
                8,
                |g| json!({"type": "subsup", "attrs": {"type": *g.pick(&["sub", "sup"])}}),
            ),
            (8, |_| json!({"type": "underline"})),
            (
                8,
                |g| json!({"type": "textColor", "attrs": {"color": g.color()}}),
            ),
            (
                5,
                |g| json!({"type": "backgroundColor", "attrs": {"color": g.color()}}),
            ),
            (
                5,
                |g| json!({"type": "annotation", "attrs": {"id": format!("an{}", g.below(2)), "annotationType": "inlineComment"}}),
            ),
        ];
        for (percent, make) in options {
            if self.chance(percent) {
                marks.push(make(self));
            }
        }
        marks
    }

    fn inline(&mut self, parent: &str) -> Value {
        let allowed = allowed_inlines(parent);
        loop {
            let kind = *self.pick(&[
                "text",
                "text",
                "text",
                "text",
                "text",
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
            ]);
            if !allowed.contains(&kind) {
                continue;
            }
            return match kind {
                "text" => {
                    let marks = self.text_marks();
                    if marks.is_empty() {
                        json!({"type": "text", "text": self.text()})
                    } else {
                        json!({"type": "text", "text": self.text(), "marks": marks})
                    }
                }
                "hardBreak" => {
                    if self.chance(50) {
                        json!({"type": "hardBreak", "attrs": {"text": "\n"}})
                    } else {
                        json!({"type": "hardBreak"})
                    }
                }
                "mention" => {
                    let mut attrs = json!({"id": format!("acc-{}", self.below(5))});
                    if self.chance(70) {
                        attrs["text"] = json!(format!("@{}", self.text()));
                    }
                    if self.chance(30) {
                        attrs["userType"] = json!(*self.pick(&["DEFAULT", "SPECIAL", "APP"]));
                        attrs["accessLevel"] = json!("CONTAINER");
                    }
                    json!({"type": "mention", "attrs": attrs})
                }
                "emoji" => {
                    json!({"type": "emoji", "attrs": {"shortName": format!(":{}:", self.pick(&["smile", "+1", "grin_x"])), "id": "1f600", "text": "😀"}})
                }
                "date" => {
                    json!({"type": "date", "attrs": {"timestamp": (1_600_000_000_000_u64 + self.next() % 100_000_000_000).to_string()}})
                }
                "status" => {
                    json!({"type": "status", "attrs": {"text": format!("S{}", self.text()), "color": *self.pick(&["neutral", "purple", "blue", "red", "yellow", "green", "#abcdef"]), "localId": self.id()}})
                }
                "placeholder" => json!({"type": "placeholder", "attrs": {"text": self.text()}}),
                "inlineCard" => {
                    if self.chance(70) {
                        json!({"type": "inlineCard", "attrs": {"url": *self.pick(&["https://e.x/card", "https://e.x/a b", "not a url"])}})
                    } else {
                        json!({"type": "inlineCard", "attrs": {"data": {"name": self.text()}}})
                    }
                }
                "inlineExtension" => {
                    let mut node = json!({"type": "inlineExtension", "attrs": {"extensionKey": "k", "extensionType": "t", "parameters": {"p": [1, "]"]}}});
                    if self.chance(50) {
                        node["attrs"]["text"] = json!(self.text());
                    }
                    if self.chance(30) {
                        node["marks"] = json!([{"type": "fragment", "attrs": {"localId": "fr"}}]);
                    }
                    node
                }
                _ => {
                    let mut node = json!({"type": "mediaInline", "attrs": {"id": "m1", "collection": "c", "type": "file"}});
                    if self.chance(40) {
                        node["marks"] =
                            json!([{"type": "border", "attrs": {"size": 1, "color": "#123456"}}]);
                    }
                    node
                }
            };
        }
    }

    fn inlines(&mut self, parent: &str) -> Vec<Value> {
        let n = self.below(7);
        (0..n).map(|_| self.inline(parent)).collect()
    }

    fn with_inlines(&mut self, mut node: Value, parent: &str) -> Value {
        let content = self.inlines(parent);
        if !content.is_empty() {
            node["content"] = Value::Array(content);
        }
        node
    }

    fn paragraph(&mut self, parent: &str) -> Value {
        let node = self.with_inlines(json!({"type": "paragraph"}), "paragraph");
        let mut node = node;
        let mark = match parent {
            "doc" | "layoutColumn" => match self.below(8) {
                0 => Some(
                    json!([{"type": "alignment", "attrs": {"align": *self.pick(&["center", "end"])}}]),
                ),
                1 => Some(json!([{"type": "indentation", "attrs": {"level": 1 + self.below(6)}}])),
                2 => Some(json!([{"type": "fontSize", "attrs": {"fontSize": "small"}}])),
                _ => None,
            },
            "tableCell" | "tableHeader" if self.chance(10) => {
                Some(json!([{"type": "alignment", "attrs": {"align": "center"}}]))
            }
            "listItem" | "panel" | "expand" | "nestedExpand" | "blockTaskItem"
            | "bodiedExtension"
                if self.chance(10) =>
            {
                Some(json!([{"type": "fontSize", "attrs": {"fontSize": "small"}}]))
            }
            _ => None,
        };
        if let Some(marks) = mark {
            node["marks"] = marks;
        }
        node
    }

    fn media(&mut self) -> Value {
        let mut node = if self.chance(70) {
            json!({"type": "media", "attrs": {"type": *self.pick(&["file", "link"]), "id": format!("f{}", self.below(9)), "collection": "c"}})
        } else {
            json!({"type": "media", "attrs": {"type": "external", "url": "https://e.x/i.png"}})
        };
        if self.chance(20) {
            node["marks"] = json!([{"type": "link", "attrs": {"href": "https://e.x"}}]);
        }
        node
    }

    fn blocks(&mut self, parent: &str, depth: usize, min: usize, max: usize) -> Vec<Value> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| self.block(parent, depth)).collect()
    }

    fn block(&mut self, parent: &str, depth: usize) -> Value {
        let allowed = allowed_children(parent);
        let shallow = [
            "paragraph",
            "heading",
            "codeBlock",
            "rule",
            "blockCard",
            "embedCard",
            "extension",
            "mediaGroup",
            "mediaSingle",
        ];
        let kind = loop {
            let kind = *self.pick(allowed);
            if depth < 4 || shallow.contains(&kind) {
                if kind == "paragraph" || self.chance(60) {
                    break kind;
                }
            } else if allowed.iter().all(|k| !shallow.contains(k)) {
                break kind;
            }
        };
        let d = depth + 1;
        match kind {
            "paragraph" => self.paragraph(parent),
            "heading" => {
                let level = 1 + self.below(6);
                let mut node = self.with_inlines(
                    json!({"type": "heading", "attrs": {"level": level}}),
                    "heading",
                );
                if matches!(parent, "doc" | "layoutColumn" | "tableCell" | "tableHeader")
                    && self.chance(15)
                {
                    node["marks"] = if self.chance(50) {
                        json!([{"type": "alignment", "attrs": {"align": "end"}}])
                    } else {
                        json!([{"type": "indentation", "attrs": {"level": 2}}])
                    };
                }
                node
            }
            "blockquote" => {
                json!({"type": "blockquote", "content": self.blocks("blockquote", d, 1, 3)})
            }
            "bulletList" => json!({"type": "bulletList", "content": self.list_items(d)}),
            "orderedList" => {
                let mut node = json!({"type": "orderedList", "content": self.list_items(d)});
                if self.chance(40) {
                    node["attrs"] = json!({"order": self.below(12)});
                }
                node
            }
            "listItem" => self.list_item(d),
            "taskList" => self.task_list(d),
            "codeBlock" => {
                let mut node = json!({"type": "codeBlock"});
                if self.chance(60) {
                    node["attrs"] = json!({"language": *self.pick(&["rust", "js", "", "c++", "my lang", "{x}", "a`b"])});
                }
                if self.chance(15) {
                    node["attrs"]["wrap"] = json!(true);
                }
                if parent == "doc" && self.chance(15) {
                    node["marks"] = json!([{"type": "breakout", "attrs": {"mode": "wide"}}]);
                }
                if self.chance(80) {
                    let text = format!(
                        "{}\n{}",
                        self.text(),
                        *self.pick(&["```", "~~~", ":::", "    code", "", "`"])
                    );
                    node["content"] = json!([{"type": "text", "text": text}]);
                }
                node
            }
            "rule" => json!({"type": "rule"}),
            "panel" => {
                json!({"type": "panel", "attrs": {"panelType": *self.pick(&["info", "note", "tip", "warning", "error", "success", "custom"])}, "content": self.blocks("panel", d, 1, 2)})
            }
            "table" => self.table(d),
            "expand" => {
                let mut node = json!({"type": "expand", "attrs": {"title": self.text()}, "content": self.blocks("expand", d, 1, 2)});
                if parent == "doc" && self.chance(20) {
                    node["marks"] = json!([{"type": "breakout", "attrs": {"mode": "wide"}}]);
                }
                node
            }
            "nestedExpand" => {
                json!({"type": "nestedExpand", "attrs": {}, "content": self.blocks("nestedExpand", d, 1, 2)})
            }
            "decisionList" => {
                let items: Vec<Value> = (0..1 + self.below(3))
                    .map(|_| {
                        let id = self.id();
                        self.with_inlines(json!({"type": "decisionItem", "attrs": {"localId": id, "state": "DECIDED"}}), "decisionItem")
                    })
                    .collect();
                json!({"type": "decisionList", "attrs": {"localId": self.id()}, "content": items})
            }
            "mediaGroup" => {
                let media: Vec<Value> = (0..1 + self.below(2)).map(|_| self.media()).collect();
                json!({"type": "mediaGroup", "content": media})
            }
            "mediaSingle" => {
                let mut content = vec![self.media()];
                if self.chance(30) {
                    content.push(self.with_inlines(json!({"type": "caption"}), "caption"));
                }
                json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": content})
            }
            "blockCard" => json!({"type": "blockCard", "attrs": {"url": "https://e.x/b"}}),
            "embedCard" => {
                json!({"type": "embedCard", "attrs": {"url": "https://e.x/e", "layout": "wide"}})
            }
            "extension" => {
                json!({"type": "extension", "attrs": {"extensionKey": "k", "extensionType": "t", "parameters": {"q": "a\nb|c"}}})
            }
            "bodiedExtension" => {
                json!({"type": "bodiedExtension", "attrs": {"extensionKey": "k", "extensionType": "t"}, "content": self.blocks("bodiedExtension", d, 1, 2)})
            }
            "layoutSection" => {
                let columns: Vec<Value> = (0..2 + self.below(2))
                    .map(|_| json!({"type": "layoutColumn", "attrs": {"width": 33.3}, "content": self.blocks("layoutColumn", d, 1, 2)}))
                    .collect();
                json!({"type": "layoutSection", "content": columns})
            }
            "syncBlock" => {
                json!({"type": "syncBlock", "attrs": {"resourceId": "r", "localId": self.id()}})
            }
            "bodiedSyncBlock" => {
                json!({"type": "bodiedSyncBlock", "attrs": {"resourceId": "r", "localId": self.id()}, "content": self.blocks("bodiedSyncBlock", d, 1, 2)})
            }
            other => panic!("generator: no recipe for {other}"),
        }
    }

    fn list_item(&mut self, depth: usize) -> Value {
        let mut content = vec![if self.chance(85) {
            self.paragraph("listItem")
        } else {
            self.block("listItem", depth)
        }];
        content.extend(self.blocks("listItem", depth, 0, 2));
        json!({"type": "listItem", "content": content})
    }

    fn list_items(&mut self, depth: usize) -> Vec<Value> {
        (0..1 + self.below(3))
            .map(|_| self.list_item(depth))
            .collect()
    }

    fn task_list(&mut self, depth: usize) -> Value {
        let n = 1 + self.below(4);
        let mut items = Vec::new();
        for i in 0..n {
            let pick = self.below(10);
            let item = if pick < 7 || (i == 0 && pick < 9) || depth > 5 {
                let id = self.id();
                let state = *self.pick(&["TODO", "DONE"]);
                self.with_inlines(
                    json!({"type": "taskItem", "attrs": {"localId": id, "state": state}}),
                    "taskItem",
                )
            } else if pick < 9 {
                self.task_list(depth + 1)
            } else {
                let id = self.id();
                json!({"type": "blockTaskItem", "attrs": {"localId": id, "state": "TODO"}, "content": [self.paragraph("blockTaskItem")]})
            };
            items.push(item);
        }
        json!({"type": "taskList", "attrs": {"localId": self.id()}, "content": items})
    }

    fn table(&mut self, depth: usize) -> Value {
        let rows = 1 + self.below(3);
        let columns = 1 + self.below(3);
        let simple = self.chance(70);
        let mut content = Vec::new();
        for r in 0..rows {
            let mut cells = Vec::new();
            for _ in 0..columns {
                let kind = if simple && !self.chance(10) {
                    if r == 0 {
                        "tableHeader"
                    } else {
                        "tableCell"
                    }
                } else {
                    *self.pick(&["tableHeader", "tableCell"])
                };
                let body = if simple {
                    vec![self.with_inlines(json!({"type": "paragraph"}), "paragraph")]
                } else {
                    self.blocks(kind, depth + 1, 1, 2)
                };
                let mut cell = json!({"type": kind, "content": body});
                if self.chance(20) {
                    cell["attrs"] = json!({"colwidth": [100 + self.below(50)]});
                } else if !simple && self.chance(20) {
                    cell["attrs"] = json!({"colspan": 2, "background": "#ffffff"});
                }
                cells.push(cell);
            }
            content.push(json!({"type": "tableRow", "content": cells}));
        }
        let mut node = json!({"type": "table", "content": content});
        if self.chance(60) {
            node["attrs"] = json!({"isNumberColumnEnabled": self.chance(30), "layout": *self.pick(&["default", "center", "wide"]), "localId": self.id()});
        }
        node
    }

    fn doc(&mut self) -> Value {
        json!({"type": "doc", "version": 1, "content": self.blocks("doc", 0, 1, 5)})
    }
}

#[test]
fn generated_documents_round_trip() {
    let validator = schema();
    let runs = std::env::var("ADF_ROUND_TRIPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500_u64);
    for seed in 1..=runs {
        let doc = Gen::new(seed).doc();
        let errors = schema_errors(&validator, &doc);
        assert!(
            errors.is_empty(),
            "seed {seed}: the generator made invalid ADF: {errors:?}\n{doc:#}"
        );
        let markdown = assert_round_trip(&doc, &format!("seed {seed}"));
        let back = from_markdown(&markdown);
        let errors = schema_errors(&validator, &back);
        assert!(
            errors.is_empty(),
            "seed {seed}: Markdown became invalid ADF: {errors:?}\n{markdown}"
        );
    }
}

#[test]
fn generated_markdown_becomes_valid_adf_and_is_stable() {
    let validator = schema();
    const PIECES: &[&str] = &[
        "text",
        " ",
        "\n",
        "\n\n",
        "# ",
        "## ",
        "- ",
        "* ",
        "+ ",
        "1. ",
        "2) ",
        "> ",
        "    ",
        "  ",
        "```",
        "~~~",
        "`",
        "**",
        "*",
        "_",
        "~~",
        "[",
        "](",
        ")",
        "![",
        "<",
        ">",
        "<https://a.b>",
        "<br>",
        "|",
        "---",
        "===",
        ":::panel",
        ":::",
        "::rule",
        ":status[",
        "]",
        "{\"color\":\"red\"}",
        "{",
        "}",
        "\\",
        "&amp;",
        "&nbsp;",
        "- [ ] ",
        "- [x] ",
        "| a | b |\n|---|---|\n",
        "\t",
        ":mention[@x]{\"id\":\"1\"}",
        ":::expand{\"title\":\"t\"}",
        "::::table",
        "é",
        "😀",
    ];
    for seed in 1..=600_u64 {
        let mut g = Gen::new(seed);
        let n = 1 + g.below(40);
        let markdown: String = (0..n).map(|_| *g.pick(PIECES)).collect();
        let doc = from_markdown(&markdown);
        let errors = schema_errors(&validator, &doc);
        assert!(
            errors.is_empty(),
            "seed {seed}: {errors:?}\n--- markdown ---\n{markdown}\n--- adf ---\n{doc:#}"
        );
        let again = from_markdown(&to_markdown(&doc));
        assert_eq!(
            normalize(&again),
            normalize(&doc),
            "seed {seed}: not stable\n{markdown}"
        );
    }
}

/// Every named character reference of HTML5 decodes as the reference CommonMark reader decodes
/// it (`&eacute;` is `é`, not left as text), and one it does not know stays text in both.
#[test]
fn named_character_references_decode_as_commonmark_reads_them() {
    let read = |markdown: &str| -> String {
        pulldown_cmark::Parser::new(markdown)
            .filter_map(|event| match event {
                pulldown_cmark::Event::Text(text) => Some(text.into_string()),
                _ => None,
            })
            .collect()
    };
    let mut checked = 0;
    for entity in entities::ENTITIES
        .iter()
        .filter(|e| e.entity.ends_with(';'))
    {
        let name = &entity.entity[1..entity.entity.len() - 1];
        // Inside a word, so no reference decodes to block syntax the reader would act on.
        let expected = read(&format!("x{}x", entity.entity));
        let ours = super::inline::entity_at(entity.entity);
        assert_eq!(
            ours,
            Some((
                expected[1..expected.len() - 1].to_owned(),
                entity.entity.len()
            )),
            "&{name};"
        );
        checked += 1;
    }
    assert!(checked > 2000, "{checked} references");
    assert_eq!(super::inline::entity_at("&notanentity;"), None);
    assert_eq!(read("&notanentity;"), "&notanentity;");
}
