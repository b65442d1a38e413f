//! The two migration sets describe one schema: `migrations/sqlite` and `migrations/postgres`
//! are written by hand side by side (the dialects differ in identity columns, partial-index and
//! upsert syntax), and the store talks to both through the same queries. A column, index or
//! foreign key added to one set and forgotten in the other would pass every story on the
//! database that has it and fail in production on the other; this test compares the schemas the
//! two sets build, as each database describes itself after migrating.
//!
//! Compared: the migration file names; tables; each column's name, type class (integer, real,
//! text, blob), nullability, primary-key position and default; indexes (table, uniqueness,
//! columns in order, whether partial; the names of the ones made by `CREATE INDEX`); foreign
//! keys with their `ON DELETE` rule. Not compared, because the dialects spell them differently
//! and a normalisation would be a second parser: `CHECK` expressions and partial-index
//! predicates (their presence is compared).

use std::collections::BTreeSet;
use std::path::Path;

use agentic_host::clock::Millis;
use agentic_host::store::Store;
use sqlx::{AnyPool, Row};

use crate::support;

/// One fact about the schema, printable so that a difference reads as a list of facts.
type Facts = BTreeSet<String>;

#[tokio::test]
async fn the_sqlite_and_postgresql_migrations_describe_the_same_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    assert_eq!(
        file_names(&root.join("sqlite")),
        file_names(&root.join("postgres")),
        "every migration exists in both dialects, under the same name"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("schema.db").display()
    );
    let sqlite = Store::connect(&sqlite_url).await.expect("sqlite");
    sqlite.migrate().await.expect("sqlite migrations");
    let lite = sqlite_facts(sqlite.pool()).await;

    let Some(schema) = support::postgres_schema("m").await else {
        return;
    };
    let postgres = Store::connect(&schema.url).await.expect("postgres");
    postgres.migrate().await.expect("postgres migrations");
    let pg = postgres_facts(postgres.pool()).await;

    postgres.close().await;

    assert!(lite.len() > 100, "the SQLite schema was read: {lite:#?}");
    let only_lite: Vec<_> = lite.difference(&pg).collect();
    let only_pg: Vec<_> = pg.difference(&lite).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "the schemas differ\nonly in SQLite:\n{only_lite:#?}\nonly in PostgreSQL:\n{only_pg:#?}"
    );
}

/// A fresh SQLite store migrated up to `version`, holding user 1, its project 7, then `rows`.
async fn sqlite_at(version: i64, rows: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("at.db").display());
    let store = Store::connect(&url).await.expect("sqlite");
    store
        .migrate_to(version)
        .await
        .expect("migrations up to version");
    let owner = [
        "INSERT INTO users (id, kind, email, display_name, role, created_at, updated_at) \
         VALUES (1, 'human', 'a@example.com', 'A', 'administrator', 0, 0)",
        "INSERT INTO projects (id, name, description, owner_id, created_at, updated_at) \
         VALUES (7, 'p', '', 1, 0, 0)",
    ];
    for sql in owner.iter().chain(rows) {
        sqlx::query(sql).execute(store.pool()).await.expect(sql);
    }
    (dir, store)
}

async fn scalar(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// SQLite can only drop a column's `UNIQUE` by rebuilding the table, and 0024 rebuilds `jobs`
/// with foreign keys off: dropping the old table must neither cascade into `job_attempts` nor
/// clear `agents.job_id`, the ids must go on from the old counter (not from the highest row
/// left), keys must stay unique, and foreign keys must be enforced again afterwards.
#[tokio::test]
async fn rebuilding_sqlite_jobs_keeps_its_rows_their_references_and_its_id_counter() {
    let (_dir, store) = sqlite_at(
        23,
        &[
            "INSERT INTO jobs (kind, project_id, payload, state, max_attempts, run_at, \
             idempotency_key, created_at, updated_at) VALUES \
             ('sync', 7, '{}', 'succeeded', 5, 0, 'k', 0, 0), \
             ('backup', NULL, '{}', 'queued', 5, 0, NULL, 0, 0), \
             ('backup', NULL, '{}', 'queued', 5, 0, NULL, 0, 0)",
            "INSERT INTO job_attempts (job_id, lease_token, attempt, worker, started_at, \
             finished_at, outcome) VALUES (1, 1, 1, 'w', 0, 0, 'succeeded')",
            "INSERT INTO agents (project_id, name, kind, config, state, job_id, created_at, \
             updated_at) VALUES (7, 'a', 'k', '{}', 'deploying', 2, 0, 0)",
            "DELETE FROM jobs WHERE id = 3",
        ],
    )
    .await;
    store.migrate().await.expect("the rest of the migrations");
    let pool = store.pool();

    let jobs: Vec<(i64, Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT id, project_id, idempotency_key FROM jobs ORDER BY id")
            .fetch_all(pool)
            .await
            .expect("jobs");
    assert_eq!(jobs, [(1, Some(7), Some("k".into())), (2, None, None)]);
    let attempts = scalar(pool, "SELECT COUNT(*) FROM job_attempts WHERE job_id = 1").await;
    assert_eq!(attempts, 1, "dropping the old table did not cascade");
    let agent_job = scalar(pool, "SELECT COALESCE(job_id, 0) FROM agents").await;
    assert_eq!(
        agent_job, 2,
        "dropping the old table did not clear references"
    );
    let broken = scalar(pool, "SELECT COUNT(*) FROM pragma_foreign_key_check").await;
    assert_eq!(broken, 0, "every reference resolves to the new table");

    let job = |key: Option<&str>| {
        let mut job = agentic_host::jobs::new_job("backup", None, &(), None, Millis::EPOCH);
        job.idempotency_key = key.map(str::to_owned);
        job
    };
    let (fresh, created) = store
        .enqueue(&job(None), Millis::EPOCH)
        .await
        .expect("enqueue");
    assert_eq!(
        (fresh.id, created),
        (4, true),
        "ids go on from the old counter"
    );
    let (again, created) = store
        .enqueue(&job(Some("k")), Millis::EPOCH)
        .await
        .expect("again");
    assert_eq!(
        (again.id, created),
        (1, false),
        "a used key still names its job"
    );

    assert_eq!(
        scalar(pool, "PRAGMA foreign_keys").await,
        1,
        "keys are on again"
    );
    scalar(pool, "DELETE FROM jobs WHERE id = 1 RETURNING id").await;
    let attempts = scalar(pool, "SELECT COUNT(*) FROM job_attempts").await;
    assert_eq!(attempts, 0, "deleting a job cascades again");
    store.close().await;
}

/// SQLite rebuilds `records` to drop the key on `project_id` (0025): the rows and the id counter
/// survive, and a connection's deletion still takes its records.
#[tokio::test]
async fn rebuilding_sqlite_records_keeps_its_rows_and_its_id_counter() {
    let (_dir, store) = sqlite_at(
        24,
        &[
            "INSERT INTO plugins (id, active_version, installed_at, updated_at) \
             VALUES ('example', '1.0.0', 0, 0)",
            "INSERT INTO connections (id, project_id, plugin_id, name, config, base_url, \
             credential_kind, created_at, updated_at) \
             VALUES (3, 7, 'example', 'c', '{}', 'https://example.com', 'anonymous', 0, 0)",
            "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
             data, synced_at) VALUES (7, 3, 's', 'work_item', 'a', 'A', '{}', 0), \
             (7, 3, 's', 'work_item', 'b', 'B', '{}', 0), \
             (7, 3, 's', 'work_item', 'c', 'C', '{}', 0)",
            "DELETE FROM records WHERE external_id = 'c'",
        ],
    )
    .await;
    store.migrate().await.expect("the rest of the migrations");
    let pool = store.pool();

    let records: Vec<(i64, i64, String, String)> =
        sqlx::query_as("SELECT id, project_id, external_id, title FROM records ORDER BY id")
            .fetch_all(pool)
            .await
            .expect("records");
    let kept = [
        (1, 7, "a".into(), "A".into()),
        (2, 7, "b".into(), "B".into()),
    ];
    assert_eq!(records, kept);
    let newest = scalar(
        pool,
        "INSERT INTO records (project_id, connection_id, stream, kind, external_id, data, \
         synced_at) VALUES (7, 3, 's', 'work_item', 'd', '{}', 0) RETURNING id",
    )
    .await;
    assert_eq!(newest, 4, "ids go on from the old counter");
    scalar(pool, "DELETE FROM connections WHERE id = 3 RETURNING id").await;
    let left = scalar(pool, "SELECT COUNT(*) FROM records").await;
    assert_eq!(left, 0, "a connection's records go with it");
    store.close().await;
}

/// PostgreSQL compresses a record's `data` with lz4 where the server has it (0026), and a server
/// without it keeps its default and still migrates: the migration asks through `EXECUTE` and
/// catches the refusal.
#[tokio::test]
async fn postgresql_compresses_records_data_with_lz4_where_the_server_has_it() {
    let Some(schema) = support::postgres_schema("lz4").await else {
        return;
    };
    let store = Store::connect(&schema.url).await.expect("postgres");
    store.migrate().await.expect("postgres migrations");
    // One session throughout: the probe below changes its default compression.
    let mut conn = store.pool().acquire().await.expect("a connection");
    let method: String = sqlx::query_scalar(
        "SELECT attcompression::text FROM pg_attribute \
         WHERE attrelid = 'records'::regclass AND attname = 'data'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("the column's compression");
    // A server built without lz4 refuses the setting.
    let has_lz4 = sqlx::query("SET default_toast_compression = lz4")
        .execute(&mut *conn)
        .await
        .is_ok();
    if !has_lz4 {
        assert_eq!(
            method, "",
            "without lz4 the column keeps the server's default"
        );
        drop(conn);
        store.close().await;
        return;
    }
    assert_eq!(method, "l", "records.data is set to lz4");
    for sql in [
        "INSERT INTO users (kind, email, display_name, role, created_at, updated_at) \
         VALUES ('human', 'a@example.com', 'A', 'administrator', 0, 0)",
        "INSERT INTO projects (name, description, owner_id, created_at, updated_at) \
         SELECT 'p', '', id, 0, 0 FROM users",
        "INSERT INTO plugins (id, active_version, installed_at, updated_at) \
         VALUES ('example', '1.0.0', 0, 0)",
        "INSERT INTO connections (project_id, plugin_id, name, config, base_url, \
         credential_kind, created_at, updated_at) \
         SELECT id, 'example', 'c', '{}', 'https://example.com', 'anonymous', 0, 0 FROM projects",
        // The session's default back to pglz: the column's own setting must decide.
        "SET default_toast_compression = pglz",
        // Over the ~2 KB a row may take before PostgreSQL compresses it, and compressible.
        "INSERT INTO records (project_id, connection_id, stream, kind, external_id, data, \
         synced_at) SELECT project_id, id, 's', 'work_item', 'a', \
         repeat('{\"field\": \"value\"}', 400), 0 FROM connections",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }
    let stored: String = sqlx::query_scalar("SELECT pg_column_compression(data) FROM records")
        .fetch_one(&mut *conn)
        .await
        .expect("the record's compression");
    assert_eq!(
        stored, "lz4",
        "a large record is stored compressed with lz4"
    );
    drop(conn);
    store.close().await;
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("migrations dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The class a declared type falls in; the store binds integers, reals, text and bytes only.
fn type_class(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        "integer"
    } else if t.contains("text") || t.contains("char") {
        "text"
    } else if t.contains("blob") || t == "bytea" {
        "blob"
    } else if t.contains("real") || t.contains("double") || t.contains("float") {
        "real"
    } else {
        // Anything else (boolean, json, timestamp) is a type the other dialect cannot mirror.
        "other"
    }
}

/// A default as written, without PostgreSQL's casts and quotes' dialect: `'x'::text` → `'x'`.
fn default_value(raw: Option<String>) -> String {
    match raw {
        None => "none".into(),
        Some(d) => {
            let d = d.trim();
            let d = d
                .strip_prefix('(')
                .and_then(|d| d.strip_suffix(')'))
                .unwrap_or(d);
            let d = d.split("::").next().unwrap_or(d);
            d.to_owned()
        }
    }
}

fn column(
    table: &str,
    name: &str,
    class: &str,
    not_null: bool,
    pk: i64,
    default: String,
) -> String {
    format!("column {table}.{name} {class} not_null={not_null} pk={pk} default={default}")
}

fn index(table: &str, unique: bool, columns: &str, partial: bool) -> String {
    format!("index on {table}({columns}) unique={unique} partial={partial}")
}

async fn sqlite_facts(pool: &AnyPool) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
    )
    .fetch_all(pool)
    .await
    .expect("tables")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    for table in &tables {
        facts.insert(format!("table {table}"));
        let columns = sqlx::query(
            "SELECT name, type, CAST(\"notnull\" AS INTEGER), CAST(pk AS INTEGER), dflt_value \
             FROM pragma_table_info(?)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns");
        let mut primary_key = Vec::new();
        for c in &columns {
            let name: String = c.get(0);
            let pk: i64 = c.get(3);
            if pk > 0 {
                primary_key.push((pk, name.clone()));
            }
            // A primary-key column is never null, whether or not SQLite says so.
            let not_null = c.get::<i64, _>(2) == 1 || pk > 0;
            let default = default_value(c.try_get::<Option<String>, _>(4).unwrap_or(None));
            facts.insert(column(
                table,
                &name,
                type_class(&c.get::<String, _>(1)),
                not_null,
                pk,
                default,
            ));
        }
        let indexes = sqlx::query(
            "SELECT name, CAST(\"unique\" AS INTEGER), origin, CAST(partial AS INTEGER) \
             FROM pragma_index_list(?)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("indexes");
        for i in &indexes {
            let name: String = i.get(0);
            let origin: String = i.get(2);
            if origin == "pk" {
                continue;
            }
            let columns: Vec<String> = sqlx::query(
                "SELECT COALESCE(name, '<expr>') FROM pragma_index_info(?) ORDER BY seqno",
            )
            .bind(&name)
            .fetch_all(pool)
            .await
            .expect("index columns")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            facts.insert(index(
                table,
                i.get::<i64, _>(1) == 1,
                &columns.join(","),
                i.get::<i64, _>(3) == 1,
            ));
            if origin == "c" {
                facts.insert(format!("named index {name} on {table}"));
            }
        }
        let keys = sqlx::query(
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("foreign keys");
        for k in &keys {
            let target: String = k.get(1);
            // `REFERENCES users` without a column names the target's primary key.
            let to = match k.try_get::<Option<String>, _>(2).unwrap_or(None) {
                Some(to) => to,
                None => sqlx::query("SELECT name FROM pragma_table_info(?) WHERE pk = 1")
                    .bind(&target)
                    .fetch_one(pool)
                    .await
                    .expect("target primary key")
                    .get(0),
            };
            facts.insert(format!(
                "foreign key {table}.{} -> {target}.{to} on delete {}",
                k.get::<String, _>(0),
                k.get::<String, _>(3).to_ascii_uppercase()
            ));
        }
    }
    facts
}

async fn postgres_facts(pool: &AnyPool) -> Facts {
    let mut facts = Facts::new();
    let tables = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    for t in &tables {
        facts.insert(format!("table {}", t.get::<String, _>(0)));
    }
    let columns = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                (c.is_nullable = 'NO')::int4::int8, \
                COALESCE((SELECT k.ordinal_position FROM information_schema.key_column_usage k \
                  JOIN information_schema.table_constraints tc \
                    ON tc.constraint_name = k.constraint_name AND tc.table_schema = k.table_schema \
                  WHERE tc.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
                    AND k.table_name = c.table_name AND k.column_name = c.column_name), 0)::int8, \
                c.column_default::text \
         FROM information_schema.columns c \
         WHERE c.table_schema = current_schema() AND c.table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .expect("columns");
    for c in &columns {
        let table: String = c.get(0);
        let default = default_value(c.try_get::<Option<String>, _>(5).unwrap_or(None));
        facts.insert(column(
            &table,
            &c.get::<String, _>(1),
            type_class(&c.get::<String, _>(2)),
            c.get::<i64, _>(3) == 1,
            c.get::<i64, _>(4),
            default,
        ));
    }
    let indexes = sqlx::query(
        "SELECT i.relname::text, t.relname::text, ix.indisunique::int4::int8, \
                array_to_string(ARRAY(SELECT COALESCE(a.attname::text, '<expr>') \
                  FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                  LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                  ORDER BY k.ord), ','), \
                (ix.indpred IS NOT NULL)::int4::int8, \
                (EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid))::int4::int8 \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT ix.indisprimary \
           AND t.relname NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    for i in &indexes {
        let name: String = i.get(0);
        let table: String = i.get(1);
        facts.insert(index(
            &table,
            i.get::<i64, _>(2) == 1,
            &i.get::<String, _>(3),
            i.get::<i64, _>(4) == 1,
        ));
        if i.get::<i64, _>(5) == 0 {
            facts.insert(format!("named index {name} on {table}"));
        }
    }
    let keys = sqlx::query(
        "SELECT tc.table_name::text, kcu.column_name::text, ccu.table_name::text, \
                ccu.column_name::text, rc.delete_rule::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema \
         JOIN information_schema.constraint_column_usage ccu \
           ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema \
         JOIN information_schema.referential_constraints rc \
           ON rc.constraint_name = tc.constraint_name AND rc.constraint_schema = tc.table_schema \
         WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
    )
    .fetch_all(pool)
    .await
    .expect("foreign keys");
    for k in &keys {
        facts.insert(format!(
            "foreign key {}.{} -> {}.{} on delete {}",
            k.get::<String, _>(0),
            k.get::<String, _>(1),
            k.get::<String, _>(2),
            k.get::<String, _>(3),
            k.get::<String, _>(4)
        ));
    }
    facts
}
