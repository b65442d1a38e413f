//! GitHub's REST objects (the fields the connector reads, as the published OpenAPI description
//! names them) and their mapping onto the internal models; `README.md` has the table.
//!
//! Work items are keyed `owner/repo#<number>`: GitHub's own cross-repository reference, unique
//! across repositories (the host matches trace links to records by external id, so a bare `#12`
//! of two repositories would collide), and derivable from a comment's `issue_url`, which names
//! the number and not the issue's id. People are keyed by login, the name GitHub shows and
//! `@`-mentions (a renamed account becomes a new person).

use agentic_sdk::serde_json::{json, Map, Value};
use agentic_sdk::time::parse_rfc3339;
use agentic_sdk::{Comment, Person, RawRecord, RecordData, TraceLink, WorkItem};
use regex::Regex;
use serde::Deserialize;

use super::state::Seen;

/// A user (`simple-user`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The login, the person's external id.
    pub login: String,
    /// `User`, `Bot`, `Organization`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A label: an object in lists, a bare name in some older answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// `{"name": "bug", …}`.
    Object {
        /// The label's name.
        name: Option<String>,
    },
    /// `"bug"`.
    Name(String),
}

impl Label {
    fn name(&self) -> Option<&str> {
        match self {
            Label::Object { name } => name.as_deref(),
            Label::Name(name) => Some(name),
        }
    }
}

/// A milestone.
#[derive(Debug, Clone, Deserialize)]
pub struct Milestone {
    /// Its title.
    pub title: String,
    /// Its number in the repository.
    pub number: u64,
}

/// A branch end of a pull request (`head`, `base`).
#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    /// The branch name.
    #[serde(rename = "ref")]
    pub name: String,
    /// The commit.
    pub sha: String,
    /// `owner:branch`.
    #[serde(default)]
    pub label: Option<String>,
}

/// An issue of `GET /repos/{owner}/{repo}/issues` (pull requests are listed there too).
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    /// GitHub's id.
    pub id: u64,
    /// The number in the repository.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body, Markdown.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// `completed`, `not_planned`, `reopened`, `duplicate`.
    #[serde(default)]
    pub state_reason: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Assignees.
    #[serde(default)]
    pub assignees: Option<Vec<User>>,
    /// The milestone.
    #[serde(default)]
    pub milestone: Option<Milestone>,
    /// The author.
    #[serde(default)]
    pub user: Option<User>,
    /// Times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// When closed.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// The web page.
    pub html_url: String,
    /// Present on pull requests.
    #[serde(default)]
    pub pull_request: Option<Value>,
    /// Whether the conversation is locked.
    #[serde(default)]
    pub locked: bool,
    /// Comments on the conversation.
    #[serde(default)]
    pub comments: Option<u64>,
}

/// A pull request of `GET /repos/{owner}/{repo}/pulls` (`pull-request-simple`).
#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    /// GitHub's id.
    pub id: u64,
    /// The number (shared with issues).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Assignees.
    #[serde(default)]
    pub assignees: Option<Vec<User>>,
    /// Milestone.
    #[serde(default)]
    pub milestone: Option<Milestone>,
    /// Author.
    #[serde(default)]
    pub user: Option<User>,
    /// Times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// When closed.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// When merged (the list has no `merged` flag; this is it).
    #[serde(default)]
    pub merged_at: Option<String>,
    /// The merge commit (or the test merge of an open one).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Web page.
    pub html_url: String,
    /// The branch with the changes.
    pub head: Branch,
    /// The branch they go into.
    pub base: Branch,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: Option<bool>,
}

/// A conversation comment (`GET /repos/{owner}/{repo}/issues/comments`).
#[derive(Debug, Clone, Deserialize)]
pub struct IssueComment {
    /// GitHub's id.
    pub id: u64,
    /// Body.
    #[serde(default)]
    pub body: Option<String>,
    /// Author.
    #[serde(default)]
    pub user: Option<User>,
    /// Times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// `…/repos/{owner}/{repo}/issues/{number}`: what it comments on.
    pub issue_url: String,
}

/// A review comment on a pull request's diff (`GET /repos/{owner}/{repo}/pulls/comments`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewComment {
    /// GitHub's id.
    pub id: u64,
    /// Body.
    pub body: String,
    /// Author.
    #[serde(default)]
    pub user: Option<User>,
    /// Times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// `…/repos/{owner}/{repo}/pulls/{number}`.
    pub pull_request_url: String,
}

/// A review of a pull request (`GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews`,
/// `pull-request-review`).
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    /// GitHub's id.
    pub id: u64,
    /// The reviewer (`null` for a deleted account).
    #[serde(default)]
    pub user: Option<User>,
    /// The review's text, Markdown (empty for an approval without words).
    #[serde(default)]
    pub body: Option<String>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
    /// When it was submitted (absent while pending).
    #[serde(default)]
    pub submitted_at: Option<String>,
    /// The commit it reviewed (`null` when that commit was garbage-collected).
    #[serde(default)]
    pub commit_id: Option<String>,
    /// Its web page (`…/pull/12#pullrequestreview-80`).
    #[serde(default)]
    pub html_url: Option<String>,
    /// The reviewer's relation to the repository (`OWNER`, `COLLABORATOR`, …).
    #[serde(default)]
    pub author_association: Option<String>,
}

impl Review {
    /// A review not yet submitted, which only its author sees (GitHub lists it to them alone):
    /// not a review of the pull request yet.
    pub fn is_pending(&self) -> bool {
        self.state == "PENDING"
    }
}

/// What the state needs of an item.
pub fn seen(updated: &str, id: u64) -> Seen {
    Seen {
        updated: updated.to_owned(),
        id,
    }
}

fn labels(labels: &[Label]) -> Vec<String> {
    labels
        .iter()
        .filter_map(Label::name)
        .map(str::to_owned)
        .collect()
}

fn logins(users: Option<&Vec<User>>) -> Vec<String> {
    users
        .map(|u| u.iter().map(|u| u.login.clone()).collect())
        .unwrap_or_default()
}

/// A work item's key and external id: `owner/repo#number`.
pub fn key(repository: &str, number: u64) -> String {
    format!("{repository}#{number}")
}

/// The number at the end of an API URL (`…/issues/12`, `…/pulls/12`).
pub fn number_of(url: &str) -> Option<u64> {
    url.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

fn time(text: Option<&str>) -> Option<i64> {
    text.and_then(parse_rfc3339)
}

/// The fields issues and pull requests share.
struct Common<'a> {
    number: u64,
    title: &'a str,
    body: Option<&'a str>,
    labels: &'a [Label],
    assignees: Option<&'a Vec<User>>,
    milestone: Option<&'a Milestone>,
    user: Option<&'a User>,
    created_at: &'a str,
    updated_at: &'a str,
    closed_at: Option<&'a str>,
    html_url: &'a str,
}

fn work_item(repository: &str, c: &Common<'_>, status: String, item_type: &str) -> WorkItem {
    let assignees = logins(c.assignees);
    let mut attributes = Map::new();
    attributes.insert("number".into(), json!(c.number));
    attributes.insert("repository".into(), json!(repository));
    attributes.insert("assignees".into(), json!(assignees));
    attributes.insert(
        "milestone".into(),
        json!(c
            .milestone
            .map(|m| json!({"title": m.title, "number": m.number}))),
    );
    attributes.insert("closed_at".into(), json!(time(c.closed_at)));
    WorkItem {
        external_id: key(repository, c.number),
        key: key(repository, c.number),
        title: c.title.to_owned(),
        description: c.body.unwrap_or_default().to_owned(),
        status,
        item_type: item_type.to_owned(),
        priority: None,
        assignee: assignees.first().cloned(),
        reporter: c.user.map(|u| u.login.clone()),
        labels: labels(c.labels),
        parent: None,
        url: Some(c.html_url.to_owned()),
        created_at: time(Some(c.created_at)),
        updated_at: time(Some(c.updated_at)),
        attributes,
    }
}

/// An issue as a work item of type `issue`.
pub fn issue(repository: &str, i: &Issue) -> RecordData {
    let common = Common {
        number: i.number,
        title: &i.title,
        body: i.body.as_deref(),
        labels: &i.labels,
        assignees: i.assignees.as_ref(),
        milestone: i.milestone.as_ref(),
        user: i.user.as_ref(),
        created_at: &i.created_at,
        updated_at: &i.updated_at,
        closed_at: i.closed_at.as_deref(),
        html_url: &i.html_url,
    };
    let mut item = work_item(repository, &common, i.state.clone(), "issue");
    item.attributes
        .insert("state_reason".into(), json!(i.state_reason));
    item.attributes.insert("locked".into(), json!(i.locked));
    item.attributes.insert("comments".into(), json!(i.comments));
    item.attributes.insert("id".into(), json!(i.id));
    RecordData::WorkItem(item)
}

/// A pull request as a work item of type `pull-request`; a merged one has status `merged`.
pub fn pull(repository: &str, p: &Pull) -> RecordData {
    let common = Common {
        number: p.number,
        title: &p.title,
        body: p.body.as_deref(),
        labels: &p.labels,
        assignees: p.assignees.as_ref(),
        milestone: p.milestone.as_ref(),
        user: p.user.as_ref(),
        created_at: &p.created_at,
        updated_at: &p.updated_at,
        closed_at: p.closed_at.as_deref(),
        html_url: &p.html_url,
    };
    let merged = p.merged_at.is_some();
    let status = if merged {
        "merged".to_owned()
    } else {
        p.state.clone()
    };
    let mut item = work_item(repository, &common, status, "pull-request");
    let branch = |b: &Branch| json!({"ref": b.name, "sha": b.sha, "label": b.label});
    item.attributes.insert("head".into(), branch(&p.head));
    item.attributes.insert("base".into(), branch(&p.base));
    item.attributes.insert("merged".into(), json!(merged));
    item.attributes
        .insert("merged_at".into(), json!(time(p.merged_at.as_deref())));
    item.attributes
        .insert("merge_commit_sha".into(), json!(p.merge_commit_sha));
    item.attributes
        .insert("draft".into(), json!(p.draft.unwrap_or(false)));
    item.attributes.insert("id".into(), json!(p.id));
    RecordData::WorkItem(item)
}

/// A conversation comment on its issue or pull request; external id `issuecomment-<id>`, the
/// anchor GitHub's web pages use, unique across GitHub.
pub fn issue_comment(repository: &str, c: &IssueComment) -> Option<RecordData> {
    Some(RecordData::Comment(Comment {
        external_id: format!("issuecomment-{}", c.id),
        parent_external_id: key(repository, number_of(&c.issue_url)?),
        author: c.user.as_ref().map(|u| u.login.clone()),
        body: c.body.clone().unwrap_or_default(),
        created_at: time(Some(&c.created_at)),
        updated_at: time(Some(&c.updated_at)),
    }))
}

/// A review comment on its pull request; external id `discussion_r<id>` (GitHub's anchor).
pub fn review_comment(repository: &str, c: &ReviewComment) -> Option<RecordData> {
    Some(RecordData::Comment(Comment {
        external_id: format!("discussion_r{}", c.id),
        parent_external_id: key(repository, number_of(&c.pull_request_url)?),
        author: c.user.as_ref().map(|u| u.login.clone()),
        body: c.body.clone(),
        created_at: time(Some(&c.created_at)),
        updated_at: time(Some(&c.updated_at)),
    }))
}

/// A review of pull request `number` as a raw record: the comment model has no place for its
/// state and commit, which are what a review says (most approvals have no text). External id
/// `pullrequestreview-<id>`, GitHub's anchor; the pull request's key in `pull_request`.
pub fn review(repository: &str, number: u64, r: &Review) -> RecordData {
    let mut data = Map::new();
    data.insert("pull_request".into(), json!(key(repository, number)));
    data.insert("id".into(), json!(r.id));
    data.insert("state".into(), json!(r.state));
    data.insert("author".into(), json!(r.user.as_ref().map(|u| &u.login)));
    data.insert("body".into(), json!(r.body.as_deref().unwrap_or_default()));
    data.insert(
        "submitted_at".into(),
        json!(time(r.submitted_at.as_deref())),
    );
    data.insert("commit_id".into(), json!(r.commit_id));
    data.insert("author_association".into(), json!(r.author_association));
    data.insert("url".into(), json!(r.html_url));
    RecordData::Raw(RawRecord {
        external_id: format!("pullrequestreview-{}", r.id),
        data,
    })
}

/// A user as a person: the login is all GitHub's lists say of them.
pub fn person(u: &User) -> RecordData {
    RecordData::Person(Person {
        external_id: u.login.clone(),
        display_name: u.login.clone(),
        email: None,
        active: true,
    })
}

/// The author and assignees of an issue or pull request as people.
pub fn people(i: &Issue) -> Vec<RecordData> {
    i.user
        .iter()
        .chain(i.assignees.iter().flatten())
        .map(person)
        .collect()
}

/// A link from an issue or pull request to each key its title and body name.
pub fn trace_links(repository: &str, i: &Issue, patterns: &[Regex]) -> Vec<RecordData> {
    let source = key(repository, i.number);
    let text = format!("{}\n{}", i.title, i.body.as_deref().unwrap_or_default());
    let mut keys: Vec<&str> = patterns
        .iter()
        .flat_map(|p| p.find_iter(&text).map(|m| m.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let link_type = if i.pull_request.is_some() {
        "mentioned-by-pull-request"
    } else {
        "mentioned-by-issue"
    };
    keys.into_iter()
        .filter(|k| *k != source)
        .map(|k| {
            RecordData::TraceLink(TraceLink {
                external_id: format!("{source}:{k}"),
                source: source.clone(),
                target: k.to_owned(),
                link_type: link_type.into(),
            })
        })
        .collect()
}
