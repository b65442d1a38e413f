//! GitHub's objects as the fake serves them, built from GitHub's own: issues from the octokit
//! fixture, pull requests and comments from the description's examples; and the sample
//! repository most tests read. Shared with the host's GitHub story (`tests/tests/github/`),
//! which includes this file, [`super::fake`] and [`super::openapi`] by path.

use serde_json::{json, Value};

use super::fake::{Data, REPOSITORY};
use super::openapi::Description;

/// Text with every Unicode class a body meets: emoji (a ZWJ sequence), right-to-left scripts,
/// combining marks, CJK, zero-width characters, a character outside the BMP.
pub const UNICODE: &str = "emoji 👩‍💻🎉 · RTL עברית العربية · combining e\u{301} a\u{308} · \
     CJK 漢字かな한글 · zero-width a\u{200b}b\u{200d}c\u{feff}d · astral 𝄞";

/// `2026-01-01T10:MM:00Z`.
pub fn at(minute: u32) -> String {
    format!("2026-01-01T10:{minute:02}:00Z")
}

/// A user (`simple-user`) from the description's example, with `login`.
pub fn user(api: &Description, login: &str) -> Value {
    let mut user = api.example("issue-items")[0]["user"].clone();
    user["login"] = json!(login);
    user["html_url"] = json!(format!("https://github.com/{login}"));
    user
}

/// A label as GitHub lists it.
pub fn label(name: &str) -> Value {
    json!({"id": 208045946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
        "url": format!("https://api.github.com/repos/{REPOSITORY}/labels/{name}"),
        "name": name, "description": null, "color": "f29513", "default": false})
}

/// An issue as the issues list shows it, from the octokit fixture's first issue.
pub fn issue(api: &Description, number: u64, title: &str, body: &str, minute: u32) -> Value {
    static FIXTURE: &str =
        include_str!("../fixtures/github/octokit-fixtures_paginate-issues.normalized-fixture.json");
    let fixture: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let mut issue = fixture[0]["response"][0].clone();
    let api_url = format!("https://api.github.com/repos/{REPOSITORY}/issues/{number}");
    issue["id"] = json!(10_000 + number);
    issue["number"] = json!(number);
    issue["title"] = json!(title);
    issue["body"] = json!(body);
    issue["url"] = json!(api_url);
    issue["html_url"] = json!(format!("https://github.com/{REPOSITORY}/issues/{number}"));
    issue["created_at"] = json!(at(0));
    issue["updated_at"] = json!(at(minute));
    let author = if number % 2 == 1 { "user-a" } else { "user-b" };
    issue["user"] = user(api, author);
    issue
}

/// A pull request as the pulls list shows it (from the description's example) and as the
/// issues list shows it.
pub fn pull(
    api: &Description,
    number: u64,
    title: &str,
    body: &str,
    minute: u32,
) -> (Value, Value) {
    let mut pull = api.example("pull-request-simple-items")[0].clone();
    pull["id"] = json!(20_000 + number);
    pull["number"] = json!(number);
    pull["title"] = json!(title);
    pull["body"] = json!(body);
    pull["state"] = json!("open");
    pull["html_url"] = json!(format!("https://github.com/{REPOSITORY}/pull/{number}"));
    pull["created_at"] = json!(at(0));
    pull["updated_at"] = json!(at(minute));
    pull["closed_at"] = Value::Null;
    pull["merged_at"] = Value::Null;
    pull["draft"] = json!(false);
    pull["user"] = user(api, "user-b");
    pull["assignees"] = json!([]);
    // The example's team lacks `type`, which the schema requires (the examples lag it).
    pull["requested_teams"] = json!([]);
    pull["assignee"] = Value::Null;
    pull["labels"] = json!([]);
    pull["milestone"] = Value::Null;
    pull["head"]["ref"] = json!(format!("feature-{number}"));
    pull["base"]["ref"] = json!("main");
    let mut as_issue = issue(api, number, title, body, minute);
    as_issue["id"] = json!(20_000 + number);
    as_issue["user"] = user(api, "user-b");
    as_issue["html_url"] = pull["html_url"].clone();
    as_issue["pull_request"] = json!({
        "url": format!("https://api.github.com/repos/{REPOSITORY}/pulls/{number}"),
        "html_url": pull["html_url"], "diff_url": null, "patch_url": null, "merged_at": null});
    (pull, as_issue)
}

/// A conversation comment on `number`, from the description's example.
pub fn issue_comment(api: &Description, id: u64, number: u64, body: &str, minute: u32) -> Value {
    let mut c = api.example("issue-comment-items")[0].clone();
    c["id"] = json!(id);
    c["body"] = json!(body);
    c["issue_url"] = json!(format!(
        "https://api.github.com/repos/{REPOSITORY}/issues/{number}"
    ));
    c["created_at"] = json!(at(0));
    c["updated_at"] = json!(at(minute));
    c["user"] = user(api, "user-a");
    c
}

/// A review comment on pull request `number`, from the description's example.
pub fn review_comment(api: &Description, id: u64, number: u64, body: &str, minute: u32) -> Value {
    let mut c = api.example("pull-request-review-comment-items")[0].clone();
    c["id"] = json!(id);
    c["body"] = json!(body);
    c["pull_request_url"] = json!(format!(
        "https://api.github.com/repos/{REPOSITORY}/pulls/{number}"
    ));
    c["created_at"] = json!(at(0));
    c["updated_at"] = json!(at(minute));
    c["user"] = user(api, "user-c");
    c
}

/// A review of pull request `number` by `login`, from the description's example; a `PENDING`
/// one has no `submitted_at`, as on GitHub.
pub fn review(
    api: &Description,
    id: u64,
    number: u64,
    login: &str,
    state: &str,
    body: &str,
    minute: u32,
) -> Value {
    let mut r = api.example("pull-request-review-items")[0].clone();
    let html_url = format!("https://github.com/{REPOSITORY}/pull/{number}#pullrequestreview-{id}");
    let pull_url = format!("https://api.github.com/repos/{REPOSITORY}/pulls/{number}");
    r["id"] = json!(id);
    r["user"] = user(api, login);
    r["body"] = json!(body);
    r["state"] = json!(state);
    r["html_url"] = json!(html_url);
    r["pull_request_url"] = json!(pull_url);
    r["_links"] = json!({"html": {"href": html_url}, "pull_request": {"href": pull_url}});
    r["commit_id"] = json!(format!("{:040x}", 0xc0ffee_u64 + id));
    if state == "PENDING" {
        if let Some(fields) = r.as_object_mut() {
            fields.remove("submitted_at");
        }
    } else {
        r["submitted_at"] = json!(at(minute));
    }
    r
}

/// The sample repository: seven issues (three edited at one instant), three pull requests
/// (one merged, one draft), four conversation and three review comments (one conversation
/// comment by `user-f`, who wrote nothing else), five reviews (an approval without text by
/// `user-r`, a comment, a change request, a dismissed review by `user-e`, who did nothing
/// else, and a pending one by `user-p`, which is skipped); keys `PROJ-7` and `PROJ-12` named
/// in two bodies.
pub fn sample(api: &Description) -> Data {
    let mut data = Data::default();
    for (n, minute) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 3), (6, 5), (7, 6)] {
        let body = if n == 2 { "Blocked by PROJ-12." } else { "" };
        let mut i = issue(api, n, &format!("Issue {n}"), body, minute);
        if n == 1 {
            i["labels"] = json!([label("bug"), label("ui")]);
            i["assignees"] = json!([user(api, "user-c"), user(api, "user-a")]);
            i["assignee"] = user(api, "user-c");
        }
        if n == 7 {
            i["state"] = json!("closed");
            i["state_reason"] = json!("completed");
            i["closed_at"] = json!(at(6));
        }
        data.issues.push(i);
    }
    for (n, minute) in [(8, 4), (9, 7), (10, 8)] {
        let body = if n == 8 {
            "Fixes PROJ-7 and PROJ-12"
        } else {
            ""
        };
        let (mut p, mut i) = pull(api, n, &format!("Pull {n}"), body, minute);
        if n == 8 {
            i["state"] = json!("closed");
            p["state"] = json!("closed");
            p["merged_at"] = json!(at(4));
            p["closed_at"] = json!(at(4));
        }
        if n == 9 {
            p["draft"] = json!(true);
        }
        data.pulls.push(p);
        data.issues.push(i);
    }
    for (id, n, minute) in [(1, 1, 1), (2, 1, 2), (3, 8, 2), (4, 3, 9)] {
        let mut c = issue_comment(api, id, n, &format!("comment {id}"), minute);
        if id == 4 {
            c["user"] = user(api, "user-f");
        }
        data.issue_comments.push(c);
    }
    for (id, n, login, state, body, minute) in [
        (
            21,
            8,
            "user-c",
            "COMMENTED",
            "Looks right; one question inline.",
            3,
        ),
        (22, 8, "user-r", "APPROVED", "", 4),
        (
            23,
            9,
            "user-r",
            "CHANGES_REQUESTED",
            "Needs a test for PROJ-7.",
            6,
        ),
        (24, 9, "user-p", "PENDING", "draft review", 7),
        (
            25,
            10,
            "user-e",
            "DISMISSED",
            "Outdated after the rebase.",
            8,
        ),
    ] {
        data.reviews
            .push(review(api, id, n, login, state, body, minute));
    }
    for (id, n, minute) in [(11, 8, 3), (12, 8, 4), (13, 9, 5)] {
        let c = review_comment(api, id, n, &format!("review {id}"), minute);
        data.review_comments.push(c);
    }
    data
}
