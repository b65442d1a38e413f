//! A fake DOORS Next (RM) server built from the Lyo project's fixtures (`fixtures/oslc`):
//! `rootservices`, the service provider catalog (one project area, `Brakes`), its service
//! provider with the requirement query capability, the requirement resource shape (plus one
//! custom property, `Risk`), and OSLC queries answered with `resource_requirement.xml` filled
//! in per requirement — `oslc.pageSize` pages linked by `oslc:nextPage`, `oslc.where` on
//! `dcterms:modified`, and, when the fake is given a configuration, a 400 for a query without
//! it in `Configuration-Context`. Each requirement is also served at its own URI.
//!
//! With [`FakeDoorsNext::enable_trs`], `rootservices` advertises a Tracked Resource Set the way
//! DOORS Next does (a `trs:TrackedResourceSetProvider` for the RM domain, `/rm/trs2`): its base
//! lists the requirements (LDP pages of `base_page` members) and its change log holds a
//! Creation per requirement, then the events of [`FakeDoorsNext::modify`] and
//! [`FakeDoorsNext::delete`], newest first in segments of `log_segment` events linked by
//! `trs:previous`; [`FakeDoorsNext::truncate_through`] drops old events as servers do.

use std::sync::{Arc, Mutex};

use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};

const ROOTSERVICES: &str = include_str!("../fixtures/oslc/rootservices_rm.xml");
const CATALOG: &str = include_str!("../fixtures/oslc/catalog_rm.xml");
const PROVIDER: &str = include_str!("../fixtures/oslc/serviceprovider_rm.xml");
const SHAPE: &str = include_str!("../fixtures/oslc/shape_requirement.xml");
const REQUIREMENT: &str = include_str!("../fixtures/oslc/resource_requirement.xml");
const EMPTY: &str = include_str!("../fixtures/oslc/query_empty.xml");

/// The project area's title.
pub const PROJECT_AREA: &str = "Brakes";
/// A custom link type's URI (links given with it as their kind are written with it).
pub const DERIVED_FROM: &str = "http://example.com/rm/links#derivedFrom";
/// The custom property's URI.
pub const RISK: &str = "http://example.com/rm/attributes#risk";

/// A requirement the fake serves.
#[derive(Debug, Clone, PartialEq)]
pub struct DnReq {
    pub number: u32,
    pub title: String,
    /// The primary text, XHTML.
    pub xhtml: String,
    /// `dcterms:modified`, Unix millis.
    pub modified: i64,
    pub risk: i64,
    /// (OSLC RM link property local name, or [`DERIVED_FROM`], target requirement number).
    pub links: Vec<(&'static str, u32)>,
}

/// What the fake holds and saw.
#[derive(Debug, Default)]
pub struct DnData {
    pub reqs: Vec<DnReq>,
    /// The configuration every query must carry in `Configuration-Context`.
    pub configuration: Option<String>,
    pub seen: Vec<FakeRequest>,
    /// The Tracked Resource Set, when the fake offers one.
    pub trs: Option<FakeTrs>,
    /// Answer in Turtle whoever accepts it (the same graphs, serialized with oxttl).
    pub turtle: bool,
    /// Answer `rootservices` with this content type instead (an HTML login page, say).
    pub rootservices_content_type: Option<String>,
}

/// The fake's Tracked Resource Set.
#[derive(Debug, Default)]
pub struct FakeTrs {
    /// (order, `Creation`/`Modification`/`Deletion`, requirement number), oldest first.
    pub events: Vec<(u64, &'static str, u32)>,
    /// Events per change log segment.
    pub log_segment: usize,
    /// Members per base page.
    pub base_page: usize,
}

/// The fake, running.
pub struct FakeDoorsNext {
    server: FakeServer,
    pub data: Arc<Mutex<DnData>>,
}

impl FakeDoorsNext {
    /// Serves `n` requirements, modified a minute apart; every third validated by the next.
    pub fn start(n: u32) -> Self {
        let reqs = (1..=n)
            .map(|i| DnReq {
                number: i,
                title: format!("Req{i:02}"),
                xhtml: format!(
                    "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>The brake <b>shall</b> hold {i} kN.</p></div>"
                ),
                modified: 1_700_000_000_000 + i64::from(i) * 60_000,
                risk: i64::from(i % 5),
                links: if i % 3 == 0 && i < n { vec![("validatedBy", i + 1)] } else { Vec::new() },
            })
            .collect();
        let data = Arc::new(Mutex::new(DnData {
            reqs,
            ..DnData::default()
        }));
        let shared = data.clone();
        let server = FakeServer::start(move |request| {
            let mut data = shared.lock().unwrap();
            data.seen.push(request.clone());
            let mut response = answer(&data, request);
            let accepts_turtle = request
                .header("accept")
                .is_some_and(|a| a.contains("text/turtle"));
            if data.turtle && accepts_turtle && response.status == 200 {
                response = to_turtle(response, request);
            }
            if let (Some(kind), "/rm/rootservices") =
                (&data.rootservices_content_type, request.path.as_str())
            {
                response.headers = vec![("content-type".into(), kind.clone())];
            }
            response
        });
        // The server's own URL is only known once it runs: answers use the Host header.
        Self { server, data }
    }

    /// The connection's base URL: the `/rm` root.
    pub fn base_url(&self) -> String {
        format!("{}/rm", self.server.url())
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The URI of requirement `n`.
    pub fn req_uri(&self, n: u32) -> String {
        format!("{}/rm/oslc/rm/req{n:02}", self.server.url())
    }

    /// Offers a Tracked Resource Set: a Creation event per requirement so far.
    pub fn enable_trs(&self, log_segment: usize, base_page: usize) {
        let mut data = self.data.lock().unwrap();
        let events = data
            .reqs
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, "Creation", r.number))
            .collect();
        data.trs = Some(FakeTrs {
            events,
            log_segment,
            base_page,
        });
    }

    fn event(data: &mut DnData, kind: &'static str, number: u32) {
        let trs = data.trs.as_mut().expect("enable_trs first");
        let order = trs.events.last().map_or(1, |e| e.0 + 1);
        trs.events.push((order, kind, number));
    }

    /// Requirement `n` gets a new title (a Modification event; a Creation when it is new).
    pub fn modify(&self, n: u32, title: &str) {
        let mut data = self.data.lock().unwrap();
        let kind = match data.reqs.iter_mut().find(|r| r.number == n) {
            Some(r) => {
                r.title = title.to_owned();
                r.modified += 3_600_000;
                "Modification"
            }
            None => {
                let mut r = data.reqs[0].clone();
                r.number = n;
                r.title = title.to_owned();
                r.links.clear();
                data.reqs.push(r);
                "Creation"
            }
        };
        Self::event(&mut data, kind, n);
    }

    /// Requirement `n` is deleted (a Deletion event).
    pub fn delete(&self, n: u32) {
        let mut data = self.data.lock().unwrap();
        data.reqs.retain(|r| r.number != n);
        Self::event(&mut data, "Deletion", n);
    }

    /// The change log forgets the events up to `order`, as servers truncate it.
    pub fn truncate_through(&self, order: u64) {
        let mut data = self.data.lock().unwrap();
        let trs = data.trs.as_mut().expect("enable_trs first");
        trs.events.retain(|e| e.0 > order);
    }

    /// The newest event's order.
    pub fn newest_event(&self) -> u64 {
        let data = self.data.lock().unwrap();
        data.trs
            .as_ref()
            .and_then(|t| t.events.last())
            .map_or(0, |e| e.0)
    }

    /// The requests so far whose path starts with `prefix`.
    pub fn requests(&self, prefix: &str) -> Vec<FakeRequest> {
        self.data
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The query requests so far.
    pub fn queries(&self) -> Vec<FakeRequest> {
        self.data
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|r| r.path.ends_with("/rm/query"))
            .cloned()
            .collect()
    }
}

/// An RDF/XML answer as Turtle: parsed with oxrdfxml, written with oxttl.
fn to_turtle(response: FakeResponse, request: &FakeRequest) -> FakeResponse {
    let base = format!(
        "http://{}{}",
        request.header("host").unwrap_or("127.0.0.1"),
        request.path
    );
    let mut turtle = oxttl::TurtleSerializer::new()
        .with_prefix("oslc", "http://open-services.net/ns/core#")
        .and_then(|s| s.with_prefix("dcterms", "http://purl.org/dc/terms/"))
        .expect("prefixes")
        .for_writer(Vec::new());
    let parser = oxrdfxml::RdfXmlParser::new()
        .with_base_iri(base)
        .expect("base IRI");
    for triple in parser.for_slice(&response.body) {
        turtle
            .serialize_triple(&triple.expect("the fake's RDF/XML"))
            .expect("turtle");
    }
    FakeResponse {
        status: response.status,
        headers: vec![("content-type".into(), "text/turtle; charset=utf-8".into())],
        body: turtle.finish().expect("turtle"),
    }
}

fn xml(body: String) -> FakeResponse {
    FakeResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/rdf+xml".into())],
        body: body.into_bytes(),
    }
}

fn answer(data: &DnData, request: &FakeRequest) -> FakeResponse {
    let base = format!("http://{}", request.header("host").unwrap_or("127.0.0.1"));
    let fill = |t: &str| {
        t.replace("{{baseUri}}", &base)
            .replace("{{projectArea}}", PROJECT_AREA)
    };
    let path = request.path.as_str();
    if let Some(number) = path.strip_prefix("/rm/oslc/rm/req") {
        return resource(data, request, &base, number.parse().unwrap_or(0), &fill);
    }
    if let (Some(trs), Some(rest)) = (&data.trs, path.strip_prefix("/rm/trs2")) {
        return tracked_resource_set(data, trs, request, &base, rest);
    }
    match path {
        "/rm/rootservices" if data.trs.is_some() => {
            let provider = format!(
                "<rm:trackedResourceSetProvider xmlns:rm=\"http://www.ibm.com/xmlns/rdm/rdf/\">\n      <trs:TrackedResourceSetProvider xmlns:trs=\"http://open-services.net/ns/core/trs#\">\n        <trs:trackedResourceSet rdf:resource=\"{base}/rm/trs2\"/>\n        <oslc:domain xmlns:oslc=\"http://open-services.net/ns/core#\" rdf:resource=\"http://open-services.net/ns/rm#\"/>\n      </trs:TrackedResourceSetProvider>\n    </rm:trackedResourceSetProvider>\n  </rdf:Description>"
            );
            xml(fill(ROOTSERVICES).replace("</rdf:Description>", &provider))
        }
        "/rm/rootservices" => xml(fill(ROOTSERVICES)),
        "/rm/oslc/catalog" => xml(fill(CATALOG)),
        "/rm/oslc/contexts/_1/rm/services.xml" => xml(fill(PROVIDER)),
        "/rm/types/UserRequirement" => {
            let risk = format!(
                "<oslc:property><oslc:Property><oslc:name>Risk</oslc:name><oslc:propertyDefinition rdf:resource=\"{RISK}\"/><oslc:valueType rdf:resource=\"http://www.w3.org/2001/XMLSchema#integer\"/></oslc:Property></oslc:property>\n  </oslc:ResourceShape>"
            );
            xml(fill(SHAPE).replace("</oslc:ResourceShape>", &risk))
        }
        "/rm/oslc/contexts/_1/rm/query" => query(data, request, &base, &fill),
        _ => FakeResponse::status(404),
    }
}

fn query(
    data: &DnData,
    request: &FakeRequest,
    base: &str,
    fill: &dyn Fn(&str) -> String,
) -> FakeResponse {
    if let Some(configuration) = &data.configuration {
        if request.header("configuration-context") != Some(configuration.as_str())
            || request.query("oslc_config.context") != Some(configuration.as_str())
        {
            return FakeResponse::status(400);
        }
    }
    let query_base = format!("{base}/rm/oslc/contexts/_1/rm/query");
    let size: usize = request
        .query("oslc.pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let page: usize = request
        .query("page")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let since = request.query("oslc.where").map(|w| {
        let t = w
            .strip_prefix("dcterms:modified>\"")
            .and_then(|w| w.strip_suffix("\"^^xsd:dateTime"))
            .unwrap_or_else(|| panic!("unexpected oslc.where {w}"));
        doors::time::parse_datetime(t).expect("where time")
    });
    let mut matching: Vec<&DnReq> = data
        .reqs
        .iter()
        .filter(|r| since.is_none_or(|s| r.modified > s))
        .collect();
    matching.sort_by_key(|r| r.number);
    if matching.is_empty() {
        return xml(EMPTY.replace("{{queryCapabilityUrl}}", &query_base));
    }
    let slice: Vec<&DnReq> = matching
        .iter()
        .skip(page * size)
        .take(size)
        .copied()
        .collect();
    let mut out = String::from(
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns:rdfs=\"http://www.w3.org/2000/01/rdf-schema#\" xmlns:oslc=\"http://open-services.net/ns/core#\">\n",
    );
    out.push_str(&format!("<rdf:Description rdf:about=\"{query_base}\">"));
    for r in &slice {
        out.push_str(&format!(
            "<rdfs:member rdf:resource=\"{base}/rm/oslc/rm/req{:02}\"/>",
            r.number
        ));
    }
    out.push_str("</rdf:Description>\n");
    let this = request_url(base, request);
    out.push_str(&format!(
        "<oslc:ResponseInfo rdf:about=\"{}\"><oslc:totalCount>{}</oslc:totalCount>",
        esc(&this),
        matching.len()
    ));
    if (page + 1) * size < matching.len() {
        let mut next = format!("{query_base}?page={}", page + 1);
        for (k, v) in &request.query {
            if k != "page" {
                next.push_str(&format!("&{}={}", k, agentic_sdk::http::encode(v)));
            }
        }
        out.push_str(&format!("<oslc:nextPage rdf:resource=\"{}\"/>", esc(&next)));
    }
    out.push_str("</oslc:ResponseInfo>\n</rdf:RDF>\n");
    // Each requirement: the Lyo resource, filled in, with more properties.
    let template = fill(REQUIREMENT);
    let mut resources = String::new();
    for r in &slice {
        resources.push_str(&resource_rdf(r, base, &template));
    }
    // One document: the page's RDF with the resources' descriptions nested as their own
    // rdf:RDF would not be RDF/XML, so merge: strip the page's closing tag, add the
    // descriptions (namespaces declared on each) and close.
    let mut doc = out.trim_end().trim_end_matches("</rdf:RDF>").to_owned();
    for part in resources
        .split("</rdf:RDF>")
        .filter(|p| !p.trim().is_empty())
    {
        let open_end = part.find('>').expect("open") + 1;
        let decls: String = part[..open_end]
            .trim_start_matches("<rdf:RDF")
            .trim_end_matches('>')
            .to_owned();
        let body = &part[open_end..];
        doc.push_str(&body.replacen("<rdf:Description", &format!("<rdf:Description{decls}"), 1));
    }
    doc.push_str("</rdf:RDF>\n");
    xml(doc)
}

/// Requirement `r` as its own RDF/XML document: the Lyo resource, filled in, with more
/// properties.
fn resource_rdf(r: &DnReq, base: &str, template: &str) -> String {
    {
        let mut extra = format!(
            "<dcterms:identifier>{n}</dcterms:identifier>\n    <dcterms:modified rdf:datatype=\"http://www.w3.org/2001/XMLSchema#dateTime\">{m}</dcterms:modified>\n    <oslc:instanceShape xmlns:oslc=\"http://open-services.net/ns/core#\" rdf:resource=\"{base}/rm/types/UserRequirement\"/>\n    <oslc:serviceProvider xmlns:oslc=\"http://open-services.net/ns/core#\" rdf:resource=\"{base}/rm/oslc/contexts/_1/rm/services.xml\"/>\n    <risk xmlns=\"http://example.com/rm/attributes#\" rdf:datatype=\"http://www.w3.org/2001/XMLSchema#integer\">{risk}</risk>\n    <jazz_rm:primaryText xmlns:jazz_rm=\"http://jazz.net/ns/rm#\" rdf:parseType=\"Literal\">{x}</jazz_rm:primaryText>\n",
            n = r.number,
            m = doors::time::format_datetime(r.modified),
            risk = r.risk,
            x = r.xhtml,
        );
        for (kind, target) in &r.links {
            let (namespace, local) = match kind.rsplit_once('#') {
                Some((ns, local)) => (format!("{ns}#"), local),
                None => ("http://open-services.net/ns/rm#".to_owned(), *kind),
            };
            extra.push_str(&format!(
                "    <{local} xmlns=\"{namespace}\" rdf:resource=\"{base}/rm/oslc/rm/req{target:02}\"/>\n"
            ));
        }
        let resource = template
            .replace(
                "/rm/oslc/rm/req01",
                &format!("/rm/oslc/rm/req{:02}", r.number),
            )
            .replace(
                "<dcterms:title>Req01</dcterms:title>",
                &format!("<dcterms:title>{}</dcterms:title>", esc(&r.title)),
            )
            .replace("<rm:primaryText>My Primary Text</rm:primaryText>", &extra);
        // The resource's rdf:Description, inside the page's rdf:RDF.
        let start = resource.find("<rdf:Description").expect("description");
        let end = resource.rfind("</rdf:RDF>").expect("end");
        let namespaces_end = resource.find('>').expect("rdf:RDF open") + 1;
        let namespaces = &resource[..namespaces_end];
        let mut doc = namespaces.replace(
            "<rdf:RDF",
            "<rdf:RDF xmlns:oslc=\"http://open-services.net/ns/core#\"",
        );
        doc.push_str(&resource[start..end]);
        doc.push_str("</rdf:RDF>");
        doc
    }
}

/// `GET` of one requirement: 404 once deleted.
fn resource(
    data: &DnData,
    request: &FakeRequest,
    base: &str,
    number: u32,
    fill: &dyn Fn(&str) -> String,
) -> FakeResponse {
    if data.configuration.is_some()
        && request.header("configuration-context") != data.configuration.as_deref()
    {
        return FakeResponse::status(400);
    }
    match data.reqs.iter().find(|r| r.number == number) {
        Some(r) => xml(resource_rdf(r, base, &fill(REQUIREMENT))),
        None => FakeResponse::status(404),
    }
}

const TRS_NS: &str = "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns:rdfs=\"http://www.w3.org/2000/01/rdf-schema#\" xmlns:trs=\"http://open-services.net/ns/core/trs#\" xmlns:ldp=\"http://www.w3.org/ns/ldp#\"";

/// The Tracked Resource Set (`rest` is the path after `/rm/trs2`): the set with the change
/// log's newest segment, older segments at `/changelog/<k>`, the base's pages at `/base`.
fn tracked_resource_set(
    data: &DnData,
    trs: &FakeTrs,
    request: &FakeRequest,
    base: &str,
    rest: &str,
) -> FakeResponse {
    let root = format!("{base}/rm/trs2");
    // Newest first, in segments.
    let newest_first: Vec<&(u64, &'static str, u32)> = trs.events.iter().rev().collect();
    let segments: Vec<&[&(u64, &'static str, u32)]> =
        newest_first.chunks(trs.log_segment.max(1)).collect();
    let segment = |k: usize, about: &str| -> String {
        let mut out = format!("<trs:ChangeLog {about}>");
        let events = segments.get(k).copied().unwrap_or_default();
        for (order, _, _) in events {
            out.push_str(&format!(
                "<trs:change rdf:resource=\"{root}/events/{order}\"/>"
            ));
        }
        if k + 1 < segments.len() {
            out.push_str(&format!(
                "<trs:previous rdf:resource=\"{root}/changelog/{}\"/>",
                k + 1
            ));
        } else {
            out.push_str(
                "<trs:previous rdf:resource=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#nil\"/>",
            );
        }
        out.push_str("</trs:ChangeLog>\n");
        for (order, kind, number) in events {
            out.push_str(&format!(
                "<trs:{kind} rdf:about=\"{root}/events/{order}\"><trs:changed rdf:resource=\"{base}/rm/oslc/rm/req{number:02}\"/><trs:order rdf:datatype=\"http://www.w3.org/2001/XMLSchema#integer\">{order}</trs:order></trs:{kind}>\n"
            ));
        }
        out
    };
    let doc = match rest {
        "" => format!(
            "<rdf:RDF {TRS_NS}>\n<trs:TrackedResourceSet rdf:about=\"{root}\"><trs:base rdf:resource=\"{root}/base\"/><trs:changeLog rdf:nodeID=\"log\"/></trs:TrackedResourceSet>\n{}</rdf:RDF>\n",
            segment(0, "rdf:nodeID=\"log\"")
        ),
        "/base" => {
            let size = trs.base_page.max(1);
            let page: usize = request.query("page").and_then(|p| p.parse().ok()).unwrap_or(0);
            let mut numbers: Vec<u32> = data.reqs.iter().map(|r| r.number).collect();
            numbers.sort_unstable();
            let this = if page == 0 {
                format!("{root}/base")
            } else {
                format!("{root}/base?page={page}")
            };
            let mut out = format!("<rdf:RDF {TRS_NS}>\n<ldp:DirectContainer rdf:about=\"{root}/base\">");
            for n in numbers.iter().skip(page * size).take(size) {
                out.push_str(&format!("<rdfs:member rdf:resource=\"{base}/rm/oslc/rm/req{n:02}\"/>"));
            }
            out.push_str("</ldp:DirectContainer>\n");
            let next = if (page + 1) * size < numbers.len() {
                format!("{root}/base?page={}", page + 1)
            } else {
                "http://www.w3.org/1999/02/22-rdf-syntax-ns#nil".to_owned()
            };
            out.push_str(&format!(
                "<ldp:Page rdf:about=\"{}\"><ldp:pageOf rdf:resource=\"{root}/base\"/><ldp:nextPage rdf:resource=\"{}\"/></ldp:Page>\n</rdf:RDF>\n",
                esc(&this),
                esc(&next)
            ));
            out
        }
        _ => match rest.strip_prefix("/changelog/").and_then(|k| k.parse::<usize>().ok()) {
            Some(k) if k < segments.len() => format!(
                "<rdf:RDF {TRS_NS}>\n{}</rdf:RDF>\n",
                segment(k, &format!("rdf:about=\"{root}/changelog/{k}\""))
            ),
            _ => return FakeResponse::status(404),
        },
    };
    xml(doc)
}

fn request_url(base: &str, request: &FakeRequest) -> String {
    let mut url = format!("{base}{}", request.path);
    for (i, (k, v)) in request.query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&format!("{k}={}", agentic_sdk::http::encode(v)));
    }
    url
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}
