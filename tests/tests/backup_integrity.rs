//! What a restore must not get wrong (the round trip itself is `backup`): a damaged, cut-off or
//! wrongly keyed backup is refused saying which; a restore that fails midway leaves the target
//! empty; a database already in use is refused unless the restore is forced; a backup taken while
//! writes run restores a consistent state; a backup made at an earlier schema version restores
//! into a new database and is upgraded to this one.

use std::sync::atomic::{AtomicU64, Ordering};

use agentic_host::backup::{self, BackupError, Directory, Progress, Quiet};
use agentic_host::rbac::Role;
use agentic_host::store::backup::TABLES;
use agentic_host::store::Store;
use agentic_tests::{stories, TestApp};

use crate::backup::{keys, rows, seed, Empty};

/// Counts the units a restore reports done.
#[derive(Default)]
struct Count(AtomicU64);

impl Progress for Count {
    fn advance(&self, n: u64) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
}

/// Rows in every table a backup holds, to tell an empty database from one a restore wrote to.
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

stories! {
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
