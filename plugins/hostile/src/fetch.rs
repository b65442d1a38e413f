//! `invoke("fetch", input)`: raw `wasi:http` requests, exactly as the input says.
//!
//! Input: `{"url": "http://host:port/path", "method": "GET", "headers": {"name": "value"},
//! "body_bytes": 0, "times": 1}`. Output: `{"sent": n, "status": last, "body": last,
//! "response_headers": [names], "response_header_values": [[name, value]], "refused_headers":
//! [...], "error": first error or null}`. Every header the host refuses to let the guest set is
//! listed, every request the host refuses ends the loop with its error (the error code, then
//! the host's `egress-refusal` after `: ` when it gives one). Everything the guest received is
//! in the output, so tests can look for what must never reach it.

use crate::agentic::connector::host;
use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::wasi::io::streams::StreamError;
use serde_json::{json, Value};

pub fn run(input: &str) -> String {
    let input: Value = serde_json::from_str(input).unwrap_or(Value::Null);
    let url = input["url"]
        .as_str()
        .unwrap_or("http://127.0.0.1/")
        .to_owned();
    let method = input["method"].as_str().unwrap_or("GET").to_owned();
    let times = input["times"].as_u64().unwrap_or(1);
    let body_bytes = input["body_bytes"].as_u64().unwrap_or(0) as usize;
    let headers: Vec<(String, String)> = input["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let (mut sent, mut status, mut body, mut error) = (0u64, Value::Null, Value::Null, Value::Null);
    let mut response_headers = Vec::new();
    let mut response_header_values = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..times {
        match send(&method, &url, &headers, body_bytes, &mut refused) {
            Ok((s, b, h)) => {
                sent += 1;
                status = json!(s);
                body = json!(b);
                response_headers = h.iter().map(|(name, _)| name.clone()).collect();
                response_header_values = h;
            }
            Err(e) => {
                error = json!(e);
                break;
            }
        }
    }
    refused.sort();
    refused.dedup();
    json!({"sent": sent, "status": status, "body": body, "response_headers": response_headers,
        "response_header_values": response_header_values, "refused_headers": refused,
        "error": error})
    .to_string()
}

/// Response headers as the guest received them: (name, value) pairs.
type Headers = Vec<(String, String)>;

fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body_bytes: usize,
    refused: &mut Vec<String>,
) -> Result<(u16, String, Headers), String> {
    let (scheme, rest) = url.split_once("://").ok_or("url without scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    for (name, value) in headers {
        if fields.append(name, value.as_bytes()).is_err() {
            refused.push(name.to_ascii_lowercase());
        }
    }
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        other => Method::Other(other.into()),
    };
    request.set_method(&method).map_err(|()| "bad method")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.into()),
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let outgoing = request.body().map_err(|()| "body taken")?;
    let response = outgoing_handler::handle(request, None).map_err(explained)?;
    {
        let stream = outgoing.write().map_err(|()| "body stream taken")?;
        let chunk = [b'a'; 4096];
        let mut left = body_bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            if let Err(e) = stream.blocking_write_and_flush(&chunk[..n]) {
                // The host stopped taking the body; the response says why.
                let _ = e;
                break;
            }
            left -= n;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(explained)?;
    response.subscribe().block();
    let response = response
        .get()
        .ok_or("response not ready")?
        .map_err(|()| "response taken")?
        .map_err(explained)?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| "body taken")?;
    let stream = incoming.stream().map_err(|()| "stream taken")?;
    let mut buf = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => buf.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("body: {}", e.to_debug_string()))
            }
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok((status, String::from_utf8_lossy(&buf).into_owned(), headers))
}

/// The error code, with the host's reason when it refused the request.
fn explained(code: ErrorCode) -> String {
    match host::egress_refusal() {
        Some(why) => format!("{code:?}: {why}"),
        None => format!("{code:?}"),
    }
}
