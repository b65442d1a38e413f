//! Hostile files: every one is refused, quickly and with bounded memory, with an error that
//! names the file and the limit — through a real read, as a sync would meet them.

use std::io::Write;

use agentic_sdk::Error;

use crate::support::{self, Files};

/// The error reading `bytes` served as `name` gives.
fn refusal(name: &str, bytes: Vec<u8>) -> String {
    let files = Files::start();
    files.put(name, bytes);
    match files
        .harness()
        .read(&support::config(name, 10), "requirements", None)
    {
        Err(Error::Config(message)) => message,
        other => panic!("{name}: expected a config error, got {other:?}"),
    }
}

const HEAD: &str = r#"<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"><CORE-CONTENT><REQ-IF-CONTENT>"#;
const TAIL: &str = "</REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>";

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE REQ-IF [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        xml.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    xml.push_str("]>\n");
    xml.push_str(HEAD);
    xml.push_str("&lol9;");
    xml.push_str(TAIL);
    let message = refusal("laughs.reqif", xml.into_bytes());
    assert!(message.contains("laughs.reqif"), "{message}");
    assert!(message.contains("DOCTYPE"), "{message}");
}

#[test]
fn external_and_undefined_entities_are_refused() {
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{HEAD}&xxe;{TAIL}"
    );
    let message = refusal("xxe.reqif", xml.into_bytes());
    assert!(
        message.contains("xxe.reqif") && message.contains("DOCTYPE"),
        "{message}"
    );
    // No DTD, but an entity reference all the same.
    let xml = format!("{HEAD}<SPEC-OBJECTS>&secret;</SPEC-OBJECTS>{TAIL}");
    let message = refusal("undefined.reqif", xml.into_bytes());
    assert!(
        message.contains("undefined.reqif") && message.contains("&secret;"),
        "{message}"
    );
}

#[test]
fn deep_nesting_is_refused_at_the_depth_limit() {
    let depth = 100_000;
    let xml = format!(
        "{HEAD}{}{}{TAIL}",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let message = refusal("deep.reqif", xml.into_bytes());
    assert!(message.contains("deep.reqif"), "{message}");
    assert!(
        message.contains("nested deeper than 64 levels"),
        "{message}"
    );
}

#[test]
fn too_many_elements_and_too_many_bytes_are_refused() {
    // 4 000 001 empty elements in about 12 MB, under the size bound.
    let mut xml = String::from(HEAD);
    xml.push_str(&"<x/>".repeat(4_000_001));
    xml.push_str(TAIL);
    let message = refusal("many.reqif", xml.into_bytes());
    assert!(
        message.contains("many.reqif") && message.contains("more than 4000000 XML elements"),
        "{message}"
    );

    // Over the configured size: 2 MiB with max_file_mib = 1.
    let files = Files::start();
    let mut big = String::from(HEAD);
    big.push_str(&" ".repeat(2 << 20));
    big.push_str(TAIL);
    files.put("big.reqif", big.into_bytes());
    let config = serde_json::json!({"reqif_path": "/files/big.reqif", "max_file_mib": 1});
    let err = files
        .harness()
        .read(&config, "requirements", None)
        .unwrap_err();
    let Error::Config(message) = err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("big.reqif") && message.contains("1048576 bytes"),
        "{message}"
    );
}

fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn a_zip_bomb_is_refused_by_the_compression_ratio() {
    // 10 MiB of spaces inside a valid document compress to about 10 KB.
    let mut xml = Vec::from(HEAD.as_bytes());
    xml.extend(std::iter::repeat_n(b' ', 10 << 20));
    xml.extend_from_slice(TAIL.as_bytes());
    let archive = zip_of(&[("bomb.reqif", &xml)], zip::CompressionMethod::Deflated);
    assert!(archive.len() < 50_000, "{}", archive.len());
    let message = refusal("bomb.reqifz", archive);
    assert!(message.contains("bomb.reqifz!bomb.reqif"), "{message}");
    assert!(message.contains("compression-ratio limit"), "{message}");
}

#[test]
fn archives_past_the_size_or_entry_bounds_are_refused() {
    // Stored (not compressed): no ratio, but 25 MiB together is past the 24 MiB bound.
    let half = vec![b' '; 13 << 20];
    let mut one = Vec::from(HEAD.as_bytes());
    one.extend_from_slice(&half);
    one.extend_from_slice(TAIL.as_bytes());
    let archive = zip_of(
        &[("a.reqif", &one), ("b.reqif", &one)],
        zip::CompressionMethod::Stored,
    );
    let message = refusal("two.reqifz", archive);
    assert!(
        message.contains("two.reqifz!b.reqif") && message.contains("size limit"),
        "{message}"
    );

    let names: Vec<String> = (0..300).map(|i| format!("img{i}.png")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let message = refusal(
        "many.reqifz",
        zip_of(&entries, zip::CompressionMethod::Stored),
    );
    assert!(
        message.contains("many.reqifz") && message.contains("300 entries is more than the 256"),
        "{message}"
    );
}

#[test]
fn path_traversal_in_an_archive_is_refused() {
    let sample =
        std::fs::read(support::fixtures().join("reqif/org.eclipse.rmf__02_sample__sample.reqif"))
            .unwrap();
    for evil in ["../../etc/cron.d/x.reqif", "/abs.reqif", "dir\\..\\x.reqif"] {
        let archive = zip_of(
            &[("ok.reqif", &sample), (evil, &sample)],
            zip::CompressionMethod::Deflated,
        );
        let message = refusal("evil.reqifz", archive);
        assert!(
            message.contains("evil.reqifz") && message.contains("path traversal"),
            "{evil}: {message}"
        );
    }
}

#[test]
fn not_reqif_is_refused_with_what_it_is() {
    let message = refusal("page.reqif", b"<html><body>login</body></html>".to_vec());
    assert!(
        message.contains("page.reqif") && message.contains("root element is html"),
        "{message}"
    );
    let message = refusal("broken.reqif", format!("{HEAD}<SPEC-OBJECTS>").into_bytes());
    assert!(message.contains("broken.reqif"), "{message}");
    let message = refusal(
        "empty.reqifz",
        zip_of(&[("readme.txt", b"hi")], zip::CompressionMethod::Stored),
    );
    assert!(message.contains("no .reqif file"), "{message}");
}
