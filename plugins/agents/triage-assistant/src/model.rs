//! The model: one `POST {base}/chat/completions` of an OpenAI-compatible API per work item,
//! asking for JSON output under [`ANSWER_SCHEMA`] (`response_format` `json_schema`, strict),
//! and the answer checked against that schema here before the agent writes anything.
//!
//! The request goes through the host's mediated `wasi:http`: the host lets it out only to the
//! model connection's base URL and adds that connection's credential (`Authorization`) itself,
//! so this component never holds the key.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::wasi::io::streams::StreamError;

/// Largest answer read from the model (bytes); a longer one fails the item.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// `Retry-After` assumed when a 429 carries none (seconds).
const DEFAULT_RETRY_AFTER_SECS: i64 = 60;
/// Largest write `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// The JSON Schema of a triage: what the model is asked for and what is checked.
pub const ANSWER_SCHEMA: &str = r#"{
    "type": "object", "additionalProperties": false,
    "required": ["summary", "category", "priority", "labels", "rationale"],
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 2000,
                    "description": "What the work item asks for, in two or three sentences."},
        "category": {"type": "string",
                     "enum": ["bug", "feature", "task", "question", "documentation", "other"]},
        "priority": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
        "labels": {"type": "array", "maxItems": 10,
                   "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        "rationale": {"type": "string", "maxLength": 2000,
                      "description": "Why this category and priority."}
    }
}"#;

/// A validated triage and what it cost.
pub struct Triage {
    /// The model's answer, valid against [`ANSWER_SCHEMA`].
    pub answer: Value,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
}

/// Why an item was not triaged.
pub enum Failure {
    /// This item's answer is unusable (not JSON, breaks the schema, too large, refused): the
    /// item counts as failed and the run goes on with the next one. Tokens spent still count.
    Item {
        /// What was wrong.
        why: String,
        /// Tokens the answer reported, if it did.
        tokens: (u64, u64),
    },
    /// The model asks us to wait (429): stop the run, resume after this many seconds.
    RateLimited(i64),
    /// The service or the way to it failed (5xx, connection): stop the run, resume next run.
    Unavailable(String),
    /// The host refused the request (egress rules) or the credential (401/403).
    Denied(String),
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(ANSWER_SCHEMA).expect("the answer schema is JSON");
        jsonschema::validator_for(&schema).expect("the answer schema compiles")
    })
}

/// The request body for one item.
pub fn request(model: &str, max_tokens: u64, item: &str) -> Value {
    let schema: Value = serde_json::from_str(ANSWER_SCHEMA).unwrap_or_default();
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You triage work items of a software project. \
                Summarise the item and classify it: category, priority, up to ten short labels, \
                and a one-paragraph rationale. Answer only with JSON matching the schema."},
            {"role": "user", "content": item},
        ],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "triage", "strict": true, "schema": schema,
            "description": "The triage of one work item.",
        }},
        "max_completion_tokens": max_tokens,
        "temperature": 0,
    })
}

/// Asks the model at `base` (the model connection's base URL) to triage `body`.
pub fn ask(base: &str, body: &Value) -> Result<Triage, Failure> {
    let url = format!("{}/chat/completions", base.trim_end_matches('/'));
    let (status, headers, bytes) = post(&url, body.to_string().as_bytes())?;
    match status {
        200..=299 => {}
        429 => {
            let wait = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, v)| v.trim().parse::<i64>().ok())
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            return Err(Failure::RateLimited(wait.clamp(1, 86_400)));
        }
        401 | 403 => {
            return Err(Failure::Denied(format!(
                "the model API refused the connection's credential ({status})"
            )))
        }
        500..=599 => {
            return Err(Failure::Unavailable(format!(
                "the model API answered {status}"
            )))
        }
        other => {
            return Err(Failure::Item {
                why: format!("the model API answered {other}: {}", excerpt(&bytes)),
                tokens: (0, 0),
            })
        }
    }
    let item = |why: String, tokens| Failure::Item { why, tokens };
    let response: Value = serde_json::from_slice(&bytes)
        .map_err(|e| item(format!("the answer is not JSON: {e}"), (0, 0)))?;
    let tokens = (
        response["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        response["usage"]["completion_tokens"].as_u64().unwrap_or(0),
    );
    let message = &response["choices"][0]["message"];
    if let Some(refusal) = message["refusal"].as_str() {
        return Err(item(format!("the model refused: {refusal}"), tokens));
    }
    let content = message["content"]
        .as_str()
        .ok_or_else(|| item("the answer has no message content".into(), tokens))?;
    let answer: Value = serde_json::from_str(content)
        .map_err(|e| item(format!("the message content is not JSON: {e}"), tokens))?;
    let errors: Vec<String> = validator()
        .iter_errors(&answer)
        .take(5)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if !errors.is_empty() {
        return Err(item(
            format!("the answer breaks the triage schema: {}", errors.join("; ")),
            tokens,
        ));
    }
    Ok(Triage {
        answer,
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
    })
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

fn code(e: &ErrorCode) -> Failure {
    let why = format!("{e:?}");
    match e {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => Failure::Denied(why),
        _ => Failure::Unavailable(why),
    }
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One JSON `POST` through the host; the body read up to [`MAX_ANSWER_BYTES`].
fn post(url: &str, body: &[u8]) -> Result<Answer, Failure> {
    let bad = |why: &str| Failure::Unavailable(why.to_owned());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("the model URL has no scheme"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fields = Fields::new();
    fields
        .append("content-type", b"application/json")
        .map_err(|_| bad("content-type"))?;
    fields
        .append("accept", b"application/json")
        .map_err(|_| bad("accept"))?;
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&Method::Post)
        .map_err(|()| bad("bad method"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(bad(&format!("scheme {other} is not http(s)"))),
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("bad scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("bad host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("bad path"))?;
    let outgoing = request.body().map_err(|()| bad("body taken"))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| code(&e))?;
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| code(&e))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| bad("no response"))?
        .map_err(|()| bad("response taken"))?
        .map_err(|e| code(&e))?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| bad("body taken"))?;
    let stream = incoming.stream().map_err(|()| bad("body stream taken"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Failure::Unavailable(format!(
                    "reading the answer: {}",
                    e.to_debug_string()
                )))
            }
        }
        if bytes.len() > MAX_ANSWER_BYTES {
            return Err(Failure::Item {
                why: format!("the answer is over {MAX_ANSWER_BYTES} bytes"),
                tokens: (0, 0),
            });
        }
    }
    drop(stream);
    let _ = IncomingBody::finish(incoming);
    Ok((status, headers, bytes))
}
