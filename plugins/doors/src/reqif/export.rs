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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use agentic_sdk::serde_json::{Map, Value as Json};
use agentic_sdk::{Requirement, TraceLink};
use quick_xml::escape::escape;

use super::mapping::{
    derive_created, derive_identifier, derive_status, derive_text, derive_title, status_attribute,
    CREATED_ON, FOREIGN_ID, META, TEXT, TITLE,
};
use super::model::Kind;
use crate::time::{format_datetime, parse_datetime};
use crate::xhtml::markdown_to_xhtml;

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

/// The datatype of one attribute definition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrType {
    kind: Kind,
    multi: bool,
    /// Enumeration literals, sorted.
    literals: BTreeSet<String>,
}

/// A hierarchy position of an object.
struct Position {
    object: String,
    parent: Option<String>,
    order: u64,
    hierarchy: Option<String>,
    table_internal: bool,
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
    let mut types: BTreeMap<String, BTreeMap<String, AttrType>> = BTreeMap::new();
    for (type_name, values, declared) in &prepared {
        let defs = types.entry(type_name.clone()).or_default();
        for (name, value) in values {
            let wanted = declared
                .get(name)
                .and_then(|k| attr_type(k, value))
                .unwrap_or_else(|| infer(value));
            let def = defs.entry(name.clone()).or_insert_with(|| AttrType {
                literals: BTreeSet::new(),
                ..wanted.clone()
            });
            let numbers = [Kind::Integer, Kind::Real];
            if def.kind != wanted.kind
                && numbers.contains(&def.kind)
                && numbers.contains(&wanted.kind)
            {
                def.kind = Kind::Real;
            } else if def.kind != wanted.kind || !fits(def.kind, value) {
                def.kind = Kind::String;
                def.multi = false;
            }
            def.multi |= wanted.multi;
            if def.kind == Kind::Enumeration {
                def.literals.extend(literals(value));
            }
        }
    }
    // Downgrades made after some values were seen: re-check every value fits.
    for (type_name, values, _) in &prepared {
        let defs = types.get_mut(type_name).expect("type collected above");
        for (name, value) in values {
            if let Some(def) = defs.get_mut(name) {
                if !fits(def.kind, value) {
                    def.kind = Kind::String;
                    def.multi = false;
                }
            }
        }
    }

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

/// A requirement's type name, attributes as written, and the datatypes the import recorded.
type Prepared = (String, Map<String, Json>, BTreeMap<String, String>);

/// See [`Prepared`].
fn prepare(req: &Requirement) -> Prepared {
    let meta = req.attributes.get(META);
    let type_name = meta
        .and_then(|m| m["type"].as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or("Requirement")
        .to_owned();
    let mut declared: BTreeMap<String, String> = meta
        .and_then(|m| m["datatypes"].as_object())
        .map(|d| {
            d.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let mut values: Map<String, Json> = req
        .attributes
        .iter()
        .filter(|(k, v)| {
            let enumeration = declared
                .get(*k)
                .is_some_and(|d| d.starts_with("enumeration"));
            k.as_str() != META && (!v.is_null() || enumeration) && !v.is_object()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let datatypes: Map<String, Json> = declared
        .iter()
        .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
        .collect();
    let long_name = meta.and_then(|m| m["long_name"].as_str());
    if derive_title(&values, long_name, &datatypes) != req.title && !req.title.is_empty() {
        let name = first_present(&values, TITLE)
            .unwrap_or("ReqIF.Name")
            .to_owned();
        if declared.get(&name).map(String::as_str) == Some("xhtml") {
            values.insert(name, Json::from(crate::xhtml::escape(&req.title)));
        } else {
            values.insert(name.clone(), Json::from(req.title.as_str()));
            declared.insert(name, "string".into());
        }
    }
    if derive_text(&values) != req.text && !req.text.is_empty() {
        let name = first_present(&values, TEXT)
            .unwrap_or("ReqIF.Text")
            .to_owned();
        values.insert(name.clone(), Json::from(req.text.as_str()));
        declared.insert(name, "xhtml".into());
    }
    if derive_identifier(&values, &req.external_id) != req.identifier
        && !req.identifier.is_empty()
        && !values.contains_key(FOREIGN_ID)
    {
        values.insert(FOREIGN_ID.into(), Json::from(req.identifier.as_str()));
        declared.insert(FOREIGN_ID.into(), "string".into());
    }
    if derive_status(&values) != req.status {
        if let Some(status) = &req.status {
            let name = status_attribute(&values).unwrap_or_else(|| "Status".to_owned());
            values.insert(name.clone(), Json::from(status.as_str()));
            declared.insert(name, "string".into());
        }
    }
    if derive_created(&values) != req.created_at {
        if let Some(created) = req.created_at {
            values.insert(CREATED_ON.into(), Json::from(format_datetime(created)));
            declared.insert(CREATED_ON.into(), "date".into());
        }
    }
    (type_name, values, declared)
}

fn first_present<'a>(values: &Map<String, Json>, names: &[&'a str]) -> Option<&'a str> {
    names.iter().copied().find(|n| values.contains_key(*n))
}

/// The recorded datatype name as an attribute type, when the value fits it.
fn attr_type(kind: &str, value: &Json) -> Option<AttrType> {
    let (kind, multi) = match kind {
        "enumeration-multi" => (Kind::Enumeration, true),
        other => (Kind::from_name(other)?, false),
    };
    fits(kind, value).then(|| AttrType {
        kind,
        multi,
        literals: BTreeSet::new(),
    })
}

/// The datatype of a value the import did not describe.
fn infer(value: &Json) -> AttrType {
    let (kind, multi) = match value {
        Json::Bool(_) => (Kind::Boolean, false),
        Json::Number(n) if n.is_i64() || n.is_u64() => (Kind::Integer, false),
        Json::Number(_) => (Kind::Real, false),
        Json::Array(items) if items.iter().all(Json::is_string) => (Kind::Enumeration, true),
        _ => (Kind::String, false),
    };
    AttrType {
        kind,
        multi,
        literals: BTreeSet::new(),
    }
}

/// Whether `value` can be written as `kind`.
fn fits(kind: Kind, value: &Json) -> bool {
    match kind {
        Kind::String | Kind::Xhtml => value.is_string(),
        Kind::Integer => value.is_i64() || value.is_u64() || value.as_str().is_some_and(is_integer),
        Kind::Real => value.is_number(),
        Kind::Boolean => value.is_boolean(),
        Kind::Date => value.as_str().is_some_and(is_datetime),
        Kind::Enumeration => {
            value.is_null()
                || value.is_string()
                || value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Json::is_string))
        }
    }
}

/// An `xsd:dateTime` (a date alone is not one).
fn is_datetime(text: &str) -> bool {
    text.contains('T') && parse_datetime(text).is_some()
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn literals(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
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

/// Specifications with their hierarchies.
fn write_specifications(
    out: &mut String,
    requirements: &[Requirement],
    known: &HashSet<&str>,
    now_text: &str,
    counts: &mut Counts,
) {
    // specification id → (name, positions), in first-seen order.
    let mut specs: Vec<(String, Option<String>, Vec<Position>)> = Vec::new();
    let mut spec_index: HashMap<String, usize> = HashMap::new();
    for req in requirements {
        let positions = req
            .attributes
            .get(META)
            .and_then(|m| m["positions"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut found: Vec<(String, Option<String>, Position)> = positions
            .iter()
            .filter_map(|p| {
                let spec = p["specification"].as_str()?.to_owned();
                Some((
                    spec,
                    p["specification_name"].as_str().map(str::to_owned),
                    Position {
                        object: req.external_id.clone(),
                        parent: p["parent"].as_str().map(str::to_owned),
                        order: p["order"].as_u64().unwrap_or(u64::MAX),
                        hierarchy: p["hierarchy"].as_str().map(str::to_owned),
                        table_internal: p["table_internal"].as_bool().unwrap_or(false),
                    },
                ))
            })
            .collect();
        if found.is_empty() {
            if let Some(module) = &req.module {
                found.push((
                    format!("module:{module}"),
                    Some(module.clone()),
                    Position {
                        object: req.external_id.clone(),
                        parent: req.parent.clone(),
                        order: u64::MAX,
                        hierarchy: None,
                        table_internal: false,
                    },
                ));
            }
        }
        for (spec, name, position) in found {
            let i = *spec_index.entry(spec.clone()).or_insert_with(|| {
                specs.push((spec, name, Vec::new()));
                specs.len() - 1
            });
            specs[i].2.push(position);
        }
    }
    for (spec, name, positions) in &specs {
        counts.specifications += 1;
        out.push_str(&format!(
            "<SPECIFICATION IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\"",
            escape(xml_id(spec).as_str())
        ));
        if let Some(name) = name {
            out.push_str(&format!(" LONG-NAME=\"{}\"", escape(name.as_str())));
        }
        out.push_str("><TYPE><SPECIFICATION-TYPE-REF>_spt</SPECIFICATION-TYPE-REF></TYPE>");
        // Children by parent; a parent outside this specification puts the node at the top.
        let in_spec: HashSet<&str> = positions.iter().map(|p| p.object.as_str()).collect();
        let mut children: BTreeMap<Option<&str>, Vec<(usize, &Position)>> = BTreeMap::new();
        for (i, p) in positions.iter().enumerate() {
            let parent = p
                .parent
                .as_deref()
                .filter(|parent| in_spec.contains(parent) && *parent != p.object);
            children.entry(parent).or_default().push((i, p));
        }
        for list in children.values_mut() {
            list.sort_by_key(|(i, p)| (p.order, *i));
        }
        let mut written: HashSet<usize> = HashSet::new();
        let mut body = String::new();
        write_children(
            &mut body,
            None,
            &children,
            known,
            &mut written,
            now_text,
            spec,
            counts,
        );
        if !body.is_empty() {
            out.push_str("<CHILDREN>");
            out.push_str(&body);
            out.push_str("</CHILDREN>");
        }
        out.push_str("</SPECIFICATION>\n");
    }
}

#[allow(clippy::too_many_arguments)]
fn write_children(
    out: &mut String,
    parent: Option<&str>,
    children: &BTreeMap<Option<&str>, Vec<(usize, &Position)>>,
    known: &HashSet<&str>,
    written: &mut HashSet<usize>,
    now_text: &str,
    spec: &str,
    counts: &mut Counts,
) {
    let Some(list) = children.get(&parent) else {
        return;
    };
    for (i, p) in list {
        // Each position once: a cycle of parents ends here.
        if !known.contains(p.object.as_str()) || !written.insert(*i) {
            continue;
        }
        counts.hierarchy_nodes += 1;
        let id = p
            .hierarchy
            .clone()
            .unwrap_or_else(|| format!("h:{spec}:{}", p.object));
        out.push_str(&format!(
            "<SPEC-HIERARCHY IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\"{}><OBJECT><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></OBJECT>",
            escape(xml_id(&id).as_str()),
            if p.table_internal { " IS-TABLE-INTERNAL=\"true\"" } else { "" },
            escape(xml_id(&p.object).as_str()),
        ));
        let mut inner = String::new();
        write_children(
            &mut inner,
            Some(p.object.as_str()),
            children,
            known,
            written,
            now_text,
            spec,
            counts,
        );
        if !inner.is_empty() {
            out.push_str("<CHILDREN>");
            out.push_str(&inner);
            out.push_str("</CHILDREN>");
        }
        out.push_str("</SPEC-HIERARCHY>");
    }
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
