//! The built-in `triage-assistant` agent: summarises and classifies the new or changed work
//! items of one connection with an OpenAI-compatible model, and stores each triage as a
//! document of the project tagged with the item (optionally also posted back as a comment
//! through the connector's action).
//!
//! # Which items
//! The platform's record query pages by id and has no "changed since" filter, but each stored
//! record carries `synced-at`, the host's time it last stored the record — a sync stores an
//! item again when the service changed it. So a *pass* walks the connection's work items by id
//! and triages those stored since the previous pass began (`since`); the first pass takes all.
//! A fingerprint of each triaged item's text (what the model reads: not its update time or
//! comments, which the triage's own comment changes) is kept for the latest [`MAX_SEEN`] items,
//! so an item stored again without a change to that text is not triaged twice. At most
//! `max_items_per_run` items are triaged per run, and no new item is started once
//! `run_budget_secs` of the run have passed (so that the run ends, its state kept, before the
//! host's deadline stops it): the pass then resumes at the next run from the id it reached
//! (`after`), and only when it reaches the end does `since` move to the time the pass began.
//!
//! # Per item
//! The item's text (key, title, type, status, priority, labels, description) is cut to
//! `max_input_chars` characters and sent to the model ([`model`]). The answer must be JSON valid
//! against [`model::ANSWER_SCHEMA`]; anything else (not JSON, schema broken, over
//! [`model::MAX_ANSWER_BYTES`], a refusal) counts as a failed item, nothing is written, and the
//! item is tried again only once it changes. A valid triage becomes a Markdown document
//! (`platform.write-document`, tags `triage`, `work-item:<record id>`, `category:…`,
//! `priority:…`, linked to the item's record), with `annotate` also a comment on the item in the
//! host (`platform.comment-on-record`), and, with `post_comment`, a comment through the connection's action
//! (`platform.invoke-action`, input `{"issue": <key or external id>, "body": <Markdown>}` as
//! the JIRA connector's `add-comment` takes).
//!
//! # When the model cannot answer
//! A 429 stops the run: the state keeps the place, and runs before its `Retry-After` has passed
//! do not call the model. A 5xx or a failed connection stops the run too; the next run resumes.
//! Both are reported as the run's `problem` (a failed run whose state is kept).
//!
//! # Metrics
//! `items_triaged`, `items_failed`, `items_unchanged`, `prompt_tokens`, `completion_tokens`,
//! `total_tokens` and `cost` (`total_tokens / 1000 × price_per_1k_tokens`), `comments_posted`,
//! `comments_written`.

// The generated import glue flattens a record argument into many parameters.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "agentic:agent/agent@0.2.0",
    generate_all,
});

/// The chat-completions call and the answer's schema.
mod model;

use agentic::agent::platform;
use agentic::agent::types::{LogLevel, Model, PlatformError, RecordQuery, StoredRecord};
use serde_json::{json, Map, Value};
use wasi::clocks::monotonic_clock;

/// Fingerprints kept in the state (the state is capped at 64 KiB).
const MAX_SEEN: usize = 1000;

struct TriageAssistant;

fn platform_error(e: PlatformError) -> Error {
    match e {
        PlatformError::Denied(m) => Error::Denied(m),
        PlatformError::NotFound(m) | PlatformError::InvalidInput(m) => Error::Config(m),
        PlatformError::Unavailable(m) => Error::Transient(m),
    }
}

/// The configuration the component reads (the host validated it against the kind's schema and
/// added `model_base_url`, the model connection's base URL).
struct Config {
    connection: i64,
    base: String,
    model: String,
    max_items: u32,
    max_input_chars: usize,
    max_output_tokens: u64,
    price_per_1k: f64,
    post_comment: bool,
    comment_action: String,
    annotate: bool,
    budget_ns: u64,
}

impl Config {
    fn parse(text: &str) -> Result<Self, Error> {
        let c: Value =
            serde_json::from_str(text).map_err(|e| Error::Config(format!("config: {e}")))?;
        let missing = |f: &str| Error::Config(format!("config.{f} is missing"));
        Ok(Self {
            connection: c["connection_id"]
                .as_i64()
                .ok_or_else(|| missing("connection_id"))?,
            base: c["model_base_url"]
                .as_str()
                .ok_or_else(|| missing("model_base_url"))?
                .to_owned(),
            model: c["model"]
                .as_str()
                .ok_or_else(|| missing("model"))?
                .to_owned(),
            max_items: c["max_items_per_run"].as_u64().unwrap_or(20).clamp(1, 200) as u32,
            max_input_chars: c["max_input_chars"].as_u64().unwrap_or(4000).max(100) as usize,
            max_output_tokens: c["max_output_tokens"].as_u64().unwrap_or(600),
            price_per_1k: c["price_per_1k_tokens"].as_f64().unwrap_or(0.0),
            post_comment: c["post_comment"].as_bool().unwrap_or(false),
            comment_action: c["comment_action"]
                .as_str()
                .unwrap_or("add-comment")
                .to_owned(),
            annotate: c["annotate"].as_bool().unwrap_or(false),
            budget_ns: c["run_budget_secs"].as_u64().unwrap_or(20).max(1) * 1_000_000_000,
        })
    }
}

/// What one run counted.
#[derive(Default)]
struct Counts {
    triaged: u64,
    failed: u64,
    unchanged: u64,
    comments: u64,
    annotations: u64,
    prompt: u64,
    completion: u64,
}

/// FNV-1a of the item's text as the model reads it (uncut): whether an item stored again
/// changed in what a triage reads. Not of the whole record: the comment a triage posts back
/// changes the item's update time and comments, and must not make it due again.
fn fingerprint(data: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The item as the model reads it (before the cut).
fn item_text(record: &StoredRecord, data: &Value) -> String {
    let field = |k: &str| data[k].as_str().unwrap_or_default();
    let labels: Vec<&str> = data["labels"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "Key: {}\nTitle: {}\nType: {}\nStatus: {}\nPriority: {}\nLabels: {}\n\nDescription:\n{}",
        if field("key").is_empty() {
            record.external_id.as_str()
        } else {
            field("key")
        },
        field("title"),
        field("item_type"),
        field("status"),
        field("priority"),
        labels.join(", "),
        field("description"),
    )
}

/// `text` cut to `max` characters, ending with a marker when cut.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let marker = "\n[cut: the item is longer]";
    let keep = max.saturating_sub(marker.chars().count());
    text.chars().take(keep).chain(marker.chars()).collect()
}

/// The triage as Markdown.
fn markdown(record: &StoredRecord, data: &Value, answer: &Value, model: &str) -> String {
    let labels: Vec<&str> = answer["labels"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "# Triage of {key}: {title}\n\n- Category: {category}\n- Priority: {priority}\n- Labels: {labels}\n\n\
         ## Summary\n\n{summary}\n\n## Rationale\n\n{rationale}\n\n\
         _Work item record {id} (external id {external}) of connection {connection}, triaged by \
         the triage-assistant agent with model {model}._\n",
        key = data["key"].as_str().unwrap_or(&record.external_id),
        title = data["title"].as_str().unwrap_or_default(),
        category = answer["category"].as_str().unwrap_or_default(),
        priority = answer["priority"].as_str().unwrap_or_default(),
        labels = if labels.is_empty() { "none".into() } else { labels.join(", ") },
        summary = answer["summary"].as_str().unwrap_or_default(),
        rationale = answer["rationale"].as_str().unwrap_or_default(),
        id = record.id,
        external = record.external_id,
        connection = record.connection_id,
    )
}

/// One line of at most 200 characters.
fn title(record: &StoredRecord, data: &Value) -> String {
    let key = data["key"].as_str().unwrap_or(&record.external_id);
    let line = format!(
        "Triage: {key} {}",
        data["title"].as_str().unwrap_or_default()
    )
    .replace(['\n', '\r'], " ");
    line.trim().chars().take(200).collect()
}

/// Why a run stopped before the end of its pass.
enum Stop {
    /// The run triaged as many items as it may, or spent its time budget.
    Budget,
    /// The model asked us to wait this many seconds (429).
    RateLimited(i64),
    /// The model or the platform failed: the run's problem.
    Problem(String),
}

impl Guest for TriageAssistant {
    fn run(trigger: Trigger, config: String, state: Option<String>) -> Result<Outcome, Error> {
        let config = Config::parse(&config)?;
        let mut state: Map<String, Value> = state
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let now = trigger.at;
        if let Some(e) = &trigger.event {
            // Started by a sync of its connection (`run_on`): say which, for people watching.
            platform::emit_event(
                "triggered",
                &format!(
                    "a sync of stream {} (job {}) stored {} and deleted {} records",
                    e.stream, e.sync_job_id, e.records_stored, e.records_deleted
                ),
            );
        }
        if let Some(until) = state.get("not_before").and_then(Value::as_i64) {
            if now < until {
                return Ok(Outcome {
                    summary: format!(
                        "waiting for the model's rate limit: {} s left",
                        (until - now + 999) / 1000
                    ),
                    state: None,
                    metrics: Vec::new(),
                    events: Vec::new(),
                    problem: None,
                });
            }
            state.remove("not_before");
        }
        let since = state.get("since").and_then(Value::as_i64).unwrap_or(0);
        let mut after = state.get("after").and_then(Value::as_i64);
        let pass_started = match state.get("pass_started").and_then(Value::as_i64) {
            Some(t) if after.is_some() => t,
            _ => now,
        };
        let mut seen: Vec<(i64, String)> = state
            .get("seen")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|e| Some((e[0].as_i64()?, e[1].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let mut counts = Counts::default();
        let mut stop = None;
        let started = monotonic_clock::now();
        'pages: loop {
            let page = platform::query_records(&RecordQuery {
                model: Model::WorkItem,
                connection_id: Some(config.connection),
                status: None,
                text: None,
                after,
                limit: 100,
            });
            let page = match page {
                Ok(page) => page,
                // Nothing done yet: the run fails as it is.
                Err(e) if counts.triaged + counts.failed == 0 => return Err(platform_error(e)),
                // Items were written: keep the place in the state rather than triage them again.
                Err(e) => {
                    stop = Some(Stop::Problem(format!("querying work items failed: {e:?}")));
                    break;
                }
            };
            for record in &page.records {
                // Stored before the previous pass began: seen by it. (Stored in the very
                // millisecond it began: looked at again, and skipped below if unchanged.)
                if record.synced_at < since {
                    after = Some(record.id);
                    continue;
                }
                let data: Value = serde_json::from_str(&record.data).unwrap_or_default();
                let text = item_text(record, &data);
                let print = fingerprint(&text);
                if seen.iter().any(|(id, p)| *id == record.id && *p == print) {
                    counts.unchanged += 1;
                    after = Some(record.id);
                    continue;
                }
                let spent = monotonic_clock::now().saturating_sub(started);
                if counts.triaged + counts.failed >= u64::from(config.max_items)
                    || spent >= config.budget_ns
                {
                    stop = Some(Stop::Budget);
                    break 'pages;
                }
                if let Err(now_stop) = triage(&config, record, &data, text, &mut counts) {
                    stop = Some(now_stop);
                    break 'pages;
                }
                seen.retain(|(id, _)| *id != record.id);
                seen.push((record.id, print));
                if seen.len() > MAX_SEEN {
                    seen.remove(0);
                }
                after = Some(record.id);
            }
            match page.next_after {
                Some(next) if !page.records.is_empty() => after = Some(next),
                _ => break,
            }
        }
        let problem = match &stop {
            Some(Stop::Problem(why)) => Some(why.clone()),
            Some(Stop::RateLimited(secs)) => {
                state.insert("not_before".into(), json!(now + secs * 1000));
                Some(format!(
                    "rate limited by the model API for {secs} s; resuming after that"
                ))
            }
            _ => None,
        };
        if stop.is_none() {
            // The pass reached the end: the next one takes what was stored since it began.
            state.insert("since".into(), json!(pass_started));
            state.remove("after");
            state.remove("pass_started");
        } else {
            state.insert("after".into(), json!(after));
            state.insert("pass_started".into(), json!(pass_started));
        }
        state.insert(
            "seen".into(),
            Value::Array(seen.iter().map(|(id, p)| json!([id, p])).collect()),
        );
        let total = counts.prompt + counts.completion;
        let cost = total as f64 / 1000.0 * config.price_per_1k;
        for (name, value) in [
            ("items_triaged", counts.triaged as f64),
            ("items_failed", counts.failed as f64),
            ("items_unchanged", counts.unchanged as f64),
            ("comments_posted", counts.comments as f64),
            ("comments_written", counts.annotations as f64),
            ("prompt_tokens", counts.prompt as f64),
            ("completion_tokens", counts.completion as f64),
            ("total_tokens", total as f64),
            ("cost", cost),
        ] {
            platform::emit_metric(name, value);
        }
        let summary = format!(
            "{} item(s) triaged, {} failed, {} unchanged; {total} tokens{}",
            counts.triaged,
            counts.failed,
            counts.unchanged,
            match &stop {
                Some(Stop::Budget) => "; more next run (max_items_per_run or run_budget_secs)",
                Some(Stop::Problem(_) | Stop::RateLimited(_)) => "; stopped early",
                None => "",
            }
        );
        Ok(Outcome {
            state: Some(Value::Object(state).to_string()),
            metrics: Vec::new(),
            events: Vec::new(),
            summary,
            problem,
        })
    }
}

/// Triages one item: `Ok` when it was handled (triaged, or failed for itself), `Err` to stop.
fn triage(
    config: &Config,
    record: &StoredRecord,
    data: &Value,
    text: String,
    counts: &mut Counts,
) -> Result<(), Stop> {
    let text = cut(text, config.max_input_chars);
    let body = model::request(&config.model, config.max_output_tokens, &text);
    let key = data["key"]
        .as_str()
        .unwrap_or(&record.external_id)
        .to_owned();
    let done = match model::ask(&config.base, &body) {
        Ok(done) => done,
        Err(model::Failure::Item { why, tokens }) => {
            counts.failed += 1;
            counts.prompt += tokens.0;
            counts.completion += tokens.1;
            platform::emit_event("item-failed", &format!("{key}: {why}"));
            return Ok(());
        }
        Err(model::Failure::RateLimited(secs)) => {
            platform::emit_event("rate-limited", &format!("the model asked to wait {secs} s"));
            return Err(Stop::RateLimited(secs));
        }
        Err(model::Failure::Unavailable(why)) => {
            return Err(Stop::Problem(format!(
                "the model API is unavailable: {why}; resuming next run"
            )))
        }
        Err(model::Failure::Denied(why)) => {
            platform::log(LogLevel::Warn, &format!("model request refused: {why}"));
            return Err(Stop::Problem(format!(
                "the model request was refused: {why}"
            )));
        }
    };
    counts.prompt += done.prompt_tokens;
    counts.completion += done.completion_tokens;
    let text = markdown(record, data, &done.answer, &config.model);
    let mut tags = vec!["triage".to_owned(), format!("work-item:{}", record.id)];
    for (prefix, field) in [("category", "category"), ("priority", "priority")] {
        if let Some(v) = done.answer[field].as_str() {
            tags.push(format!("{prefix}:{v}"));
        }
    }
    if let Err(e) = platform::write_document(&title(record, data), &text, &tags, &[record.id]) {
        return Err(Stop::Problem(format!(
            "writing the triage of {key} failed: {e:?}"
        )));
    }
    counts.triaged += 1;
    if config.annotate {
        match platform::comment_on_record(record.id, &text) {
            Ok(_) => counts.annotations += 1,
            Err(e) => platform::emit_event(
                "annotation-failed",
                &format!("commenting the triage of {key} on its item failed: {e:?}"),
            ),
        }
    }
    if config.post_comment {
        let input = json!({"issue": key, "body": text}).to_string();
        match platform::invoke_action(config.connection, &config.comment_action, &input) {
            Ok(_) => counts.comments += 1,
            Err(e) => platform::emit_event(
                "comment-failed",
                &format!("posting the triage of {key} back failed: {e:?}"),
            ),
        }
    }
    Ok(())
}

export!(TriageAssistant);
