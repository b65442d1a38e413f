//! A ReqIF 1.2 exchange document as the import reads it: the parts the records are built from,
//! with references between them left as the `IDENTIFIER`s the file uses (a file may refer to
//! definitions it does not contain: partial exports from DOORS do).
//!
//! Compact, because a sync keeps the whole document in the sandbox while it pages (a 50 000
//! object export is tens of MiB of model; README: Limits): references that repeat on every
//! object (attribute definitions, types, enumeration literals) are one shared [`Name`] per
//! document rather than a string per use, and a hierarchy node names its parent by index.

use std::collections::HashMap;
use std::sync::Arc;

/// An `IDENTIFIER` a document refers to many times, stored once (see [`Interner`]).
pub type Name = Arc<str>;

/// Hands out one shared [`Name`] per distinct string.
#[derive(Debug, Default)]
pub struct Interner(std::collections::HashSet<Name>);

impl Interner {
    /// The shared name for `s`.
    pub fn name(&mut self, s: &str) -> Name {
        if let Some(name) = self.0.get(s) {
            return Arc::clone(name);
        }
        let name: Name = Arc::from(s);
        self.0.insert(Arc::clone(&name));
        name
    }
}

/// The ReqIF datatypes (`DATATYPE-DEFINITION-*`, `ATTRIBUTE-VALUE-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `STRING`
    String,
    /// `INTEGER`
    Integer,
    /// `REAL`
    Real,
    /// `BOOLEAN`
    Boolean,
    /// `DATE` (xsd:dateTime)
    Date,
    /// `ENUMERATION`
    Enumeration,
    /// `XHTML`
    Xhtml,
}

impl Kind {
    /// The suffix of the ReqIF element names (`ATTRIBUTE-VALUE-<SUFFIX>`).
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::String => "STRING",
            Kind::Integer => "INTEGER",
            Kind::Real => "REAL",
            Kind::Boolean => "BOOLEAN",
            Kind::Date => "DATE",
            Kind::Enumeration => "ENUMERATION",
            Kind::Xhtml => "XHTML",
        }
    }

    /// The kind named by an element-name suffix.
    pub fn from_suffix(suffix: &str) -> Option<Kind> {
        Some(match suffix {
            "STRING" => Kind::String,
            "INTEGER" => Kind::Integer,
            "REAL" => Kind::Real,
            "BOOLEAN" => Kind::Boolean,
            "DATE" => Kind::Date,
            "ENUMERATION" => Kind::Enumeration,
            "XHTML" => Kind::Xhtml,
            _ => return None,
        })
    }

    /// The lower-case name used in records' `reqif.datatypes`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Real => "real",
            Kind::Boolean => "boolean",
            Kind::Date => "date",
            Kind::Enumeration => "enumeration",
            Kind::Xhtml => "xhtml",
        }
    }

    /// The kind with that lower-case name.
    pub fn from_name(name: &str) -> Option<Kind> {
        [
            Kind::String,
            Kind::Integer,
            Kind::Real,
            Kind::Boolean,
            Kind::Date,
            Kind::Enumeration,
            Kind::Xhtml,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A `DATATYPE-DEFINITION-*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Datatype {
    /// `LONG-NAME`.
    pub long_name: Option<String>,
    /// Enumeration literals: (`IDENTIFIER`, `LONG-NAME`), in file order.
    pub enum_values: Vec<(String, Option<String>)>,
}

/// An `ATTRIBUTE-DEFINITION-*`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDefinition {
    /// `LONG-NAME`: the name the attribute has in records.
    pub long_name: Option<String>,
    /// Its datatype kind.
    pub kind: Kind,
    /// `MULTI-VALUED` (enumerations).
    pub multi_valued: bool,
}

/// What a `SPEC-TYPES` entry types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// `SPEC-OBJECT-TYPE`
    SpecObject,
    /// `SPEC-RELATION-TYPE`
    SpecRelation,
    /// `SPECIFICATION-TYPE`
    Specification,
    /// `RELATION-GROUP-TYPE`
    RelationGroup,
}

/// A `SPEC-OBJECT-TYPE`, `SPEC-RELATION-TYPE`, `SPECIFICATION-TYPE` or `RELATION-GROUP-TYPE`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecType {
    /// Which one.
    pub kind: TypeKind,
    /// `LONG-NAME`.
    pub long_name: Option<String>,
}

/// One attribute value of an element.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeValue {
    /// The attribute definition's `IDENTIFIER`.
    pub definition: Name,
    /// Which `ATTRIBUTE-VALUE-*` it was.
    pub kind: Kind,
    /// The value.
    pub value: Value,
}

/// An attribute's value as the file gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `THE-VALUE` of strings, integers, reals and dates, as written (integers may exceed
    /// 64 bits, so the mapping decides).
    Text(String),
    /// `THE-VALUE` of a boolean.
    Boolean(bool),
    /// `ENUM-VALUE-REF`s.
    Enumeration(Vec<Name>),
    /// XHTML content, already Markdown.
    Markdown(String),
}

/// A `SPEC-OBJECT` or `SPEC-RELATION` or `SPECIFICATION`: the common part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identifiable {
    /// `IDENTIFIER`.
    pub identifier: String,
    /// `LONG-NAME`.
    pub long_name: Option<String>,
    /// `DESC`.
    pub desc: Option<String>,
    /// `LAST-CHANGE` (xsd:dateTime).
    pub last_change: Option<String>,
    /// `TYPE/*-TYPE-REF`.
    pub type_ref: Option<Name>,
    /// `VALUES`.
    pub values: Vec<AttributeValue>,
}

/// A `SPEC-RELATION`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecRelation {
    /// Identity, type and values.
    pub item: Identifiable,
    /// `SOURCE/SPEC-OBJECT-REF`.
    pub source: Option<String>,
    /// `TARGET/SPEC-OBJECT-REF`.
    pub target: Option<String>,
}

/// One `SPEC-HIERARCHY` node, flattened in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HierarchyNode {
    /// The node's `IDENTIFIER`.
    pub identifier: String,
    /// `OBJECT/SPEC-OBJECT-REF`.
    pub object: Option<String>,
    /// The enclosing node's index in [`Specification::nodes`] (whose object is this node's
    /// parent object, [`Specification::parent_object`]), `None` at the top.
    pub parent_node: Option<usize>,
    /// 1 for the specification's children, 2 for theirs, …
    pub level: u32,
    /// Position among its siblings, from 1.
    pub order: u32,
    /// `IS-TABLE-INTERNAL`.
    pub table_internal: bool,
}

/// A `SPECIFICATION` with its hierarchy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Specification {
    /// Identity, type and values.
    pub item: Identifiable,
    /// Its `SPEC-HIERARCHY` nodes, depth first.
    pub nodes: Vec<HierarchyNode>,
}

impl Specification {
    /// The spec object of the node enclosing `node`, `None` at the top of the specification.
    pub fn parent_object(&self, node: &HierarchyNode) -> Option<&str> {
        node.parent_node
            .and_then(|p| self.nodes.get(p))
            .and_then(|p| p.object.as_deref())
    }
}

/// `THE-HEADER/REQ-IF-HEADER`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// `IDENTIFIER`.
    pub identifier: String,
    /// `TITLE`.
    pub title: Option<String>,
    /// `REQ-IF-TOOL-ID`.
    pub tool_id: Option<String>,
    /// `SOURCE-TOOL-ID`.
    pub source_tool_id: Option<String>,
    /// `CREATION-TIME`.
    pub creation_time: Option<String>,
}

/// A whole exchange document (or several, merged, from one `.reqifz`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReqIf {
    /// The headers, one per file.
    pub headers: Vec<Header>,
    /// Datatypes by `IDENTIFIER`.
    pub datatypes: HashMap<String, Datatype>,
    /// Attribute definitions by `IDENTIFIER`.
    pub attributes: HashMap<String, AttributeDefinition>,
    /// Spec types by `IDENTIFIER`.
    pub types: HashMap<String, SpecType>,
    /// `SPEC-OBJECTS`, in file order.
    pub objects: Vec<Identifiable>,
    /// `SPEC-RELATIONS`, in file order.
    pub relations: Vec<SpecRelation>,
    /// `SPECIFICATIONS`, in file order.
    pub specifications: Vec<Specification>,
}

impl ReqIf {
    /// Adds another file's content (the files of one `.reqifz`).
    pub fn merge(&mut self, other: ReqIf) {
        self.headers.extend(other.headers);
        self.datatypes.extend(other.datatypes);
        self.attributes.extend(other.attributes);
        self.types.extend(other.types);
        self.objects.extend(other.objects);
        self.relations.extend(other.relations);
        self.specifications.extend(other.specifications);
    }

    /// The long name of an enumeration literal, wherever it is defined.
    pub fn enum_literal(&self, id: &str) -> Option<&str> {
        self.datatypes
            .values()
            .flat_map(|d| d.enum_values.iter())
            .find(|(i, _)| i == id)
            .and_then(|(_, name)| name.as_deref())
    }
}
