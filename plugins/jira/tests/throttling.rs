//! A tight rate limit in the middle of a page loses nothing and does not stop progress: the
//! `comments` stream reads one more request per issue, so a page of 10 issues needs 11 requests;
//! with every 7th refused, a page read whole never finishes. The connector returns what it read
//! before the refusal and comes back for the rest, as the host calls it again.

use crate::support;

use std::collections::BTreeSet;

use agentic_sdk::Error;
use support::{Deployment, FakeJira, T0};

#[test]
fn a_rate_limit_every_seventh_request_still_reads_every_comment_once() {
    for mode in [Deployment::Cloud, Deployment::DataCenter] {
        let jira = FakeJira::start(mode, 30);
        // Every issue gets more comments than a search shows: one more request each.
        let expected = jira.with(|d| {
            let ids: Vec<u64> = d.issues.iter().map(|i| i.id).collect();
            for (n, id) in ids.into_iter().enumerate() {
                for k in 0..6 {
                    d.comment(
                        id,
                        T0 + 7_200_000 + (n as i64) * 1_000 + k,
                        &format!("extra {k}"),
                    );
                }
            }
            d.throttle_every = Some(7);
            d.issues.iter().map(|i| i.comments.len()).sum::<usize>()
        });
        let h = jira.harness();
        let config = jira.config(10);
        let (mut state, mut ids, mut reads, mut limited) = (None::<String>, Vec::new(), 0, 0);
        loop {
            reads += 1;
            assert!(
                reads < 200,
                "{mode:?}: no end after {reads} reads ({} comments)",
                ids.len()
            );
            match h.read(&config, "comments", state.as_deref()) {
                Ok(page) => {
                    ids.extend(page.records.iter().map(|r| r.external_id().to_owned()));
                    state = Some(page.state);
                    if !page.has_more {
                        break;
                    }
                }
                // The host waits as asked and calls again with the same state.
                Err(Error::RateLimited {
                    retry_after_secs, ..
                }) => {
                    assert_eq!(retry_after_secs, 1);
                    limited += 1;
                }
                Err(other) => panic!("{mode:?}: {other:?}"),
            }
        }
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{mode:?}: a comment came twice");
        assert_eq!(ids.len(), expected, "{mode:?}: comments lost");
        assert!(limited > 0, "{mode:?}: the fake never throttled");
        jira.assert_valid();
    }
}
