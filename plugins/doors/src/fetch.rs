//! The file: fetched through the host and parsed as it arrives.
//!
//! Why as it arrives: a plain `.reqif` of 50 000 DOORS objects is about 73 MiB of XML, more
//! than a plugin instance's default 64 MiB of memory, while its parsed model is a fraction of
//! that; parsed from the response body chunk by chunk, the text is never held whole. A
//! `.reqifz` is held (it is compressed, a tenth of its text or less) and its entries are parsed
//! as they are decompressed ([`crate::reqif::archive`]). The size bound counts the bytes as
//! they come, so a file past it is refused at its first byte too many, whatever its headers
//! said; the content hash the states carry is computed on the way.

use std::io::{BufRead, BufReader, Read};

use agentic_sdk::http::{BodyStream, Request};
use agentic_sdk::Error;

use crate::config::file_name;
use crate::limits::{Limits, MAX_FILE_MIB};
use crate::reqif::{self, model::ReqIf, parse::parse_from};
use crate::ImportError;

/// Bytes read from the response at a time.
const CHUNK: usize = 64 << 10;

/// A fetched and parsed file.
#[derive(Debug)]
pub struct Fetched {
    /// Its name, for messages: the URL's last path segment.
    pub name: String,
    /// Its content hash (FNV-1a, 64 bits, in hex): tells one version of the file from another
    /// (not a security boundary: the file comes from the connection's own service).
    pub hash: String,
    /// The document.
    pub doc: ReqIf,
}

/// Fetches the file at `url` and parses it within `limits`.
pub fn fetch(url: &str, limits: &Limits) -> Result<Fetched, Error> {
    let name = file_name(url);
    let response = Request::get(url)
        .header(
            "accept",
            "application/xml, application/zip, application/octet-stream;q=0.9, */*;q=0.5",
        )
        .send_streaming()?
        .error_for_status()?;
    let mut input = BufReader::with_capacity(
        CHUNK,
        Counted {
            inner: response,
            hash: FNV_OFFSET,
            read: 0,
            max: None,
            over: false,
        },
    );
    let zipped = input
        .fill_buf()
        .map(|head| head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06"));
    let zipped = match zipped {
        Ok(zipped) => zipped,
        Err(e) => return Err(failure(&input, &name, e)),
    };
    let doc = if zipped {
        let mut bytes = Vec::new();
        input
            .read_to_end(&mut bytes)
            .map_err(|e| failure(&input, &name, e))?;
        reqif::read(&name, &bytes, limits)?
    } else {
        input.get_mut().max = Some(limits.max_xml_bytes);
        let parsed = parse_from(&name, &mut input, limits);
        let counted = input.get_ref();
        if counted.over {
            return Err(ImportError::limit(
                &name,
                format!(
                    "more than the {} bytes a ReqIF file may have (the size limit: the \
                     connection's max_file_mib, {MAX_FILE_MIB} MiB at most)",
                    limits.max_xml_bytes
                ),
            )
            .into());
        }
        if let Some(e) = counted.inner.error() {
            return Err(e.clone());
        }
        parsed?
    };
    let hash = format!("{:016x}", input.get_ref().hash);
    Ok(Fetched { name, hash, doc })
}

/// The error a failed read of the response stands for: the transfer's own (typed) when it
/// failed, else the read's.
fn failure(input: &BufReader<Counted>, name: &str, e: std::io::Error) -> Error {
    match input.get_ref().inner.error() {
        Some(e) => e.clone(),
        None => Error::Transient(format!("{name}: reading the file: {e}")),
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The response body, hashed and counted as it is read; past `max` bytes reads fail.
struct Counted {
    inner: BodyStream,
    hash: u64,
    read: u64,
    max: Option<u64>,
    over: bool,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &buf[..n] {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.read += n as u64;
        if self.max.is_some_and(|max| self.read > max) {
            self.over = true;
            return Err(std::io::Error::other("past the size limit"));
        }
        Ok(n)
    }
}
