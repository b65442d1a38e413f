//! Backup and restore of a large installation, beside the database's own tools, on SQLite and
//! PostgreSQL (a scratch schema of the tests' server, `AGENTIC_TEST_POSTGRES_URL`):
//!
//! `cargo bench -p agentic-tests --bench backup --profile dev` (the test build: dependencies
//! optimised, our code not; `--profile release` for a release build). `RECORDS=…` and
//! `DOCUMENTS=…` change the size (default 1 000 000 synced records of about 600 bytes of JSON
//! each and 10 000 documents of 16 KiB, kept in the database).
//!
//! Seeded with SQL for the records (the sync engine is measured by the JIRA benchmark) and
//! through the documents API for the documents. Then, timed one after the other on the same
//! data: `backup create` (library call, as the CLI and the backup job make it), `restore` into
//! an empty database of the same backend, and the native tool — `sqlite3 .backup` and
//! `.restore` of the file; `pg_dump -Fc` and `pg_restore` into a fresh schema.
// A benchmark is a program that reports on stdout and stops on the first surprise.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use agentic_host::backup::{self, Directory, Quiet};
use agentic_host::rbac::Role;
use agentic_host::store::Store;
use agentic_tests::{postgres_url, run_on_postgres, Backend, Form, TestApp};
use serde_json::json;

/// About 520 bytes of words drawn from a small vocabulary: text that compresses as issue
/// descriptions do (a few times), not as a repeated byte would.
fn words(mut seed: u64) -> String {
    const VOCABULARY: [&str; 32] = [
        "the",
        "sync",
        "fails",
        "when",
        "token",
        "expires",
        "customer",
        "reports",
        "page",
        "loads",
        "slowly",
        "after",
        "upgrade",
        "requirement",
        "shall",
        "verify",
        "login",
        "export",
        "button",
        "missing",
        "error",
        "timeout",
        "database",
        "report",
        "field",
        "value",
        "invalid",
        "user",
        "cannot",
        "save",
        "draft",
        "again",
    ];
    let mut out = String::with_capacity(560);
    while out.len() < 520 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push_str(VOCABULARY[(seed >> 59) as usize]);
        out.push(' ');
    }
    out
}

/// Inserts `n` records of the connection in batches of 500, in one transaction per 50 000.
async fn records(store: &Store, project: i64, connection: i64, n: usize) {
    let mut done = 0;
    while done < n {
        let mut tx = store.pool().begin().await.unwrap();
        for _ in 0..100 {
            if done >= n {
                break;
            }
            let batch = 500.min(n - done);
            let mut sql = String::from(
                "INSERT INTO records (project_id, connection_id, stream, kind, external_id, title, \
                 status, data, source_updated_at, synced_at) VALUES ",
            );
            for i in 0..batch {
                let id = done + i;
                let body = words(id as u64);
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "({project}, {connection}, 'issues', 'work-item', 'ISSUE-{id}', 'Issue {id}', \
                     'open', '{{\"key\":\"ISSUE-{id}\",\"description\":\"{body}\"}}', {id}, 1)"
                ));
            }
            sqlx::query(&sql).execute(&mut *tx).await.unwrap();
            done += batch;
        }
        tx.commit().await.unwrap();
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

async fn bench(backend: Backend, n_records: usize, n_docs: usize) {
    let app = TestApp::start_durable(backend, |_| {}).await;
    let admin = app.admin().await;
    let pm = app.user(Role::ProjectManager).await;
    let project = app.project_with_example(&admin.token, pm.id, &[]).await;
    let r = app
        .post(
            // Not checked on save: nothing answers at the base URL, nothing is synced from it.
            &format!("/api/v1/projects/{project}/connections?check=false"),
            &admin.token,
            json!({
                "plugin_id": "example", "name": "bench", "base_url": "http://127.0.0.1:9",
                "config": {"base_url": "http://127.0.0.1:9", "page_size": 10},
                "allow_private_network": true,
                "credential": {"kind": "bearer", "token": "bench-token"},
            }),
        )
        .await;
    r.expect(201);
    let connection = r.json["id"].as_i64().unwrap();
    let started = Instant::now();
    records(&app.state.store, project, connection, n_records).await;
    let docs = format!("/api/v1/projects/{project}/documents");
    for i in 0..n_docs {
        let mut content = String::new();
        while content.len() < 16 * 1024 {
            content.push_str(&words((i * 1000 + content.len()) as u64));
        }
        let content = content.into_bytes();
        let form = Form::new()
            .file("file", &format!("doc-{i}.txt"), "text/plain", &content)
            .text("title", &format!("Document {i}"));
        app.upload("POST", &docs, &pm.token, form).await.expect(201);
    }
    println!(
        "{backend:?}: seeded {n_records} records and {n_docs} documents in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let (identity, public) = backup::keygen();
    std::fs::write(dir.path().join("id"), identity).unwrap();
    let identities = backup::read_identities(&dir.path().join("id")).unwrap();
    let destination = Directory::new(dir.path().join("backups"));
    let start = Instant::now();
    let created = backup::create(
        &app.state.store,
        &app.state.config.blob_dir(),
        vec![public],
        &destination,
        app.state.now(),
        &Quiet,
    )
    .await
    .unwrap();
    let create_s = start.elapsed().as_secs_f64();

    let (target_url, scratch_schema) = match backend {
        Backend::Sqlite => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("restored.db").display()
            ),
            None,
        ),
        Backend::Postgres => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            run_on_postgres(&format!("CREATE SCHEMA {schema}")).await;
            let base = postgres_url();
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                Some(schema),
            )
        }
    };
    let target = Store::connect(&target_url).await.unwrap();
    let start = Instant::now();
    let restored = backup::restore(
        &created.path,
        &identities,
        &target,
        &dir.path().join("blobs"),
        false,
        &Quiet,
    )
    .await
    .unwrap();
    let restore_s = start.elapsed().as_secs_f64();
    target.close().await;

    let (native, native_size) = match backend {
        Backend::Sqlite => {
            let db = app.dir.path().join("test.db");
            let copy = dir.path().join("native.db");
            let ((), dump) = time(|| {
                run(Command::new("sqlite3")
                    .arg(&db)
                    .arg(format!(".backup '{}'", copy.display())))
            });
            let again = dir.path().join("native-restored.db");
            let ((), load) = time(|| {
                run(Command::new("sqlite3")
                    .arg(&again)
                    .arg(format!(".restore '{}'", copy.display())))
            });
            (
                format!("`sqlite3 .backup` {dump:.1} s, `.restore` {load:.1} s"),
                size(&copy),
            )
        }
        Backend::Postgres => {
            let schema = app.database_url.split("search_path%3D").nth(1).unwrap();
            let schema = schema.split(['%', '&']).next().unwrap().to_owned();
            let base = postgres_url();
            let dump_file = dir.path().join("native.dump");
            let ((), dump) = time(|| {
                run(Command::new("pg_dump")
                    .args(["-Fc", "-n", &schema, "-f"])
                    .arg(&dump_file)
                    .arg(&base))
            });
            let renamed = format!("native_{}", uuid::Uuid::new_v4().simple());
            let ((), load) = time(|| {
                // Into a fresh database, so the schema's name is free.
                run(Command::new("psql").args([
                    &base,
                    "-qc",
                    &format!("CREATE DATABASE {renamed}"),
                ]));
                let url = base
                    .rsplit_once('/')
                    .map(|(b, _)| format!("{b}/{renamed}"))
                    .unwrap();
                run(Command::new("pg_restore")
                    .args(["-d", &url])
                    .arg(&dump_file));
            });
            run(Command::new("psql").args([&base, "-qc", &format!("DROP DATABASE {renamed}")]));
            (
                format!("`pg_dump -Fc` {dump:.1} s, `pg_restore` {load:.1} s"),
                size(&dump_file),
            )
        }
    };
    if let Some(schema) = scratch_schema {
        run_on_postgres(&format!("DROP SCHEMA {schema} CASCADE")).await;
    }
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "| {backend:?} | {} rows | create {create_s:.1} s, {:.0} MB | restore {restore_s:.1} s | {native}, {:.0} MB |",
        restored.rows,
        mb(created.receipt.size),
        mb(native_size),
    );
}

#[tokio::main]
async fn main() {
    let n_records = agentic_tests::bench::count("RECORDS", 1_000_000);
    let n_docs = agentic_tests::bench::count("DOCUMENTS", 10_000);
    bench(Backend::Sqlite, n_records, n_docs).await;
    bench(Backend::Postgres, n_records, n_docs).await;
}
