//! The language-model connector, on the SDK: a connection to an OpenAI-compatible
//! chat-completions API. The connection's base URL is the API's (`https://api.openai.com/v1/`)
//! and its credential the API key, which the host adds to every request: neither this
//! component nor an agent that uses the connection as its model (`model_connection_id`) ever
//! sees it.
//!
//! - `check` asks `GET models` and reports how many models the key may use; a configured
//!   `model` the service does not list is a configuration error naming a few it does. A
//!   service without `GET models` (some in-house servers) is checked with a one-token
//!   completion instead.
//! - `complete` (action) sends one `POST chat/completions` and returns the answer, the model
//!   that gave it, why it ended and the tokens used. The connection's `max_tokens` bounds every
//!   answer, whatever the input asks.
//! - No streams: a model holds nothing to sync.
//!
//! Errors follow the SDK's status mapping (401/403 → `auth`, 429 → `rate-limited` with the
//! service's delay, 5xx → `transient`); an answer that is not the documented JSON is an
//! `internal` error naming the field.

use agentic_sdk::http::{self, Request};
use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::{register_connector, Connector, ConnectorSpec, Error, Page};
use serde::Deserialize;

/// The manifest, which the spec is built from.
pub const MANIFEST: &str = include_str!("../plugin.toml");

/// `max_tokens` when the connection sets none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Models named in a `check` message or error, at most.
const MODELS_NAMED: usize = 10;

/// The language-model connector.
#[derive(Debug, Default)]
pub struct Model;

/// The connection's configuration (see `plugin.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The default model, checked by `check`.
    model: Option<String>,
    /// Bound of every completion's tokens.
    max_tokens: Option<u32>,
}

impl Config {
    fn max_tokens(&self) -> u32 {
        self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).max(1)
    }
}

/// `GET models`' answer: OpenAI's `ListModelsResponse` (only what is read).
#[derive(Debug, Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize)]
struct ModelEntry {
    id: String,
}

/// The `complete` action's input (the manifest's schema, which the host checks first).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Completion {
    messages: Vec<Message>,
    model: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    #[serde(default)]
    json: bool,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Message {
    role: String,
    content: String,
}

/// `POST chat/completions`' answer: OpenAI's `CreateChatCompletionResponse` (what is read).
#[derive(Debug, Deserialize)]
struct ChatResponse {
    model: String,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: AssistantMessage,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssistantMessage {
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

impl Connector for Model {
    type Config = Config;

    fn spec(&self) -> Result<ConnectorSpec, Error> {
        ConnectorSpec::from_manifest(MANIFEST)
    }

    fn check(&self, config: &Config) -> Result<String, Error> {
        let response = Request::get(http::endpoint("models")?).send()?;
        if response.status == 404 || response.status == 405 {
            // No model list here: one token of a completion proves the key and the model.
            let Some(model) = &config.model else {
                return Err(Error::Config(
                    "the service has no GET models; set `model` so that check can ask it for \
                     one token instead"
                        .into(),
                ));
            };
            let answer = chat(&completion_body(model, &[ping()], 1, None, false))?;
            return Ok(format!(
                "the service answered with {} (it lists no models)",
                answer.model
            ));
        }
        let list: ModelList = response.error_for_status()?.json()?;
        let ids: Vec<&str> = list.data.iter().map(|m| m.id.as_str()).collect();
        let named = name_some(&ids);
        match &config.model {
            Some(model) if !ids.contains(&model.as_str()) => Err(Error::Config(format!(
                "model: the service does not list `{model}`; it lists {} model(s): {named}",
                ids.len()
            ))),
            Some(model) => Ok(format!(
                "the key is accepted; `{model}` is among the {} model(s) listed",
                ids.len()
            )),
            None => Ok(format!(
                "the key is accepted; {} model(s) listed: {named}",
                ids.len()
            )),
        }
    }

    fn read(&self, _config: &Config, stream: &str, _state: Option<&str>) -> Result<Page, Error> {
        Err(Error::NotFound(format!(
            "no stream {stream}: a model connection has nothing to sync"
        )))
    }

    fn invoke(&self, config: &Config, action: &str, input: Value) -> Result<Value, Error> {
        if action != "complete" {
            return Err(Error::NotFound(format!("no action {action}")));
        }
        let input: Completion = agentic_sdk::serde_json::from_value(input)
            .map_err(|e| Error::InvalidInput(format!("complete: {e}")))?;
        let model = input
            .model
            .as_ref()
            .or(config.model.as_ref())
            .ok_or_else(|| {
                Error::InvalidInput(
                    "model: name one (the connection has no default `model`)".into(),
                )
            })?;
        let max_tokens = input
            .max_tokens
            .unwrap_or(u32::MAX)
            .min(config.max_tokens());
        let body = completion_body(
            model,
            &input.messages,
            max_tokens,
            input.temperature,
            input.json,
        );
        let answer = chat(&body)?;
        let choice =
            answer.choices.into_iter().next().ok_or_else(|| {
                Error::Internal("chat/completions answered without a choice".into())
            })?;
        let content = match (choice.message.content, choice.message.refusal) {
            (Some(content), _) => content,
            (None, Some(refusal)) => {
                return Err(Error::InvalidInput(format!("the model refused: {refusal}")))
            }
            (None, None) => String::new(),
        };
        if input.json && agentic_sdk::serde_json::from_str::<Value>(&content).is_err() {
            return Err(Error::Transient(format!(
                "asked for JSON, the model answered {} bytes that are not JSON",
                content.len()
            )));
        }
        Ok(json!({
            "content": content,
            "model": answer.model,
            "finish_reason": choice.finish_reason.unwrap_or_default(),
            "usage": answer.usage.unwrap_or_else(|| json!({})),
        }))
    }
}

register_connector!(Model);

/// A one-word user message, for checking a service that lists no models.
fn ping() -> Message {
    Message {
        role: "user".into(),
        content: "ping".into(),
    }
}

/// The `POST chat/completions` body: OpenAI's `CreateChatCompletionRequest`, only the fields set.
fn completion_body(
    model: &str,
    messages: &[Message],
    max_tokens: u32,
    temperature: Option<f64>,
    json_object: bool,
) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_completion_tokens": max_tokens,
    });
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if json_object {
        body["response_format"] = json!({"type": "json_object"});
    }
    body
}

fn chat(body: &Value) -> Result<ChatResponse, Error> {
    Request::post(http::endpoint("chat/completions")?)
        .json(body)?
        .send()?
        .error_for_status()?
        .json()
}

/// The first [`MODELS_NAMED`] ids, then how many more.
fn name_some(ids: &[&str]) -> String {
    let mut named = ids
        .iter()
        .take(MODELS_NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > MODELS_NAMED {
        named.push_str(&format!(" and {} more", ids.len() - MODELS_NAMED));
    }
    if named.is_empty() {
        named.push_str("none");
    }
    named
}
