//! The JSON form of records: how the host shows and stores what a plugin read, and what a
//! stream's JSON Schema describes. Field names are the WIT names in snake_case, absent options
//! are `null`, times are epoch milliseconds, and the `attributes`/`data` JSON is embedded as
//! JSON (or kept as a string if a plugin sent text that is not JSON).

use serde_json::{json, Value};

use super::runtime::{RecordData, RecordKind};

/// The model name of a record kind (`work_item`, …), as in the API.
pub fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Document => "document",
        RecordKind::WorkItem => "work_item",
        RecordKind::Comment => "comment",
        RecordKind::Requirement => "requirement",
        RecordKind::TraceLink => "trace_link",
        RecordKind::Person => "person",
        RecordKind::Raw => "raw",
    }
}

/// The model name of a record.
pub fn kind(record: &RecordData) -> &'static str {
    kind_name(match record {
        RecordData::Document(_) => RecordKind::Document,
        RecordData::WorkItem(_) => RecordKind::WorkItem,
        RecordData::Comment(_) => RecordKind::Comment,
        RecordData::Requirement(_) => RecordKind::Requirement,
        RecordData::TraceLink(_) => RecordKind::TraceLink,
        RecordData::Person(_) => RecordKind::Person,
        RecordData::Raw(_) => RecordKind::Raw,
    })
}

fn embedded(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The record's fields as a JSON object.
pub fn to_json(record: &RecordData) -> Value {
    match record {
        RecordData::Document(d) => json!({
            "external_id": d.external_id, "title": d.title, "content_type": d.content_type,
            "body": d.body, "url": d.url, "author": d.author, "created_at": d.created_at,
            "updated_at": d.updated_at, "tags": d.tags, "attributes": embedded(&d.attributes),
        }),
        RecordData::WorkItem(w) => json!({
            "external_id": w.external_id, "key": w.key, "title": w.title,
            "description": w.description, "status": w.status, "item_type": w.item_type,
            "priority": w.priority, "assignee": w.assignee, "reporter": w.reporter,
            "labels": w.labels, "parent": w.parent, "url": w.url, "created_at": w.created_at,
            "updated_at": w.updated_at, "attributes": embedded(&w.attributes),
        }),
        RecordData::Comment(c) => json!({
            "external_id": c.external_id, "parent_external_id": c.parent_external_id,
            "author": c.author, "body": c.body, "created_at": c.created_at,
            "updated_at": c.updated_at,
        }),
        RecordData::Requirement(q) => json!({
            "external_id": q.external_id, "identifier": q.identifier, "title": q.title,
            "text": q.text, "module": q.module, "parent": q.parent, "status": q.status,
            "created_at": q.created_at, "updated_at": q.updated_at,
            "attributes": embedded(&q.attributes),
        }),
        RecordData::TraceLink(t) => json!({
            "external_id": t.external_id, "source": t.source, "target": t.target,
            "link_type": t.link_type,
        }),
        RecordData::Person(p) => json!({
            "external_id": p.external_id, "display_name": p.display_name, "email": p.email,
            "active": p.active,
        }),
        RecordData::Raw(r) => json!({"external_id": r.external_id, "data": embedded(&r.data)}),
    }
}
