//! The acceptance suite on `source = "github"`, paging, incremental reads after edits, and
//! conditional requests.

use agentic_sdk::testing::{acceptance, Acceptance, Credential, Expected};
use git::{GitConnector, MANIFEST};
use serde_json::json;

use super::{at, config, ids, key, read_run, sample, start};

#[test]
fn github_mode_passes_the_acceptance_suite() {
    let Some(github) = start(sample) else { return };
    let report = acceptance::<GitConnector>(&Acceptance {
        base_url: Some(github.url()),
        config: config(2),
        // source = github without the repository: the schema and check both refuse it.
        bad_config: json!({"source": "github"}),
        manifest: Some(MANIFEST),
        // The host puts the token on every request; the connector never sees it.
        credential: Some(Credential::Bearer("ghp_fake".into())),
        expected: vec![
            ("issues", Expected::Ids((1..=7).map(key).collect())),
            ("pull-requests", Expected::Ids((8..=10).map(key).collect())),
            ("comments", Expected::Count(7)),
            (
                "reviews",
                Expected::Ids(
                    [21, 22, 23, 25]
                        .map(|id| format!("pullrequestreview-{id}"))
                        .to_vec(),
                ),
            ),
            (
                "people",
                Expected::Ids(
                    ["user-a", "user-b", "user-c", "user-e", "user-f", "user-r"]
                        .map(String::from)
                        .to_vec(),
                ),
            ),
            (
                "trace-links",
                Expected::Ids(vec![
                    format!("{}:PROJ-12", key(2)),
                    format!("{}:PROJ-12", key(8)),
                    format!("{}:PROJ-7", key(8)),
                ]),
            ),
        ],
        ..Acceptance::default()
    });
    github.assert_conforms();
    assert!(github
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer ghp_fake")
            && r.header("x-github-api-version") == Some("2022-11-28")
            && r.header("accept") == Some("application/vnd.github+json")));
    let names: Vec<&str> = report.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "issues",
            "pull-requests",
            "comments",
            "reviews",
            "people",
            "trace-links"
        ]
    );
    assert!(report
        .streams
        .iter()
        .all(|s| s.pages > 1 && s.resumptions >= 1));
    // Reading again from a final state asked conditionally, and GitHub said 304.
    assert!(github.with(|d| d.not_modified) > 0);
}

#[test]
fn pages_ask_again_from_the_newest_time_read() {
    let Some(github) = start(sample) else { return };
    let (records, _) = read_run(&github, &config(2), "issues", None);
    let mut got = ids(&records);
    got.sort();
    let mut want: Vec<String> = (1..=7).map(key).collect();
    want.sort();
    assert_eq!(got, want, "every issue once, no pull request");
    let requests = github.requests();
    let first = &requests[0];
    assert_eq!(
        first.path,
        "/repos/octokit-fixture-org/paginate-issues/issues"
    );
    assert_eq!(
        first.query,
        [
            ("state".into(), "all".into()),
            ("sort".into(), "updated".into()),
            ("direction".into(), "asc".into()),
            ("per_page".into(), "2".into()),
        ]
    );
    // Later pages ask from the newest update time read; three issues share 10:03, more than a
    // page, so one request goes on by page number.
    let asked: Vec<(Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| (r.query("since"), r.query("page")))
        .collect();
    let t3 = at(3);
    assert!(asked.contains(&(Some(t3.as_str()), None)), "{asked:?}");
    assert!(asked.contains(&(Some(t3.as_str()), Some("2"))), "{asked:?}");
    github.assert_conforms();
}

#[test]
fn an_edited_issue_is_read_again_and_nothing_else() {
    let Some(github) = start(sample) else { return };
    let cfg = config(100);
    let (first, state) = read_run(&github, &cfg, "issues", None);
    assert_eq!(first.len(), 7);
    github.with(|d| {
        let i = &mut d.issues[2];
        i["title"] = json!("Issue 3, renamed");
        i["updated_at"] = json!(at(30));
    });
    let before = github.requests().len();
    let (second, state) = read_run(&github, &cfg, "issues", Some(&state));
    assert_eq!(ids(&second), [key(3)]);
    let agentic_sdk::RecordData::WorkItem(item) = &second[0] else {
        panic!("{second:?}")
    };
    assert_eq!(item.title, "Issue 3, renamed");
    let asked = &github.requests()[before];
    // The newest issue or pull request the first run read was #10 at 10:08.
    assert_eq!(asked.query("since"), Some(at(8).as_str()));
    // A new pull request and an edited one: the newest-first read stops at the last run's.
    let (_, pulls_state) = read_run(&github, &cfg, "pull-requests", None);
    github.with(|d| {
        d.pulls[0]["title"] = json!("Pull 8, renamed");
        d.pulls[0]["updated_at"] = json!(at(31));
    });
    let (pulls, _) = read_run(&github, &cfg, "pull-requests", Some(&pulls_state));
    assert_eq!(ids(&pulls), [key(8)]);
    // Nothing else changed: the next runs read nothing.
    let (third, _) = read_run(&github, &cfg, "issues", Some(&state));
    assert!(third.is_empty(), "{third:?}");
    github.assert_conforms();
}

#[test]
fn an_unchanged_repository_answers_304_and_costs_nothing() {
    let Some(github) = start(sample) else { return };
    let cfg = config(100);
    for stream in ["issues", "pull-requests", "comments", "reviews"] {
        let (_, state) = read_run(&github, &cfg, stream, None);
        // The oldest-first streams need one run at the final `since` to hold its ETag.
        let (none, state) = read_run(&github, &cfg, stream, Some(&state));
        assert!(none.is_empty(), "{stream}: {none:?}");
        let before = github.requests().len();
        let not_modified = github.with(|d| d.not_modified);
        let (none, after) = read_run(&github, &cfg, stream, Some(&state));
        assert!(none.is_empty(), "{stream}: {none:?}");
        let requests = github.requests();
        assert!(
            requests[before..]
                .iter()
                .all(|r| r.header("if-none-match").is_some()),
            "{stream}: every first request of the run is conditional"
        );
        assert_eq!(
            github.with(|d| d.not_modified) - not_modified,
            requests.len() - before,
            "{stream}: every answer was 304"
        );
        assert_eq!(after, state, "{stream}: a 304 leaves the state as it was");
    }
    // An edit changes the answer: the conditional request gets the new page.
    let (_, state) = read_run(&github, &cfg, "issues", None);
    let (_, state) = read_run(&github, &cfg, "issues", Some(&state));
    github.with(|d| d.issues[0]["updated_at"] = json!(at(8)));
    let (records, _) = read_run(&github, &cfg, "issues", Some(&state));
    assert_eq!(ids(&records), [key(1)]);
    github.assert_conforms();
}

#[test]
fn an_issue_edited_while_a_run_reads_skips_nothing() {
    // Following GitHub's `next` links, an edit after page 1 moves issue #1 to the end, every
    // later issue up one place, and the one crossing into page 1 would never be read.
    let Some(github) = start(sample) else { return };
    let h = super::harness(&github);
    let cfg = config(2);
    let first = h.read(&cfg, "issues", None).expect("page 1");
    assert_eq!(ids(&first.records), [key(1), key(2)]);
    github.with(|d| d.issues[0]["updated_at"] = json!(at(40)));
    let rest = h
        .read_all(&cfg, "issues", Some(&first.state))
        .expect("the rest");
    let mut all = ids(&first.records);
    all.extend(rest.iter().flat_map(|p| ids(&p.records)));
    for n in 1..=7 {
        assert!(all.contains(&key(n)), "#{n} missing from {all:?}");
    }
    assert_eq!(
        all.iter().filter(|k| **k == key(1)).count(),
        2,
        "the edited issue comes again, with its edit: {all:?}"
    );
    github.assert_conforms();
}

#[test]
fn github_enterprise_server_is_the_same_api_under_api_v3() {
    let Some(github) = start(sample) else { return };
    let h = agentic_sdk::testing::Harness::new(GitConnector)
        .with_base_url(format!("{}api/v3/", github.url()));
    let cfg = config(100);
    let answer = h.check(&cfg).expect("check");
    assert_eq!(
        answer,
        "connected to GitHub repository octokit-fixture-org/paginate-issues (public): 4 open \
         issues and pull requests"
    );
    let pages = h.read_all(&cfg, "issues", None).expect("issues");
    assert_eq!(pages.iter().map(|p| p.records.len()).sum::<usize>(), 7);
    assert!(github.requests().iter().all(|r| r
        .path
        .starts_with("/api/v3/repos/octokit-fixture-org/paginate-issues")));
    github.assert_conforms();
}
