//! The run chain under sync events: an event waiting when a run is recorded makes the next run
//! due at once; the event the run consumed does not.

use std::time::Duration;

use super::*;
use crate::ids::{AgentId, JobId, ProjectId, UserId};
use crate::jobs::new_job;
use crate::rbac::Role;
use crate::store::agents::AgentState;
use crate::store::users::{NewUser, UserKind};

const NOW: Millis = Millis::from_ms(1_800_000_000_000);
const DAY: Duration = Duration::from_secs(86_400);

/// A running agent whose first run job is queued; returns the agent id and that job's id.
async fn running_agent(store: &Store) -> (i64, i64) {
    let user = NewUser {
        kind: UserKind::Human,
        email: Some("pm@example.com"),
        display_name: "PM",
        password_hash: None,
        role: Role::ProjectManager,
    };
    let user = store.create_user(user, NOW).await.expect("user");
    let project = store
        .create_project("P", "", user.id, user.id, NOW)
        .await
        .expect("project");
    let config = r#"{"connection_id": 1, "run_on": ["records-changed"]}"#;
    let agent = store
        .create_agent(
            ProjectId(project.id),
            "a",
            "triage-assistant",
            config,
            UserId(user.id),
            NOW,
        )
        .await
        .expect("agent");
    let deploy = new_job("agent.deploy", Some(project.id), &(), Some(user.id), NOW);
    let (_, job) = store
        .start_transition(
            agent.id,
            &[AgentState::Draft],
            AgentState::Deploying,
            &deploy,
            NOW,
        )
        .await
        .expect("transition")
        .expect("moved");
    let first = new_job("agent.run", Some(project.id), &(), None, NOW + DAY);
    let run = store
        .start_agent_runs(
            AgentId(agent.id),
            JobId(job.id),
            "[]",
            Some(UserId(user.id)),
            Some(&first),
            NOW,
        )
        .await
        .expect("start")
        .expect("started")
        .expect("a run job");
    (agent.id, run)
}

fn finished<'a>(agent_id: i64, job_id: i64, consumed: Option<&'a str>) -> FinishedRun<'a> {
    FinishedRun {
        agent_id,
        job_id,
        run: 1,
        started_at: NOW,
        duration_ms: 5,
        error: None,
        summary: Some("ok"),
        state: None,
        metrics: "{}",
        events: "[]",
        event_rows: &[],
        triggered_by: if consumed.is_some() {
            "records-changed"
        } else {
            "schedule"
        },
        consumed_event: consumed,
        unhealthy_after: 3,
        keep_after: Millis::EPOCH,
        max_samples: 100,
        now: NOW,
    }
}

#[tokio::test]
async fn an_event_during_a_run_makes_the_next_run_due_at_once_and_a_consumed_one_does_not() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (agent, first) = running_agent(&store).await;

    // The event brings the queued run forward to its due time, not later ones.
    assert!(store
        .bring_agent_run_forward(agent, r#"{"e":1}"#, NOW + Duration::from_secs(10))
        .await
        .expect("event"));
    assert_eq!(
        store.get_job(first).await.expect("job").run_at,
        NOW + Duration::from_secs(10)
    );
    assert!(store
        .bring_agent_run_forward(agent, r#"{"e":2}"#, NOW + Duration::from_secs(20))
        .await
        .expect("event"));
    assert_eq!(
        store.get_job(first).await.expect("job").run_at,
        NOW + Duration::from_secs(10),
        "never later"
    );

    // The run consumed event 2 (the latest when it started): the next run is on the schedule
    // and nothing is pending any more.
    let next = new_job("agent.run", None, &(), None, NOW + DAY);
    let recorded = store
        .finish_agent_run(&finished(agent, first, Some(r#"{"e":2}"#)), &next, None)
        .await
        .expect("finish")
        .expect("recorded");
    assert_eq!(recorded.agent.pending_event, None);
    let second = recorded.agent.run_job_id.expect("next run");
    assert_eq!(store.get_job(second).await.expect("job").run_at, NOW + DAY);

    // An event arrives while run 2 runs (it started with none pending): when run 2 is
    // recorded, the run after it is due at once and the event stays for it to consume.
    assert!(store
        .bring_agent_run_forward(agent, r#"{"e":3}"#, NOW + Duration::from_secs(10))
        .await
        .expect("event"));
    let recorded = store
        .finish_agent_run(&finished(agent, second, None), &next, None)
        .await
        .expect("finish")
        .expect("recorded");
    assert_eq!(recorded.agent.pending_event.as_deref(), Some(r#"{"e":3}"#));
    let third = recorded.agent.run_job_id.expect("next run");
    assert_eq!(store.get_job(third).await.expect("job").run_at, NOW);
    let runs = store.list_agent_runs(agent, 0, 10).await.expect("runs");
    let by: Vec<Option<&str>> = runs
        .items
        .iter()
        .map(|r| r.triggered_by.as_deref())
        .collect();
    assert_eq!(by, [Some("records-changed"), Some("schedule")]);
    store.close().await;
}
