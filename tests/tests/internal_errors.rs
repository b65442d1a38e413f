//! A failure inside the host is answered with a generic 500 and logged with its whole cause
//! chain: the client learns nothing of the internals, the operator everything. The failure here
//! is a stored state this host does not know (as a newer host, or a hand edit, might leave):
//! reading it is a decode error of the store, never a silent default.

use std::time::Duration;

use crate::logs::Logs;

use agentic_host::store::jobs::NewJob;
use agentic_tests::{stories, TestApp};

/// What a newer host might have written.
const UNKNOWN: &str = "paused-by-a-newer-host";

stories! {
    async fn an_internal_error_keeps_its_cause_in_the_log_and_out_of_the_response(backend) {
        let logs = Logs::default();
        let _capture = logs.capture();
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let now = app.state.now();
        let later = NewJob {
            kind: "noop".into(),
            project_id: None,
            payload: "null".into(),
            priority: 0,
            max_attempts: 1,
            run_at: now + Duration::from_secs(3600),
            idempotency_key: None,
            created_by: None,
        };
        let (job, _) = app.state.store.enqueue(&later, now).await.expect("enqueue");
        let path = format!("/api/v1/jobs/{}", job.id);
        app.get(&path, &admin.token).await.expect(200);

        sqlx::query("UPDATE jobs SET state = $1 WHERE id = $2")
            .bind(UNKNOWN)
            .bind(job.id)
            .execute(app.state.store.pool())
            .await
            .expect("write an unknown state");
        for path in [path.clone(), "/api/v1/jobs".to_owned()] {
            let reply = app.get(&path, &admin.token).await;
            let problem = reply.problem(500);
            assert_eq!(problem["type"], "/problems/internal", "{path}: {problem}");
            let detail = problem["detail"].as_str().expect("detail");
            assert_eq!(
                detail, "the server failed to handle the request; it has been logged",
                "{path}"
            );
            for internal in [UNKNOWN, "job state", "database", "decod", "store"] {
                let body = &reply.text;
                assert!(!body.contains(internal), "{path} answers {internal:?}: {body}");
            }
        }

        // The log line of each 500 has the chain, from what the host did down to the value.
        let text = logs.text();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("internal error")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in lines {
            assert!(line.contains("ERROR"), "{line}");
            assert!(
                line.contains(&format!(
                    "internal error: store: database error: error occurred while decoding: \
                     unknown job state \"{UNKNOWN}\" (expected one of: queued, running, \
                     succeeded, dead, cancelled)"
                )),
                "{line}"
            );
        }
    }
}
