//! DOORS Next's Tracked Resource Set against the fake: discovery from `rootservices`, a first
//! run that reads the base (paged) and gives what the OSLC queries give, later runs that walk
//! the change log back to the cutoff and apply its events oldest first (a Deletion reported as
//! the deletion of its requirement), the cutoff kept in the state across runs, and a truncated
//! change log answered by reading the base again.

use agentic_sdk::testing::Harness;
use agentic_sdk::{Page, RecordData, RecordKind, Requirement};
use doors::DoorsConnector;
use serde_json::{json, Value};

use crate::support::jazz::{FakeDoorsNext, PROJECT_AREA};

fn config(page_size: u32) -> Value {
    json!({"source": "doors-next", "project_areas": [PROJECT_AREA], "page_size": page_size})
}

fn requirements(pages: &[Page]) -> Vec<Requirement> {
    pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| match r {
            RecordData::Requirement(r) => r.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn sorted(mut records: Vec<RecordData>) -> Vec<RecordData> {
    records.sort_by(|a, b| a.external_id().cmp(b.external_id()));
    records
}

fn records(pages: &[Page]) -> Vec<RecordData> {
    sorted(pages.iter().flat_map(|p| p.records.clone()).collect())
}

/// A run from `state`: its requirements and the state it ends with.
fn run(h: &Harness<DoorsConnector>, page_size: u32, state: &str) -> (Vec<Requirement>, String) {
    let pages = h
        .read_all(&config(page_size), "oslc-requirements", Some(state))
        .unwrap();
    (requirements(&pages), pages.last().unwrap().state.clone())
}

#[test]
fn a_first_run_reads_the_base_and_gives_what_the_queries_give() {
    let dn = FakeDoorsNext::start(12);
    let h = Harness::new(DoorsConnector).with_base_url(dn.base_url());
    let by_query = records(&h.read_all(&config(5), "oslc-requirements", None).unwrap());
    let links_by_query = records(&h.read_all(&config(5), "oslc-links", None).unwrap());
    dn.enable_trs(5, 4);
    let queries = dn.queries().len();
    let pages = h.read_all(&config(3), "oslc-requirements", None).unwrap();
    assert_eq!(
        records(&pages),
        by_query,
        "the same requirements, field by field"
    );
    assert_eq!(
        dn.queries().len(),
        queries,
        "no OSLC query: the TRS is used"
    );
    let base: Vec<String> = dn
        .requests("/rm/trs2/base")
        .iter()
        .map(|r| r.query("page").unwrap_or("0").to_owned())
        .collect();
    assert_eq!(
        base,
        ["0", "0", "1", "1", "2", "2"],
        "3 base pages of 4 members, 3 members a read"
    );
    let state: Value = serde_json::from_str(&pages.last().unwrap().state).unwrap();
    assert_eq!(
        state["trs"]["cutoff"]["order"],
        json!(12),
        "the newest event when the run began"
    );
    let links = records(&h.read_all(&config(5), "oslc-links", None).unwrap());
    assert_eq!(links, links_by_query);
}

#[test]
fn edits_arrive_by_the_change_log_oldest_first_and_the_cutoff_survives_runs() {
    let dn = FakeDoorsNext::start(12);
    dn.enable_trs(5, 100);
    let h = Harness::new(DoorsConnector).with_base_url(dn.base_url());
    let pages = h.read_all(&config(100), "oslc-requirements", None).unwrap();
    assert_eq!(requirements(&pages).len(), 12);
    let state = pages.last().unwrap().state.clone();
    // Nothing changed: nothing read, not even the base.
    let base_reads = dn.requests("/rm/trs2/base").len();
    let (none, state) = run(&h, 2, &state);
    assert!(none.is_empty());
    dn.modify(4, "Req04 revised");
    dn.modify(4, "Req04 revised twice");
    dn.modify(30, "Req30 new");
    dn.delete(9);
    dn.modify(2, "Req02 revised");
    let fetched = dn.requests("/rm/oslc/rm/req").len();
    // The Deletion event is reported as the deletion of requirement 9 (its resource URL).
    let pages = h
        .read_all(&config(2), "oslc-requirements", Some(&state))
        .unwrap();
    let deleted: Vec<(String, RecordKind)> = pages
        .iter()
        .flat_map(|p| p.deleted.iter())
        .map(|d| (d.external_id.clone(), d.kind))
        .collect();
    assert_eq!(deleted, [(dn.req_uri(9), RecordKind::Requirement)]);
    let links = h.read_all(&config(2), "oslc-links", Some(&state)).unwrap();
    assert!(
        links.iter().all(|p| p.deleted.is_empty()),
        "links cannot be named"
    );
    let fetched_before_run = dn.requests("/rm/oslc/rm/req").len();
    let (changed, state) = run(&h, 2, &state);
    let got: Vec<(&str, &str)> = changed
        .iter()
        .map(|r| (r.identifier.as_str(), r.title.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("4", "Req04 revised twice"),
            ("30", "Req30 new"),
            ("2", "Req02 revised")
        ],
        "oldest first, requirement 4 once, the deleted one not emitted"
    );
    assert_eq!(
        dn.requests("/rm/oslc/rm/req").len() - fetched_before_run,
        3,
        "each changed resource fetched once, the deleted one not at all"
    );
    assert!(fetched <= fetched_before_run);
    assert_eq!(
        dn.requests("/rm/trs2/base").len(),
        base_reads,
        "no base read"
    );
    let cutoff: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(cutoff["trs"]["cutoff"]["order"], json!(dn.newest_event()));
    // The next run starts after the cutoff: nothing again.
    let (none, _) = run(&h, 2, &state);
    assert!(none.is_empty());
    // A full sync (no state) reads the base, which no longer lists requirement 9 either.
    let full = requirements(&h.read_all(&config(100), "oslc-requirements", None).unwrap());
    assert_eq!(full.len(), 12);
    assert!(!full.iter().any(|r| r.identifier == "9"));
}

#[test]
fn a_truncated_change_log_is_answered_by_reading_the_base_again() {
    let dn = FakeDoorsNext::start(8);
    dn.enable_trs(3, 100);
    let h = Harness::new(DoorsConnector).with_base_url(dn.base_url());
    let pages = h.read_all(&config(100), "oslc-requirements", None).unwrap();
    let state = pages.last().unwrap().state.clone();
    dn.modify(3, "Req03 revised");
    dn.modify(5, "Req05 revised");
    // The server forgets the cutoff (event 8) and the event after it.
    dn.truncate_through(9);
    let base_reads = dn.requests("/rm/trs2/base").len();
    let (all, state) = run(&h, 100, &state);
    assert_eq!(all.len(), 8, "the whole base again");
    assert_eq!(dn.requests("/rm/trs2/base").len(), base_reads + 1);
    assert!(all.iter().any(|r| r.title == "Req03 revised"));
    let cutoff: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(cutoff["trs"]["cutoff"]["order"], json!(10));
    let (none, _) = run(&h, 100, &state);
    assert!(none.is_empty());
}
