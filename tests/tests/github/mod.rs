//! The Git connector's `source = "github"` end to end through the host: the real component
//! (built from `plugins/git`), installed signed, reads a fake GitHub — the very fake of the
//! connector's own tests, included by path ([`fake`], [`openapi`], [`sample`]), which checks
//! every request (and every write's body) against GitHub's published OpenAPI description — with
//! a bearer token the host injects. Every stream syncs into SQLite and PostgreSQL and what the
//! read APIs show is compared field by field with what the fake holds; an edit arrives by an
//! incremental sync, and so does a review; the actions comment and open an issue through
//! `POST …/actions/{action}`; and the token is in no record, state, job, log line or response.

#[path = "../../../plugins/git/tests/github/fake.rs"]
#[allow(dead_code)]
mod fake;
#[path = "../../../plugins/git/tests/github/openapi.rs"]
#[allow(dead_code)]
mod openapi;
#[path = "../../../plugins/git/tests/github/sample.rs"]
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
use fake::{Data, FakeGithub, REPOSITORY};
// `fake` builds its objects with these (`super::issue`, …).
use sample::{issue, issue_comment, label, review, user};

/// The token the host injects; it must appear nowhere but in the requests to GitHub.
const TOKEN: &str = "github_pat_11AAAAAAA0story0token0zz";

fn time(v: &Value) -> Value {
    match v.as_str().and_then(parse_rfc3339) {
        Some(ms) => json!(agentic_tests::rfc3339(ms)),
        None => Value::Null,
    }
}

/// The number at the end of an API URL (`…/issues/12`).
fn number_of(url: &Value) -> u64 {
    let url = url.as_str().expect("url");
    url.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn logins(users: &Value) -> Vec<String> {
    users
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["login"].as_str().expect("login").to_owned())
        .collect()
}

/// What the host must show for what the fake holds: work items, comments, people, trace links
/// and reviews (raw records' `data`) by external id, read from GitHub's objects as the
/// connector's README maps them.
fn expected(d: &Data) -> [BTreeMap<String, Value>; 5] {
    let key = |n: u64| format!("{REPOSITORY}#{n}");
    let mut items = BTreeMap::new();
    let mut people = BTreeMap::new();
    let mut links = BTreeMap::new();
    let common = |i: &Value, status: &str, item_type: &str| {
        let assignees = logins(&i["assignees"]);
        json!({
            "key": key(i["number"].as_u64().expect("number")), "title": i["title"],
            "description": i["body"].as_str().unwrap_or_default(), "status": status,
            "item_type": item_type, "assignee": assignees.first(), "reporter": i["user"]["login"],
            "labels": i["labels"].as_array().expect("labels").iter().map(|l| l["name"].clone()).collect::<Vec<_>>(),
            "url": i["html_url"], "created_at": time(&i["created_at"]), "updated_at": time(&i["updated_at"]),
            "attributes": {"number": i["number"], "assignees": assignees, "repository": REPOSITORY},
        })
    };
    for i in &d.issues {
        let number = i["number"].as_u64().expect("number");
        for login in
            std::iter::once(&i["user"]).chain(i["assignees"].as_array().into_iter().flatten())
        {
            let login = login["login"].as_str().expect("login");
            people.insert(login.to_owned(), json!({"display_name": login}));
        }
        let text = format!(
            "{}\n{}",
            i["title"].as_str().unwrap_or_default(),
            i["body"].as_str().unwrap_or_default()
        );
        let is_pull = i.get("pull_request").is_some_and(|p| !p.is_null());
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("PROJ-") {
                links.insert(format!("{}:{word}", key(number)), json!({"source": key(number), "target": word,
                    "link_type": if is_pull { "mentioned-by-pull-request" } else { "mentioned-by-issue" }}));
            }
        }
        if !is_pull {
            items.insert(
                key(number),
                common(i, i["state"].as_str().expect("state"), "issue"),
            );
        }
    }
    for p in &d.pulls {
        let status = if p["merged_at"].is_null() {
            p["state"].as_str().expect("state")
        } else {
            "merged"
        };
        let mut item = common(p, status, "pull-request");
        item["attributes"]["merged"] = json!(!p["merged_at"].is_null());
        item["attributes"]["draft"] = p["draft"].clone();
        item["attributes"]["head"] = json!({"ref": p["head"]["ref"], "sha": p["head"]["sha"]});
        items.insert(key(p["number"].as_u64().expect("number")), item);
    }
    let mut comments = BTreeMap::new();
    for (list, prefix, parent) in [
        (&d.issue_comments, "issuecomment-", "issue_url"),
        (&d.review_comments, "discussion_r", "pull_request_url"),
    ] {
        for c in list {
            let login = c["user"]["login"].as_str().expect("login");
            people.insert(login.to_owned(), json!({"display_name": login}));
            comments.insert(format!("{prefix}{}", c["id"]), json!({
                "parent_external_id": key(number_of(&c[parent])), "author": c["user"]["login"],
                "body": c["body"], "created_at": time(&c["created_at"]), "updated_at": time(&c["updated_at"]),
            }));
        }
    }
    let mut reviews = BTreeMap::new();
    // A pending review is its author's draft, not one of the pull request's.
    for r in d.reviews.iter().filter(|r| r["state"] != "PENDING") {
        let login = r["user"]["login"].as_str().expect("login");
        people.insert(login.to_owned(), json!({"display_name": login}));
        reviews.insert(format!("pullrequestreview-{}", r["id"]), json!({
            "pull_request": key(number_of(&r["pull_request_url"])), "id": r["id"], "state": r["state"],
            "author": login, "body": r["body"], "commit_id": r["commit_id"], "url": r["html_url"],
            "submitted_at": r["submitted_at"].as_str().and_then(parse_rfc3339),
            "author_association": r["author_association"],
        }));
    }
    [items, comments, people, links, reviews]
}

/// The read APIs show exactly what the fake holds.
async fn assert_mirrors(app: &TestApp, token: &str, project: i64, github: &FakeGithub) {
    let [items, comments, people, links, reviews] = github.with(|d| expected(d));
    for (model, want) in ["work-items", "comments", "people", "trace-links"]
        .into_iter()
        .zip([items, comments, people, links])
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
    let got: BTreeMap<String, Value> = by_id(
        app,
        token,
        &format!("/api/v1/projects/{project}/raw-records"),
    )
    .await
    .into_iter()
    .filter(|(_, r)| r["stream"] == "reviews")
    .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        reviews.keys().collect::<Vec<_>>(),
        "reviews: the external ids"
    );
    for (id, data) in &reviews {
        assert_eq!(&got[id]["data"], data, "review {id}");
    }
}

/// The sample repository, and a title and a comment with every Unicode class.
fn data(api: &openapi::Description) -> Data {
    let mut d = sample::sample(api);
    d.issues[4]["title"] = json!(format!("Unicode {}", sample::UNICODE));
    d.issues[4]["labels"] = json!([label("ui")]);
    d.issues[4]["assignees"] = json!([user(api, "user-d")]);
    d.issue_comments[0]["body"] = json!(sample::UNICODE);
    d
}

stories! {
    async fn github_issues_pulls_and_comments_sync_and_actions_write_through_the_host(backend) {
        let Some(api) = openapi::description() else { return };
        let logs = Logs::default();
        let _capture = logs.capture();
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_git(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));
        let github = FakeGithub::start(api.clone(), data(&api));

        let path = format!("/api/v1/projects/{project}/connections");
        let created = app.post(&format!("{path}?check=false"), &admin.token, json!({
            "plugin_id": "git", "name": "issues", "base_url": github.url(),
            "config": {"source": "github", "repository": REPOSITORY, "per_page": 3},
            "allow_private_network": true, "credential": {"kind": "bearer", "token": TOKEN}})).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");
        let check = app.post(&format!("{path}/{cid}/check"), &admin.token, json!({})).await;
        assert_eq!(check.json["message"], format!("connected to GitHub repository {REPOSITORY} (public): 4 open issues and pull requests"), "{}", check.json);

        // Every stream, three items a page.
        let jobs = sync(&app, &pm.token, project, cid, json!({"mode": "full"})).await;
        let r = results(&jobs);
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), ["comments", "issues", "people", "pull-requests", "reviews", "trace-links"]);
        // People: four authors and assignees, a commenter and two reviewers who did nothing else.
        for (stream, records) in [("issues", 7), ("pull-requests", 3), ("comments", 7), ("reviews", 4), ("people", 7), ("trace-links", 3)] {
            assert_eq!(r[stream]["records"], records, "{stream}: {}", r[stream]);
        }
        assert!(r["issues"]["pages"].as_u64().expect("pages") >= 4, "{}", r["issues"]);
        assert_mirrors(&app, &pm.token, project, &github).await;
        let items = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/work-items")).await;
        assert_eq!(items[&format!("{REPOSITORY}#8")]["status"], "merged");
        assert_eq!(items[&format!("{REPOSITORY}#1")]["labels"], json!(["bug", "ui"]));

        // An edit on GitHub: the next incremental sync reads that issue only.
        github.with(|d| {
            let i = d.issues.iter_mut().find(|i| i["number"] == 3).expect("issue 3");
            i["title"] = json!("Checkout fails, see PROJ-31");
            i["body"] = json!("Edited.");
            i["state"] = json!("closed");
            i["updated_at"] = json!("2026-01-01T11:00:00Z");
        });
        let jobs = sync(&app, &pm.token, project, cid, json!({})).await;
        let r = results(&jobs);
        for (stream, records) in [("issues", 1), ("pull-requests", 0), ("comments", 0), ("reviews", 0), ("people", 1), ("trace-links", 1)] {
            assert_eq!(r[stream]["records"], records, "{stream}: {}", r[stream]);
        }
        assert_mirrors(&app, &pm.token, project, &github).await;

        // The actions, through the host's actions endpoint, with the host's credential.
        let actions = format!("{path}/{cid}/actions");
        let listed = app.get(&actions, &pm.token).await;
        listed.expect(200);
        let names: Vec<&str> = listed.json.as_array().expect("list").iter().map(|a| a["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["comment", "create-issue"]);
        let bad = app.post(&format!("{actions}/comment"), &pm.token, json!({"input": {"issue": 3, "body": ""}})).await;
        bad.problem(422);
        let commented = app.post(&format!("{actions}/comment"), &pm.token,
            json!({"input": {"issue": format!("{REPOSITORY}#3"), "body": format!("Fixed in **main** {}", sample::UNICODE)}})).await;
        commented.expect(200);
        assert_eq!(commented.json["output"]["issue"], format!("{REPOSITORY}#3"));
        let comment_id = commented.json["output"]["id"].as_str().expect("id").to_owned();
        let opened = app.post(&format!("{actions}/create-issue"), &pm.token,
            json!({"input": {"title": "Refunds PROJ-40", "body": "Steps", "labels": ["bug"], "assignees": ["user-a"]}})).await;
        opened.expect(200);
        assert_eq!(opened.json["output"]["key"], format!("{REPOSITORY}#11"));
        let missing = app.post(&format!("{actions}/comment"), &pm.token, json!({"input": {"issue": 99, "body": "hi"}})).await;
        let problem = missing.problem(404);
        assert!(problem["detail"].as_str().expect("detail").contains("#99"), "{problem}");
        let writes: Vec<String> = github.with(|d| d.writes.iter().map(|(p, _)| p.clone()).collect());
        assert_eq!(writes, ["/issues/3/comments", "/issues"]);

        // A new approval of #9, which moves the pull request's updated_at, as on GitHub.
        github.with(|d| {
            let now = "2026-01-01T12:00:00Z";
            let mut approval = review(&api, 26, 9, "user-h", "APPROVED", "Ship it 🚀", 0);
            approval["submitted_at"] = json!(now);
            d.reviews.push(approval);
            for list in [&mut d.pulls, &mut d.issues] {
                let p = list.iter_mut().find(|p| p["number"] == 9).expect("#9");
                p["updated_at"] = json!(now);
            }
        });

        // What they wrote comes back by the next sync, the same as the fake holds, and the
        // changed pull request's reviews (the new one, and the one it had) with the reviewer.
        let jobs = sync(&app, &pm.token, project, cid, json!({})).await;
        let r = results(&jobs);
        assert_eq!((r["issues"]["records"].clone(), r["comments"]["records"].clone()), (json!(2), json!(1)), "{r:?}");
        assert_eq!((r["reviews"]["records"].clone(), r["pull-requests"]["records"].clone()), (json!(2), json!(1)), "{r:?}");
        assert_mirrors(&app, &pm.token, project, &github).await;
        let comments = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/comments")).await;
        assert_eq!(comments[&comment_id]["author"], "sync-bot");
        let people = by_id(&app, &pm.token, &format!("/api/v1/projects/{project}/people")).await;
        assert!(people.contains_key("user-h") && !people.contains_key("user-p"), "{:?}", people.keys());

        // Every request fit GitHub's description and carried the token the host added; the
        // token is nowhere else.
        github.assert_conforms();
        let requests = github.requests();
        assert!(requests.iter().all(|q| q.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())),
            "{:?}", requests.iter().map(|q| q.header("authorization")).collect::<Vec<_>>());
        assert!(requests.iter().all(|q| q.header("x-github-api-version") == Some("2022-11-28")));
        assert!(stored_text(&app).await.iter().all(|t| !t.contains(TOKEN)), "the token was stored in the clear");
        let everything = [
            check.text.clone(), commented.text.clone(), opened.text.clone(), missing.text.clone(),
            app.get(&format!("{path}/{cid}"), &admin.token).await.text,
            app.get("/api/v1/audit?limit=200", &admin.token).await.text,
            logs.text(),
        ];
        assert!(everything.iter().all(|t| !t.contains(TOKEN)), "the token reached a response or a log line");
        assert!(!logs.text().is_empty(), "the capture saw the host's logs");
    }
}
