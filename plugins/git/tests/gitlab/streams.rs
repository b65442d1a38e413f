//! The acceptance suite on `source = "gitlab"`, keyset and offset paging, incremental reads
//! after edits, the mapping onto the internal models, and the project named by id.

use agentic_sdk::testing::{acceptance, Acceptance, Credential, Expected};
use git::{GitConnector, MANIFEST};
use serde_json::{json, Value};

use super::fake::{FakeGitlab, PROJECT, PROJECT_ID};
use super::{at, config, ids, key, mr_key, read_run, sample, TOKEN, UNICODE};

fn json_of(records: &[agentic_sdk::RecordData]) -> Vec<Value> {
    records.iter().map(crate::record_json).collect()
}

#[test]
fn gitlab_mode_passes_the_acceptance_suite() {
    let gitlab = FakeGitlab::start(sample());
    let report = acceptance::<GitConnector>(&Acceptance {
        base_url: Some(gitlab.url()),
        config: config(2),
        bad_config: json!({"source": "gitlab"}),
        manifest: Some(MANIFEST),
        credential: Some(Credential::Bearer(TOKEN.into())),
        expected: vec![
            ("issues", Expected::Ids((1..=7).map(key).collect())),
            (
                "merge-requests",
                Expected::Ids((1..=3).map(mr_key).collect()),
            ),
            (
                "comments",
                Expected::Ids(
                    ["note_1", "note_3", "note_4", "note_5"]
                        .map(String::from)
                        .to_vec(),
                ),
            ),
            (
                "people",
                Expected::Ids(["ada", "carol", "grace", "hedy"].map(String::from).to_vec()),
            ),
            (
                "trace-links",
                Expected::Ids(vec![
                    format!("{}:PROJ-12", key(2)),
                    format!("{}:PROJ-12", mr_key(1)),
                    format!("{}:PROJ-7", mr_key(1)),
                ]),
            ),
        ],
        ..Acceptance::default()
    });
    gitlab.assert_conforms();
    let names: Vec<&str> = report.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "issues",
            "merge-requests",
            "comments",
            "people",
            "trace-links"
        ]
    );
    assert!(
        report
            .streams
            .iter()
            .all(|s| s.pages > 1 && s.resumptions >= 1),
        "{report:?}"
    );
    // The project went in one URL-encoded segment, under the instance's path prefix.
    assert!(gitlab
        .requests()
        .iter()
        .all(|r| r.raw_path == "/gitlab/api/v4/users"
            || r.raw_path
                .starts_with("/gitlab/api/v4/projects/acme%2Fplatform%2Fwidgets")));
}

#[test]
fn issues_page_by_keyset_and_merge_requests_by_page_number() {
    let gitlab = FakeGitlab::start(sample());
    let (records, _) = read_run(&gitlab, &config(2), "issues", None);
    assert_eq!(
        ids(&records),
        [1, 2, 3, 4, 5, 6, 7].map(key),
        "oldest first, each once"
    );
    let requests = gitlab.requests();
    assert_eq!(requests[0].query("pagination"), Some("keyset"));
    assert_eq!(requests[0].query("order_by"), Some("updated_at"));
    assert_eq!(requests[0].query("sort"), Some("asc"));
    assert!(
        requests[1..].iter().all(|r| r.query("cursor").is_some()),
        "the next pages follow the cursor"
    );
    assert_eq!(requests.len(), 4);
    // Merge requests have no keyset: each page asks from the newest time read.
    let before = gitlab.requests().len();
    let (records, _) = read_run(&gitlab, &config(2), "merge-requests", None);
    assert_eq!(ids(&records), [1, 2, 3].map(mr_key));
    let asked: Vec<Option<String>> = gitlab.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/merge_requests"))
        .map(|r| r.query("updated_after").map(str::to_owned))
        .collect();
    assert_eq!(asked, [None, Some(at(7))]);
    // Beside the list, one request for each merge request's approvals.
    let approvals = gitlab.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/approvals"))
        .count();
    assert_eq!(approvals, 3);
    gitlab.assert_conforms();
}

#[test]
fn an_older_gitlab_without_keyset_pages_by_time_and_page_number() {
    let mut data = sample();
    data.keyset = false;
    let gitlab = FakeGitlab::start(data);
    // Three issues share 10:03: a page of two at that time goes on by page number.
    let (records, _) = read_run(&gitlab, &config(2), "issues", None);
    let mut got = ids(&records);
    got.sort();
    let mut want: Vec<String> = (1..=7).map(key).collect();
    want.sort();
    assert_eq!(got, want);
    let asked: Vec<(Option<String>, Option<String>)> = gitlab
        .requests()
        .iter()
        .map(|r| {
            (
                r.query("updated_after").map(str::to_owned),
                r.query("page").map(str::to_owned),
            )
        })
        .collect();
    assert!(
        asked.contains(&(Some(at(3)), Some("2".into()))),
        "{asked:?}"
    );
    gitlab.assert_conforms();
}

#[test]
fn incremental_runs_read_what_changed_and_notes_of_changed_items() {
    let gitlab = FakeGitlab::start(sample());
    let cfg = config(3);
    let (_, issues) = read_run(&gitlab, &cfg, "issues", None);
    let (_, notes) = read_run(&gitlab, &cfg, "comments", None);
    let (_, mrs) = read_run(&gitlab, &cfg, "merge-requests", None);
    // Nothing changed: nothing read.
    assert!(read_run(&gitlab, &cfg, "issues", Some(&issues))
        .0
        .is_empty());
    assert!(read_run(&gitlab, &cfg, "comments", Some(&notes))
        .0
        .is_empty());
    gitlab.with(|d| {
        let i = d
            .issues
            .iter_mut()
            .find(|i| i["iid"] == 4)
            .expect("issue 4");
        i["title"] = json!("Checkout fails PROJ-31");
        i["state"] = json!("closed");
        i["updated_at"] = json!(at(20));
        let mr = d
            .merge_requests
            .iter_mut()
            .find(|i| i["iid"] == 3)
            .expect("!3");
        mr["state"] = json!("merged");
        mr["merged_at"] = json!(at(21));
        mr["updated_at"] = json!(at(21));
        // A new note on issue 3 (GitLab touches the issue).
        let i = d
            .issues
            .iter_mut()
            .find(|i| i["iid"] == 3)
            .expect("issue 3");
        i["updated_at"] = json!(at(22));
        i["user_notes_count"] = json!(2);
        let mut n = super::note(9, "Reopen?", "ada", &at(22), false);
        n["noteable_iid"] = json!(3);
        d.notes.push(((false, 3), n));
    });
    let (changed, _) = read_run(&gitlab, &cfg, "issues", Some(&issues));
    assert_eq!(ids(&changed), [key(4), key(3)]);
    assert_eq!(json_of(&changed)[0]["status"], "closed");
    // An approval of !3 (with the change that moved its updated_at).
    gitlab.with(|d| d.approvals.push((3, super::user("grace", "Grace Hopper"))));
    let before = gitlab.requests().len();
    let (changed, _) = read_run(&gitlab, &cfg, "merge-requests", Some(&mrs));
    assert_eq!(ids(&changed), [mr_key(3)]);
    assert_eq!(json_of(&changed)[0]["status"], "merged");
    assert_eq!(
        json_of(&changed)[0]["attributes"]["approved_by"],
        json!(["ada", "grace"])
    );
    let approvals: Vec<String> = gitlab.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/approvals"))
        .map(|r| r.raw_path.clone())
        .collect();
    assert_eq!(
        approvals,
        [format!(
            "{}/projects/{}/merge_requests/3/approvals",
            super::fake::PREFIX,
            PROJECT.replace('/', "%2F")
        )],
        "the approvals of the changed merge request only"
    );
    let (new_notes, _) = read_run(&gitlab, &cfg, "comments", Some(&notes));
    assert_eq!(
        ids(&new_notes),
        ["note_4", "note_9"],
        "the notes of the changed issue 3"
    );
    let last = gitlab
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/issues"))
        .expect("a list");
    assert_eq!(
        last.query("updated_after"),
        Some(at(6).as_str()),
        "from the newest time the last run read"
    );
    gitlab.assert_conforms();
}

#[test]
fn records_carry_gitlabs_fields() {
    let gitlab = FakeGitlab::start(sample());
    let cfg = config(100);
    let items = json_of(&read_run(&gitlab, &cfg, "issues", None).0);
    let one = &items[0];
    assert_eq!(one["external_id"], key(1));
    assert_eq!(one["key"], key(1));
    assert_eq!(one["status"], "open", "GitLab's opened");
    assert_eq!(one["item_type"], "issue");
    assert_eq!(one["labels"], json!(["bug", "ui"]));
    assert_eq!(one["assignee"], "carol");
    assert_eq!(one["reporter"], "ada");
    assert_eq!(
        one["url"],
        format!("https://git.acme.example/gitlab/{PROJECT}/-/issues/1")
    );
    assert_eq!(one["attributes"]["assignees"], json!(["carol", "ada"]));
    assert_eq!(
        one["attributes"]["milestone"],
        json!({"title": "v1.0", "iid": 3})
    );
    assert_eq!(one["attributes"]["iid"], 1);
    assert_eq!(items[3]["description"], "", "a null description");
    assert_eq!(items[4]["title"], format!("Unicode {UNICODE}"));
    assert_eq!(items[4]["attributes"]["confidential"], true);
    assert_eq!(items[6]["status"], "closed");
    let mrs = json_of(&read_run(&gitlab, &cfg, "merge-requests", None).0);
    assert_eq!(mrs[0]["status"], "merged");
    assert_eq!(mrs[0]["item_type"], "merge-request");
    assert_eq!(mrs[0]["attributes"]["source_branch"], "feature-1");
    assert_eq!(mrs[0]["attributes"]["merge_commit_sha"], "f".repeat(40));
    assert_eq!(mrs[1]["attributes"]["draft"], true);
    // Approvers by username, in GitLab's order; none is an empty list.
    assert_eq!(
        mrs[0]["attributes"]["approved_by"],
        json!(["carol", "hedy"])
    );
    assert_eq!(mrs[1]["attributes"]["approved_by"], json!([]));
    assert_eq!(mrs[2]["attributes"]["approved_by"], json!(["ada"]));
    let notes = json_of(&read_run(&gitlab, &cfg, "comments", None).0);
    let bodies: Vec<(&str, &str)> = notes
        .iter()
        .map(|n| {
            (
                n["parent_external_id"].as_str().unwrap_or_default(),
                n["body"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let key1 = key(1);
    let key3 = key(3);
    let mr1 = mr_key(1);
    assert_eq!(
        bodies,
        [
            (key1.as_str(), "First!"),
            (key1.as_str(), UNICODE),
            (key3.as_str(), "Seen on *staging*"),
            (mr1.as_str(), "Nit: rename this")
        ],
        "system notes skipped"
    );
    let people = json_of(&read_run(&gitlab, &cfg, "people", None).0);
    let names: Vec<(&str, &str)> = people
        .iter()
        .map(|p| {
            (
                p["external_id"].as_str().unwrap_or_default(),
                p["display_name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("ada", "Ada Lovelace"),
            ("carol", "Carol Shaw"),
            ("grace", "Grace Hopper"),
            ("hedy", "Hedy Lamarr")
        ],
        "authors and assignees, then the note authors"
    );
    let links = json_of(&read_run(&gitlab, &cfg, "trace-links", None).0);
    assert_eq!(links[1]["link_type"], "mentioned-by-merge-request");
    assert_eq!(links[1]["source"], mr_key(1));
    gitlab.assert_conforms();
}

#[test]
fn a_project_named_by_id_reads_the_same() {
    let gitlab = FakeGitlab::start(sample());
    let cfg = json!({"source": "gitlab", "project": PROJECT_ID.to_string()});
    let (records, _) = read_run(&gitlab, &cfg, "issues", None);
    assert_eq!(
        ids(&records),
        (1..=7).map(key).collect::<Vec<_>>(),
        "keys from GitLab's references"
    );
    assert_eq!(
        super::harness(&gitlab).check(&cfg).expect("check"),
        format!("connected to GitLab project {PROJECT} (private): 6 open issues")
    );
    assert!(gitlab
        .requests()
        .iter()
        .all(|r| r.raw_path.starts_with("/gitlab/api/v4/projects/42")));
    // Configurations the schema and the connector refuse.
    for bad in [
        json!({"source": "gitlab", "project": "widgets"}),
        json!({"source": "gitlab", "project": "a/../b"}),
        json!({"source": "gitlab", "project": "acme/w", "repository": "o/r"}),
        json!({"source": "git", "project": "acme/w"}),
    ] {
        assert!(
            matches!(
                super::harness(&gitlab).check(&bad),
                Err(agentic_sdk::Error::Config(_))
            ),
            "{bad}"
        );
    }
}
