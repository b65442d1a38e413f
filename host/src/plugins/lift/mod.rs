//! Lifting a page of records out of a guest straight into the form the host stores.
//!
//! Why not the generated types: lifting `page` into them copies every string of every record
//! into a host `String` of its own (an allocation and a free each), and the sync then built a
//! JSON object from those and copied most of them once more. That per-field copying was most of
//! the cost of the plugin boundary (docs/PERFORMANCE.md). Here the contract's layout is kept —
//! the views below derive their lifting from the WIT names, and wasmtime type-checks them
//! against the component's `read` export on every call, so a contract change that they do not
//! follow fails loudly — but each string is lifted as a bounds-checked [`Span`] of guest memory
//! and read once, while the lift still sees that memory (after the lift, the guest's
//! post-return frees and reuses it): straight into the record's JSON text and the few columns
//! the store indexes.
//!
//! Everything read is untrusted: spans are bounds-checked when lifted, text is checked as UTF-8
//! when read, embedded JSON (`attributes`, a raw record's `data`) is parsed before it is
//! embedded (text that is not JSON is kept as a JSON string), and a page whose strings add up to
//! more than the guest's memory (spans pointing at the same bytes over and over) is refused
//! before anything is copied.

mod span;
mod writer;

// Doc-hidden items the derive macros use (not under wasmtime's semver promise; wasmtime is
// pinned to 48.x): what a hand-written `Lift` needs.
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift};

use super::bindings::types::RecordKind;
use crate::clock::Millis;
use span::Span;
use writer::Json;

/// The model name of a record kind (`work_item`, …), as in the API and the store.
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

/// One page as the host keeps it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records of the page, in the order the plugin returned them.
    pub records: Vec<Record>,
    /// The records the page says are gone (contract 0.3.0), in the order the plugin returned
    /// them.
    pub deletions: Vec<Deletion>,
    /// The state to resume from after this page.
    pub state: String,
    /// Whether another page follows.
    pub has_more: bool,
    /// Bytes of text the plugin returned (its strings, before JSON escaping): what the
    /// output cap ([`super::Limits::max_output_bytes`]) measures.
    pub text_bytes: usize,
}

/// A record in the form the host stores and shows: the columns the store indexes and the
/// record's JSON, in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The model: `work_item`, `document`, … ([`kind_name`]).
    pub kind: &'static str,
    /// When the service last changed it.
    pub updated_at: Option<Millis>,
    /// External id, title, status and JSON, one after the other.
    text: String,
    /// Where the external id, the title and the status end in `text`.
    ends: [usize; 3],
    has_status: bool,
}

impl Record {
    /// The service's id.
    pub fn external_id(&self) -> &str {
        &self.text[..self.ends[0]]
    }

    /// What people search by: the title, a comment's first 200 characters, a link's type, a
    /// person's name; empty for raw records.
    pub fn title(&self) -> &str {
        &self.text[self.ends[0]..self.ends[1]]
    }

    /// Workflow status, where the model has one.
    pub fn status(&self) -> Option<&str> {
        self.has_status
            .then(|| &self.text[self.ends[1]..self.ends[2]])
    }

    /// Every field of the record as one JSON object (the projection stream schemas describe:
    /// WIT field names in snake_case, absent options `null`, embedded JSON as JSON).
    pub fn data(&self) -> &str {
        &self.text[self.ends[2]..]
    }
}

/// A record the plugin says is gone (`record-data.deleted`, contract 0.3.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The model of the record that is gone ([`kind_name`]).
    pub kind: &'static str,
    /// Its external id.
    pub external_id: String,
    /// How many of the page's [`Page::records`] came before it: a record of the same id after
    /// it (a later entry) wins over the deletion.
    pub after: usize,
}

impl Deletion {
    /// Whether a later entry of `page`'s records names the same record again (it came back:
    /// the deletion is void).
    pub fn superseded(&self, records: &[Record]) -> bool {
        records
            .get(self.after..)
            .unwrap_or_default()
            .iter()
            .any(|r| r.kind == self.kind && r.external_id() == self.external_id)
    }
}

/// Why a page could not be lifted; the runtime maps it to a [`super::PluginError`].
#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    /// The page's strings add up to more than the guest's whole memory.
    #[error("plugin returned {size} bytes of text, more than its {memory}-byte memory")]
    TooLarge {
        /// Bytes of text the spans cover, counted with repeats.
        size: u64,
        /// The guest's memory size.
        memory: usize,
    },
    /// What the plugin returned breaks the contract (a string out of bounds or not UTF-8).
    #[error("plugin returned {0}")]
    Invalid(&'static str),
}

// The shapes of the models' fields, named as the JSON writer's methods that write them.
#[allow(non_camel_case_types)]
type text = Span;
#[allow(non_camel_case_types)]
type opt = Option<Span>;
#[allow(non_camel_case_types)]
type list = Vec<Span>;
#[allow(non_camel_case_types)]
type millis = Option<i64>;
#[allow(non_camel_case_types)]
type json = Span;
#[allow(non_camel_case_types)]
type flag = bool;

/// Declares each model's view (its WIT record, with strings as spans), how many text bytes it
/// covers and how it is written as JSON, and the `record-data` variant over them; field order
/// and names are the contract's.
macro_rules! models {
    ($( $case:literal $variant:ident($view:ident) {
        $( $field:ident $name:literal: $shape:ident, )*
    } )*) => {
        $(
            #[derive(ComponentType, Lift)]
            #[component(record)]
            pub(super) struct $view {
                $( #[component(name = $name)] $field: $shape, )*
            }

            impl $view {
                /// Bytes of its JSON besides the text: keys, quotes, separators, `null`s
                /// (a little over: every field counted as if `null`).
                const JSON_OVERHEAD: usize = 2 $( + $name.len() + 8 )*;

                fn text_bytes(&self) -> u64 {
                    0 $( + Shape::text_bytes(&self.$field) )*
                }

                fn write(&self, out: &mut Json<'_>) -> Result<(), LiftError> {
                    $( out.$shape(stringify!($field), &self.$field)?; )*
                    Ok(())
                }
            }
        )*

        /// `record-data` of 0.1.0 and 0.2.0: the models.
        #[derive(ComponentType, Lift)]
        #[component(variant)]
        pub(super) enum RecordView {
            $( #[component(name = $case)] $variant($view), )*
        }

        /// `record-data` since 0.3.0: the models, or a deletion.
        #[derive(ComponentType, Lift)]
        #[component(variant)]
        pub(super) enum RecordDataView {
            $( #[component(name = $case)] $variant($view), )*
            #[component(name = "deleted")]
            Deleted(DeletedView),
        }

        impl From<RecordDataView> for Entry {
            fn from(view: RecordDataView) -> Self {
                match view {
                    $( RecordDataView::$variant(v) => Entry::Record(RecordView::$variant(v)), )*
                    RecordDataView::Deleted(d) => Entry::Deleted(d),
                }
            }
        }

        impl RecordView {
            fn json_overhead(&self) -> usize {
                match self { $( Self::$variant(_) => $view::JSON_OVERHEAD, )* }
            }

            fn text_bytes(&self) -> u64 {
                match self { $( Self::$variant(v) => v.text_bytes(), )* }
            }

            fn write(&self, out: &mut Json<'_>) -> Result<(), LiftError> {
                match self { $( Self::$variant(v) => v.write(out), )* }
            }
        }
    };
}

models! {
    "document" Document(DocumentView) {
        external_id "external-id": text,
        title "title": text,
        content_type "content-type": text,
        body "body": text,
        url "url": opt,
        author "author": opt,
        created_at "created-at": millis,
        updated_at "updated-at": millis,
        tags "tags": list,
        attributes "attributes": json,
    }
    "work-item" WorkItem(WorkItemView) {
        external_id "external-id": text,
        key "key": text,
        title "title": text,
        description "description": text,
        status "status": text,
        item_type "item-type": text,
        priority "priority": opt,
        assignee "assignee": opt,
        reporter "reporter": opt,
        labels "labels": list,
        parent "parent": opt,
        url "url": opt,
        created_at "created-at": millis,
        updated_at "updated-at": millis,
        attributes "attributes": json,
    }
    "comment" Comment(CommentView) {
        external_id "external-id": text,
        parent_external_id "parent-external-id": text,
        author "author": opt,
        body "body": text,
        created_at "created-at": millis,
        updated_at "updated-at": millis,
    }
    "requirement" Requirement(RequirementView) {
        external_id "external-id": text,
        identifier "identifier": text,
        title "title": text,
        text "text": text,
        module "module": opt,
        parent "parent": opt,
        status "status": opt,
        created_at "created-at": millis,
        updated_at "updated-at": millis,
        attributes "attributes": json,
    }
    "trace-link" TraceLink(TraceLinkView) {
        external_id "external-id": text,
        source "source": text,
        target "target": text,
        link_type "link-type": text,
    }
    "person" Person(PersonView) {
        external_id "external-id": text,
        display_name "display-name": text,
        email "email": opt,
        active "active": flag,
    }
    "raw" Raw(RawView) {
        external_id "external-id": text,
        data "data": json,
    }
}

/// `deleted-record` (0.3.0), its id as a span.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(super) struct DeletedView {
    #[component(name = "external-id")]
    external_id: Span,
    kind: RecordKind,
}

/// One entry of a page, whatever the contract version: a record, or (0.3.0) a deletion.
pub(super) enum Entry {
    Record(RecordView),
    Deleted(DeletedView),
}

impl From<RecordView> for Entry {
    fn from(view: RecordView) -> Self {
        Entry::Record(view)
    }
}

impl Entry {
    fn text_bytes(&self) -> u64 {
        match self {
            Entry::Record(r) => r.text_bytes(),
            Entry::Deleted(d) => u64::from(d.external_id.len),
        }
    }
}

/// Text bytes a field covers.
trait Shape {
    fn text_bytes(&self) -> u64;
}

impl Shape for Span {
    fn text_bytes(&self) -> u64 {
        u64::from(self.len)
    }
}

impl Shape for Option<Span> {
    fn text_bytes(&self) -> u64 {
        self.map_or(0, |s| u64::from(s.len))
    }
}

impl Shape for Vec<Span> {
    fn text_bytes(&self) -> u64 {
        self.iter().map(|s| u64::from(s.len)).sum()
    }
}

impl Shape for Option<i64> {
    fn text_bytes(&self) -> u64 {
        0
    }
}

impl Shape for bool {
    fn text_bytes(&self) -> u64 {
        0
    }
}

/// `page` as the contract declares it, strings as spans; `R` is the version's `record-data`
/// ([`RecordView`] before 0.3.0, [`RecordDataView`] since).
#[derive(ComponentType, Lift)]
#[component(record)]
pub(super) struct PageView<R> {
    records: Vec<R>,
    state: Span,
    #[component(name = "has-more")]
    has_more: bool,
}

impl<R: Into<Entry>> PageView<R> {
    /// Reads the page out of `memory` (the guest's, still holding what the spans cover).
    fn read(self, memory: &[u8]) -> Result<Page, LiftError> {
        let entries: Vec<Entry> = self.records.into_iter().map(Into::into).collect();
        let text_bytes =
            u64::from(self.state.len) + entries.iter().map(Entry::text_bytes).sum::<u64>();
        if text_bytes > memory.len() as u64 {
            return Err(LiftError::TooLarge {
                size: text_bytes,
                memory: memory.len(),
            });
        }
        let mut records = Vec::with_capacity(entries.len());
        let mut deletions = Vec::new();
        for entry in &entries {
            match entry {
                Entry::Record(view) => records.push(record(view, memory)?),
                Entry::Deleted(d) => deletions.push(Deletion {
                    kind: kind_name(d.kind),
                    external_id: d.external_id.read(memory)?.to_owned(),
                    after: records.len(),
                }),
            }
        }
        Ok(Page {
            records,
            deletions,
            state: self.state.read(memory)?.to_owned(),
            has_more: self.has_more,
            text_bytes: usize::try_from(text_bytes).unwrap_or(usize::MAX),
        })
    }
}

/// One record's columns and JSON text.
fn record(view: &RecordView, memory: &[u8]) -> Result<Record, LiftError> {
    let read = |span: &Span| span.read(memory);
    let (kind, external_id, title, status, updated_at) = match view {
        RecordView::Document(d) => (
            RecordKind::Document,
            read(&d.external_id)?,
            read(&d.title)?,
            None,
            d.updated_at,
        ),
        RecordView::WorkItem(w) => (
            RecordKind::WorkItem,
            read(&w.external_id)?,
            read(&w.title)?,
            Some(read(&w.status)?),
            w.updated_at,
        ),
        RecordView::Comment(c) => {
            let body = read(&c.body)?;
            let end = body.char_indices().nth(200).map_or(body.len(), |(i, _)| i);
            (
                RecordKind::Comment,
                read(&c.external_id)?,
                &body[..end],
                None,
                c.updated_at,
            )
        }
        RecordView::Requirement(q) => (
            RecordKind::Requirement,
            read(&q.external_id)?,
            read(&q.title)?,
            q.status.as_ref().map(read).transpose()?,
            q.updated_at,
        ),
        RecordView::TraceLink(t) => (
            RecordKind::TraceLink,
            read(&t.external_id)?,
            read(&t.link_type)?,
            None,
            None,
        ),
        RecordView::Person(p) => (
            RecordKind::Person,
            read(&p.external_id)?,
            read(&p.display_name)?,
            None,
            None,
        ),
        RecordView::Raw(r) => (RecordKind::Raw, read(&r.external_id)?, "", None, None),
    };
    let status_len = status.map_or(0, str::len);
    // Enough for the columns and the whole object unless text needs escaping.
    let mut text = String::with_capacity(
        external_id.len()
            + title.len()
            + status_len
            + view.json_overhead()
            + view.text_bytes() as usize,
    );
    text.push_str(external_id);
    text.push_str(title);
    text.push_str(status.unwrap_or_default());
    let ends = [
        external_id.len(),
        external_id.len() + title.len(),
        text.len(),
    ];
    let mut json = Json::new(memory, text);
    view.write(&mut json)?;
    Ok(Record {
        kind: kind_name(kind),
        updated_at: updated_at.map(Millis::from_ms),
        text: json.finish(),
        ends,
        has_status: status.is_some(),
    })
}

/// What `read` returns, lifted: the page read while the guest's memory still holds it. `R` is
/// the `record-data` of the component's contract version.
pub(super) struct Lifted<R>(pub Page, std::marker::PhantomData<R>);

// SAFETY: the ABI, flat representation and type check are exactly `PageView`'s (derived from
// the contract by wasmtime's own macro); lifting lifts a `PageView` and only reads memory.
#[allow(unsafe_code)]
unsafe impl<R: ComponentType> ComponentType for Lifted<R> {
    type Lower = <PageView<R> as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <PageView<R> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <PageView<R> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: see `ComponentType for Lifted`.
#[allow(unsafe_code)]
unsafe impl<R: Lift + Into<Entry>> Lift for Lifted<R> {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        let view = PageView::<R>::linear_lift_from_flat(cx, ty, src)?;
        Ok(Lifted(view.read(cx.memory())?, std::marker::PhantomData))
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let view = PageView::<R>::linear_lift_from_memory(cx, ty, bytes)?;
        Ok(Lifted(view.read(cx.memory())?, std::marker::PhantomData))
    }
}
