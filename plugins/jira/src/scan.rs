//! Incremental reading of issues, which the issue, comment, link and history streams share.
//!
//! A *run* searches `updated >= <from>` ordered by `updated, key`, page after page (Cloud:
//! `nextPageToken`; Data Center: keyset on the last page's minute plus an offset within it, so
//! that issues changing meanwhile cannot shift pages). Between runs the state keeps a high-water
//! mark: the next run searches from a little before the last change seen (the overlap window,
//! floored to JQL's whole minutes, written in the JIRA user's time zone as JQL wants), and skips
//! what it already read: issues updated before the window's start, and issues in the window it
//! remembers at the same `updated`. So no page repeats an issue, a resumed run continues where it
//! stopped, and a change indexed late within the window is still picked up.
//!
//! The state is JSON: `{"v":1,"hw":…,"floor":…,"tz":…,"seen":[[id,ms after floor]…],"run":{…}}`,
//! a few hundred bytes in steady state; `seen` is capped at [`MAX_SEEN`] issues (when more
//! changed within one window, the window shrinks to the newest of them).

use agentic_sdk::serde_json::Value;
use agentic_sdk::{log, Error, LogLevel};
use serde::{Deserialize, Serialize};

use crate::api::{Jira, SearchRequest};
use crate::config::Config;
use crate::time::{self, floor_minute};

/// Most issues remembered in the overlap window.
pub const MAX_SEEN: usize = 200;

/// Where a stream reading issues stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanState {
    /// Highest `updated` read (Unix ms).
    pub hw: Option<i64>,
    /// Issues updated before this are not read again (Unix ms).
    pub floor: Option<i64>,
    /// The JIRA user's UTC offset in minutes, from the last timestamp read.
    pub tz: i32,
    /// Issues read that were updated at or after `floor`: id and `updated`.
    pub seen: Vec<(String, i64)>,
    /// The run in progress.
    pub run: Option<Run>,
}

/// A run in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Changes before this were read by earlier runs (Unix ms; `None`: everything is new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// The search's lower bound (Unix ms, a whole minute; `None`: no bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Cloud: the next page's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Data Center: issues to skip at `from`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub at: u64,
    /// Issues read so far in this run.
    #[serde(default)]
    pub n: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The state as stored: `seen` times relative to `floor`, empty parts left out.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hw: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    floor: Option<i64>,
    #[serde(default)]
    tz: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seen: Vec<(String, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<Run>,
}

impl ScanState {
    /// Reads a stored state (`None`: a full read from the start).
    pub fn parse(state: Option<&str>) -> Result<Self, Error> {
        let Some(text) = state else {
            return Ok(Self::default());
        };
        let wire: Wire = serde_json::from_str(text).map_err(|e| {
            Error::InvalidInput(format!("state {text:?} is not this stream's: {e}"))
        })?;
        if wire.v != 1 {
            return Err(Error::InvalidInput(format!(
                "state version {} is not known",
                wire.v
            )));
        }
        let base = wire.floor.unwrap_or(0);
        Ok(Self {
            hw: wire.hw,
            floor: wire.floor,
            tz: wire.tz,
            seen: wire
                .seen
                .into_iter()
                .map(|(id, delta)| (id, base.saturating_add(delta)))
                .collect(),
            run: wire.run,
        })
    }

    /// The state as stored.
    pub fn to_text(&self) -> String {
        let base = self.floor.unwrap_or(0);
        let wire = Wire {
            v: 1,
            hw: self.hw,
            floor: self.floor,
            tz: self.tz,
            seen: self
                .seen
                .iter()
                .map(|(id, at)| (id.clone(), at - base))
                .collect(),
            run: self.run.clone(),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Whether an issue updated at `updated` is new to this stream; remembers it if so.
    fn admit(&mut self, id: &str, updated: i64) -> bool {
        if self.floor.is_some_and(|f| updated < f) {
            return false;
        }
        match self.seen.iter_mut().find(|(seen, _)| seen == id) {
            Some((_, at)) if *at == updated => return false,
            Some((_, at)) => *at = updated,
            None => self.seen.push((id.to_owned(), updated)),
        }
        self.hw = Some(self.hw.map_or(updated, |hw| hw.max(updated)));
        true
    }

    /// Moves the window up to the high-water mark and forgets what fell out of it.
    fn slide(&mut self, overlap_ms: i64) {
        if let Some(hw) = self.hw {
            let start = hw - overlap_ms;
            self.floor = Some(self.floor.map_or(start, |f| f.max(start)));
        }
        if let Some(floor) = self.floor {
            self.seen.retain(|(_, at)| *at >= floor);
        }
        if self.seen.len() > MAX_SEEN {
            // Keep the newest, never splitting issues updated at the same instant.
            self.seen.sort_by_key(|(_, at)| *at);
            let cut = self.seen[self.seen.len() - MAX_SEEN].1;
            self.seen.retain(|(_, at)| *at >= cut);
            self.floor = Some(cut);
        }
        self.seen
            .sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    }
}

/// What a stream reads of each issue.
#[derive(Debug, Clone)]
pub struct Want {
    /// Fields to return.
    pub fields: Vec<String>,
    /// `changelog` for histories.
    pub expand: Option<&'static str>,
    /// Most issues per page, below the configured page size (heavy expansions).
    pub max_page: Option<u32>,
}

/// One page of a scan.
#[derive(Debug)]
pub struct ScanPage {
    /// Issues new to the stream.
    pub issues: Vec<Value>,
    /// Changes before this were read by earlier runs (for comments and histories).
    pub since: Option<i64>,
    /// The state after this page.
    pub state: ScanState,
    /// Whether the run goes on.
    pub has_more: bool,
    /// The state this page was read from (nothing of it admitted, the same search position),
    /// for [`ScanPage::partial`].
    resume: ScanState,
    overlap_ms: i64,
}

impl ScanPage {
    /// The state after the first `done` of [`ScanPage::issues`] only: they count as read, and
    /// the same search page is asked for again, where they are skipped as already seen. A
    /// stream that reads more per issue (comments, histories) returns this when a rate limit
    /// or a failure stops it midway, so what it read is kept instead of the page being thrown
    /// away and read again in full (which, under a tight rate limit, never finishes).
    pub fn partial(&self, done: usize) -> ScanState {
        let mut state = self.resume.clone();
        for issue in self.issues.iter().take(done) {
            if let Some(stamp) = updated(issue) {
                state.tz = stamp.offset_minutes;
                state.admit(&issue_id(issue), stamp.millis);
            }
        }
        state.slide(self.overlap_ms);
        state
    }
}

/// The JQL of a run searching from `from`.
pub fn jql(config: &Config, from: Option<i64>, tz: i32) -> String {
    let mut clauses: Vec<String> = config.scope().into_iter().collect();
    match from {
        Some(ms) => clauses.push(format!("updated >= \"{}\"", time::jql_date(ms, tz))),
        // JIRA Cloud refuses unbounded searches.
        None if clauses.is_empty() => clauses.push("updated >= \"1970-01-01 00:00\"".into()),
        None => {}
    }
    format!("{} ORDER BY updated ASC, key ASC", clauses.join(" AND "))
}

/// `updated` of an issue, if it has a readable one.
pub fn updated(issue: &Value) -> Option<time::Stamp> {
    match &issue["fields"]["updated"] {
        Value::String(s) => time::parse(s),
        Value::Number(n) => n.as_i64().map(|millis| time::Stamp {
            millis,
            offset_minutes: 0,
        }),
        _ => None,
    }
}

/// The id of an issue as text.
pub fn issue_id(issue: &Value) -> String {
    match &issue["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Reads the next page of issues for a stream at `state`.
pub fn read(config: &Config, state: Option<&str>, want: &Want) -> Result<ScanPage, Error> {
    let jira = Jira::new(config);
    let mut state = ScanState::parse(state)?;
    let mut run = state.run.take().unwrap_or_else(|| Run {
        since: state.floor,
        from: state.floor.map(floor_minute),
        ..Run::default()
    });
    let mut search = SearchRequest {
        jql: jql(config, run.from, state.tz),
        fields: want.fields.clone(),
        expand: want.expand,
        max_results: want
            .max_page
            .map_or(config.page_size(), |max| config.page_size().min(max)),
        next_page_token: run.token.clone(),
        start_at: run.at,
    };
    let page = match jira.search(&search) {
        Err(Error::InvalidInput(why)) if run.token.is_some() => {
            // Page tokens expire (after 7 days): search again from the window.
            log(
                LogLevel::Warn,
                &format!("the search's page token was refused, searching again: {why}"),
            );
            run.token = None;
            run.from = state.floor.map(floor_minute);
            search.jql = jql(config, run.from, state.tz);
            search.next_page_token = None;
            jira.search(&search)?
        }
        other => other?,
    };
    let count = page.issues.len() as u64;
    let mut resume = state.clone();
    resume.run = Some(run.clone());
    let stamps: Vec<Option<time::Stamp>> = page.issues.iter().map(updated).collect();
    let mut issues = Vec::with_capacity(page.issues.len());
    for (issue, stamp) in page.issues.into_iter().zip(&stamps) {
        let Some(stamp) = stamp else {
            issues.push(issue);
            continue;
        };
        state.tz = stamp.offset_minutes;
        if state.admit(&issue_id(&issue), stamp.millis) {
            issues.push(issue);
        }
    }
    state.slide(config.overlap_ms());
    run.n += count;
    let has_more = if config.is_cloud() {
        match page.next_page_token {
            Some(token) if count > 0 || run.token.as_deref() != Some(token.as_str()) => {
                run.token = Some(token);
                true
            }
            _ => false,
        }
    } else {
        // Without a total (JIRA always sends one), a full page means there may be more.
        let done = match page.total {
            Some(total) => run.at + count >= total,
            None => count < u64::from(search.max_results),
        };
        if count == 0 || done {
            false
        } else {
            // Keyset: continue from the last issue's minute, skipping those read in it.
            let last = stamps
                .last()
                .copied()
                .flatten()
                .map(|s| floor_minute(s.millis));
            match last {
                Some(minute) if Some(minute) != run.from => {
                    let read_in_minute = stamps
                        .iter()
                        .filter(|s| s.is_some_and(|s| floor_minute(s.millis) == minute))
                        .count() as u64;
                    run.from = Some(minute);
                    run.at = read_in_minute;
                }
                _ => run.at += count,
            }
            true
        }
    };
    let since = run.since;
    agentic_sdk::progress(run.n, None, "issues read");
    state.run = has_more.then_some(run);
    Ok(ScanPage {
        issues,
        since,
        state,
        has_more,
        resume,
        overlap_ms: config.overlap_ms(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips_compactly() {
        let state = ScanState {
            hw: Some(1_700_000_300_000),
            floor: Some(1_700_000_000_000),
            tz: 60,
            seen: vec![("10001".into(), 1_700_000_100_000)],
            run: Some(Run {
                since: Some(1_700_000_000_000),
                token: Some("t".into()),
                n: 3,
                ..Run::default()
            }),
        };
        let text = state.to_text();
        assert_eq!(
            text,
            r#"{"v":1,"hw":1700000300000,"floor":1700000000000,"tz":60,"seen":[["10001",100000]],"run":{"since":1700000000000,"token":"t","n":3}}"#
        );
        assert_eq!(ScanState::parse(Some(&text)), Ok(state));
        assert!(matches!(
            ScanState::parse(Some("7")),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            ScanState::parse(Some(r#"{"v":2}"#)),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn the_window_skips_what_was_read_and_stays_bounded() {
        let mut s = ScanState::default();
        assert!(s.admit("1", 1_000));
        assert!(
            !s.admit("1", 1_000),
            "same issue, same update: read already"
        );
        assert!(s.admit("1", 2_000), "updated again");
        assert!(s.admit("2", 500_000));
        s.slide(60_000);
        assert_eq!(s.floor, Some(440_000));
        assert_eq!(s.seen, [("2".to_owned(), 500_000)]);
        assert!(!s.admit("3", 439_999), "before the window");
        for i in 0..(MAX_SEEN as i64 + 50) {
            assert!(s.admit(&format!("n{i}"), 450_000 + i));
        }
        s.slide(60_000);
        assert_eq!(s.seen.len(), MAX_SEEN);
        assert_eq!(s.floor, Some(450_000 + 51));
        assert!(s.to_text().len() < 6_000, "{}", s.to_text().len());
    }

    #[test]
    fn runs_search_from_the_window_in_the_users_zone() {
        let config: Config = serde_json::from_value(serde_json::json!({
            "deployment": "cloud", "projects": ["ED"]}))
        .expect("config");
        assert_eq!(
            jql(&config, Some(1_610_886_840_000), 120),
            "project in (\"ED\") AND updated >= \"2021-01-17 14:34\" ORDER BY updated ASC, key ASC"
        );
        let unscoped: Config = serde_json::from_value(serde_json::json!({
            "deployment": "cloud"}))
        .expect("config");
        assert_eq!(
            jql(&unscoped, None, 0),
            "updated >= \"1970-01-01 00:00\" ORDER BY updated ASC, key ASC"
        );
    }
}
