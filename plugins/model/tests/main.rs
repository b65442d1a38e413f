//! The language-model connector's tests, in one binary: its behaviour against a fake
//! OpenAI-compatible API that checks every request and answer against OpenAI's published
//! OpenAPI description.

mod behaviour;
mod fake;
