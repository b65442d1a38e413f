//! Git's pkt-line framing (`gitprotocol-common(5)`): lines are read with `gix-packetline`'s
//! decoder (over a whole response body, which the SDK's HTTP client returns in one piece);
//! requests are written here, since they are a few short text lines.

use agentic_sdk::Error;
use gix_packetline::decode::{self, Stream};
use gix_packetline::PacketLineRef;

/// One packet of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A data line (with its trailing newline, if the server sent one).
    Data(&'a [u8]),
    /// `0000`: the end of a list or a response.
    Flush,
    /// `0001`: the end of a section's arguments (protocol v2).
    Delimiter,
    /// `0002`: the end of a stateless response (protocol v2).
    ResponseEnd,
}

impl<'a> Packet<'a> {
    /// The data without its trailing newline; `None` for the special packets.
    pub fn text(&self) -> Option<&'a [u8]> {
        match self {
            Packet::Data(d) => Some(d.strip_suffix(b"\n").unwrap_or(d)),
            _ => None,
        }
    }
}

/// Reads the packets of a response body one by one.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    offset: usize,
    /// What the body is, for error messages (`ls-refs response`, …).
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `data`; `what` names the response in errors.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Self {
            data,
            offset: 0,
            what,
        }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.offset >= self.data.len()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.offset.min(self.data.len())..]
    }

    /// The next packet; a malformed or cut packet is an error naming where it is.
    pub fn next_packet(&mut self) -> Result<Packet<'a>, Error> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err(malformed(format!(
                "the server's {} ended early (at byte {})",
                self.what, self.offset
            )));
        }
        match decode::streaming(rest) {
            Ok(Stream::Complete {
                line,
                bytes_consumed,
            }) => {
                self.offset += bytes_consumed;
                Ok(match line {
                    PacketLineRef::Data(d) => Packet::Data(d),
                    PacketLineRef::Flush => Packet::Flush,
                    PacketLineRef::Delimiter => Packet::Delimiter,
                    PacketLineRef::ResponseEnd => Packet::ResponseEnd,
                })
            }
            Ok(Stream::Incomplete { bytes_needed }) => Err(malformed(format!(
                "the server's {} is cut short: a pkt-line at byte {} needs {bytes_needed} more bytes",
                self.what, self.offset
            ))),
            Err(e) => Err(malformed(format!(
                "the server's {} has a malformed pkt-line at byte {}: {e} (starts with {:?})",
                self.what,
                self.offset,
                String::from_utf8_lossy(&rest[..rest.len().min(16)])
            ))),
        }
    }
}

/// A response the connector cannot read: the server is not speaking Git (or a broken one).
pub fn malformed(message: String) -> Error {
    Error::Internal(message)
}

/// Builds a request body of pkt-lines.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `line` and a newline as one data packet.
    pub fn line(&mut self, line: &str) -> &mut Self {
        let len = line.len() + 5;
        self.buf.extend_from_slice(format!("{len:04x}").as_bytes());
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        self
    }

    /// Appends a flush packet (`0000`).
    pub fn flush(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"0000");
        self
    }

    /// Appends a delimiter packet (`0001`).
    pub fn delimiter(&mut self) -> &mut Self {
        self.buf.extend_from_slice(b"0001");
        self
    }

    /// The request body.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_git_writes() {
        let body = Writer::new()
            .line("command=ls-refs")
            .delimiter()
            .line("peel")
            .flush()
            .finish();
        assert_eq!(body, b"0014command=ls-refs\n00010009peel\n0000");
    }

    #[test]
    fn reads_lines_and_refuses_garbage() {
        let mut r = Reader::new(b"0009peel\n00010000", "test");
        assert_eq!(r.next_packet().unwrap().text(), Some(&b"peel"[..]));
        assert_eq!(r.next_packet().unwrap(), Packet::Delimiter);
        assert_eq!(r.next_packet().unwrap(), Packet::Flush);
        assert!(r.next_packet().is_err());
        let err = Reader::new(b"zz09peel\n", "test")
            .next_packet()
            .unwrap_err();
        assert!(err.to_string().contains("malformed pkt-line"), "{err}");
        let err = Reader::new(b"0019peel\n", "test")
            .next_packet()
            .unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
    }
}
