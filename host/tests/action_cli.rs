//! `agentic action list|run` from the shell: the example connector's `echo` run through the
//! same checks as the API (input schema, output), printed as JSON, and audited with `via: cli`.

use crate::workers::{agentic, cli, installed_example};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_runs_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database, store, id) = installed_example(dir.path(), 3, 10).await;

    let listed = cli(dir.path(), &database, &["action", "list", &id]);
    assert_eq!(
        listed,
        "ACTION  DESCRIPTION\n\
         echo    Returns its input unchanged.\n\
         fetch   GETs `path` under the service origin `origin`, or the absolute `url`; answers the status and body.\n"
    );

    let out = cli(
        dir.path(),
        &database,
        &["action", "run", &id, "echo", "--input", r#"{"say": "hi"}"#],
    );
    let printed: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(printed, serde_json::json!({"say": "hi"}));

    // From a file, too.
    std::fs::write(dir.path().join("input.json"), r#"{"from": "file"}"#).expect("write");
    let out = cli(
        dir.path(),
        &database,
        &["action", "run", &id, "echo", "--input", "@input.json"],
    );
    assert!(out.contains("\"from\": \"file\""), "{out}");

    // Input the schema refuses, and an action the plugin does not have: one-line reasons.
    let refused = agentic(
        dir.path(),
        &database,
        &["action", "run", &id, "echo", "--input", "[1]"],
    )
    .output()
    .expect("spawn");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("invalid input: input:"), "{stderr}");
    let unknown = agentic(dir.path(), &database, &["action", "run", &id, "archive"])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        stderr.contains("no action \"archive\" (actions: echo, fetch)"),
        "{stderr}"
    );

    let audited: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'action.run'")
            .fetch_all(store.pool())
            .await
            .expect("audit");
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(
        audited.iter().all(|d| d.contains("\"via\":\"cli\"")
            && d.contains("\"outcome\":\"ok\"")
            && !d.contains("say")),
        "{audited:?}"
    );
    store.close().await;
}
