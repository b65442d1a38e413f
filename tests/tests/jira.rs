//! The JIRA connector end to end through the host: the real component (built from
//! `plugins/jira`), installed signed like any third-party plugin, syncs a fake Jira Cloud
//! (`agentic_tests::jira`, which validates every request against Atlassian's OpenAPI document)
//! with the e-mail and API token the host injects as HTTP Basic, into SQLite and PostgreSQL:
//! every stream is read by real workers, and what the read APIs show is what JIRA served — the
//! fields mapped, rich text as Markdown. Changes in JIRA reach the host by incremental syncs,
//! deletions by full refreshes; a 429 with `Retry-After` postpones the job to then. A Data
//! Center server (REST v2, wiki markup, a personal access token) syncs the same way. The fake's
//! own check against Atlassian's document is `jira_fake`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agentic_host::clock::Millis;
use agentic_host::rbac::Role;
use agentic_tests::jira::{
    basic, comment_text, connect, descriptions, generate, project_with_jira, Comment, Data,
    Deployment, FakeJira, History, API_TOKEN, EMAIL, LINK_TYPES, PRIORITIES, STATUSES, TYPES,
};
use agentic_tests::syncs::{assert_has, by_id, results, stored_text, sync};
use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

const PAT: &str = "NjM4MDk0OTQ1MjQ3-dc-pat-93be7a";

/// What the host must show for what the fake serves: work items, comments, trace links and
/// people by external id, built from the fake's data (the Markdown is the one the connector's
/// documented dialect gives, written by hand beside each rich text in the fake).
fn expected(data: &Data, base_url: &str) -> [BTreeMap<String, Value>; 4] {
    let person = |u: usize| json!(data.users[u].person_id(data.deployment));
    let mut items = BTreeMap::new();
    let mut comments = BTreeMap::new();
    let mut links = BTreeMap::new();
    for issue in &data.issues {
        let id = issue.id.to_string();
        let parent = issue.parent.and_then(|p| data.issue(p));
        items.insert(
            id.clone(),
            json!({
                "key": issue.key,
                "title": issue.summary,
                "description": issue.description.as_ref().map_or("", |d| d.markdown.as_str()),
                "status": STATUSES[issue.status].0,
                "item_type": TYPES[issue.issue_type],
                "priority": issue.priority.map(|p| PRIORITIES[p]),
                "assignee": issue.assignee.map(person),
                "reporter": person(issue.reporter),
                "labels": issue.labels,
                "parent": parent.map(|p| p.id.to_string()),
                "url": format!("{base_url}/browse/{}", issue.key),
                "created_at": agentic_tests::rfc3339(issue.created),
                "updated_at": agentic_tests::rfc3339(issue.updated),
                "attributes": {
                    "project": {"key": agentic_tests::jira::PROJECTS[issue.project]},
                    "status_category": STATUSES[issue.status].1,
                    "parent_key": parent.map(|p| p.key.clone()),
                    "description_format": if data.deployment == Deployment::Cloud { "adf" } else { "wiki" },
                },
            }),
        );
        for c in &issue.comments {
            comments.insert(
                c.id.to_string(),
                json!({
                    "parent_external_id": id, "author": person(c.author), "body": c.body.markdown,
                    "created_at": agentic_tests::rfc3339(c.created), "updated_at": agentic_tests::rfc3339(c.updated),
                }),
            );
        }
        for l in &issue.links {
            links.insert(
                l.id.to_string(),
                json!({"source": id, "target": l.target.to_string(), "link_type": LINK_TYPES[l.kind].0}),
            );
        }
    }
    let people = data
        .users
        .iter()
        .map(|user| {
            (
                user.person_id(data.deployment).to_owned(),
                json!({"display_name": user.display_name, "email": user.email, "active": user.active}),
            )
        })
        .collect();
    [items, comments, links, people]
}

/// The read APIs show exactly what the fake serves (deleted records left out).
async fn assert_mirrors(app: &TestApp, token: &str, project: i64, fake: &FakeJira) {
    let wanted = fake.with(|d| expected(d, &fake.url));
    for (model, want) in ["work-items", "comments", "trace-links", "people"]
        .into_iter()
        .zip(wanted)
    {
        let got = by_id(app, token, &format!("/api/v1/projects/{project}/{model}")).await;
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{model}: the external ids"
        );
        for (id, fields) in &want {
            assert_has(&got[id], fields, &format!("{model} {id}"));
            assert_eq!(got[id]["deleted"], false);
        }
    }
}

/// Records of a raw stream (`projects`, `changelog`).
async fn raw(app: &TestApp, token: &str, project: i64, stream: &str) -> Vec<Value> {
    app.all(token, &format!("/api/v1/projects/{project}/raw-records"))
        .await
        .into_iter()
        .filter(|r| r["stream"] == stream)
        .collect()
}

/// Issues, comments, links and histories the fake serves.
fn totals(fake: &FakeJira) -> [u64; 4] {
    fake.with(|d| {
        let sum = |f: fn(&agentic_tests::jira::Issue) -> usize| {
            d.issues.iter().map(|i| f(i) as u64).sum()
        };
        [
            d.issues.len() as u64,
            sum(|i| i.comments.len()),
            sum(|i| i.links.len()),
            sum(|i| i.histories.len()),
        ]
    })
}

fn counts(records: u64, deleted: u64) -> impl Fn(&Value) -> bool {
    move |r| r["records"] == records && r["deleted"] == deleted
}

stories! {
    async fn jira_cloud_syncs_into_the_models_through_the_host(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_jira(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let authorization = basic(EMAIL, API_TOKEN);
        let fake = FakeJira::start(generate(Deployment::Cloud, 12, &authorization)).await;
        let (cid, check) = connect(&app, &admin.token, project, &fake, "cloud",
            json!({"kind": "api-token", "email": EMAIL, "token": API_TOKEN})).await;
        assert_eq!(check.json, json!({"ok": true, "message": format!("connected to {} as User 0 <user0@example.com>", fake.url)}));

        // A full sync of every stream the connector discovers.
        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let [issues, comments, links, histories] = totals(&fake);
        let r = results(&jobs);
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), ["changelog", "comments", "issue-links", "issues", "projects", "users"]);
        for (stream, records) in [("issues", issues), ("comments", comments), ("issue-links", links),
                                  ("changelog", histories), ("users", 5), ("projects", 2)] {
            assert!(counts(records, 0)(&r[stream]), "{stream}: {}", r[stream]);
        }
        assert_eq!(r["issues"]["pages"], 3, "12 issues, 5 a page: the search paged by token");
        assert_mirrors(&app, &pm.token, project, &fake).await;
        let items = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items")).await;
        // Spot checks of the mapping, independent of the expectations' builder.
        assert_eq!(items["10000"]["description"], "## Steps\n\nOpen the **checkout** page\n\n- click Pay\n- see the error");
        assert_eq!(items["10004"]["parent"], "10003");
        assert_eq!(items["10004"]["item_type"], "Sub-task");
        assert_eq!(items["10005"]["labels"], json!(["ui", "customer"]));
        let mut keys: Vec<String> = raw(&app, &pm.token, project, "projects").await.iter()
            .map(|p| p["data"]["key"].as_str().expect("key").to_owned()).collect();
        keys.sort();
        assert_eq!(keys, ["ED", "PR"]);
        let changes = raw(&app, &pm.token, project, "changelog").await;
        assert!(changes.iter().all(|c| c["data"]["items"][0]["field"] == "status"), "{changes:?}");

        // Every request fit Atlassian's document and carried the credential the host added;
        // comments beyond what a search embeds came from the comment endpoint.
        assert_eq!(fake.violations(), Vec::<String>::new());
        let seen = fake.seen();
        assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(authorization.as_str())),
            "{:?}", seen.iter().map(|s| &s.authorization).collect::<Vec<_>>());
        assert!(seen.iter().any(|s| s.path == "/rest/api/3/issue/10004/comment" && s.query("startAt") == Some("2")));
        assert!(seen.iter().all(|s| s.path != "/rest/api/3/search"), "the search Cloud removed");

        // JIRA changes: PR-3 (issue 5) is edited and moved to Done, ED-2 (issue 2) gets a
        // comment, PR-4 (issue 7) is deleted with its links and comments.
        let last = fake.with(|d| d.issues.iter().map(|i| i.updated).max().expect("issues"));
        let (edited_at, commented_at) = (last + 10 * 60_000, last + 11 * 60_000);
        let new_comment = fake.with(|d| {
            let texts = descriptions();
            let issue = d.issue_mut("PR-3");
            let from = issue.status;
            issue.summary = "Checkout fails for saved cards".into();
            issue.status = 2;
            issue.priority = Some(0);
            issue.assignee = Some(3);
            issue.labels = vec!["payments".into()];
            issue.description = Some(texts[1].clone());
            issue.updated = edited_at;
            issue.histories.push(History { id: 90_001, author: 1, created: edited_at, from, to: 2 });
            let issue = d.issue_mut("ED-2");
            issue.comments.push(Comment { id: 90_002, author: 2, body: comment_text(90_002), created: commented_at, updated: commented_at });
            issue.updated = commented_at;
            d.issues.retain(|i| i.key != "PR-4");
            90_002
        });

        // An incremental sync reads only what changed, from the window before the last change.
        let before = fake.seen().len();
        let jobs = sync(&app, &pm.token, project, cid, json!({})).await;
        let r = results(&jobs);
        for (stream, records) in [("issues", 2), ("comments", 1), ("issue-links", 0), ("changelog", 1), ("users", 5), ("projects", 2)] {
            assert!(counts(records, 0)(&r[stream]), "{stream}: {}", r[stream]);
        }
        let searches: Vec<String> = fake.seen()[before..].iter()
            .filter(|s| s.path == "/rest/api/3/search/jql")
            .map(|s| s.jql().expect("jql").to_owned()).collect();
        assert!(!searches.is_empty() && searches.iter().all(|q| q.starts_with("updated >= \"2023-11-15 01:")),
            "incremental searches start near the last change (UTC+2): {searches:?}");
        let items = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items")).await;
        let edited = &items["10005"];
        assert_eq!((edited["title"].as_str(), edited["status"].as_str(), edited["priority"].as_str()),
            (Some("Checkout fails for saved cards"), Some("Done"), Some("High")));
        assert_eq!(edited["description"], descriptions()[1].markdown);
        assert_eq!(edited["attributes"]["status_category"], "done");
        assert_eq!(edited["updated_at"], agentic_tests::rfc3339(edited_at));
        let comments = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/comments")).await;
        assert_eq!(comments[&new_comment.to_string()]["body"], format!("Comment {new_comment}: **done**"));
        assert_eq!(comments[&new_comment.to_string()]["parent_external_id"], "10002");
        assert_eq!(items["10007"]["deleted"], false, "an incremental sync cannot see a deletion");

        // A full refresh finds the deletion: the issue, its comment, its link, its history.
        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let r = results(&jobs);
        let [issues, comments, links, histories] = totals(&fake);
        for (stream, records, deleted) in [("issues", issues, 1), ("comments", comments, 1),
                                           ("issue-links", links, 1), ("changelog", histories, 2)] {
            assert!(counts(records, deleted)(&r[stream]), "{stream}: {}", r[stream]);
        }
        assert_mirrors(&app, &pm.token, project, &fake).await;
        let with_deleted = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items?include_deleted=true")).await;
        assert_eq!(with_deleted["10007"]["deleted"], true);
        assert_eq!(with_deleted["10007"]["key"], "PR-4");

        // A rate limit: the job waits for Retry-After, without spending an attempt, then runs.
        fake.fail_next(429, &[("retry-after", "120")]);
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token,
            json!({"stream": "issues"})).await;
        started.expect(202);
        let id = started.json["job"]["id"].as_i64().expect("id");
        let mut job = Value::Null;
        for _ in 0..1500 {
            job = app.get(&format!("/api/v1/jobs/{id}"), &pm.token).await.json;
            if job["last_error"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(job["state"], "queued", "{job}");
        assert_eq!(job["attempts"], 0, "a rate limit is not a failed attempt: {job}");
        let run_at = time::OffsetDateTime::parse(job["run_at"].as_str().expect("run_at"),
            &time::format_description::well_known::Rfc3339).expect("rfc 3339");
        let due = app.state.clock.now_ms() + Duration::from_secs(120);
        assert_eq!(Millis::from_datetime(run_at), due, "{job}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.get(&format!("/api/v1/jobs/{id}"), &pm.token).await.json["state"], "queued", "not before Retry-After");
        app.advance(Duration::from_secs(121));
        let job = app.finished_job(&pm.token, id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"]["records"], 0, "nothing changed meanwhile: {job}");
        assert_eq!(job["attempts"], 1, "{job}");

        // The plugin never saw the secret: it is in no record, state, job or connection row,
        // and no read API shows it (the host added it to requests on their way out).
        let header = authorization.trim_start_matches("Basic ");
        for text in stored_text(&app).await {
            assert!(!text.contains(API_TOKEN) && !text.contains(header), "stored: {text}");
        }
        for model in ["work-items", "comments", "trace-links", "people", "raw-records"] {
            let r = app.get(&format!("/api/v1/projects/{project}/{model}?limit=200&include_deleted=true"), &pm.token).await;
            assert!(!r.text.contains(API_TOKEN) && !r.text.contains(header), "{model}");
        }
        assert_eq!(fake.violations(), Vec::<String>::new());
    }

    async fn jira_data_center_syncs_with_a_personal_access_token(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_jira(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let authorization = format!("Bearer {PAT}");
        let fake = FakeJira::start(generate(Deployment::DataCenter, 12, &authorization)).await;
        let (cid, check) = connect(&app, &admin.token, project, &fake, "data-center",
            json!({"kind": "bearer", "token": PAT})).await;
        assert_eq!(check.json["ok"], true, "{}", check.json);

        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let r = results(&jobs);
        assert!(counts(12, 0)(&r["issues"]), "{}", r["issues"]);
        assert_eq!(r["issues"]["pages"], 3, "12 issues, 5 a page: startAt and total");
        assert_mirrors(&app, &pm.token, project, &fake).await;
        let people = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/people")).await;
        assert!(people.contains_key("JIRAUSER10100"), "Data Center users by key: {:?}", people.keys());

        // An edit reaches the host by an incremental sync of the issues.
        let last = fake.with(|d| d.issues.iter().map(|i| i.updated).max().expect("issues"));
        fake.with(|d| {
            let issue = d.issue_mut("ED-1");
            issue.summary = "Renamed on the server".into();
            issue.updated = last + 30 * 60_000;
        });
        let jobs = sync(&app, &pm.token, project, cid, json!({"stream": "issues"})).await;
        assert!(counts(1, 0)(&jobs["issues"]["result"]), "{}", jobs["issues"]);
        assert_mirrors(&app, &pm.token, project, &fake).await;

        assert_eq!(fake.violations(), Vec::<String>::new());
        let seen = fake.seen();
        assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(authorization.as_str())));
        assert!(seen.iter().all(|s| s.path.starts_with("/rest/api/2/")));
        for text in stored_text(&app).await {
            assert!(!text.contains(PAT), "stored: {text}");
        }
    }
}
