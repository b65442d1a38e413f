//! What the fake holds — projects, users, issues with their comments, links and histories —
//! how it is generated, and the state of the site around it (credential, failures on demand,
//! requests seen). Tests change it between reads through [`crate::Jira::with`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{json, Value};

use crate::{Response, Seen};

/// The first issue's creation: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;
/// Project keys; issue `n` is in project `n % 2`.
pub const PROJECTS: [&str; 2] = ["ED", "PR"];
/// Status names and their categories.
pub const STATUSES: [(&str, &str); 3] = [
    ("To Do", "new"),
    ("In Progress", "indeterminate"),
    ("Done", "done"),
];
/// Issue type names (the last is a sub-task type).
pub const TYPES: [&str; 4] = ["Task", "Bug", "Story", "Sub-task"];
/// Priority names.
pub const PRIORITIES: [&str; 3] = ["High", "Medium", "Low"];
/// Link types: name, inward and outward description.
pub const LINK_TYPES: [(&str, &str, &str); 2] = [
    ("Blocks", "is blocked by", "blocks"),
    ("Relates", "relates to", "relates to"),
];
/// Histories a search shows per issue (the latest ones); the rest are paged.
pub const EMBEDDED_HISTORIES: usize = 100;

const KITCHEN_SINK: &str =
    include_str!("../../../plugins/jira/tests/fixtures/adf-kitchen-sink.json");
const KITCHEN_SINK_MARKDOWN: &str =
    include_str!("../../../plugins/jira/tests/fixtures/adf-kitchen-sink.md");
const KITCHEN_SINK_WIKI: &str =
    include_str!("../../../plugins/jira/tests/fixtures/adf-kitchen-sink.wiki");

/// Which JIRA the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// Jira Cloud: REST v3, ADF rich text, users by `accountId`, HTTP Basic (e-mail, API token).
    Cloud,
    /// Jira Data Center: REST v2, wiki markup, users by `key`, a personal access token.
    DataCenter,
}

/// Rich text written three ways: ADF (Cloud), wiki markup (Data Center), and the Markdown the
/// connector's documented dialect makes of either (what tests expect to find stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// Atlassian Document Format.
    pub adf: Value,
    /// Data Center wiki markup.
    pub wiki: String,
    /// The Markdown expected.
    pub markdown: String,
}

impl Text {
    /// Plain words (no character Markdown or wiki markup would read as syntax) in a paragraph.
    pub fn plain(text: &str) -> Self {
        Self {
            adf: paragraph(text),
            wiki: text.to_owned(),
            markdown: text.to_owned(),
        }
    }

    /// One ADF document using every node and mark of the ADF schema; its Markdown and wiki
    /// markup are the connector's renderings, kept beside it in the fixtures.
    pub fn kitchen_sink() -> Self {
        Self {
            adf: serde_json::from_str(KITCHEN_SINK).expect("the kitchen sink is JSON"),
            wiki: KITCHEN_SINK_WIKI.trim_end().to_owned(),
            markdown: KITCHEN_SINK_MARKDOWN.trim_end().to_owned(),
        }
    }
}

fn paragraph(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// Two hand-written descriptions: a heading, emphasis and a list; code, emphasis and a code block.
pub fn descriptions() -> Vec<Text> {
    let text = |text: &str, marks: Value| {
        if marks.is_null() {
            json!({"type": "text", "text": text})
        } else {
            json!({"type": "text", "text": text, "marks": marks})
        }
    };
    let item = |t: &str| json!({"type": "listItem", "content": [{"type": "paragraph", "content": [text(t, Value::Null)]}]});
    vec![
        Text {
            adf: json!({"type": "doc", "version": 1, "content": [
                {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps", Value::Null)]},
                {"type": "paragraph", "content": [
                    text("Open the ", Value::Null),
                    text("checkout", json!([{"type": "strong"}])),
                    text(" page", Value::Null)]},
                {"type": "bulletList", "content": [item("click Pay"), item("see the error")]}
            ]}),
            wiki: "h2. Steps\n\nOpen the *checkout* page\n\n* click Pay\n* see the error".into(),
            markdown: "## Steps\n\nOpen the **checkout** page\n\n- click Pay\n- see the error"
                .into(),
        },
        Text {
            adf: json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    text("Use ", Value::Null),
                    text("retry()", json!([{"type": "code"}])),
                    text(" and ", Value::Null),
                    text("wait", json!([{"type": "em"}])),
                    text(" twice", Value::Null)]},
                {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [text("let x = 1;", Value::Null)]}
            ]}),
            wiki: "Use {{retry()}} and _wait_ twice\n\n{code:rust}\nlet x = 1;\n{code}".into(),
            markdown: "Use `retry()` and *wait* twice\n\n```rust\nlet x = 1;\n```".into(),
        },
    ]
}

/// A comment body: `Comment {n}: **done**`.
pub fn comment_text(n: u64) -> Text {
    Text {
        adf: json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": format!("Comment {n}: ")},
            {"type": "text", "text": "done", "marks": [{"type": "strong"}]}]}]}),
        wiki: format!("Comment {n}: *done*"),
        markdown: format!("Comment {n}: **done**"),
    }
}

/// Issue `i`'s generated description: two short blocks naming it.
fn simple_description(i: usize) -> Text {
    Text {
        adf: json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": format!("Issue {i}: ")},
                {"type": "text", "text": "steps", "marks": [{"type": "strong"}]},
                {"type": "text", "text": " to reproduce."}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "open the page"}]}]}]}
        ]}),
        wiki: format!("Issue {i}: *steps* to reproduce.\n\n* open the page"),
        markdown: format!("Issue {i}: **steps** to reproduce.\n\n- open the page"),
    }
}

/// A generated comment: plain text whose stars and backticks are not markup (escaped).
fn generated_comment(k: usize, i: usize) -> Text {
    let text = format!("Comment {k} on issue {i} with **stars** & `ticks`");
    Text {
        adf: paragraph(&text),
        wiki: format!("Comment {k} on issue {i} with \\*\\*stars\\*\\* & `ticks`"),
        markdown: format!("Comment {k} on issue {i} with \\*\\*stars\\*\\* & \\`ticks\\`"),
    }
}

/// An issue.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Numeric id.
    pub id: u64,
    /// `ED-3`.
    pub key: String,
    /// Index into [`PROJECTS`].
    pub project: usize,
    /// Summary.
    pub summary: String,
    /// Description, if any.
    pub description: Option<Text>,
    /// Index into [`STATUSES`].
    pub status: usize,
    /// Index into [`TYPES`].
    pub issue_type: usize,
    /// Index into [`PRIORITIES`].
    pub priority: Option<usize>,
    /// Index into the users.
    pub assignee: Option<usize>,
    /// Index into the users.
    pub reporter: usize,
    /// Labels.
    pub labels: Vec<String>,
    /// Component names.
    pub components: Vec<String>,
    /// Parent issue id (sub-tasks).
    pub parent: Option<u64>,
    /// Created (Unix ms).
    pub created: i64,
    /// Updated (Unix ms).
    pub updated: i64,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Links on this issue's outward side (`this blocks target`): deleting the issue deletes
    /// them.
    pub links: Vec<Link>,
    /// Change history, oldest first.
    pub histories: Vec<History>,
}

/// A comment.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Id.
    pub id: u64,
    /// Index into the users.
    pub author: usize,
    /// Body.
    pub body: Text,
    /// Created (Unix ms).
    pub created: i64,
    /// Updated (Unix ms).
    pub updated: i64,
}

/// A link from the issue holding it to `target`.
#[derive(Debug, Clone)]
pub struct Link {
    /// Id.
    pub id: u64,
    /// The inward issue's id.
    pub target: u64,
    /// Index into [`LINK_TYPES`].
    pub kind: usize,
}

/// A status change.
#[derive(Debug, Clone)]
pub struct History {
    /// Id.
    pub id: u64,
    /// Index into the users.
    pub author: usize,
    /// When (Unix ms).
    pub created: i64,
    /// Status before (an index into [`STATUSES`]).
    pub from: usize,
    /// Status after.
    pub to: usize,
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    /// Cloud account id.
    pub account_id: String,
    /// Data Center user name.
    pub name: String,
    /// Data Center user key.
    pub key: String,
    /// Display name.
    pub display_name: String,
    /// E-mail (`None`: hidden by the user's privacy settings).
    pub email: Option<String>,
    /// Active.
    pub active: bool,
}

impl User {
    /// The id the connector gives this user's person (and uses for assignees).
    pub fn person_id(&self, deployment: Deployment) -> &str {
        match deployment {
            Deployment::Cloud => &self.account_id,
            Deployment::DataCenter => &self.key,
        }
    }
}

/// What the fake serves and what it saw; tests change it between reads.
#[derive(Debug)]
pub struct Data {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// The JIRA user's UTC offset in minutes: timestamps are written in it, JQL dates read in it.
    pub tz_minutes: i32,
    /// Issues (any order: searches follow `updated`, project, number).
    pub issues: Vec<Issue>,
    /// Users; the first is the connection's (`GET myself`).
    pub users: Vec<User>,
    /// Comments a search shows per issue (JIRA shows a first page; the rest is paged).
    pub embedded_comments: usize,
    /// The workflow: the transition leading to each status (an index into [`STATUSES`]), its id
    /// and name; every status but the current one is offered.
    pub transitions: [(&'static str, &'static str); 3],
    /// The `Authorization` JIRA accepts (`None`: anonymous access, as a site that lets anyone
    /// browse). Anything else is JIRA's 401, which is an answer, not a violation.
    pub authorization: Option<String>,
    /// Answers for the next valid requests, e.g. a rate limit or a malformed body.
    pub failures: VecDeque<Response>,
    /// Every n-th valid request is refused with 429 and `Retry-After: 1`, as a tight rate limit.
    pub throttle_every: Option<u64>,
    /// Requests answered or throttled so far (what `throttle_every` counts).
    pub served: u64,
    /// How many Cloud page tokens to refuse next (as when they expire).
    pub expire_tokens: u32,
    /// Check the answers against the document's response schemas too (a violation if not).
    pub check_responses: bool,
    /// Time spent validating requests, and building and serialising answers (benchmarks).
    pub validate_time: Duration,
    /// See `validate_time`.
    pub answer_time: Duration,
    /// The next id for what the fake creates (comments, histories, issues).
    pub next_id: u64,
    /// Every request, in order.
    pub seen: Vec<Seen>,
    /// Requests that did not fit the document or JIRA's rules.
    pub violations: Vec<String>,
    /// Positions of the issues in search order (updated, project, number), rebuilt after every
    /// change ([`crate::Jira::with`]) so that 100 000 issues serve fast.
    pub(crate) order: Vec<usize>,
    /// Issue id → position in `issues`; key → position.
    by_id: HashMap<u64, usize>,
    by_key: HashMap<String, usize>,
    /// Parent id → positions of its sub-tasks.
    pub(crate) children: HashMap<u64, Vec<usize>>,
    /// Issue id → links on its inward side: (link id, kind, outward issue id).
    pub(crate) inward: HashMap<u64, Vec<(u64, usize, u64)>>,
}

impl Data {
    /// `issues` generated issues over two projects and seven users, the JIRA user at
    /// `tz_minutes` from UTC, no credential required.
    ///
    /// Users 0, 3 and 6 hide their e-mail, user 6 is inactive, and only users 0–4 are referred
    /// to by issues. Issue `n` is created `n` minutes after [`T0`] and updated an hour later
    /// plus `45 s × n` (issues `n % 10 == 4` at the same instant as the one before); every fifth
    /// is a sub-task of the one before; every 50th is described with the ADF kitchen sink,
    /// `n % 7 == 3` not at all; issue 6 (and every 13th after it) has 12 comments, issue 4 five,
    /// the others `n % 3`; issue 3 (and every 17th after it) has 120 changes, the others one to
    /// three; issues `n % 3 == 0` and `n % 4 == 3` link to the one before.
    pub fn generate(deployment: Deployment, issues: usize, tz_minutes: i32) -> Self {
        let users = (0..7)
            .map(|u| User {
                account_id: format!("5b10a2844c20165700ede2{u:02}"),
                name: format!("user{u}"),
                key: format!("JIRAUSER{}", 10_100 + u),
                display_name: format!("User {u}"),
                email: (u % 3 != 0).then(|| format!("user{u}@example.com")),
                active: u != 6,
            })
            .collect();
        let sink = Text::kitchen_sink();
        let mut next_id = 50_000_u64;
        let mut id = || {
            next_id += 1;
            next_id
        };
        let mut list = Vec::with_capacity(issues);
        for i in 0..issues {
            let issue_id = 10_000 + i as u64;
            let created = T0 + i as i64 * 60_000;
            let comments = match i % 13 {
                6 => 12,
                4 => 5,
                _ => i % 3,
            };
            let comments = (0..comments)
                .map(|k| {
                    let at = created + 1_000 * (k as i64 + 1);
                    Comment {
                        id: id(),
                        author: (i + k) % 5,
                        body: generated_comment(k, i),
                        created: at,
                        updated: if k == 1 { at + 500 } else { at },
                    }
                })
                .collect();
            let histories = if i % 17 == 3 { 120 } else { i % 3 + 1 };
            let histories = (0..histories)
                .map(|k| History {
                    id: id(),
                    author: k % 5,
                    created: created + 100 * (k as i64 + 1),
                    from: k % 3,
                    to: (k + 1) % 3,
                })
                .collect();
            let links = if i > 0 && (i % 3 == 0 || i % 4 == 3) {
                vec![Link {
                    id: id(),
                    target: issue_id - 1,
                    kind: usize::from(i % 2 == 0),
                }]
            } else {
                Vec::new()
            };
            list.push(Issue {
                id: issue_id,
                key: format!("{}-{}", PROJECTS[i % 2], i / 2 + 1),
                project: i % 2,
                summary: format!("Issue number {i}"),
                description: match i {
                    _ if i % 50 == 0 => Some(sink.clone()),
                    _ if i % 7 == 3 => None,
                    _ => Some(simple_description(i)),
                },
                status: i % 3,
                issue_type: if i % 5 == 4 { 3 } else { i % 3 },
                priority: (i % 4 != 0).then_some(i % 3),
                assignee: (i % 6 != 0).then_some(i % 5),
                reporter: (i + 3) % 5,
                labels: match i % 3 {
                    1 => vec!["backend".into()],
                    2 => vec!["ui".into(), "customer".into()],
                    _ => Vec::new(),
                },
                components: if i % 5 == 0 {
                    vec!["API".into()]
                } else {
                    Vec::new()
                },
                parent: (i % 5 == 4).then(|| issue_id - 1),
                created,
                updated: T0 + 3_600_000 + (i as i64 - i64::from(i % 10 == 4)) * 45_000,
                comments,
                links,
                histories,
            });
        }
        let mut data = Self {
            deployment,
            tz_minutes,
            issues: list,
            users,
            embedded_comments: 5,
            transitions: [("11", "Reopen"), ("12", "Start Progress"), ("13", "Finish")],
            authorization: None,
            failures: VecDeque::new(),
            throttle_every: None,
            served: 0,
            expire_tokens: 0,
            check_responses: false,
            validate_time: Duration::ZERO,
            answer_time: Duration::ZERO,
            next_id: next_id + 1,
            seen: Vec::new(),
            violations: Vec::new(),
            order: Vec::new(),
            by_id: HashMap::new(),
            by_key: HashMap::new(),
            children: HashMap::new(),
            inward: HashMap::new(),
        };
        data.reindex();
        data
    }

    /// Rebuilds the search order and the lookups from `issues`.
    pub(crate) fn reindex(&mut self) {
        let number = |key: &str| -> u64 {
            key.rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let issues = &self.issues;
        self.order = (0..issues.len()).collect();
        self.order
            .sort_by_key(|&i| (issues[i].updated, issues[i].project, number(&issues[i].key)));
        self.by_id = issues.iter().enumerate().map(|(n, i)| (i.id, n)).collect();
        self.by_key = (issues.iter().enumerate())
            .map(|(n, i)| (i.key.clone(), n))
            .collect();
        self.children.clear();
        self.inward.clear();
        for (n, issue) in issues.iter().enumerate() {
            if let Some(parent) = issue.parent {
                self.children.entry(parent).or_default().push(n);
            }
            for link in &issue.links {
                self.inward
                    .entry(link.target)
                    .or_default()
                    .push((link.id, link.kind, issue.id));
            }
        }
    }

    /// The issue with this id.
    pub fn issue(&self, id: u64) -> Option<&Issue> {
        match self.by_id.get(&id) {
            Some(&n) if self.issues.get(n).is_some_and(|i| i.id == id) => Some(&self.issues[n]),
            _ => self.issues.iter().find(|i| i.id == id),
        }
    }

    /// The issue with this key.
    pub fn issue_mut(&mut self, key: &str) -> &mut Issue {
        self.issues
            .iter_mut()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("no issue {key}"))
    }

    /// The position of the issue with this key or id, as JIRA's paths name them.
    pub(crate) fn find(&self, key_or_id: &str) -> Option<usize> {
        let by_id = || self.by_id.get(&key_or_id.parse().ok()?).copied();
        self.by_key.get(key_or_id).copied().or_else(by_id)
    }

    /// Changes issue `id`: its `updated` becomes `at`.
    pub fn touch(&mut self, id: u64, at: i64) {
        if let Some(issue) = self.issues.iter_mut().find(|i| i.id == id) {
            issue.updated = at;
        }
    }

    /// Adds a comment of plain words by user 1 to issue `id` at `at` (the issue is updated
    /// then); its id.
    pub fn comment(&mut self, id: u64, at: i64, text: &str) -> u64 {
        let comment_id = self.new_id();
        if let Some(issue) = self.issues.iter_mut().find(|i| i.id == id) {
            issue.comments.push(Comment {
                id: comment_id,
                author: 1,
                body: Text::plain(text),
                created: at,
                updated: at,
            });
            issue.updated = at;
        }
        comment_id
    }

    /// The requests that change data (the connector's actions), in order.
    pub fn writes(&self) -> Vec<Seen> {
        (self.seen.iter())
            .filter(|s| s.method != "GET" && !s.path.contains("/search"))
            .cloned()
            .collect()
    }

    /// Time spent answering: validating, building and serialising.
    pub fn busy(&self) -> Duration {
        self.validate_time + self.answer_time
    }

    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    pub(crate) fn cloud(&self) -> bool {
        self.deployment == Deployment::Cloud
    }

    /// Rich text as this deployment serves it.
    pub(crate) fn text(&self, text: &Text) -> Value {
        if self.cloud() {
            text.adf.clone()
        } else {
            json!(text.wiki)
        }
    }

    /// A time as JIRA writes it, in the user's time zone.
    pub(crate) fn stamp(&self, ms: i64) -> Value {
        json!(jira_timestamp(ms, self.tz_minutes))
    }
}

/// A JIRA timestamp: `2023-11-15T00:13:20.000+0200`.
pub fn jira_timestamp(ms: i64, tz_minutes: i32) -> String {
    let local = agentic_sdk::time::format_rfc3339(ms + i64::from(tz_minutes) * 60_000);
    let sign = if tz_minutes < 0 { '-' } else { '+' };
    let (h, m) = (tz_minutes.abs() / 60, tz_minutes.abs() % 60);
    format!("{}{sign}{h:02}{m:02}", local.trim_end_matches('Z'))
}
