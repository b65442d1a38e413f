//! The suite's read checks (5, 6 and 9 of the list in [`super`]): each discovered stream read to
//! its end, its records checked against the stream, the read resumed from every intermediate
//! state and compared with the full read, and the full read compared with
//! [`Acceptance::expected`](super::Acceptance::expected). What the connector declares (spec,
//! manifest, configurations, not-found, invocations) is checked in the parent module.

use std::collections::HashSet;

use super::{Expected, StreamReport, Suite};
use crate::connector::Connector;
use crate::error::Error;
use crate::testing::{read_to_end, validate, DEFAULT_MAX_PAGES};
use crate::types::{Page, StreamSpec};

/// At most this many external ids are quoted in one failure.
const QUOTED_IDS: usize = 5;
/// At most this many schema violations are reported per stream.
const REPORTED_VIOLATIONS: usize = 5;

impl<C: Connector> Suite<'_, C> {
    pub(super) fn read_to_end(
        &self,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Vec<Page>, Error> {
        let max = self.acceptance.max_pages.unwrap_or(DEFAULT_MAX_PAGES);
        read_to_end(self.harness, &self.acceptance.config, stream, state, max)
    }

    /// Full read, record checks and resumption of one stream.
    pub(super) fn check_reads(&mut self, stream: &StreamSpec) -> Option<StreamReport> {
        let name = &stream.name;
        let pages = match self.read_to_end(name, None) {
            Ok(pages) => pages,
            Err(e) => {
                self.fail(format!("stream `{name}`: full read failed: {e}"));
                return None;
            }
        };
        let ids: Vec<&str> = pages
            .iter()
            .flat_map(|p| p.records.iter().map(|r| r.external_id()))
            .collect();
        self.check_records(stream, &pages);
        self.check_expected(name, &ids);
        let repeated = repeated(&ids);
        if !repeated.is_empty() {
            self.fail(format!(
                "stream `{name}`: the full read returns records more than once: {}",
                quote(&repeated)
            ));
        }

        // Resume from the state of every page but the last, as a sync killed there would.
        let mut read_before = 0;
        for (index, page) in pages.iter().enumerate().take(pages.len().saturating_sub(1)) {
            read_before += page.records.len();
            let context = format!(
                "stream `{name}`: resuming from state {:?} (after page {})",
                page.state,
                index + 1
            );
            self.check_resumption(
                name,
                &context,
                &page.state,
                &ids[..read_before],
                &ids[read_before..],
                None,
            );
        }
        if stream.incremental {
            if let Some(last) = pages.last() {
                let context = format!(
                    "stream `{name}`: an incremental read again from the final state {:?}",
                    last.state
                );
                // The usual cause: paging whose last state starts the list over (a cursor or
                // a next link, gone after the last page) on a stream declared incremental.
                let hint = "a state that starts the list over (paging::Cursor and NextLink end \
                            with one) needs a stream without `incremental()`, read in full by \
                            every sync; or page by paging::Keyset or Since";
                self.check_resumption(name, &context, &last.state, &ids, &[], Some(hint));
            }
        }
        Some(StreamReport {
            name: name.clone(),
            pages: pages.len(),
            records: ids.len(),
            resumptions: pages.len().saturating_sub(1),
        })
    }

    /// The full read against [`Acceptance::expected`].
    fn check_expected(&mut self, name: &str, ids: &[&str]) {
        let Some((_, expected)) = self.acceptance.expected.iter().find(|(s, _)| *s == name) else {
            return;
        };
        match expected {
            Expected::Count(n) if ids.len() != *n => self.fail(format!(
                "stream `{name}`: the full read returns {} records, the test expects {n} (a \
                 skipped or repeated page?)",
                ids.len()
            )),
            Expected::Ids(want) => {
                let got: HashSet<&str> = ids.iter().copied().collect();
                let want_set: HashSet<&str> = want.iter().map(String::as_str).collect();
                let mut missing: Vec<&str> = want_set.difference(&got).copied().collect();
                let mut extra: Vec<&str> = got.difference(&want_set).copied().collect();
                missing.sort_unstable();
                extra.sort_unstable();
                if !missing.is_empty() {
                    self.fail(format!(
                        "stream `{name}`: the full read misses expected records: {}",
                        quote(&missing)
                    ));
                }
                if !extra.is_empty() {
                    self.fail(format!(
                        "stream `{name}`: the full read returns records the test does not \
                         expect: {}",
                        quote(&extra)
                    ));
                }
            }
            Expected::Count(_) => {}
        }
    }

    fn check_records(&mut self, stream: &StreamSpec, pages: &[Page]) {
        let mut violations = Vec::new();
        for (index, page) in pages.iter().enumerate() {
            for gone in &page.deleted {
                if gone.external_id.is_empty() {
                    violations.push(format!(
                        "stream `{}` page {}: a deletion with an empty external id",
                        stream.name,
                        index + 1
                    ));
                }
            }
            for record in &page.records {
                let id = record.external_id();
                let at = format!("stream `{}` page {} record {id:?}", stream.name, index + 1);
                if record.kind() != stream.kind {
                    violations.push(format!(
                        "{at}: a {} record in a {} stream",
                        record.kind().as_str(),
                        stream.kind.as_str()
                    ));
                }
                if id.is_empty() {
                    violations.push(format!("{at}: empty external id"));
                }
                if let Err(problems) = validate(&stream.schema, &record.to_json()) {
                    violations.push(format!(
                        "{at}: does not match the stream schema: {}",
                        problems.join("; ")
                    ));
                }
            }
        }
        let more = violations.len().saturating_sub(REPORTED_VIOLATIONS);
        violations.truncate(REPORTED_VIOLATIONS);
        if more > 0 {
            violations.push(format!(
                "stream `{}`: {more} more record problem(s)",
                stream.name
            ));
        }
        self.failures.extend(violations);
    }

    /// Reads from `state` to the end and compares with the full read: `before` must not come
    /// again, `after` must come exactly.
    fn check_resumption(
        &mut self,
        stream: &str,
        context: &str,
        state: &str,
        before: &[&str],
        after: &[&str],
        hint_on_repeat: Option<&str>,
    ) {
        let pages = match self.read_to_end(stream, Some(state)) {
            Ok(pages) => pages,
            Err(e) => return self.fail(format!("{context}: read failed: {e}")),
        };
        let resumed: Vec<&str> = pages
            .iter()
            .flat_map(|p| p.records.iter().map(|r| r.external_id()))
            .collect();
        let resumed_set: HashSet<&str> = resumed.iter().copied().collect();
        let before: HashSet<&str> = before.iter().copied().collect();
        let after_set: HashSet<&str> = after.iter().copied().collect();
        let mut problems = Vec::new();
        let again: Vec<&str> = resumed
            .iter()
            .copied()
            .filter(|id| before.contains(id))
            .collect();
        if !again.is_empty() {
            problems.push(format!("repeats records already read: {}", quote(&again)));
            problems.extend(hint_on_repeat.map(str::to_owned));
        }
        let missing: Vec<&str> = after
            .iter()
            .copied()
            .filter(|id| !resumed_set.contains(id))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("skips records: {}", quote(&missing)));
        }
        let unknown: Vec<&str> = resumed
            .iter()
            .copied()
            .filter(|id| !before.contains(id) && !after_set.contains(id))
            .collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "returns records the full read did not: {}",
                quote(&unknown)
            ));
        }
        let twice = repeated(&resumed);
        if !twice.is_empty() {
            problems.push(format!("returns records twice: {}", quote(&twice)));
        }
        if !problems.is_empty() {
            self.fail(format!("{context}: {}", problems.join("; ")));
        }
    }
}

fn repeated<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let mut repeated: Vec<&str> = ids.iter().copied().filter(|id| !seen.insert(*id)).collect();
    repeated.dedup();
    repeated
}

fn quote(ids: &[&str]) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(QUOTED_IDS)
        .map(|id| format!("{id:?}"))
        .collect();
    if ids.len() > QUOTED_IDS {
        format!("{} … ({} in all)", shown.join(", "), ids.len())
    } else {
        shown.join(", ")
    }
}
