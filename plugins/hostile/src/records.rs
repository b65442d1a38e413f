//! Pages for the host's lift: every model with text that needs care, and two that must be
//! refused.

use crate::agentic::connector::types::{
    Comment, Document, Person, RawRecord, RecordData, Requirement, TraceLink, WorkItem,
};

/// Text a JSON writer must escape: quotes, backslashes, control characters, and characters
/// outside the BMP.
pub const TRICKY: &str = "say \"hi\"\\n\ttab\u{1}\u{1f} é 日本 🦀 </script>";

/// One record of every model.
pub fn kinds() -> Vec<RecordData> {
    vec![
        RecordData::Document(Document {
            external_id: "doc-1".into(),
            title: TRICKY.into(),
            content_type: "text/markdown".into(),
            body: "# Title\n\nBody".into(),
            url: Some("https://example.com/d/1".into()),
            author: None,
            created_at: Some(-1),
            updated_at: Some(i64::MAX),
            tags: vec!["a".into(), TRICKY.into()],
            attributes: r#"{"nested": {"list": [1, 2.5, null, "x"]}, "flag": true}"#.into(),
        }),
        RecordData::WorkItem(WorkItem {
            external_id: "wi-1".into(),
            key: "PROJ-1".into(),
            title: "Fix it".into(),
            description: TRICKY.into(),
            status: "In Progress".into(),
            item_type: "Bug".into(),
            priority: Some("High".into()),
            assignee: Some("u-1".into()),
            reporter: None,
            labels: Vec::new(),
            parent: None,
            url: None,
            created_at: None,
            updated_at: Some(1_700_000_000_000),
            // Not JSON: the host keeps it as a string.
            attributes: "not json {".into(),
        }),
        RecordData::Comment(Comment {
            external_id: "c-1".into(),
            parent_external_id: "wi-1".into(),
            author: Some("u-2".into()),
            body: "é".repeat(300),
            created_at: Some(5),
            updated_at: None,
        }),
        RecordData::Requirement(Requirement {
            external_id: "r-1".into(),
            identifier: "SRS-1".into(),
            title: "Shall".into(),
            text: "The system shall.".into(),
            module: Some("SRS".into()),
            parent: None,
            status: Some("Approved".into()),
            created_at: None,
            updated_at: None,
            attributes: "[]".into(),
        }),
        RecordData::TraceLink(TraceLink {
            external_id: "l-1".into(),
            source: "r-1".into(),
            target: "wi-1".into(),
            link_type: "satisfies".into(),
        }),
        RecordData::Person(Person {
            external_id: "u-1".into(),
            display_name: "Ada".into(),
            email: None,
            active: false,
        }),
        RecordData::Raw(RawRecord {
            external_id: "x-1".into(),
            data: "  {\"k\": \"v\"}  ".into(),
        }),
    ]
}

/// Records whose every string is the same 8 MiB of memory: the lowered page is small, the
/// text it points at, counted per field, is 640 GiB.
#[allow(unsafe_code)]
pub fn amplify() -> Vec<RecordData> {
    let big = std::mem::ManuallyDrop::new("x".repeat(8 << 20));
    // SAFETY (of this hostile guest, not of the host): every alias shares one buffer; the
    // host must refuse the page before the guest's post-return would free the aliases.
    let alias =
        || unsafe { String::from_raw_parts(big.as_ptr().cast_mut(), big.len(), big.capacity()) };
    (0..20_000)
        .map(|_| {
            RecordData::TraceLink(TraceLink {
                external_id: alias(),
                source: alias(),
                target: alias(),
                link_type: alias(),
            })
        })
        .collect()
}

/// A title that is not UTF-8.
#[allow(unsafe_code)]
pub fn not_utf8() -> Vec<RecordData> {
    // SAFETY (of this hostile guest): the string is never used as text here; the host must
    // refuse it.
    let title = unsafe { String::from_utf8_unchecked(vec![b'a', 0xff, 0xfe]) };
    vec![RecordData::Person(Person {
        external_id: "p".into(),
        display_name: title,
        email: None,
        active: true,
    })]
}

/// One person with the given id.
pub fn person(id: &str) -> Vec<RecordData> {
    vec![RecordData::Person(Person {
        external_id: id.into(),
        display_name: "hostile".into(),
        email: None,
        active: true,
    })]
}

/// One person whose id is the number of `read` calls this instance has served, this one
/// included.
pub fn calls() -> Vec<RecordData> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    vec![RecordData::Person(Person {
        external_id: n.to_string(),
        display_name: "counter".into(),
        email: None,
        active: true,
    })]
}
