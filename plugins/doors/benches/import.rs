//! Spec objects per second of the ReqIF import natively, and the memory it takes: a generated
//! DOORS-style export of 50 000 spec objects (seven attributes each as DOORS Classic writes
//! them: foreign id, prefix, name or chapter name, XHTML text, an integer, an enumerated
//! status; a two-level hierarchy; a relation for every third object) parsed and mapped to
//! records, as a sync's first page does before later pages are cut from the same parse.
//! `cargo bench --manifest-path plugins/Cargo.toml -p doors`. A benchmark, not a test.
//!
//! Memory is counted by a global allocator that tracks the bytes live: the XML text, the
//! `.reqifz` of it, the parsed model, the index and one page of 5 000 records. Native 64-bit
//! sizes; the component's (wasm32: 4-byte pointers and lengths) are smaller.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use doors::limits::Limits;
use doors::reqif::{self, mapping::Index};

/// The system allocator, counting the bytes live and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resets the peak to what is live now.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

const STATUSES: [&str; 3] = ["Draft", "Approved", "Rejected"];

fn export(n: usize) -> String {
    let t = "2024-01-01T00:00:00Z";
    let mut x = String::with_capacity(n * 1500);
    x.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml"><THE-HEADER><REQ-IF-HEADER IDENTIFIER="h"/></THE-HEADER><CORE-CONTENT><REQ-IF-CONTENT><DATATYPES>"#);
    x.push_str(&format!(r#"<DATATYPE-DEFINITION-STRING IDENTIFIER="s" LAST-CHANGE="{t}" MAX-LENGTH="1000"/><DATATYPE-DEFINITION-INTEGER IDENTIFIER="i" LAST-CHANGE="{t}" MIN="0" MAX="100"/><DATATYPE-DEFINITION-XHTML IDENTIFIER="x" LAST-CHANGE="{t}"/><DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="e" LAST-CHANGE="{t}"><SPECIFIED-VALUES>"#));
    for (i, s) in STATUSES.iter().enumerate() {
        x.push_str(&format!(r#"<ENUM-VALUE IDENTIFIER="ev{i}" LAST-CHANGE="{t}" LONG-NAME="{s}"><PROPERTIES><EMBEDDED-VALUE KEY="{i}" OTHER-CONTENT=""/></PROPERTIES></ENUM-VALUE>"#));
    }
    x.push_str(&format!(r#"</SPECIFIED-VALUES></DATATYPE-DEFINITION-ENUMERATION></DATATYPES><SPEC-TYPES><SPEC-OBJECT-TYPE IDENTIFIER="t" LAST-CHANGE="{t}" LONG-NAME="DOORS Object"><SPEC-ATTRIBUTES>"#));
    for (id, name, kind, dt) in [
        ("a_fid", "ReqIF.ForeignID", "STRING", "s"),
        ("a_pre", "ReqIF.Prefix", "STRING", "s"),
        ("a_chap", "ReqIF.ChapterName", "STRING", "s"),
        ("a_name", "ReqIF.Name", "STRING", "s"),
        ("a_text", "ReqIF.Text", "XHTML", "x"),
        ("a_risk", "Risk", "INTEGER", "i"),
        ("a_status", "Status", "ENUMERATION", "e"),
    ] {
        x.push_str(&format!(r#"<ATTRIBUTE-DEFINITION-{kind} IDENTIFIER="{id}" LAST-CHANGE="{t}" LONG-NAME="{name}"><TYPE><DATATYPE-DEFINITION-{kind}-REF>{dt}</DATATYPE-DEFINITION-{kind}-REF></TYPE></ATTRIBUTE-DEFINITION-{kind}>"#));
    }
    x.push_str(&format!(r#"</SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE><SPEC-RELATION-TYPE IDENTIFIER="rt" LAST-CHANGE="{t}" LONG-NAME="satisfies"/><SPECIFICATION-TYPE IDENTIFIER="st" LAST-CHANGE="{t}"/></SPEC-TYPES><SPEC-OBJECTS>"#));
    let string = |x: &mut String, def: &str, v: &str| {
        x.push_str(&format!(r#"<ATTRIBUTE-VALUE-STRING THE-VALUE="{v}"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>{def}</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>"#));
    };
    for i in 0..n {
        x.push_str(&format!(r#"<SPEC-OBJECT IDENTIFIER="_o{i:05}" LAST-CHANGE="2024-01-{:02}T10:{:02}:00Z"><TYPE><SPEC-OBJECT-TYPE-REF>t</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>"#, i % 28 + 1, i % 60));
        string(&mut x, "a_fid", &(i + 1).to_string());
        string(&mut x, "a_pre", "SRS-");
        if i % 10 == 0 {
            string(&mut x, "a_chap", &format!("Chapter {}", i / 10 + 1));
        } else {
            string(&mut x, "a_name", &format!("Requirement {}", i + 1));
            x.push_str(&format!(r#"<ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a_text</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION><THE-VALUE><xhtml:div>The system <xhtml:b>shall</xhtml:b> stop within {i} m.</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>"#));
        }
        x.push_str(&format!(r#"<ATTRIBUTE-VALUE-INTEGER THE-VALUE="{}"><DEFINITION><ATTRIBUTE-DEFINITION-INTEGER-REF>a_risk</ATTRIBUTE-DEFINITION-INTEGER-REF></DEFINITION></ATTRIBUTE-VALUE-INTEGER>"#, i % 7));
        x.push_str(&format!(r#"<ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>a_status</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION><VALUES><ENUM-VALUE-REF>ev{}</ENUM-VALUE-REF></VALUES></ATTRIBUTE-VALUE-ENUMERATION>"#, i % 3));
        x.push_str("</VALUES></SPEC-OBJECT>\n");
    }
    x.push_str("</SPEC-OBJECTS><SPEC-RELATIONS>");
    for i in (3..n).step_by(3) {
        x.push_str(&format!(r#"<SPEC-RELATION IDENTIFIER="_r{i:05}" LAST-CHANGE="{t}"><TYPE><SPEC-RELATION-TYPE-REF>rt</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>_o{i:05}</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>_o{:05}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>"#, i - 1));
    }
    x.push_str(&format!(r#"</SPEC-RELATIONS><SPECIFICATIONS><SPECIFICATION IDENTIFIER="sp" LAST-CHANGE="{t}" LONG-NAME="SRS"><TYPE><SPECIFICATION-TYPE-REF>st</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>"#));
    for chapter in (0..n).step_by(10) {
        x.push_str(&format!(r#"<SPEC-HIERARCHY IDENTIFIER="_h{chapter:05}" LAST-CHANGE="{t}"><OBJECT><SPEC-OBJECT-REF>_o{chapter:05}</SPEC-OBJECT-REF></OBJECT><CHILDREN>"#));
        for i in chapter + 1..(chapter + 10).min(n) {
            x.push_str(&format!(r#"<SPEC-HIERARCHY IDENTIFIER="_h{i:05}" LAST-CHANGE="{t}"><OBJECT><SPEC-OBJECT-REF>_o{i:05}</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>"#));
        }
        x.push_str("</CHILDREN></SPEC-HIERARCHY>");
    }
    x.push_str(
        "</CHILDREN></SPECIFICATION></SPECIFICATIONS></REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>",
    );
    x
}

/// `xml` as a `.reqifz` (deflated), as DOORS exports it.
fn zipped(xml: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("bench.reqif", options).expect("zip");
    zip.write_all(xml.as_bytes()).expect("zip");
    zip.finish().expect("zip");
    out.into_inner()
}

fn main() {
    let n = 50_000;
    let page = 5_000;
    let xml = export(n);
    let reqifz = zipped(&xml);
    // Over the default 24 MiB: a connection importing it sets max_file_mib (README: Limits).
    let limits = Limits::with_max_mib(Some(128));
    println!(
        "{n} spec objects: {:.1} MiB of XML, {:.1} MiB as .reqifz",
        mib(xml.len()),
        mib(reqifz.len())
    );
    for (label, bytes) in [(".reqif", xml.as_bytes()), (".reqifz", &reqifz[..])] {
        let mut best = f64::MAX;
        for run in 0..3 {
            let before = live();
            reset_peak();
            let started = Instant::now();
            let doc = reqif::read("bench.reqif", bytes, &limits).expect("parse");
            let parsed = started.elapsed().as_secs_f64();
            let (model, parse_peak) = (live() - before, PEAK.load(Ordering::Relaxed) - before);
            let indexing = Instant::now();
            let index = Index::new(&doc);
            let index_secs = indexing.elapsed().as_secs_f64();
            let with_index = live() - before;
            reset_peak();
            let first: Vec<_> = doc.objects[..page]
                .iter()
                .map(|o| index.requirement(o))
                .collect();
            let records = live() - before - with_index;
            drop(first);
            let records_total = index.requirements().count() + index.links().count();
            let total = started.elapsed().as_secs_f64();
            assert_eq!(records_total, n + (n - 1) / 3);
            if run == 0 {
                println!(
                    "{label}: model {:.1} MiB (peak while parsing {:.1} MiB beside the file), \
                     index {:.1} MiB ({:.0} ms), a page of {page} requirements {:.1} MiB",
                    mib(model),
                    mib(parse_peak),
                    mib(with_index - model),
                    index_secs * 1e3,
                    mib(records),
                );
            }
            println!(
                "{label}: parse {parsed:.3} s, parse + map {total:.3} s ({:.0} spec objects/s)",
                n as f64 / total
            );
            best = best.min(total);
        }
        println!("{label} best: {:.0} spec objects/s", n as f64 / best);
    }
}
