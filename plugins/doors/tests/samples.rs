//! Every ReqIF sample (DOORS Classic, Capella, Enterprise Architect, the Eclipse RMF/ProR test
//! cases, a `.reqifz` of two files) imports with the counts an independent parse finds, and
//! the attributes of each datatype come out as the file says.

use serde_json::json;

use crate::support::{self, independent_counts, record_counts, Files};

#[test]
fn every_sample_imports_with_the_counts_an_independent_parse_finds() {
    let files = Files::start();
    for (name, bytes) in support::samples() {
        let expected = independent_counts(&bytes);
        assert!(
            expected.spec_objects > 0,
            "{name}: the sample has spec objects"
        );
        files.put(&name, bytes);
        // Two records a page, so paging is exercised on every sample with more than two.
        let (requirements, links) = support::import(&files, &name, 2);
        let mut got = record_counts(&requirements, &links);
        got.specifications = expected.specifications; // checked through `check` below
        assert_eq!(got, expected, "{name}");

        let message = files
            .harness()
            .check(&support::config(&name, 2))
            .expect("check");
        assert!(
            message.contains(&format!(
                "{} spec objects, {} spec relations, {} specifications",
                expected.spec_objects, expected.spec_relations, expected.specifications
            )),
            "{name}: {message}"
        );
        // Identity by IDENTIFIER: unique external ids.
        let ids: std::collections::HashSet<_> = requirements
            .iter()
            .map(|r| r.external_id.as_str())
            .collect();
        assert_eq!(ids.len(), requirements.len(), "{name}");
    }
}

#[test]
fn every_datatype_is_mapped_as_the_file_says() {
    let files = Files::start();
    let name = "ci.eclipse.org__TC1000_E0000_S10_Reference_20210122_1256_jenkins__sample.reqif";
    let bytes = std::fs::read(support::fixtures().join("reqif").join(name)).unwrap();
    files.put(name, bytes);
    let (requirements, _) = support::import(&files, name, 10);
    let [r] = &requirements[..] else {
        panic!("one requirement: {requirements:?}")
    };
    assert_eq!(r.external_id, "ID_TC1000_SpecObject");
    assert_eq!(
        r.identifier, "ID_TC1000_SpecObject",
        "no ReqIF.ForeignID: the IDENTIFIER"
    );
    // LAST-CHANGE="2012-04-07T01:51:37.112+02:00"
    assert_eq!(r.updated_at, Some(1_333_756_297_112));
    let a = &r.attributes;
    assert_eq!(a["TC1000T"], json!(true));
    assert_eq!(a["TC1000F"], json!(false));
    assert_eq!(a["TC1000 Integer"], json!(5000));
    assert_eq!(a["TC1000 String"], json!("Plain"));
    assert_eq!(a["TC1000 Real"], json!(1234.5));
    assert_eq!(a["TC1000 Date"], json!("2002-05-30T09:30:10.000+06:00"));
    assert_eq!(a["TC1000 Enum"], json!("TC1000 Yellow"));
    assert_eq!(
        a["TC1000 Enum MultiValue"],
        json!(["TC1000 Yellow", "TC1000 Red", "TC1000 Green"])
    );
    assert_eq!(a["reqif"]["type"], json!("TC1000 SpecObjectType"));
    assert_eq!(
        a["reqif"]["datatypes"]["TC1000 Enum MultiValue"],
        json!("enumeration-multi")
    );
    assert_eq!(a["reqif"]["datatypes"]["TC1000 Date"], json!("date"));
    assert_eq!(
        r.module.as_deref(),
        Some("ID_TC1000_Specification"),
        "the specification has no LONG-NAME: its IDENTIFIER"
    );
}

#[test]
fn hierarchy_gives_module_parent_order_and_level() {
    let files = Files::start();
    let name = "ci.eclipse.org__TC1100_E0000_S10_Reference_20210122_1256_jenkins__sample.reqif";
    let bytes = std::fs::read(support::fixtures().join("reqif").join(name)).unwrap();
    // The expectation from the file itself, with roxmltree: each node's object, its parent
    // node's object, depth and position.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let object_of = |n: roxmltree::Node| {
        n.children()
            .find(|c| {
                c.has_tag_name(("http://www.omg.org/spec/ReqIF/20110401/reqif.xsd", "OBJECT"))
            })
            .and_then(|o| {
                o.descendants()
                    .find(|d| d.tag_name().name() == "SPEC-OBJECT-REF")
            })
            .and_then(|r| r.text())
            .unwrap()
            .trim()
            .to_owned()
    };
    let mut expected = Vec::new();
    for node in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "SPEC-HIERARCHY")
    {
        let parent = node
            .ancestors()
            .skip(1)
            .find(|a| a.tag_name().name() == "SPEC-HIERARCHY")
            .map(object_of);
        let level = node
            .ancestors()
            .filter(|a| a.tag_name().name() == "SPEC-HIERARCHY")
            .count();
        let order = node
            .prev_siblings()
            .filter(|s| s.tag_name().name() == "SPEC-HIERARCHY")
            .count();
        expected.push((object_of(node), parent, level as u64, order as u64));
    }
    assert_eq!(expected.len(), 5);
    files.put(name, bytes);
    let (requirements, _) = support::import(&files, name, 3);
    let mut got = Vec::new();
    for r in &requirements {
        for p in r.attributes["reqif"]["positions"].as_array().unwrap() {
            got.push((
                r.external_id.clone(),
                p["parent"].as_str().map(str::to_owned),
                p["level"].as_u64().unwrap(),
                p["order"].as_u64().unwrap(),
            ));
        }
        let first = &r.attributes["reqif"]["positions"][0];
        assert_eq!(r.parent.as_deref(), first["parent"].as_str());
    }
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn xhtml_becomes_markdown_and_conventions_fill_the_fields() {
    let files = Files::start();
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
<THE-HEADER><REQ-IF-HEADER IDENTIFIER="h"><SOURCE-TOOL-ID>DOORS 9.7</SOURCE-TOOL-ID></REQ-IF-HEADER></THE-HEADER>
<CORE-CONTENT><REQ-IF-CONTENT>
<DATATYPES>
 <DATATYPE-DEFINITION-STRING IDENTIFIER="s" LAST-CHANGE="2024-01-01T00:00:00Z" MAX-LENGTH="100"/>
 <DATATYPE-DEFINITION-XHTML IDENTIFIER="x" LAST-CHANGE="2024-01-01T00:00:00Z"/>
 <DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="e" LAST-CHANGE="2024-01-01T00:00:00Z"><SPECIFIED-VALUES>
  <ENUM-VALUE IDENTIFIER="e1" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="Approved"><PROPERTIES><EMBEDDED-VALUE KEY="1" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>
 </SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION>
</DATATYPES>
<SPEC-TYPES><SPEC-OBJECT-TYPE IDENTIFIER="t" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="DOORS Object"><SPEC-ATTRIBUTES>
 <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="fid" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="ReqIF.ForeignID"><TYPE><DATATYPE-DEFINITION-STRING-REF>s</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
 <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="pre" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="ReqIF.Prefix"><TYPE><DATATYPE-DEFINITION-STRING-REF>s</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
 <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="head" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="ReqIF.ChapterName"><TYPE><DATATYPE-DEFINITION-XHTML-REF>x</DATATYPE-DEFINITION-XHTML-REF></TYPE></ATTRIBUTE-DEFINITION-XHTML>
 <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="text" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="ReqIF.Text"><TYPE><DATATYPE-DEFINITION-XHTML-REF>x</DATATYPE-DEFINITION-XHTML-REF></TYPE></ATTRIBUTE-DEFINITION-XHTML>
 <ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="st" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="Status" MULTI-VALUED="false"><TYPE><DATATYPE-DEFINITION-ENUMERATION-REF>e</DATATYPE-DEFINITION-ENUMERATION-REF></TYPE></ATTRIBUTE-DEFINITION-ENUMERATION>
 <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="cr" LAST-CHANGE="2024-01-01T00:00:00Z" LONG-NAME="ReqIF.ForeignCreatedOn"><TYPE><DATATYPE-DEFINITION-STRING-REF>s</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE></SPEC-TYPES>
<SPEC-OBJECTS><SPEC-OBJECT IDENTIFIER="o1" LAST-CHANGE="2024-02-03T04:05:06Z"><TYPE><SPEC-OBJECT-TYPE-REF>t</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
 <ATTRIBUTE-VALUE-STRING THE-VALUE="12"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>fid</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
 <ATTRIBUTE-VALUE-STRING THE-VALUE="SRS-"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>pre</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
 <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>head</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION><THE-VALUE><xhtml:div>Brakes &amp; <xhtml:i>safety</xhtml:i></xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
 <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION><THE-VALUE><xhtml:div><xhtml:p>The car <xhtml:b>shall</xhtml:b> stop within
   40&#160;m.</xhtml:p><xhtml:ul><xhtml:li>dry road</xhtml:li><xhtml:li>see <xhtml:a href="https://example.com/spec">spec</xhtml:a></xhtml:li></xhtml:ul><xhtml:table><xhtml:tr><xhtml:th>Speed</xhtml:th><xhtml:th>Distance</xhtml:th></xhtml:tr><xhtml:tr><xhtml:td>50</xhtml:td><xhtml:td>40</xhtml:td></xhtml:tr></xhtml:table></xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
 <ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>st</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION><VALUES><ENUM-VALUE-REF>e1</ENUM-VALUE-REF></VALUES></ATTRIBUTE-VALUE-ENUMERATION>
 <ATTRIBUTE-VALUE-STRING THE-VALUE="2020-01-02T03:04:05Z"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>cr</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
</VALUES></SPEC-OBJECT></SPEC-OBJECTS>
</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>"#;
    files.put("doors.reqif", xml.as_bytes().to_vec());
    let (requirements, _) = support::import(&files, "doors.reqif", 10);
    let r = &requirements[0];
    assert_eq!(r.identifier, "SRS-12", "ReqIF.Prefix + ReqIF.ForeignID");
    assert_eq!(
        r.title, "Brakes & safety",
        "ReqIF.ChapterName, as plain text"
    );
    assert_eq!(
        r.text,
        "The car **shall** stop within 40\u{a0}m.\n\n- dry road\n\n- see [spec](https://example.com/spec)\n\n| Speed | Distance |\n| --- | --- |\n| 50 | 40 |"
    );
    assert_eq!(r.status.as_deref(), Some("Approved"));
    assert_eq!(r.created_at, Some(1_577_934_245_000));
    assert_eq!(r.updated_at, Some(1_706_933_106_000), "LAST-CHANGE");
    assert_eq!(
        r.attributes["ReqIF.ChapterName"],
        json!("Brakes & *safety*")
    );
    assert_eq!(r.module, None, "in no specification");
    let check = files
        .harness()
        .check(&support::config("doors.reqif", 10))
        .unwrap();
    assert!(check.ends_with("from DOORS 9.7"), "{check}");
}

#[test]
fn a_changed_file_is_read_again_and_identity_follows_the_identifier() {
    let files = Files::start();
    let name = "ci.eclipse.org__TC1100_E0000_S10_Reference_20210122_1256_jenkins__sample.reqif";
    let bytes = std::fs::read(support::fixtures().join("reqif").join(name)).unwrap();
    files.put("f.reqif", bytes.clone());
    let harness = files.harness();
    let config = support::config("f.reqif", 2);
    let first = harness.read(&config, "requirements", None).unwrap();
    assert!(first.has_more);
    // The file changes between two pages, and the next page is read by a fresh instance (a
    // thread of its own: the instance that read the first page would cut it from its parse):
    // it starts over on the new version.
    let mut changed = bytes;
    changed.extend_from_slice(b"\n<!-- version 2 -->\n");
    files.put("f.reqif", changed);
    let (second, logs) = std::thread::scope(|s| {
        s.spawn(|| {
            let fresh = files.harness();
            let page = fresh.read(&config, "requirements", Some(&first.state));
            (page.unwrap(), fresh.take_logs())
        })
        .join()
        .unwrap()
    });
    assert_eq!(second.records.len(), 2);
    let ids = |p: &agentic_sdk::Page| {
        p.records
            .iter()
            .map(|r| match r {
                agentic_sdk::RecordData::Requirement(r) => r.external_id.clone(),
                _ => unreachable!(),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&second),
        ids(&first),
        "started again from the first record"
    );
    assert!(logs
        .iter()
        .any(|(_, line)| line.contains("changed during the sync")));
    // A state that is not ours is refused as such.
    let err = harness
        .read(&config, "requirements", Some("page=3"))
        .unwrap_err();
    assert!(
        matches!(err, agentic_sdk::Error::InvalidInput(_)),
        "{err:?}"
    );
}
