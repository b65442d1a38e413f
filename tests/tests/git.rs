//! The Git connector end to end through the host: the real component (built from
//! `plugins/git`), installed signed like any third-party plugin, syncs repositories that Debian's
//! real `git http-backend` serves (`agentic_tests::git_server`), made with the `git` CLI: merges,
//! annotated and lightweight tags, a rename, a binary file, a non-UTF-8 path and message, an
//! empty repository. What the host shows is compared field by field with `git cat-file`,
//! `git diff-tree --numstat`, `git ls-tree` and `git for-each-ref` of the served repository, over
//! protocol v2 and v0; new commits arrive by an incremental sync and a force-push marks the
//! commits it dropped unreachable. Bad answers (an HTML login page, a malformed pkt-line, a
//! truncated or corrupt pack) fail the sync with a message that says so.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::git_server::{Auth, GitServer, Repo, Tamper};
use agentic_tests::syncs::{assert_has, by_id, results, stored_text, sync, synced_documents};
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

/// Installs the Git component (signed by a newly trusted publisher) and enables it in a new
/// project owned by `owner`.
pub(crate) async fn project_with_git(app: &TestApp, admin: &str, owner: i64) -> i64 {
    let manifest = plugin_manifest("git");
    app.install_plugin(admin, &manifest, &plugin_wasm("git"))
        .await;
    let project = app.project("Code", owner, &[]).await;
    app.enable_plugin(admin, project, "git").await;
    project
}

/// Creates a connection to `url` (as the administrator: a loopback server needs private
/// networks allowed) and returns its id and the check's answer.
async fn connect(
    app: &TestApp,
    admin: &str,
    project: i64,
    url: &str,
    config: Value,
    credential: Value,
) -> (i64, Value) {
    let path = format!("/api/v1/projects/{project}/connections");
    let created = app
        .post(
            &format!("{path}?check=false"),
            admin,
            json!({"plugin_id": "git", "name": format!("repo-{}", uuid::Uuid::new_v4()), "base_url": url, "config": config,
                   "allow_private_network": true, "credential": credential}),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    let check = app
        .post(&format!("{path}/{cid}/check"), admin, json!({}))
        .await;
    (cid, check.json.clone())
}

/// A repository with what Git histories have: a root commit with Markdown, text and a binary
/// file, a feature branch merged with `--no-ff`, an exact rename, a file with a Latin-1 name
/// and a commit message in Latin-1, an annotated and a lightweight tag.
fn populate(repo: &mut Repo) {
    repo.write(b"README.md", b"# Widgets\n\nThe widget service.\n");
    repo.write(b"docs/guide.md", b"# Guide\n\nStep one.\nStep two.\n");
    repo.write(b"notes.txt", b"first\nsecond\n");
    repo.write(b"logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01");
    repo.commit_all(
        "Ada Lovelace <ada@example.com>",
        b"Initial import for PROJ-1\n\nThe skeleton.\n",
    );
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write(
        b"docs/guide.md",
        b"# Guide\n\nStep one.\nStep 2, clearer.\nStep three.\n",
    );
    repo.commit_all(
        "Grace Hopper <grace@example.com>",
        b"Clarify the guide (PROJ-2, ABC-17)\n",
    );
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write(
        b"src/main.rs",
        b"fn main() {\n    println!(\"widgets\");\n}\n",
    );
    repo.commit_all(
        "Ada Lovelace <ada@example.com>",
        b"Add the service binary\n",
    );
    repo.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge branch 'feature'",
        "feature",
    ]);
    repo.git(&["mv", "docs/guide.md", "docs/manual.md"]);
    repo.commit_all(
        "Grace Hopper <grace@example.com>",
        b"Rename the guide to manual\n",
    );
    repo.write(b"caf\xe9.txt", b"un caf\xe9\n");
    repo.git(&["rm", "--quiet", "notes.txt"]);
    repo.commit_all(
        "Jos\u{e9} Garc\u{ed}a <jose@example.com>",
        b"R\xe9sum\xe9 du caf\xe9, PROJ-3\n",
    );
    repo.git(&["tag", "-a", "v1.0", "-m", "Release 1.0"]);
    repo.git(&["tag", "light", "HEAD~1"]);
    repo.push();
}

/// Every commit the server has on its branches, as the host must show it: from `git cat-file`
/// and `git diff-tree -M100% --numstat` (`-M100%`: exact renames, as the connector pairs them).
fn expected_commits(repo: &Repo) -> BTreeMap<String, Value> {
    let ids = String::from_utf8(repo.bare_git(&["rev-list", "--branches"])).expect("ids");
    ids.lines()
        .map(|id| {
            let raw = repo.bare_git(&["cat-file", "commit", id]);
            let split = raw.windows(2).position(|w| w == b"\n\n").expect("header");
            let (head, message) = (&raw[..split], &raw[split + 2..]);
            let head = String::from_utf8_lossy(head).into_owned();
            let field = |name: &str| {
                head.lines()
                    .filter_map(|l| l.strip_prefix(name).map(str::to_owned))
                    .collect::<Vec<_>>()
            };
            let sig = |line: &str| {
                let (name, rest) = line.split_once(" <").expect("signature");
                let (email, when) = rest.split_once("> ").expect("signature");
                let (secs, tz) = when.split_once(' ').expect("time");
                let sign = if tz.starts_with('-') { -1 } else { 1 };
                let minutes = sign * (tz[1..3].parse::<i64>().expect("as git writes it") * 60 + tz[3..5].parse::<i64>().expect("as git writes it"));
                json!({"name": name, "email": email, "time": secs.parse::<i64>().expect("as git writes it") * 1000,
                       "offset_minutes": minutes})
            };
            let author = sig(&field("author ")[0]);
            let committer = sig(&field("committer ")[0]);
            let parents = field("parent ");
            let changes = if parents.len() > 1 {
                json!([])
            } else {
                let numstat = repo.bare_git(&["diff-tree", "-r", "-M100%", "--numstat", "-z", "--no-commit-id", "--root", id]);
                let status = repo.bare_git(&["diff-tree", "-r", "-M100%", "--name-status", "-z", "--no-commit-id", "--root", id]);
                json!(numstat_changes(&numstat, &status))
            };
            let message = String::from_utf8_lossy(message).into_owned();
            let title = message.lines().next().unwrap_or_default().trim().to_owned();
            (
                id.to_owned(),
                json!({
                    "title": title, "content_type": "text/plain", "body": message,
                    "author": author["email"], "created_at": agentic_tests::rfc3339(author["time"].as_i64().expect("as git writes it")),
                    "updated_at": agentic_tests::rfc3339(committer["time"].as_i64().expect("as git writes it")),
                    "attributes": {"id": id, "parents": parents, "author": author, "committer": committer, "changes": changes},
                }),
            )
        })
        .collect()
}

/// `git diff-tree --numstat -z` and `--name-status -z` output as the connector's changes.
fn numstat_changes(numstat: &[u8], status: &[u8]) -> Vec<Value> {
    let mut statuses = Vec::new();
    let mut fields = status.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(code) = fields.next() {
        let name = match code[0] {
            b'A' => "added",
            b'D' => "deleted",
            b'R' => {
                fields.next();
                "renamed"
            }
            _ => "modified",
        };
        fields.next();
        statuses.push(name);
    }
    let mut out = Vec::new();
    let mut fields = numstat.split(|b| *b == 0);
    let mut n = 0;
    while let Some(first) = fields.next() {
        if first.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(first).into_owned();
        let mut parts = text.splitn(3, '\t');
        let count = |s: &str| {
            if s == "-" {
                Value::Null
            } else {
                json!(s.parse::<u64>().expect("as git writes it"))
            }
        };
        let (added, removed) = (
            count(parts.next().expect("as git writes it")),
            count(parts.next().expect("as git writes it")),
        );
        let path = parts.next().unwrap_or_default();
        let mut change = json!({"added": added, "removed": removed, "status": statuses[n]});
        if path.is_empty() {
            let old =
                String::from_utf8_lossy(fields.next().expect("as git writes it")).into_owned();
            let new =
                String::from_utf8_lossy(fields.next().expect("as git writes it")).into_owned();
            change["old_path"] = json!(old);
            change["path"] = json!(new);
        } else {
            change["path"] = json!(path);
        }
        out.push(change);
        n += 1;
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    out
}

/// Text files at each branch head, from `git ls-tree` and `git cat-file`.
fn expected_files(repo: &Repo) -> BTreeMap<String, Value> {
    let heads = String::from_utf8(repo.bare_git(&[
        "for-each-ref",
        "--format=%(refname:short) %(objectname)",
        "refs/heads",
    ]))
    .expect("as git writes it");
    let mut out = BTreeMap::new();
    for line in heads.lines() {
        let (branch, commit) = line.split_once(' ').expect("as git writes it");
        let tree = repo.bare_git(&["ls-tree", "-r", "-z", commit]);
        for entry in tree.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let tab = entry
                .iter()
                .position(|b| *b == b'\t')
                .expect("as git writes it");
            let meta = String::from_utf8_lossy(&entry[..tab]).into_owned();
            let path = String::from_utf8_lossy(&entry[tab + 1..]).into_owned();
            let blob = meta.split(' ').nth(2).expect("as git writes it").to_owned();
            if ![".md", ".markdown", ".txt", ".rst", ".adoc"]
                .iter()
                .any(|e| path.ends_with(e))
            {
                continue;
            }
            let content = repo.bare_git(&["cat-file", "blob", &blob]);
            let content_type = if path.ends_with(".md") {
                "text/markdown"
            } else {
                "text/plain"
            };
            out.insert(
                format!("{branch}:{path}"),
                json!({"title": path.rsplit('/').next().expect("as git writes it"), "content_type": content_type,
                       "body": String::from_utf8_lossy(&content),
                       "attributes": {"branch": branch, "path": path, "blob": blob, "commit": commit, "size": content.len()}}),
            );
        }
    }
    out
}

/// Branches, tags and `HEAD` from `git for-each-ref` and `git symbolic-ref`.
fn expected_refs(repo: &Repo) -> BTreeMap<String, Value> {
    let refs = String::from_utf8(repo.bare_git(&[
        "for-each-ref",
        "--format=%(refname) %(objectname) %(*objectname)",
    ]))
    .expect("as git writes it");
    let mut out: BTreeMap<String, Value> = refs
        .lines()
        .map(|l| {
            let mut p = l.split(' ');
            let (name, target, peeled) = (p.next().expect("as git writes it"), p.next().expect("as git writes it"), p.next().unwrap_or(""));
            let kind = if name.starts_with("refs/tags/") { "tag" } else { "branch" };
            let peeled = if peeled.is_empty() { Value::Null } else { json!(peeled) };
            (name.to_owned(), json!({"name": name, "kind": kind, "target": target, "peeled": peeled, "symref": null}))
        })
        .collect();
    let head = String::from_utf8(repo.bare_git(&["symbolic-ref", "HEAD"]))
        .expect("as git writes it")
        .trim()
        .to_owned();
    let target = out[&head]["target"].clone();
    out.insert(
        "HEAD".into(),
        json!({"name": "HEAD", "kind": "head", "target": target, "peeled": null, "symref": head}),
    );
    out
}

/// What the host shows equals what the served repository has, stream by stream.
async fn assert_mirrors(app: &TestApp, token: &str, project: i64, repo: &Repo) {
    let want = expected_commits(repo);
    let got = synced_documents(app, token, project, "commits", false).await;
    let live: BTreeMap<&str, &Value> = got
        .iter()
        .filter(|(_, d)| d["attributes"]["unreachable"].is_null())
        .map(|(id, d)| (id.as_str(), d))
        .collect();
    assert_eq!(
        live.keys().copied().collect::<Vec<_>>(),
        want.keys().map(String::as_str).collect::<Vec<_>>(),
        "the commits"
    );
    for (id, fields) in &want {
        assert_has(live[id.as_str()], fields, &format!("commit {id}"));
    }
    let want = expected_files(repo);
    let got = synced_documents(app, token, project, "files", false).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the files"
    );
    for (id, fields) in &want {
        assert_has(&got[id], fields, &format!("file {id}"));
    }
    let want = expected_refs(repo);
    let got: BTreeMap<String, Value> = app
        .all(token, &format!("/api/v1/projects/{project}/raw-records"))
        .await
        .into_iter()
        .filter(|r| r["stream"] == "refs")
        .map(|r| {
            (
                r["external_id"]
                    .as_str()
                    .expect("as git writes it")
                    .to_owned(),
                r,
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the refs"
    );
    for (id, fields) in &want {
        assert_has(&got[id]["data"], fields, &format!("ref {id}"));
    }
    let emails: BTreeSet<String> =
        String::from_utf8(repo.bare_git(&["log", "--branches", "--format=%ae%n%ce"]))
            .expect("as git writes it")
            .lines()
            .map(str::to_owned)
            .collect();
    let people = by_id(app, token, &format!("/api/v1/projects/{project}/people")).await;
    let people: BTreeSet<String> = people.keys().cloned().collect();
    // People stay when a force-push drops their only commits.
    assert!(
        people.is_superset(&emails),
        "the people: {people:?} ⊉ {emails:?}"
    );
}

/// Trace links the messages name, by the default `PROJ-123` pattern.
async fn links(app: &TestApp, token: &str, project: i64) -> BTreeSet<(String, String)> {
    by_id(
        app,
        token,
        &format!("/api/v1/projects/{project}/trace-links"),
    )
    .await
    .into_values()
    .map(|l| {
        (
            l["source"].as_str().expect("as git writes it").to_owned(),
            l["target"].as_str().expect("as git writes it").to_owned(),
        )
    })
    .collect()
}

fn commit_with(repo: &Repo, grep: &str) -> String {
    String::from_utf8(repo.bare_git(&[
        "log",
        "--branches",
        "--format=%H",
        "--fixed-strings",
        "--grep",
        grep,
    ]))
    .expect("as git writes it")
    .trim()
    .to_owned()
}

/// The first error of sync job `id` (the job is retried later; its first attempt is enough).
async fn first_error(app: &TestApp, token: &str, project: i64, cid: i64, stream: &str) -> String {
    let started = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            json!({"stream": stream}),
        )
        .await;
    started.expect(202);
    let id = started.json["job"]["id"]
        .as_i64()
        .expect("as git writes it");
    for _ in 0..1500 {
        let job = app.get(&format!("/api/v1/jobs/{id}"), token).await;
        if let Some(e) = job.json["last_error"].as_str() {
            return e.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} did not fail");
}

stories! {
    async fn a_git_repository_syncs_through_the_host_over_protocol_v2(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_git(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let server = GitServer::start().await;
        let mut repo = server.repo("widgets");
        populate(&mut repo);

        // Two commits a page, so the history takes several pages, all cut from one fetch: the
        // instance keeps the run's pack between the pages of the stream.
        let (cid, check) = connect(&app, &admin.token, project, &repo.url,
            json!({"commits_per_page": 2}), json!({"kind": "anonymous"})).await;
        assert_eq!(check["message"], "connected to a Git repository (protocol v2): 2 branches, 2 tags", "{check}");
        server.take_log();
        let jobs = sync(&app, &admin.token, project, cid, json!({"stream": "commits"})).await;
        let r = results(&jobs);
        assert_eq!(r["commits"]["records"], 6, "{r:?}");
        assert!(r["commits"]["pages"].as_u64().expect("as git writes it") >= 3, "{r:?}");
        let log = server.take_log();
        assert_eq!(log.iter().filter(|e| e.objects.is_some()).count(), 1, "{log:?}");
        let jobs = sync(&app, &admin.token, project, cid, json!({})).await;
        let r = results(&jobs);
        assert_eq!(r["commits"]["records"], 0, "{r:?}");
        assert_mirrors(&app, &pm.token, project, &repo).await;
        let people = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/people")).await;
        assert_eq!(people.keys().map(String::as_str).collect::<Vec<_>>(),
                   ["ada@example.com", "bot@example.com", "grace@example.com", "jose@example.com"]);
        assert_eq!(people["jose@example.com"]["display_name"], "Jos\u{e9} Garc\u{ed}a");
        let want: BTreeSet<(String, String)> = [
            ("Initial import", "PROJ-1"), ("Clarify the guide", "PROJ-2"), ("Clarify the guide", "ABC-17"), ("du caf", "PROJ-3"),
        ].iter().map(|(g, k)| (commit_with(&repo, g), (*k).to_owned())).collect();
        assert_eq!(links(&app, &pm.token, project).await, want);

        // Two new commits: an incremental sync fetches with `have` lines and returns only them.
        server.take_log();
        repo.write(b"docs/manual.md", b"# Manual\n\nStep one.\nStep 2, clearer.\nStep three.\nStep four.\n");
        repo.commit_all("Ada Lovelace <ada@example.com>", b"Step four, PROJ-4\n");
        repo.write(b"CHANGELOG.md", b"# Changes\n");
        repo.commit_all("Linus <linus@example.com>", b"Changelog\n");
        repo.push();
        let jobs = sync(&app, &admin.token, project, cid, json!({"stream": "commits"})).await;
        assert_eq!(results(&jobs)["commits"]["records"], 2);
        // The fetch said what the connector had (the old tips of main and feature), and the
        // pack brought exactly the objects the new commits added, as `git rev-list` counts them.
        let log = server.take_log();
        let fetch = log.iter().find(|e| e.haves > 0).expect("a fetch with have lines");
        assert_eq!(fetch.haves, 2, "{log:?}");
        let new_objects = String::from_utf8(repo.bare_git(&["rev-list", "--objects", "main~2..main"]))
            .expect("as git writes it")
            .lines()
            .count();
        assert_eq!(fetch.objects, Some(new_objects as u32), "{log:?}");
        // The first new commit's parent tree came in one snapshot of that parent and commit.
        assert_eq!(log.iter().filter(|e| e.deepen).count(), 1, "{log:?}");
        let jobs = sync(&app, &admin.token, project, cid, json!({})).await;
        let r = results(&jobs);
        assert_eq!((r["people"]["records"].clone(), r["trace-links"]["records"].clone()), (json!(3), json!(1)), "{r:?}");
        assert_mirrors(&app, &pm.token, project, &repo).await;

        // A force-push drops the last two commits: they come back as unreachable, the new one
        // as a commit, and the files follow the new head.
        let dropped: BTreeSet<String> = String::from_utf8(repo.git(&["rev-list", "HEAD~2..HEAD"])).expect("as git writes it").lines().map(str::to_owned).collect();
        repo.git(&["reset", "--quiet", "--hard", "HEAD~2"]);
        repo.write(b"docs/manual.md", b"# Manual\n\nRewritten.\n");
        repo.commit_all("Ada Lovelace <ada@example.com>", b"Rewrite the manual\n");
        repo.push();
        let jobs = sync(&app, &admin.token, project, cid, json!({})).await;
        assert_eq!(results(&jobs)["commits"]["records"], 3, "{:?}", results(&jobs));
        assert_mirrors(&app, &pm.token, project, &repo).await;
        let unreachable: BTreeSet<String> = synced_documents(&app, &pm.token, project, "commits", false).await
            .into_iter()
            .filter(|(_, d)| d["attributes"]["unreachable"] == true)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(unreachable, dropped);

        // The repository's public: nothing secret anywhere, and no path of the host's leaked.
        assert!(stored_text(&app).await.iter().all(|t| !t.contains("Authorization")));
    }

    async fn protocol_v0_servers_and_credentials_work_too(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_git(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let server = GitServer::start().await;
        server.set_v2(false);
        server.set_auth(Auth::Basic("reader".into(), "glpat-s3cret-token".into()));
        let mut repo = server.repo("legacy");
        populate(&mut repo);

        let (cid, check) = connect(&app, &admin.token, project, &repo.url, json!({}),
            json!({"kind": "basic", "username": "reader", "password": "glpat-s3cret-token"})).await;
        assert_eq!(check["message"], "connected to a Git repository (protocol v0): 2 branches, 2 tags", "{check}");
        sync(&app, &admin.token, project, cid, json!({})).await;
        assert_mirrors(&app, &pm.token, project, &repo).await;
        repo.write(b"more.txt", b"more\n");
        repo.commit_all("Ada Lovelace <ada@example.com>", b"More, PROJ-9\n");
        repo.push();
        let jobs = sync(&app, &admin.token, project, cid, json!({})).await;
        assert_eq!(results(&jobs)["commits"]["records"], 1);
        assert_mirrors(&app, &pm.token, project, &repo).await;
        assert!(stored_text(&app).await.iter().all(|t| !t.contains("glpat-s3cret-token")));

        // A bearer token: the host sends it, the server takes it.
        server.set_auth(Auth::Bearer("ghp_bearer-token-1".into()));
        server.set_v2(true);
        let (_, check) = connect(&app, &admin.token, project, &repo.url, json!({}),
            json!({"kind": "bearer", "token": "ghp_bearer-token-1"})).await;
        assert_eq!(check["message"], "connected to a Git repository (protocol v2): 2 branches, 2 tags", "{check}");
        // A wrong one is an authentication error.
        let (_, check) = connect(&app, &admin.token, project, &repo.url, json!({}),
            json!({"kind": "bearer", "token": "wrong-token"})).await;
        assert!(check.to_string().contains("auth"), "{check}");
    }

    async fn an_empty_repository_and_bad_answers_are_clear(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_git(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let server = GitServer::start().await;

        let empty = server.repo("empty");
        let (cid, check) = connect(&app, &admin.token, project, &empty.url, json!({}), json!({"kind": "anonymous"})).await;
        assert_eq!(check["message"], "connected to a Git repository (protocol v2): 0 branches, 0 tags", "{check}");
        let jobs = sync(&app, &admin.token, project, cid, json!({})).await;
        assert!(results(&jobs).values().all(|r| r["records"] == 0), "{jobs:?}");

        let mut repo = server.repo("widgets");
        populate(&mut repo);

        server.set_tamper(Tamper::HtmlLogin);
        let (_, check) = connect(&app, &admin.token, project, &repo.url, json!({}), json!({"kind": "anonymous"})).await;
        assert!(check.to_string().contains("not a Git smart-HTTP repository: it answered an HTML page"), "{check}");

        for (tamper, says) in [
            (Tamper::MalformedPktLine, "malformed pkt-line"),
            (Tamper::TruncatedPack, "cut short"),
            (Tamper::CorruptPack, "corrupt pack"),
        ] {
            // A connection each: a failed job is retried later, and one stream syncs at a time.
            server.set_tamper(Tamper::None);
            let (cid, _) = connect(&app, &admin.token, project, &repo.url, json!({}), json!({"kind": "anonymous"})).await;
            server.set_tamper(tamper);
            let error = first_error(&app, &admin.token, project, cid, "commits").await;
            assert!(error.contains(says), "{tamper:?}: {error}");
        }
        server.set_tamper(Tamper::None);
        // A tiny object limit refuses the repository's objects by their headers.
        let (small, _) = connect(&app, &admin.token, project, &repo.url, json!({"max_object_bytes": 1024}), json!({"kind": "anonymous"})).await;
        repo.write(b"big.txt", &vec![b'x'; 4096]);
        repo.commit_all("Ada Lovelace <ada@example.com>", b"Big\n");
        repo.push();
        let error = first_error(&app, &admin.token, project, small, "commits").await;
        assert!(error.contains("max_object_bytes"), "{error}");
    }
}
