//! The DOORS Next streams: `oslc-requirements` (requirements with every property, primary text
//! as Markdown, custom attributes by their shape's names) and `oslc-links` (the requirements'
//! OSLC RM link properties — `validatedBy`, `implementedBy`, `satisfiedBy`, `elaboratedBy`,
//! `specifiedBy`, `trackedBy`, `affectedBy`, `decomposes`, `decomposedBy`, … — and the custom
//! link types configured by URI, as trace links).
//!
//! Both walk the query capabilities of the configured project areas in order, one query page
//! per `read`, following `oslc:nextPage`. They are incremental by `dcterms:modified`: a run
//! that ends keeps the latest modification time it saw, and the next run asks only for
//! requirements modified after it (`oslc.where=dcterms:modified>"…"^^xsd:dateTime`). A run
//! from no state reads everything, so a full sync finds deletions.

use agentic_sdk::http::Request;
use agentic_sdk::serde_json::{json, Map, Value};
use agentic_sdk::{Error, Page, RecordData, Requirement, TraceLink};
use oxrdf::{Graph, NamedNodeRef, SubjectRef, TermRef};
use serde::{Deserialize, Serialize};

use super::discovery::{query_capabilities, Shapes};
use super::{get_graph, iri, iris, local_name, ns, text};
use crate::config::Config;
use crate::time::parse_datetime;

/// The requirements stream.
pub const REQUIREMENTS: &str = "oslc-requirements";
/// The links stream.
pub const LINKS: &str = "oslc-links";

/// OSLC RM link properties (local names in the RM namespace).
pub const RM_LINKS: &[&str] = &[
    "validatedBy",
    "implementedBy",
    "satisfiedBy",
    "satisfies",
    "elaboratedBy",
    "elaborates",
    "specifiedBy",
    "specifies",
    "trackedBy",
    "affectedBy",
    "decomposes",
    "decomposedBy",
    "constrainedBy",
    "constrains",
];

/// Where a read is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Requirements modified after this (`None`: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The latest `dcterms:modified` seen in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<String>,
    /// The query capability being read (index in the ordered list).
    #[serde(default)]
    capability: usize,
    /// The next page's URL, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// Whether a run is under way (`false`: the state of a finished run).
    #[serde(default)]
    running: bool,
}

/// One page of `stream`: by the Tracked Resource Set when the server advertises one, else by
/// OSLC queries.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    if let Some(trs) = super::trs::discover(config)? {
        return super::trs::read(config, stream, state, &trs);
    }
    // A state a TRS run left (the server no longer offers one): a query run from the start.
    let state = state.filter(|s| !super::trs::is_trs_state(s));
    let mut state: State = match state {
        None => State {
            running: true,
            ..State::default()
        },
        Some(s) => agentic_sdk::serde_json::from_str(s).map_err(|e| {
            Error::InvalidInput(format!("state {s:?} is not an OSLC read position: {e}"))
        })?,
    };
    if !state.running {
        // The previous run ended: a new one from its high-water mark.
        state = State {
            since: state.since.clone(),
            running: true,
            ..State::default()
        };
    }
    let capabilities = query_capabilities(config)?;
    let Some(capability) = capabilities.get(state.capability) else {
        return Ok(finish(state, Vec::new()));
    };
    let url = match &state.next {
        Some(next) => next.clone(),
        None => query_url(config, &capability.query_base, state.since.as_deref()),
    };
    let graph = get_graph(config, &url)?;
    let mut shapes = Shapes::default();
    let members = members(&graph, &capability.query_base);
    let mut records: Vec<RecordData> = Vec::new();
    for subject in &members {
        let s = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(subject));
        if let Some(modified) = text(&graph, s, &iri(ns::DCTERMS, "modified")) {
            if later(&modified, state.seen.as_deref()) {
                state.seen = Some(modified);
            }
        }
        if stream == REQUIREMENTS {
            records
                .push(requirement(config, &graph, subject, &capability.title, &mut shapes).into());
        } else {
            records.extend(
                links(config, &graph, subject)
                    .into_iter()
                    .map(RecordData::from),
            );
        }
    }
    let next = graph
        .triples_for_predicate(NamedNodeRef::new_unchecked(&iri(ns::OSLC, "nextPage")))
        .find_map(|t| match t.object {
            TermRef::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
        .filter(|n| *n != url);
    match next {
        Some(next) => {
            state.next = Some(next);
            Ok(page(state, records, true))
        }
        None if state.capability + 1 < capabilities.len() => {
            state.capability += 1;
            state.next = None;
            Ok(page(state, records, true))
        }
        None => Ok(finish(state, records)),
    }
}

fn page(state: State, records: Vec<RecordData>, has_more: bool) -> Page {
    Page {
        records,
        state: agentic_sdk::serde_json::to_string(&state).unwrap_or_default(),
        has_more,
        deleted: Vec::new(),
    }
}

/// The end of a run: the next one starts after the latest modification seen.
fn finish(state: State, records: Vec<RecordData>) -> Page {
    let done = State {
        since: state.seen.or(state.since),
        running: false,
        ..State::default()
    };
    page(done, records, false)
}

/// Whether `modified` is later than `than`.
fn later(modified: &str, than: Option<&str>) -> bool {
    match (parse_datetime(modified), than.and_then(parse_datetime)) {
        (Some(m), Some(t)) => m > t,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The first query page: every property, `page_size` a page, modified after `since`.
pub fn query_url(config: &Config, query_base: &str, since: Option<&str>) -> String {
    let mut request = Request::get(query_base)
        .query(
            "oslc.prefix",
            "dcterms=<http://purl.org/dc/terms/>,xsd=<http://www.w3.org/2001/XMLSchema#>",
        )
        .query("oslc.select", "*")
        .query("oslc.pageSize", config.page_size.to_string());
    if let Some(since) = since {
        request = request.query(
            "oslc.where",
            format!("dcterms:modified>\"{since}\"^^xsd:dateTime"),
        );
    }
    if let Some(context) = &config.configuration {
        request = request.query("oslc_config.context", context);
    }
    request.url
}

/// The resources of a query page: the query base's `rdfs:member`s, else every
/// `oslc_rm:Requirement`; sorted, so a page always yields its records in one order.
fn members(graph: &Graph, query_base: &str) -> Vec<String> {
    let base = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(query_base));
    let mut members = iris(graph, base, &iri(ns::RDFS, "member"));
    if members.is_empty() {
        members = graph
            .subjects_for_predicate_object(
                NamedNodeRef::new_unchecked(&iri(ns::RDF, "type")),
                NamedNodeRef::new_unchecked(&iri(ns::OSLC_RM, "Requirement")),
            )
            .filter_map(|s| match s {
                SubjectRef::NamedNode(n) => Some(n.as_str().to_owned()),
                _ => None,
            })
            .collect();
    }
    members.sort();
    members.dedup();
    members
}

/// Whether `predicate` is a link type: an OSLC RM link property or a configured custom one.
fn link_type(config: &Config, predicate: &str) -> Option<String> {
    if let Some(local) = predicate.strip_prefix(ns::OSLC_RM) {
        if RM_LINKS.contains(&local) {
            return Some(local.to_owned());
        }
    }
    config
        .link_types
        .iter()
        .any(|t| t == predicate)
        .then(|| predicate.to_owned())
}

/// A resource's trace links.
pub(super) fn links(config: &Config, graph: &Graph, subject: &str) -> Vec<TraceLink> {
    let s = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(subject));
    let mut out = Vec::new();
    for t in graph.triples_for_subject(s) {
        let TermRef::NamedNode(target) = t.object else {
            continue;
        };
        if let Some(kind) = link_type(config, t.predicate.as_str()) {
            out.push(TraceLink {
                external_id: format!("{subject} {} {}", t.predicate.as_str(), target.as_str()),
                source: subject.to_owned(),
                target: target.as_str().to_owned(),
                link_type: kind,
            });
        }
    }
    out.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    out
}

/// A resource as a requirement.
pub(super) fn requirement(
    config: &Config,
    graph: &Graph,
    subject: &str,
    project_area: &str,
    shapes: &mut Shapes,
) -> Requirement {
    let s = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(subject));
    let shape_url = iris(graph, s, &iri(ns::OSLC, "instanceShape")).pop();
    let shape = shape_url
        .as_deref()
        .map(|u| shapes.get(config, u).clone())
        .unwrap_or_default();
    let handled = [
        iri(ns::DCTERMS, "identifier"),
        iri(ns::DCTERMS, "title"),
        iri(ns::DCTERMS, "created"),
        iri(ns::DCTERMS, "modified"),
        iri(ns::JAZZ_RM, "primaryText"),
        iri(ns::RDM, "primaryText"),
        iri(ns::RDF, "type"),
        iri(ns::OSLC, "instanceShape"),
        // The project area, in `oslc.project_area`.
        iri(ns::OSLC, "serviceProvider"),
    ];
    let mut attributes = Map::new();
    for t in graph.triples_for_subject(s) {
        let predicate = t.predicate.as_str();
        if handled.iter().any(|h| h == predicate) || link_type(config, predicate).is_some() {
            continue;
        }
        let name = shape
            .names
            .get(predicate)
            .cloned()
            .unwrap_or_else(|| local_name(predicate).to_owned());
        let value = match t.object {
            TermRef::Literal(l) => literal_value(l.value(), l.datatype().as_str()),
            TermRef::NamedNode(n) => Value::from(n.as_str()),
            _ => continue,
        };
        match attributes.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                attributes.insert(name, value);
            }
        }
    }
    let types: Vec<String> = iris(graph, s, &iri(ns::RDF, "type"))
        .iter()
        .map(|t| local_name(t).to_owned())
        .collect();
    let primary = text(graph, s, &iri(ns::JAZZ_RM, "primaryText"))
        .or_else(|| text(graph, s, &iri(ns::RDM, "primaryText")))
        .or_else(|| text(graph, s, &iri(ns::DCTERMS, "description")))
        .unwrap_or_default();
    let status = attributes
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("status"))
        .and_then(|(_, v)| v.as_str().map(str::to_owned));
    attributes.insert(
        "oslc".into(),
        json!({
            "type": shape.title.clone().or_else(|| types.first().cloned()),
            "rdf_types": types,
            "shape": shape_url,
            "project_area": project_area,
            "url": subject,
        }),
    );
    Requirement {
        external_id: subject.to_owned(),
        identifier: text(graph, s, &iri(ns::DCTERMS, "identifier"))
            .unwrap_or_else(|| local_name(subject).to_owned()),
        title: text(graph, s, &iri(ns::DCTERMS, "title")).unwrap_or_default(),
        text: xhtml_to_markdown(&primary),
        module: None,
        parent: None,
        status,
        created_at: text(graph, s, &iri(ns::DCTERMS, "created")).and_then(|d| parse_datetime(&d)),
        updated_at: text(graph, s, &iri(ns::DCTERMS, "modified")).and_then(|d| parse_datetime(&d)),
        attributes,
    }
}

/// A literal as JSON: numbers and booleans typed by their XSD datatype, the rest as text.
fn literal_value(value: &str, datatype: &str) -> Value {
    let xsd = datatype.strip_prefix("http://www.w3.org/2001/XMLSchema#");
    match xsd {
        Some("integer" | "int" | "long") => value
            .parse::<i64>()
            .map_or_else(|_| Value::from(value), Value::from),
        Some("double" | "float" | "decimal") => value
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or_else(|| Value::from(value), Value::from),
        Some("boolean") => Value::from(value == "true" || value == "1"),
        _ => Value::from(value),
    }
}

/// Primary text (an XHTML literal, or plain text) as Markdown.
pub fn xhtml_to_markdown(text: &str) -> String {
    if !text.trim_start().starts_with('<') {
        return text.trim().to_owned();
    }
    let mut md = crate::xhtml::ToMarkdown::new();
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .flatten()
                    .filter_map(|a| {
                        Some((
                            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                            a.unescape_value().ok()?.into_owned(),
                        ))
                    })
                    .collect();
                md.start(&name, |k| {
                    attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
                });
            }
            Ok(quick_xml::events::Event::End(e)) => {
                md.end(&String::from_utf8_lossy(e.local_name().as_ref()));
            }
            Ok(quick_xml::events::Event::Text(t)) => {
                if let Ok(t) = t.xml_content() {
                    md.text(&t);
                }
            }
            Ok(quick_xml::events::Event::GeneralRef(r)) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&String::from_utf8_lossy(&r))
                        .map(str::to_owned)
                };
                if let Some(t) = resolved {
                    md.text(&t);
                }
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    md.finish()
}
