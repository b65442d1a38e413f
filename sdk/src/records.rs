//! Records in the internal models, and their one JSON projection.
//!
//! Every record has an `external_id`, stable across syncs: the host upserts on (connection,
//! stream, external id), so re-reading a page is harmless. References between records (assignee,
//! parent, link source and target) are external ids too. Times are milliseconds since the Unix
//! epoch; free text is Markdown; what the models lack goes into `attributes`.
//!
//! # JSON projection
//!
//! [`RecordData::to_json`] turns a record into one JSON object, and stream schemas describe that
//! object: every field of the record under its Rust name (the contract's name with `_` for `-`),
//! `None` as `null`, times as integers, lists as arrays, `attributes` (and a raw record's `data`)
//! as objects. There is no tag for the kind: a stream holds one kind only. It is the form the
//! host stores and shows (`host/src/plugins/lift.rs`), so a stream schema written against it
//! describes what people see. [`RecordKind::schema`] is the JSON Schema of each kind's
//! projection.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::types::RecordKind;

/// Free-form fields of a record, as a JSON object (custom fields, service-specific data).
pub type Attributes = Map<String, Value>;

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
pub type UnixMillis = i64;

/// A document (a file, a page, a wiki article).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Document {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// Title or file name.
    pub title: String,
    /// MIME type of `body`, e.g. `text/markdown`.
    pub content_type: String,
    /// Content as text (binary content is not carried in records).
    pub body: String,
    /// Link to the document in the service.
    pub url: Option<String>,
    /// Author, as a person's external id.
    pub author: Option<String>,
    /// Creation time.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub created_at: Option<UnixMillis>,
    /// Last change in the service; drives incremental syncs.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub updated_at: Option<UnixMillis>,
    /// Labels or tags.
    pub tags: Vec<String>,
    /// Everything else.
    pub attributes: Attributes,
}

/// A work item: issue, task, story, bug, epic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkItem {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// Human key, e.g. `PROJ-42`.
    pub key: String,
    /// Summary line.
    pub title: String,
    /// Description as Markdown.
    pub description: String,
    /// Workflow status as the service names it.
    pub status: String,
    /// Type as the service names it (Bug, Story, …).
    pub item_type: String,
    /// Priority as the service names it.
    pub priority: Option<String>,
    /// Assignee, as a person's external id.
    pub assignee: Option<String>,
    /// Reporter, as a person's external id.
    pub reporter: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Parent work item's external id.
    pub parent: Option<String>,
    /// Link to the item in the service.
    pub url: Option<String>,
    /// Creation time.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub created_at: Option<UnixMillis>,
    /// Last change.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub updated_at: Option<UnixMillis>,
    /// Everything else (custom fields).
    pub attributes: Attributes,
}

/// A comment on a work item, document or requirement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Comment {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// External id of what it comments on.
    pub parent_external_id: String,
    /// Author, as a person's external id.
    pub author: Option<String>,
    /// Text as Markdown.
    pub body: String,
    /// Creation time.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub created_at: Option<UnixMillis>,
    /// Last change.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub updated_at: Option<UnixMillis>,
}

/// A requirement (DOORS object, ReqIF spec object, …).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Requirement {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// Human identifier, e.g. `SRS-12`.
    pub identifier: String,
    /// Heading or short name.
    pub title: String,
    /// Requirement text as Markdown.
    pub text: String,
    /// Module, specification or document it belongs to.
    pub module: Option<String>,
    /// Parent requirement's external id (hierarchy).
    pub parent: Option<String>,
    /// Status as the service names it.
    pub status: Option<String>,
    /// Creation time.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub created_at: Option<UnixMillis>,
    /// Last change.
    #[serde(deserialize_with = "crate::time::millis_or_rfc3339")]
    pub updated_at: Option<UnixMillis>,
    /// Everything else (attributes).
    pub attributes: Attributes,
}

/// A typed link between two records (satisfies, verifies, blocks, …).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceLink {
    /// The service's id of the link, stable across syncs.
    pub external_id: String,
    /// External id of the source record.
    pub source: String,
    /// External id of the target record.
    pub target: String,
    /// The kind of link as the service names it.
    pub link_type: String,
}

/// A person known to the service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Person {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// Name to show.
    pub display_name: String,
    /// E-mail, when the service discloses it.
    pub email: Option<String>,
    /// Whether the account is active in the service.
    pub active: bool,
}

/// Data the internal models do not cover, kept as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawRecord {
    /// The service's id, stable across syncs.
    pub external_id: String,
    /// The data.
    pub data: Attributes,
}

/// One record of a page, in its internal model. Every record type converts into it with `into()`.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordData {
    /// A document.
    Document(Document),
    /// A work item.
    WorkItem(WorkItem),
    /// A comment.
    Comment(Comment),
    /// A requirement.
    Requirement(Requirement),
    /// A trace link.
    TraceLink(TraceLink),
    /// A person.
    Person(Person),
    /// Anything else.
    Raw(RawRecord),
}

impl RecordData {
    /// The record's external id, the key the host upserts on.
    pub fn external_id(&self) -> &str {
        match self {
            RecordData::Document(r) => &r.external_id,
            RecordData::WorkItem(r) => &r.external_id,
            RecordData::Comment(r) => &r.external_id,
            RecordData::Requirement(r) => &r.external_id,
            RecordData::TraceLink(r) => &r.external_id,
            RecordData::Person(r) => &r.external_id,
            RecordData::Raw(r) => &r.external_id,
        }
    }

    /// The internal model of the record; it must be its stream's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordData::Document(_) => RecordKind::Document,
            RecordData::WorkItem(_) => RecordKind::WorkItem,
            RecordData::Comment(_) => RecordKind::Comment,
            RecordData::Requirement(_) => RecordKind::Requirement,
            RecordData::TraceLink(_) => RecordKind::TraceLink,
            RecordData::Person(_) => RecordKind::Person,
            RecordData::Raw(_) => RecordKind::Raw,
        }
    }

    /// The record's JSON projection (see the module documentation), which stream schemas
    /// describe.
    pub fn to_json(&self) -> Value {
        let value = match self {
            RecordData::Document(r) => serde_json::to_value(r),
            RecordData::WorkItem(r) => serde_json::to_value(r),
            RecordData::Comment(r) => serde_json::to_value(r),
            RecordData::Requirement(r) => serde_json::to_value(r),
            RecordData::TraceLink(r) => serde_json::to_value(r),
            RecordData::Person(r) => serde_json::to_value(r),
            RecordData::Raw(r) => serde_json::to_value(r),
        };
        // Records are plain data with string keys: serialising them cannot fail. Null would
        // fail every schema loudly rather than pass silently.
        value.unwrap_or(Value::Null)
    }
}

macro_rules! into_record_data {
    ($($record:ident),*) => {$(
        impl From<$record> for RecordData {
            fn from(record: $record) -> Self {
                RecordData::$record(record)
            }
        }
    )*};
}
into_record_data!(Document, WorkItem, Comment, Requirement, TraceLink, Person);

impl From<RawRecord> for RecordData {
    fn from(record: RawRecord) -> Self {
        RecordData::Raw(record)
    }
}

impl RecordKind {
    /// The JSON Schema of this kind's projection: every field present, optional ones also
    /// allowed to be `null`, nothing else. The default schema of a [`crate::StreamSpec::new`]
    /// stream.
    pub fn schema(self) -> Value {
        let id = json!({"type": "string", "minLength": 1});
        let text = json!({"type": "string"});
        let time = json!({"type": "integer"});
        let texts = json!({"type": "array", "items": {"type": "string"}});
        let object = json!({"type": "object"});
        match self {
            RecordKind::Document => object_schema(
                &[
                    ("external_id", &id),
                    ("title", &text),
                    ("content_type", &text),
                    ("body", &text),
                    ("tags", &texts),
                    ("attributes", &object),
                ],
                &[
                    ("url", &text),
                    ("author", &text),
                    ("created_at", &time),
                    ("updated_at", &time),
                ],
            ),
            RecordKind::WorkItem => object_schema(
                &[
                    ("external_id", &id),
                    ("key", &text),
                    ("title", &text),
                    ("description", &text),
                    ("status", &text),
                    ("item_type", &text),
                    ("labels", &texts),
                    ("attributes", &object),
                ],
                &[
                    ("priority", &text),
                    ("assignee", &text),
                    ("reporter", &text),
                    ("parent", &text),
                    ("url", &text),
                    ("created_at", &time),
                    ("updated_at", &time),
                ],
            ),
            RecordKind::Comment => object_schema(
                &[
                    ("external_id", &id),
                    ("parent_external_id", &id),
                    ("body", &text),
                ],
                &[
                    ("author", &text),
                    ("created_at", &time),
                    ("updated_at", &time),
                ],
            ),
            RecordKind::Requirement => object_schema(
                &[
                    ("external_id", &id),
                    ("identifier", &text),
                    ("title", &text),
                    ("text", &text),
                    ("attributes", &object),
                ],
                &[
                    ("module", &text),
                    ("parent", &text),
                    ("status", &text),
                    ("created_at", &time),
                    ("updated_at", &time),
                ],
            ),
            RecordKind::TraceLink => object_schema(
                &[
                    ("external_id", &id),
                    ("source", &id),
                    ("target", &id),
                    ("link_type", &text),
                ],
                &[],
            ),
            RecordKind::Person => object_schema(
                &[
                    ("external_id", &id),
                    ("display_name", &text),
                    ("active", &json!({"type": "boolean"})),
                ],
                &[("email", &text)],
            ),
            RecordKind::Raw => object_schema(&[("external_id", &id), ("data", &object)], &[]),
        }
    }
}

/// A closed object schema: every property required, the `optional` ones nullable (`None`
/// projects to `null`).
fn object_schema(always: &[(&str, &Value)], optional: &[(&str, &Value)]) -> Value {
    let nullable = |schema: &Value| json!({"anyOf": [schema, {"type": "null"}]});
    let properties: Map<String, Value> = always
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), (*schema).clone()))
        .chain(
            optional
                .iter()
                .map(|(name, schema)| ((*name).to_owned(), nullable(schema))),
        )
        .collect();
    let required: Vec<&str> = always
        .iter()
        .chain(optional)
        .map(|(name, _)| *name)
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_has_every_field_with_absent_ones_null() {
        let item = WorkItem {
            external_id: "10001".into(),
            key: "PROJ-1".into(),
            title: "Fix it".into(),
            updated_at: Some(1_700_000_000_000),
            ..WorkItem::default()
        };
        let json = RecordData::from(item).to_json();
        assert_eq!(json["key"], "PROJ-1");
        assert_eq!(json["updated_at"], 1_700_000_000_000_i64);
        assert_eq!(json["attributes"], json!({}));
        assert_eq!(json["labels"], json!([]));
        assert_eq!(json["priority"], Value::Null);
        assert_eq!(json.as_object().map(Map::len), Some(15), "{json}");
    }

    #[test]
    fn external_id_and_kind_are_read_from_every_case() {
        let person = RecordData::from(Person {
            external_id: "u1".into(),
            active: true,
            ..Person::default()
        });
        assert_eq!(person.external_id(), "u1");
        assert_eq!(person.kind(), RecordKind::Person);
        let raw = RecordData::from(RawRecord {
            external_id: "r1".into(),
            data: Attributes::new(),
        });
        assert_eq!(raw.kind(), RecordKind::Raw);
    }

    #[test]
    fn the_standard_schemas_require_every_field_and_let_options_be_null() {
        let schema = RecordKind::WorkItem.schema();
        let required = schema["required"].as_array().expect("required list");
        assert_eq!(required.len(), 15);
        assert_eq!(
            schema["properties"]["priority"]["anyOf"][1],
            json!({"type": "null"})
        );
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            RecordKind::Person.schema()["properties"]["active"]["type"],
            "boolean"
        );
    }
}
