//! The harness plays the host: grant, connection and input rules, paging, state across runs.

use agentic_agent_sdk::platform::{self, LogLevel};
use agentic_agent_sdk::serde_json::{json, Value};
use agentic_agent_sdk::testing::Harness;
use agentic_agent_sdk::{
    register_agent, Agent, Error, Model, PlatformError, RecordQuery, Report, Run, TriggerKind,
};
use serde::{Deserialize, Serialize};

/// Does what its config says, to exercise one platform call at a time.
#[derive(Default)]
struct Probe;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    connection_id: Option<i64>,
    call: String,
    #[serde(default)]
    target: i64,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    seen: Vec<i64>,
    #[serde(default)]
    padding: String,
}

impl Agent for Probe {
    type Config = Config;
    type State = State;

    fn run(&self, run: &Run, config: &Config, state: &mut State) -> Result<Report, Error> {
        platform::log(LogLevel::Info, &format!("run {}", run.number));
        let report = match config.call.as_str() {
            "count" => {
                let ids: Vec<i64> = platform::records(RecordQuery::new(Model::WorkItem).limit(7))
                    .map(|r| r.map(|r| r.id))
                    .collect::<Result<_, _>>()?;
                state.seen = ids.clone();
                Report::new(format!("{} records", ids.len()))
            }
            "sync" => {
                let job = platform::start_sync(config.target, Some("issues"))?;
                let status = platform::sync_job(job)?;
                Report::new(format!("job {job} {}", status.state))
            }
            "act" => {
                let out = platform::invoke_action(
                    config.target,
                    "add-comment",
                    &json!({"issue": "T-1", "body": "hi"}),
                )?;
                Report::new(out.to_string())
            }
            "write" => {
                let id = platform::write_document("", "text", &[])?;
                Report::new(format!("document {id}"))
            }
            "grow" => {
                state.padding = "x".repeat(70 * 1024);
                Report::new("grown")
            }
            "fail" => return Err(Error::Transient("on purpose".into())),
            other => return Err(Error::Config(format!("config.call: unknown {other:?}"))),
        };
        let _ = config.connection_id;
        Ok(report)
    }
}

register_agent!(Probe);

fn seeded() -> Harness {
    let mut host = Harness::new().connection(9);
    for n in 0..20 {
        host.record(
            Model::WorkItem,
            7,
            "issues",
            &format!("T-{n}"),
            json!({"title": format!("Item {n}")}),
        );
    }
    host.record(Model::Document, 7, "pages", "P-1", json!({"title": "Page"}));
    host
}

#[test]
fn records_are_read_page_by_page_and_only_with_the_grant() {
    let mut host = seeded();
    let run = host.run::<Probe>(json!({"call": "count"}));
    assert_eq!(
        run.outcome().summary,
        "20 records",
        "three pages of 7, documents left out"
    );
    assert_eq!(
        host.state().expect("state")["seen"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    assert_eq!(run.logs, vec![(LogLevel::Info, "run 1".to_owned())]);

    let mut host = seeded().grant(&["jobs:read"]);
    let run = host.run::<Probe>(json!({"call": "count"}));
    assert_eq!(
        run.error(),
        &Error::Denied(
            "the agent's grant does not include records:read (it holds: jobs:read)".into()
        )
    );
    assert_eq!(run.refusals.len(), 1);
}

#[test]
fn syncs_and_actions_reach_only_the_configured_connection_of_the_project() {
    let mut host = seeded().on_action("add-comment", |input| Ok(json!({"posted": input["body"]})));
    let run = host.run::<Probe>(json!({"call": "sync", "connection_id": 7, "target": 7}));
    assert_eq!(run.syncs.len(), 1);
    assert!(run.outcome().summary.ends_with(" queued"));
    let job = run.syncs[0].job_id;
    host.finish_job(job, "succeeded", Some(json!({"records": 3})), None);

    // Connection 9 is the project's but not the configured one; 5 is not the project's.
    let run = host.run::<Probe>(json!({"call": "sync", "connection_id": 7, "target": 9}));
    assert_eq!(
        run.error(),
        &Error::Denied("connection 9 is not one the agent's configuration names".into())
    );
    let run = host.run::<Probe>(json!({"call": "act", "connection_id": 5, "target": 5}));
    assert_eq!(
        run.error(),
        &Error::Config("the agent's project has no connection 5".into())
    );

    let run = host.run::<Probe>(json!({"call": "act", "connection_id": 7, "target": 7}));
    assert_eq!(run.outcome().summary, r#"{"posted":"hi"}"#);
    assert_eq!(run.actions[0].input, json!({"issue": "T-1", "body": "hi"}));
}

#[test]
fn the_hosts_input_rules_and_state_rules_hold() {
    let mut host = seeded();
    let run = host.run::<Probe>(json!({"call": "write"}));
    assert!(
        matches!(run.error(), Error::Internal(m) if m.starts_with("title:")),
        "{:?}",
        run.result
    );

    let run = host.run::<Probe>(json!({"call": "count"}));
    assert_eq!(run.run.trigger, TriggerKind::Retry);
    assert_eq!((run.run.number, run.run.consecutive_failures), (2, 1));
    let before: Value = host.state().expect("state");

    // A state over 64 KiB fails the run, and the previous state stays.
    let run = host.run::<Probe>(json!({"call": "grow"}));
    assert!(
        matches!(run.error(), Error::Internal(m) if m.contains("over the host's 65536")),
        "{:?}",
        run.result
    );
    assert_eq!(host.state(), Some(before.clone()));
    let run = host.run::<Probe>(json!({"call": "fail"}));
    assert!(run.failed());
    assert_eq!(host.state(), Some(before));

    // A configuration that does not deserialize names its field.
    let run = host.run::<Probe>(json!({"call": 3}));
    assert!(
        matches!(run.error(), Error::Config(m) if m.starts_with("config.call: ")),
        "{:?}",
        run.result
    );
}

#[test]
fn a_platform_call_outside_a_harness_says_how_to_run_agents_in_tests() {
    let e = platform::query_records(&RecordQuery::new(Model::WorkItem)).expect_err("no host");
    assert!(matches!(e, PlatformError::Unavailable(m) if m.contains("testing::Harness")));
}
