//! A connector built against the frozen contract `agentic:connector@0.1.0`
//! (`wit/frozen/0.1.0`) with wit-bindgen directly, as plugins were before 0.2.0: the host keeps
//! serving that version, and `host/tests/plugin_contract.rs` installs and runs this component to
//! prove it. `check` fetches the `url` of its configuration (reporting a refused request only by
//! its `wasi:http` error code: 0.1.0 has no `egress-refusal`), `read` logs, reports progress and
//! returns two raw records, `invoke("echo")` answers its input.

wit_bindgen::generate!({
    path: "../../wit/frozen/0.1.0",
    world: "agentic:connector/connector@0.1.0",
    generate_all,
});

use agentic::connector::host;
use agentic::connector::types::{LogLevel, RawRecord, RecordData, RecordKind};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

struct Connector;

impl Guest for Connector {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            id: "contract-0-1".into(),
            name: "Contract 0.1.0".into(),
            version: "0.1.0".into(),
            description: "Built against agentic:connector@0.1.0.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            auth_kinds: vec![agentic::connector::types::AuthKind::Anonymous],
            streams: vec![StreamSpec {
                name: "items".into(),
                description: "Two raw records.".into(),
                kind: RecordKind::Raw,
                incremental: false,
                schema: r#"{"type":"object"}"#.into(),
            }],
            actions: vec![agentic::connector::types::ActionSpec {
                name: "echo".into(),
                description: "Answers its input.".into(),
                input_schema: r#"{"type":"object"}"#.into(),
                output_schema: r#"{"type":"object"}"#.into(),
            }],
        }
    }

    fn check(config: String) -> Result<String, Error> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| Error::Config(e.to_string()))?;
        let Some(url) = config["url"].as_str() else {
            return Ok("nothing to reach".into());
        };
        let status = get(url).map_err(|code| Error::Config(format!("GET {url}: {code}")))?;
        Ok(format!("GET {url}: {status}"))
    }

    fn discover(_config: String) -> Result<Vec<StreamSpec>, Error> {
        Ok(Self::spec().streams)
    }

    fn read(_config: String, stream: String, _state: Option<String>) -> Result<Page, Error> {
        if stream != "items" {
            return Err(Error::NotFound(format!("no stream {stream}")));
        }
        host::log(LogLevel::Info, "reading items");
        host::progress(2, Some(2), "two items");
        let records = ["a", "b"]
            .map(|id| {
                RecordData::Raw(RawRecord {
                    external_id: id.into(),
                    data: format!(r#"{{"id":"{id}"}}"#),
                })
            })
            .into();
        Ok(Page {
            records,
            state: "done".into(),
            has_more: false,
        })
    }

    fn invoke(_config: String, action: String, input: String) -> Result<String, Error> {
        match action.as_str() {
            "echo" => Ok(input),
            other => Err(Error::NotFound(format!("no action {other}"))),
        }
    }
}

/// `GET url`: the response status, or the `wasi:http` error code.
fn get(url: &str) -> Result<u16, String> {
    let (scheme, rest) = url.split_once("://").ok_or("url without scheme")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method")?;
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let response = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    response.subscribe().block();
    let response = response
        .get()
        .ok_or("response not ready")?
        .map_err(|()| "response taken")?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status())
}

export!(Connector);
