//! From the connection's base URL to query capabilities, as OSLC clients discover them: no
//! path is assumed but `rootservices` under the base URL (Jazz's discovery document).
//!
//! `rootservices` names the RM service provider catalog (`oslc_rm:rmServiceProviders`); the
//! catalog lists service providers (project areas) with their titles; each provider's services
//! in the RM domain list query capabilities for `oslc_rm:Requirement` with their query base
//! and, when given, the resource shape.

use std::collections::HashMap;

use agentic_sdk::http;
use agentic_sdk::Error;
use oxrdf::{NamedNodeRef, SubjectRef};

use super::{get_graph, iri, iris, ns, text};
use crate::config::Config;

/// A project area's requirement query capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCapability {
    /// The service provider (project area) URL.
    pub provider: String,
    /// Its title.
    pub title: String,
    /// `oslc:queryBase`.
    pub query_base: String,
}

/// The query capabilities for requirements of the configured project areas (all, when none
/// is configured), ordered by provider URL. A configured project area the catalog does not
/// list is a configuration error naming it.
pub fn query_capabilities(config: &Config) -> Result<Vec<QueryCapability>, Error> {
    let rootservices = http::endpoint("/rootservices")?;
    let graph = get_graph(config, &rootservices)?;
    let catalog = graph
        .triples_for_predicate(NamedNodeRef::new_unchecked(&iri(
            ns::OSLC_RM_V1,
            "rmServiceProviders",
        )))
        .find_map(|t| match t.object {
            oxrdf::TermRef::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::Config(format!(
                "{rootservices} names no RM service provider catalog (oslc_rm:rmServiceProviders): \
                 is the base URL the /rm root of a DOORS Next server?"
            ))
        })?;
    let graph = get_graph(config, &catalog)?;
    let mut providers: Vec<(String, String)> = Vec::new();
    for t in graph.triples_for_predicate(NamedNodeRef::new_unchecked(&iri(
        ns::OSLC,
        "serviceProvider",
    ))) {
        if let oxrdf::TermRef::NamedNode(p) = t.object {
            let title = text(&graph, SubjectRef::NamedNode(p), &iri(ns::DCTERMS, "title"))
                .unwrap_or_default();
            providers.push((p.as_str().to_owned(), title));
        }
    }
    providers.sort();
    providers.dedup();
    if !config.project_areas.is_empty() {
        for wanted in &config.project_areas {
            if !providers.iter().any(|(_, t)| t == wanted) {
                let known: Vec<&str> = providers.iter().map(|(_, t)| t.as_str()).collect();
                return Err(Error::Config(format!(
                    "project_areas: {wanted:?} is not in the catalog {catalog} (it lists {known:?})"
                )));
            }
        }
        providers.retain(|(_, t)| config.project_areas.contains(t));
    }
    let mut out = Vec::new();
    for (provider, title) in providers {
        let graph = get_graph(config, &provider)?;
        let requirement = iri(ns::OSLC_RM, "Requirement");
        for t in graph.triples_for_predicate(NamedNodeRef::new_unchecked(&iri(
            ns::OSLC,
            "queryCapability",
        ))) {
            let capability = match t.object {
                oxrdf::TermRef::NamedNode(n) => SubjectRef::NamedNode(n),
                oxrdf::TermRef::BlankNode(b) => SubjectRef::BlankNode(b),
                _ => continue,
            };
            let types = iris(&graph, capability, &iri(ns::OSLC, "resourceType"));
            if !types.contains(&requirement) {
                continue;
            }
            if let Some(query_base) = iris(&graph, capability, &iri(ns::OSLC, "queryBase")).pop() {
                out.push(QueryCapability {
                    provider: provider.clone(),
                    title: title.clone(),
                    query_base,
                });
            }
        }
    }
    Ok(out)
}

/// Resource shapes, fetched once per call: property IRI → its `oslc:name` (or
/// `dcterms:title`), and the shape's title.
#[derive(Debug, Default)]
pub struct Shapes {
    shapes: HashMap<String, Shape>,
}

/// One resource shape.
#[derive(Debug, Default, Clone)]
pub struct Shape {
    /// `dcterms:title`.
    pub title: Option<String>,
    /// `oslc:propertyDefinition` → `oslc:name`.
    pub names: HashMap<String, String>,
}

impl Shapes {
    /// The shape at `url` (fetched on first use; a shape that cannot be read is empty, and
    /// attributes then go by their property's local name).
    pub fn get(&mut self, config: &Config, url: &str) -> &Shape {
        if !self.shapes.contains_key(url) {
            let shape = match get_graph(config, url) {
                Ok(graph) => {
                    let subject = SubjectRef::NamedNode(NamedNodeRef::new_unchecked(url));
                    let mut shape = Shape {
                        title: text(&graph, subject, &iri(ns::DCTERMS, "title")),
                        names: HashMap::new(),
                    };
                    for t in graph.triples_for_predicate(NamedNodeRef::new_unchecked(&iri(
                        ns::OSLC,
                        "propertyDefinition",
                    ))) {
                        let (oxrdf::TermRef::NamedNode(definition), property) =
                            (t.object, t.subject)
                        else {
                            continue;
                        };
                        let name = text(&graph, property, &iri(ns::OSLC, "name"))
                            .or_else(|| text(&graph, property, &iri(ns::DCTERMS, "title")));
                        if let Some(name) = name {
                            shape.names.insert(definition.as_str().to_owned(), name);
                        }
                    }
                    shape
                }
                Err(e) => {
                    agentic_sdk::log(
                        agentic_sdk::LogLevel::Warn,
                        &format!("resource shape {url} could not be read: {e}"),
                    );
                    Shape::default()
                }
            };
            self.shapes.insert(url.to_owned(), shape);
        }
        &self.shapes[url]
    }
}
