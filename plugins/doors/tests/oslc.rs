//! DOORS Next over OSLC RM against the fake built from the Lyo fixtures: discovery from
//! `rootservices` (no path assumed but that one), the configuration context on every request,
//! paging by `oslc:nextPage`, requirements mapped field by field (primary text as Markdown,
//! the custom attribute by its shape's name), links, incremental reads by `dcterms:modified`,
//! and the SDK's acceptance suite.

use agentic_sdk::testing::{acceptance, Acceptance, Harness};
use agentic_sdk::{Error, RecordData, Requirement, TraceLink};
use doors::DoorsConnector;
use serde_json::{json, Value};

use crate::support::jazz::{FakeDoorsNext, DERIVED_FROM, PROJECT_AREA};

const CONFIGURATION: &str = "https://jazz.example.com/rm/cm/stream/_s1";

fn config(page_size: u32) -> Value {
    json!({"source": "doors-next", "project_areas": [PROJECT_AREA], "configuration": CONFIGURATION, "page_size": page_size})
}

fn harness(dn: &FakeDoorsNext) -> Harness<DoorsConnector> {
    Harness::new(DoorsConnector).with_base_url(dn.base_url())
}

fn requirements(pages: &[agentic_sdk::Page]) -> Vec<Requirement> {
    pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| match r {
            RecordData::Requirement(r) => r.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn links(pages: &[agentic_sdk::Page]) -> Vec<TraceLink> {
    pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| match r {
            RecordData::TraceLink(l) => l.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn discovery_paging_and_mapping() {
    let dn = FakeDoorsNext::start(23);
    dn.data.lock().unwrap().configuration = Some(CONFIGURATION.into());
    let h = harness(&dn);
    assert_eq!(
        h.check(&config(5)).unwrap(),
        "DOORS Next: 1 requirement query capabilities in Brakes"
    );
    let pages = h.read_all(&config(5), "oslc-requirements", None).unwrap();
    assert_eq!(
        pages.len(),
        5,
        "23 requirements, 5 a page, by oslc:nextPage"
    );
    let reqs = requirements(&pages);
    assert_eq!(reqs.len(), 23);
    let r = reqs
        .iter()
        .find(|r| r.external_id == dn.req_uri(7))
        .unwrap();
    assert_eq!(r.identifier, "7");
    assert_eq!(r.title, "Req07");
    assert_eq!(r.text, "The brake **shall** hold 7 kN.");
    assert_eq!(r.updated_at, Some(1_700_000_000_000 + 7 * 60_000));
    assert_eq!(
        r.attributes["Risk"],
        json!(2),
        "the custom property by its shape's name"
    );
    assert_eq!(
        r.attributes["parent"],
        json!(format!("{}/rm/folders/1", dn.url()))
    );
    assert_eq!(r.attributes["oslc"]["project_area"], json!(PROJECT_AREA));
    assert_eq!(r.attributes["oslc"]["type"], json!("User Requirement"));
    // Every query carried the configuration, the select and the page size.
    let queries = dn.queries();
    assert!(!queries.is_empty());
    for q in &queries {
        assert_eq!(q.header("configuration-context"), Some(CONFIGURATION));
        assert_eq!(q.query("oslc.select"), Some("*"));
        assert_eq!(q.query("oslc.pageSize"), Some("5"));
        assert_eq!(q.header("oslc-core-version"), Some("2.0"));
    }
}

#[test]
fn links_are_trace_links_typed_by_their_property() {
    let dn = FakeDoorsNext::start(10);
    let h = harness(&dn);
    let found = links(&h.read_all(&config(4), "oslc-links", None).unwrap());
    let want: Vec<(String, String, String)> = [3, 6, 9]
        .iter()
        .map(|i| (dn.req_uri(*i), dn.req_uri(i + 1), "validatedBy".to_owned()))
        .collect();
    let got: Vec<(String, String, String)> = found
        .iter()
        .map(|l| (l.source.clone(), l.target.clone(), l.link_type.clone()))
        .collect();
    assert_eq!(got, want);
    dn.data.lock().unwrap().reqs[0].links.push(("trackedBy", 2));
    // A custom link type is a link only when configured by its URI.
    dn.data.lock().unwrap().reqs[1]
        .links
        .push((DERIVED_FROM, 5));
    let found = links(&h.read_all(&config(4), "oslc-links", None).unwrap());
    assert!(found
        .iter()
        .any(|l| l.link_type == "trackedBy" && l.source == dn.req_uri(1)));
    assert!(!found.iter().any(|l| l.source == dn.req_uri(2)));
    let custom = json!({"source": "doors-next", "link_types": [DERIVED_FROM]});
    let found = links(&h.read_all(&custom, "oslc-links", None).unwrap());
    let derived: Vec<_> = found.iter().filter(|l| l.source == dn.req_uri(2)).collect();
    assert_eq!(derived.len(), 1, "{found:?}");
    assert_eq!(
        (derived[0].target.as_str(), derived[0].link_type.as_str()),
        (dn.req_uri(5).as_str(), DERIVED_FROM)
    );
    // Without the configuration the property is an attribute (its IRI), by its local name.
    let reqs = requirements(&h.read_all(&config(4), "oslc-requirements", None).unwrap());
    let r2 = reqs
        .iter()
        .find(|r| r.external_id == dn.req_uri(2))
        .unwrap();
    assert_eq!(r2.attributes["derivedFrom"], json!(dn.req_uri(5)));
}

#[test]
fn incremental_reads_ask_only_for_what_changed_since() {
    let dn = FakeDoorsNext::start(12);
    let h = harness(&dn);
    let pages = h.read_all(&config(5), "oslc-requirements", None).unwrap();
    let last = pages.last().unwrap().state.clone();
    // Nothing changed: the next run reads nothing.
    let none = h
        .read_all(&config(5), "oslc-requirements", Some(&last))
        .unwrap();
    assert_eq!(requirements(&none).len(), 0);
    // Two requirements change.
    {
        let mut d = dn.data.lock().unwrap();
        d.reqs[3].title = "Req04 revised".into();
        d.reqs[3].modified = 1_800_000_000_000;
        d.reqs[8].modified = 1_800_000_060_000;
    }
    let before = dn.queries().len();
    let changed = requirements(
        &h.read_all(&config(5), "oslc-requirements", Some(&last))
            .unwrap(),
    );
    let ids: Vec<&str> = changed.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids, ["4", "9"]);
    assert_eq!(changed[0].title, "Req04 revised");
    let q = &dn.queries()[before];
    assert_eq!(
        q.query("oslc.where"),
        Some("dcterms:modified>\"2023-11-14T22:25:20.000Z\"^^xsd:dateTime"),
        "after the latest modification the last run saw (requirement 12)"
    );
}

#[test]
fn configuration_errors_name_what_is_wrong() {
    let dn = FakeDoorsNext::start(2);
    let h = harness(&dn);
    let wrong = json!({"source": "doors-next", "project_areas": ["Wheels"]});
    let Err(Error::Config(m)) = h.check(&wrong) else {
        panic!()
    };
    assert!(
        m.contains("\"Wheels\" is not in the catalog") && m.contains("Brakes"),
        "{m}"
    );
    // A base URL that is not a DOORS Next /rm root.
    let h = Harness::new(DoorsConnector).with_base_url(format!("{}/elsewhere", dn.url()));
    let err = h.check(&json!({"source": "doors-next"})).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    // The stream of the other source is refused.
    let h = harness(&dn);
    let err = h
        .read(&json!({"source": "doors-next"}), "requirements", None)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[test]
fn a_doctype_in_an_answer_is_refused() {
    let err = doors::oslc::parse_graph(
        "http://x/rm/rootservices",
        Some("application/rdf+xml"),
        b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/>",
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("DOCTYPE")),
        "{err:?}"
    );
}

#[test]
fn turtle_answers_give_the_same_records_as_rdf_xml() {
    let dn = FakeDoorsNext::start(11);
    dn.data.lock().unwrap().configuration = Some(CONFIGURATION.into());
    let h = harness(&dn);
    let read = |stream: &str| {
        let mut records: Vec<RecordData> = h
            .read_all(&config(4), stream, None)
            .unwrap()
            .into_iter()
            .flat_map(|p| p.records)
            .collect();
        records.sort_by(|a, b| a.external_id().cmp(b.external_id()));
        records
    };
    let (reqs, links) = (read("oslc-requirements"), read("oslc-links"));
    assert_eq!(reqs.len(), 11);
    dn.data.lock().unwrap().turtle = true;
    let before = dn.data.lock().unwrap().seen.len();
    assert_eq!(read("oslc-requirements"), reqs);
    assert_eq!(read("oslc-links"), links);
    // Every answer was Turtle, asked for with RDF/XML first.
    let seen = dn.data.lock().unwrap().seen[before..].to_vec();
    assert!(seen.len() > 5);
    for r in &seen {
        assert_eq!(
            r.header("accept"),
            Some("application/rdf+xml, text/turtle;q=0.9")
        );
    }
    // And through the Tracked Resource Set, whose change log is a blank node.
    dn.enable_trs(4, 5);
    assert_eq!(read("oslc-requirements"), reqs);
}

#[test]
fn an_answer_that_is_not_rdf_is_refused_naming_its_type() {
    let dn = FakeDoorsNext::start(2);
    dn.data.lock().unwrap().rootservices_content_type = Some("text/html; charset=utf-8".into());
    let err = harness(&dn).check(&config(5)).unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("/rm/rootservices: the answer is text/html, not RDF/XML or Turtle")),
        "{err:?}"
    );
    let err =
        doors::oslc::parse_graph("http://x/rm/rootservices", None, b"<rdf:RDF/>").unwrap_err();
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("no Content-Type")),
        "{err:?}"
    );
}

#[test]
fn doors_next_passes_the_acceptance_suite() {
    let dn = FakeDoorsNext::start(9);
    let report = acceptance::<DoorsConnector>(&Acceptance {
        base_url: Some(dn.base_url()),
        config: json!({"source": "doors-next", "page_size": 4}),
        bad_config: json!({"source": "doors-next", "page_size": 0}),
        manifest: Some(doors::MANIFEST),
        ..Acceptance::default()
    });
    let counts: Vec<_> = report
        .streams
        .iter()
        .map(|s| (s.name.as_str(), s.records))
        .collect();
    assert_eq!(counts, [("oslc-requirements", 9), ("oslc-links", 2)]);
}
