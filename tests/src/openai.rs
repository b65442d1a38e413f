//! A fake OpenAI-compatible chat-completions API for the `triage-assistant` stories.
//!
//! It serves `POST /v1/chat/completions` and `GET /v1/models` (the connection's base URL is
//! `{url}/v1/`) and checks every request before answering: the method and path must be an
//! operation of OpenAI's
//! published OpenAPI document (`tests/fixtures/openai/openai-openapi-extract.json`,
//! see its `SOURCE.md`), the body JSON valid against its `CreateChatCompletionRequest`, the
//! content type JSON, and the `Authorization` the one of the key it was started with (the host
//! injects it; a wrong or missing one is OpenAI's 401). What does not fit is recorded in
//! [`FakeOpenAi::violations`] and answered 400. Its own successful answers are checked against
//! `CreateChatCompletionResponse` (a mismatch is a violation too), so the agent is tested
//! against the shapes the real API returns.
//!
//! Answers follow a script ([`FakeOpenAi::script`]); with none left, a triage in JSON computed
//! from the request (category from the item's type, priority from its priority) with `usage`
//! from the prompt's length. Scripted: a 429 with `retry-after`, a 500, a body that is not
//! JSON, content that breaks the triage schema, a huge answer, and an answer that echoes the
//! `Authorization` it received (to show the host keeps the key from the agent).
//!
//! [`FakeOpenAi::violations`]: crate::openai::FakeOpenAi::violations
//! [`FakeOpenAi::script`]: crate::openai::FakeOpenAi::script

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

const OPENAPI: &str = include_str!("../fixtures/openai/openai-openapi-extract.json");

/// The path of the operation, under the base URL `{url}/v1/`.
pub const PATH: &str = "/v1/chat/completions";

/// An answer of the script.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A valid triage (what the fake answers when the script is empty).
    Triage,
    /// 429 with `retry-after: <secs>`.
    RateLimited(u32),
    /// 500 with an OpenAI error body.
    ServerError,
    /// 200 whose body is not JSON.
    Malformed,
    /// 200, a valid response whose content is JSON that breaks the triage schema.
    Invalid,
    /// 200, a valid response whose content is this many bytes.
    Huge(usize),
    /// 200, a valid triage whose summary is the `Authorization` header received.
    EchoAuthorization,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `Authorization` as received.
    pub authorization: Option<String>,
    /// The body.
    pub body: Value,
}

impl Seen {
    /// The user message's content (the work item as the agent sent it).
    pub fn user_content(&self) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Debug, Default)]
struct Data {
    key: String,
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
    violations: Vec<String>,
    /// Tokens reported in `usage` of answers with a body that is JSON.
    tokens: u64,
}

/// A fake OpenAI-compatible API on a local port.
#[derive(Debug, Clone)]
pub struct FakeOpenAi {
    /// `http://127.0.0.1:<port>`; the API's base URL is `{url}/v1/`.
    pub url: String,
    data: Arc<Mutex<Data>>,
}

impl FakeOpenAi {
    /// Starts serving, accepting `Bearer <key>`.
    pub async fn start(key: &str) -> Self {
        let data = Arc::new(Mutex::new(Data {
            key: key.to_owned(),
            ..Data::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(data.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            data,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, replies: &[Reply]) {
        self.with(|d| d.script.extend(replies.iter().cloned()));
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.with(|d| d.seen.clone())
    }

    /// Requests (and answers of the fake) that did not fit OpenAI's API description.
    pub fn violations(&self) -> Vec<String> {
        self.with(|d| d.violations.clone())
    }

    /// The total of `usage.total_tokens` of the answers so far.
    pub fn tokens(&self) -> u64 {
        self.with(|d| d.tokens)
    }
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

struct Validators {
    request: jsonschema::Validator,
    response: jsonschema::Validator,
    models: jsonschema::Validator,
    /// `POST` here: the chat completions.
    path: String,
    /// `GET` here: the model list.
    models_path: String,
}

/// The models `GET /v1/models` lists.
pub const MODELS: &[&str] = &["gpt-4o-mini", "gpt-4o"];

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the OpenAPI extract is JSON");
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
        let server = doc["servers"][0]["url"].as_str().expect("server url");
        let base = url::Url::parse(server)
            .expect("server url")
            .path()
            .to_owned();
        assert!(doc["paths"]["/chat/completions"]["post"].is_object());
        assert!(doc["paths"]["/models"]["get"].is_object());
        Validators {
            request: compile("CreateChatCompletionRequest"),
            response: compile("CreateChatCompletionResponse"),
            models: compile("ListModelsResponse"),
            path: format!("{base}/chat/completions"),
            models_path: format!("{base}/models"),
        }
    })
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(data): State<Arc<Mutex<Data>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut data = data.lock().unwrap_or_else(PoisonError::into_inner);
    let v = validators();
    let context = format!("{method} {}", uri.path());
    if method == Method::GET && uri.path() == v.models_path {
        return list_models(&mut data, &headers, &context);
    }
    if method != Method::POST || uri.path() != v.path {
        data.violations
            .push(format!("{context}: not an operation of the API"));
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "Unknown URL",
        );
    }
    let authorization = headers
        .get("authorization")
        .and_then(|a| a.to_str().ok())
        .map(str::to_owned);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    data.seen.push(Seen {
        authorization: authorization.clone(),
        body: parsed.as_ref().cloned().unwrap_or(Value::Null),
    });
    if authorization.as_deref() != Some(format!("Bearer {}", data.key).as_str()) {
        data.violations
            .push(format!("{context}: Authorization {authorization:?}"));
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided.",
        );
    }
    let json_type = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let problems: Vec<String> = match (&parsed, json_type) {
        (_, false) => vec!["the content type is not application/json".into()],
        (Err(e), _) => vec![format!("the body is not JSON: {e}")],
        (Ok(request), true) => v
            .request
            .iter_errors(request)
            .take(10)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect(),
    };
    if !problems.is_empty() {
        data.violations
            .push(format!("{context}: {}", problems.join("; ")));
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &problems.join("; "),
        );
    }
    let request = parsed.unwrap_or_default();
    let reply = data.script.pop_front().unwrap_or(Reply::Triage);
    let answer = match reply {
        Reply::RateLimited(secs) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "Rate limit reached for requests.",
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return r;
        }
        Reply::ServerError => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The server had an error while processing your request.",
            )
        }
        Reply::Malformed => {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"id\": \"chatcmpl-1\", \"choices\": [",
            )
                .into_response()
        }
        Reply::Triage => triage(&request, None).to_string(),
        Reply::EchoAuthorization => triage(&request, authorization.as_deref()).to_string(),
        Reply::Invalid => {
            json!({"summary": "", "category": "urgent", "priority": "p0"}).to_string()
        }
        Reply::Huge(bytes) => {
            let mut answer = triage(&request, None);
            answer["rationale"] = json!("x".repeat(bytes));
            answer.to_string()
        }
    };
    let response = completion(&request, &answer);
    let problems: Vec<String> = v
        .response
        .iter_errors(&response)
        .take(10)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if !problems.is_empty() {
        data.violations.push(format!(
            "{context}: the fake's answer breaks CreateChatCompletionResponse: {}",
            problems.join("; ")
        ));
    }
    data.tokens += response["usage"]["total_tokens"].as_u64().unwrap_or(0);
    (StatusCode::OK, axum::Json(response)).into_response()
}

/// `GET /v1/models`: [`MODELS`], to the key's holder.
fn list_models(data: &mut Data, headers: &HeaderMap, context: &str) -> Response {
    let authorization = headers.get("authorization").and_then(|a| a.to_str().ok());
    if authorization != Some(format!("Bearer {}", data.key).as_str()) {
        data.violations
            .push(format!("{context}: Authorization {authorization:?}"));
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided.",
        );
    }
    let answer = json!({
        "object": "list",
        "data": MODELS.iter().map(|id| json!({
            "id": id, "object": "model", "created": 1_686_935_002, "owned_by": "system"
        })).collect::<Vec<_>>(),
    });
    let problems: Vec<String> = validators()
        .models
        .iter_errors(&answer)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if !problems.is_empty() {
        data.violations.push(format!(
            "{context}: the fake's answer breaks ListModelsResponse: {}",
            problems.join("; ")
        ));
    }
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// A triage of the item in the request's user message.
fn triage(request: &Value, summary: Option<&str>) -> Value {
    let item = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let line = |name: &str| {
        item.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let category = match line("Type").as_str() {
        "Bug" => "bug",
        "Story" => "feature",
        _ => "task",
    };
    let priority = match line("Priority").as_str() {
        "High" => "high",
        "Low" => "low",
        _ => "medium",
    };
    let title = line("Title");
    json!({
        "summary": summary.map_or_else(|| format!("Asks for: {title}"), str::to_owned),
        "category": category,
        "priority": priority,
        "labels": [category, "triaged"],
        "rationale": format!("{} typed {:?}", line("Key"), line("Type")),
    })
}

/// A chat completion whose message content is `content`; `usage` from the prompt's length
/// (about four characters a token) and the answer's.
fn completion(request: &Value, content: &str) -> Value {
    let prompt_chars: usize = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .map(str::len)
        .sum();
    let prompt = (prompt_chars / 4 + 1) as u64;
    let completion = (content.len() / 4 + 1) as u64;
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "finish_reason": "stop",
            "logprobs": null,
            "message": {"role": "assistant", "content": content, "refusal": null},
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    })
}
