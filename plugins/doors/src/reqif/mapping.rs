//! A ReqIF document as records: spec objects as `requirement`s with every attribute, spec
//! relations as `trace-link`s. The tool conventions of the ReqIF Implementation Guide decide the
//! requirement's own fields (see [`TITLE`], [`TEXT`], …); every attribute stays in `attributes`
//! under its definition's `LONG-NAME`, and `attributes.reqif` keeps what an export needs to give
//! the file back (types, datatypes, hierarchy positions).

use std::collections::HashMap;

use agentic_sdk::serde_json::{json, Map, Value as Json};
use agentic_sdk::{Requirement, TraceLink};

use super::model::{Identifiable, Kind, ReqIf, SpecRelation, TypeKind, Value};
use crate::time::parse_datetime;

/// Attributes a requirement's `title` comes from, first present wins (then the spec object's
/// `LONG-NAME`): the Implementation Guide's chapter name and name, DOORS' `Object Heading`.
pub const TITLE: &[&str] = &["ReqIF.ChapterName", "ReqIF.Name", "Object Heading"];
/// Attributes `text` comes from: the Guide's text and description, DOORS' `Object Text`.
pub const TEXT: &[&str] = &["ReqIF.Text", "Object Text", "ReqIF.Description"];
/// The human identifier: `ReqIF.Prefix` + `ReqIF.ForeignID` (DOORS: prefix and absolute
/// number; Polarion: the work item id); the spec object's `IDENTIFIER` when absent.
pub const FOREIGN_ID: &str = "ReqIF.ForeignID";
/// See [`FOREIGN_ID`].
pub const PREFIX: &str = "ReqIF.Prefix";
/// `status`: the first attribute named so (case-insensitive; DOORS and Polarion both export
/// one).
pub const STATUS: &[&str] = &["ReqIF.Status", "Status"];
/// `created_at`.
pub const CREATED_ON: &str = "ReqIF.ForeignCreatedOn";
/// `updated_at` (else the spec object's `LAST-CHANGE`).
pub const MODIFIED_ON: &str = "ReqIF.ForeignModifiedOn";
/// The key of the ReqIF bookkeeping in `attributes`.
pub const META: &str = "reqif";

/// Lookups built once per document.
pub struct Index<'a> {
    doc: &'a ReqIf,
    literals: HashMap<&'a str, &'a str>,
    /// (specification index, node index) of every node, by spec object.
    positions: HashMap<&'a str, Vec<(usize, usize)>>,
}

impl<'a> Index<'a> {
    /// Indexes `doc`.
    pub fn new(doc: &'a ReqIf) -> Self {
        let mut literals = HashMap::new();
        for dt in doc.datatypes.values() {
            for (id, name) in &dt.enum_values {
                literals.insert(id.as_str(), name.as_deref().unwrap_or(id));
            }
        }
        let mut positions: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (s, spec) in doc.specifications.iter().enumerate() {
            for (n, node) in spec.nodes.iter().enumerate() {
                if let Some(object) = &node.object {
                    positions.entry(object.as_str()).or_default().push((s, n));
                }
            }
        }
        Self {
            doc,
            literals,
            positions,
        }
    }

    /// The attributes of an element, by name, with their datatype names.
    pub fn values(&self, item: &Identifiable) -> (Map<String, Json>, Map<String, Json>) {
        let mut values = Map::new();
        let mut types = Map::new();
        for v in &item.values {
            let def = self.doc.attributes.get(&*v.definition);
            let mut name = def
                .and_then(|d| d.long_name.clone())
                .unwrap_or_else(|| v.definition.to_string());
            if name == META || values.contains_key(&name) {
                name = format!("{name} ({})", v.definition);
            }
            let multi = def.is_some_and(|d| d.multi_valued);
            let json = match &v.value {
                Value::Text(t) => match v.kind {
                    Kind::Integer => t
                        .trim()
                        .parse::<i64>()
                        .map(Json::from)
                        .unwrap_or_else(|_| Json::from(t.trim())),
                    Kind::Real => t
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(Json::from)
                        .unwrap_or_else(|| Json::from(t.trim())),
                    _ => Json::from(t.as_str()),
                },
                Value::Boolean(b) => Json::from(*b),
                Value::Markdown(md) => Json::from(md.as_str()),
                Value::Enumeration(refs) => {
                    let names: Vec<Json> = refs
                        .iter()
                        .map(|r| Json::from(*self.literals.get(&**r).unwrap_or(&&**r)))
                        .collect();
                    if multi {
                        Json::Array(names)
                    } else {
                        names.into_iter().next().unwrap_or(Json::Null)
                    }
                }
            };
            let kind = match (v.kind, multi) {
                (Kind::Enumeration, true) => "enumeration-multi".to_owned(),
                (kind, _) => kind.name().to_owned(),
            };
            types.insert(name.clone(), Json::from(kind));
            values.insert(name, json);
        }
        (values, types)
    }

    /// A spec object as a requirement.
    pub fn requirement(&self, object: &Identifiable) -> Requirement {
        let (mut attributes, datatypes) = self.values(object);
        let text_of = |names: &[&str]| -> Option<String> {
            names.iter().find_map(|n| {
                attributes
                    .get(*n)
                    .and_then(as_text)
                    .filter(|t| !t.trim().is_empty())
            })
        };
        let title = derive_title(&attributes, object.long_name.as_deref(), &datatypes);
        let text = derive_text(&attributes);
        let identifier = derive_identifier(&attributes, &object.identifier);
        let status = derive_status(&attributes);
        let created_at = derive_created(&attributes);
        let updated_at = text_of(&[MODIFIED_ON])
            .and_then(|d| parse_datetime(&d))
            .or_else(|| object.last_change.as_deref().and_then(parse_datetime));
        let type_name = object.type_ref.as_ref().map(|t| {
            self.doc
                .types
                .get(&**t)
                .filter(|t| t.kind == TypeKind::SpecObject)
                .and_then(|t| t.long_name.clone())
                .unwrap_or_else(|| t.to_string())
        });
        let mut positions = Vec::new();
        for &(s, n) in self
            .positions
            .get(object.identifier.as_str())
            .map_or(&[][..], Vec::as_slice)
        {
            let spec = &self.doc.specifications[s];
            let node = &spec.nodes[n];
            positions.push(json!({
                "specification": spec.item.identifier,
                "specification_name": spec.item.long_name,
                "hierarchy": node.identifier,
                "parent": spec.parent_object(node),
                "order": node.order,
                "level": node.level,
                "table_internal": node.table_internal,
            }));
        }
        let first = positions.first();
        let module = first.and_then(|p| {
            p["specification_name"]
                .as_str()
                .or(p["specification"].as_str())
                .map(str::to_owned)
        });
        let parent = first.and_then(|p| p["parent"].as_str().map(str::to_owned));
        attributes.insert(
            META.to_owned(),
            json!({
                "identifier": object.identifier,
                "long_name": object.long_name,
                "desc": object.desc,
                "last_change": object.last_change,
                "type": type_name,
                "datatypes": datatypes,
                "positions": positions,
            }),
        );
        Requirement {
            external_id: object.identifier.clone(),
            identifier,
            title,
            text,
            module,
            parent,
            status,
            created_at,
            updated_at,
            attributes,
        }
    }

    /// Every spec object as a requirement, in file order.
    pub fn requirements(&self) -> impl Iterator<Item = Requirement> + '_ {
        self.doc.objects.iter().map(|o| self.requirement(o))
    }

    /// Every spec relation with a source and a target as a trace link, in file order.
    pub fn links(&self) -> impl Iterator<Item = TraceLink> + '_ {
        self.doc.relations.iter().filter_map(|r| self.link(r))
    }

    /// A spec relation as a trace link, typed by its relation type's `LONG-NAME`; `None`
    /// without a source or a target.
    pub fn link(&self, r: &SpecRelation) -> Option<TraceLink> {
        let link_type = r
            .item
            .type_ref
            .as_ref()
            .map(|t| {
                self.doc
                    .types
                    .get(&**t)
                    .and_then(|t| t.long_name.clone())
                    .unwrap_or_else(|| t.to_string())
            })
            .unwrap_or_else(|| "relation".to_owned());
        Some(TraceLink {
            external_id: r.item.identifier.clone(),
            source: r.source.clone()?,
            target: r.target.clone()?,
            link_type,
        })
    }
}

/// A value as plain text, for the requirement's own fields.
fn as_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(as_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

/// The title the import gives: the first [`TITLE`] attribute with text (Markdown escapes
/// removed from XHTML ones), else the spec object's `LONG-NAME`.
pub fn derive_title(
    attributes: &Map<String, Json>,
    long_name: Option<&str>,
    datatypes: &Map<String, Json>,
) -> String {
    TITLE
        .iter()
        .find_map(|n| {
            let text = attributes.get(*n).and_then(as_text)?;
            let text = if datatypes.get(*n).and_then(Json::as_str) == Some("xhtml") {
                plain_text(&text)
            } else {
                text
            };
            Some(text.trim().to_owned()).filter(|t| !t.is_empty())
        })
        .or_else(|| long_name.map(str::to_owned))
        .unwrap_or_default()
}

/// The text the import gives: the first [`TEXT`] attribute with text.
pub fn derive_text(attributes: &Map<String, Json>) -> String {
    TEXT.iter()
        .find_map(|n| {
            attributes
                .get(*n)
                .and_then(as_text)
                .filter(|t| !t.trim().is_empty())
        })
        .unwrap_or_default()
}

/// The status the import gives: the first [`STATUS`] attribute (names compared
/// case-insensitively).
pub fn derive_status(attributes: &Map<String, Json>) -> Option<String> {
    STATUS.iter().find_map(|s| {
        attributes
            .iter()
            .find(|(k, _)| s.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| as_text(v))
    })
}

/// The name of the attribute the status comes from, when there is one.
pub fn status_attribute(attributes: &Map<String, Json>) -> Option<String> {
    STATUS.iter().find_map(|s| {
        attributes
            .keys()
            .find(|k| s.eq_ignore_ascii_case(k))
            .cloned()
    })
}

/// The creation time the import gives: [`CREATED_ON`].
pub fn derive_created(attributes: &Map<String, Json>) -> Option<i64> {
    attributes
        .get(CREATED_ON)
        .and_then(as_text)
        .and_then(|d| parse_datetime(&d))
}

/// The identifier the import gives: prefix and foreign id, else the `IDENTIFIER`.
pub fn derive_identifier(attributes: &Map<String, Json>, identifier: &str) -> String {
    match attributes.get(FOREIGN_ID).and_then(as_text) {
        Some(id) if !id.trim().is_empty() => {
            let prefix = attributes.get(PREFIX).and_then(as_text).unwrap_or_default();
            format!("{prefix}{}", id.trim())
        }
        _ => identifier.to_owned(),
    }
}

/// The Markdown the XHTML conversion writes as plain text, for titles: emphasis and code marks
/// removed (the conversion escapes literal ones), backslash escapes resolved, lines joined.
fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                out.extend(chars.next());
            }
            '*' | '`' => {}
            '\n' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
