//! `agentic sync run` from the shell: the summary it ends with (a line of totals, a table of the
//! streams under column headers, why a stream failed) and the warnings counted in it. The bar
//! itself is drawn only on a terminal; here standard error is a pipe, so log lines pass
//! through unchanged.

use crate::workers::{agentic, installed_example};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_run_ends_with_a_readable_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 25 items, 10 a page: 3 pages.
    let (database, store, id) = installed_example(dir.path(), 25, 10).await;

    let out = agentic(dir.path(), &database, &["sync", "run", &id])
        .output()
        .expect("sync run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        stdout.starts_with(&format!("Synced connection {id} in ")),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(&[
            "25",
            "records",
            "stored",
            "in",
            "3",
            "pages,",
            "0",
            "marked",
            "deleted;",
            "0",
            "warnings."
        ]),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        ["STREAM", "STATE", "RECORDS", "PAGES", "DELETED", "TIME"],
        "{stdout}"
    );
    assert_eq!(
        lines[2][..5],
        ["items", "succeeded", "25", "3", "0"],
        "{stdout}"
    );
    assert_eq!(lines.len(), 3, "one stream: {stdout}");

    // A stream the connector does not have: the job fails, the warning it logs is counted and
    // printed (on standard error), and the summary says why.
    let out = agentic(
        dir.path(),
        &database,
        &["sync", "run", &id, "--stream", "nosuch"],
    )
    .output()
    .expect("sync run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("Sync of connection {id} ended after ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().next().unwrap_or_default().ends_with(
            ": 1 of 1 stream did not succeed; 0 records stored in 0 pages, 0 marked deleted; 1 warning."
        ),
        "{stdout}"
    );
    let row: Vec<&str> = stdout
        .lines()
        .nth(2)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..5], ["nosuch", "dead", "0", "0", "0"], "{stdout}");
    assert!(
        stdout.contains("nosuch (job ")
            && stdout.contains("the connector has no stream \"nosuch\""),
        "{stdout}"
    );
    assert!(
        stderr.contains("job failed"),
        "the warning is shown: {stderr}"
    );
    assert!(
        stderr.contains("1 of 1 sync jobs did not succeed"),
        "{stderr}"
    );
    store.close().await;
}
