//! A restore: one write transaction on the target, ids kept, sequences moved past them.

use sqlx::{Any, Executor, Transaction};

use super::{
    check_known, schema, schema_error, schema_version, table_names, Column, ColumnType, Value,
    TABLES,
};
use crate::store::{Backend, Result, Store};

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

    /// The platform tables the target has (fewer than [`TABLES`] while it is at an earlier
    /// schema version, on a restore's way to this one).
    async fn present(&mut self) -> Result<Vec<&'static str>> {
        let names = table_names(&mut self.tx, self.backend).await?;
        Ok(TABLES
            .iter()
            .copied()
            .filter(|t| names.iter().any(|n| n == t))
            .collect())
    }

    /// The tables that hold at least one row.
    pub async fn non_empty_tables(&mut self) -> Result<Vec<&'static str>> {
        let mut out = Vec::new();
        for table in self.present().await? {
            let any: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} LIMIT 1"))
                .fetch_optional(&mut *self.tx)
                .await?;
            if any.is_some() {
                out.push(table);
            }
        }
        Ok(out)
    }

    /// Deletes every row of every platform table and resets the id sequences, inside the
    /// restore's transaction. The audit log refuses deletes (its triggers): on PostgreSQL
    /// `TRUNCATE` does not fire them; on SQLite they are dropped and created again around the
    /// delete.
    pub async fn wipe(&mut self) -> Result<()> {
        let present = self.present().await?;
        match self.backend {
            Backend::Postgres => {
                let list = present.join(", ");
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
                for table in present.iter().rev() {
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
