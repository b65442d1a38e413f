//! The JIRA REST calls the connector makes, and JIRA's failures as the contract's errors.
//!
//! Cloud speaks REST v3 (`/rest/api/3`), Data Center REST v2 (`/rest/api/2`); [`Config::api`]
//! picks. Responses are read leniently (as JSON values, fields looked up by name): JIRA adds
//! fields all the time, and custom fields are anyone's guess.

use std::time::SystemTime;

use agentic_sdk::http::{status_error, Request, Response};
use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::Error;
use serde::Deserialize;

use crate::config::Config;

/// A JIRA site, through the connection's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Jira<'a> {
    config: &'a Config,
}

/// One page of a JQL search.
#[derive(Debug, Default)]
pub struct SearchPage {
    /// The issues, as JIRA sent them.
    pub issues: Vec<Value>,
    /// Cloud: the token of the next page (`None` on the last).
    pub next_page_token: Option<String>,
    /// Data Center: how many issues the search matches.
    pub total: Option<u64>,
}

/// What a search asks for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The JQL, ordering included.
    pub jql: String,
    /// The fields to return (JIRA's default is only the id).
    pub fields: Vec<String>,
    /// `changelog` to have each issue's history.
    pub expand: Option<&'static str>,
    /// Issues per page.
    pub max_results: u32,
    /// Cloud: the page token.
    pub next_page_token: Option<String>,
    /// Data Center: the offset.
    pub start_at: u64,
}

impl<'a> Jira<'a> {
    /// The site of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self { config }
    }

    /// Sends `request` with `accept: application/json`; a failure is the typed error for it,
    /// its text naming `what` was being done and what JIRA said.
    fn send(&self, request: Request, what: &str) -> Result<Response, Error> {
        let response = request.header("accept", "application/json").send()?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        Err(error(&response, what, self.config.is_cloud()))
    }

    fn get(&self, path: &str, query: &[(&str, String)], what: &str) -> Result<Response, Error> {
        let mut request = Request::get(self.config.api(path));
        for (name, value) in query {
            request = request.query(name, value);
        }
        self.send(request, what)
    }

    /// `GET myself`: the user the credential belongs to.
    pub fn myself(&self) -> Result<Value, Error> {
        self.get("myself", &[], "read the connection's user")?
            .json()
    }

    /// One page of a JQL search: `POST search/jql` with a page token on Cloud (the old
    /// `search` is gone there), `GET search` with an offset on Data Center.
    pub fn search(&self, search: &SearchRequest) -> Result<SearchPage, Error> {
        if self.config.is_cloud() {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Page {
                #[serde(default)]
                issues: Vec<Value>,
                #[serde(default)]
                next_page_token: Option<String>,
                #[serde(default)]
                is_last: Option<bool>,
            }
            let mut body = json!({
                "jql": search.jql,
                "maxResults": search.max_results,
                "fields": search.fields,
            });
            if let Some(expand) = search.expand {
                body["expand"] = json!(expand);
            }
            if let Some(token) = &search.next_page_token {
                body["nextPageToken"] = json!(token);
            }
            let request = Request::post(self.config.api("search/jql")).json(&body)?;
            let page: Page = self.send(request, "search issues")?.json()?;
            let last = page.is_last.unwrap_or(false);
            Ok(SearchPage {
                issues: page.issues,
                next_page_token: page.next_page_token.filter(|t| !t.is_empty() && !last),
                total: None,
            })
        } else {
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                issues: Vec<Value>,
                #[serde(default)]
                total: Option<u64>,
            }
            let mut query = vec![
                ("jql", search.jql.clone()),
                ("startAt", search.start_at.to_string()),
                ("maxResults", search.max_results.to_string()),
                ("fields", search.fields.join(",")),
            ];
            if let Some(expand) = search.expand {
                query.push(("expand", expand.to_owned()));
            }
            let page: Page = self.get("search", &query, "search issues")?.json()?;
            Ok(SearchPage {
                issues: page.issues,
                next_page_token: None,
                total: page.total,
            })
        }
    }

    /// Comments of an issue from `start_at`, oldest first: the comments and the total.
    pub fn comments(&self, issue: &str, start_at: u64) -> Result<(Vec<Value>, u64), Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            comments: Vec<Value>,
            #[serde(default)]
            total: u64,
        }
        let query = [
            ("startAt", start_at.to_string()),
            ("maxResults", "100".to_owned()),
            ("orderBy", "created".to_owned()),
        ];
        let what = format!("read the comments of issue {issue}");
        let page: Page = self
            .get(&format!("issue/{}/comment", segment(issue)), &query, &what)?
            .json()?;
        Ok((page.comments, page.total))
    }

    /// Cloud: change history of an issue from `start_at`, oldest first: histories and total.
    pub fn changelog(&self, issue: &str, start_at: u64) -> Result<(Vec<Value>, u64), Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            values: Vec<Value>,
            #[serde(default)]
            total: u64,
        }
        let query = [
            ("startAt", start_at.to_string()),
            ("maxResults", "100".to_owned()),
        ];
        let what = format!("read the history of issue {issue}");
        let page: Page = self
            .get(
                &format!("issue/{}/changelog", segment(issue)),
                &query,
                &what,
            )?
            .json()?;
        Ok((page.values, page.total))
    }

    /// Data Center: an issue's whole change history (`GET issue?expand=changelog`).
    pub fn issue_histories(&self, issue: &str) -> Result<Vec<Value>, Error> {
        let query = [
            ("fields", "updated".to_owned()),
            ("expand", "changelog".to_owned()),
        ];
        let what = format!("read the history of issue {issue}");
        let issue: Value = self
            .get(&format!("issue/{}", segment(issue)), &query, &what)?
            .json()?;
        Ok(issue
            .pointer("/changelog/histories")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// One page of projects, by key: the projects and whether it is the last page.
    pub fn projects(&self, start_at: u64, max_results: u32) -> Result<(Vec<Value>, bool), Error> {
        if self.config.is_cloud() {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Page {
                #[serde(default)]
                values: Vec<Value>,
                #[serde(default)]
                is_last: Option<bool>,
            }
            let mut query = vec![
                ("startAt", start_at.to_string()),
                ("maxResults", max_results.to_string()),
                ("orderBy", "key".to_owned()),
            ];
            if !self.config.projects.is_empty() {
                query.push(("keys", self.config.projects.join(",")));
            }
            let page: Page = self
                .get("project/search", &query, "list projects")?
                .json()?;
            let last = page.is_last.unwrap_or(page.values.is_empty());
            Ok((page.values, last))
        } else {
            // Data Center lists every project at once.
            let all: Vec<Value> = self.get("project", &[], "list projects")?.json()?;
            let mut all: Vec<Value> = all
                .into_iter()
                .filter(|p| {
                    self.config.projects.is_empty()
                        || p["key"]
                            .as_str()
                            .is_some_and(|k| self.config.projects.iter().any(|c| c == k))
                })
                .collect();
            all.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
            let start = usize::try_from(start_at)
                .unwrap_or(usize::MAX)
                .min(all.len());
            let end = start.saturating_add(max_results as usize).min(all.len());
            Ok((all[start..end].to_vec(), end == all.len()))
        }
    }

    /// One page of users from `start_at`.
    pub fn users(&self, start_at: u64, max_results: u32) -> Result<Vec<Value>, Error> {
        let page = [
            ("startAt", start_at.to_string()),
            ("maxResults", max_results.to_string()),
        ];
        if self.config.is_cloud() {
            self.get("users/search", &page, "list users")?.json()
        } else {
            // Data Center searches by user name; "." matches every user.
            let mut query = vec![("username", ".".to_owned())];
            query.extend(page);
            query.push(("includeInactive", "true".to_owned()));
            self.get("user/search", &query, "list users")?.json()
        }
    }

    /// `POST issue`: creates an issue, returns `{id, key, self}`.
    pub fn create_issue(&self, body: &Value) -> Result<Value, Error> {
        let request = Request::post(self.config.api("issue")).json(body)?;
        self.send(request, "create the issue")?.json()
    }

    /// `PUT issue/{issue}`: sets fields.
    pub fn edit_issue(&self, issue: &str, body: &Value) -> Result<(), Error> {
        let request =
            Request::put(self.config.api(&format!("issue/{}", segment(issue)))).json(body)?;
        self.send(request, &format!("update issue {issue}"))?;
        Ok(())
    }

    /// `POST issue/{issue}/comment`: returns the comment.
    pub fn add_comment(&self, issue: &str, body: &Value) -> Result<Value, Error> {
        let url = self
            .config
            .api(&format!("issue/{}/comment", segment(issue)));
        let request = Request::post(url).json(body)?;
        self.send(request, &format!("comment on issue {issue}"))?
            .json()
    }

    /// `GET issue/{issue}/transitions`: the transitions open to the issue now.
    pub fn transitions(&self, issue: &str) -> Result<Vec<Value>, Error> {
        let what = format!("read the transitions of issue {issue}");
        let answer: Value = self
            .get(&format!("issue/{}/transitions", segment(issue)), &[], &what)?
            .json()?;
        Ok(answer["transitions"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `POST issue/{issue}/transitions`.
    pub fn transition(&self, issue: &str, body: &Value) -> Result<(), Error> {
        let url = self
            .config
            .api(&format!("issue/{}/transitions", segment(issue)));
        let request = Request::post(url).json(body)?;
        self.send(request, &format!("transition issue {issue}"))?;
        Ok(())
    }
}

/// An issue key or id as one path segment (keys are letters, digits, `-` and `_`; anything
/// else is percent-encoded).
fn segment(issue: &str) -> String {
    agentic_sdk::http::encode(issue)
}

/// JIRA's failure as the contract's error: rate limits and 5xx as the host retries them, the
/// rest with what JIRA said and what to do.
pub fn error(response: &Response, what: &str, cloud: bool) -> Error {
    let said = jira_messages(response);
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    let status = response.status;
    match status_error(response, SystemTime::now()) {
        Some(Error::Auth(_)) if status == 401 => Error::Auth(format!(
            "JIRA refused the connection's credential when asked to {what} (401){said}; {}",
            if cloud {
                "check the e-mail and API token, or authorize the OAuth connection again"
            } else {
                "check the personal access token"
            }
        )),
        Some(Error::Auth(_)) => Error::Auth(format!(
            "the connection's JIRA user may not {what} (403){said}; ask a JIRA administrator \
             for the permission"
        )),
        Some(Error::NotFound(_)) => Error::NotFound(format!(
            "could not {what}: not found, or not visible to the connection's JIRA user \
             (404){said}"
        )),
        Some(Error::InvalidInput(_)) if status == 410 => Error::Config(format!(
            "could not {what}: JIRA has removed this API (410){said}; check the deployment \
             setting"
        )),
        Some(Error::InvalidInput(_)) => {
            Error::InvalidInput(format!("JIRA refused to {what} ({status}){said}"))
        }
        Some(other) => other,
        None => Error::Internal(format!("{what}: unexpected status {status}")),
    }
}

/// `errorMessages` and `errors` of a JIRA error body, or its first words.
fn jira_messages(response: &Response) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        let text = response.text();
        let words: Vec<&str> = text.split_whitespace().take(30).collect();
        return words.join(" ");
    };
    let mut parts: Vec<String> = body["errorMessages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(errors) = body["errors"].as_object() {
        parts.extend(
            errors
                .iter()
                .map(|(field, e)| format!("{field}: {}", e.as_str().unwrap_or_default())),
        );
    }
    if parts.is_empty() {
        if let Some(message) = body["message"].as_str() {
            parts.push(message.to_owned());
        }
    }
    let joined = parts.join("; ");
    joined.chars().take(500).collect()
}
