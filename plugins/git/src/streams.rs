//! The streams: what each reads and how it maps onto the internal models (the table is in
//! `README.md`).
//!
//! | stream | records | reads | paging and state |
//! |---|---|---|---|
//! | `commits` | documents (message as text, the rest in attributes) | history of the branches, with changed paths | `history`: incremental on ref tips |
//! | `people` | people (authors, committers by e-mail) | the same history, commits only | incremental |
//! | `trace-links` | trace links commit → work item key | the same history | incremental |
//! | `files` | documents (text files at each branch head) | a `deepen 1` snapshot per branch | full refresh, one branch a page |
//! | `refs` | raw records (branches, tags, `HEAD`) | `ls-refs` / the v0 advertisement | full refresh |

use std::collections::BTreeSet;

use agentic_sdk::serde_json::{json, Map, Value};
use agentic_sdk::{Document, Person, RawRecord, TraceLink};
use agentic_sdk::{Error, Page, RecordData, RecordKind, StreamSpec};

use crate::config::Config;
use crate::history::{self, Commit};

/// Every stream of every source, as `spec()` lists them: a name several have (`people`,
/// `trace-links`) once, its descriptions joined.
pub fn all_specs() -> Vec<StreamSpec> {
    let mut all = specs();
    let sources = [
        ("github", crate::github::specs()),
        ("gitlab", crate::gitlab::specs()),
    ];
    for (source, specs) in sources {
        for spec in specs {
            match all.iter_mut().find(|s| s.name == spec.name) {
                Some(same) => {
                    same.description = format!(
                        "{} With source = {source}: {}",
                        same.description, spec.description
                    );
                }
                None => all.push(spec),
            }
        }
    }
    all
}

/// The streams of a `git` connection, as `discover()` lists them.
pub fn specs() -> Vec<StreamSpec> {
    vec![
        StreamSpec::new("commits", RecordKind::Document)
            .with_description(
                "Commits of the configured branches as documents: the message as body, its first \
                 line as title; author, committer, times, parents and changed paths with added \
                 and removed lines in attributes. Incremental on the branch tips; commits a \
                 force-push dropped come again with attributes.unreachable.",
            )
            .incremental(),
        StreamSpec::new("people", RecordKind::Person)
            .with_description(
                "Authors and committers of the synced commits, by e-mail; incremental.",
            )
            .incremental(),
        StreamSpec::new("trace-links", RecordKind::TraceLink)
            .with_description(
                "A link from each commit to each work item key its message names (patterns \
                 configurable, PROJ-123 by default); incremental.",
            )
            .incremental(),
        StreamSpec::new("files", RecordKind::Document).with_description(
            "Text files matching the configured globs (Markdown and text by default) at each \
             branch head, as documents: path, content, blob id, the head commit; full refresh, so \
             removed files are deleted.",
        ),
        StreamSpec::new("refs", RecordKind::Raw).with_description(
            "Branches, tags (with the commit an annotated tag points at) and HEAD; full refresh.",
        ),
    ]
}

/// One page of `stream`.
pub fn read(config: &Config, stream: &str, state: Option<&str>) -> Result<Page, Error> {
    match stream {
        "commits" => {
            let page = history::read(config, state, true)?;
            let mut records: Vec<RecordData> =
                page.commits.iter().map(|c| commit(c, false)).collect();
            records.extend(page.unreachable.iter().map(|c| commit(c, true)));
            finish(records, &page.state, page.has_more)
        }
        "people" => {
            let page = history::read(config, state, false)?;
            let mut seen = BTreeSet::new();
            let mut records = Vec::new();
            for c in &page.commits {
                for s in [&c.author, &c.committer] {
                    let id = person_id(&s.email);
                    if seen.insert(id.clone()) {
                        records.push(RecordData::Person(Person {
                            external_id: id,
                            display_name: s.name.clone(),
                            email: (!s.email.is_empty()).then(|| s.email.clone()),
                            active: true,
                        }));
                    }
                }
            }
            finish(records, &page.state, page.has_more)
        }
        "trace-links" => {
            let page = history::read(config, state, false)?;
            let patterns = config.patterns()?;
            let mut records = Vec::new();
            for c in &page.commits {
                let mut keys = BTreeSet::new();
                for p in &patterns {
                    keys.extend(p.find_iter(&c.message).map(|m| m.as_str().to_owned()));
                }
                for key in keys {
                    records.push(RecordData::TraceLink(TraceLink {
                        external_id: format!("{}:{key}", c.id),
                        source: c.id.to_string(),
                        target: key,
                        link_type: "mentioned-by-commit".into(),
                    }));
                }
            }
            finish(records, &page.state, page.has_more)
        }
        "files" => crate::files::read(config, state),
        "refs" => refs(config),
        other => Err(Error::NotFound(format!("no stream `{other}`"))),
    }
}

fn finish(records: Vec<RecordData>, state: &history::State, has_more: bool) -> Result<Page, Error> {
    Ok(Page {
        records,
        state: serde_json::to_string(state).map_err(|e| Error::Internal(e.to_string()))?,
        has_more,
        deleted: Vec::new(),
    })
}

/// A person's external id: the e-mail in lower case (Git has no account ids).
pub fn person_id(email: &str) -> String {
    email.to_lowercase()
}

fn millis(seconds: i64) -> i64 {
    seconds.saturating_mul(1000)
}

/// A commit as a document (`unreachable`: a force-push or branch deletion dropped it).
pub fn commit(c: &Commit, unreachable: bool) -> RecordData {
    let sig = |s: &history::Signature| json!({"name": s.name, "email": s.email, "time": millis(s.seconds), "offset_minutes": s.offset / 60});
    let mut attributes = Map::new();
    attributes.insert("id".into(), json!(c.id.to_string()));
    attributes.insert(
        "parents".into(),
        json!(c
            .parents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()),
    );
    attributes.insert("author".into(), sig(&c.author));
    attributes.insert("committer".into(), sig(&c.committer));
    if let Some(e) = &c.encoding {
        attributes.insert("encoding".into(), json!(e));
    }
    match &c.changes {
        Some(changes) => {
            attributes.insert("changes".into(), json!(changes));
        }
        None => {
            attributes.insert("changes".into(), Value::Null);
        }
    }
    if unreachable {
        attributes.insert("unreachable".into(), json!(true));
    }
    let title = c
        .message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    RecordData::Document(Document {
        external_id: c.id.to_string(),
        title: if title.is_empty() {
            c.id.to_string()
        } else {
            title
        },
        content_type: "text/plain".into(),
        body: c.message.clone(),
        url: None,
        author: Some(person_id(&c.author.email)),
        created_at: Some(millis(c.author.seconds)),
        updated_at: Some(millis(c.committer.seconds)),
        tags: Vec::new(),
        attributes,
    })
}

/// The refs, one page.
fn refs(config: &Config) -> Result<Page, Error> {
    let server = crate::protocol::discover(config.protocol)?;
    let refs = crate::protocol::list_refs(&server)?;
    let records = refs
        .into_iter()
        .map(|r| {
            let kind = if r.name == "HEAD" {
                "head"
            } else if r.name.starts_with("refs/tags/") {
                "tag"
            } else {
                "branch"
            };
            let mut data = Map::new();
            data.insert("name".into(), json!(r.name));
            data.insert("kind".into(), json!(kind));
            data.insert("target".into(), json!(r.target.to_string()));
            data.insert("peeled".into(), json!(r.peeled.map(|p| p.to_string())));
            data.insert("symref".into(), json!(r.symref));
            RecordData::Raw(RawRecord {
                external_id: r.name,
                data,
            })
        })
        .collect();
    Ok(Page {
        records,
        state: String::new(),
        has_more: false,
        deleted: Vec::new(),
    })
}
