//! Paging over one parse, and the file-size bound: the pages of a run after the first are cut
//! from the parse the instance kept (no download, no parse), a page read by a fresh instance
//! gives the same page from a download of its own, a run from no state always downloads; and
//! the bound a connection may raise to 128 MiB still refuses what is past it.

use std::io::Write;

use agentic_sdk::{Error, Page, RecordData};
use serde_json::json;

use crate::support::{self, Files};

/// A ReqIF document of `n` spec objects, a relation for every other one.
fn export(n: usize) -> String {
    let mut x = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"><CORE-CONTENT><REQ-IF-CONTENT><DATATYPES><DATATYPE-DEFINITION-STRING IDENTIFIER="s" MAX-LENGTH="100"/></DATATYPES><SPEC-TYPES><SPEC-OBJECT-TYPE IDENTIFIER="t" LONG-NAME="Req"><SPEC-ATTRIBUTES><ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a" LONG-NAME="ReqIF.Name"><TYPE><DATATYPE-DEFINITION-STRING-REF>s</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING></SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE></SPEC-TYPES><SPEC-OBJECTS>"#,
    );
    for i in 0..n {
        x.push_str(&format!(r#"<SPEC-OBJECT IDENTIFIER="o{i}"><TYPE><SPEC-OBJECT-TYPE-REF>t</SPEC-OBJECT-TYPE-REF></TYPE><VALUES><ATTRIBUTE-VALUE-STRING THE-VALUE="Requirement {i}"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING></VALUES></SPEC-OBJECT>"#));
    }
    x.push_str("</SPEC-OBJECTS><SPEC-RELATIONS>");
    for i in (1..n).step_by(2) {
        x.push_str(&format!(r#"<SPEC-RELATION IDENTIFIER="r{i}"><SOURCE><SPEC-OBJECT-REF>o{i}</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>o{}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>"#, i - 1));
    }
    x.push_str("</SPEC-RELATIONS></REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>");
    x
}

fn zipped(name: &str, xml: &[u8]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(name, options).unwrap();
    zip.write_all(xml).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn ids(page: &Page) -> Vec<String> {
    page.records
        .iter()
        .map(|r| match r {
            RecordData::Requirement(r) => r.external_id.clone(),
            RecordData::TraceLink(l) => l.external_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn later_pages_of_a_run_are_cut_from_the_first_pages_parse() {
    let files = Files::start();
    let xml = export(25).into_bytes();
    files.put("big.reqif", xml.clone());
    files.put("big.reqifz", zipped("big.reqif", &xml));
    for name in ["big.reqif", "big.reqifz"] {
        let harness = files.harness();
        let config = support::config(name, 10);
        let first = harness.read(&config, "requirements", None).unwrap();
        assert_eq!(files.downloads(name), 1, "{name}");
        let second = harness
            .read(&config, "requirements", Some(&first.state))
            .unwrap();
        let third = harness
            .read(&config, "requirements", Some(&second.state))
            .unwrap();
        assert_eq!(
            files.downloads(name),
            1,
            "{name}: the second and third pages were cut from the first page's parse"
        );
        assert_eq!(
            [
                first.records.len(),
                second.records.len(),
                third.records.len()
            ],
            [10, 10, 5]
        );
        assert!(second.has_more && !third.has_more);
        let all: Vec<String> = [&first, &second, &third]
            .into_iter()
            .flat_map(ids)
            .collect();
        let expected: Vec<String> = (0..25).map(|i| format!("o{i}")).collect();
        assert_eq!(all, expected, "{name}");

        // A fresh instance (a thread of its own) reading the second page downloads and parses
        // the file itself, and gives the same page.
        let fresh = std::thread::scope(|s| {
            s.spawn(|| {
                files
                    .harness()
                    .read(&config, "requirements", Some(&first.state))
                    .unwrap()
            })
            .join()
            .unwrap()
        });
        assert_eq!(files.downloads(name), 2, "{name}");
        assert_eq!(fresh, second, "{name}");

        // A run from no state downloads the file as it is now, even while a parse is kept:
        // the links, two pages from one download.
        let links = harness.read(&config, "links", None).unwrap();
        let rest = harness.read(&config, "links", Some(&links.state)).unwrap();
        assert_eq!(files.downloads(name), 3, "{name}");
        assert_eq!((links.records.len(), rest.records.len()), (10, 2));
        assert!(!rest.has_more);
        // The last page drops the parse: nothing outlives the run.
        harness.read(&config, "links", Some(&links.state)).unwrap();
        assert_eq!(files.downloads(name), 4, "{name}");
    }
}

/// The refusal a read of `name` with `max_file_mib` gives.
fn refused(files: &Files, name: &str, max_file_mib: Option<u32>) -> String {
    let mut config = support::config(name, 10);
    if let Some(mib) = max_file_mib {
        config["max_file_mib"] = json!(mib);
    }
    match files.harness().read(&config, "requirements", None) {
        Err(Error::Config(message)) => message,
        other => panic!("{name}: expected a config error, got {other:?}"),
    }
}

/// A valid document of one spec object padded with spaces to `bytes` bytes.
fn padded(bytes: usize) -> Vec<u8> {
    let xml = export(1);
    let split = xml.find("</REQ-IF-CONTENT>").unwrap();
    let mut out = Vec::with_capacity(bytes);
    out.extend_from_slice(&xml.as_bytes()[..split]);
    out.resize(bytes - (xml.len() - split), b' ');
    out.extend_from_slice(&xml.as_bytes()[split..]);
    assert_eq!(out.len(), bytes);
    out
}

#[test]
fn the_raised_file_bound_still_refuses_what_is_past_it() {
    let files = Files::start();
    // Past the default 24 MiB: refused unless the connection raises the bound, and read when
    // it does.
    files.put("25.reqif", padded(25 << 20));
    let message = refused(&files, "25.reqif", None);
    assert!(
        message.contains("25.reqif")
            && message.contains("more than the 25165824 bytes")
            && message.contains("max_file_mib"),
        "{message}"
    );
    let config = json!({"reqif_path": "/files/25.reqif", "max_file_mib": 26});
    let page = files.harness().read(&config, "requirements", None).unwrap();
    assert_eq!(ids(&page), ["o0"]);

    // 128 MiB is the most a connection may allow, and a byte more is refused.
    let message = match files.harness().read(
        &json!({"reqif_path": "/files/25.reqif", "max_file_mib": 129}),
        "requirements",
        None,
    ) {
        Err(Error::Config(message)) => message,
        other => panic!("{other:?}"),
    };
    assert!(
        message.contains("max_file_mib: 129 is not between 1 and 128"),
        "{message}"
    );
    files.put("25.reqif", Vec::new());
    files.put("over.reqif", padded((128 << 20) + 1));
    let message = refused(&files, "over.reqif", Some(128));
    assert!(
        message.contains("over.reqif") && message.contains("more than the 134217728 bytes"),
        "{message}"
    );
}
