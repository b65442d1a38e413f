//! The store's side of backups: a consistent read-only snapshot of every platform table, and the
//! writes a restore makes, on either backend.
//!
//! A backup is logical and backend-neutral (see [`crate::backup`]): each table's columns with a
//! neutral type ([`ColumnType`]), its rows as values of those types, and where its id sequence
//! stood. What differs between the dialects lives here, behind [`Snapshot`] and [`Restore`]:
//! - the snapshot: SQLite copies the live database with `VACUUM INTO` (readers and writers go
//!   on; the copy is one consistent state) and reads the copy; PostgreSQL reads in one
//!   `REPEATABLE READ, READ ONLY` transaction on a connection of its own;
//! - the restore: one write transaction, so a restore that fails at any point leaves the target
//!   as it was; PostgreSQL needs `OVERRIDING SYSTEM VALUE` to keep the ids and `setval` for its
//!   identity sequences, SQLite keeps `sqlite_sequence`.

use std::path::{Path, PathBuf};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Connection, Executor, Row, Transaction};

use super::{Backend, Result, Store, StoreError};

/// Every platform table, parents before children (the order rows are restored in, so that each
/// foreign key finds its row). A database with a table missing here refuses to be backed up:
/// a new migration's table must be added to this list.
pub const TABLES: &[&str] = &[
    "users",
    "sessions",
    "refresh_tokens",
    "api_keys",
    "projects",
    "project_members",
    "audit_log",
    "plugin_publishers",
    "plugins",
    "plugin_versions",
    "project_plugins",
    "vault_secrets",
    "connections",
    "credential_sessions",
    "oauth_authorizations",
    "blobs",
    "blob_chunks",
    "documents",
    "document_tags",
    "document_versions",
    "jobs",
    "job_schedules",
    "sync_states",
    "records",
    "agents",
    "agent_metrics",
    "web_tasks",
    "web_task_runs",
    "api_usage",
    "job_attempts",
];

/// A column's type as a backup records it: what both dialects have in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integer (`INTEGER`/`BIGINT`).
    Integer,
    /// UTF-8 text.
    Text,
    /// Bytes (`BLOB`/`BYTEA`).
    Blob,
}

/// A column: its name and neutral type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Its neutral type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

/// One value of a row, typed by its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// Why a database's schema cannot be backed up or restored to.
fn schema_error(message: String) -> StoreError {
    StoreError::Conflict(message)
}

fn neutral_type(backend: Backend, declared: &str) -> Option<ColumnType> {
    let t = declared.to_ascii_lowercase();
    match backend {
        Backend::Sqlite if t.contains("int") => Some(ColumnType::Integer),
        Backend::Sqlite if t.contains("text") || t.contains("char") => Some(ColumnType::Text),
        Backend::Sqlite if t.contains("blob") => Some(ColumnType::Blob),
        Backend::Postgres => match t.as_str() {
            "bigint" | "integer" | "smallint" => Some(ColumnType::Integer),
            "text" | "character varying" => Some(ColumnType::Text),
            "bytea" => Some(ColumnType::Blob),
            _ => None,
        },
        _ => None,
    }
}

/// The platform tables of the database behind `conn` (the current schema on PostgreSQL).
async fn table_names(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations'"
        }
    };
    Ok(sqlx::query_scalar(sql).fetch_all(&mut *conn).await?)
}

/// The columns of `table`, in their order, with neutral types.
async fn columns(conn: &mut AnyConnection, backend: Backend, table: &str) -> Result<Vec<Column>> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql)
        .bind(table)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|(name, declared)| match neutral_type(backend, &declared) {
            Some(kind) => Ok(Column { name, kind }),
            None => Err(schema_error(format!(
                "column {table}.{name} has type {declared}, which backups do not carry"
            ))),
        })
        .collect()
}

/// Every platform table with its columns, in [`TABLES`] order; refuses a database whose tables
/// are not exactly those.
pub(crate) async fn schema(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<Vec<(String, Vec<Column>)>> {
    let mut present = table_names(conn, backend).await?;
    present.sort();
    let mut known: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    known.sort();
    if present != known {
        let extra: Vec<_> = present.iter().filter(|t| !known.contains(t)).collect();
        let missing: Vec<_> = known.iter().filter(|t| !present.contains(t)).collect();
        return Err(schema_error(format!(
            "the database's tables are not the ones this version backs up \
             (unknown: {extra:?}, missing: {missing:?}); is it migrated by this version?"
        )));
    }
    let mut out = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        out.push(((*table).to_owned(), columns(conn, backend, table).await?));
    }
    Ok(out)
}

/// The highest migration applied (the schema version).
pub(crate) async fn schema_version(conn: &mut AnyConnection) -> Result<i64> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await?;
    Ok(v.unwrap_or(0))
}

/// The highest id each table's sequence has handed out (tables that have one, and only where
/// it is above zero), so restored ids are never handed out again.
async fn sequences(
    conn: &mut AnyConnection,
    backend: Backend,
    schema: &[(String, Vec<Column>)],
) -> Result<Vec<(String, i64)>> {
    match backend {
        Backend::Sqlite => {
            let rows: Vec<(String, i64)> =
                sqlx::query_as("SELECT name, seq FROM sqlite_sequence WHERE seq > 0 ORDER BY name")
                    .fetch_all(&mut *conn)
                    .await?;
            Ok(rows)
        }
        Backend::Postgres => {
            let mut out = Vec::new();
            for (table, cols) in schema {
                if !cols
                    .iter()
                    .any(|c| c.name == "id" && c.kind == ColumnType::Integer)
                {
                    continue;
                }
                let v: Option<i64> = sqlx::query_scalar(
                    "SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence($1, 'id') AS regclass))",
                )
                .bind(table)
                .fetch_one(&mut *conn)
                .await?;
                if let Some(v) = v.filter(|v| *v > 0) {
                    out.push((table.clone(), v));
                }
            }
            Ok(out)
        }
    }
}

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

/// Table names are ours ([`TABLES`]); nothing else is ever formatted into SQL.
fn check_known(table: &str) -> Result<()> {
    if TABLES.contains(&table) {
        Ok(())
    } else {
        Err(schema_error(format!("unknown table {table}")))
    }
}

/// Most parameters one `INSERT` binds. PostgreSQL allows 65 535; SQLite allows 32 766, but
/// sqlx looks each parameter up among all of a statement's (`sqlite3_bind_parameter_name`), so
/// binding costs the square of their number: small statements are much faster there.
const fn max_params(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 96,
        Backend::Postgres => 4000,
    }
}

/// A restore in progress: one write transaction on the target. Nothing is visible before
/// [`Restore::commit`]; dropping it rolls everything back.
#[derive(Debug)]
pub struct Restore {
    tx: Transaction<'static, Any>,
    backend: Backend,
}

impl Store {
    /// Begins a restore into this database.
    pub async fn begin_restore(&self) -> Result<Restore> {
        Ok(Restore {
            tx: self.begin_write().await?,
            backend: self.backend,
        })
    }
}

impl Restore {
    /// The target's tables and columns (refusing a schema other than this version's) and its
    /// schema version.
    pub async fn schema(&mut self) -> Result<(Vec<(String, Vec<Column>)>, i64)> {
        let tables = schema(&mut self.tx, self.backend).await?;
        let version = schema_version(&mut self.tx).await?;
        Ok((tables, version))
    }

    /// The tables that hold at least one row.
    pub async fn non_empty_tables(&mut self) -> Result<Vec<&'static str>> {
        let mut out = Vec::new();
        for table in TABLES {
            let any: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} LIMIT 1"))
                .fetch_optional(&mut *self.tx)
                .await?;
            if any.is_some() {
                out.push(*table);
            }
        }
        Ok(out)
    }

    /// Deletes every row of every platform table and resets the id sequences, inside the
    /// restore's transaction. The audit log refuses deletes (its triggers): on PostgreSQL
    /// `TRUNCATE` does not fire them; on SQLite they are dropped and created again around the
    /// delete.
    pub async fn wipe(&mut self) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                let list = TABLES.join(", ");
                self.tx
                    .execute(&*format!("TRUNCATE TABLE {list} RESTART IDENTITY CASCADE"))
                    .await?;
            }
            Backend::Sqlite => {
                let triggers: Vec<(String, String)> = sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL",
                )
                .fetch_all(&mut *self.tx)
                .await?;
                for (name, _) in &triggers {
                    self.tx
                        .execute(&*format!("DROP TRIGGER \"{}\"", name.replace('"', "\"\"")))
                        .await?;
                }
                for table in TABLES.iter().rev() {
                    self.tx.execute(&*format!("DELETE FROM {table}")).await?;
                }
                self.tx.execute("DELETE FROM sqlite_sequence").await?;
                for (_, sql) in &triggers {
                    self.tx.execute(sql.as_str()).await?;
                }
            }
        }
        Ok(())
    }

    /// How many rows of `columns` go in one statement.
    pub fn batch_rows(&self, columns: &[Column]) -> usize {
        (max_params(self.backend) / columns.len().max(1)).clamp(1, 500)
    }

    /// Inserts `rows` (values of `columns`) into `table` as they are, ids included.
    pub async fn insert(
        &mut self,
        table: &str,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        check_known(table)?;
        if rows.is_empty() {
            return Ok(());
        }
        let names = columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let overriding = match self.backend {
            Backend::Postgres if columns.iter().any(|c| c.name == "id") => {
                " OVERRIDING SYSTEM VALUE"
            }
            _ => "",
        };
        let mut sql = format!("INSERT INTO {table} ({names}){overriding} VALUES ");
        let mut n = 0;
        for (r, _) in rows.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..columns.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for row in rows {
            if row.len() != columns.len() {
                return Err(schema_error(format!(
                    "a row of {table} has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
            for (value, column) in row.iter().zip(columns) {
                query = match (value, column.kind) {
                    (Value::Integer(v), _) => query.bind(*v),
                    (Value::Text(v), _) => query.bind(v.as_str()),
                    (Value::Blob(v), _) => query.bind(v.as_slice()),
                    (Value::Null, ColumnType::Integer) => query.bind(None::<i64>),
                    (Value::Null, ColumnType::Text) => query.bind(None::<String>),
                    (Value::Null, ColumnType::Blob) => query.bind(None::<Vec<u8>>),
                };
            }
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Moves each table's id sequence to at least the value given, so that restored ids are
    /// never handed out again. PostgreSQL's `setval` is not undone by a rollback: a restore
    /// that fails after this leaves the sequences ahead (gaps in ids, nothing else).
    pub async fn set_sequences(&mut self, sequences: &[(String, i64)]) -> Result<()> {
        for (table, value) in sequences {
            check_known(table)?;
            match self.backend {
                Backend::Sqlite => {
                    sqlx::query(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT $1, $2 \
                         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $1)",
                    )
                    .bind(table)
                    .bind(value)
                    .execute(&mut *self.tx)
                    .await?;
                    sqlx::query("UPDATE sqlite_sequence SET seq = $2 WHERE name = $1 AND seq < $2")
                        .bind(table)
                        .bind(value)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Backend::Postgres => {
                    sqlx::query(
                        "SELECT CAST(setval(CAST(pg_get_serial_sequence($1, 'id') AS regclass), $2) AS BIGINT)",
                    )
                    .bind(table)
                    .bind(value)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Makes the restored rows visible.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}
