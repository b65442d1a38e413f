//! A connector built against the frozen contract `agentic:connector@0.2.0`
//! (`wit/frozen/0.2.0`) with wit-bindgen directly, as plugins were before 0.3.0 added deletions
//! to `record-data`: the host keeps serving that version (its `page` is lifted in 0.2.0's
//! shape), and `host/tests/plugin_contract.rs` installs, checks, reads and invokes this
//! component to prove it. `check` fetches the connection's base URL (`host.base-url`, 0.2.0),
//! `read` returns two pages of work items (`items`, incremental), `invoke("echo")` answers its
//! input.

wit_bindgen::generate!({
    path: "../../wit/frozen/0.2.0",
    world: "agentic:connector/connector@0.2.0",
    generate_all,
});

use agentic::connector::host;
use agentic::connector::types::{ActionSpec, AuthKind, LogLevel, RecordData, RecordKind, WorkItem};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

struct Connector;

impl Guest for Connector {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            id: "contract-0-2".into(),
            name: "Contract 0.2.0".into(),
            version: "0.2.0".into(),
            description: "Built against agentic:connector@0.2.0.".into(),
            config_schema: r#"{"type":"object"}"#.into(),
            auth_kinds: vec![AuthKind::Anonymous],
            streams: vec![StreamSpec {
                name: "items".into(),
                description: "Three work items over two pages.".into(),
                kind: RecordKind::WorkItem,
                incremental: true,
                schema: r#"{"type":"object"}"#.into(),
            }],
            actions: vec![ActionSpec {
                name: "echo".into(),
                description: "Answers its input.".into(),
                input_schema: r#"{"type":"object"}"#.into(),
                output_schema: r#"{"type":"object"}"#.into(),
            }],
        }
    }

    fn check(_config: String) -> Result<String, Error> {
        let Some(base) = host::base_url() else {
            return Err(Error::Config("this call has no connection".into()));
        };
        let status = get(&base).map_err(|code| {
            let why = host::egress_refusal().unwrap_or_default();
            Error::Config(format!("GET {base}: {code} {why}"))
        })?;
        Ok(format!("GET {base}: {status}"))
    }

    fn discover(_config: String) -> Result<Vec<StreamSpec>, Error> {
        Ok(Self::spec().streams)
    }

    fn read(_config: String, stream: String, state: Option<String>) -> Result<Page, Error> {
        if stream != "items" {
            return Err(Error::NotFound(format!("no stream {stream}")));
        }
        host::log(LogLevel::Info, "reading items");
        let (ids, state, has_more): (&[&str], &str, bool) = match state.as_deref() {
            None => (&["a", "b"], "1", true),
            Some("1") => (&["c"], "2", false),
            Some(_) => (&[], "2", false),
        };
        let records = ids
            .iter()
            .map(|id| {
                RecordData::WorkItem(WorkItem {
                    external_id: (*id).into(),
                    key: format!("C-{id}"),
                    title: format!("Item {id}"),
                    description: String::new(),
                    status: "open".into(),
                    item_type: "Task".into(),
                    priority: None,
                    assignee: None,
                    reporter: None,
                    labels: Vec::new(),
                    parent: None,
                    url: None,
                    created_at: None,
                    updated_at: None,
                    attributes: "{}".into(),
                })
            })
            .collect();
        Ok(Page {
            records,
            state: state.into(),
            has_more,
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
