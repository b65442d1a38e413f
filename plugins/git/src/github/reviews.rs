//! Pull request reviews (approvals, change requests, review summaries), for the `reviews`
//! stream and the reviewers in `people`.
//!
//! GitHub has no repository-wide list of reviews: only
//! `GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews`, one pull request at a time, in
//! chronological order, paged with `Link` headers. So a run walks the pulls list newest first
//! down to the last run's newest ([`Descending`], with its ETag: an unchanged repository costs
//! one `304`), queues the pull requests it names as new or changed (a submitted review moves
//! its pull request's `updated_at`), and reads each one's reviews, at most
//! [`REVIEW_REQUESTS_PER_PAGE`] requests a page so that one call stays short however many pull
//! requests changed. A pull request's reviews are read whole, every page of them: a review has
//! no update time to ask from, and a pull request with more than a few pages of them is rare.
//! The queue is in the state, so a sync killed at any page resumes at the pull request it was
//! reading.

use agentic_sdk::http::{endpoint, Request};
use agentic_sdk::paging::resume;
use agentic_sdk::{Error, Page, RecordData};
use serde::{Deserialize, Serialize};

use super::model::{self, Review};
use super::state::{is_one, not, one, Descending};
use super::{get, json, pulls_page, repo_path, Pending};
use crate::config::Config;

/// Requests for reviews one page (one call of `read`) makes at most.
pub const REVIEW_REQUESTS_PER_PAGE: usize = 10;

/// Where a walk over the reviews of new and changed pull requests stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewWalk {
    /// The pulls list, newest first down to the last run's newest.
    #[serde(default)]
    pulls: Descending,
    /// More pages of the pulls list follow in this run.
    #[serde(default, skip_serializing_if = "not")]
    listing: bool,
    /// Numbers of the pull requests whose reviews are still to read, the first being read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queue: Vec<u64>,
    /// The page of the first queued pull request's reviews.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    page: u32,
}

impl Default for ReviewWalk {
    fn default() -> Self {
        Self {
            pulls: Descending::default(),
            listing: false,
            queue: Vec::new(),
            page: 1,
        }
    }
}

impl ReviewWalk {
    /// One step of the walk: with pull requests queued, their reviews (at most
    /// [`REVIEW_REQUESTS_PER_PAGE`] requests); else the next page of the pulls list, queued.
    /// Returns the submitted reviews read, each with its pull request's number, and whether
    /// the run goes on.
    pub fn step(&mut self, config: &Config) -> Result<(Vec<(u64, Review)>, bool), Error> {
        let mut read = Vec::new();
        if self.queue.is_empty() {
            let (pulls, next, more) = pulls_page(config, &self.pulls)?;
            self.pulls = next;
            self.listing = more;
            self.queue = pulls.iter().map(|p| p.number).collect();
        } else {
            let mut requests = 0;
            while let Some(&number) = self.queue.first() {
                if requests == REVIEW_REQUESTS_PER_PAGE {
                    break;
                }
                requests += 1;
                let (reviews, more) = self.reviews(config, number)?;
                read.extend(
                    reviews
                        .into_iter()
                        .filter(|r| !r.is_pending())
                        .map(|r| (number, r)),
                );
                if more {
                    self.page += 1;
                } else {
                    self.queue.remove(0);
                    self.page = 1;
                }
            }
        }
        Ok((read, self.listing || !self.queue.is_empty()))
    }

    /// A page of pull request `number`'s reviews, and whether another follows.
    fn reviews(&self, config: &Config, number: u64) -> Result<(Vec<Review>, bool), Error> {
        let mut request = Request::get(endpoint(&format!(
            "{}/pulls/{number}/reviews",
            repo_path(config)?
        ))?)
        .query("per_page", config.per_page.to_string());
        if self.page > 1 {
            request = request.query("page", self.page.to_string());
        }
        let response = get(config, &request.url, None)?.ok_or_else(|| {
            Error::Internal(format!(
                "GET {}: 304 to an unconditional request",
                request.url
            ))
        })?;
        let reviews: Vec<Review> = json(&response)?;
        let more = response.next_link().is_some() && !reviews.is_empty();
        Ok((reviews, more))
    }
}

/// The `reviews` stream: a page of the walk, each submitted review a raw record.
pub fn read(config: &Config, state: Option<&str>) -> Result<Page, Error> {
    let repository = config.repository.clone().unwrap_or_default();
    let mut walk: ReviewWalk = resume(state)?;
    let (reviews, more) = walk.step(config)?;
    let records: Vec<RecordData> = reviews
        .iter()
        .map(|(number, r)| model::review(&repository, *number, r))
        .collect();
    Ok(Pending::new(&walk, more)?.with(records))
}
