//! The history of the configured branches, read incrementally: what the `commits`, `people`
//! and `trace-links` streams are made of.
//!
//! A run fetches the branch tips with `have` lines for what earlier runs read (the tips of the
//! last run, then the commits this run already returned), so the server sends only new
//! commits; they are returned parents first, `commits_per_page` at a time. When a run starts,
//! a remembered tip that is no longer an ancestor of its branch (a force-push, or a deleted
//! branch) is fetched once more with the current tips as `have`s: what comes back is the
//! commits no branch reaches any more, returned as unreachable. The state is the tips of the
//! last complete run plus, during a run, its targets and the heads of what it returned.
//!
//! One fetch per run: the host reads the pages of one stream through one instance, so the pack
//! a run's first page fetched is kept in the instance ([`Kept`]) and its later pages are cut
//! from it, with no request at all. The state still says everything a page needs, so a page
//! read by a fresh instance (the host replaces one that failed) fetches what is left with
//! `have` lines instead.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use agentic_sdk::host;
use agentic_sdk::Error;
use agentic_sdk::LogLevel;
use gix_hash::ObjectId;
use gix_object::{CommitRef, Kind};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::diff::{Change, Differ};
use crate::pack::{self, Objects};
use crate::protocol::{self, Server, Version, Want};

/// A person's signature on a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// Name (invalid UTF-8 replaced).
    pub name: String,
    /// E-mail as written.
    pub email: String,
    /// Seconds since the epoch.
    pub seconds: i64,
    /// Offset from UTC in seconds.
    pub offset: i32,
}

/// A commit as the streams need it.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Its id.
    pub id: ObjectId,
    /// Its parents, first parent first.
    pub parents: Vec<ObjectId>,
    /// Author.
    pub author: Signature,
    /// Committer.
    pub committer: Signature,
    /// Message (invalid UTF-8 replaced).
    pub message: String,
    /// The `encoding` header, when the message is not UTF-8 by declaration.
    pub encoding: Option<String>,
    /// Changed paths (`None` when not asked for, or objects could not be had).
    pub changes: Option<Vec<Change>>,
}

/// The stream state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Branch → tip that the last complete run read.
    #[serde(default)]
    pub tips: BTreeMap<String, String>,
    /// The run under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

/// A run spread over pages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Branch → tip this run reads up to.
    pub targets: BTreeMap<String, String>,
    /// Commits whose ancestry is read (the `have`s of the next page).
    pub done: BTreeSet<String>,
}

/// One page of history.
#[derive(Debug)]
pub struct HistoryPage {
    /// New commits, parents before children.
    pub commits: Vec<Commit>,
    /// Commits no configured branch reaches any more (force-push, deleted branch).
    pub unreachable: Vec<Commit>,
    /// The state after this page.
    pub state: State,
    /// Whether the run goes on.
    pub has_more: bool,
    /// Bytes the server sent.
    pub bytes: usize,
}

fn parse_state(state: Option<&str>) -> Result<State, Error> {
    match state {
        None | Some("") => Ok(State::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| Error::InvalidInput(format!("not a state of this stream: {e}"))),
    }
}

fn id(hex: &str) -> Result<ObjectId, Error> {
    ObjectId::from_hex(hex.as_bytes())
        .map_err(|_| Error::InvalidInput(format!("the state has an invalid commit id {hex:?}")))
}

/// The server and the configured branches' tips.
pub fn branches(config: &Config) -> Result<(Server, BTreeMap<String, String>), Error> {
    let server = protocol::discover(config.protocol)?;
    let refs = protocol::list_refs(&server)?;
    let tips = refs
        .iter()
        .filter_map(|r| Some((r.name.strip_prefix("refs/heads/")?, r)))
        .filter(|(b, _)| config.syncs_branch(b))
        .map(|(b, r)| (b.to_owned(), r.target.to_string()))
        .collect();
    Ok((server, tips))
}

/// Fetches and parses one pack.
pub fn fetch(server: &Server, config: &Config, want: &Want) -> Result<(Objects, usize), Error> {
    let fetched = protocol::fetch(server, want, config.max_pack_bytes as usize)?;
    if fetched.pack.is_empty() {
        return Ok((Objects::default(), fetched.bytes));
    }
    Ok((pack::parse(&fetched.pack, config.limits())?, fetched.bytes))
}

/// What a run fetched, kept in the instance between its pages.
///
/// Why: without it each page fetched the rest of the history again, with the pages before as
/// `have` lines, so a history of ten pages came as ten shrinking packs (19.1 MB from the server
/// for the 10 000 commits of `tests/benches/git_sync.rs`, against 5.8 MB in one pack; each a
/// pack the server generates). It is used only by the page whose state is exactly the one
/// the page before returned, so it can never make a page differ from a fetched one; a failed
/// page drops it.
struct Kept {
    /// The server the run fetched from (for the snapshots [`changes`] fetches).
    server: Server,
    /// The run as the next page's state must carry it.
    run: Run,
    /// The run's objects (and the snapshots fetched since).
    objects: Objects,
    /// The run's commits, parents first.
    order: Vec<ObjectId>,
    /// How many of `order` earlier pages returned.
    next: usize,
}

thread_local! {
    /// The run under way (components are single-threaded; native tests keep one per thread).
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

impl Kept {
    /// The kept run, when `run` is where it stopped.
    fn take(run: &Run) -> Option<Kept> {
        KEPT.with(|k| k.borrow_mut().take())
            .filter(|k| k.run == *run)
    }

    fn keep(self) {
        KEPT.with(|k| *k.borrow_mut() = Some(self));
    }
}

/// Reads one page of history; `with_changes` (the `commits` stream) computes each commit's
/// changed paths and looks for commits a force-push dropped.
pub fn read(
    config: &Config,
    state: Option<&str>,
    with_changes: bool,
) -> Result<HistoryPage, Error> {
    let mut state = parse_state(state)?;
    if let Some(kept) = state.run.as_ref().and_then(Kept::take) {
        return next_page(config, state, kept, Vec::new(), 0, with_changes);
    }
    let (server, current) = branches(config)?;
    let starting = state.run.is_none();
    let run = state.run.take().unwrap_or_else(|| Run {
        targets: current.clone(),
        done: state.tips.values().cloned().collect(),
    });
    let targets: BTreeSet<ObjectId> = run
        .targets
        .values()
        .map(|t| id(t))
        .collect::<Result<_, _>>()?;
    let haves: BTreeSet<ObjectId> = run.done.iter().map(|t| id(t)).collect::<Result<_, _>>()?;
    let wants: BTreeSet<ObjectId> = targets.difference(&haves).copied().collect();
    let (objects, mut bytes) = fetch(
        &server,
        config,
        &Want {
            wants: wants.clone(),
            haves: haves.clone(),
            deepen: None,
        },
    )?;

    // Commits of this run, parents first; the walk is deterministic for a given pack.
    let order = topological(&objects, &wants)?;
    let mut unreachable = Vec::new();
    if starting && with_changes {
        let parents_seen: BTreeSet<ObjectId> =
            order.iter().flat_map(|c| parents(&objects, c)).collect();
        let suspects: BTreeSet<ObjectId> = state
            .tips
            .values()
            .map(|t| id(t))
            .collect::<Result<BTreeSet<_>, _>>()?
            .into_iter()
            .filter(|t| !targets.contains(t) && !parents_seen.contains(t))
            .collect();
        if !suspects.is_empty() {
            let (gone, gone_bytes) = unreachable_commits(&server, config, &suspects, &targets)?;
            bytes += gone_bytes;
            unreachable = gone;
        }
    }
    let kept = Kept {
        server,
        run,
        objects,
        order,
        next: 0,
    };
    next_page(config, state, kept, unreachable, bytes, with_changes)
}

/// The next page of a fetched run; keeps the run in the instance when more pages follow.
fn next_page(
    config: &Config,
    mut state: State,
    mut kept: Kept,
    unreachable: Vec<Commit>,
    mut bytes: usize,
    with_changes: bool,
) -> Result<HistoryPage, Error> {
    let per_page = config.commits_per_page.max(1) as usize;
    let page_ids: Vec<ObjectId> = kept
        .order
        .iter()
        .skip(kept.next)
        .take(per_page)
        .copied()
        .collect();
    kept.next += page_ids.len();
    let has_more = kept.next < kept.order.len();
    let mut commits = Vec::with_capacity(page_ids.len());
    for c in &page_ids {
        commits.push(decode(&kept.objects, c)?);
    }
    if with_changes {
        bytes += changes(&kept.server, config, &mut kept.objects, &mut commits)?;
    }

    if has_more {
        let emitted: BTreeSet<ObjectId> = page_ids.iter().copied().collect();
        let inner: BTreeSet<ObjectId> = commits.iter().flat_map(|c| c.parents.clone()).collect();
        for c in emitted.difference(&inner) {
            kept.run.done.insert(c.to_string());
        }
        state.run = Some(kept.run.clone());
        kept.keep();
    } else {
        state.tips = kept.run.targets;
        state.run = None;
    }
    Ok(HistoryPage {
        commits,
        unreachable,
        state,
        has_more,
        bytes,
    })
}

fn parents(objects: &Objects, c: &ObjectId) -> Vec<ObjectId> {
    match objects.get(c) {
        Some((Kind::Commit, data)) => CommitRef::from_bytes(data, gix_hash::Kind::Sha1)
            .map(|c| c.parents().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The pack's commits reachable from `from`, parents before children; among commits ready at
/// the same time, the older committer time first, then the id.
fn topological(objects: &Objects, from: &BTreeSet<ObjectId>) -> Result<Vec<ObjectId>, Error> {
    let mut reach: BTreeSet<ObjectId> = BTreeSet::new();
    let mut stack: Vec<ObjectId> = from
        .iter()
        .filter(|c| objects.contains(c))
        .copied()
        .collect();
    while let Some(c) = stack.pop() {
        if reach.insert(c) {
            stack.extend(
                parents(objects, &c)
                    .into_iter()
                    .filter(|p| objects.contains(p)),
            );
        }
    }
    let mut pending_parents: HashMap<ObjectId, usize> = HashMap::new();
    let mut children: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut time: HashMap<ObjectId, i64> = HashMap::new();
    for c in &reach {
        let ps: BTreeSet<ObjectId> = parents(objects, c)
            .into_iter()
            .filter(|p| reach.contains(p))
            .collect();
        pending_parents.insert(*c, ps.len());
        for p in ps {
            children.entry(p).or_default().push(*c);
        }
        let t = decode(objects, c)?.committer.seconds;
        time.insert(*c, t);
    }
    let mut ready: BTreeSet<(i64, ObjectId)> = pending_parents
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(c, _)| (time[c], *c))
        .collect();
    let mut order = Vec::with_capacity(reach.len());
    while let Some(first) = ready.pop_first() {
        order.push(first.1);
        for child in children.get(&first.1).into_iter().flatten() {
            let n = pending_parents.get_mut(child).expect("known");
            *n -= 1;
            if *n == 0 {
                ready.insert((time[child], *child));
            }
        }
    }
    Ok(order)
}

fn signature(sig: Option<gix_actor::SignatureRef<'_>>) -> Signature {
    match sig {
        Some(s) => {
            let time = s.time().unwrap_or_default();
            Signature {
                name: String::from_utf8_lossy(s.name.trim_ascii()).into_owned(),
                email: String::from_utf8_lossy(s.email.trim_ascii()).into_owned(),
                seconds: time.seconds,
                offset: time.offset,
            }
        }
        None => Signature {
            name: String::new(),
            email: String::new(),
            seconds: 0,
            offset: 0,
        },
    }
}

/// The commit `c` of the pack, decoded.
pub fn decode(objects: &Objects, c: &ObjectId) -> Result<Commit, Error> {
    let data = match objects.get(c) {
        Some((Kind::Commit, data)) => data,
        _ => return Err(Error::Internal(format!("commit {c} is not in the pack"))),
    };
    let commit = CommitRef::from_bytes(data, gix_hash::Kind::Sha1)
        .map_err(|e| Error::Internal(format!("commit {c} does not parse: {e}")))?;
    Ok(Commit {
        id: *c,
        parents: commit.parents().collect(),
        author: signature(commit.author().ok()),
        committer: signature(commit.committer().ok()),
        message: String::from_utf8_lossy(commit.message).into_owned(),
        encoding: commit
            .encoding
            .map(|e| String::from_utf8_lossy(e).into_owned()),
        changes: None,
    })
}

/// The commits reachable from `suspects` and from none of `targets`.
fn unreachable_commits(
    server: &Server,
    config: &Config,
    suspects: &BTreeSet<ObjectId>,
    targets: &BTreeSet<ObjectId>,
) -> Result<(Vec<Commit>, usize), Error> {
    if server.version == Version::V0 {
        // Version 0 over HTTP serves only what the refs reach, and an old tip after a
        // force-push is reached by none.
        host::log(
            LogLevel::Warn,
            "a branch was rewritten or deleted; the server speaks only protocol v0, which does not \
             serve unreferenced commits, so commits it dropped are not marked unreachable",
        );
        return Ok((Vec::new(), 0));
    }
    let want = Want {
        wants: suspects.clone(),
        haves: targets.clone(),
        deepen: None,
    };
    match fetch(server, config, &want) {
        Ok((objects, bytes)) => {
            let mut gone = Vec::new();
            for c in topological(&objects, suspects)? {
                gone.push(decode(&objects, &c)?);
            }
            Ok((gone, bytes))
        }
        Err(Error::Internal(e)) if e.contains("not our ref") => {
            host::log(
                LogLevel::Warn,
                "a branch was rewritten or deleted and the server no longer has its old tip \
                 (garbage-collected): the commits it dropped are not marked unreachable",
            );
            Ok((Vec::new(), 0))
        }
        Err(e) => Err(e),
    }
}

/// Computes each commit's changes; objects the incremental pack left out (those earlier runs
/// read) are fetched as snapshots (`deepen 1`) of the commits that need them.
fn changes(
    server: &Server,
    config: &Config,
    objects: &mut Objects,
    commits: &mut [Commit],
) -> Result<usize, Error> {
    let mut bytes = 0;
    for round in 0..3 {
        let mut need: BTreeSet<ObjectId> = BTreeSet::new();
        let mut differ = Differ::new(objects, config.max_diff_bytes);
        let mut results = Vec::with_capacity(commits.len());
        for c in commits.iter() {
            if c.changes.is_some() {
                results.push(None);
                continue;
            }
            if c.parents.len() > 1 {
                results.push(Some(Vec::new()));
                continue;
            }
            let tree = |x: &ObjectId| match objects.get(x) {
                Some((Kind::Commit, d)) => CommitRef::from_bytes(d, gix_hash::Kind::Sha1)
                    .ok()
                    .map(|c| c.tree()),
                _ => None,
            };
            let new_tree = tree(&c.id).expect("the commit is in the pack");
            let old_tree = match c.parents.first() {
                None => None,
                Some(p) => match tree(p) {
                    Some(t) => Some(t),
                    None => {
                        need.insert(*p);
                        results.push(None);
                        continue;
                    }
                },
            };
            let before = differ.missing.len();
            let r = differ.changes(old_tree.as_ref(), &new_tree);
            if r.is_none() || differ.missing.len() > before {
                need.insert(c.id);
                need.extend(c.parents.first());
            }
            results.push(r);
        }
        for (c, r) in commits.iter_mut().zip(results) {
            if r.is_some() {
                c.changes = r;
            }
        }
        if need.is_empty() || round == 2 {
            break;
        }
        let (more, b) = fetch(
            server,
            config,
            &Want {
                wants: need,
                haves: BTreeSet::new(),
                deepen: Some(1),
            },
        )?;
        bytes += b;
        objects.extend(more);
    }
    Ok(bytes)
}
