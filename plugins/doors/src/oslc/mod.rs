//! DOORS Next over OSLC RM 2.0: discovery as OSLC clients do it (`rootservices` → service
//! provider catalog → service providers → query capabilities, resource shapes), queries with
//! `oslc.where`, `oslc.select`, `oslc.pageSize` following `oslc:nextPage`, and the answers —
//! RDF/XML or Turtle, by their `Content-Type` — parsed into triples with oxrdfxml or oxttl,
//! never matched as strings.
//!
//! - `discovery`: from the connection's base URL (the `/rm` root) to the query bases of the
//!   configured project areas.
//! - `streams`: the `oslc-requirements` and `oslc-links` streams by OSLC queries, incremental
//!   by `dcterms:modified` (servers without a Tracked Resource Set).
//! - `trs`: the same streams by the server's Tracked Resource Set (base, then change log).

pub mod discovery;
pub mod streams;
pub mod trs;

use agentic_sdk::http::Request;
use agentic_sdk::Error;
use oxrdf::{Graph, NamedNodeRef, SubjectRef, TermRef};

use crate::config::Config;

/// Namespaces and terms.
pub mod ns {
    /// OSLC Core.
    pub const OSLC: &str = "http://open-services.net/ns/core#";
    /// OSLC RM 2.0.
    pub const OSLC_RM: &str = "http://open-services.net/ns/rm#";
    /// OSLC RM 1.0 (Jazz `rootservices`).
    pub const OSLC_RM_V1: &str = "http://open-services.net/xmlns/rm/1.0/";
    /// Dublin Core terms.
    pub const DCTERMS: &str = "http://purl.org/dc/terms/";
    /// RDF.
    pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
    /// RDFS.
    pub const RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
    /// DOORS Next's own vocabulary (primary text).
    pub const JAZZ_RM: &str = "http://jazz.net/ns/rm#";
    /// The older DOORS Next (RRC) vocabulary.
    pub const RDM: &str = "http://www.ibm.com/xmlns/rdm/rdf/";
    /// DOORS Next navigation (folders).
    pub const NAV: &str = "http://com.ibm.rdm/navigation#";
    /// OSLC Tracked Resource Set (2.0 and 3.0 share it).
    pub const TRS: &str = "http://open-services.net/ns/core/trs#";
    /// Linked Data Platform (the TRS base's paging and members).
    pub const LDP: &str = "http://www.w3.org/ns/ldp#";
}

/// Longest RDF answer the connector parses.
pub const MAX_RDF_BYTES: usize = 16 << 20;

/// A named node from a namespace and a local name, checked once (the terms are constants).
pub fn iri(namespace: &str, local: &str) -> String {
    format!("{namespace}{local}")
}

/// `GET url` as RDF (RDF/XML or Turtle), with the configuration context when one is
/// configured, parsed into a graph.
pub fn get_graph(config: &Config, url: &str) -> Result<Graph, Error> {
    let response = request(config, url).send()?.error_for_status()?;
    parse_graph(url, response.header("content-type"), &response.body)
}

/// [`get_graph`], `None` when the resource is gone (404, 410): a change log names resources
/// that may have been deleted since.
pub fn get_graph_if_exists(config: &Config, url: &str) -> Result<Option<Graph>, Error> {
    let response = request(config, url).send()?;
    if matches!(response.status, 404 | 410) {
        return Ok(None);
    }
    let response = response.error_for_status()?;
    parse_graph(url, response.header("content-type"), &response.body).map(Some)
}

/// What the connector asks for: RDF/XML (every DOORS Next answers it), Turtle as well.
pub const ACCEPT: &str = "application/rdf+xml, text/turtle;q=0.9";

/// `GET url` asking for RDF, with the OSLC version and the configuration context.
fn request(config: &Config, url: &str) -> Request {
    let mut request = Request::get(url)
        .header("accept", ACCEPT)
        .header("oslc-core-version", "2.0");
    if let Some(context) = &config.configuration {
        request = request.header("configuration-context", context.as_str());
    }
    request
}

/// The RDF syntaxes the connector parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    RdfXml,
    Turtle,
}

/// The syntax of an answer by its `Content-Type` (the media type, parameters aside); anything
/// else is refused, naming what came.
fn syntax(url: &str, content_type: Option<&str>) -> Result<Syntax, Error> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("application/rdf+xml" | "application/xml" | "text/xml") => Ok(Syntax::RdfXml),
        Some("text/turtle" | "application/x-turtle") => Ok(Syntax::Turtle),
        Some(other) => Err(Error::Internal(format!(
            "{url}: the answer is {other}, not RDF/XML or Turtle (asked for {ACCEPT})"
        ))),
        None => Err(Error::Internal(format!(
            "{url}: the answer has no Content-Type (asked for {ACCEPT})"
        ))),
    }
}

/// Parses an answer as its `Content-Type` says: RDF/XML with oxrdfxml, Turtle with oxttl. In
/// RDF/XML a `DOCTYPE` is refused before parsing: RDF answers need no DTD, and a DTD's
/// entities are how XML bombs work.
pub fn parse_graph(url: &str, content_type: Option<&str>, body: &[u8]) -> Result<Graph, Error> {
    if body.len() > MAX_RDF_BYTES {
        return Err(Error::Internal(format!(
            "{url}: the answer has {} bytes, more than the {MAX_RDF_BYTES} the connector parses",
            body.len()
        )));
    }
    let syntax = syntax(url, content_type)?;
    let not_iri = |e| Error::Internal(format!("{url}: not an IRI: {e}"));
    let mut graph = Graph::new();
    match syntax {
        Syntax::RdfXml => {
            if body
                .windows(9)
                .any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
            {
                return Err(Error::Internal(format!(
                    "{url}: the answer has a DOCTYPE, which the connector refuses"
                )));
            }
            let parser = oxrdfxml::RdfXmlParser::new()
                .with_base_iri(url)
                .map_err(not_iri)?;
            for triple in parser.for_slice(body) {
                let triple = triple.map_err(|e| {
                    Error::Internal(format!("{url}: the answer is not RDF/XML: {e}"))
                })?;
                graph.insert(&triple);
            }
        }
        Syntax::Turtle => {
            let parser = oxttl::TurtleParser::new()
                .with_base_iri(url)
                .map_err(not_iri)?;
            for triple in parser.for_slice(body) {
                let triple = triple.map_err(|e| {
                    Error::Internal(format!("{url}: the answer is not Turtle: {e}"))
                })?;
                graph.insert(&triple);
            }
        }
    }
    Ok(graph)
}

/// The IRI objects of `subject` `predicate`.
pub fn iris<'a>(graph: &'a Graph, subject: SubjectRef<'a>, predicate: &str) -> Vec<String> {
    graph
        .objects_for_subject_predicate(subject, NamedNodeRef::new_unchecked(predicate))
        .filter_map(|o| match o {
            TermRef::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// The first literal (or IRI) value of `subject` `predicate`, as text.
pub fn text(graph: &Graph, subject: SubjectRef<'_>, predicate: &str) -> Option<String> {
    graph
        .objects_for_subject_predicate(subject, NamedNodeRef::new_unchecked(predicate))
        .find_map(|o| match o {
            TermRef::Literal(l) => Some(l.value().to_owned()),
            TermRef::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
}

/// The subjects with `predicate` pointing at IRI `object`.
pub fn subjects_with<'a>(graph: &'a Graph, predicate: &str, object: &str) -> Vec<SubjectRef<'a>> {
    graph
        .subjects_for_predicate_object(
            NamedNodeRef::new_unchecked(predicate),
            NamedNodeRef::new_unchecked(object),
        )
        .collect()
}

/// The last segment of an IRI (after `#` or `/`), for names without a shape.
pub fn local_name(iri: &str) -> &str {
    iri.rsplit(['#', '/'])
        .find(|s| !s.is_empty())
        .unwrap_or(iri)
}
