//! Pack files (`gitformat-pack(5)`): entries are framed with `gix-pack` (pack header, entry
//! headers), inflated with `gix-zlib`, and their deltas resolved here.
//!
//! Why deltas are resolved by hand: `gix-pack`'s delta application is crate-private and its
//! resolvers work on an index file (or a tempfile-backed stream) and threads, which the
//! component has not; and the connector needs limits they do not offer: an object larger than
//! [`Limits::max_object_bytes`] is refused from its header before any memory is taken for it,
//! a delta chain longer than [`Limits::max_delta_depth`] is refused, and `ref-delta` entries
//! whose bases form a loop are found (they never resolve) instead of recursing forever.

use std::collections::HashMap;

use agentic_sdk::Error;
use gix_hash::{Kind as HashKind, ObjectId};
use gix_object::Kind;
use gix_pack::data::entry::Header;

/// Bounds on what a pack may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest object (or delta) accepted, inflated.
    pub max_object_bytes: u64,
    /// Most deltas applied on top of one base object.
    pub max_delta_depth: usize,
}

/// The objects of a pack, every delta resolved, by id.
#[derive(Debug, Default)]
pub struct Objects {
    by_id: HashMap<ObjectId, (Kind, Vec<u8>)>,
}

impl Objects {
    /// The object `id`, when the pack had it.
    pub fn get(&self, id: &ObjectId) -> Option<(Kind, &[u8])> {
        self.by_id.get(id).map(|(k, d)| (*k, d.as_slice()))
    }

    /// Whether the pack had `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.by_id.contains_key(id)
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The ids of the commits.
    pub fn commit_ids(&self) -> impl Iterator<Item = &ObjectId> {
        self.by_id
            .iter()
            .filter(|(_, (k, _))| *k == Kind::Commit)
            .map(|(id, _)| id)
    }

    /// Adds the objects of `other` (a second pack of the same sync).
    pub fn extend(&mut self, other: Objects) {
        self.by_id.extend(other.by_id);
    }
}

fn corrupt(message: String) -> Error {
    Error::Internal(format!("corrupt pack from the server: {message}"))
}

/// One entry as read, before its delta is applied.
enum Raw {
    Base(Kind),
    Ofs(usize),
    Ref(ObjectId),
}

/// Parses `pack`, checks its trailing checksum, and resolves every delta.
pub fn parse(pack: &[u8], limits: Limits) -> Result<Objects, Error> {
    const HEADER: usize = 12;
    const TRAILER: usize = 20;
    if pack.len() < HEADER + TRAILER {
        return Err(corrupt(format!(
            "{} bytes is too short for a pack",
            pack.len()
        )));
    }
    let header: &[u8; HEADER] = pack[..HEADER].try_into().expect("12 bytes");
    let (_, count) = gix_pack::data::header::decode(header)
        .map_err(|e| corrupt(format!("bad pack header: {e}")))?;
    let (body, trailer) = pack.split_at(pack.len() - TRAILER);
    let mut hasher = gix_hash::hasher(HashKind::Sha1);
    hasher.update(body);
    let sum = hasher
        .try_finalize()
        .map_err(|e| corrupt(format!("checksum: {e}")))?;
    if sum.as_bytes() != trailer {
        return Err(corrupt(
            "its checksum does not match (truncated or damaged in transit)".into(),
        ));
    }
    // Each entry takes at least 2 bytes of header and compressed data; a count beyond that is a lie.
    if count as usize > body.len() / 2 {
        return Err(corrupt(format!(
            "it claims {count} objects in {} bytes",
            body.len()
        )));
    }

    let mut raws = Vec::with_capacity(count as usize);
    let mut datas: Vec<Vec<u8>> = Vec::with_capacity(count as usize);
    let mut at_offset = HashMap::with_capacity(count as usize);
    let mut inflate = gix_zlib::Decompress::new();
    let mut offset = HEADER;
    for n in 0..count {
        if offset >= body.len() {
            return Err(corrupt(format!("it ends after {n} of {count} objects")));
        }
        let entry =
            gix_pack::data::Entry::from_bytes(&body[offset..], offset as u64, HashKind::Sha1)
                .map_err(|e| corrupt(format!("object {n} at byte {offset}: {e}")))?;
        if entry.decompressed_size > limits.max_object_bytes {
            return Err(Error::Config(format!(
                "max_object_bytes: the repository has an object of {} bytes, over the limit of {} \
                 (raise max_object_bytes, up to its maximum, to sync it)",
                entry.decompressed_size, limits.max_object_bytes
            )));
        }
        let raw = match entry.header {
            Header::OfsDelta { base_distance } => {
                let base = Header::verified_base_pack_offset(offset as u64, base_distance)
                    .and_then(|b| at_offset.get(&(b as usize)).copied())
                    .ok_or_else(|| {
                        corrupt(format!(
                            "object {n} at byte {offset} is a delta of byte {} where no object starts",
                            (offset as u64).saturating_sub(base_distance)
                        ))
                    })?;
                Raw::Ofs(base)
            }
            Header::RefDelta { base_id } => Raw::Ref(base_id),
            other => Raw::Base(other.as_kind().expect("a base object has a kind")),
        };
        let start = entry.data_offset as usize;
        // One byte more than announced: an empty object still gets room to end its stream, and
        // a stream that inflates to more than its header says is caught.
        let mut out = vec![0u8; entry.decompressed_size as usize + 1];
        inflate.reset();
        let status = inflate
            .decompress(
                body.get(start..).unwrap_or_default(),
                &mut out,
                gix_zlib::FlushDecompress::Finish,
            )
            .map_err(|e| corrupt(format!("object {n} at byte {offset} does not inflate: {e}")))?;
        if status != gix_zlib::Status::StreamEnd || inflate.total_out() != entry.decompressed_size {
            return Err(corrupt(format!(
                "object {n} at byte {offset} inflates to {} bytes, not the {} its header says",
                inflate.total_out(),
                entry.decompressed_size
            )));
        }
        out.truncate(entry.decompressed_size as usize);
        at_offset.insert(offset, raws.len());
        raws.push(raw);
        datas.push(out);
        offset = start + inflate.total_in() as usize;
    }
    if offset != body.len() {
        return Err(corrupt(format!(
            "{} bytes follow its last object",
            body.len() - offset
        )));
    }
    resolve(raws, datas, limits)
}

/// Applies every delta: `ofs-delta` chains point backwards (so never loop); `ref-delta` bases
/// are found by id in rounds, and what no round resolves is a missing base or a loop.
fn resolve(raws: Vec<Raw>, mut datas: Vec<Vec<u8>>, limits: Limits) -> Result<Objects, Error> {
    let mut kinds: Vec<Option<Kind>> = vec![None; raws.len()];
    let mut depth = vec![0usize; raws.len()];
    let mut objects = Objects::default();
    let mut index: HashMap<ObjectId, usize> = HashMap::new();
    let mut pending: Vec<usize> = (0..raws.len()).collect();
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for i in pending {
            let base = match &raws[i] {
                Raw::Base(kind) => {
                    kinds[i] = Some(*kind);
                    let id = gix_object::compute_hash(HashKind::Sha1, *kind, &datas[i])
                        .map_err(|e| corrupt(format!("hashing: {e}")))?;
                    index.insert(id, i);
                    continue;
                }
                Raw::Ofs(b) => Some(*b),
                Raw::Ref(id) => index.get(id).copied(),
            };
            match base.filter(|b| kinds[*b].is_some()) {
                Some(b) => {
                    depth[i] = depth[b] + 1;
                    if depth[i] > limits.max_delta_depth {
                        return Err(corrupt(format!(
                            "a delta chain is deeper than {} (max_delta_depth)",
                            limits.max_delta_depth
                        )));
                    }
                    let target = apply(&datas[b], &datas[i], limits.max_object_bytes)?;
                    let kind = kinds[b].expect("resolved");
                    kinds[i] = Some(kind);
                    let id = gix_object::compute_hash(HashKind::Sha1, kind, &target)
                        .map_err(|e| corrupt(format!("hashing: {e}")))?;
                    datas[i] = target;
                    index.insert(id, i);
                }
                None => still.push(i),
            }
        }
        if still.is_empty() {
            break;
        }
        if still.len() == before {
            return Err(corrupt(format!(
                "{} deltas have a base that is neither in the pack nor resolvable \
                 (a missing thin-pack base or a delta loop)",
                still.len()
            )));
        }
        pending = still;
    }
    for (id, i) in index {
        let data = std::mem::take(&mut datas[i]);
        objects
            .by_id
            .insert(id, (kinds[i].expect("resolved"), data));
    }
    Ok(objects)
}

/// Reads one of a delta's size varints.
fn varint(delta: &[u8], at: &mut usize) -> Result<u64, Error> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *delta
            .get(*at)
            .ok_or_else(|| corrupt("a delta's header is cut short".into()))?;
        *at += 1;
        if shift > 56 {
            return Err(corrupt("a delta's size does not fit 64 bits".into()));
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Applies `delta` to `base` (copy and insert instructions), every offset checked.
pub fn apply(base: &[u8], delta: &[u8], max_object_bytes: u64) -> Result<Vec<u8>, Error> {
    let mut at = 0;
    let base_size = varint(delta, &mut at)?;
    let target_size = varint(delta, &mut at)?;
    if base_size != base.len() as u64 {
        return Err(corrupt(format!(
            "a delta expects a base of {base_size} bytes, its base has {}",
            base.len()
        )));
    }
    if target_size > max_object_bytes {
        return Err(Error::Config(format!(
            "max_object_bytes: the repository has an object of {target_size} bytes, over the limit of {max_object_bytes}"
        )));
    }
    let mut out = Vec::with_capacity(target_size as usize);
    while at < delta.len() {
        let op = delta[at];
        at += 1;
        if op & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for bit in 0..4 {
                if op & (1 << bit) != 0 {
                    let b = *delta
                        .get(at)
                        .ok_or_else(|| corrupt("a delta copy is cut short".into()))?;
                    offset |= usize::from(b) << (8 * bit);
                    at += 1;
                }
            }
            for bit in 0..3 {
                if op & (0x10 << bit) != 0 {
                    let b = *delta
                        .get(at)
                        .ok_or_else(|| corrupt("a delta copy is cut short".into()))?;
                    size |= usize::from(b) << (8 * bit);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let chunk = offset
                .checked_add(size)
                .and_then(|end| base.get(offset..end))
                .ok_or_else(|| corrupt("a delta copies from beyond its base".into()))?;
            out.extend_from_slice(chunk);
        } else if op != 0 {
            let chunk = delta
                .get(at..at + usize::from(op))
                .ok_or_else(|| corrupt("a delta insert is cut short".into()))?;
            out.extend_from_slice(chunk);
            at += usize::from(op);
        } else {
            return Err(corrupt("a delta has the reserved instruction 0".into()));
        }
        if out.len() as u64 > target_size {
            return Err(corrupt("a delta writes more than its target size".into()));
        }
    }
    if out.len() as u64 != target_size {
        return Err(corrupt(format!(
            "a delta writes {} bytes, not the {target_size} it announces",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_copies_and_inserts() {
        let base = b"hello, world";
        // base 12, target 11; copy 0..5 ("hello"), insert " moon!"
        let mut delta = vec![12, 11, 0x80 | 0x10, 5, 6];
        delta.extend_from_slice(b" moon!");
        assert_eq!(apply(base, &delta, 100).unwrap(), b"hello moon!");
    }

    #[test]
    fn refuses_bad_deltas() {
        assert!(apply(b"abc", &[3, 2, 0x80 | 0x01 | 0x10, 9, 2], 100).is_err()); // copy past base
        assert!(apply(b"abc", &[4, 2, 2, b'x', b'y'], 100).is_err()); // base size mismatch
        assert!(apply(b"abc", &[3, 2, 0], 100).is_err()); // reserved op
        assert!(matches!(
            apply(b"abc", &[3, 200, 1], 100),
            Err(Error::Config(_))
        ));
    }
}
