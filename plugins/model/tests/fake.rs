//! A fake OpenAI-compatible API on the SDK's [`FakeServer`]: `GET /v1/models` and
//! `POST /v1/chat/completions`, as OpenAI's published OpenAPI document describes them (the
//! extract in `tests/fixtures/openai/` of the repository, see its `SOURCE.md`). Every request is
//! checked — path and method an operation of the document, `Authorization` the key the fake was
//! started with (the host injects it; a wrong one is OpenAI's 401), the body valid against
//! `CreateChatCompletionRequest` — and so is every successful answer of the fake's own
//! (`ListModelsResponse`, `CreateChatCompletionResponse`). What does not fit is recorded in
//! [`FakeOpenAi::violations`] and answered 400.
//!
//! Answers: the models given at start; a completion whose content echoes the last user message
//! (or, with `response_format` `json_object`, a JSON object holding it), unless the script says
//! otherwise (429, 500, a body that is not JSON, a refusal, `finish_reason` `length`, content that
//! is not JSON in JSON mode). `models: false` makes `GET /v1/models` a 404, as some in-house
//! servers answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use agentic_sdk::testing::{FakeRequest, FakeResponse, FakeServer};
use serde_json::{json, Map, Value};

const OPENAPI: &str = include_str!("../../../tests/fixtures/openai/openai-openapi-extract.json");

/// A scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 429 with `retry-after: <secs>`.
    RateLimited(u32),
    /// 500 with an OpenAI error body.
    ServerError,
    /// 200 whose body is not JSON.
    Malformed,
    /// 200, the model refuses (`content: null`, `refusal`).
    Refusal(&'static str),
    /// 200, the answer cut by `max_tokens` (`finish_reason: length`).
    Cut,
    /// 200, content that is not JSON (whatever was asked).
    NotJson,
}

#[derive(Default)]
struct Data {
    script: VecDeque<Reply>,
    violations: Vec<String>,
    bodies: Vec<Value>,
}

/// The fake service.
pub struct FakeOpenAi {
    server: FakeServer,
    data: Arc<Mutex<Data>>,
}

struct Validators {
    request: jsonschema::Validator,
    chat: jsonschema::Validator,
    models: jsonschema::Validator,
}

/// OpenAI's `nullable: true` (an OpenAPI 3.0 keyword its 3.1 document still uses) as JSON
/// Schema: the schema or `null`.
fn convert(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| (k.clone(), convert(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(&mut out));
                out.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        other => other.clone(),
    }
}

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the OpenAPI extract is JSON");
        assert!(doc["paths"]["/models"]["get"].is_object(), "GET /models");
        assert!(
            doc["paths"]["/chat/completions"]["post"].is_object(),
            "POST /chat/completions"
        );
        let schemas = convert(&doc["components"]["schemas"]);
        let compile = |name: &str| {
            let root = json!({
                "components": {"schemas": schemas},
                "$ref": format!("#/components/schemas/{name}"),
            });
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(false)
                .build(&root)
                .unwrap_or_else(|e| panic!("{name} does not compile: {e}"))
        };
        Validators {
            request: compile("CreateChatCompletionRequest"),
            chat: compile("CreateChatCompletionResponse"),
            models: compile("ListModelsResponse"),
        }
    })
}

fn problems(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn error(status: u16, kind: &str, message: &str) -> FakeResponse {
    FakeResponse::json(
        &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
    .with_status(status)
}

impl FakeOpenAi {
    /// Serves `models` to callers with `Bearer <key>`; `list_models: false` answers
    /// `GET /v1/models` 404.
    pub fn start(key: &str, models: &[&str], list_models: bool) -> Self {
        let data = Arc::new(Mutex::new(Data::default()));
        let (key, models) = (
            key.to_owned(),
            models.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        );
        let shared = data.clone();
        let server = FakeServer::start(move |request| {
            let mut data = shared.lock().unwrap_or_else(PoisonError::into_inner);
            handle(&mut data, request, &key, &models, list_models)
        });
        Self { server, data }
    }

    /// The connection's base URL: `{url}/v1/`.
    pub fn base_url(&self) -> String {
        format!("{}/v1/", self.server.url())
    }

    /// Answers the next completions with these, in order.
    pub fn script(&self, replies: &[Reply]) {
        self.with(|d| d.script.extend(replies.iter().cloned()));
    }

    /// Requests (and answers of the fake) that did not fit OpenAI's API description.
    pub fn violations(&self) -> Vec<String> {
        self.with(|d| d.violations.clone())
    }

    /// The completion request bodies received.
    pub fn bodies(&self) -> Vec<Value> {
        self.with(|d| d.bodies.clone())
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn handle(
    data: &mut Data,
    request: &FakeRequest,
    key: &str,
    models: &[String],
    list_models: bool,
) -> FakeResponse {
    if request.header("authorization") != Some(format!("Bearer {key}").as_str()) {
        return error(401, "invalid_request_error", "Incorrect API key provided.");
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/v1/models") if !list_models => error(404, "invalid_request_error", "Not found"),
        ("GET", "/v1/models") => {
            let answer = json!({
                "object": "list",
                "data": models.iter().map(|id| json!({
                    "id": id, "object": "model", "created": 1_686_935_002, "owned_by": "system"
                })).collect::<Vec<_>>(),
            });
            data.violations
                .extend(problems(&validators().models, &answer));
            FakeResponse::json(&answer)
        }
        ("POST", "/v1/chat/completions") => {
            let body: Value = match serde_json::from_slice(&request.body) {
                Ok(body) => body,
                Err(e) => {
                    data.violations.push(format!("body is not JSON: {e}"));
                    return error(
                        400,
                        "invalid_request_error",
                        "We could not parse the JSON body.",
                    );
                }
            };
            let found = problems(&validators().request, &body);
            if !found.is_empty() {
                data.violations.extend(found);
                return error(400, "invalid_request_error", "invalid request");
            }
            data.bodies.push(body.clone());
            complete(data, &body)
        }
        (method, path) => {
            data.violations
                .push(format!("{method} {path} is no operation of the document"));
            error(404, "invalid_request_error", "Unknown request URL")
        }
    }
}

fn complete(data: &mut Data, body: &Value) -> FakeResponse {
    let last_user = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let json_mode = body["response_format"]["type"] == "json_object";
    let mut content = Value::from(if json_mode {
        json!({"echo": last_user}).to_string()
    } else {
        last_user.clone()
    });
    let (mut finish, mut refusal) = ("stop", Value::Null);
    match data.script.pop_front() {
        Some(Reply::RateLimited(secs)) => {
            return error(429, "rate_limit_exceeded", "Rate limit reached")
                .with_header("retry-after", &secs.to_string())
        }
        Some(Reply::ServerError) => return error(500, "server_error", "The server had an error"),
        Some(Reply::Malformed) => {
            return FakeResponse::status(200)
                .with_header("content-type", "application/json")
                .with_body("<html>upstream timeout</html>")
        }
        Some(Reply::Refusal(why)) => {
            content = Value::Null;
            refusal = Value::from(why);
        }
        Some(Reply::Cut) => finish = "length",
        Some(Reply::NotJson) => content = Value::from("certainly! here it is"),
        None => {}
    }
    let prompt = u64::try_from(last_user.len()).unwrap_or(u64::MAX);
    let answer = json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_735_689_600,
        "model": body["model"],
        "choices": [{
            "index": 0, "finish_reason": finish, "logprobs": null,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
        }],
        "usage": {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7},
    });
    data.violations
        .extend(problems(&validators().chat, &answer));
    FakeResponse::json(&answer)
}
