//! The component transport: one blocking request over `wasi:http/outgoing-handler`.
//!
//! The request is handed to the host before its body is written, so the host streams the body
//! as it comes instead of buffering it all; then the guest blocks on the response future and
//! reads the response body to its end ([`send`]) or hands it out as it arrives
//! ([`send_streaming`]).

use super::url;
use super::{BodyStream, Method, Request, Response};
use crate::error::Error;
use crate::host;
use crate::types::LogLevel;
use crate::wit::wasi::http::outgoing_handler;
use crate::wit::wasi::http::types::{
    self as http, ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody,
    IncomingResponse, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::wit::wasi::io::streams::{InputStream, StreamError};

/// Largest write `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

pub(super) fn send(request: &Request) -> Result<Response, Error> {
    let (status, headers, body) = start(request)?;
    Ok(Response {
        status,
        headers,
        body: body.read_to_end()?,
        method: request.method,
        url: request.url.clone(),
    })
}

pub(super) fn send_streaming(request: &Request) -> Result<BodyStream, Error> {
    let (status, headers, body) = start(request)?;
    Ok(BodyStream::new(status, headers, request, body))
}

/// A response's status, headers and unread body.
type Head = (u16, Vec<(String, String)>, Body);

/// Sends `request` and waits for the response's head: its status, headers and unread body.
fn start(request: &Request) -> Result<Head, Error> {
    let fail = |what: String| format!("{} {}: {what}", request.method, request.url);
    let parts = url::split(&request.url)?;
    let fields = Fields::new();
    for (name, value) in &request.headers {
        match fields.append(name, value.as_bytes()) {
            Ok(()) => {}
            Err(HeaderError::Forbidden) => host::log(
                LogLevel::Warn,
                &format!("the host does not let connectors set header {name:?}; dropped"),
            ),
            Err(e) => return Err(Error::Internal(fail(format!("header {name:?}: {e:?}")))),
        }
    }
    let outgoing = OutgoingRequest::new(fields);
    let scheme = if parts.scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |what: &str| Error::Internal(fail(format!("invalid {what}")));
    outgoing
        .set_method(&method(request.method))
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(parts.authority))
        .map_err(|()| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(&parts.path_and_query))
        .map_err(|()| invalid("path"))?;
    let body = outgoing
        .body()
        .map_err(|()| Error::Internal(fail("request body taken twice".into())))?;
    let pending = outgoing_handler::handle(outgoing, None).map_err(|e| code_error(&fail, &e))?;
    write_body(&body, &request.body);
    OutgoingBody::finish(body, None).map_err(|e| code_error(&fail, &e))?;

    pending.subscribe().block();
    let incoming = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(code_error(&fail, &e)),
        Some(Err(())) | None => {
            return Err(Error::Internal(fail(
                "response future consumed twice".into(),
            )))
        }
    };
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let body = incoming
        .consume()
        .map_err(|()| Error::Internal(fail("response body taken twice".into())))?;
    let stream = body
        .stream()
        .map_err(|()| Error::Transient(fail("response body cut short".into())))?;
    Ok((
        status,
        headers,
        Body {
            stream,
            _body: body,
            _response: incoming,
            _pending: pending,
            request: format!("{} {}", request.method, request.url),
            chunk: Vec::new(),
            at: 0,
            done: false,
        },
    ))
}

/// A response body being read. The stream and the resources it belongs to are dropped in the
/// order of the fields, a child resource before its parent (trailers are not used).
pub(super) struct Body {
    stream: InputStream,
    _body: IncomingBody,
    _response: IncomingResponse,
    _pending: FutureIncomingResponse,
    /// `METHOD url`, for error messages.
    request: String,
    /// The chunk being handed out, from `at` on.
    chunk: Vec<u8>,
    at: usize,
    /// The stream has ended (or failed).
    done: bool,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("request", &self.request)
            .finish()
    }
}

impl Body {
    /// The next bytes of the body into `buf`; 0 at its end.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        while self.at == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            self.chunk = self.next_chunk()?;
            self.at = 0;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    /// The rest of the body.
    fn read_to_end(mut self) -> Result<Vec<u8>, Error> {
        let mut bytes = self.chunk.split_off(self.at);
        while !self.done {
            bytes.extend_from_slice(&self.next_chunk()?);
        }
        Ok(bytes)
    }

    /// The next chunk the host delivers; empty at the end. A failure is the typed error of the
    /// host's error code (`Transient` when it gives none).
    fn next_chunk(&mut self) -> Result<Vec<u8>, Error> {
        match self.stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => Ok(chunk),
            Err(StreamError::Closed) => {
                self.done = true;
                Ok(Vec::new())
            }
            Err(StreamError::LastOperationFailed(e)) => {
                self.done = true;
                let fail = |what: String| format!("{}: {what}", self.request);
                Err(match http::http_error_code(&e) {
                    Some(code) => code_error(&fail, &code),
                    None => {
                        // wasmtime-wasi-http 48 gives a body's failure as text only: the host's
                        // response cap (its `HttpResponseBodySize`) reads "HTTP response body
                        // size exceeds limit".
                        let why = e.to_debug_string();
                        if why.contains("body size exceeds") {
                            code_error(&fail, &ErrorCode::HttpResponseBodySize(None))
                        } else {
                            Error::Transient(fail(format!("response body cut short: {why}")))
                        }
                    }
                })
            }
        }
    }
}

/// Writes the request body. A write the host refuses (a body over its cap) stops writing; the
/// response (or its error code) then says why.
fn write_body(body: &OutgoingBody, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let Ok(stream) = body.write() else { return };
    for chunk in bytes.chunks(WRITE_CHUNK) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            break;
        }
    }
}

fn method(method: Method) -> http::Method {
    match method {
        Method::Get => http::Method::Get,
        Method::Head => http::Method::Head,
        Method::Post => http::Method::Post,
        Method::Put => http::Method::Put,
        Method::Patch => http::Method::Patch,
        Method::Delete => http::Method::Delete,
        Method::Options => http::Method::Options,
    }
}

/// The typed error for a `wasi:http` error code: what the host's egress policy refused is a
/// configuration problem (named with the host's reason: which rule refused it), and so is a
/// response past the host's size cap (named with the setting that raises it); what the
/// connector got wrong or oversized is a bug, the rest (DNS, connection, timeouts) may pass.
fn code_error(fail: &dyn Fn(String) -> String, code: &ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            let why = host::egress_refusal().unwrap_or_else(|| {
                "the URL must match the plugin's allowed hosts and the connection's base URL, \
                 and private addresses must be allowed for the connection"
                    .into()
            });
            Error::Config(fail(format!("refused by the host: {why}")))
        }
        ErrorCode::TlsCertificateError => {
            Error::Config(fail("the server's TLS certificate was not accepted".into()))
        }
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_) => Error::Internal(fail(format!("{code:?}"))),
        // The host cut the body at its cap: an administrator's setting, not a bug.
        ErrorCode::HttpResponseBodySize(limit) => {
            let limit = limit.map_or_else(String::new, |l| format!(" of {l} bytes"));
            Error::Config(fail(format!(
                "the response is larger than the host's cap{limit} on what a plugin may read \
                 (HttpResponseBodySize; an administrator raises it with plugins.http_response_mib)"
            )))
        }
        other => Error::Transient(fail(format!("{other:?}"))),
    }
}
