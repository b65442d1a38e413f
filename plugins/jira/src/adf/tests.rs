//! ADF ⇄ Markdown: round trips on Atlassian's documents, on a document using every node and
//! mark of the ADF schema, and on thousands of generated ones; schema validity of what Markdown
//! becomes; the content rules against the schema itself; and never failing on odd input.

use serde_json::{json, Value};

mod generator;

use super::sanitize::{allowed_children, allowed_inlines, allowed_marks};
use super::*;
use generator::Gen;

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
