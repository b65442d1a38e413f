//! The credential vault on both databases: secrets encrypted at rest, a wrong or missing key is a
//! clear start-up error, and rotation keeps every secret readable at every point — stopped
//! midway, resumed, and while another host keeps reading.

use std::sync::Arc;

use agentic_host::clock::Millis;
use agentic_host::vault::{KeySource, Vault, VaultError};
use agentic_tests::{stories, TestApp};

const SECRET: &[u8] = b"jira-api-token-7d1f9c3e";

/// The time `n` ms after the epoch.
fn t(n: i64) -> Millis {
    Millis::from_ms(n)
}

fn key_file(app: &TestApp) -> std::path::PathBuf {
    app.dir.path().join("vault.key")
}

/// A secret's stored ciphertext.
async fn ciphertext(app: &TestApp, id: i64) -> Vec<u8> {
    sqlx::query_scalar("SELECT ciphertext FROM vault_secrets WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.store.pool())
        .await
        .expect("row")
}

/// The bytes of the live database files that hold the vault: on SQLite the database file, its
/// WAL and shared memory; on PostgreSQL the table's file, read after a checkpoint has written
/// every page of it to disk (the tests run on the server's machine, as root).
async fn database_files(app: &TestApp) -> Vec<u8> {
    let pool = app.state.store.pool();
    match app.state.store.backend() {
        agentic_host::store::Backend::Sqlite => {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(app.dir.path()).expect("data dir") {
                let path = entry.expect("entry").path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(".db"))
                {
                    bytes.extend(std::fs::read(&path).expect("database file"));
                }
            }
            assert!(
                !bytes.is_empty(),
                "no database file in {}",
                app.dir.path().display()
            );
            bytes
        }
        agentic_host::store::Backend::Postgres => {
            sqlx::query("CHECKPOINT")
                .execute(pool)
                .await
                .expect("checkpoint");
            let dir: String =
                sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
                    .fetch_one(pool)
                    .await
                    .expect("data directory");
            let file: String = sqlx::query_scalar("SELECT pg_relation_filepath('vault_secrets')")
                .fetch_one(pool)
                .await
                .expect("table file");
            let path = std::path::Path::new(&dir).join(file);
            let mut bytes = Vec::new();
            // The main file and any further 1 GiB segments.
            for n in 0.. {
                let segment = if n == 0 {
                    path.clone()
                } else {
                    path.with_extension(n.to_string())
                };
                match std::fs::read(&segment) {
                    Ok(b) => bytes.extend(b),
                    Err(_) if n > 0 => break,
                    Err(e) => panic!(
                        "reading {}: {e} (the tests read the server's files)",
                        segment.display()
                    ),
                }
            }
            bytes
        }
    }
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn another_host(app: &TestApp) -> Vault {
    Vault::open(app.state.store.clone(), KeySource::File(key_file(app)))
        .await
        .expect("open vault")
}

stories! {
    async fn secrets_round_trip_and_only_ciphertext_is_stored(backend) {
        let app = TestApp::start(backend).await;
        let vault = &app.state.vault;
        let id = vault.put(SECRET, t(1)).await.expect("put");
        assert_eq!(vault.get(id).await.expect("get").expose(), SECRET);
        assert_eq!(format!("{:?}", vault.get(id).await.expect("get")), "Secret(<redacted>)");

        let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM vault_secrets WHERE id = $1")
            .bind(id)
            .fetch_one(app.state.store.pool())
            .await
            .expect("row");
        assert!(stored.starts_with(b"age-encryption.org/v1"), "an age file");
        assert!(!stored.windows(SECRET.len()).any(|w| w == SECRET), "no plaintext at rest");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file(&app)).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the key file is private");
        }

        vault.replace(id, b"rotated-by-the-user", t(2)).await.expect("replace");
        assert_eq!(vault.get(id).await.expect("get").expose(), b"rotated-by-the-user");
        vault.delete(id).await.expect("delete");
        assert!(matches!(vault.get(id).await, Err(VaultError::NotFound)));
    }

    async fn rotation_and_deletion_leave_no_old_ciphertext_in_the_database_files(backend) {
        let app = TestApp::start(backend).await;
        let vault = &app.state.vault;
        let kept = vault.put(b"token-kept-0001", t(1)).await.expect("put");
        let replaced = vault.put(b"token-before-0002", t(1)).await.expect("put");
        let deleted = vault.put(b"token-deleted-0003", t(1)).await.expect("put");
        let mut old = vec![ciphertext(&app, kept).await, ciphertext(&app, replaced).await];
        vault.replace(replaced, b"token-after-0004", t(2)).await.expect("replace");
        old.push(ciphertext(&app, replaced).await);
        old.push(ciphertext(&app, deleted).await);
        // The files hold them now: the check below can see ciphertext where it is.
        let before = database_files(&app).await;
        assert!(holds(&before, &old[0]), "the files do not show live ciphertext: the check is blind");

        vault.rotate(t(3), |_| true).await.expect("rotate");
        vault.delete(deleted).await.expect("delete");
        // The deletion's scrub runs in the background: give it a moment.
        let mut after = database_files(&app).await;
        for _ in 0..100 {
            if !old.iter().any(|c| holds(&after, c)) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            after = database_files(&app).await;
        }
        for (n, c) in old.iter().enumerate() {
            assert!(!holds(&after, c), "ciphertext {n} under the old key is still in the database files");
        }
        assert!(holds(&after, &ciphertext(&app, kept).await), "the live ciphertext is there");
        assert_eq!(vault.get(kept).await.expect("get").expose(), b"token-kept-0001");
        assert_eq!(vault.get(replaced).await.expect("get").expose(), b"token-after-0004");
    }

    async fn a_missing_or_wrong_key_is_a_clear_start_up_error(backend) {
        let app = TestApp::start(backend).await;
        app.state.vault.put(SECRET, t(1)).await.expect("put");
        let store = app.state.store.clone();

        let missing = app.dir.path().join("elsewhere/vault.key");
        let err = Vault::open(store.clone(), KeySource::File(missing)).await.expect_err("missing key");
        let text = err.to_string();
        assert!(text.contains("is missing but 1 secrets are stored"), "{text}");

        let wrong = app.dir.path().join("wrong.key");
        let other = TestApp::start(app.backend).await;
        std::fs::copy(key_file(&other), &wrong).expect("copy a different key");
        let err = Vault::open(store.clone(), KeySource::File(wrong)).await.expect_err("wrong key");
        let text = err.to_string();
        assert!(text.contains("cannot read the stored secrets") && text.contains("1 for age1"), "{text}");

        let almost = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQTYPO";
        let err = Vault::open(store.clone(), KeySource::Env(almost.into())).await.expect_err("garbage");
        assert!(err.to_string().contains("AGENTIC_VAULT_KEY"), "{err}");
        assert!(!err.to_string().contains(almost), "errors never echo what was given as a key");

        // The same key given through the environment works.
        let text = std::fs::read_to_string(key_file(&app)).expect("key");
        let line = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).expect("identity line");
        let env = Vault::open(store, KeySource::Env(line.to_owned())).await.expect("env key");
        assert_eq!(env.get(1).await.expect("get").expose(), SECRET);
        assert!(matches!(env.rotate(t(3), |_| true).await, Err(VaultError::Key(_))), "rotation needs a file");
    }

    async fn rotation_stopped_midway_loses_nothing_and_finishes_when_run_again(backend) {
        let app = TestApp::start(backend).await;
        let vault = &app.state.vault;
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(vault.put(format!("secret number {n}").as_bytes(), t(1)).await.expect("put"));
        }
        let old_key = vault.status().await.expect("status").current;
        // A host that keeps serving throughout, opened before the rotation.
        let serving = Arc::new(another_host(&app).await);

        // "Crash" after 4 rows: the process stops there, files and rows as they are.
        let done = vault.rotate(t(2), |n| n < 4).await.expect("partial rotation");
        assert_eq!(done, 4);
        let restarted = another_host(&app).await;
        for (n, id) in ids.iter().enumerate() {
            let expected = format!("secret number {n}");
            assert_eq!(restarted.get(*id).await.expect("after the crash").expose(), expected.as_bytes());
            assert_eq!(serving.get(*id).await.expect("on the serving host").expose(), expected.as_bytes());
        }
        let status = restarted.status().await.expect("status");
        assert_eq!(status.secrets_by_key.len(), 2, "{status:?}");
        assert_ne!(status.current, old_key, "new secrets already go to the new key");

        // Run again, with the serving host reading all the while: never an error.
        let reader = {
            let (serving, ids) = (serving.clone(), ids.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    for id in &ids {
                        serving.get(*id).await.expect("read during rotation");
                    }
                }
            })
        };
        let done = restarted.rotate(t(3), |_| true).await.expect("finish rotation");
        assert_eq!(done, 6, "only what was left");
        reader.await.expect("reader");
        let status = serving.status().await.expect("status");
        assert_eq!(status.secrets_by_key.len(), 1, "{status:?}");
        assert_eq!(status.secrets_by_key[0].1, 10);
        assert!(key_file(&app).with_extension("key.prev").exists(), "the old key is kept once");
        assert!(!app.dir.path().join("vault.key.next").exists());
        // The serving host writes with the new key and reads everything.
        let id = serving.put(b"after", t(4)).await.expect("put after");
        assert_eq!(another_host(&app).await.get(id).await.expect("get").expose(), b"after");
        for id in ids {
            serving.get(id).await.expect("read after rotation");
        }
    }
}
