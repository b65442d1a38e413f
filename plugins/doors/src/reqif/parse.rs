//! The ReqIF reader: one pass of quick-xml's pull parser over untrusted bytes, into
//! [`ReqIf`](super::model::ReqIf).
//!
//! Nothing in the file can make the parser do more work than its size allows: a `DOCTYPE`
//! (where entity definitions, and so billion-laughs and external entities, live) is refused,
//! entity references other than the five XML predefines and character references are refused,
//! and the size, the element nesting depth and the number of elements are bounded
//! ([`Limits`]). Each refusal names the file and the limit.

use std::io::BufRead;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::model::{
    AttributeDefinition, AttributeValue, Datatype, HierarchyNode, Identifiable, Interner, Kind,
    Name, ReqIf, SpecRelation, SpecType, Specification, TypeKind, Value,
};
use crate::limits::Limits;
use crate::xhtml::ToMarkdown;
use crate::ImportError;

/// Parses one `.reqif` file named `file`, held whole in memory.
pub fn parse(file: &str, bytes: &[u8], limits: &Limits) -> Result<ReqIf, ImportError> {
    if bytes.len() as u64 > limits.max_xml_bytes {
        return Err(ImportError::limit(
            file,
            format!(
                "{} bytes is more than the {} bytes a ReqIF file may have (the size limit: \
                 the connection's max_file_mib, {} MiB at most)",
                bytes.len(),
                limits.max_xml_bytes,
                crate::limits::MAX_FILE_MIB
            ),
        ));
    }
    parse_from(file, bytes, limits)
}

/// Parses one `.reqif` file named `file` as `input` yields it, so that the text need never be
/// held whole (a `.reqifz` entry is parsed while it is decompressed). The caller bounds the
/// bytes `input` yields: a read error ends the parse as malformed XML at that point.
pub fn parse_from<R: BufRead>(file: &str, input: R, limits: &Limits) -> Result<ReqIf, ImportError> {
    let mut parser = Parser {
        file,
        limits,
        doc: ReqIf::default(),
        stack: Vec::new(),
        elements: 0,
        capture: None,
        object: None,
        relation: None,
        spec: None,
        value: None,
        xhtml: None,
        hierarchy: Vec::new(),
        top_order: 0,
        datatype: None,
        header: None,
        names: Interner::default(),
    };
    let mut reader = Reader::from_reader(input);
    reader.config_mut().expand_empty_elements = true;
    let mut buf = Vec::new();
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ImportError::xml(file, at, e.to_string()))?;
        match event {
            Event::Start(e) => parser.start(&e, at)?,
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                parser.end(&name);
            }
            Event::Text(t) => {
                let text = t
                    .xml_content()
                    .map_err(|e| ImportError::xml(file, at, e.to_string()))?;
                parser.text(&text);
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                parser.text(&text);
            }
            Event::GeneralRef(r) => {
                let text = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(ImportError::xml(file, at, "invalid character reference")),
                    }
                } else {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    match resolve_predefined_entity(&name) {
                        Some(text) => text.to_owned(),
                        None => {
                            return Err(ImportError::xml(
                                file,
                                at,
                                format!(
                                    "entity &{name}; is not one of XML's five predefined \
                                     entities, and DTDs are refused"
                                ),
                            ))
                        }
                    }
                };
                parser.text(&text);
            }
            Event::DocType(_) => {
                return Err(ImportError::limit(
                    file,
                    "DOCTYPE declarations are refused (no DTD, no entity definitions: \
                     that is how XML entity bombs and external entities work)",
                ))
            }
            Event::Eof => {
                if let Some(open) = parser.stack.last() {
                    return Err(ImportError::xml(
                        file,
                        at,
                        format!("the file ends inside <{open}>"),
                    ));
                }
                break;
            }
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
        buf.clear();
    }
    if parser.elements == 0 {
        return Err(ImportError::structure(file, "no XML element in the file"));
    }
    let mut doc = parser.doc;
    // The document is kept while a sync pages: no room left over from growing.
    doc.objects.shrink_to_fit();
    doc.relations.shrink_to_fit();
    for spec in &mut doc.specifications {
        spec.nodes.shrink_to_fit();
    }
    Ok(doc)
}

/// The value being read.
struct PendingValue {
    kind: Kind,
    definition: Name,
    text: Option<String>,
    enums: Vec<Name>,
}

/// Parsing state: where we are and what is half-built.
struct Parser<'a> {
    file: &'a str,
    limits: &'a Limits,
    doc: ReqIf,
    /// Local names of the open elements.
    stack: Vec<String>,
    elements: u64,
    /// Text of the element being captured (references, header fields).
    capture: Option<String>,
    object: Option<Identifiable>,
    relation: Option<SpecRelation>,
    spec: Option<Specification>,
    value: Option<PendingValue>,
    /// XHTML being converted, and the stack depth of its `THE-VALUE`.
    xhtml: Option<(ToMarkdown, usize)>,
    /// Open hierarchy nodes: their index in the specification's nodes and how many children
    /// they have so far.
    hierarchy: Vec<(usize, u32)>,
    /// Children of the specification so far.
    top_order: u32,
    /// The datatype being read.
    datatype: Option<String>,
    header: Option<crate::reqif::model::Header>,
    /// The document's shared names (definitions, types, enumeration literals).
    names: Interner,
}

impl Parser<'_> {
    fn parent(&self) -> &str {
        self.stack
            .len()
            .checked_sub(2)
            .and_then(|i| self.stack.get(i))
            .map_or("", String::as_str)
    }

    fn inside(&self, name: &str) -> bool {
        self.stack.iter().any(|n| n == name)
    }

    fn start(&mut self, e: &BytesStart<'_>, at: u64) -> Result<(), ImportError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(ImportError::limit(
                self.file,
                format!(
                    "more than {} XML elements (the limit on elements per file)",
                    self.limits.max_elements
                ),
            ));
        }
        if self.stack.len() as u32 >= self.limits.max_depth {
            return Err(ImportError::limit(
                self.file,
                format!(
                    "elements nested deeper than {} levels (the limit on nesting depth), at byte {at}",
                    self.limits.max_depth
                ),
            ));
        }
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        if self.stack.is_empty() && name != "REQ-IF" {
            return Err(ImportError::structure(
                self.file,
                format!("the root element is {name}, not REQ-IF"),
            ));
        }
        self.stack.push(name);
        let attr = |key: &str| -> Result<Option<String>, ImportError> {
            match e.try_get_attribute(key) {
                Ok(Some(a)) => a
                    .unescape_value()
                    .map(|v| Some(v.into_owned()))
                    .map_err(|err| ImportError::xml(self.file, at, err.to_string())),
                Ok(None) => Ok(None),
                Err(err) => Err(ImportError::xml(self.file, at, err.to_string())),
            }
        };
        if let Some((md, _)) = &mut self.xhtml {
            let mut attrs = Vec::new();
            for a in e.attributes().flatten() {
                let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                if let Ok(v) = a.unescape_value() {
                    attrs.push((key, v.into_owned()));
                }
            }
            let name = self.stack.last().map_or("", String::as_str);
            md.start(name, |k| {
                attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            });
            return Ok(());
        }
        let name = self.stack.last().cloned().unwrap_or_default();
        let parent = self.parent().to_owned();
        match (name.as_str(), parent.as_str()) {
            ("REQ-IF-HEADER", _) => {
                self.header = Some(crate::reqif::model::Header {
                    identifier: attr("IDENTIFIER")?.unwrap_or_default(),
                    ..Default::default()
                })
            }
            ("TITLE" | "REQ-IF-TOOL-ID" | "SOURCE-TOOL-ID" | "CREATION-TIME", "REQ-IF-HEADER") => {
                self.capture = Some(String::new())
            }
            (n, "DATATYPES") if n.starts_with("DATATYPE-DEFINITION-") => {
                let id = attr("IDENTIFIER")?.unwrap_or_default();
                self.doc.datatypes.insert(
                    id.clone(),
                    Datatype {
                        long_name: attr("LONG-NAME")?,
                        enum_values: Vec::new(),
                    },
                );
                self.datatype = Some(id);
            }
            ("ENUM-VALUE", "SPECIFIED-VALUES") => {
                let id = attr("IDENTIFIER")?.unwrap_or_default();
                let long_name = attr("LONG-NAME")?;
                if let Some(dt) = self
                    .datatype
                    .as_ref()
                    .and_then(|d| self.doc.datatypes.get_mut(d))
                {
                    dt.enum_values.push((id, long_name));
                }
            }
            (n, "SPEC-ATTRIBUTES") if n.starts_with("ATTRIBUTE-DEFINITION-") => {
                let kind = Kind::from_suffix(&n["ATTRIBUTE-DEFINITION-".len()..]);
                if let Some(kind) = kind {
                    let id = attr("IDENTIFIER")?.unwrap_or_default();
                    let multi = attr("MULTI-VALUED")?.is_some_and(|v| v == "true" || v == "1");
                    self.doc.attributes.insert(
                        id,
                        AttributeDefinition {
                            long_name: attr("LONG-NAME")?,
                            kind,
                            multi_valued: multi,
                        },
                    );
                }
            }
            (n, "SPEC-TYPES") => {
                let kind = match n {
                    "SPEC-OBJECT-TYPE" => Some(TypeKind::SpecObject),
                    "SPEC-RELATION-TYPE" => Some(TypeKind::SpecRelation),
                    "SPECIFICATION-TYPE" => Some(TypeKind::Specification),
                    "RELATION-GROUP-TYPE" => Some(TypeKind::RelationGroup),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let id = attr("IDENTIFIER")?.unwrap_or_default();
                    let long_name = attr("LONG-NAME")?;
                    self.doc.types.insert(id, SpecType { kind, long_name });
                }
            }
            ("SPEC-OBJECT", "SPEC-OBJECTS") => self.object = Some(self.identifiable(&attr)?),
            ("SPEC-RELATION", "SPEC-RELATIONS") => {
                self.relation = Some(SpecRelation {
                    item: self.identifiable(&attr)?,
                    ..Default::default()
                })
            }
            ("SPECIFICATION", "SPECIFICATIONS") => {
                self.spec = Some(Specification {
                    item: self.identifiable(&attr)?,
                    nodes: Vec::new(),
                });
                self.top_order = 0;
                self.hierarchy.clear();
            }
            ("SPEC-HIERARCHY", _) if self.spec.is_some() => {
                let order = match self.hierarchy.last_mut() {
                    Some((_, children)) => {
                        *children += 1;
                        *children
                    }
                    None => {
                        self.top_order += 1;
                        self.top_order
                    }
                };
                let table_internal =
                    attr("IS-TABLE-INTERNAL")?.is_some_and(|v| v == "true" || v == "1");
                // The enclosing node's OBJECT may come after its CHILDREN: the node names its
                // parent by index, and the parent's object is looked up when mapping.
                let node = HierarchyNode {
                    identifier: attr("IDENTIFIER")?.unwrap_or_default(),
                    object: None,
                    parent_node: self.hierarchy.last().map(|(i, _)| *i),
                    level: self.hierarchy.len() as u32 + 1,
                    order,
                    table_internal,
                };
                if let Some(spec) = &mut self.spec {
                    spec.nodes.push(node);
                    self.hierarchy.push((spec.nodes.len() - 1, 0));
                }
            }
            (n, "VALUES") if n.starts_with("ATTRIBUTE-VALUE-") && !self.inside("DEFAULT-VALUE") => {
                if let Some(kind) = Kind::from_suffix(&n["ATTRIBUTE-VALUE-".len()..]) {
                    self.value = Some(PendingValue {
                        kind,
                        definition: self.names.name(""),
                        text: attr("THE-VALUE")?,
                        enums: Vec::new(),
                    });
                }
            }
            ("THE-VALUE", "ATTRIBUTE-VALUE-XHTML") if self.value.is_some() => {
                self.xhtml = Some((ToMarkdown::new(), self.stack.len()));
            }
            (n, _) if n.ends_with("-REF") => self.capture = Some(String::new()),
            _ => {}
        }
        Ok(())
    }

    fn identifiable(
        &self,
        attr: &dyn Fn(&str) -> Result<Option<String>, ImportError>,
    ) -> Result<Identifiable, ImportError> {
        let identifier = attr("IDENTIFIER")?
            .filter(|i| !i.is_empty())
            .ok_or_else(|| {
                ImportError::structure(
                    self.file,
                    format!(
                        "a {} without IDENTIFIER",
                        self.stack.last().map_or("", |s| s)
                    ),
                )
            })?;
        Ok(Identifiable {
            identifier,
            long_name: attr("LONG-NAME")?,
            desc: attr("DESC")?,
            last_change: attr("LAST-CHANGE")?,
            type_ref: None,
            values: Vec::new(),
        })
    }

    fn text(&mut self, text: &str) {
        if let Some((md, _)) = &mut self.xhtml {
            md.text(text);
        } else if let Some(capture) = &mut self.capture {
            capture.push_str(text);
        }
    }

    fn end(&mut self, name: &str) {
        if let Some((md, depth)) = &mut self.xhtml {
            if self.stack.len() > *depth {
                md.end(name);
                self.stack.pop();
                return;
            }
            if let Some((md, _)) = self.xhtml.take() {
                if let Some(value) = &mut self.value {
                    value.text = Some(md.finish());
                }
            }
        }
        let parent = self.parent().to_owned();
        let captured = self.capture.take().map(|t| t.trim().to_owned());
        match (name, parent.as_str()) {
            ("TITLE", "REQ-IF-HEADER") => self.set_header(|h| &mut h.title, captured),
            ("REQ-IF-TOOL-ID", "REQ-IF-HEADER") => self.set_header(|h| &mut h.tool_id, captured),
            ("SOURCE-TOOL-ID", "REQ-IF-HEADER") => {
                self.set_header(|h| &mut h.source_tool_id, captured)
            }
            ("CREATION-TIME", "REQ-IF-HEADER") => {
                self.set_header(|h| &mut h.creation_time, captured)
            }
            ("REQ-IF-HEADER", _) => {
                if let Some(h) = self.header.take() {
                    self.doc.headers.push(h);
                }
            }
            (n, "DATATYPES") if n.starts_with("DATATYPE-DEFINITION-") => self.datatype = None,
            (n, "TYPE") if n.ends_with("-TYPE-REF") => {
                let type_ref = captured.map(|c| self.names.name(&c));
                let target = if let Some(v) = &mut self.relation {
                    Some(&mut v.item)
                } else if let Some(o) = &mut self.object {
                    Some(o)
                } else if let Some(s) = &mut self.spec {
                    Some(&mut s.item)
                } else {
                    None
                };
                if let Some(item) = target {
                    item.type_ref = type_ref;
                }
            }
            ("SPEC-OBJECT-REF", "SOURCE") => {
                if let Some(r) = &mut self.relation {
                    r.source = captured;
                }
            }
            ("SPEC-OBJECT-REF", "TARGET") => {
                if let Some(r) = &mut self.relation {
                    r.target = captured;
                }
            }
            ("SPEC-OBJECT-REF", "OBJECT") => {
                if let (Some(spec), Some((index, _))) = (&mut self.spec, self.hierarchy.last()) {
                    if let Some(node) = spec.nodes.get_mut(*index) {
                        node.object = captured;
                    }
                }
            }
            (n, "DEFINITION") if n.starts_with("ATTRIBUTE-DEFINITION-") => {
                if let (Some(v), Some(c)) = (&mut self.value, captured) {
                    v.definition = self.names.name(&c);
                }
            }
            ("ENUM-VALUE-REF", "VALUES") => {
                if let (Some(v), Some(c)) = (&mut self.value, captured) {
                    v.enums.push(self.names.name(&c));
                }
            }
            (n, "VALUES") if n.starts_with("ATTRIBUTE-VALUE-") && !self.inside("DEFAULT-VALUE") => {
                if let Some(v) = self.value.take() {
                    self.push_value(v);
                }
            }
            ("SPEC-HIERARCHY", _) => {
                self.hierarchy.pop();
            }
            ("SPEC-OBJECT", "SPEC-OBJECTS") => {
                if let Some(mut o) = self.object.take() {
                    o.values.shrink_to_fit();
                    self.doc.objects.push(o);
                }
            }
            ("SPEC-RELATION", "SPEC-RELATIONS") => {
                if let Some(r) = self.relation.take() {
                    self.doc.relations.push(r);
                }
            }
            ("SPECIFICATION", "SPECIFICATIONS") => {
                if let Some(s) = self.spec.take() {
                    self.doc.specifications.push(s);
                }
            }
            _ => {}
        }
        self.stack.pop();
    }

    fn set_header(
        &mut self,
        field: impl FnOnce(&mut crate::reqif::model::Header) -> &mut Option<String>,
        value: Option<String>,
    ) {
        if let Some(h) = &mut self.header {
            *field(h) = value;
        }
    }

    fn push_value(&mut self, v: PendingValue) {
        let value = match v.kind {
            Kind::Enumeration => Value::Enumeration(v.enums),
            Kind::Xhtml => Value::Markdown(v.text.unwrap_or_default()),
            Kind::Boolean => Value::Boolean(matches!(
                v.text.as_deref().map(str::trim),
                Some("true" | "1")
            )),
            _ => Value::Text(v.text.unwrap_or_default()),
        };
        let value = AttributeValue {
            definition: v.definition,
            kind: v.kind,
            value,
        };
        let target = if let Some(r) = &mut self.relation {
            Some(&mut r.item)
        } else if let Some(o) = &mut self.object {
            Some(o)
        } else if let Some(s) = &mut self.spec {
            Some(&mut s.item)
        } else {
            None
        };
        if let Some(item) = target {
            item.values.push(value);
        }
    }
}
