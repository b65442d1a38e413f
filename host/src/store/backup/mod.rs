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

use sqlx::AnyConnection;

use super::{Backend, Result, StoreError};

/// Writing a restore in one transaction.
mod restore;
/// Reading a consistent snapshot of every table.
mod snapshot;

pub use restore::Restore;
pub use snapshot::{Select, Snapshot, SnapshotSchema};

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
    "oidc_identities",
    "oidc_logins",
    "oidc_handoffs",
    "oidc_sessions",
    "oidc_client_secrets",
    "scim_users",
    "scim_groups",
    "scim_group_members",
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
    "agent_runs",
    "agent_events",
    "web_tasks",
    "web_task_runs",
    "api_usage",
    "job_attempts",
];

/// Tables that are not backed up: what they hold means nothing after a restore (the cache
/// invalidation bus: every restored host starts with an empty cache; the log of backup
/// attempts, which would restore with the attempt that made the backup still `running`).
pub const TRANSIENT: &[&str] = &["cache_invalidations", "backup_runs"];

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
pub(super) fn schema_error(message: String) -> StoreError {
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
    present.retain(|t| !TRANSIENT.contains(&t.as_str()));
    present.sort();
    let mut known: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    known.sort();
    // A database at an earlier schema version (a restore on its way to this one) lacks the
    // tables later migrations add; it may never have a table this version does not know.
    let earlier = schema_version(conn).await? < super::latest_schema_version(backend);
    let fits = if earlier {
        present.iter().all(|t| known.contains(t))
    } else {
        present == known
    };
    if !fits {
        let extra: Vec<_> = present.iter().filter(|t| !known.contains(t)).collect();
        let missing: Vec<_> = known.iter().filter(|t| !present.contains(t)).collect();
        return Err(schema_error(format!(
            "the database's tables are not the ones this version backs up \
             (unknown: {extra:?}, missing: {missing:?}); is it migrated by this version?"
        )));
    }
    let mut out = Vec::with_capacity(TABLES.len());
    for table in TABLES.iter().filter(|t| present.iter().any(|p| p == *t)) {
        out.push(((*table).to_owned(), columns(conn, backend, table).await?));
    }
    Ok(out)
}

/// The highest migration applied (the schema version; 0 for a database never migrated).
pub(crate) async fn schema_version(conn: &mut AnyConnection) -> Result<i64> {
    match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
    {
        Ok(v) => Ok(v.unwrap_or(0)),
        Err(e) if missing_table(&e) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Whether `e` says a table does not exist (SQLite: "no such table"; PostgreSQL: 42P01).
fn missing_table(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("42P01") || db.message().contains("no such table")
        }
        _ => false,
    }
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
            Ok(rows
                .into_iter()
                .filter(|(table, _)| !TRANSIENT.contains(&table.as_str()))
                .collect())
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

/// Table names are ours ([`TABLES`]); nothing else is ever formatted into SQL.
pub(super) fn check_known(table: &str) -> Result<()> {
    if TABLES.contains(&table) {
        Ok(())
    } else {
        Err(schema_error(format!("unknown table {table}")))
    }
}
