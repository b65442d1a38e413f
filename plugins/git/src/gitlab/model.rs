//! GitLab's REST v4 objects (the fields the connector reads, as GitLab's API documentation
//! names them: issues, merge requests, notes) and their mapping onto the same models as
//! GitHub's; `README.md` has the table.
//!
//! Work items are keyed by GitLab's own full reference, `group/sub/project#12` for an issue and
//! `group/sub/project!7` for a merge request (`references.full`): unique across projects, and
//! what GitLab's Markdown links. People are keyed by username (GitLab's lists carry the name
//! too, unlike GitHub's).

use agentic_sdk::serde_json::{json, Map};
use agentic_sdk::time::parse_rfc3339;
use agentic_sdk::{Comment, Person, RecordData, TraceLink, WorkItem};
use regex::Regex;
use serde::Deserialize;

use crate::github::state::Seen;

/// A user as lists embed it (`author`, `assignees[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// GitLab's id.
    pub id: u64,
    /// The username, the person's external id.
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `active`, `blocked`, `deactivated`, …
    #[serde(default)]
    pub state: Option<String>,
}

/// A milestone.
#[derive(Debug, Clone, Deserialize)]
pub struct Milestone {
    /// Its title.
    pub title: String,
    /// Its number in the project (or group).
    #[serde(default)]
    pub iid: Option<u64>,
}

/// `references`: how GitLab's Markdown names the item.
#[derive(Debug, Clone, Deserialize)]
pub struct References {
    /// `group/project#12`, `group/project!7`.
    pub full: String,
}

/// An issue or a merge request of `GET /projects/:id/issues` or `…/merge_requests`: the fields
/// both have, and the merge request's own (absent on issues).
#[derive(Debug, Clone, Deserialize)]
pub struct Item {
    /// GitLab's id, unique across projects.
    pub id: u64,
    /// The number in the project.
    pub iid: u64,
    /// Title.
    pub title: String,
    /// Markdown (`null` when empty).
    #[serde(default)]
    pub description: Option<String>,
    /// `opened`, `closed`; merge requests also `merged`, `locked`.
    pub state: String,
    /// Label names.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Assignees.
    #[serde(default)]
    pub assignees: Option<Vec<User>>,
    /// The milestone.
    #[serde(default)]
    pub milestone: Option<Milestone>,
    /// The author.
    #[serde(default)]
    pub author: Option<User>,
    /// Times (ISO 8601 with milliseconds, `2016-01-04T15:31:51.081Z`).
    pub created_at: String,
    /// Last change (a new note changes it too).
    pub updated_at: String,
    /// When closed.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// The web page.
    pub web_url: String,
    /// GitLab's references.
    #[serde(default)]
    pub references: Option<References>,
    /// Confidential issue.
    #[serde(default)]
    pub confidential: Option<bool>,
    /// Notes that are not system notes.
    #[serde(default)]
    pub user_notes_count: Option<u64>,
    /// Merge requests: the branch merged from.
    #[serde(default)]
    pub source_branch: Option<String>,
    /// Merge requests: the branch merged into.
    #[serde(default)]
    pub target_branch: Option<String>,
    /// Merge requests: when merged.
    #[serde(default)]
    pub merged_at: Option<String>,
    /// Merge requests: the head commit.
    #[serde(default)]
    pub sha: Option<String>,
    /// Merge requests: the merge commit.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Merge requests: a draft.
    #[serde(default)]
    pub draft: Option<bool>,
}

impl Item {
    /// Its update time and id, for the list state.
    pub fn seen(&self) -> Seen {
        Seen {
            updated: self.updated_at.clone(),
            id: self.id,
        }
    }

    /// The work item key: GitLab's full reference, or `project` + `sigil` + iid without one.
    pub fn key(&self, project: &str, sigil: char) -> String {
        match &self.references {
            Some(r) if !r.full.is_empty() => r.full.clone(),
            _ => format!("{project}{sigil}{}", self.iid),
        }
    }
}

/// A note of `GET /projects/:id/issues/:iid/notes` (or a merge request's).
#[derive(Debug, Clone, Deserialize)]
pub struct Note {
    /// GitLab's id.
    pub id: u64,
    /// Markdown.
    #[serde(default)]
    pub body: Option<String>,
    /// The author.
    #[serde(default)]
    pub author: Option<User>,
    /// Times.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// A note GitLab wrote about a change ("changed the description"): skipped.
    #[serde(default)]
    pub system: bool,
    /// `null`, `DiscussionNote`, `DiffNote` (on a merge request's diff).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Internal (confidential) note.
    #[serde(default)]
    pub internal: Option<bool>,
}

/// `GET /projects/:id/merge_requests/:iid/approvals`: who approved a merge request.
#[derive(Debug, Clone, Deserialize)]
pub struct Approvals {
    /// The approvals given, each with its user.
    #[serde(default)]
    pub approved_by: Vec<Approval>,
}

/// One approval of a merge request.
#[derive(Debug, Clone, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub user: User,
}

impl Approvals {
    /// The approvers' usernames, in GitLab's order.
    pub fn usernames(&self) -> Vec<String> {
        self.approved_by
            .iter()
            .map(|a| a.user.username.clone())
            .collect()
    }
}

fn time(text: Option<&str>) -> Option<i64> {
    text.and_then(parse_rfc3339)
}

/// The contract's status: `opened` reads as `open`, like GitHub's; the rest as GitLab says.
fn status(state: &str) -> String {
    match state {
        "opened" => "open".to_owned(),
        other => other.to_owned(),
    }
}

fn usernames(users: Option<&Vec<User>>) -> Vec<String> {
    users
        .into_iter()
        .flatten()
        .map(|u| u.username.clone())
        .collect()
}

/// What kind of item a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An issue (`#`).
    Issue,
    /// A merge request (`!`).
    MergeRequest,
}

impl Kind {
    /// GitLab's reference sigil.
    pub fn sigil(self) -> char {
        match self {
            Kind::Issue => '#',
            Kind::MergeRequest => '!',
        }
    }

    /// The API's collection name.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Issue => "issues",
            Kind::MergeRequest => "merge_requests",
        }
    }
}

/// An issue or merge request as a work item; a merge request with the usernames of its
/// approvers (`None`: it was gone when they were asked for).
pub fn work_item(
    project: &str,
    kind: Kind,
    i: &Item,
    approved_by: Option<&[String]>,
) -> RecordData {
    let assignees = usernames(i.assignees.as_ref());
    let key = i.key(project, kind.sigil());
    let mut attributes = Map::new();
    attributes.insert("iid".into(), json!(i.iid));
    attributes.insert("id".into(), json!(i.id));
    attributes.insert("project".into(), json!(project));
    attributes.insert("state".into(), json!(i.state));
    attributes.insert("assignees".into(), json!(assignees));
    attributes.insert(
        "milestone".into(),
        json!(i
            .milestone
            .as_ref()
            .map(|m| json!({"title": m.title, "iid": m.iid}))),
    );
    attributes.insert("closed_at".into(), json!(time(i.closed_at.as_deref())));
    attributes.insert("confidential".into(), json!(i.confidential));
    attributes.insert("user_notes_count".into(), json!(i.user_notes_count));
    let item_type = match kind {
        Kind::Issue => "issue",
        Kind::MergeRequest => {
            attributes.insert("source_branch".into(), json!(i.source_branch));
            attributes.insert("target_branch".into(), json!(i.target_branch));
            attributes.insert("merged_at".into(), json!(time(i.merged_at.as_deref())));
            attributes.insert("sha".into(), json!(i.sha));
            attributes.insert("merge_commit_sha".into(), json!(i.merge_commit_sha));
            attributes.insert("draft".into(), json!(i.draft.unwrap_or(false)));
            attributes.insert("approved_by".into(), json!(approved_by));
            "merge-request"
        }
    };
    RecordData::WorkItem(WorkItem {
        external_id: key.clone(),
        key,
        title: i.title.clone(),
        description: i.description.clone().unwrap_or_default(),
        status: status(&i.state),
        item_type: item_type.to_owned(),
        priority: None,
        assignee: assignees.first().cloned(),
        reporter: i.author.as_ref().map(|u| u.username.clone()),
        labels: i.labels.clone(),
        parent: None,
        url: Some(i.web_url.clone()),
        created_at: time(Some(&i.created_at)),
        updated_at: time(Some(&i.updated_at)),
        attributes,
    })
}

/// A note on its issue or merge request (`parent`: the item's key); `None` for a system note.
/// External id `note_<id>`, the anchor GitLab's web pages use.
pub fn note(parent: &str, n: &Note) -> Option<RecordData> {
    if n.system {
        return None;
    }
    Some(RecordData::Comment(Comment {
        external_id: format!("note_{}", n.id),
        parent_external_id: parent.to_owned(),
        author: n.author.as_ref().map(|u| u.username.clone()),
        body: n.body.clone().unwrap_or_default(),
        created_at: time(Some(&n.created_at)),
        updated_at: time(Some(&n.updated_at)),
    }))
}

/// A user as a person (name as GitLab shows it).
pub fn person(u: &User) -> RecordData {
    RecordData::Person(Person {
        external_id: u.username.clone(),
        display_name: u.name.clone().unwrap_or_else(|| u.username.clone()),
        email: None,
        active: u.state.as_deref().is_none_or(|s| s == "active"),
    })
}

/// The author and assignees of an item as people.
pub fn people(i: &Item) -> Vec<RecordData> {
    i.author
        .iter()
        .chain(i.assignees.iter().flatten())
        .map(person)
        .collect()
}

/// The author of a note as a person; none for GitLab's system notes, which people did not
/// write.
pub fn note_author(n: &Note) -> Option<RecordData> {
    n.author.as_ref().filter(|_| !n.system).map(person)
}

/// A link from an item to each key its title and description name.
pub fn trace_links(project: &str, kind: Kind, i: &Item, patterns: &[Regex]) -> Vec<RecordData> {
    let source = i.key(project, kind.sigil());
    let text = format!(
        "{}\n{}",
        i.title,
        i.description.as_deref().unwrap_or_default()
    );
    let mut keys: Vec<&str> = patterns
        .iter()
        .flat_map(|p| p.find_iter(&text).map(|m| m.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let link_type = match kind {
        Kind::Issue => "mentioned-by-issue",
        Kind::MergeRequest => "mentioned-by-merge-request",
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
