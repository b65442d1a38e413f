//! The Git connector's `source = "gitlab"` end to end through the host: the real component,
//! installed signed, reads a fake GitLab — the connector's own test fake, included by path
//! ([`fake`], [`documented`], [`sample`]), which checks every request against GitLab's API
//! documentation and serves under a self-managed path prefix — with a bearer token the host
//! injects (the fake refuses any other). Every stream syncs into SQLite and PostgreSQL and is
//! compared field by field with what the fake holds (merge requests with their approvers,
//! people with the notes' authors); an edit, a new note and an approval arrive by an
//! incremental sync; the actions note an issue and open one; the token is nowhere else.

#[path = "../../../plugins/git/tests/gitlab/documented.rs"]
#[allow(dead_code)]
mod documented;
#[path = "../../../plugins/git/tests/gitlab/fake.rs"]
#[allow(dead_code)]
mod fake;
#[path = "../../../plugins/git/tests/gitlab/sample.rs"]
#[allow(dead_code)]
mod sample;

use std::collections::BTreeMap;
use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_sdk::time::parse_rfc3339;
use agentic_tests::syncs::{assert_has, by_id, results, stored_text, sync};
use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

use crate::git::project_with_git;
use crate::logs::Logs;
use fake::{Data, FakeGitlab, PROJECT};
// `fake` builds its objects with these (`super::issue`, …).
use sample::{issue, note, user, TOKEN};

fn time(v: &Value) -> Value {
    match v.as_str().and_then(parse_rfc3339) {
        Some(ms) => json!(agentic_tests::rfc3339(ms)),
        None => Value::Null,
    }
}

fn usernames(users: &Value) -> Vec<String> {
    users
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect()
}

/// What the host must show for what the fake holds, read from GitLab's objects as the
/// connector's README maps them.
fn expected(d: &Data) -> [BTreeMap<String, Value>; 4] {
    let (mut items, mut comments, mut people, mut links) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    for (list, item_type, link_type) in [
        (&d.issues, "issue", "mentioned-by-issue"),
        (
            &d.merge_requests,
            "merge-request",
            "mentioned-by-merge-request",
        ),
    ] {
        for i in list {
            let key = i["references"]["full"]
                .as_str()
                .expect("reference")
                .to_owned();
            let assignees = usernames(&i["assignees"]);
            let status = match i["state"].as_str().expect("state") {
                "opened" => "open",
                other => other,
            };
            items.insert(key.clone(), json!({
                "key": key, "title": i["title"], "description": i["description"].as_str().unwrap_or_default(),
                "status": status, "item_type": item_type, "assignee": assignees.first(),
                "reporter": i["author"]["username"], "labels": i["labels"], "url": i["web_url"],
                "created_at": time(&i["created_at"]), "updated_at": time(&i["updated_at"]),
                "attributes": {"iid": i["iid"], "assignees": assignees, "project": PROJECT, "state": i["state"]},
            }));
            if item_type == "merge-request" {
                let approved_by: Vec<&Value> = d
                    .approvals
                    .iter()
                    .filter(|(iid, _)| *iid == i["iid"])
                    .map(|(_, u)| &u["username"])
                    .collect();
                items.get_mut(&key).expect("just inserted")["attributes"]["approved_by"] =
                    json!(approved_by);
            }
            for u in
                std::iter::once(&i["author"]).chain(i["assignees"].as_array().into_iter().flatten())
            {
                people.insert(
                    u["username"].as_str().expect("username").to_owned(),
                    json!({"display_name": u["name"]}),
                );
            }
            let text = format!(
                "{}\n{}",
                i["title"].as_str().unwrap_or_default(),
                i["description"].as_str().unwrap_or_default()
            );
            for word in text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter(|w| w.starts_with("PROJ-"))
            {
                links.insert(
                    format!("{key}:{word}"),
                    json!({"source": key, "target": word, "link_type": link_type}),
                );
            }
            let mr = item_type == "merge-request";
            for (_, n) in d
                .notes
                .iter()
                .filter(|((m, iid), n)| *m == mr && *iid == i["iid"] && n["system"] == false)
            {
                people.insert(
                    n["author"]["username"]
                        .as_str()
                        .expect("username")
                        .to_owned(),
                    json!({"display_name": n["author"]["name"]}),
                );
                comments.insert(format!("note_{}", n["id"]), json!({
                    "parent_external_id": key, "author": n["author"]["username"], "body": n["body"],
                    "created_at": time(&n["created_at"]), "updated_at": time(&n["updated_at"]),
                }));
            }
        }
    }
    [items, comments, people, links]
}

async fn assert_mirrors(app: &TestApp, token: &str, project: i64, gitlab: &FakeGitlab) {
    let wanted = gitlab.with(|d| expected(d));
    for (model, want) in ["work-items", "comments", "people", "trace-links"]
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
        }
    }
}

stories! {
    async fn gitlab_issues_merge_requests_and_notes_sync_and_actions_write_through_the_host(backend) {
        let logs = Logs::default();
        let _capture = logs.capture();
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_git(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let gitlab = FakeGitlab::start(sample::sample());

        let path = format!("/api/v1/projects/{project}/connections");
        let created = app.post(&format!("{path}?check=false"), &admin.token, json!({
            "plugin_id": "git", "name": "gitlab", "base_url": gitlab.url(),
            "config": {"source": "gitlab", "project": PROJECT, "per_page": 2},
            "allow_private_network": true, "credential": {"kind": "bearer", "token": TOKEN}})).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let check = app.post(&format!("{path}/{cid}/check"), &admin.token, json!({})).await;
        assert_eq!(check.json["message"], format!("connected to GitLab project {PROJECT} (private): 6 open issues"), "{}", check.json);

        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let r = results(&jobs);
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), ["comments", "issues", "merge-requests", "people", "trace-links"]);
        for (stream, records) in [("issues", 7), ("merge-requests", 3), ("comments", 4), ("people", 4), ("trace-links", 3)] {
            assert_eq!(r[stream]["records"], records, "{stream}: {}", r[stream]);
        }
        assert_mirrors(&app, &pm.token, project, &gitlab).await;
        let items = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items")).await;
        assert_eq!(items[&format!("{PROJECT}!1")]["status"], "merged");
        assert_eq!(items[&format!("{PROJECT}!1")]["attributes"]["approved_by"], json!(["carol", "hedy"]));
        let people = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/people")).await;
        assert_eq!(people["hedy"]["display_name"], "Hedy Lamarr", "a note's author who did nothing else");
        assert_eq!(items[&format!("{PROJECT}#1")]["title"], "Issue 1", "issue #1 and merge request !1 are two items");

        // An edit, and a new note and an approval of !2: the next incremental sync reads just
        // those.
        gitlab.with(|d| {
            let i = d.issues.iter_mut().find(|i| i["iid"] == 6).expect("issue 6");
            i["title"] = json!("Checkout fails, see PROJ-31");
            i["state"] = json!("closed");
            i["updated_at"] = json!(sample::at(30));
            sample::add_notes(d, true, 2, vec![note(40, "Looks good", "carol", &sample::at(31), false)]);
            let mr = d.merge_requests.iter_mut().find(|i| i["iid"] == 2).expect("!2");
            mr["updated_at"] = json!(sample::at(31));
            d.approvals.push((2, sample::user("ada", "Ada Lovelace")));
        });
        let jobs = sync(&app, &pm.token, project, cid, json!({})).await;
        let r = results(&jobs);
        for (stream, records) in [("issues", 1), ("merge-requests", 1), ("comments", 1), ("trace-links", 1)] {
            assert_eq!(r[stream]["records"], records, "{stream}: {}", r[stream]);
        }
        assert_mirrors(&app, &pm.token, project, &gitlab).await;
        let items = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items")).await;
        assert_eq!(items[&format!("{PROJECT}!2")]["attributes"]["approved_by"], json!(["ada"]));

        // The actions through the host: a note on a merge request, a new issue.
        let actions = format!("{path}/{cid}/actions");
        let noted = app.post(&format!("{actions}/comment"), &pm.token,
            json!({"input": {"issue": format!("{PROJECT}!2"), "body": format!("Ship it {}", sample::UNICODE)}})).await;
        noted.expect(200);
        assert_eq!(noted.json["output"]["issue"], format!("{PROJECT}!2"));
        let opened = app.post(&format!("{actions}/create-issue"), &pm.token,
            json!({"input": {"title": "Refunds PROJ-40", "body": "Steps", "labels": ["bug"], "assignees": ["carol"]}})).await;
        opened.expect(200);
        assert_eq!(opened.json["output"]["key"], format!("{PROJECT}#8"));
        let missing = app.post(&format!("{actions}/comment"), &pm.token, json!({"input": {"issue": "#99", "body": "hi"}})).await;
        missing.problem(404);
        let jobs = sync(&app, &pm.token, project, cid, json!({})).await;
        let r = results(&jobs);
        assert_eq!((r["issues"]["records"].clone(), r["comments"]["records"].clone()), (json!(1), json!(2)), "{r:?}");
        assert_mirrors(&app, &pm.token, project, &gitlab).await;

        // Every request fit GitLab's documentation, went under the path prefix with the project
        // in one segment, and carried the token the host added (the fake answers 401 otherwise);
        // the token is nowhere else.
        gitlab.assert_conforms();
        let requests = gitlab.requests();
        assert!(requests.iter().all(|q| q.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())));
        assert!(requests.iter().all(|q| q.raw_path == "/gitlab/api/v4/users"
            || q.raw_path.starts_with("/gitlab/api/v4/projects/acme%2Fplatform%2Fwidgets")));
        assert!(stored_text(&app).await.iter().all(|t| !t.contains(TOKEN)), "the token was stored in the clear");
        let everything = [check.text.clone(), noted.text.clone(), opened.text.clone(), missing.text.clone(),
            app.get(&format!("{path}/{cid}"), &admin.token).await.text, logs.text()];
        assert!(everything.iter().all(|t| !t.contains(TOKEN)), "the token reached a response or a log line");
    }
}
