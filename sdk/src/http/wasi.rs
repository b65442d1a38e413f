//! The component transport: one blocking request over `wasi:http/outgoing-handler`.
//!
//! The request is handed to the host before its body is written, so the host streams the body
//! as it comes instead of buffering it all; then the guest blocks on the response future and
//! reads the response body to its end.

use super::url;
use super::{Method, Request, Response};
use crate::error::Error;
use crate::host;
use crate::types::LogLevel;
use crate::wit::wasi::http::outgoing_handler;
use crate::wit::wasi::http::types::{
    self as http, ErrorCode, Fields, HeaderError, IncomingBody, OutgoingBody, OutgoingRequest,
    Scheme,
};
use crate::wit::wasi::io::streams::StreamError;

/// Largest write `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

pub(super) fn send(request: &Request) -> Result<Response, Error> {
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
    let bytes = read_body(&body).map_err(|e| match e {
        Some(code) => code_error(&fail, &code),
        None => Error::Transient(fail("response body cut short".into())),
    })?;
    // Trailers are not used; finishing releases the body.
    drop(IncomingBody::finish(body));
    Ok(Response {
        status,
        headers,
        body: bytes,
        method: request.method,
        url: request.url.clone(),
    })
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

/// Reads a response body to its end; `Err(Some(code))` when the host explains the failure.
fn read_body(body: &IncomingBody) -> Result<Vec<u8>, Option<ErrorCode>> {
    let stream = body.stream().map_err(|()| None)?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => return Err(http::http_error_code(&e)),
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
/// configuration problem (named with the host's reason: which rule refused it), what the
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
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpResponseBodySize(_) => Error::Internal(fail(format!("{code:?}"))),
        other => Error::Transient(fail(format!("{other:?}"))),
    }
}
