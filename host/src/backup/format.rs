//! What is inside a backup, once decrypted and decompressed: a tar archive of
//! 1. `manifest.json` ([`Manifest`]): format, host version, source backend, schema version, every
//!    table with its columns (neutral types) and row count, the id sequences;
//! 2. `tables/<table>/<part>.jsonl`: the rows, one JSON array per line, in column order; at most
//!    [`PART_BYTES`] per part (one row more at most), so no member is large;
//! 3. `blobs/<key>`: the bytes of each document version kept in the filesystem blob store;
//! 4. `checksums.json` ([`Checksums`]), last: size and SHA-256 of every member before it, and
//!    the blobs that were gone when the backup read them.
//!
//! Values in JSON: integers as numbers, text as strings, bytes as base64 strings, `NULL` as
//! `null`; the column's type in the manifest says which.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::store::backup::{Column, ColumnType, Value};
use crate::store::Backend;

/// The version of this layout; a restore refuses another.
pub const FORMAT: u32 = 1;

/// The first member.
pub const MANIFEST: &str = "manifest.json";
/// The last member.
pub const CHECKSUMS: &str = "checksums.json";

/// Target size of one part of a table's rows.
pub const PART_BYTES: usize = 4 * 1024 * 1024;

/// Largest member a restore reads into memory (a part holding one very large row, such as a
/// plugin component); blobs are streamed to disk instead.
pub const MAX_MEMBER_BYTES: u64 = 512 * 1024 * 1024;

/// The first member: everything a restore needs to know before the rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// When the snapshot was taken (epoch milliseconds in the JSON).
    pub created_at: Millis,
    /// The host version that made it.
    pub host_version: String,
    /// `sqlite` or `postgres`: where it was taken (restores go to either).
    pub source_backend: String,
    /// The highest migration applied to the source: a restore needs the same.
    pub schema_version: i64,
    /// Every table, in restore order.
    pub tables: Vec<TableEntry>,
    /// The highest id handed out per table.
    pub sequences: Vec<(String, i64)>,
    /// How many filesystem blobs the document versions name.
    pub blobs: u64,
}

/// A table in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    /// Its name.
    pub name: String,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Rows in the snapshot.
    pub rows: i64,
}

/// The last member: what every other member must be.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Checksums {
    /// Every member before this one, in order.
    pub members: Vec<MemberSum>,
    /// Filesystem blobs named by a document version but gone when read (deleted after the
    /// snapshot, or lost): their versions restore without content.
    pub missing_blobs: Vec<String>,
}

/// Size and SHA-256 of one member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberSum {
    /// Its path in the archive.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
}

/// The name a backend is recorded under.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The member holding part `n` of `table`.
pub fn part_path(table: &str, n: u32) -> String {
    format!("tables/{table}/{n:06}.jsonl")
}

/// The table a part member belongs to.
pub fn part_table(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("tables/")?;
    let (table, file) = rest.split_once('/')?;
    file.ends_with(".jsonl").then_some(table)
}

/// The member holding a filesystem blob.
pub fn blob_path(key: &str) -> String {
    format!("blobs/{key}")
}

/// Appends one row as a JSON line.
pub fn encode_row(out: &mut Vec<u8>, row: &[Value]) {
    let values: Vec<serde_json::Value> = row
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Integer(i) => (*i).into(),
            Value::Text(s) => s.as_str().into(),
            Value::Blob(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
        })
        .collect();
    // Writing JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &values);
    out.push(b'\n');
}

/// Reads one JSON line as values of `columns`.
pub fn decode_row(line: &[u8], columns: &[Column]) -> Result<Vec<Value>, String> {
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON array: {e}"))?;
    if values.len() != columns.len() {
        return Err(format!(
            "{} values for {} columns",
            values.len(),
            columns.len()
        ));
    }
    values
        .into_iter()
        .zip(columns)
        .map(|(v, c)| match (v, c.kind) {
            (serde_json::Value::Null, _) => Ok(Value::Null),
            (serde_json::Value::Number(n), ColumnType::Integer) => n
                .as_i64()
                .map(Value::Integer)
                .ok_or_else(|| format!("{}: {n} is not a 64-bit integer", c.name)),
            (serde_json::Value::String(s), ColumnType::Text) => Ok(Value::Text(s)),
            (serde_json::Value::String(s), ColumnType::Blob) => {
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Value::Blob)
                    .map_err(|e| format!("{}: bad base64: {e}", c.name))
            }
            (other, kind) => Err(format!("{}: {other} is not {kind:?}", c.name)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_json_lines() {
        let columns = [
            Column {
                name: "id".into(),
                kind: ColumnType::Integer,
            },
            Column {
                name: "name".into(),
                kind: ColumnType::Text,
            },
            Column {
                name: "data".into(),
                kind: ColumnType::Blob,
            },
        ];
        let row = vec![
            Value::Integer(i64::MIN),
            Value::Text("line\nbreak \"quoted\" é".into()),
            Value::Blob(vec![0, 255, 10, 13]),
        ];
        let null = vec![Value::Null, Value::Null, Value::Null];
        let mut out = Vec::new();
        encode_row(&mut out, &row);
        encode_row(&mut out, &null);
        let lines: Vec<&[u8]> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 2, "one line per row");
        assert_eq!(decode_row(lines[0], &columns).expect("row"), row);
        assert_eq!(decode_row(lines[1], &columns).expect("row"), null);
        assert!(
            decode_row(b"[1, 2, 3]", &columns).is_err(),
            "types are checked"
        );
        assert!(
            decode_row(b"[1]", &columns).is_err(),
            "the width is checked"
        );
        assert_eq!(part_table(&part_path("records", 3)), Some("records"));
        assert_eq!(part_table("blobs/abc"), None);
    }
}
