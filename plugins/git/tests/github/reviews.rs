//! Pull request reviews: each submitted review a raw record on its pull request, read for the
//! pull requests changed since the last run, a bounded number of requests a page, with the
//! reviews list's own pages; and `people` with the commenters and reviewers.

use agentic_sdk::RecordData;
use git::github::reviews::REVIEW_REQUESTS_PER_PAGE;
use serde_json::{json, Value};

use super::fake::Data;
use super::{at, config, harness, ids, key, pull, read_run, review, sample, start};

fn raw(records: &[RecordData]) -> Vec<(String, Value)> {
    records
        .iter()
        .map(|r| match r {
            RecordData::Raw(r) => (r.external_id.clone(), Value::Object(r.data.clone())),
            other => panic!("a raw record: {other:?}"),
        })
        .collect()
}

fn ms(minute: u32) -> i64 {
    agentic_sdk::time::parse_rfc3339(&at(minute)).expect("a time")
}

#[test]
fn each_submitted_review_is_a_record_on_its_pull_request() {
    let Some(github) = start(sample) else { return };
    let (records, _) = read_run(&github, &config(100), "reviews", None);
    let got = raw(&records);
    // Newest pull request first (#10, #9, #8), each one's reviews in GitHub's (chronological)
    // order; #9's pending review, which only its author sees, is not one.
    assert_eq!(
        got.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        [
            "pullrequestreview-25",
            "pullrequestreview-23",
            "pullrequestreview-21",
            "pullrequestreview-22"
        ]
    );
    let commit = |id: u64| format!("{:040x}", 0xc0ffee_u64 + id);
    assert_eq!(
        got[3].1,
        json!({
            "pull_request": key(8), "id": 22, "state": "APPROVED", "author": "user-r", "body": "",
            "submitted_at": ms(4), "commit_id": commit(22), "author_association": "COLLABORATOR",
            "url": format!("https://github.com/{}/pull/8#pullrequestreview-22", super::fake::REPOSITORY),
        })
    );
    assert_eq!(got[1].1["state"], "CHANGES_REQUESTED");
    assert_eq!(got[1].1["body"], "Needs a test for PROJ-7.");
    assert_eq!(got[1].1["pull_request"], key(9));
    assert_eq!(got[0].1["state"], "DISMISSED");
    assert_eq!(got[0].1["author"], "user-e");
    assert_eq!(got[2].1["state"], "COMMENTED");
    github.assert_conforms();
}

#[test]
fn a_run_reads_the_reviews_of_changed_pull_requests_only() {
    let Some(github) = start(sample) else { return };
    let cfg = config(100);
    let (_, state) = read_run(&github, &cfg, "reviews", None);
    // A new approval on #9 moves the pull request's updated_at, as on GitHub.
    github.with(|d| {
        let approval = review(
            &super::openapi::description().expect("loaded"),
            26,
            9,
            "user-a",
            "APPROVED",
            "",
            20,
        );
        d.reviews.push(approval);
        let p = d.pulls.iter_mut().find(|p| p["number"] == 9).expect("#9");
        p["updated_at"] = json!(at(20));
    });
    let before = github.requests().len();
    let (records, state) = read_run(&github, &cfg, "reviews", Some(&state));
    assert_eq!(
        ids(&records),
        ["pullrequestreview-23", "pullrequestreview-26"],
        "#9's reviews, again in full; nothing of #8 or #10"
    );
    let paths: Vec<String> = github.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let repo = format!("/repos/{}", super::fake::REPOSITORY);
    assert_eq!(
        paths,
        [format!("{repo}/pulls"), format!("{repo}/pulls/9/reviews")]
    );
    // Nothing changed since: one conditional request, answered 304.
    let (_, state) = read_run(&github, &cfg, "reviews", Some(&state));
    let before = github.requests().len();
    let not_modified = github.with(|d| d.not_modified);
    let (none, _) = read_run(&github, &cfg, "reviews", Some(&state));
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(github.requests().len() - before, 1);
    assert_eq!(github.with(|d| d.not_modified) - not_modified, 1);
    github.assert_conforms();
}

#[test]
fn reviews_are_paged_and_a_page_makes_a_bounded_number_of_requests() {
    let pulls = REVIEW_REQUESTS_PER_PAGE as u64 + 2;
    let Some(github) = start(|api| {
        let mut data = Data::default();
        for n in 1..=pulls {
            let (p, i) = pull(api, n, &format!("Pull {n}"), "", n as u32);
            data.pulls.push(p);
            data.issues.push(i);
            data.reviews
                .push(review(api, 100 + n, n, "user-r", "APPROVED", "", 30));
        }
        // Three reviews on #1: two pages of two.
        for id in [200, 201] {
            data.reviews
                .push(review(api, id, 1, "user-c", "COMMENTED", "more", 31));
        }
        data
    }) else {
        return;
    };
    let h = harness(&github);
    // Reads a whole run: the review requests of each page, and the reviews' ids, sorted.
    let run = |per_page: u32| {
        let cfg = config(per_page);
        let mut state: Option<String> = None;
        let (mut asked, mut all) = (Vec::new(), Vec::new());
        loop {
            let before = github.requests().len();
            let page = h.read(&cfg, "reviews", state.as_deref()).expect("a page");
            asked.push(
                github.requests()[before..]
                    .iter()
                    .filter(|r| r.path.ends_with("/reviews"))
                    .count(),
            );
            all.extend(ids(&page.records));
            state = Some(page.state);
            if !page.has_more {
                break;
            }
        }
        all.sort();
        (asked, all)
    };
    let mut want: Vec<String> = (1..=pulls)
        .map(|n| 100 + n)
        .chain([200, 201])
        .map(|id| format!("pullrequestreview-{id}"))
        .collect();
    want.sort();
    // One page lists the twelve pull requests; the next reads ten of them, the last two.
    let (asked, all) = run(100);
    assert_eq!(all, want, "every review once");
    assert_eq!(asked, [0, REVIEW_REQUESTS_PER_PAGE, 2]);
    // Two a page: #1's three reviews are two pages of GitHub's list.
    let before = github.requests().len();
    let (asked, all) = run(2);
    assert_eq!(all, want, "every review once");
    assert!(
        asked.iter().all(|n| *n <= REVIEW_REQUESTS_PER_PAGE),
        "{asked:?}"
    );
    let pages: Vec<Option<String>> = github.requests()[before..]
        .iter()
        .filter(|r| r.path.ends_with("/pulls/1/reviews"))
        .map(|r| r.query("page").map(str::to_owned))
        .collect();
    assert_eq!(pages, [None, Some("2".to_owned())]);
    github.assert_conforms();
}

#[test]
fn people_are_also_the_commenters_and_the_reviewers() {
    let Some(github) = start(sample) else { return };
    let (records, state) = read_run(&github, &config(2), "people", None);
    let mut got = ids(&records);
    got.sort();
    // user-f only commented, user-r and user-e only reviewed; user-p's review is pending.
    assert_eq!(
        got,
        ["user-a", "user-b", "user-c", "user-e", "user-f", "user-r"]
    );
    for record in &records {
        let RecordData::Person(p) = record else {
            panic!("{record:?}")
        };
        assert_eq!(
            (p.display_name.as_str(), p.email.as_deref(), p.active),
            (p.external_id.as_str(), None, true)
        );
    }
    // A new commenter arrives by the next run, and nobody else.
    github.with(|d| {
        let api = super::openapi::description().expect("loaded");
        let mut c = super::review_comment(&api, 14, 10, "nit", 40);
        c["user"] = super::user(&api, "user-g");
        d.review_comments.push(c);
    });
    let (records, _) = read_run(&github, &config(2), "people", Some(&state));
    assert_eq!(ids(&records), ["user-g"]);
    github.assert_conforms();
}

#[test]
fn a_failure_between_the_list_and_the_reviews_resumes_at_the_queued_pull_requests() {
    let Some(github) = start(sample) else { return };
    let h = harness(&github);
    let cfg = config(100);
    // The first page lists the pull requests and queues them; the next asks for reviews.
    let listed = h.read(&cfg, "reviews", None).expect("the list");
    assert!(listed.has_more && listed.records.is_empty());
    github.fail_next(super::fake::error(502, "Bad Gateway"));
    assert!(matches!(
        h.read(&cfg, "reviews", Some(&listed.state)),
        Err(agentic_sdk::Error::Transient(_))
    ));
    // From the same state, the queued pull requests' reviews, without listing them again.
    let before = github.requests().len();
    let rest = h
        .read_all(&cfg, "reviews", Some(&listed.state))
        .expect("the rest");
    let got: Vec<String> = rest.iter().flat_map(|p| ids(&p.records)).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(github.requests()[before..]
        .iter()
        .all(|r| r.path.ends_with("/reviews")));
    github.assert_conforms();
}
