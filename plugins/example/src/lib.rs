//! Example connector. Its "service" is a deterministic list of work items computed from the
//! configuration (`{"items": N, "page_size": K}`), so the host's paging, resumption and limits
//! can be tested without a network. Real connectors use the SDK; this one uses the raw bindings.

wit_bindgen::generate!({
    path: "../../wit",
    world: "agentic:connector/connector",
    generate_all,
});

use agentic::connector::host::{log, progress};
use agentic::connector::types::{AuthKind, LogLevel, RecordData, RecordKind, WorkItem};

struct Example;

const SCHEMA: &str = r#"{"type":"object","properties":{"items":{"type":"integer","minimum":0,"maximum":100000},"page_size":{"type":"integer","minimum":1,"maximum":1000}},"required":["items"],"additionalProperties":false}"#;

struct Config {
    items: u64,
    page_size: u64,
}

fn config(json: &str) -> Result<Config, Error> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::Config(format!("config is not JSON: {e}")))?;
    let items = value["items"]
        .as_u64()
        .ok_or_else(|| Error::Config("items: required integer".into()))?;
    let page_size = value
        .get("page_size")
        .and_then(|v| v.as_u64())
        .unwrap_or(100)
        .max(1);
    Ok(Config { items, page_size })
}

fn stream() -> StreamSpec {
    StreamSpec {
        name: "items".into(),
        description: "Numbered work items".into(),
        kind: RecordKind::WorkItem,
        incremental: true,
        schema: r#"{"type":"object"}"#.into(),
    }
}

impl Guest for Example {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            id: "example".into(),
            name: "Example".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Deterministic in-memory work items, for tests.".into(),
            config_schema: SCHEMA.into(),
            auth_kinds: vec![AuthKind::Anonymous],
            streams: vec![stream()],
            actions: Vec::new(),
        }
    }

    fn check(config_json: String) -> Result<String, Error> {
        let c = config(&config_json)?;
        log(LogLevel::Info, "check called");
        Ok(format!("{} items available", c.items))
    }

    fn discover(config_json: String) -> Result<Vec<StreamSpec>, Error> {
        config(&config_json)?;
        Ok(vec![stream()])
    }

    fn read(
        config_json: String,
        stream_name: String,
        state: Option<String>,
    ) -> Result<Page, Error> {
        let c = config(&config_json)?;
        if stream_name != "items" {
            return Err(Error::NotFound(format!("no stream {stream_name}")));
        }
        let after: u64 = match state.as_deref() {
            None => 0,
            Some(s) => s
                .parse()
                .map_err(|_| Error::InvalidInput(format!("bad state {s:?}")))?,
        };
        let end = (after + c.page_size).min(c.items);
        let records = (after + 1..=end)
            .map(|n| {
                RecordData::WorkItem(WorkItem {
                    external_id: n.to_string(),
                    key: format!("EX-{n}"),
                    title: format!("Item {n}"),
                    description: String::new(),
                    status: "open".into(),
                    item_type: "task".into(),
                    priority: None,
                    assignee: None,
                    reporter: None,
                    labels: Vec::new(),
                    parent: None,
                    url: None,
                    created_at: None,
                    updated_at: Some(i64::try_from(n).unwrap_or(i64::MAX)),
                    attributes: "{}".into(),
                })
            })
            .collect();
        progress(end, Some(c.items), "reading items");
        Ok(Page {
            records,
            state: end.to_string(),
            has_more: end < c.items,
        })
    }

    fn invoke(_config: String, action: String, input: String) -> Result<String, Error> {
        match action.as_str() {
            "echo" => Ok(input),
            other => Err(Error::NotFound(format!("no action {other}"))),
        }
    }
}

export!(Example);
