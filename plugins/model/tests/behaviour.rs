//! What the connector does with a real HTTP service shaped like OpenAI's: the checks, the
//! completions, the bounds it keeps and the errors it maps — with the key added the way the
//! host adds it.

use crate::fake::{FakeOpenAi, Reply};

use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::testing::{Credential, Harness};
use agentic_sdk::Error;
use model::Model;

const KEY: &str = "sk-test-0123456789";

fn harness(fake: &FakeOpenAi, key: &str) -> Harness<Model> {
    Harness::new(Model)
        .with_base_url(fake.base_url())
        .with_credential(Credential::Bearer(key.into()))
}

fn ask(content: &str) -> Value {
    json!({"messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": content},
    ]})
}

#[test]
fn the_spec_has_the_complete_action_and_no_streams() {
    let spec = Harness::new(Model).spec().expect("spec");
    assert_eq!(spec.id, "model");
    assert!(spec.streams.is_empty());
    assert_eq!(spec.actions.len(), 1);
    assert_eq!(spec.actions[0].name, "complete");
    assert_eq!(spec.config_schema["additionalProperties"], false);
}

#[test]
fn check_lists_the_models_and_finds_the_configured_one() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini", "gpt-4o", "o3-mini"], true);
    let h = harness(&fake, KEY);
    let message = h.check(&json!({})).expect("check");
    assert_eq!(
        message,
        "the key is accepted; 3 model(s) listed: gpt-4o-mini, gpt-4o, o3-mini"
    );
    assert_eq!(
        h.check(&json!({"model": "gpt-4o"})),
        Ok("the key is accepted; `gpt-4o` is among the 3 model(s) listed".into())
    );
    match h.check(&json!({"model": "gpt-5-nano"})) {
        Err(Error::Config(m)) => {
            assert!(
                m.starts_with("model: the service does not list `gpt-5-nano`"),
                "{m}"
            );
            assert!(m.contains("gpt-4o-mini, gpt-4o, o3-mini"), "{m}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(
        matches!(h.check(&json!({"modle": "x"})), Err(Error::Config(m)) if m.contains("modle"))
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn a_long_model_list_is_named_in_part() {
    let ids: Vec<String> = (1..=25).map(|i| format!("m-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let fake = FakeOpenAi::start(KEY, &ids, true);
    let message = harness(&fake, KEY).check(&json!({})).expect("check");
    assert!(message.ends_with("m-9, m-10 and 15 more"), "{message}");
}

#[test]
fn a_wrong_key_is_an_auth_error() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, "sk-wrong");
    assert!(matches!(h.check(&json!({})), Err(Error::Auth(_))));
    assert!(matches!(
        h.invoke(&json!({"model": "gpt-4o-mini"}), "complete", &ask("hi")),
        Err(Error::Auth(_))
    ));
}

#[test]
fn a_service_without_a_model_list_is_checked_with_one_token() {
    let fake = FakeOpenAi::start(KEY, &[], false);
    let h = harness(&fake, KEY);
    match h.check(&json!({})) {
        Err(Error::Config(m)) => assert!(m.contains("set `model`"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(
        h.check(&json!({"model": "llama3.1:8b"})),
        Ok("the service answered with llama3.1:8b (it lists no models)".into())
    );
    let bodies = fake.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["max_completion_tokens"], 1);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn complete_answers_with_the_content_model_reason_and_usage() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, KEY);
    let out = h
        .invoke(
            &json!({"model": "gpt-4o-mini"}),
            "complete",
            &ask("Summarise PROJ-1"),
        )
        .expect("complete");
    assert_eq!(out["content"], "Summarise PROJ-1");
    assert_eq!(out["model"], "gpt-4o-mini");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage"]["total_tokens"], 16 + 7);
    let body = &fake.bodies()[0];
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Answer briefly."})
    );
    assert_eq!(
        body["max_completion_tokens"], 1024,
        "the connection's default bound"
    );
    assert!(body.get("response_format").is_none() && body.get("temperature").is_none());
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer sk-test-0123456789")),
        "the key travels as the host adds it"
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn the_connection_bounds_the_tokens_and_names_the_default_model() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, KEY);
    let config = json!({"model": "gpt-4o-mini", "max_tokens": 200});
    let mut input = ask("hello");
    input["max_tokens"] = json!(5000);
    input["temperature"] = json!(0.2);
    h.invoke(&config, "complete", &input).expect("complete");
    input["max_tokens"] = json!(50);
    h.invoke(&config, "complete", &input).expect("complete");
    let bodies = fake.bodies();
    assert_eq!(
        bodies[0]["max_completion_tokens"], 200,
        "never above the connection's bound"
    );
    assert_eq!(bodies[1]["max_completion_tokens"], 50);
    assert_eq!(bodies[0]["temperature"], 0.2);
    assert_eq!(bodies[0]["model"], "gpt-4o-mini");
    match h.invoke(&json!({}), "complete", &ask("hello")) {
        Err(Error::InvalidInput(m)) => assert!(m.starts_with("model:"), "{m}"),
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn json_mode_asks_for_an_object_and_checks_the_answer() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, KEY);
    let config = json!({"model": "gpt-4o-mini"});
    let mut input = ask("triage PROJ-7");
    input["json"] = json!(true);
    let out = h.invoke(&config, "complete", &input).expect("complete");
    let parsed: Value = agentic_sdk::serde_json::from_str(out["content"].as_str().expect("text"))
        .expect("JSON content");
    assert_eq!(parsed, json!({"echo": "triage PROJ-7"}));
    assert_eq!(
        fake.bodies()[0]["response_format"],
        json!({"type": "json_object"})
    );
    fake.script(&[Reply::NotJson]);
    assert!(
        matches!(h.invoke(&config, "complete", &input), Err(Error::Transient(m)) if m.contains("not JSON"))
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[test]
fn every_unicode_class_round_trips() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, KEY);
    let text = "Ünïcödé — 中文 العربية עברית 🦀👩‍💻 \u{200B}zero\u{FEFF}width \u{1F1FA}\u{1F1F3} e\u{301} \"quotes\" \\ \n\ttabs";
    let out = h
        .invoke(&json!({"model": "gpt-4o-mini"}), "complete", &ask(text))
        .expect("complete");
    assert_eq!(out["content"], text);
    assert_eq!(fake.bodies()[0]["messages"][1]["content"], text);
}

#[test]
fn failures_map_to_what_the_host_acts_on() {
    let fake = FakeOpenAi::start(KEY, &["gpt-4o-mini"], true);
    let h = harness(&fake, KEY);
    let config = json!({"model": "gpt-4o-mini"});
    fake.script(&[
        Reply::RateLimited(17),
        Reply::ServerError,
        Reply::Malformed,
        Reply::Refusal("I can't help with that."),
        Reply::Cut,
    ]);
    match h.invoke(&config, "complete", &ask("a")) {
        Err(Error::RateLimited {
            retry_after_secs, ..
        }) => assert_eq!(retry_after_secs, 17),
        other => panic!("expected rate-limited, got {other:?}"),
    }
    assert!(matches!(
        h.invoke(&config, "complete", &ask("a")),
        Err(Error::Transient(_))
    ));
    assert!(
        matches!(h.invoke(&config, "complete", &ask("a")), Err(Error::Internal(m)) if m.contains("unexpected response body"))
    );
    assert!(
        matches!(h.invoke(&config, "complete", &ask("a")), Err(Error::InvalidInput(m)) if m == "the model refused: I can't help with that.")
    );
    let cut = h
        .invoke(&config, "complete", &ask("a"))
        .expect("a cut answer is an answer");
    assert_eq!(cut["finish_reason"], "length");
    assert!(matches!(
        h.invoke(&config, "summarise", &ask("a")),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        h.read(&config, "models", None),
        Err(Error::NotFound(_))
    ));
    assert_eq!(fake.violations(), Vec::<String>::new());
}
