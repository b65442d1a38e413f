//! The `events` stream: time zones, all-day events, recurring events expanded or not, sync
//! tokens, and a `410 Gone` that restarts the calendar without losing or repeating a record.

use std::collections::BTreeMap;

use agentic_sdk::RecordData;
use fake_google::data::{Event, When};
use serde_json::json;

use crate::files::read_documents;
use crate::support::Fake;

#[test]
fn events_sync_with_time_zones_all_day_and_recurrences() {
    let fake = Fake::start(0);
    let config = json!({"scope": "all", "page_size": 3});
    let (docs, _) = read_documents(&fake, &config, "events", None);
    // Seven events, the daily one expanded into its three occurrences.
    assert_eq!(docs.len(), 9, "{:?}", docs.keys());
    let all_day = &docs["primary/evt2abc"];
    assert_eq!(all_day.attributes["all_day"], true);
    assert_eq!(all_day.attributes["start"], "2026-01-12");
    assert_eq!(
        all_day.attributes["end"], "2026-01-14",
        "Google's end date is exclusive"
    );
    assert_eq!(all_day.attributes["start_ms"], 1_768_176_000_000_i64);
    // 2026-01-11 14:00 UTC is 09:00 in New York (UTC-5).
    let standup = &docs["primary/evt4abc_20260111T140000Z"];
    assert_eq!(standup.attributes["start"], "2026-01-11T09:00:00-05:00");
    assert_eq!(standup.attributes["start_ms"], 1_768_140_000_000_i64);
    assert_eq!(standup.attributes["recurring_event_id"], "evt4abc");
    assert!(docs.contains_key("primary/evt4abc_20260113T140000Z"));
    let first = &docs["primary/evt1abc"];
    assert_eq!(first.title, "Отчёт 2026 (финал) meeting");
    assert_eq!(first.body, "Agenda:\n1. Budget");
    assert_eq!(first.author.as_deref(), Some("user1@example.com"));
    assert_eq!(
        first.attributes["attendees"][0],
        json!({"email": "user2@example.com", "name": "李小龍", "response": "needsAction"})
    );
    assert_eq!(docs["primary/evt5abc"].attributes["status"], "tentative");

    // Not expanded: one record per series, with its rule.
    let (series, _) = read_documents(
        &fake,
        &json!({"scope": "all", "expand_recurring": false}),
        "events",
        None,
    );
    assert_eq!(series.len(), 7);
    assert_eq!(
        series["primary/evt4abc"].attributes["recurrence"],
        json!(["RRULE:FREQ=DAILY;COUNT=3"])
    );
    fake.assert_no_violations();
}

#[test]
fn sync_tokens_bring_changes_and_a_410_restarts_the_calendar_in_full() {
    let fake = Fake::start(0);
    let config = json!({"scope": "all", "page_size": 4});
    let (mut all, state) = read_documents(&fake, &config, "events", None);
    fake.google.with(|d| {
        d.edit_event("primary", "evt0abc", |e| e.summary = "Moved".into());
        d.edit_event("primary", "evt3abc", |e| e.status = "cancelled".into());
    });
    let (changed, state) = read_documents(&fake, &config, "events", Some(&state));
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        ["primary/evt0abc", "primary/evt3abc"]
    );
    assert_eq!(changed["primary/evt0abc"].title, "Moved");
    assert_eq!(changed["primary/evt3abc"].attributes["status"], "cancelled");
    let seen = fake.google.seen();
    assert!(seen.last().expect("a request").query("syncToken").is_some());
    all.extend(changed);

    // The token expires while more changes happen: the calendar is read again in full.
    fake.google.with(|d| {
        d.expire_sync_tokens("primary");
        d.edit_event("primary", "evt1abc", |e| {
            e.summary = "Renamed after expiry".into()
        });
        d.edit_event("primary", "evt6abc", |e| e.status = "cancelled".into());
        d.add_event(
            "primary",
            Event {
                id: "evtnew".into(),
                summary: "New".into(),
                description: String::new(),
                start: When::Day("2026-02-01".into()),
                end: When::Day("2026-02-02".into()),
                status: "confirmed".into(),
                organizer: 0,
                attendees: vec![],
                updated: 0,
                recurrence: None,
                seq: 0,
            },
        );
    });
    let pages = fake
        .harness
        .read_all(&config, "events", Some(&state))
        .expect("restarts instead of failing");
    let mut after: BTreeMap<String, _> = BTreeMap::new();
    for page in &pages {
        for r in &page.records {
            let RecordData::Document(d) = r else { panic!() };
            assert!(
                after.insert(d.external_id.clone(), d.clone()).is_none(),
                "{} repeated",
                d.external_id
            );
        }
    }
    assert!(after.contains_key("primary/evtnew"));
    assert_eq!(after["primary/evt1abc"].title, "Renamed after expiry");
    assert_eq!(
        after["primary/evt6abc"].attributes["status"], "cancelled",
        "deleted meanwhile, still seen"
    );
    all.extend(after);
    let live = all
        .values()
        .filter(|d| d.attributes["status"] != "cancelled")
        .count();
    assert_eq!(
        live,
        9 - 2 + 1,
        "nothing lost: 9 records, two cancelled, one new"
    );
    fake.assert_no_violations();
}
