//! ReqIF exports as a requirements tool writes them, for the DOORS connector's stories: a model
//! of requirements (modules, headings and their children, status and a custom integer
//! attribute, rich text) and trace links, written as an OMG ReqIF 1.2 document the way DOORS
//! Classic does (the `ReqIF.ForeignID`, `ReqIF.Prefix`, `ReqIF.ChapterName`, `ReqIF.Name`,
//! `ReqIF.Text` conventions, XHTML in the `xhtml` namespace). The Jazz fake in
//! [`crate::providers`] serves them behind its form login.
//!
//! Each rich text is written twice by hand: the XHTML the file carries and the Markdown the
//! connector's documented mapping gives, so the stories compare against an expectation that is
//! not computed by the code under test.

/// Rich texts: (XHTML inside the `xhtml:div`, the Markdown it maps to).
pub const TEXTS: [(&str, &str); 4] = [
    (
        "The system <xhtml:b>shall</xhtml:b> stop within 40 m.",
        "The system **shall** stop within 40 m.",
    ),
    (
        "<xhtml:p>Inputs:</xhtml:p><xhtml:ul><xhtml:li>speed</xhtml:li><xhtml:li>road <xhtml:i>state</xhtml:i></xhtml:li></xhtml:ul>",
        "Inputs:\n\n- speed\n\n- road *state*",
    ),
    (
        "See <xhtml:a href=\"https://example.com/iso26262\">ISO 26262</xhtml:a> &amp; annex_2.",
        "See [ISO 26262](https://example.com/iso26262) & annex\\_2.",
    ),
    ("Line one<xhtml:br/>line two", "Line one  \nline two"),
];

/// The statuses (an enumeration).
pub const STATUSES: [&str; 3] = ["Draft", "Approved", "Rejected"];
/// The relation types.
pub const LINK_TYPES: [&str; 2] = ["satisfies", "refines"];

/// One requirement (a DOORS object).
#[derive(Debug, Clone, PartialEq)]
pub struct Req {
    /// `IDENTIFIER`.
    pub id: String,
    /// `ReqIF.ForeignID` (DOORS' absolute number).
    pub number: u32,
    /// A heading (`ReqIF.ChapterName`) rather than a requirement (`ReqIF.Name` + `ReqIF.Text`).
    pub heading: bool,
    /// The heading or name.
    pub title: String,
    /// Index into [`TEXTS`] (requirements only).
    pub text: usize,
    /// Index into [`STATUSES`].
    pub status: usize,
    /// The custom `Risk` integer.
    pub risk: i64,
    /// Index into the modules.
    pub module: usize,
    /// The parent heading's `IDENTIFIER`.
    pub parent: Option<String>,
    /// `LAST-CHANGE`, Unix millis.
    pub changed: i64,
}

/// A spec relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// `IDENTIFIER`.
    pub id: String,
    /// The source requirement.
    pub source: String,
    /// The target requirement.
    pub target: String,
    /// Index into [`LINK_TYPES`].
    pub kind: usize,
}

/// A ReqIF export's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// Module (specification) names; the module `m` has `IDENTIFIER` `_spec{m}`.
    pub modules: Vec<String>,
    /// Requirements in document order.
    pub reqs: Vec<Req>,
    /// Links.
    pub links: Vec<Link>,
}

/// The `ReqIF.Prefix` of every object.
pub const PREFIX: &str = "SRS-";

impl Export {
    /// `n` requirements over two modules: every fifth a heading, the others its children;
    /// every third linked to the one before it.
    pub fn generate(n: usize) -> Self {
        let modules = vec![
            "System Requirements".to_owned(),
            "Software Requirements".to_owned(),
        ];
        let mut reqs: Vec<Req> = Vec::with_capacity(n);
        let mut heading: [Option<String>; 2] = [None, None];
        for i in 0..n {
            let module = (i / 5) % 2;
            let is_heading = i % 5 == 0;
            let id = format!("_r{i:05}");
            let parent = if is_heading {
                None
            } else {
                heading[module].clone()
            };
            if is_heading {
                heading[module] = Some(id.clone());
            }
            reqs.push(Req {
                id,
                number: i as u32 + 1,
                heading: is_heading,
                title: if is_heading {
                    format!("Chapter {}", i / 5 + 1)
                } else {
                    format!("Requirement {}", i + 1)
                },
                text: i % TEXTS.len(),
                status: i % STATUSES.len(),
                risk: (i % 7) as i64,
                module,
                parent,
                changed: 1_700_000_000_000 + i as i64 * 60_000,
            });
        }
        let links = (3..n)
            .step_by(3)
            .map(|i| Link {
                id: format!("_l{i:05}"),
                source: reqs[i].id.clone(),
                target: reqs[i - 1].id.clone(),
                kind: i % LINK_TYPES.len(),
            })
            .collect();
        Self {
            modules,
            reqs,
            links,
        }
    }

    /// The requirement with this `IDENTIFIER`.
    pub fn req_mut(&mut self, id: &str) -> &mut Req {
        self.reqs
            .iter_mut()
            .find(|r| r.id == id)
            .expect("requirement")
    }

    /// The human identifier the connector gives: prefix and foreign id.
    pub fn identifier(req: &Req) -> String {
        format!("{PREFIX}{}", req.number)
    }

    /// The document.
    pub fn to_reqif(&self) -> String {
        const T: &str = "2024-01-01T00:00:00Z";
        let mut x = String::new();
        x.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <THE-HEADER><REQ-IF-HEADER IDENTIFIER="_hdr"><CREATION-TIME>2024-01-01T00:00:00Z</CREATION-TIME><REQ-IF-TOOL-ID>DOORS</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION><SOURCE-TOOL-ID>IBM Rational DOORS 9.7</SOURCE-TOOL-ID><TITLE>Brakes</TITLE></REQ-IF-HEADER></THE-HEADER>
  <CORE-CONTENT><REQ-IF-CONTENT>
"#);
        x.push_str(&format!(
            r#"<DATATYPES>
<DATATYPE-DEFINITION-STRING IDENTIFIER="_dts" LAST-CHANGE="{T}" MAX-LENGTH="1000"/>
<DATATYPE-DEFINITION-INTEGER IDENTIFIER="_dti" LAST-CHANGE="{T}" MIN="0" MAX="100"/>
<DATATYPE-DEFINITION-XHTML IDENTIFIER="_dtx" LAST-CHANGE="{T}"/>
<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="_dte" LAST-CHANGE="{T}"><SPECIFIED-VALUES>"#
        ));
        for (i, s) in STATUSES.iter().enumerate() {
            x.push_str(&format!(r#"<ENUM-VALUE IDENTIFIER="_ev{i}" LAST-CHANGE="{T}" LONG-NAME="{s}"><PROPERTIES><EMBEDDED-VALUE KEY="{i}" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>"#));
        }
        x.push_str(
            "</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>\n</DATATYPES>\n<SPEC-TYPES>\n",
        );
        x.push_str(&format!(r#"<SPEC-OBJECT-TYPE IDENTIFIER="_sot" LAST-CHANGE="{T}" LONG-NAME="DOORS Object"><SPEC-ATTRIBUTES>"#));
        for (id, name, kind, dt) in [
            ("_a_fid", "ReqIF.ForeignID", "STRING", "_dts"),
            ("_a_pre", "ReqIF.Prefix", "STRING", "_dts"),
            ("_a_chap", "ReqIF.ChapterName", "STRING", "_dts"),
            ("_a_name", "ReqIF.Name", "STRING", "_dts"),
            ("_a_text", "ReqIF.Text", "XHTML", "_dtx"),
            ("_a_risk", "Risk", "INTEGER", "_dti"),
        ] {
            x.push_str(&format!(r#"<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{id}" LAST-CHANGE="{T}" LONG-NAME="{name}"><TYPE><DATATYPE-DEFINITION-{kind}-REF>{dt}</DATATYPE-DEFINITION-{kind}-REF></TYPE></ATTRIBUTE-DEFINITION-{kind}>"#));
        }
        x.push_str(&format!(r#"<ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="_a_status" LAST-CHANGE="{T}" LONG-NAME="Status" MULTI-VALUED="false"><TYPE><DATATYPE-DEFINITION-ENUMERATION-REF>_dte</DATATYPE-DEFINITION-ENUMERATION-REF></TYPE></ATTRIBUTE-DEFINITION-ENUMERATION>"#));
        x.push_str("</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>\n");
        for (i, t) in LINK_TYPES.iter().enumerate() {
            x.push_str(&format!(
                r#"<SPEC-RELATION-TYPE IDENTIFIER="_rt{i}" LAST-CHANGE="{T}" LONG-NAME="{t}"/>"#
            ));
        }
        x.push_str(&format!(
            r#"<SPECIFICATION-TYPE IDENTIFIER="_spt" LAST-CHANGE="{T}" LONG-NAME="DOORS Module"/>"#
        ));
        x.push_str("\n</SPEC-TYPES>\n<SPEC-OBJECTS>\n");
        for r in &self.reqs {
            x.push_str(&format!(
                r#"<SPEC-OBJECT IDENTIFIER="{}" LAST-CHANGE="{}"><TYPE><SPEC-OBJECT-TYPE-REF>_sot</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>"#,
                r.id,
                iso(r.changed)
            ));
            let string = |x: &mut String, def: &str, v: &str| {
                x.push_str(&format!(r#"<ATTRIBUTE-VALUE-STRING THE-VALUE="{v}"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>{def}</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>"#));
            };
            string(&mut x, "_a_fid", &r.number.to_string());
            string(&mut x, "_a_pre", PREFIX);
            if r.heading {
                string(&mut x, "_a_chap", &r.title);
            } else {
                string(&mut x, "_a_name", &r.title);
                x.push_str(&format!(r#"<ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>_a_text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION><THE-VALUE><xhtml:div>{}</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>"#, TEXTS[r.text].0));
            }
            x.push_str(&format!(r#"<ATTRIBUTE-VALUE-INTEGER THE-VALUE="{}"><DEFINITION><ATTRIBUTE-DEFINITION-INTEGER-REF>_a_risk</ATTRIBUTE-DEFINITION-INTEGER-REF></DEFINITION></ATTRIBUTE-VALUE-INTEGER>"#, r.risk));
            x.push_str(&format!(r#"<ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>_a_status</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION><VALUES><ENUM-VALUE-REF>_ev{}</ENUM-VALUE-REF></VALUES></ATTRIBUTE-VALUE-ENUMERATION>"#, r.status));
            x.push_str("</VALUES></SPEC-OBJECT>\n");
        }
        x.push_str("</SPEC-OBJECTS>\n<SPEC-RELATIONS>\n");
        for l in &self.links {
            x.push_str(&format!(
                r#"<SPEC-RELATION IDENTIFIER="{}" LAST-CHANGE="{T}"><TYPE><SPEC-RELATION-TYPE-REF>_rt{}</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>"#,
                l.id, l.kind, l.source, l.target
            ));
            x.push('\n');
        }
        x.push_str("</SPEC-RELATIONS>\n<SPECIFICATIONS>\n");
        // Children by parent, in document order (one pass: the benchmark writes 50 000).
        let mut children_of: std::collections::HashMap<&str, Vec<&Req>> =
            std::collections::HashMap::new();
        for c in &self.reqs {
            if let Some(parent) = &c.parent {
                children_of.entry(parent.as_str()).or_default().push(c);
            }
        }
        for (m, name) in self.modules.iter().enumerate() {
            x.push_str(&format!(r#"<SPECIFICATION IDENTIFIER="_spec{m}" LAST-CHANGE="{T}" LONG-NAME="{name}"><TYPE><SPECIFICATION-TYPE-REF>_spt</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>"#));
            let top = self
                .reqs
                .iter()
                .filter(|r| r.module == m && r.parent.is_none());
            for r in top {
                x.push_str(&format!(r#"<SPEC-HIERARCHY IDENTIFIER="_h{}" LAST-CHANGE="{T}"><OBJECT><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></OBJECT>"#, r.id, r.id));
                let children = children_of.remove(r.id.as_str()).unwrap_or_default();
                if !children.is_empty() {
                    x.push_str("<CHILDREN>");
                    for c in children {
                        x.push_str(&format!(r#"<SPEC-HIERARCHY IDENTIFIER="_h{}" LAST-CHANGE="{T}"><OBJECT><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"#, c.id, c.id));
                    }
                    x.push_str("</CHILDREN>");
                }
                x.push_str("</SPEC-HIERARCHY>");
            }
            x.push_str("</CHILDREN></SPECIFICATION>\n");
        }
        x.push_str("</SPECIFICATIONS>\n</REQ-IF-CONTENT></CORE-CONTENT>\n</REQ-IF>\n");
        x
    }
}

/// `2023-11-14T22:13:20Z` for Unix millis (whole seconds).
pub fn iso(millis: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(millis / 1000).expect("time");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// DOORS Next over OSLC RM, for the stories: the Lyo project's fixtures (the connector's
/// `plugins/doors/tests/fixtures/oslc`, `{{baseUri}}` filled in) for `rootservices`, the
/// catalog (one project area, [`PROJECT_AREA`]), the service provider and the requirement
/// shape, and query pages built from its `resource_requirement.xml` — `oslc.pageSize` pages
/// linked by `oslc:nextPage`, `oslc.where` on `dcterms:modified`, a 400 when a configuration is
/// set and a query does not carry it. The Jazz fake ([`crate::providers::Provider`]) serves it
/// under `/rm/` behind its form login.
///
/// [`PROJECT_AREA`]: crate::doors::next::PROJECT_AREA
pub mod next {
    use std::collections::HashMap;

    const ROOTSERVICES: &str =
        include_str!("../../plugins/doors/tests/fixtures/oslc/rootservices_rm.xml");
    const CATALOG: &str = include_str!("../../plugins/doors/tests/fixtures/oslc/catalog_rm.xml");
    const PROVIDER: &str =
        include_str!("../../plugins/doors/tests/fixtures/oslc/serviceprovider_rm.xml");
    const SHAPE: &str =
        include_str!("../../plugins/doors/tests/fixtures/oslc/shape_requirement.xml");
    const REQUIREMENT: &str =
        include_str!("../../plugins/doors/tests/fixtures/oslc/resource_requirement.xml");
    const EMPTY: &str = include_str!("../../plugins/doors/tests/fixtures/oslc/query_empty.xml");

    /// The project area.
    pub const PROJECT_AREA: &str = "Brakes";

    /// A requirement.
    #[derive(Debug, Clone, PartialEq)]
    pub struct NextReq {
        /// `dcterms:identifier`, and the resource's `reqNN`.
        pub number: u32,
        /// `dcterms:title`.
        pub title: String,
        /// Index into [`super::TEXTS`]: the primary text.
        pub text: usize,
        /// `dcterms:modified`, Unix millis.
        pub modified: i64,
        /// `oslc_rm:validatedBy` targets.
        pub validated_by: Vec<u32>,
    }

    /// What the server holds and saw.
    #[derive(Debug, Default)]
    pub struct NextData {
        /// The requirements.
        pub reqs: Vec<NextReq>,
        /// The configuration queries must carry.
        pub configuration: Option<String>,
        /// The query string of every query, in order.
        pub queries: Vec<HashMap<String, String>>,
        /// A Tracked Resource Set, when set: its change log's events (order, `Creation`,
        /// `Modification` or `Deletion`, requirement number), oldest first, in one segment;
        /// the base lists the requirements, 25 a page.
        pub trs: Option<Vec<(u64, &'static str, u32)>>,
        /// The paths of the TRS documents and single requirements read, in order.
        pub trs_reads: Vec<String>,
    }

    impl NextData {
        /// `n` requirements, a minute apart; every fourth validated by the next.
        pub fn generate(n: u32) -> Self {
            let reqs = (1..=n)
                .map(|i| NextReq {
                    number: i,
                    title: format!("Req{i:02}"),
                    text: i as usize % super::TEXTS.len(),
                    modified: 1_700_000_000_000 + i64::from(i) * 60_000,
                    validated_by: if i % 4 == 0 && i < n {
                        vec![i + 1]
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            Self {
                reqs,
                ..Self::default()
            }
        }
    }

    /// The answer to `GET {path}?{query}` on the server at `base`: (status, body).
    pub fn answer(
        data: &mut NextData,
        base: &str,
        path: &str,
        query: &HashMap<String, String>,
        configuration_header: Option<&str>,
    ) -> (u16, String) {
        let fill = |t: &str| {
            t.replace("{{baseUri}}", base)
                .replace("{{projectArea}}", PROJECT_AREA)
        };
        if let Some(n) = path.strip_prefix("/rm/oslc/rm/req") {
            data.trs_reads.push(path.to_owned());
            let found = data.reqs.iter().find(|r| Some(r.number) == n.parse().ok());
            return match found {
                Some(r) => (
                    200,
                    format!(
                        "<rdf:RDF {NAMESPACES}>{}</rdf:RDF>",
                        description(base, r, &REQUIREMENT.replace("{{baseUri}}", base))
                    ),
                ),
                None => (404, String::new()),
            };
        }
        if path.starts_with("/rm/trs2") && data.trs.is_some() {
            data.trs_reads.push(path.to_owned());
            return tracked_resource_set(data, base, path, query);
        }
        match path {
            "/rm/rootservices" if data.trs.is_some() => (
                200,
                fill(ROOTSERVICES).replace(
                    "</rdf:Description>",
                    &format!(
                        "<rm:trackedResourceSetProvider xmlns:rm=\"http://www.ibm.com/xmlns/rdm/rdf/\">\
                         <trs:TrackedResourceSetProvider xmlns:trs=\"http://open-services.net/ns/core/trs#\">\
                         <trs:trackedResourceSet rdf:resource=\"{base}/rm/trs2\"/>\
                         </trs:TrackedResourceSetProvider></rm:trackedResourceSetProvider></rdf:Description>"
                    ),
                ),
            ),
            "/rm/rootservices" => (200, fill(ROOTSERVICES)),
            "/rm/oslc/catalog" => (200, fill(CATALOG)),
            "/rm/oslc/contexts/_1/rm/services.xml" => (200, fill(PROVIDER)),
            "/rm/types/UserRequirement" => (200, fill(SHAPE)),
            "/rm/oslc/contexts/_1/rm/query" => {
                data.queries.push(query.clone());
                if let Some(c) = &data.configuration {
                    if configuration_header != Some(c.as_str())
                        || query.get("oslc_config.context") != Some(c)
                    {
                        return (400, String::new());
                    }
                }
                (200, page(data, base, query))
            }
            _ => (404, String::new()),
        }
    }

    fn page(data: &NextData, base: &str, query: &HashMap<String, String>) -> String {
        let query_base = format!("{base}/rm/oslc/contexts/_1/rm/query");
        let size: usize = query
            .get("oslc.pageSize")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let number: usize = query.get("page").and_then(|s| s.parse().ok()).unwrap_or(0);
        let since = query.get("oslc.where").map(|w| {
            let t = w
                .strip_prefix("dcterms:modified>\"")
                .and_then(|w| w.strip_suffix("\"^^xsd:dateTime"))
                .unwrap_or_else(|| panic!("unexpected oslc.where {w}"));
            let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .expect("where time");
            (t.unix_timestamp_nanos() / 1_000_000) as i64
        });
        let mut matching: Vec<&NextReq> = data
            .reqs
            .iter()
            .filter(|r| since.is_none_or(|s| r.modified > s))
            .collect();
        matching.sort_by_key(|r| r.number);
        if matching.is_empty() {
            return EMPTY.replace("{{queryCapabilityUrl}}", &query_base);
        }
        let slice: Vec<&NextReq> = matching
            .iter()
            .skip(number * size)
            .take(size)
            .copied()
            .collect();
        let mut out = format!("<rdf:RDF {NAMESPACES}>\n");
        out.push_str(&format!("<rdf:Description rdf:about=\"{query_base}\">"));
        for r in &slice {
            out.push_str(&format!(
                "<rdfs:member rdf:resource=\"{base}/rm/oslc/rm/req{:02}\"/>",
                r.number
            ));
        }
        out.push_str("</rdf:Description>\n<oslc:ResponseInfo rdf:about=\"");
        out.push_str(&format!("{query_base}?page={number}\">"));
        out.push_str(&format!(
            "<oslc:totalCount>{}</oslc:totalCount>",
            matching.len()
        ));
        if (number + 1) * size < matching.len() {
            let mut next = format!("{query_base}?page={}", number + 1);
            let mut keys: Vec<&String> = query.keys().filter(|k| *k != "page").collect();
            keys.sort();
            for k in keys {
                next.push_str(&format!("&amp;{k}={}", encode(&query[k])));
            }
            out.push_str(&format!("<oslc:nextPage rdf:resource=\"{next}\"/>"));
        }
        out.push_str("</oslc:ResponseInfo>\n");
        // Each requirement: the Lyo resource's description, filled in, with more properties.
        let template = REQUIREMENT.replace("{{baseUri}}", base);
        for r in &slice {
            out.push_str(&description(base, r, &template));
        }
        out.push_str("</rdf:RDF>\n");
        out
    }

    const NAMESPACES: &str = concat!(
        "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"",
        " xmlns:rdfs=\"http://www.w3.org/2000/01/rdf-schema#\"",
        " xmlns:oslc=\"http://open-services.net/ns/core#\"",
        " xmlns:oslc_rm=\"http://open-services.net/ns/rm#\"",
        " xmlns:jazz_rm=\"http://jazz.net/ns/rm#\"",
        " xmlns:dcterms=\"http://purl.org/dc/terms/\"",
        " xmlns:nav=\"http://com.ibm.rdm/navigation#\"",
        " xmlns:rm=\"http://www.ibm.com/xmlns/rdm/rdf/\"",
        " xmlns:trs=\"http://open-services.net/ns/core/trs#\"",
        " xmlns:ldp=\"http://www.w3.org/ns/ldp#\""
    );

    /// Requirement `r`'s `rdf:Description`: the Lyo resource's (`template`), filled in.
    fn description(base: &str, r: &NextReq, template: &str) -> String {
        let start = template.find("<rdf:Description").expect("description");
        let end = template.rfind("</rdf:RDF>").expect("end");
        let mut extra = format!(
            "<dcterms:identifier>{n}</dcterms:identifier>\
             <dcterms:modified rdf:datatype=\"http://www.w3.org/2001/XMLSchema#dateTime\">{m}</dcterms:modified>\
             <oslc:instanceShape rdf:resource=\"{base}/rm/types/UserRequirement\"/>\
             <jazz_rm:primaryText rdf:parseType=\"Literal\"><div xmlns=\"http://www.w3.org/1999/xhtml\">{x}</div></jazz_rm:primaryText>",
            n = r.number,
            m = super::iso(r.modified),
            x = super::TEXTS[r.text].0.replace("xhtml:", ""),
        );
        for t in &r.validated_by {
            extra.push_str(&format!(
                "<oslc_rm:validatedBy rdf:resource=\"{base}/rm/oslc/rm/req{t:02}\"/>"
            ));
        }
        template[start..end]
            .replace(
                "/rm/oslc/rm/req01",
                &format!("/rm/oslc/rm/req{:02}", r.number),
            )
            .replace(
                "<dcterms:title>Req01</dcterms:title>",
                &format!("<dcterms:title>{}</dcterms:title>", r.title),
            )
            .replace("<rm:primaryText>My Primary Text</rm:primaryText>", &extra)
    }

    /// `/rm/trs2`: the set and its change log (one segment); `/rm/trs2/base`: the base's pages.
    fn tracked_resource_set(
        data: &NextData,
        base: &str,
        path: &str,
        query: &HashMap<String, String>,
    ) -> (u16, String) {
        let root = format!("{base}/rm/trs2");
        let mut out = format!("<rdf:RDF {NAMESPACES}>");
        if path == "/rm/trs2" {
            out.push_str(&format!(
                "<trs:TrackedResourceSet rdf:about=\"{root}\"><trs:base rdf:resource=\"{root}/base\"/>\
                 <trs:changeLog><trs:ChangeLog>"
            ));
            let events = data.trs.as_deref().unwrap_or_default();
            for (order, _, _) in events {
                out.push_str(&format!(
                    "<trs:change rdf:resource=\"{root}/events/{order}\"/>"
                ));
            }
            out.push_str("<trs:previous rdf:resource=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#nil\"/></trs:ChangeLog></trs:changeLog></trs:TrackedResourceSet>");
            for (order, kind, n) in events {
                out.push_str(&format!(
                    "<trs:{kind} rdf:about=\"{root}/events/{order}\"><trs:changed rdf:resource=\"{base}/rm/oslc/rm/req{n:02}\"/><trs:order rdf:datatype=\"http://www.w3.org/2001/XMLSchema#integer\">{order}</trs:order></trs:{kind}>"
                ));
            }
        } else if path == "/rm/trs2/base" {
            let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
            let mut numbers: Vec<u32> = data.reqs.iter().map(|r| r.number).collect();
            numbers.sort_unstable();
            out.push_str(&format!("<ldp:DirectContainer rdf:about=\"{root}/base\">"));
            for n in numbers.iter().skip(page * 25).take(25) {
                out.push_str(&format!(
                    "<rdfs:member rdf:resource=\"{base}/rm/oslc/rm/req{n:02}\"/>"
                ));
            }
            out.push_str("</ldp:DirectContainer>");
            if (page + 1) * 25 < numbers.len() {
                out.push_str(&format!(
                    "<ldp:Page rdf:about=\"{root}/base?page={page}\"><ldp:nextPage rdf:resource=\"{root}/base?page={}\"/></ldp:Page>",
                    page + 1
                ));
            }
        } else {
            return (404, String::new());
        }
        out.push_str("</rdf:RDF>\n");
        (200, out)
    }

    /// Percent-encodes a query value.
    fn encode(value: &str) -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    }
}
