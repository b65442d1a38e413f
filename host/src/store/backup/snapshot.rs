//! A consistent, read-only view of the database: `VACUUM INTO` a copy on SQLite, one
//! `REPEATABLE READ, READ ONLY` transaction on PostgreSQL.

use std::path::{Path, PathBuf};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Executor, Row};

use super::{
    check_known, schema, schema_error, schema_version, sequences, Column, ColumnType, Value,
};
use crate::store::{Backend, Result, Store};

/// A consistent, read-only view of the whole database at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// `None` once closed.
    conn: Option<AnyConnection>,
    backend: Backend,
    /// SQLite: the `VACUUM INTO` copy being read, deleted with the snapshot.
    copy: Option<PathBuf>,
}

impl Store {
    /// Takes a snapshot of the database while it keeps serving. On SQLite the copy is written
    /// beside the database file (same disk, same permissions) and deleted with the snapshot.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        match self.backend {
            Backend::Sqlite => {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&self.pool)
                        .await?;
                if file.is_empty() {
                    return Err(schema_error(
                        "an in-memory SQLite database cannot be backed up".into(),
                    ));
                }
                let dir = Path::new(&file).parent().unwrap_or(Path::new("."));
                let copy = dir.join(format!(
                    ".agentic-snapshot-{}.db",
                    uuid::Uuid::new_v4().simple()
                ));
                // From here on the snapshot owns the copy: dropping it (on any error) deletes it.
                let mut snapshot = Snapshot {
                    conn: None,
                    backend: Backend::Sqlite,
                    copy: Some(copy.clone()),
                };
                let path = copy.to_string_lossy().into_owned();
                sqlx::query("VACUUM INTO $1")
                    .bind(&path)
                    .execute(&self.pool)
                    .await?;
                let mut conn = AnyConnection::connect(&format!("sqlite://{path}?mode=ro")).await?;
                conn.execute("PRAGMA query_only = ON").await?;
                snapshot.conn = Some(conn);
                Ok(snapshot)
            }
            Backend::Postgres => {
                // A connection of its own (closed when the snapshot goes), so the snapshot's
                // transaction never returns to the pool.
                let mut conn = self.pool.acquire().await?.detach();
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?;
                Ok(Snapshot {
                    conn: Some(conn),
                    backend: Backend::Postgres,
                    copy: None,
                })
            }
        }
    }
}

fn remove_copy(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(copy) = self.copy.take() {
            remove_copy(&copy);
        }
    }
}

/// What a snapshot holds, before its rows are read.
#[derive(Debug, Clone)]
pub struct SnapshotSchema {
    /// Every platform table with its columns, in restore order.
    pub tables: Vec<(String, Vec<Column>)>,
    /// The highest migration applied.
    pub schema_version: i64,
    /// The highest id handed out per table (only tables with a sequence above zero).
    pub sequences: Vec<(String, i64)>,
}

/// The statement reading one table's rows (kept by the caller while the rows stream).
#[derive(Debug, Clone)]
pub struct Select {
    sql: String,
    columns: Vec<Column>,
}

impl Select {
    /// All rows of `table` (one of [`TABLES`]) as values of `columns`.
    pub fn new(table: &str, columns: &[Column]) -> Result<Self> {
        check_known(table)?;
        let list = columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Self {
            sql: format!("SELECT {list} FROM {table}"),
            columns: columns.to_vec(),
        })
    }
}

impl Snapshot {
    fn conn(&mut self) -> Result<&mut AnyConnection> {
        self.conn
            .as_mut()
            .ok_or_else(|| schema_error("the snapshot is closed".into()))
    }

    /// The backend the snapshot was taken on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Tables, columns, schema version and sequences of the snapshot.
    pub async fn schema(&mut self) -> Result<SnapshotSchema> {
        let backend = self.backend;
        let conn = self.conn()?;
        let tables = schema(conn, backend).await?;
        let schema_version = schema_version(conn).await?;
        let sequences = sequences(conn, backend, &tables).await?;
        Ok(SnapshotSchema {
            tables,
            schema_version,
            sequences,
        })
    }

    /// How many rows `table` holds.
    pub async fn count(&mut self, table: &str) -> Result<i64> {
        check_known(table)?;
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.conn()?)
            .await?)
    }

    /// The rows `select` reads, streamed.
    pub fn rows<'a>(&'a mut self, select: &'a Select) -> Result<BoxStream<'a, Result<Vec<Value>>>> {
        let rows = sqlx::query(&select.sql).fetch(self.conn()?);
        Ok(Box::pin(
            rows.map(move |row| decode(&row?, &select.columns)),
        ))
    }

    /// The keys of the document versions whose bytes are in the filesystem blob store.
    pub async fn filesystem_blob_keys(&mut self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT blob_key FROM document_versions WHERE blob_store = 'filesystem' ORDER BY id",
        )
        .fetch_all(self.conn()?)
        .await?)
    }

    /// Ends the snapshot (its transaction and connection; on SQLite its copy).
    pub async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

fn decode(row: &AnyRow, columns: &[Column]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let v = match c.kind {
            ColumnType::Integer => row
                .try_get::<Option<i64>, _>(i)?
                .map_or(Value::Null, Value::Integer),
            ColumnType::Text => row
                .try_get::<Option<String>, _>(i)?
                .map_or(Value::Null, Value::Text),
            ColumnType::Blob => row
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map_or(Value::Null, Value::Blob),
        };
        out.push(v);
    }
    Ok(out)
}
