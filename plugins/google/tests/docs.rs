//! Docs API documents rendered to Markdown (where Drive cannot export a Doc): every document
//! here is first checked against `docs.documents.get`'s response schema in Google's discovery
//! document, so the field names are Google's.

use fake_google::Discovery;
use google::docs::document_to_markdown;
use serde_json::{json, Value};

/// `document` as Markdown, once it is shaped as `docs.v1.json` describes.
fn render(document: &Value) -> String {
    Discovery::google()
        .check_response("docs.documents.get", document)
        .expect("a document as Google describes it");
    document_to_markdown(document)
}

fn paragraph(elements: Value) -> Value {
    json!({"paragraph": {"paragraphStyle": {"namedStyleType": "NORMAL_TEXT"}, "elements": elements}})
}

fn text(content: &str) -> Value {
    json!({"textRun": {"content": content, "textStyle": {}}})
}

/// An image as Docs describes it: Google's copy behind `contentUri` (a capability that must
/// never reach a record), and where it was inserted from (`sourceUri`, empty when uploaded).
fn image(source: &str, title: Option<&str>, description: Option<&str>) -> Value {
    let mut object = json!({"imageProperties": {"contentUri": CONTENT_URI, "sourceUri": source},
        "size": {"height": {"magnitude": 100, "unit": "PT"}, "width": {"magnitude": 200, "unit": "PT"}}});
    if let Some(t) = title {
        object["title"] = json!(t);
    }
    if let Some(d) = description {
        object["description"] = json!(d);
    }
    json!({"inlineObjectProperties": {"embeddedObject": object}})
}

#[test]
fn headings_lists_styles_links_and_tables_render_as_markdown() {
    let doc = json!({"documentId": "d1", "body": {"content": [
        {"sectionBreak": {}},
        {"paragraph": {"paragraphStyle": {"namedStyleType": "HEADING_2"},
            "elements": [{"textRun": {"content": "Plan\n"}}]}},
        paragraph(json!([text("Ship "),
                         {"textRun": {"content": "now", "textStyle": {"bold": true}}},
                         text(" see "),
                         {"textRun": {"content": "here", "textStyle": {"link": {"url": "https://x.example/"}}}},
                         text("\n")])),
        {"paragraph": {"paragraphStyle": {"namedStyleType": "NORMAL_TEXT"}, "bullet": {"listId": "kix.l", "nestingLevel": 1},
            "elements": [{"textRun": {"content": "item\n", "textStyle": {"italic": true}}}]}},
        {"table": {"rows": 1, "columns": 2, "tableRows": [{"tableCells": [
            {"content": [paragraph(json!([text("a|b\n")]))]},
            {"content": [paragraph(json!([text("c\n")]))]}]}]}},
        paragraph(json!([text("\n")]))
    ]}});
    assert_eq!(
        render(&doc),
        "## Plan\nShip **now** see [here](https://x.example/)\n  - *item*\n| a\\|b | c |\n\n"
    );
}

#[test]
fn footnotes_become_markdown_footnotes_numbered_as_referenced() {
    // Docs numbers footnotes in the order of their references; the ids say nothing of it.
    let doc = json!({"documentId": "d2",
    "body": {"content": [
        paragraph(json!([text("Claim"),
            {"footnoteReference": {"footnoteId": "kix.zz", "footnoteNumber": "1", "textStyle": {}}},
            text(" and more"),
            {"footnoteReference": {"footnoteId": "kix.aa", "footnoteNumber": "2"}},
            text(".\n")])),
        {"table": {"tableRows": [{"tableCells": [{"content": [paragraph(json!([text("cell"),
            {"footnoteReference": {"footnoteId": "kix.mm", "footnoteNumber": "3"}},
            text("\n")]))]}]}]}},
        paragraph(json!([text("Gone"),
            {"footnoteReference": {"footnoteId": "kix.missing", "footnoteNumber": "4"}},
            text("\n")]))
    ]},
    "footnotes": {
        "kix.aa": {"footnoteId": "kix.aa", "content": [
            paragraph(json!([text(" Second, "), {"textRun": {"content": "bold", "textStyle": {"bold": true}}}, text("\n")])),
            paragraph(json!([text("its second paragraph\n")]))]},
        "kix.zz": {"footnoteId": "kix.zz", "content": [paragraph(json!([text(" First note.\n")]))]},
        "kix.mm": {"footnoteId": "kix.mm", "content": [paragraph(json!([text(" In a table.\n")]))]}
    }});
    assert_eq!(
        render(&doc),
        "Claim[^1] and more[^2].\n| cell[^3] |\nGone\n\n\
         [^1]: First note.\n\
         [^2]: Second, **bold**\n    its second paragraph\n\
         [^3]: In a table.\n"
    );
}

const CONTENT_URI: &str = "https://lh7-rt.googleusercontent.com/docsz/AD_4nX?key=k1";

#[test]
fn inline_images_become_markdown_images_with_their_alt_text_and_never_their_content_uri() {
    let doc = json!({"documentId": "d3",
    "body": {"content": [
        paragraph(json!([text("Logo: "),
            {"inlineObjectElement": {"inlineObjectId": "kix.img1", "textStyle": {}}},
            text("\n")])),
        paragraph(json!([{"inlineObjectElement": {"inlineObjectId": "kix.img2"}}, text("\n")])),
        paragraph(json!([{"inlineObjectElement": {"inlineObjectId": "kix.img3"}}, text("\n")])),
        // A drawing has no image: nothing of it is rendered.
        paragraph(json!([text("Drawing:"), {"inlineObjectElement": {"inlineObjectId": "kix.draw"}}, text("\n")])),
        paragraph(json!([{"inlineObjectElement": {"inlineObjectId": "kix.unknown"}}, text("end\n")]))
    ]},
    "inlineObjects": {
        "kix.img1": image("https://example.com/logo (1).png", Some("Firmenlogo"), Some("Ein blaues Ω [groß]")),
        "kix.img2": image("", None, Some("nur\nBeschreibung")),
        "kix.img3": image("", None, None),
        "kix.draw": {"objectId": "kix.draw", "inlineObjectProperties": {"embeddedObject": {
            "title": "Skizze", "embeddedDrawingProperties": {}}}}
    }});
    let markdown = render(&doc);
    assert_eq!(
        markdown,
        "Logo: ![Firmenlogo: Ein blaues Ω \\[groß\\]](https://example.com/logo%20%281%29.png)\n\
         *[image: nur Beschreibung]*\n\
         *[image]*\n\
         Drawing:\n\
         end\n"
    );
    assert!(!markdown.contains("googleusercontent"), "{markdown}");
}

#[test]
fn a_misnamed_field_is_caught_by_the_schema_check() {
    // The check above can fail: a field Google does not have is refused.
    let wrong = json!({"body": {"content": []}, "inlineObject": {}});
    assert!(Discovery::google()
        .check_response("docs.documents.get", &wrong)
        .is_err());
    let wrong = json!({"footnotes": {"kix.a": {"contents": []}}});
    assert!(Discovery::google()
        .check_response("docs.documents.get", &wrong)
        .is_err());
}
