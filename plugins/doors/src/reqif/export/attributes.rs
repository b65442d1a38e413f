//! What each requirement is written as, before any XML: its attributes with the record's own
//! fields folded in where the import takes them from ([`prepare`]), and the datatype of every
//! attribute definition ([`definitions`]) — recorded by the import, else inferred, widened or
//! made a string when the values disagree.

use std::collections::{BTreeMap, BTreeSet};

use agentic_sdk::serde_json::{Map, Value as Json};
use agentic_sdk::Requirement;

use crate::reqif::mapping::{
    derive_created, derive_identifier, derive_status, derive_text, derive_title, status_attribute,
    CREATED_ON, FOREIGN_ID, META, TEXT, TITLE,
};
use crate::reqif::model::Kind;
use crate::time::{format_datetime, parse_datetime};

/// Attribute definitions by name, by type name.
pub(super) type Types = BTreeMap<String, BTreeMap<String, AttrType>>;

/// The datatype of one attribute definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AttrType {
    pub(super) kind: Kind,
    pub(super) multi: bool,
    /// Enumeration literals, sorted.
    pub(super) literals: BTreeSet<String>,
}

/// Each type's attribute definitions: the recorded datatype where every value fits it, else
/// one inferred from the values; integers and reals meeting make a real, any other clash a
/// string.
pub(super) fn definitions(prepared: &[Prepared]) -> Types {
    let mut types = Types::new();
    for (type_name, values, declared) in prepared {
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
    for (type_name, values, _) in prepared {
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
    types
}

/// A requirement's type name, attributes as written, and the datatypes the import recorded.
pub(super) type Prepared = (String, Map<String, Json>, BTreeMap<String, String>);

/// See [`Prepared`].
pub(super) fn prepare(req: &Requirement) -> Prepared {
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
pub(super) fn is_datetime(text: &str) -> bool {
    text.contains('T') && parse_datetime(text).is_some()
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn literals(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
