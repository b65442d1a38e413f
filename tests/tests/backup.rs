//! Backups on both databases and across them: a backup restored into an empty database gives
//! every row back (compared value by value) and the same API answers — projects, users,
//! documents with their bytes, connections whose credential still works through the vault and
//! the restored plugin; damaged, cut-off and wrongly keyed backups are refused saying which;
//! a restore that fails midway leaves the target empty; a non-empty target is refused unless
//! forced; a backup made at an earlier schema version restores into a new database and is
//! upgraded to this one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use agentic_host::backup::{self, BackupError, Directory, Identity, Progress, Quiet};
use agentic_host::documents::config::BlobBackend;
use agentic_host::rbac::Role;
use agentic_host::store::backup::{Select, TABLES};
use agentic_host::store::Store;
use agentic_tests::{postgres_url, stories, Backend, Form, TestApp};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

const SECRET: &str = "pat-5e2c0b9a7d31f468";

/// A service that answers `/status` only with the right bearer token.
async fn service() -> String {
    let app = axum::Router::new().route(
        "/status",
        axum::routing::get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if auth == format!("Bearer {SECRET}") {
                (StatusCode::OK, json!({"items": 3}).to_string())
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "bad token"}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Bytes that do not compress (so the backup spans many encrypted chunks).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// What the seeded installation holds.
struct Seeded {
    project: i64,
    connection: i64,
}

/// A project with the example plugin, a connection with a credential, and documents (text
/// with two versions, and a large binary one).
async fn seed(app: &TestApp) -> Seeded {
    let admin = app.admin().await;
    let pm = app.user(Role::ProjectManager).await;
    let tl = app.user(Role::TechnicalLead).await;
    let project = app
        .project_with_example(&admin.token, pm.id, &[tl.id])
        .await;
    app.project("Second", tl.id, &[]).await;
    let base = service().await;
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            &admin.token,
            json!({
                "plugin_id": "example", "name": "tracker", "base_url": base,
                "config": {"base_url": base, "page_size": 10},
                "allow_private_network": true,
                "credential": {"kind": "bearer", "token": SECRET},
            }),
        )
        .await;
    r.expect(201);
    let connection = r.json["id"].as_i64().expect("connection id");
    let docs = format!("/api/v1/projects/{project}/documents");
    let form = Form::new()
        .file("file", "spec.txt", "text/plain", b"the first words")
        .text("title", "Spec")
        .text("tags", r#"["Alpha","beta"]"#);
    let r = app.upload("POST", &docs, &pm.token, form).await;
    r.expect(201);
    let spec = r.json["id"].as_i64().expect("id");
    let form = Form::new().file("file", "spec.md", "text/markdown", b"# second version");
    app.upload("POST", &format!("{docs}/{spec}/versions"), &pm.token, form)
        .await
        .expect(201);
    let form = Form::new()
        .file("file", "plan.pdf", "application/pdf", &noise(300 * 1024, 7))
        .text("title", "Plan");
    app.upload("POST", &docs, &tl.token, form).await.expect(201);
    Seeded {
        project,
        connection,
    }
}

/// The answers of the list endpoints (and every document version's bytes), as `token` sees them.
async fn answers(app: &TestApp, token: &str, project: i64) -> Value {
    let docs = format!("/api/v1/projects/{project}/documents");
    let documents = app.all(token, &docs).await;
    let mut contents = Vec::new();
    for d in &documents {
        let id = d["id"].as_i64().expect("id");
        let versions = d["current_version"].as_i64().unwrap_or(1);
        for n in 1..=versions {
            let r = app
                .get(&format!("{docs}/{id}/versions/{n}/content"), token)
                .await;
            r.expect(200);
            contents.push(json!({"id": id, "version": n, "bytes": r.bytes}));
        }
    }
    json!({
        "users": app.all(token, "/api/v1/users").await,
        "projects": app.all(token, "/api/v1/projects").await,
        "documents": documents,
        "contents": contents,
        "connections": app.get(&format!("/api/v1/projects/{project}/connections"), token).await.json,
        "plugins": app.get("/api/v1/plugins", token).await.json,
    })
}

/// Every row of every table, rendered and sorted, per table.
async fn rows(store: &Store) -> Vec<(String, Vec<String>)> {
    let mut snapshot = store.snapshot().await.expect("snapshot");
    let schema = snapshot.schema().await.expect("schema");
    let mut out = Vec::new();
    for (table, columns) in &schema.tables {
        let select = Select::new(table, columns).expect("select");
        let mut rendered: Vec<String> = {
            use futures_util::TryStreamExt;
            let stream = snapshot.rows(&select).expect("rows");
            stream
                .map_ok(|r| format!("{r:?}"))
                .try_collect()
                .await
                .expect("read rows")
        };
        rendered.sort();
        out.push((table.clone(), rendered));
    }
    snapshot.close().await;
    out
}

/// An empty database migrated by this version (a fresh PostgreSQL schema, dropped with it).
struct Empty {
    url: String,
    dir: tempfile::TempDir,
    schema: Option<String>,
}

impl Empty {
    /// Migrated by this version.
    async fn new(backend: Backend) -> Self {
        Self::at(backend, i64::MAX).await
    }

    /// Migrated up to `version` only (0: never migrated), as an earlier version left it.
    async fn at(backend: Backend, version: i64) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (url, schema) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("restored.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let schema = format!("r_{}", uuid::Uuid::new_v4().simple());
                agentic_tests::run_on_postgres(&format!("CREATE SCHEMA {schema}")).await;
                let base = postgres_url();
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    format!(
                        "{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
                    ),
                    Some(schema),
                )
            }
        };
        let store = Store::connect(&url).await.expect("connect");
        if version > 0 {
            store.migrate_to(version).await.expect("migrate");
        }
        store.close().await;
        Self { url, dir, schema }
    }

    async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect")
    }

    fn blob_dir(&self) -> PathBuf {
        self.dir.path().join("blobs")
    }
}

impl Drop for Empty {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(agentic_tests::run_on_postgres(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = '{schema}' AND pid <> pg_backend_pid(); \
                     SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                )));
            }
        })
        .join();
    }
}

/// A backup key pair: the identities (from a written identity file) and the public key.
fn keys(dir: &Path, name: &str) -> (Vec<Identity>, backup::Recipient) {
    let (text, public) = backup::keygen();
    let path = dir.join(name);
    std::fs::write(&path, text).expect("identity file");
    (backup::read_identities(&path).expect("identities"), public)
}

/// Counts the units a restore reports done.
#[derive(Default)]
struct Count(AtomicU64);

impl Progress for Count {
    fn advance(&self, n: u64) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
}

async fn total_rows(store: &Store) -> i64 {
    let mut n = 0;
    for table in TABLES {
        let c: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(store.pool())
            .await
            .expect("count");
        n += c;
    }
    n
}

/// Backs `source` up, restores into an empty database on `target`, and checks every row and
/// the API's answers on a host started over the restored database with the source's vault key.
async fn round_trip(source: Backend, target: Backend, blobs: BlobBackend) {
    let a = TestApp::start_with(source, |c| c.documents.blob_store = blobs).await;
    let seeded = seed(&a).await;
    let admin = a.admin().await;
    let before = answers(&a, &admin.token, seeded.project).await;
    let keys_dir = tempfile::tempdir().expect("dir");
    let (identities, public) = keys(keys_dir.path(), "backup.key");
    let destination = Directory::new(keys_dir.path().join("backups"));
    let created = backup::create(
        &a.state.store,
        &a.state.config.blob_dir(),
        vec![public],
        &destination,
        a.state.now(),
        &Quiet,
    )
    .await
    .expect("backup");
    let source_rows = rows(&a.state.store).await;
    assert!(created.missing_blobs.is_empty());
    let expected_blobs = u64::from(blobs == BlobBackend::Filesystem) * 3;
    assert_eq!(
        created.manifest.blobs, expected_blobs,
        "one file per version in the filesystem store"
    );

    // Nothing but the backup and its receipt in the destination.
    let mut names: Vec<String> = std::fs::read_dir(destination.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let name = created
        .path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(names, [name.clone(), format!("{name}.json")]);
    let listed = destination.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].receipt.as_ref().expect("receipt").sha256,
        created.receipt.sha256
    );

    let empty = Empty::new(target).await;
    let store = empty.store().await;
    let restored = backup::restore(
        &created.path,
        &identities,
        &store,
        &empty.blob_dir(),
        false,
        &Quiet,
    )
    .await
    .expect("restore");
    assert_eq!(restored.blobs, expected_blobs);
    assert_eq!(
        rows(&store).await,
        source_rows,
        "every row of every table, value for value"
    );
    // A second restore into the now filled database is refused, naming what is there.
    let e = backup::restore(
        &created.path,
        &identities,
        &store,
        &empty.blob_dir(),
        false,
        &Quiet,
    )
    .await
    .expect_err("not empty");
    assert!(
        matches!(&e, BackupError::NotEmpty(t) if t.contains(&"users")),
        "{e}"
    );
    assert!(e.to_string().contains("--force"), "{e}");
    store.close().await;

    // A host over the restored database with the source's vault key serves the same answers.
    let key = a.dir.path().join("vault.key");
    let url = empty.url.clone();
    let blob_dir = empty.blob_dir();
    let c = TestApp::start_with(target, move |c| {
        c.database_url = Some(url);
        c.vault_key_file = Some(key);
        c.documents.blob_store = blobs;
        c.documents.blob_dir = Some(blob_dir);
    })
    .await;
    let admin = c.admin().await;
    assert_eq!(answers(&c, &admin.token, seeded.project).await, before);
    let check = c
        .post(
            &format!(
                "/api/v1/projects/{}/connections/{}/check",
                seeded.project, seeded.connection
            ),
            &admin.token,
            json!({}),
        )
        .await;
    check.expect(200);
    assert_eq!(
        check.json,
        json!({"ok": true, "message": "3 items available"}),
        "the credential decrypts with the vault key and the restored plugin runs"
    );
    // Restored ids are not handed out again.
    let r = c
        .post(
            "/api/v1/projects",
            &admin.token,
            json!({"name": "After", "description": "", "owner_id": admin.id}),
        )
        .await;
    r.expect(201);
    let max = before["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["id"].as_i64())
        .max()
        .expect("a project");
    assert!(r.json["id"].as_i64().expect("id") > max);
    drop(c);
}

fn other(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

stories! {
    async fn a_restored_backup_answers_as_the_original(backend) {
        round_trip(backend, backend, BlobBackend::Filesystem).await;
    }

    async fn a_backup_restores_on_the_other_database(backend) {
        // sqlite: SQLite → PostgreSQL; postgres: PostgreSQL → SQLite.
        if agentic_tests::postgres_unavailable().await {
            return;
        }
        round_trip(backend, other(backend), BlobBackend::Database).await;
    }

    async fn damaged_cut_off_and_wrongly_keyed_backups_are_refused_saying_which(backend) {
        let a = TestApp::start(backend).await;
        seed(&a).await;
        let dir = tempfile::tempdir().expect("dir");
        let (identities, public) = keys(dir.path(), "backup.key");
        let (strangers, _) = keys(dir.path(), "other.key");
        let destination = Directory::new(dir.path().join("backups"));
        let created = backup::create(&a.state.store, &a.state.config.blob_dir(), vec![public], &destination, a.state.now(), &Quiet)
            .await
            .expect("backup");
        let good = std::fs::read(&created.path).expect("backup bytes");
        assert!(good.len() > 4 * 64 * 1024, "spans several encrypted chunks: {}", good.len());
        let verified = backup::verify(&created.path, &identities, &Quiet).await.expect("verify");
        assert_eq!(verified.manifest, created.manifest);
        assert!(verified.receipt.is_some());

        let e = backup::verify(&created.path, &strangers, &Quiet).await.expect_err("wrong key");
        assert!(matches!(e, BackupError::WrongKey(_)), "{e}");
        assert!(e.to_string().starts_with("wrong key: the backup is not encrypted to this identity"), "{e}");

        // A copy with its receipt, changed in one way.
        let copy = |name: &str, bytes: &[u8], receipt: bool| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("copy");
            if receipt {
                let mut from = created.path.as_os_str().to_owned();
                from.push(".json");
                let mut to = path.as_os_str().to_owned();
                to.push(".json");
                std::fs::copy(from, to).expect("receipt");
            }
            path
        };
        let mut tampered = good.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 0x40;
        let e = backup::verify(&copy("tampered.age", &tampered, true), &identities, &Quiet).await.expect_err("tampered");
        assert!(matches!(e, BackupError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("modified after it was made"), "{e}");
        let e = backup::verify(&copy("tampered-bare.age", &tampered, false), &identities, &Quiet).await.expect_err("tampered");
        assert!(matches!(e, BackupError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("fails authentication"), "{e}");

        let cut = &good[..good.len() * 2 / 3];
        let e = backup::verify(&copy("cut.age", cut, true), &identities, &Quiet).await.expect_err("truncated");
        assert!(matches!(e, BackupError::Truncated(_)), "{e}");
        assert!(e.to_string().contains(&format!("{} when it was made", good.len())), "{e}");
        let e = backup::verify(&copy("not-age.age", b"hello", false), &identities, &Quiet).await.expect_err("not a backup");
        assert!(matches!(e, BackupError::NotABackup(_) | BackupError::Truncated(_)), "{e}");

        // A restore that fails near the end (a changed byte in the last chunk, no receipt to
        // catch it first) has already written rows, and leaves the target empty.
        let mut late = good.clone();
        let end = late.len() - 20;
        late[end] ^= 0x01;
        let late = copy("late.age", &late, false);
        let empty = Empty::new(backend).await;
        let store = empty.store().await;
        let progress = Count::default();
        let e = backup::restore(&late, &identities, &store, &empty.blob_dir(), false, &progress)
            .await
            .expect_err("damaged");
        assert!(matches!(e, BackupError::Damaged(_) | BackupError::Truncated(_)), "{e}");
        assert!(progress.0.load(Ordering::SeqCst) > 0, "rows had been written before it failed");
        assert_eq!(total_rows(&store).await, 0, "the target is left empty");
        // The same backup, intact, then restores there.
        backup::restore(&created.path, &identities, &store, &empty.blob_dir(), false, &Quiet)
            .await
            .expect("restore");
        assert_eq!(rows(&store).await, rows(&a.state.store).await);
        store.close().await;
    }

    async fn a_forced_restore_replaces_a_used_database(backend) {
        let a = TestApp::start(backend).await;
        seed(&a).await;
        let dir = tempfile::tempdir().expect("dir");
        let (identities, public) = keys(dir.path(), "backup.key");
        let destination = Directory::new(dir.path().join("backups"));
        let created = backup::create(&a.state.store, &a.state.config.blob_dir(), vec![public], &destination, a.state.now(), &Quiet)
            .await
            .expect("backup");
        let expected = rows(&a.state.store).await;
        // Another installation, with its own admin, projects and audit log (append-only).
        let b = TestApp::start(backend).await;
        let admin = b.admin().await;
        b.project("Elsewhere", admin.id, &[]).await;
        let e = backup::restore(&created.path, &identities, &b.state.store, &b.dir.path().join("blobs"), false, &Quiet)
            .await
            .expect_err("not empty");
        assert!(matches!(e, BackupError::NotEmpty(_)), "{e}");
        backup::restore(&created.path, &identities, &b.state.store, &b.dir.path().join("blobs"), true, &Quiet)
            .await
            .expect("forced restore");
        assert_eq!(rows(&b.state.store).await, expected);
        // The audit log is append-only again after the forced restore.
        let refused = sqlx::query("DELETE FROM audit_log").execute(b.state.store.pool()).await;
        assert!(refused.is_err(), "audit_log accepted a delete");
    }

    async fn a_backup_taken_while_writes_run_restores_a_consistent_state(backend) {
        let a = TestApp::start(backend).await;
        let admin = a.admin().await;
        let pm = a.user(Role::ProjectManager).await;
        let dir = tempfile::tempdir().expect("dir");
        let (identities, public) = keys(dir.path(), "backup.key");
        let destination = Directory::new(dir.path().join("backups"));
        // A bounded write loop: each project and its two memberships commit together.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (a.state.store.clone(), stop.clone());
            let now = a.state.now();
            tokio::spawn(async move {
                let mut n = 0;
                while n < 5000 && !stop.load(Ordering::SeqCst) {
                    store.create_project(&format!("p{n}"), "", pm.id, admin.id, now).await.expect("write");
                    n += 1;
                }
                n
            })
        };
        while a.count("projects").await < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let created = backup::create(&a.state.store, &a.state.config.blob_dir(), vec![public], &destination, a.state.now(), &Quiet)
            .await
            .expect("backup while writing");
        stop.store(true, Ordering::SeqCst);
        let written = writer.await.expect("writer");
        let empty = Empty::new(backend).await;
        let store = empty.store().await;
        backup::restore(&created.path, &identities, &store, &empty.blob_dir(), false, &Quiet).await.expect("restore");
        let projects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects").fetch_one(store.pool()).await.expect("count");
        let members: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM project_members").fetch_one(store.pool()).await.expect("count");
        assert!(projects >= 20 && projects <= written, "{projects} of {written}");
        assert_eq!(members, 2 * projects, "every restored project has both its memberships, no more");
        let manifest_rows = created.manifest.tables.iter().find(|t| t.name == "projects").expect("projects").rows;
        assert_eq!(projects, manifest_rows);
        store.close().await;
    }

    async fn a_backup_from_an_earlier_schema_version_is_restored_then_upgraded(backend) {
        // The database as an earlier version (schema 15) left it: an administrator and a project.
        let old = Empty::at(backend, 15).await;
        let store = old.store().await;
        let hash = agentic_host::auth::password::hash("old-password-1234").expect("hash");
        sqlx::query(
            "INSERT INTO users (kind, email, display_name, password_hash, role, created_at, updated_at) \
             VALUES ('human', 'old@test.example', 'Old Admin', $1, 'administrator', 1, 1)",
        )
        .bind(hash)
        .execute(store.pool())
        .await
        .expect("user");
        sqlx::query("INSERT INTO projects (name, description, owner_id, created_at, updated_at) VALUES ('Kept', 'from v15', 1, 1, 1)")
            .execute(store.pool())
            .await
            .expect("project");
        let dir = tempfile::tempdir().expect("dir");
        let (identities, public) = keys(dir.path(), "backup.key");
        let destination = Directory::new(dir.path().join("backups"));
        let created = backup::create(&store, &old.blob_dir(), vec![public], &destination, agentic_host::clock::Millis::from_ms(1_700_000_000_000), &Quiet)
            .await
            .expect("backup at schema 15");
        store.close().await;
        assert_eq!(created.manifest.schema_version, 15);

        // A database already at this version cannot go back to it, and says what to do.
        let current = Empty::new(backend).await;
        let e = backup::restore(&created.path, &identities, &current.store().await, &current.blob_dir(), false, &Quiet)
            .await
            .expect_err("a newer database");
        assert!(matches!(e, BackupError::Incompatible(_)) && e.to_string().contains("new, empty database"), "{e}");

        // Into a new, empty database: brought to schema 15, loaded, then upgraded.
        let target = Empty::at(backend, 0).await;
        let t = target.store().await;
        backup::restore(&created.path, &identities, &t, &target.blob_dir(), false, &Quiet)
            .await
            .expect("restore");
        assert_eq!(t.schema_version().await.expect("version"), t.latest_schema_version());
        assert!(t.latest_schema_version() > 15);
        t.close().await;

        // The restored installation serves on this version: its administrator signs in and
        // finds the project.
        let url = target.url.clone();
        let app = TestApp::start_with(backend, move |c| c.database_url = Some(url)).await;
        let session = app.login("old@test.example", "old-password-1234").await;
        let token = session["access_token"].as_str().expect("token");
        let projects = app.all(token, "/api/v1/projects").await;
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0]["name"], "Kept");
        assert_eq!(projects[0]["description"], "from v15");
    }
}
