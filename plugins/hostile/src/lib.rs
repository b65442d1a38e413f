//! A hostile connector for the host's containment tests. `invoke(action)` misbehaves on purpose:
//! `spin` loops forever, `grow` allocates until memory runs out, `panic` panics, `flood` returns
//! more data than the host accepts, `shout` writes 100 000 log lines, `fetch` sends whatever
//! HTTP requests its input asks for (any URL, forged credential headers, huge bodies, thousands
//! of requests; a refused one's error carries the host's `egress-refusal`), `base-url` returns
//! the connection's base URL as a JSON string (or `null`), `ok` behaves. `read(stream)` returns pages the host must lift faithfully or
//! refuse: `kinds` one record of every model, with text that needs escaping and attributes that
//! are not JSON; `amplify` a page whose records all point at the same 8 MiB string (640 GiB
//! if copied once per field); `not-utf8` a title that is not UTF-8; `calls` how many reads
//! this instance has served (to tell a reused instance from a fresh one); `crash` panics;
//! `spin` loops forever; `endless` always has more, with a new state every page; `stuck`
//! always has more from the same state. `invoke("loud-error", MiB)` fails with an error text of
//! that many MiB. `discover` declares the streams a sync may run (`endless`, `stuck`).

mod fetch;
mod records;

wit_bindgen::generate!({
    path: "../../wit",
    world: "agentic:connector/connector",
    generate_all,
});

struct Hostile;

/// A version string found nowhere else in the component, so that tests can patch it to make a
/// second, different build of the same plugin for upgrade and rollback.
const VERSION: &str = "0.1.0-hostile.1";

impl Guest for Hostile {
    fn spec() -> ConnectorSpec {
        ConnectorSpec {
            id: "hostile".into(),
            name: "Hostile".into(),
            version: VERSION.into(),
            description: "Misbehaves on purpose.".into(),
            config_schema: "{}".into(),
            auth_kinds: Vec::new(),
            streams: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn check(_config: String) -> Result<String, Error> {
        Ok("ok".into())
    }

    fn discover(_config: String) -> Result<Vec<StreamSpec>, Error> {
        let stream = |name: &str, description: &str| StreamSpec {
            name: name.into(),
            description: description.into(),
            kind: agentic::connector::types::RecordKind::Person,
            incremental: true,
            schema: "{}".into(),
        };
        Ok(vec![
            stream("endless", "always has more, with a new state every page"),
            stream("stuck", "always has more, from the same state"),
        ])
    }

    fn read(_config: String, stream: String, state: Option<String>) -> Result<Page, Error> {
        match stream.as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "endless" | "stuck" => {
                let n: u64 = state.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0) + 1;
                return Ok(Page {
                    records: records::person(&n.to_string()),
                    state: if stream == "endless" {
                        n.to_string()
                    } else {
                        "0".into()
                    },
                    has_more: true,
                });
            }
            _ => {}
        }
        let records = match stream.as_str() {
            "kinds" => records::kinds(),
            "amplify" => records::amplify(),
            "not-utf8" => records::not_utf8(),
            "calls" => records::calls(),
            "crash" => panic!("hostile plugin panics in read on purpose"),
            other => return Err(Error::NotFound(format!("no stream {other}"))),
        };
        Ok(Page {
            records,
            state: "done".into(),
            has_more: false,
        })
    }

    fn invoke(_config: String, action: String, input: String) -> Result<String, Error> {
        match action.as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "flood" => {
                let mb: usize = input.trim().parse().unwrap_or(40);
                Ok("x".repeat(mb << 20))
            }
            "shout" => {
                for i in 0..100_000 {
                    agentic::connector::host::log(
                        agentic::connector::types::LogLevel::Error,
                        &format!("line {i}"),
                    );
                }
                Ok("shouted".into())
            }
            "loud-error" => {
                let mb: usize = input.trim().parse().unwrap_or(20);
                Err(Error::Internal("e".repeat(mb << 20)))
            }
            "fetch" => Ok(fetch::run(&input)),
            "base-url" => Ok(match agentic::connector::host::base_url() {
                Some(url) => format!("{url:?}"),
                None => "null".into(),
            }),
            "ok" => Ok(input),
            other => Err(Error::NotFound(other.into())),
        }
    }
}

export!(Hostile);
