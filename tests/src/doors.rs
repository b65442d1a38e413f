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
        for (m, name) in self.modules.iter().enumerate() {
            x.push_str(&format!(r#"<SPECIFICATION IDENTIFIER="_spec{m}" LAST-CHANGE="{T}" LONG-NAME="{name}"><TYPE><SPECIFICATION-TYPE-REF>_spt</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>"#));
            let top = self
                .reqs
                .iter()
                .filter(|r| r.module == m && r.parent.is_none());
            for r in top {
                x.push_str(&format!(r#"<SPEC-HIERARCHY IDENTIFIER="_h{}" LAST-CHANGE="{T}"><OBJECT><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></OBJECT>"#, r.id, r.id));
                let children: Vec<&Req> = self
                    .reqs
                    .iter()
                    .filter(|c| c.parent.as_deref() == Some(&r.id))
                    .collect();
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
