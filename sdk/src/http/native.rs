//! The native transport: plain HTTP/1.1 over `std::net`, one connection per request. It exists
//! so connector logic runs in `cargo test` against a local fake service; it does not speak TLS.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::url;
use super::{BodyStream, Request, Response};
use crate::error::Error;
use crate::testing::redact;

/// Connect, read and write timeout: generous for a local fake, short enough for a stuck test.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Headers this transport writes itself.
const TRANSPORT_HEADERS: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

pub(super) fn send(request: &Request) -> Result<Response, Error> {
    let parts = url::split(&request.url)?;
    if !parts.scheme.eq_ignore_ascii_case("http") {
        return Err(Error::Config(format!(
            "{}: the native test transport speaks plain http only; point tests at a local fake \
             (agentic_sdk::testing::FakeServer)",
            request.url
        )));
    }
    let failed = |what: &str, e: std::io::Error| {
        Error::Transient(format!("{} {}: {what}: {e}", request.method, request.url))
    };
    let mut stream = connect(parts.authority).map_err(|e| failed("connect", e))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        request.method,
        parts.path_and_query,
        parts.authority,
        request.body.len()
    );
    // The connection's credential, when a test harness plays the host: added here as the host
    // adds it, with the plain body asked for so an echo cannot carry it past redaction.
    let credential = crate::host::credential_headers();
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        let replaced = credential.is_some() && lower == "accept-encoding";
        if !TRANSPORT_HEADERS.contains(&lower.as_str()) && !replaced {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if let Some(added) = &credential {
        for (name, value) in added {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("accept-encoding: identity\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&request.body))
        .map_err(|e| failed("send", e))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| failed("receive", e))?;
    let secrets = credential
        .as_deref()
        .map(crate::testing::secrets)
        .unwrap_or_default();
    parse_response(&raw)
        .map(|(status, mut headers, mut body)| {
            if !secrets.is_empty() {
                for (_, value) in &mut headers {
                    *value = String::from_utf8_lossy(&redact(value.as_bytes(), &secrets)).into();
                }
                body = redact(&body, &secrets);
            }
            Response {
                status,
                headers,
                body,
                method: request.method,
                url: request.url.clone(),
            }
        })
        .map_err(|why| Error::Transient(format!("{} {}: {why}", request.method, request.url)))
}

/// A body to stream: natively, the whole response is read first (tests' bodies are small and
/// the fake servers close after answering), then handed out as it would arrive.
#[derive(Debug)]
pub(super) struct Body(std::io::Cursor<Vec<u8>>);

impl Body {
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        // Reading from memory cannot fail.
        Ok(self.0.read(buf).unwrap_or(0))
    }
}

pub(super) fn send_streaming(request: &Request) -> Result<BodyStream, Error> {
    let response = send(request)?;
    Ok(BodyStream::new(
        response.status,
        response.headers,
        request,
        Body(std::io::Cursor::new(response.body)),
    ))
}

fn connect(authority: &str) -> std::io::Result<TcpStream> {
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(stream) => {
                stream.set_read_timeout(Some(TIMEOUT))?;
                stream.set_write_timeout(Some(TIMEOUT))?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

type Parsed = (u16, Vec<(String, String)>, Vec<u8>);

/// Splits a whole HTTP/1.1 response (read until the server closed) into status, headers and
/// body, undoing chunked transfer coding.
pub(crate) fn parse_response(raw: &[u8]) -> Result<Parsed, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("response without a complete header")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[end + 4..];
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| "bad content-length")?;
        rest.get(..length)
            .ok_or("body shorter than its content-length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_chunks_or_neither_are_parsed() {
        let (status, headers, body) =
            parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhiEXTRA")
                .expect("valid");
        assert_eq!((status, body.as_slice()), (201, &b"hi"[..]));
        assert_eq!(headers[1], ("X-A".to_owned(), "b".to_owned()));
        let (_, _, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(body, b"Wikipedia");
        let (_, _, body) = parse_response(b"HTTP/1.0 200 OK\r\n\r\nuntil close").expect("eof");
        assert_eq!(body, b"until close");
    }

    #[test]
    fn malformed_responses_are_refused() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
    }

    #[test]
    fn https_is_not_spoken_natively_and_an_unreachable_server_is_transient() {
        assert!(matches!(
            send(&Request::get("https://example.com/")),
            Err(Error::Config(_))
        ));
        // A port that was just free: nothing listens there, the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        assert!(matches!(
            send(&Request::get(format!("http://127.0.0.1:{port}/"))),
            Err(Error::Transient(_))
        ));
    }
}
