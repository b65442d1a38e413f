//! Backups on both databases and across them: a backup restored into an empty database gives
//! every row back (compared value by value) and the same API answers — projects, users,
//! documents with their bytes, connections whose credential still works through the vault and
//! the restored plugin. The installation a story backs up ([`seed`]), the empty database it
//! restores into ([`Empty`]) and the row-by-row comparison ([`rows`]) are shared with
//! `backup_integrity`, which holds what a restore refuses or must keep (damaged, cut-off and
//! wrongly keyed backups, a failing or forced restore, writes during a backup, an earlier schema).

use std::path::{Path, PathBuf};

use agentic_host::backup::{self, BackupError, Directory, Identity, Quiet};
use agentic_host::documents::config::BlobBackend;
use agentic_host::rbac::Role;
use agentic_host::store::backup::Select;
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
pub(crate) struct Seeded {
    project: i64,
    connection: i64,
}

/// A project with the example plugin, a connection with a credential, and documents (text
/// with two versions, and a large binary one).
pub(crate) async fn seed(app: &TestApp) -> Seeded {
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
pub(crate) async fn rows(store: &Store) -> Vec<(String, Vec<String>)> {
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
pub(crate) struct Empty {
    /// The database URL (a SQLite file, or PostgreSQL with the schema as its search path).
    pub(crate) url: String,
    dir: tempfile::TempDir,
    schema: Option<String>,
}

impl Empty {
    /// Migrated by this version.
    pub(crate) async fn new(backend: Backend) -> Self {
        Self::at(backend, i64::MAX).await
    }

    /// Migrated up to `version` only (0: never migrated), as an earlier version left it.
    pub(crate) async fn at(backend: Backend, version: i64) -> Self {
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

    pub(crate) async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect")
    }

    pub(crate) fn blob_dir(&self) -> PathBuf {
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
pub(crate) fn keys(dir: &Path, name: &str) -> (Vec<Identity>, backup::Recipient) {
    let (text, public) = backup::keygen();
    let path = dir.join(name);
    std::fs::write(&path, text).expect("identity file");
    (backup::read_identities(&path).expect("identities"), public)
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
}
