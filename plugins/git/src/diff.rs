//! What a commit changed: its tree against its first parent's (the empty tree for a root
//! commit), path by path, with added and removed line counts as `git log --numstat -M100%`
//! shows them (exact renames paired; binary files and files over `max_diff_bytes` without
//! counts). Merge commits list no changes, as `git log` does by default.

use std::collections::{BTreeMap, BTreeSet};

use gix_hash::ObjectId;
use gix_object::tree::EntryKind;
use gix_object::{Kind, TreeRefIter};
use serde::Serialize;

use crate::pack::Objects;

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New in this commit.
    Added,
    /// Changed content or mode.
    Modified,
    /// Removed.
    Deleted,
    /// Moved without content change (an exact rename).
    Renamed,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The path (invalid UTF-8 replaced).
    pub path: String,
    /// A rename's old path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// How it changed.
    pub status: Status,
    /// Lines added; `None` for binary or too large files, and submodules.
    pub added: Option<u64>,
    /// Lines removed; like `added`.
    pub removed: Option<u64>,
}

/// A leaf of a tree: a file, link or submodule, by full path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Leaf {
    id: ObjectId,
    kind: EntryKind,
}

/// The diff of two trees; objects the packs lack are collected in `missing`.
pub struct Differ<'a> {
    objects: &'a Objects,
    /// Objects needed and not in `objects`.
    pub missing: BTreeSet<ObjectId>,
    max_diff_bytes: u64,
}

impl<'a> Differ<'a> {
    /// A differ over `objects`.
    pub fn new(objects: &'a Objects, max_diff_bytes: u64) -> Self {
        Self {
            objects,
            missing: BTreeSet::new(),
            max_diff_bytes,
        }
    }

    fn tree(&mut self, id: &ObjectId) -> Option<&'a [u8]> {
        match self.objects.get(id) {
            Some((Kind::Tree, data)) => Some(data),
            _ => {
                self.missing.insert(*id);
                None
            }
        }
    }

    /// Entries of tree `id` as name → (kind, id).
    fn entries(&mut self, id: Option<&ObjectId>) -> Option<BTreeMap<Vec<u8>, Leaf>> {
        let Some(id) = id else {
            return Some(BTreeMap::new());
        };
        let data = self.tree(id)?;
        let mut out = BTreeMap::new();
        for entry in TreeRefIter::from_bytes(data, gix_hash::Kind::Sha1) {
            let entry = entry.ok()?;
            out.insert(
                entry.filename.to_vec(),
                Leaf {
                    id: entry.oid.to_owned(),
                    kind: entry.mode.kind(),
                },
            );
        }
        Some(out)
    }

    /// Leaves that differ between trees `old` and `new` under `prefix`: (path, old, new).
    /// `None` when an object is missing (then `missing` names it).
    fn walk(
        &mut self,
        old: Option<&ObjectId>,
        new: Option<&ObjectId>,
        prefix: &[u8],
        out: &mut Vec<(Vec<u8>, Option<Leaf>, Option<Leaf>)>,
    ) -> Option<()> {
        let a = self.entries(old);
        let b = self.entries(new);
        let (a, b) = (a?, b?);
        let names: BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
        let mut complete = Some(());
        for name in names {
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let (x, y) = (a.get(name).copied(), b.get(name).copied());
            if x == y {
                continue;
            }
            let is_tree = |l: &Option<Leaf>| l.is_some_and(|l| l.kind == EntryKind::Tree);
            let sub = |l: &Option<Leaf>| l.filter(|l| l.kind == EntryKind::Tree).map(|l| l.id);
            if is_tree(&x) || is_tree(&y) {
                let (sa, sb) = (sub(&x), sub(&y));
                if self.walk(sa.as_ref(), sb.as_ref(), &path, out).is_none() {
                    complete = None;
                }
            }
            let leaf = |l: Option<Leaf>| l.filter(|l| l.kind != EntryKind::Tree);
            let (la, lb) = (leaf(x), leaf(y));
            if la.is_some() || lb.is_some() {
                out.push((path, la, lb));
            }
        }
        complete
    }

    fn blob(&mut self, leaf: Option<Leaf>) -> Result<Option<&'a [u8]>, ()> {
        match leaf {
            None => Ok(Some(&[])),
            Some(l) if l.kind == EntryKind::Commit => Ok(None),
            Some(l) => match self.objects.get(&l.id) {
                Some((Kind::Blob, data)) => Ok(Some(data)),
                _ => {
                    self.missing.insert(l.id);
                    Err(())
                }
            },
        }
    }

    /// The changes from tree `old` (none: the empty tree) to tree `new`; `None` while objects
    /// are missing.
    pub fn changes(&mut self, old: Option<&ObjectId>, new: &ObjectId) -> Option<Vec<Change>> {
        let mut leaves = Vec::new();
        self.walk(old, Some(new), b"", &mut leaves)?;
        // Exact renames: a deleted and an added path with the same blob.
        let mut added_by_id: BTreeMap<ObjectId, Vec<usize>> = BTreeMap::new();
        for (i, (_, a, b)) in leaves.iter().enumerate() {
            if let (None, Some(b)) = (a, b) {
                added_by_id.entry(b.id).or_default().push(i);
            }
        }
        let mut renamed_from: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let mut consumed = BTreeSet::new();
        for (i, (path, a, b)) in leaves.iter().enumerate() {
            if let (Some(a), None) = (a, b) {
                if let Some(j) = added_by_id
                    .get_mut(&a.id)
                    .and_then(|v| (!v.is_empty()).then(|| v.remove(0)))
                {
                    renamed_from.insert(j, path.clone());
                    consumed.insert(i);
                }
            }
        }
        let mut changes = Vec::new();
        let mut complete = true;
        for (i, (path, a, b)) in leaves.into_iter().enumerate() {
            if consumed.contains(&i) {
                continue;
            }
            let lossy = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
            if let Some(old_path) = renamed_from.get(&i) {
                changes.push(Change {
                    path: lossy(&path),
                    old_path: Some(lossy(old_path)),
                    status: Status::Renamed,
                    added: Some(0),
                    removed: Some(0),
                });
                continue;
            }
            let status = match (&a, &b) {
                (None, _) => Status::Added,
                (_, None) => Status::Deleted,
                _ => Status::Modified,
            };
            let (old_data, new_data) = (self.blob(a), self.blob(b));
            let (Ok(old_data), Ok(new_data)) = (old_data, new_data) else {
                complete = false;
                continue;
            };
            let (added, removed) = match (old_data, new_data) {
                (Some(x), Some(y)) => self.count(x, y),
                _ => (None, None),
            };
            changes.push(Change {
                path: lossy(&path),
                old_path: None,
                status,
                added,
                removed,
            });
        }
        complete.then(|| {
            changes.sort_by(|x, y| x.path.cmp(&y.path));
            changes
        })
    }

    /// Added and removed lines, as `git diff --numstat` counts them; binary (a NUL in the first
    /// 8000 bytes, git's test) or too large: none.
    fn count(&self, old: &[u8], new: &[u8]) -> (Option<u64>, Option<u64>) {
        let binary = |d: &[u8]| d[..d.len().min(8000)].contains(&0);
        if binary(old) || binary(new) {
            return (None, None);
        }
        if old.len() as u64 > self.max_diff_bytes || new.len() as u64 > self.max_diff_bytes {
            return (None, None);
        }
        let diff = similar::TextDiff::configure()
            .algorithm(similar::Algorithm::Myers)
            .diff_lines(old, new);
        let (mut added, mut removed) = (0, 0);
        for op in diff.ops() {
            match op.tag() {
                similar::DiffTag::Insert => added += op.new_range().len() as u64,
                similar::DiffTag::Delete => removed += op.old_range().len() as u64,
                similar::DiffTag::Replace => {
                    added += op.new_range().len() as u64;
                    removed += op.old_range().len() as u64;
                }
                similar::DiffTag::Equal => {}
            }
        }
        (Some(added), Some(removed))
    }
}
