//! Requirements and trace links as a ReqIF 1.2 exchange document (the `export-reqif` action),
//! valid against the OMG schema, which the import reads back into the same records.
//!
//! - One `SPEC-OBJECT-TYPE` per `attributes.reqif.type` (else `Requirement`), with one attribute
//!   definition per attribute name its requirements have, of the datatype the import recorded
//!   in `attributes.reqif.datatypes` (else inferred from the JSON value: text, integer, real,
//!   boolean, list → multi-valued enumeration). A value that does not fit its datatype (a date
//!   that does not parse, say) makes that attribute a string.
//! - The requirement's own fields are written where the import takes them from: when the
//!   attributes already give the same title, text and identifier nothing is added, otherwise
//!   the first convention attribute present (or `ReqIF.Name`, `ReqIF.Text` (XHTML),
//!   `ReqIF.ForeignID`) gets the field's value — so an edited title wins, and a round trip adds
//!   nothing.
//! - Specifications and hierarchy from `attributes.reqif.positions`; requirements without come
//!   from `module` (one specification each) and `parent`.
//! - `IDENTIFIER`s must be `xsd:ID`s: an external id that is not an XML name is written as `_`
//!   followed by its bytes in hex-safe form (see [`xml_id`]).
//!
//! This module writes the document; what each requirement is written as and the datatype of
//! each attribute are decided in `attributes`, and specifications with their hierarchies are
//! written by `hierarchy`.

mod attributes;
mod hierarchy;

use std::collections::{BTreeSet, HashMap, HashSet};

use agentic_sdk::serde_json::Value as Json;
use agentic_sdk::{Requirement, TraceLink};
use quick_xml::escape::escape;

use super::mapping::META;
use super::model::Kind;
use crate::time::format_datetime;
use crate::xhtml::markdown_to_xhtml;
use attributes::{definitions, is_datetime, literals, prepare, AttrType, Prepared};
use hierarchy::write_specifications;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// `SPEC-OBJECT`s.
    pub spec_objects: usize,
    /// `SPEC-RELATION`s.
    pub spec_relations: usize,
    /// `SPECIFICATION`s.
    pub specifications: usize,
    /// `SPEC-HIERARCHY` nodes.
    pub hierarchy_nodes: usize,
}

/// Writes the document. `now` (Unix millis) is the header's creation time and the
/// `LAST-CHANGE` of what has no time of its own.
pub fn export(
    title: &str,
    requirements: &[Requirement],
    links: &[TraceLink],
    now: i64,
) -> (String, Counts) {
    let now_text = format_datetime(now);
    // Each requirement's attributes as written: the record's fields folded in.
    let prepared: Vec<Prepared> = requirements.iter().map(prepare).collect();
    // Types and their attribute definitions.
    let types = definitions(&prepared);

    let mut out = String::with_capacity(1024 + requirements.len() * 512);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push('\n');
    out.push_str(r#"<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">"#);
    out.push_str("\n<THE-HEADER><REQ-IF-HEADER IDENTIFIER=\"_header\">");
    tag(&mut out, "CREATION-TIME", &now_text);
    tag(&mut out, "REQ-IF-TOOL-ID", "agentic-doors");
    tag(&mut out, "REQ-IF-VERSION", "1.0");
    tag(&mut out, "SOURCE-TOOL-ID", "Agentic integration host");
    tag(&mut out, "TITLE", title);
    out.push_str("</REQ-IF-HEADER></THE-HEADER>\n<CORE-CONTENT><REQ-IF-CONTENT>\n");

    // Datatypes: one per simple kind, one per enumeration attribute.
    out.push_str("<DATATYPES>\n");
    for (id, kind, extra) in [
        ("_dt-string", "STRING", r#" MAX-LENGTH="2147483647""#),
        (
            "_dt-integer",
            "INTEGER",
            r#" MIN="-9223372036854775808" MAX="9223372036854775807""#,
        ),
        (
            "_dt-real",
            "REAL",
            r#" ACCURACY="15" MIN="-1.7976931348623157E308" MAX="1.7976931348623157E308""#,
        ),
        ("_dt-boolean", "BOOLEAN", ""),
        ("_dt-date", "DATE", ""),
        ("_dt-xhtml", "XHTML", ""),
    ] {
        out.push_str(&format!(
            "<DATATYPE-DEFINITION-{kind} IDENTIFIER=\"{id}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\"{extra}/>\n",
            kind.to_ascii_lowercase()
        ));
    }
    let mut attr_ids: HashMap<(&str, &str), String> = HashMap::new();
    let mut literal_ids: HashMap<(&str, &str, &str), String> = HashMap::new();
    for (t, (type_name, defs)) in types.iter().enumerate() {
        for (a, (name, def)) in defs.iter().enumerate() {
            attr_ids.insert((type_name, name), format!("_ad-{t}-{a}"));
            if def.kind == Kind::Enumeration {
                out.push_str(&format!(
                    "<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER=\"_dt-enum-{t}-{a}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\"><SPECIFIED-VALUES>",
                    escape(name.as_str())
                ));
                for (l, literal) in def.literals.iter().enumerate() {
                    let id = format!("_ev-{t}-{a}-{l}");
                    out.push_str(&format!(
                        "<ENUM-VALUE IDENTIFIER=\"{id}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\"><PROPERTIES><EMBEDDED-VALUE KEY=\"{l}\" OTHER-CONTENT=\"\"/></PROPERTIES></ENUM-VALUE>",
                        escape(literal.as_str())
                    ));
                    literal_ids.insert((type_name, name, literal), id);
                }
                out.push_str("</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>\n");
            }
        }
    }
    out.push_str("</DATATYPES>\n<SPEC-TYPES>\n");
    let mut type_ids: HashMap<&str, String> = HashMap::new();
    for (t, (type_name, defs)) in types.iter().enumerate() {
        let id = format!("_st-{t}");
        out.push_str(&format!(
            "<SPEC-OBJECT-TYPE IDENTIFIER=\"{id}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\">",
            escape(type_name.as_str())
        ));
        if !defs.is_empty() {
            out.push_str("<SPEC-ATTRIBUTES>");
            for (a, (name, def)) in defs.iter().enumerate() {
                let kind = def.kind.suffix();
                let multi = if def.kind == Kind::Enumeration {
                    format!(" MULTI-VALUED=\"{}\"", def.multi)
                } else {
                    String::new()
                };
                let dt = if def.kind == Kind::Enumeration {
                    format!("_dt-enum-{t}-{a}")
                } else {
                    format!("_dt-{}", def.kind.name())
                };
                out.push_str(&format!(
                    "<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER=\"_ad-{t}-{a}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\"{multi}><TYPE><DATATYPE-DEFINITION-{kind}-REF>{dt}</DATATYPE-DEFINITION-{kind}-REF></TYPE></ATTRIBUTE-DEFINITION-{kind}>",
                    escape(name.as_str())
                ));
            }
            out.push_str("</SPEC-ATTRIBUTES>");
        }
        out.push_str("</SPEC-OBJECT-TYPE>\n");
        type_ids.insert(type_name, id);
    }
    let mut relation_types: BTreeSet<&str> = links.iter().map(|l| l.link_type.as_str()).collect();
    relation_types.retain(|t| !t.is_empty());
    let relation_type_ids: HashMap<&str, String> = relation_types
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, format!("_rt-{i}")))
        .collect();
    for t in &relation_types {
        out.push_str(&format!(
            "<SPEC-RELATION-TYPE IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"{}\"/>\n",
            relation_type_ids[t],
            escape(*t)
        ));
    }
    out.push_str(&format!(
        "<SPECIFICATION-TYPE IDENTIFIER=\"_spt\" LAST-CHANGE=\"{now_text}\" LONG-NAME=\"Specification\"/>\n"
    ));
    out.push_str("</SPEC-TYPES>\n<SPEC-OBJECTS>\n");

    let mut known: HashSet<&str> = HashSet::new();
    for (req, (type_name, values, _)) in requirements.iter().zip(&prepared) {
        known.insert(req.external_id.as_str());
        let meta = req.attributes.get(META);
        let last_change = meta
            .and_then(|m| m["last_change"].as_str())
            .filter(|t| is_datetime(t))
            .map(str::to_owned)
            .or_else(|| req.updated_at.map(format_datetime))
            .unwrap_or_else(|| now_text.clone());
        out.push_str(&format!(
            "<SPEC-OBJECT IDENTIFIER=\"{}\" LAST-CHANGE=\"{}\"",
            escape(xml_id(&req.external_id).as_str()),
            escape(last_change.as_str())
        ));
        for (attr, key) in [("LONG-NAME", "long_name"), ("DESC", "desc")] {
            if let Some(v) = meta.and_then(|m| m[key].as_str()) {
                out.push_str(&format!(" {attr}=\"{}\"", escape(v)));
            }
        }
        out.push_str(&format!(
            "><TYPE><SPEC-OBJECT-TYPE-REF>{}</SPEC-OBJECT-TYPE-REF></TYPE>",
            type_ids[type_name.as_str()]
        ));
        if !values.is_empty() {
            out.push_str("<VALUES>");
            let defs = &types[type_name];
            for (name, value) in values {
                let def = &defs[name];
                let id = &attr_ids[&(type_name.as_str(), name.as_str())];
                write_value(&mut out, def, id, value, |literal| {
                    literal_ids
                        .get(&(type_name.as_str(), name.as_str(), literal))
                        .cloned()
                });
            }
            out.push_str("</VALUES>");
        }
        out.push_str("</SPEC-OBJECT>\n");
    }
    out.push_str("</SPEC-OBJECTS>\n<SPEC-RELATIONS>\n");
    let mut counts = Counts {
        spec_objects: requirements.len(),
        ..Counts::default()
    };
    for link in links {
        if !known.contains(link.source.as_str()) || !known.contains(link.target.as_str()) {
            continue;
        }
        let Some(type_id) = relation_type_ids.get(link.link_type.as_str()) else {
            continue;
        };
        counts.spec_relations += 1;
        out.push_str(&format!(
            "<SPEC-RELATION IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\"><TYPE><SPEC-RELATION-TYPE-REF>{type_id}</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>\n",
            escape(xml_id(&link.external_id).as_str()),
            escape(xml_id(&link.source).as_str()),
            escape(xml_id(&link.target).as_str()),
        ));
    }
    out.push_str("</SPEC-RELATIONS>\n<SPECIFICATIONS>\n");
    write_specifications(&mut out, requirements, &known, &now_text, &mut counts);
    out.push_str("</SPECIFICATIONS>\n</REQ-IF-CONTENT></CORE-CONTENT>\n</REQ-IF>\n");
    (out, counts)
}

fn write_value(
    out: &mut String,
    def: &AttrType,
    id: &str,
    value: &Json,
    literal_id: impl Fn(&str) -> Option<String>,
) {
    let kind = def.kind.suffix();
    let definition = format!(
        "<DEFINITION><ATTRIBUTE-DEFINITION-{kind}-REF>{id}</ATTRIBUTE-DEFINITION-{kind}-REF></DEFINITION>"
    );
    match def.kind {
        Kind::Xhtml => {
            out.push_str(&format!("<ATTRIBUTE-VALUE-XHTML>{definition}<THE-VALUE>"));
            out.push_str(&markdown_to_xhtml(value.as_str().unwrap_or_default()));
            out.push_str("</THE-VALUE></ATTRIBUTE-VALUE-XHTML>");
        }
        Kind::Enumeration => {
            out.push_str(&format!(
                "<ATTRIBUTE-VALUE-ENUMERATION>{definition}<VALUES>"
            ));
            for literal in literals(value) {
                if let Some(l) = literal_id(&literal) {
                    out.push_str(&format!("<ENUM-VALUE-REF>{l}</ENUM-VALUE-REF>"));
                }
            }
            out.push_str("</VALUES></ATTRIBUTE-VALUE-ENUMERATION>");
        }
        _ => {
            let text = match value {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!(
                "<ATTRIBUTE-VALUE-{kind} THE-VALUE=\"{}\">{definition}</ATTRIBUTE-VALUE-{kind}>",
                escape_attr(&text)
            ));
        }
    }
}

/// `<name>text</name>`, escaped.
fn tag(out: &mut String, name: &str, text: &str) {
    out.push_str(&format!("<{name}>{}</{name}>", escape(text)));
}

/// Escapes an attribute value, keeping tabs and line breaks (which attribute-value
/// normalization would turn into spaces).
fn escape_attr(text: &str) -> String {
    escape(text)
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}

/// `id` when it is an XML name (`xsd:ID`), else `_` and the id with every character outside
/// `[A-Za-z0-9._-]` written as `-xx-` (its UTF-8 bytes in hex), which is one: `10001` is
/// written `_10001`, `L 1` `_L-20-1`.
pub fn xml_id(id: &str) -> String {
    let is_name = id
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if is_name {
        return id.to_owned();
    }
    let mut out = String::from("_");
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("-{b:02x}"));
            }
            out.push('-');
        }
    }
    out
}
