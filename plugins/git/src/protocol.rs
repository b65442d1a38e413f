//! Git's smart HTTP protocol, client side (`gitprotocol-http(5)`, `gitprotocol-v2(5)`,
//! `gitprotocol-pack(5)`): capability discovery on `info/refs`, `ls-refs` and `fetch` on
//! `git-upload-pack` in protocol version 2, and the version 0/1 advertisement and
//! `want`/`have`/`done` negotiation for servers that offer only that. Every response is read
//! whole by the SDK's HTTP client (through the host's egress, which adds the credential), then
//! framed with [`crate::pktline`]; the pack comes out of the side-band's channel 1.
//!
//! `gix-protocol` builds for the component, but its client drives a `gix-transport` connection
//! (a blocking socket or curl/reqwest) that the component cannot have: requests here go through
//! the host's `wasi:http`. The exchanges themselves are a few lines each, written here.

use std::collections::BTreeSet;

use agentic_sdk::http::{endpoint, Request};
use agentic_sdk::Error;
use gix_hash::ObjectId;

use crate::pktline::{malformed, Packet, Reader, Writer};

/// The `agent=` capability sent to servers.
pub const AGENT: &str = concat!("agent=agentic-git/", env!("CARGO_PKG_VERSION"));

/// Which protocol the connector asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// Version 2 when the server offers it, else 0.
    #[default]
    Auto,
    /// Version 0/1 only (no `Git-Protocol` header).
    V0,
}

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Version 2: commands on a stateless endpoint.
    V2,
    /// Version 0 (or 1): refs advertised up front, one negotiation.
    V0,
}

/// A reference on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Full name, e.g. `refs/heads/main`.
    pub name: String,
    /// What it points at (a commit, or an annotated tag object).
    pub target: ObjectId,
    /// For an annotated tag: the object it finally points at.
    pub peeled: Option<ObjectId>,
    /// For a symbolic ref (`HEAD`): the ref it points to.
    pub symref: Option<String>,
}

/// What the server said on `info/refs`.
#[derive(Debug, Clone)]
pub struct Server {
    /// The protocol it speaks.
    pub version: Version,
    /// Its capabilities (v2: the advertised lines; v0: the first ref line's list).
    pub capabilities: Vec<String>,
    /// The refs it advertised (v0 only; v2 lists them with `ls-refs`).
    pub advertised: Vec<Ref>,
    /// `HEAD`'s target in v0 (from `symref=HEAD:…`).
    pub head: Option<String>,
}

impl Server {
    /// Whether capability `name` (or `name=…`, or v2's `fetch=… name …`) was offered.
    pub fn offers(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| {
            c == name
                || c.strip_prefix(name).is_some_and(|r| r.starts_with('='))
                || c.split_once('=')
                    .is_some_and(|(_, v)| v.split(' ').any(|f| f == name))
        })
    }
}

fn oid(hex: &[u8], what: &str) -> Result<ObjectId, Error> {
    ObjectId::from_hex(hex).map_err(|_| {
        malformed(format!(
            "the server sent {what} with an invalid object id {:?}",
            String::from_utf8_lossy(hex)
        ))
    })
}

/// `GET info/refs?service=git-upload-pack`, asking for version 2 unless `preference` says 0.
pub fn discover(preference: Preference) -> Result<Server, Error> {
    let mut request = Request::get(endpoint("info/refs?service=git-upload-pack")?).header(
        "accept",
        "application/x-git-upload-pack-advertisement, */*;q=0.1",
    );
    if preference == Preference::Auto {
        request = request.header("git-protocol", "version=2");
    }
    let response = request.send()?.error_for_status()?;
    let content_type = response.header("content-type").unwrap_or("");
    if !content_type.starts_with("application/x-git-upload-pack-advertisement") {
        let hint = if content_type.contains("html") {
            "an HTML page (a login page or a web UI?)"
        } else {
            "no smart-HTTP advertisement (a dumb HTTP server, or not Git at all)"
        };
        return Err(Error::Config(format!(
            "{} is not a Git smart-HTTP repository: it answered {hint} with content-type {:?}; \
             check the connection's base URL (the repository URL, e.g. https://host/org/repo.git/) \
             and its credential",
            response.url,
            if content_type.is_empty() {
                "none"
            } else {
                content_type
            }
        )));
    }
    parse_advertisement(&response.body)
}

/// Parses an `info/refs` body: a v2 capability list, or a v0 ref advertisement.
pub fn parse_advertisement(body: &[u8]) -> Result<Server, Error> {
    let mut reader = Reader::new(body, "ref advertisement");
    let mut first = reader.next_packet()?;
    if first.text().is_some_and(|t| t.starts_with(b"# service=")) {
        if reader.next_packet()? != Packet::Flush {
            return Err(malformed(
                "the service line of the advertisement is not followed by a flush".into(),
            ));
        }
        first = reader.next_packet()?;
    }
    if first.text() == Some(b"version 2") {
        let mut capabilities = Vec::new();
        loop {
            match reader.next_packet()? {
                Packet::Flush => break,
                p => capabilities
                    .push(String::from_utf8_lossy(p.text().unwrap_or_default()).into_owned()),
            }
        }
        return Ok(Server {
            version: Version::V2,
            capabilities,
            advertised: Vec::new(),
            head: None,
        });
    }
    let mut server = Server {
        version: Version::V0,
        capabilities: Vec::new(),
        advertised: Vec::new(),
        head: None,
    };
    let mut packet = first;
    let mut is_first = true;
    loop {
        let line = match packet {
            Packet::Flush => break,
            p => p
                .text()
                .ok_or_else(|| malformed("unexpected packet in the ref advertisement".into()))?,
        };
        let line = if is_first && line.starts_with(b"version 1") {
            packet = reader.next_packet()?;
            continue;
        } else {
            line
        };
        let (refpart, caps) = match line.iter().position(|b| *b == 0) {
            Some(nul) => (&line[..nul], Some(&line[nul + 1..])),
            None => (line, None),
        };
        if let Some(caps) = caps.filter(|_| is_first) {
            server.capabilities = String::from_utf8_lossy(caps)
                .split(' ')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            server.head = server
                .capabilities
                .iter()
                .find_map(|c| c.strip_prefix("symref=HEAD:").map(str::to_owned));
        }
        is_first = false;
        if refpart.len() < 42 || refpart[40] != b' ' {
            return Err(malformed(format!(
                "the ref advertisement has a line that is not `<id> <ref>`: {:?}",
                String::from_utf8_lossy(&refpart[..refpart.len().min(80)])
            )));
        }
        let id = oid(&refpart[..40], "a ref")?;
        let name = String::from_utf8_lossy(&refpart[41..]).into_owned();
        if name == "capabilities^{}" {
            // An empty repository: capabilities only.
        } else if let Some(tag) = name.strip_suffix("^{}") {
            if let Some(r) = server.advertised.iter_mut().find(|r| r.name == tag) {
                r.peeled = Some(id);
            }
        } else {
            server.advertised.push(Ref {
                symref: (name == "HEAD").then(|| server.head.clone()).flatten(),
                name,
                target: id,
                peeled: None,
            });
        }
        packet = reader.next_packet()?;
    }
    Ok(server)
}

fn post(body: Vec<u8>, version: Version) -> Result<agentic_sdk::http::Response, Error> {
    let mut request = Request::post(endpoint("git-upload-pack")?)
        .header("content-type", "application/x-git-upload-pack-request")
        .header("accept", "application/x-git-upload-pack-result");
    if version == Version::V2 {
        request = request.header("git-protocol", "version=2");
    }
    let response = request.body(body).send()?.error_for_status()?;
    let content_type = response.header("content-type").unwrap_or("");
    if !content_type.starts_with("application/x-git-upload-pack-result") {
        return Err(Error::Config(format!(
            "{} answered content-type {content_type:?}, not a Git upload-pack result; check the \
             connection's base URL",
            response.url
        )));
    }
    Ok(response)
}

fn v2_command(server: &Server, command: &str) -> Writer {
    let mut w = Writer::new();
    w.line(&format!("command={command}")).line(AGENT);
    if server.offers("object-format") {
        w.line("object-format=sha1");
    }
    w.delimiter();
    w
}

/// The branches and tags (and `HEAD`): from the v0 advertisement, or `ls-refs` in v2.
pub fn list_refs(server: &Server) -> Result<Vec<Ref>, Error> {
    if server.version == Version::V0 {
        return Ok(server.advertised.clone());
    }
    let mut w = v2_command(server, "ls-refs");
    w.line("peel").line("symrefs");
    for prefix in ["HEAD", "refs/heads/", "refs/tags/"] {
        w.line(&format!("ref-prefix {prefix}"));
    }
    let response = post(w.flush().finish(), Version::V2)?;
    parse_ls_refs(&response.body)
}

/// Parses an `ls-refs` response.
pub fn parse_ls_refs(body: &[u8]) -> Result<Vec<Ref>, Error> {
    let mut reader = Reader::new(body, "ls-refs response");
    let mut refs = Vec::new();
    loop {
        let line = match reader.next_packet()? {
            Packet::Flush => break,
            p => p
                .text()
                .ok_or_else(|| malformed("unexpected packet in the ls-refs response".into()))?,
        };
        let text = String::from_utf8_lossy(line);
        if let Some(err) = text.strip_prefix("ERR ") {
            return Err(Error::Internal(format!(
                "the server refused ls-refs: {err}"
            )));
        }
        let mut parts = text.split(' ');
        let id = parts.next().unwrap_or_default();
        let name = parts
            .next()
            .ok_or_else(|| malformed(format!("an ls-refs line without a name: {text:?}")))?;
        if id == "unborn" {
            continue;
        }
        let mut r = Ref {
            name: name.to_owned(),
            target: oid(id.as_bytes(), "ls-refs")?,
            peeled: None,
            symref: None,
        };
        for attr in parts {
            if let Some(t) = attr.strip_prefix("symref-target:") {
                r.symref = Some(t.to_owned());
            } else if let Some(p) = attr.strip_prefix("peeled:") {
                r.peeled = Some(oid(p.as_bytes(), "ls-refs")?);
            }
        }
        refs.push(r);
    }
    Ok(refs)
}

/// What to fetch.
#[derive(Debug, Clone, Default)]
pub struct Want {
    /// Objects wanted (commits).
    pub wants: BTreeSet<ObjectId>,
    /// Objects the connector already read: the server leaves out what they reach.
    pub haves: BTreeSet<ObjectId>,
    /// Only this many commits deep from each want (a snapshot: `deepen 1`).
    pub deepen: Option<u32>,
}

/// A fetched pack and how many bytes the server sent for it.
#[derive(Debug)]
pub struct Fetched {
    /// The pack, side-band removed.
    pub pack: Vec<u8>,
    /// The response body's size.
    pub bytes: usize,
}

/// `fetch` (v2) or the v0 negotiation: returns the pack (empty when nothing was wanted).
pub fn fetch(server: &Server, want: &Want, max_pack_bytes: usize) -> Result<Fetched, Error> {
    if want.wants.is_empty() {
        return Ok(Fetched {
            pack: Vec::new(),
            bytes: 0,
        });
    }
    if want.deepen.is_some() && !server.offers("shallow") {
        return Err(Error::Config(
            "the server does not offer shallow fetches, which the files stream needs".into(),
        ));
    }
    let body = match server.version {
        Version::V2 => {
            let mut w = v2_command(server, "fetch");
            w.line("ofs-delta").line("no-progress");
            for id in &want.wants {
                w.line(&format!("want {id}"));
            }
            for id in &want.haves {
                w.line(&format!("have {id}"));
            }
            if let Some(d) = want.deepen {
                w.line(&format!("deepen {d}"));
            }
            w.line("done").flush().finish()
        }
        Version::V0 => {
            let mut caps = Vec::new();
            for cap in ["side-band-64k", "ofs-delta", "no-progress", "shallow"] {
                if server.offers(cap) {
                    caps.push(cap);
                }
            }
            let mut w = Writer::new();
            for (n, id) in want.wants.iter().enumerate() {
                if n == 0 {
                    w.line(&format!("want {id} {} {AGENT}", caps.join(" ")));
                } else {
                    w.line(&format!("want {id}"));
                }
            }
            if let Some(d) = want.deepen {
                w.line(&format!("deepen {d}"));
            }
            w.flush();
            for id in &want.haves {
                w.line(&format!("have {id}"));
            }
            w.line("done").finish()
        }
    };
    let response = post(body, server.version)?;
    if response.body.len() > max_pack_bytes.saturating_add(1 << 16) {
        return Err(pack_too_big(response.body.len(), max_pack_bytes));
    }
    let sideband = server.version == Version::V2 || server.offers("side-band-64k");
    let pack = read_fetch_response(&response.body, server.version, sideband, max_pack_bytes)?;
    Ok(Fetched {
        pack,
        bytes: response.body.len(),
    })
}

fn pack_too_big(bytes: usize, max: usize) -> Error {
    Error::Config(format!(
        "max_pack_bytes: the server sent a pack of at least {bytes} bytes, over the limit of {max}"
    ))
}

/// Reads a fetch response: v2 sections up to `packfile`, or v0 `ACK`/`NAK`/`shallow` lines;
/// then the pack, from side-band channel 1 (channel 2 is progress, 3 a fatal error).
pub fn read_fetch_response(
    body: &[u8],
    version: Version,
    sideband: bool,
    max_pack_bytes: usize,
) -> Result<Vec<u8>, Error> {
    let mut reader = Reader::new(body, "fetch response");
    match version {
        Version::V2 => loop {
            let packet = reader.next_packet()?;
            let line = packet.text().unwrap_or_default();
            if line == b"packfile" {
                break;
            }
            if let Some(err) = line.strip_prefix(b"ERR ") {
                return Err(Error::Internal(format!(
                    "the server refused the fetch: {}",
                    String::from_utf8_lossy(err)
                )));
            }
            // acknowledgments, shallow-info, wanted-refs, packfile-uris: their lines and
            // delimiters are skipped; a flush or end here means no pack came.
            if matches!(packet, Packet::Flush | Packet::ResponseEnd) {
                return Err(malformed(
                    "the fetch response has no packfile section".into(),
                ));
            }
        },
        Version::V0 => loop {
            let rest = reader.rest();
            if rest.starts_with(b"PACK") && !sideband {
                return bounded(rest.to_vec(), max_pack_bytes);
            }
            let mut peek = reader.clone();
            let packet = peek.next_packet()?;
            let line = packet.text().unwrap_or_default();
            if sideband && matches!(line.first(), Some(1..=3)) {
                break;
            }
            if let Some(err) = line.strip_prefix(b"ERR ") {
                return Err(Error::Internal(format!(
                    "the server refused the fetch: {}",
                    String::from_utf8_lossy(err)
                )));
            }
            let known = line.starts_with(b"ACK ")
                || line == b"NAK"
                || line.starts_with(b"shallow ")
                || line.starts_with(b"unshallow ")
                || packet == Packet::Flush;
            if !known {
                return Err(malformed(format!(
                    "unexpected line in the fetch response: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(80)])
                )));
            }
            reader = peek;
        },
    }
    let mut pack = Vec::new();
    loop {
        if reader.is_empty() {
            return Err(malformed(
                "the pack's side-band stream ended without a flush".into(),
            ));
        }
        match reader.next_packet()? {
            Packet::Flush | Packet::ResponseEnd => break,
            Packet::Delimiter => {
                return Err(malformed(
                    "a delimiter inside the pack's side-band stream".into(),
                ))
            }
            Packet::Data(d) => match d.split_first() {
                Some((1, data)) => {
                    pack.extend_from_slice(data);
                    if pack.len() > max_pack_bytes {
                        return Err(pack_too_big(pack.len(), max_pack_bytes));
                    }
                }
                Some((2, _)) => {}
                Some((3, msg)) => {
                    return Err(Error::Internal(format!(
                        "the server failed while sending the pack: {}",
                        String::from_utf8_lossy(msg).trim()
                    )))
                }
                _ => return Err(malformed("a side-band packet on an unknown channel".into())),
            },
        }
    }
    Ok(pack)
}

fn bounded(pack: Vec<u8>, max: usize) -> Result<Vec<u8>, Error> {
    if pack.len() > max {
        return Err(pack_too_big(pack.len(), max));
    }
    Ok(pack)
}
