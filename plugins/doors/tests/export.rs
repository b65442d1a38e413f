//! The export: every sample imported, exported, validated against the OMG ReqIF 1.2 schema with
//! `xmllint` (Debian's libxml2-utils; CI installs it), and imported again into the same
//! requirements — fields, every attribute, hierarchy — and links.
//!
//! `reqif.xsd` imports `xml.xsd` (with an empty schema location) and the XHTML modularization
//! schemas, which the fixtures do not carry; the validation uses two stand-ins written here:
//! `xml:lang` as `xsd:language`, and XHTML content as one element of the XHTML namespace,
//! checked laxly. Everything ReqIF itself defines is checked against the real schema.

use std::path::{Path, PathBuf};
use std::process::Command;

use agentic_sdk::{Requirement, TraceLink};
use serde_json::{json, Value};

use crate::support::{self, Files};

const XML_STAND_IN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/XML/1998/namespace">
  <xsd:attribute name="lang" type="xsd:language"/>
</xsd:schema>
"#;

const XHTML_STAND_IN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.w3.org/1999/xhtml" elementFormDefault="qualified">
  <xsd:group name="xhtml.BlkStruct.class">
    <xsd:sequence>
      <xsd:any namespace="http://www.w3.org/1999/xhtml" processContents="lax"/>
    </xsd:sequence>
  </xsd:group>
</xsd:schema>
"#;

/// A directory with the schema and its stand-ins, fresh per test.
fn schema_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doors-xsd-{test}-{}", std::process::id()));
    let xhtml = dir.join("http/www.omg.org/spec/ReqIF/20110402");
    std::fs::create_dir_all(&xhtml).unwrap();
    let xsd = std::fs::read_to_string(support::fixtures().join("reqif.xsd")).unwrap();
    let xsd = xsd.replace(
        r#"namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="""#,
        r#"namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd""#,
    );
    std::fs::write(dir.join("reqif.xsd"), xsd).unwrap();
    std::fs::write(dir.join("xml.xsd"), XML_STAND_IN).unwrap();
    std::fs::write(xhtml.join("driver.xsd"), XHTML_STAND_IN).unwrap();
    dir
}

/// `xmllint --schema`: `Ok` when valid, else its complaints.
fn validate(dir: &Path, name: &str, xml: &str) -> Result<(), String> {
    let file = dir.join(name);
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(dir.join("reqif.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint is needed to validate the export: apt-get install libxml2-utils");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Every id of the import: requirements', links', specifications' and hierarchy nodes'.
fn identifiers(
    requirements: &[Requirement],
    links: &[TraceLink],
) -> std::collections::HashSet<String> {
    let mut ids: std::collections::HashSet<String> =
        requirements.iter().map(|r| r.external_id.clone()).collect();
    ids.extend(links.iter().map(|l| l.external_id.clone()));
    for r in requirements {
        for p in r.attributes["reqif"]["positions"].as_array().unwrap() {
            for key in ["specification", "hierarchy"] {
                ids.extend(p[key].as_str().map(str::to_owned));
            }
        }
    }
    ids
}

/// `value` with every string that is one of `ids` replaced as the export renames ids.
fn renamed(value: Value, ids: &std::collections::HashSet<String>) -> Value {
    match value {
        Value::String(s) if ids.contains(&s) => Value::String(doors::reqif::export::xml_id(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| renamed(v, ids)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, renamed(v, ids))).collect())
        }
        other => other,
    }
}

fn export(files: &Files, requirements: &[Requirement], links: &[TraceLink]) -> Value {
    files
        .harness()
        .invoke(
            &json!({}),
            "export-reqif",
            &json!({"title": "Round trip", "requirements": requirements, "links": links}),
        )
        .expect("export-reqif")
}

#[test]
fn the_validator_refuses_what_the_schema_refuses() {
    let dir = schema_dir("negative");
    let files = Files::start();
    let requirements: Vec<Requirement> = serde_json::from_value(json!([
        {"external_id": "R1", "title": "Stop", "text": "The car *shall* stop."}
    ]))
    .unwrap();
    let xml = export(&files, &requirements, &[])["reqif"]
        .as_str()
        .unwrap()
        .to_owned();
    validate(&dir, "ok.reqif", &xml).expect("valid");
    // LAST-CHANGE is required on a spec object; an XHTML value must be XHTML.
    let at = xml.find("<SPEC-OBJECT IDENTIFIER=").unwrap();
    let rel = xml[at..].find(" LAST-CHANGE=").unwrap();
    let mut broken = xml.clone();
    broken.replace_range(at + rel..at + rel + " LAST-CHANGE=".len(), " CHANGED=");
    assert!(validate(&dir, "broken.reqif", &broken).is_err());
    let not_xhtml = xml
        .replacen("<THE-VALUE><xhtml:div>", "<THE-VALUE><div>", 1)
        .replacen("</xhtml:div></THE-VALUE>", "</div></THE-VALUE>", 1);
    assert_ne!(not_xhtml, xml);
    assert!(validate(&dir, "not-xhtml.reqif", &not_xhtml).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_sample_exports_valid_reqif_that_imports_back_the_same() {
    let dir = schema_dir("samples");
    let files = Files::start();
    for (name, bytes) in support::samples() {
        files.put(&name, bytes);
        let (requirements, links) = support::import(&files, &name, 50);
        let out = export(&files, &requirements, &links);
        let xml = out["reqif"].as_str().unwrap();
        assert_eq!(out["spec_objects"], json!(requirements.len()), "{name}");
        // Links between requirements of the file (one sample points at objects it lacks).
        let ids: std::collections::HashSet<&str> = requirements
            .iter()
            .map(|r| r.external_id.as_str())
            .collect();
        let links: Vec<TraceLink> = links
            .into_iter()
            .filter(|l| ids.contains(l.source.as_str()) && ids.contains(l.target.as_str()))
            .collect();
        assert_eq!(out["spec_relations"], json!(links.len()), "{name}");
        if let Err(why) = validate(&dir, "export.reqif", xml) {
            panic!("{name}: the export is not valid ReqIF 1.2:\n{why}");
        }
        files.put("export.reqif", xml.as_bytes().to_vec());
        let (again, again_links) = support::import(&files, "export.reqif", 50);
        assert_eq!(again.len(), requirements.len(), "{name}");
        // IDENTIFIERs that are not XML names (two samples are not valid ReqIF for that
        // reason) come back renamed by the export's documented rule; everything else equal.
        let ids = identifiers(&requirements, &links);
        for (a, b) in requirements.iter().zip(&again) {
            assert_eq!(
                renamed(serde_json::to_value(a).unwrap(), &ids),
                serde_json::to_value(b).unwrap(),
                "{name}: {} changed in the round trip",
                a.external_id
            );
        }
        assert_eq!(
            renamed(serde_json::to_value(&links).unwrap(), &ids),
            serde_json::to_value(&again_links).unwrap(),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn records_from_elsewhere_export_with_their_fields_and_hierarchy() {
    let dir = schema_dir("elsewhere");
    let files = Files::start();
    let requirements: Vec<Requirement> = serde_json::from_value(json!([
        {"external_id": "10001", "identifier": "SRS-1", "title": "Braking", "text": "# Braking\n\nThe car *shall* brake.", "module": "SRS", "status": "Draft", "updated_at": 1_700_000_000_000i64, "attributes": {"ASIL": "C", "Weight": 3, "Reviewed": true, "Tags": ["safety", "brakes"]}},
        {"external_id": "10002", "identifier": "SRS-2", "title": "ABS", "text": "1. pump\n\n2. release", "module": "SRS", "parent": "10001", "attributes": {"ASIL": "D", "Weight": 2.5}},
        {"external_id": "10003", "identifier": "SRS-3", "title": "Loose", "text": "Not in a module."}
    ]))
    .unwrap();
    let links: Vec<TraceLink> = serde_json::from_value(json!([
        {"external_id": "L 1", "source": "10002", "target": "10001", "link_type": "refines"},
        {"external_id": "L2", "source": "10002", "target": "JIRA-9", "link_type": "implemented by"}
    ]))
    .unwrap();
    let out = export(&files, &requirements, &links);
    assert_eq!(
        out["spec_relations"],
        json!(1),
        "the link to a requirement not exported is left out"
    );
    assert_eq!(out["specifications"], json!(1));
    assert_eq!(out["hierarchy_nodes"], json!(2));
    let xml = out["reqif"].as_str().unwrap();
    validate(&dir, "elsewhere.reqif", xml).expect("valid");
    files.put("e.reqif", xml.as_bytes().to_vec());
    let (back, back_links) = support::import(&files, "e.reqif", 10);
    let by_id = |id: &str| {
        back.iter()
            .find(|r| r.attributes["reqif"]["identifier"] == json!(id))
            .unwrap()
    };
    let r1 = by_id("_10001");
    assert_eq!(
        (r1.identifier.as_str(), r1.title.as_str()),
        ("SRS-1", "Braking")
    );
    assert_eq!(r1.text, "# Braking\n\nThe car *shall* brake.");
    assert_eq!(r1.status.as_deref(), Some("Draft"));
    assert_eq!(r1.module.as_deref(), Some("SRS"));
    assert_eq!(r1.updated_at, Some(1_700_000_000_000));
    assert_eq!(r1.attributes["ASIL"], json!("C"));
    assert_eq!(
        r1.attributes["Weight"],
        json!(3.0),
        "Weight is a real: 2.5 elsewhere"
    );
    assert_eq!(r1.attributes["Reviewed"], json!(true));
    assert_eq!(r1.attributes["Tags"], json!(["safety", "brakes"]));
    let r2 = by_id("_10002");
    assert_eq!(r2.parent.as_deref(), Some("_10001"));
    assert_eq!(r2.text, "1. pump\n\n2. release");
    let r3 = by_id("_10003");
    assert_eq!((r3.module.as_deref(), r3.title.as_str()), (None, "Loose"));
    assert_eq!(back_links.len(), 1);
    assert_eq!(back_links[0].link_type, "refines");
    assert_eq!(
        (back_links[0].source.as_str(), back_links[0].target.as_str()),
        ("_10002", "_10001")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_export_input_is_refused() {
    let files = Files::start();
    let h = files.harness();
    for input in [
        json!({}),
        json!({"requirements": [{"external_id": ""}]}),
        json!({"requirements": [], "extra": 1}),
    ] {
        let err = h.invoke(&json!({}), "export-reqif", &input).unwrap_err();
        assert!(
            matches!(err, agentic_sdk::Error::InvalidInput(_)),
            "{input}: {err:?}"
        );
    }
    let err = h.invoke(&json!({}), "nope", &json!({})).unwrap_err();
    assert!(matches!(err, agentic_sdk::Error::NotFound(_)));
}
