//! Responses read as they arrive ([`Request::send_streaming`]), for bodies too large to hold
//! whole: a file the connector parses as it comes holds only what the parser keeps, not the
//! file as well.

use std::io::Read;

use super::{status_error, transport, Method, Request, Response};
use crate::error::Error;

/// Bytes of a failure response's body read for its error message.
const ERROR_BODY: u64 = 64 << 10;

/// A response whose body has not been read yet: a [`Read`] of it, chunk by chunk as the
/// transport delivers it.
///
/// A body the transfer cuts short (past the host's response cap, a dropped connection) fails
/// the read; [`BodyStream::error`] then gives the typed error [`Request::send`] would have
/// returned, for the connector to return instead of the parser's view of the same failure.
#[derive(Debug)]
pub struct BodyStream {
    /// The status code.
    pub status: u16,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// The request's method, for error messages.
    pub method: Method,
    /// The request's URL, for error messages.
    pub url: String,
    body: transport::Body,
    error: Option<Error>,
}

impl BodyStream {
    pub(super) fn new(
        status: u16,
        headers: Vec<(String, String)>,
        request: &Request,
        body: transport::Body,
    ) -> Self {
        Self {
            status,
            headers,
            method: request.method,
            url: request.url.clone(),
            body,
            error: None,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Ok(self)` for a 2xx status, else the typed error [`status_error`] maps it to, as
    /// [`Response::error_for_status`] gives (the first 64 KiB of the body read for its message).
    pub fn error_for_status(mut self) -> Result<Self, Error> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let mut body = Vec::new();
        // What could be read is enough for a message.
        let _ = (&mut self).take(ERROR_BODY).read_to_end(&mut body);
        let response = Response {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            method: self.method,
            url: std::mem::take(&mut self.url),
        };
        Err(status_error(&response, std::time::SystemTime::now())
            .unwrap_or_else(|| Error::Internal(format!("status {}", response.status))))
    }

    /// Why the body ended early, typed as [`Request::send`] reports it; `None` while every read
    /// succeeded.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }
}

impl Read for BodyStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(std::io::Error::other(e.to_string()));
        }
        self.body.read(buf).map_err(|e| {
            let io = std::io::Error::other(e.to_string());
            self.error = Some(e);
            io
        })
    }
}

impl Request {
    /// Sends the request like [`Request::send`] (the same headers dropped, the same redirects
    /// followed) but returns as soon as the response's head has arrived: the body is read from
    /// the [`BodyStream`] as it comes, so a large one need never be held whole.
    pub fn send_streaming(self) -> Result<BodyStream, Error> {
        self.follow(transport::send_streaming, |r| {
            (r.status, r.header("location"))
        })
    }
}
