//! GitLab's objects as the fake serves them, with the fields GitLab's documentation's examples
//! show (`api/issues.md`, `api/merge_requests.md`, `api/notes.md`, `api/users.md`) and values
//! set per item; and the sample project most tests read. Shared with the host's GitLab story
//! (`tests/tests/gitlab/`), which includes this file, [`super::fake`] and
//! [`super::documented`] by path.

use serde_json::{json, Value};

use super::fake::{gitlab_time, Data, PROJECT, PROJECT_ID};

/// Text with every Unicode class a body meets (as the GitHub tests use).
pub const UNICODE: &str = "emoji 👩‍💻🎉 · RTL עברית العربية · combining e\u{301} a\u{308} · \
     CJK 漢字かな한글 · zero-width a\u{200b}b\u{200d}c\u{feff}d · astral 𝄞";

/// The token the tests' connections carry.
pub const TOKEN: &str = "glpat-test-token-0123456789";

/// `2026-01-01T10:MM:00.000Z`, GitLab's format.
pub fn at(minute: i64) -> String {
    gitlab_time(1_767_261_600_000 + minute * 60_000)
}

/// A user as lists embed it.
pub fn user(username: &str, name: &str) -> Value {
    let id = username.bytes().map(u64::from).sum::<u64>();
    json!({"id": id, "username": username, "name": name, "state": "active", "locked": false,
        "avatar_url": format!("https://secure.gravatar.com/avatar/{username}"),
        "web_url": format!("https://git.acme.example/gitlab/{username}")})
}

/// An issue as `GET /projects/:id/issues` shows it.
pub fn issue(iid: u64, title: &str, description: Option<&str>, updated: &str) -> Value {
    json!({
        "id": 1000 + iid, "iid": iid, "project_id": PROJECT_ID, "title": title, "description": description,
        "state": "opened", "created_at": at(0), "updated_at": updated, "closed_at": null, "closed_by": null,
        "labels": [], "milestone": null, "assignees": [], "assignee": null,
        "author": user(if iid % 2 == 1 { "ada" } else { "grace" }, if iid % 2 == 1 { "Ada Lovelace" } else { "Grace Hopper" }),
        "type": "ISSUE", "user_notes_count": 0, "merge_requests_count": 0, "upvotes": 0, "downvotes": 0,
        "due_date": null, "confidential": false, "discussion_locked": null, "issue_type": "issue",
        "web_url": format!("https://git.acme.example/gitlab/{PROJECT}/-/issues/{iid}"),
        "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": null, "human_total_time_spent": null},
        "task_completion_status": {"count": 0, "completed_count": 0}, "has_tasks": false,
        "references": {"short": format!("#{iid}"), "relative": format!("#{iid}"), "full": format!("{PROJECT}#{iid}")},
        "severity": "UNKNOWN", "moved_to_id": null, "service_desk_reply_to": null,
    })
}

/// A merge request as `GET /projects/:id/merge_requests` shows it.
pub fn merge_request(iid: u64, title: &str, description: &str, updated: &str) -> Value {
    let mut mr = json!({
        "id": 2000 + iid, "iid": iid, "project_id": PROJECT_ID, "title": title, "description": description,
        "state": "opened", "created_at": at(0), "updated_at": updated, "merged_by": null, "merge_user": null,
        "merged_at": null, "closed_by": null, "closed_at": null, "target_branch": "main",
        "source_branch": format!("feature-{iid}"), "user_notes_count": 0, "upvotes": 0, "downvotes": 0,
        "author": user("grace", "Grace Hopper"), "assignees": [], "assignee": null, "reviewers": [],
        "source_project_id": PROJECT_ID, "target_project_id": PROJECT_ID, "labels": [], "draft": false,
        "work_in_progress": false, "milestone": null, "merge_when_pipeline_succeeds": false,
        "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
        "sha": format!("{iid:040x}"), "merge_commit_sha": null, "squash_commit_sha": null,
        "discussion_locked": null, "should_remove_source_branch": null, "force_remove_source_branch": false,
    });
    // In two literals: one would pass `json!`'s default recursion limit.
    let rest = json!({
        "reference": format!("!{iid}"),
        "references": {"short": format!("!{iid}"), "relative": format!("!{iid}"), "full": format!("{PROJECT}!{iid}")},
        "web_url": format!("https://git.acme.example/gitlab/{PROJECT}/-/merge_requests/{iid}"),
        "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": null, "human_total_time_spent": null},
        "squash": false, "task_completion_status": {"count": 0, "completed_count": 0},
        "has_conflicts": false, "blocking_discussions_resolved": true,
    });
    if let (Some(all), Value::Object(rest)) = (mr.as_object_mut(), rest) {
        all.extend(rest);
    }
    mr
}

/// The name GitLab shows for the sample's usernames (the username for others).
pub fn name_of(username: &str) -> &str {
    match username {
        "ada" => "Ada Lovelace",
        "grace" => "Grace Hopper",
        "carol" => "Carol Shaw",
        "hedy" => "Hedy Lamarr",
        // The account the actions write as (`fake` names it so on what it creates).
        "sync-bot" => "Sync Bot",
        other => other,
    }
}

/// A note as `GET …/notes` shows it, by `author` with their name.
pub fn note(id: u64, body: &str, author: &str, updated: &str, system: bool) -> Value {
    json!({"id": id, "type": null, "body": body, "attachment": null, "author": user(author, name_of(author)),
        "created_at": at(0), "updated_at": updated, "system": system, "noteable_id": 0,
        "noteable_type": "Issue", "project_id": PROJECT_ID, "noteable_iid": 0, "resolvable": false,
        "confidential": false, "internal": false, "imported": false, "imported_from": "none"})
}

/// Notes `notes` on issue (or merge request) `iid`, counted on the item.
pub fn add_notes(d: &mut Data, merge_request: bool, iid: u64, notes: Vec<Value>) {
    let items = if merge_request {
        &mut d.merge_requests
    } else {
        &mut d.issues
    };
    let item = items
        .iter_mut()
        .find(|i| i["iid"] == iid)
        .expect("the item");
    let users = notes.iter().filter(|n| n["system"] == false).count() as u64;
    item["user_notes_count"] = json!(item["user_notes_count"].as_u64().unwrap_or(0) + users);
    for mut n in notes {
        n["noteable_iid"] = json!(iid);
        n["noteable_id"] = item["id"].clone();
        n["noteable_type"] = json!(if merge_request {
            "MergeRequest"
        } else {
            "Issue"
        });
        d.notes.push(((merge_request, iid), n));
    }
}

/// The sample project: seven issues (three updated at one instant, one closed, one
/// confidential, one with labels, assignees and a milestone), three merge requests (one merged,
/// one draft) whose iids overlap the issues', approvals (two of !1, one of !3), notes (system
/// notes among them, a diff note by `hedy`, who wrote nothing else), keys
/// `PROJ-7` and `PROJ-12` in two texts, every Unicode class in a title and a note.
pub fn sample() -> Data {
    let mut d = Data {
        token: Some(TOKEN.into()),
        keyset: true,
        ..Data::default()
    };
    for (iid, minute) in [(1, 1), (2, 2), (3, 3), (4, 3), (5, 3), (6, 5), (7, 6)] {
        let description = match iid {
            2 => Some("Blocked by PROJ-12."),
            4 => None,
            _ => Some(""),
        };
        let mut i = issue(iid, &format!("Issue {iid}"), description, &at(minute));
        if iid == 1 {
            i["labels"] = json!(["bug", "ui"]);
            i["assignees"] = json!([user("carol", "Carol Shaw"), user("ada", "Ada Lovelace")]);
            i["assignee"] = user("carol", "Carol Shaw");
            i["milestone"] = json!({"id": 12, "iid": 3, "project_id": PROJECT_ID, "title": "v1.0",
                "description": "", "state": "active", "created_at": at(0), "updated_at": at(0),
                "due_date": null, "start_date": null, "web_url": "https://git.acme.example/m/3"});
        }
        if iid == 5 {
            i["title"] = json!(format!("Unicode {UNICODE}"));
            i["confidential"] = json!(true);
        }
        if iid == 7 {
            i["state"] = json!("closed");
            i["closed_at"] = json!(at(6));
        }
        d.issues.push(i);
    }
    for (iid, minute) in [(1, 4), (2, 7), (3, 8)] {
        let description = if iid == 1 {
            "Fixes PROJ-7 and PROJ-12, closes #1"
        } else {
            ""
        };
        let mut mr = merge_request(iid, &format!("Merge {iid}"), description, &at(minute));
        if iid == 1 {
            mr["state"] = json!("merged");
            mr["merged_at"] = json!(at(4));
            mr["merge_commit_sha"] = json!("f".repeat(40));
        }
        if iid == 2 {
            mr["draft"] = json!(true);
            mr["title"] = json!("Draft: Merge 2");
        }
        d.merge_requests.push(mr);
    }
    add_notes(
        &mut d,
        false,
        1,
        vec![
            note(1, "First!", "ada", &at(1), false),
            note(2, "changed the description", "ada", &at(1), true),
            note(3, UNICODE, "grace", &at(1), false),
        ],
    );
    add_notes(
        &mut d,
        false,
        3,
        vec![note(4, "Seen on *staging*", "carol", &at(3), false)],
    );
    // By someone who did nothing else: a person only as a note's author.
    let mut diff = note(5, "Nit: rename this", "hedy", &at(4), false);
    diff["type"] = json!("DiffNote");
    add_notes(
        &mut d,
        true,
        1,
        vec![diff, note(6, "merged", "grace", &at(4), true)],
    );
    d.approvals = vec![
        (1, user("carol", "Carol Shaw")),
        (1, user("hedy", "Hedy Lamarr")),
        (3, user("ada", "Ada Lovelace")),
    ];
    d.users = vec![
        user("ada", "Ada Lovelace"),
        user("grace", "Grace Hopper"),
        user("carol", "Carol Shaw"),
    ];
    d
}
