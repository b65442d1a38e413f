//! Native tests of the protocol and pack code on real captures of `git http-backend`'s answers
//! (`tests/fixtures/`, copied from the project's shared captures: a v2 capability advertisement, an `ls-refs` and a `fetch`
//! exchange), plus the damaged variants a broken server or network produces; and, in
//! [`github`], `source = "github"` against a fake GitHub held to GitHub's OpenAPI description;
//! in [`gitlab`], `source = "gitlab"` against a fake GitLab following GitLab's API documentation.

mod github;
mod gitlab;

use git::pack::{self, Limits};
use git::protocol::{self, Version};
use gix_hash::ObjectId;

const LIMITS: Limits = Limits {
    max_object_bytes: 1 << 20,
    max_delta_depth: 50,
};

/// A capture's body: the HTTP headers the CGI wrote, cut off.
fn body(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| i + 4);
    raw[at..].to_vec()
}

#[test]
fn the_v2_advertisement_is_read() {
    let server = protocol::parse_advertisement(&body("adv.out")).unwrap();
    assert_eq!(server.version, Version::V2);
    assert!(server.offers("ls-refs"));
    assert!(server.offers("shallow"), "fetch=shallow wait-for-done");
    assert!(server.offers("object-format"));
    assert!(!server.offers("filter"));
}

#[test]
fn ls_refs_lists_branches_and_skips_an_unborn_head() {
    let refs = protocol::parse_ls_refs(&body("lsrefs.out")).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].name, "refs/heads/main");
    assert_eq!(
        refs[0].target.to_string(),
        "66a756ef0aa26154a0a2a233dc1a03d5f494e688"
    );
}

#[test]
fn the_requests_are_what_git_sends() {
    // The capture of git's own ls-refs request, written by our writer.
    let mut w = git::pktline::Writer::new();
    w.line("command=ls-refs")
        .line("agent=git/2.test")
        .line("object-format=sha1")
        .delimiter();
    w.line("peel")
        .line("symrefs")
        .line("unborn")
        .line("ref-prefix HEAD")
        .line("ref-prefix refs/heads/")
        .flush();
    assert_eq!(w.finish(), body("lsrefs.req"));
}

#[test]
fn a_fetched_pack_is_parsed_and_its_commit_decoded() {
    let pack =
        protocol::read_fetch_response(&body("fetch.out"), Version::V2, true, 1 << 20).unwrap();
    assert_eq!(&pack[..4], b"PACK");
    let objects = pack::parse(&pack, LIMITS).unwrap();
    let id = ObjectId::from_hex(b"66a756ef0aa26154a0a2a233dc1a03d5f494e688").unwrap();
    assert!(objects.contains(&id), "the wanted commit is in the pack");
    let commit = git::history::decode(&objects, &id).unwrap();
    assert!(commit.parents.is_empty());
    assert!(!commit.author.email.is_empty());
    // Every object's id is the hash of its content: the pack has the commit's tree too.
    assert_eq!(objects.len(), 2);
}

#[test]
fn damaged_answers_are_errors_not_panics() {
    let good = body("fetch.out");
    // A pkt-line length that is not hexadecimal.
    let mut bad = good.clone();
    bad[..4].copy_from_slice(b"zz0x");
    let e = protocol::read_fetch_response(&bad, Version::V2, true, 1 << 20).unwrap_err();
    assert!(e.to_string().contains("malformed pkt-line"), "{e}");
    // Cut at every length: never a panic, always an error.
    for n in 0..good.len() {
        let cut = &good[..n];
        let r = protocol::read_fetch_response(cut, Version::V2, true, 1 << 20)
            .and_then(|p| pack::parse(&p, LIMITS).map(|_| ()));
        assert!(r.is_err(), "cut at {n} went through");
    }
    // Every single flipped byte of the pack: an error (checksum, inflate, header), no panic.
    let pack = protocol::read_fetch_response(&good, Version::V2, true, 1 << 20).unwrap();
    for i in 0..pack.len() {
        let mut p = pack.clone();
        p[i] ^= 0x41;
        assert!(pack::parse(&p, LIMITS).is_err(), "flip at {i} went through");
    }
    // A pack bigger than allowed.
    let e = protocol::read_fetch_response(&good, Version::V2, true, 10).unwrap_err();
    assert!(e.to_string().contains("max_pack_bytes"), "{e}");
}

#[test]
fn an_html_page_is_not_an_advertisement() {
    let e = protocol::parse_advertisement(b"<!DOCTYPE html><html>login</html>").unwrap_err();
    assert!(e.to_string().contains("malformed pkt-line"), "{e}");
}

#[test]
fn the_object_size_limit_refuses_by_header() {
    let pack =
        protocol::read_fetch_response(&body("fetch.out"), Version::V2, true, 1 << 20).unwrap();
    let tiny = Limits {
        max_object_bytes: 10,
        max_delta_depth: 50,
    };
    let e = pack::parse(&pack, tiny).unwrap_err();
    assert!(e.to_string().contains("max_object_bytes"), "{e}");
}

#[test]
fn a_ref_delta_loop_is_found() {
    // Two ref-deltas, each based on the other's id: they can never resolve.
    use gix_hash::Kind;
    let a = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
    let b = ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap();
    let mut body = b"PACK\0\0\0\x02\0\0\0\x02".to_vec();
    for base in [b, a] {
        let delta = [1u8, 1, 1, b'x'];
        body.push(0x70 | delta.len() as u8); // type 7 (ref-delta), size
        body.extend_from_slice(base.as_bytes());
        body.extend_from_slice(&zlib(&delta));
    }
    let mut h = gix_hash::hasher(Kind::Sha1);
    h.update(&body);
    body.extend_from_slice(h.try_finalize().unwrap().as_bytes());
    let e = pack::parse(&body, LIMITS).unwrap_err();
    assert!(e.to_string().contains("delta loop"), "{e}");
}

/// `data` as a zlib stream of stored blocks (enough for tests, no compressor needed).
fn zlib(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01, 0x01];
    let len = data.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

#[test]
fn a_two_gigabyte_object_is_refused_by_its_header() {
    // One blob entry whose header claims 2 GiB: refused before any memory is taken for it.
    use gix_hash::Kind;
    let size: u64 = 2 << 30;
    let mut body = b"PACK\0\0\0\x02\0\0\0\x01".to_vec();
    // type 3 (blob): first byte holds 4 bits of size, then 7 bits a byte.
    body.push(0x80 | (3 << 4) | (size & 0x0f) as u8);
    let mut rest = size >> 4;
    while rest > 0 {
        let more = if rest >> 7 > 0 { 0x80 } else { 0 };
        body.push(more | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    body.extend_from_slice(&zlib(b"tiny"));
    let mut h = gix_hash::hasher(Kind::Sha1);
    h.update(&body);
    body.extend_from_slice(h.try_finalize().unwrap().as_bytes());
    let e = pack::parse(&body, LIMITS).unwrap_err();
    assert!(e.to_string().contains("2147483648 bytes"), "{e}");
}

/// A record's fields as JSON (the record types serialise; their enum does not).
pub fn record_json(record: &agentic_sdk::RecordData) -> serde_json::Value {
    use agentic_sdk::RecordData as R;
    let value = match record {
        R::Document(r) => serde_json::to_value(r),
        R::WorkItem(r) => serde_json::to_value(r),
        R::Comment(r) => serde_json::to_value(r),
        R::Requirement(r) => serde_json::to_value(r),
        R::TraceLink(r) => serde_json::to_value(r),
        R::Person(r) => serde_json::to_value(r),
        R::Raw(r) => serde_json::to_value(r),
    };
    value.expect("records serialise")
}
