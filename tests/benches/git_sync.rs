//! `cargo xtask test` (or the plugins' release build) builds the components; then
//! `cargo bench -p agentic-tests --bench git_sync` (SQLite). `COMMITS=…` for another size
//! (default 10 000).
//!
//! A first sync of the `commits` stream (changed paths with line counts) of a repository with a
//! linear history of 10 000 commits, each rewriting one of ten small files, served by the real
//! `git http-backend` of the end-to-end tests, through the Git component installed signed, a
//! real worker and the sync engine: commits per second, end to end. Beside it, on the same
//! machine and the same server, `git clone --bare` and `git log --numstat` of the clone. Then
//! ten new commits and an incremental sync: its time and the bytes the server sent.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::rbac::Role;
use agentic_tests::git_server::{GitServer, Repo};
use agentic_tests::{bench, plugin_manifest, plugin_wasm, Backend, TestApp};
use serde_json::{json, Value};

/// Appends `count` commits after commit `from` (or a root) to `main` with `git fast-import`.
fn history(repo: &Repo, first: usize, count: usize) {
    let mut stream = Vec::new();
    for n in first..first + count {
        let content: String = (0..20)
            .map(|l| {
                if l == n % 20 {
                    format!("line {l} of change {n}\n")
                } else {
                    format!("line {l}\n")
                }
            })
            .collect();
        let message = format!("Change {n} for PROJ-{}\n", n % 500 + 1);
        let when = 1_700_000_000 + n as i64 * 60;
        write!(
            stream,
            "commit refs/heads/main\nauthor Dev {d} <dev{d}@example.com> {when} +0000\ncommitter Dev {d} <dev{d}@example.com> {when} +0000\ndata {}\n{message}",
            message.len(),
            d = n % 7
        )
        .unwrap();
        if n == first && first > 0 {
            writeln!(stream, "from refs/heads/main^0").unwrap();
        }
        write!(
            stream,
            "M 100644 inline src/file{}.txt\ndata {}\n{content}\n",
            n % 10,
            content.len()
        )
        .unwrap();
    }
    let mut child = Command::new("git")
        .current_dir(&repo.bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
}

async fn sync(app: &TestApp, token: &str, project: i64, cid: i64, body: Value) -> Value {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            body,
        )
        .await;
    r.expect(202);
    let id = r.json["job"]["id"].as_i64().unwrap();
    loop {
        let job = app.get(&format!("/api/v1/jobs/{id}"), token).await.json;
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "dead" | "cancelled")
        ) {
            assert_eq!(job["state"], "succeeded", "{job}");
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn main() {
    let n = bench::count("COMMITS", 10_000);
    let runtime = bench::runtime();
    let server = runtime.block_on(GitServer::start());
    let repo = server.repo("big");
    let started = Instant::now();
    history(&repo, 0, n);
    println!("\n{n}-commit repository made in {:.1?}", started.elapsed());

    // git itself, through the same server.
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("clone.git");
    let started = Instant::now();
    let ok = Command::new("git")
        .args([
            "clone",
            "--quiet",
            "--bare",
            &repo.url,
            clone.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new("git")
        .current_dir(&clone)
        .args([
            "log",
            "--numstat",
            "--format=%H%n%an%n%ae%n%at%n%cn%n%ce%n%ct%n%P%n%B",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let git = started.elapsed();
    let git_rate = n as f64 / git.as_secs_f64();
    println!(
        "{:<58} {:>10.0} commits/s  ({:.2} s)",
        "git clone --bare + git log --numstat",
        git_rate,
        git.as_secs_f64()
    );

    let (app, project, cid, token) = runtime.block_on(async {
        let app = TestApp::start_durable(Backend::Sqlite, |_| {}).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        app.install_plugin(&admin.token, &plugin_manifest("git"), &plugin_wasm("git"))
            .await;
        let project = app.project("Bench", pm.id, &[]).await;
        app.enable_plugin(&admin.token, project, "git").await;
        let created = app
            .post(
                &format!("/api/v1/projects/{project}/connections?check=false"),
                &admin.token,
                json!({"plugin_id": "git", "name": "big", "base_url": repo.url, "config": {"commits_per_page": 1000},
                       "allow_private_network": true, "credential": {"kind": "anonymous"}}),
            )
            .await;
        created.expect(201);
        let cid = created.json["id"].as_i64().unwrap();
        let _ = app.state.plugins.active("git").await.unwrap();
        (app, project, cid, pm.token)
    });
    let worker = agentic_host::server::worker(&app.state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = runtime.spawn(Arc::clone(&worker).run(stopped));

    let started = Instant::now();
    let job = runtime.block_on(sync(
        &app,
        &token,
        project,
        cid,
        json!({"stream": "commits"}),
    ));
    let first = started.elapsed();
    assert_eq!(job["result"]["records"], n, "{job}");
    let rate = n as f64 / first.as_secs_f64();
    println!(
        "{:<58} {:>10.0} commits/s  ({:.2} s, {:.2} of git)",
        "component → worker → sync engine → SQLite, first sync",
        rate,
        first.as_secs_f64(),
        rate / git_rate
    );
    let bytes: usize = server.take_log().iter().map(|e| e.bytes).sum();
    println!("{:<58} {:>10} bytes", "  sent by the server", bytes);

    history(&repo, n, 10);
    let started = Instant::now();
    let job = runtime.block_on(sync(
        &app,
        &token,
        project,
        cid,
        json!({"stream": "commits"}),
    ));
    let incremental = started.elapsed();
    assert_eq!(job["result"]["records"], 10, "{job}");
    let log = server.take_log();
    let bytes: usize = log.iter().map(|e| e.bytes).sum();
    println!(
        "{:<58} {:>10.3} s  ({bytes} bytes in {} requests)",
        "incremental sync after 10 new commits",
        incremental.as_secs_f64(),
        log.len()
    );
    let _ = stop.send(true);
    let _ = runtime.block_on(running);
}
