//! End-to-end, the real `agentic` binary and its secrets: the vault's key generated once and a
//! lost one stopping the start, a connection's secret kept out of the logs and the database
//! file, and a rotation killed at random points losing none.

use crate::binary::{http, run_cli, start, BIN};
use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

#[tokio::test]
async fn the_vault_key_is_generated_once_and_a_lost_one_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agentic = |args: &[&str]| run_cli(dir.path(), args);
    // `serve` sets the installation up with its key; `vault status` only reads it.
    start(dir.path(), &[]).stop();
    let (ok, out, err) = agentic(&["vault", "status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("current key: age1"), "{out}");
    let key = dir.path().join("data/vault.key");
    let first = std::fs::read_to_string(&key).expect("generated key file");
    let (ok, out, err) = agentic(&["vault", "rotate"]);
    assert!(ok && out.contains("rotated 0 secrets"), "{out}{err}");
    assert_ne!(
        std::fs::read_to_string(&key).expect("key"),
        first,
        "a new key"
    );

    // A secret stored under a key this host does not have.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("data/agentic.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.expect("open db");
    sqlx::query("INSERT INTO vault_secrets (key_id, ciphertext, created_at, updated_at) VALUES ('age1someoneelse', x'00', 0, 0)")
        .execute(&pool)
        .await
        .expect("insert");
    let (ok, _, err) = agentic(&["vault", "status"]);
    assert!(
        !ok && err.contains("cannot read the stored secrets"),
        "{err}"
    );
    std::fs::remove_file(&key).expect("lose the key");
    let (ok, _, err) = agentic(&["serve"]);
    assert!(!ok && err.contains("restore the key file"), "{err}");
    std::fs::remove_file(dir.path().join("data/vault.key.prev")).expect("and the old one");
    let (ok, _, err) = agentic(&["serve"]);
    assert!(!ok, "serve must not start");
    assert!(err.contains("is missing but 1 secrets are stored"), "{err}");
    assert!(!key.exists(), "no new key is made over stored secrets");
}

#[tokio::test]
async fn a_connection_secret_never_reaches_the_logs_or_the_database_file() {
    const TOKEN: &str = "pat-e2e-51c0ffee9d";
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = |args: &[&str]| {
        let (ok, out, err) = run_cli(dir.path(), args);
        assert!(ok, "{args:?}: {err}");
        out
    };
    // Publisher and administrator set the example connector up from the shell.
    support::install_example_from_shell(dir.path(), cli);

    // The service the connection talks to: it wants the token.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let service = axum::Router::new().route(
        "/status",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("lock").push(auth);
                json!({"items": 7}).to_string()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, service).await });

    let server = start(
        dir.path(),
        &[
            ("AGENTIC_ADMIN_EMAIL", "root@example.com"),
            ("AGENTIC_ADMIN_PASSWORD", "a-long-admin-passphrase"),
            ("AGENTIC_LOG", "trace"),
        ],
    );
    let addr = server.addr;
    let (_, tokens) = http(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "root@example.com", "password": "a-long-admin-passphrase"})),
    )
    .await;
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let (status, project) = http(
        addr,
        "POST",
        "/api/v1/projects",
        Some(&token),
        Some(json!({"name": "P"})),
    )
    .await;
    assert_eq!(status, 201, "{project}");
    let p = project["id"].as_i64().expect("id");
    let (status, _) = http(
        addr,
        "PUT",
        &format!("/api/v1/projects/{p}/plugins/example"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, conn) = http(
        addr,
        "POST",
        &format!("/api/v1/projects/{p}/connections"),
        Some(&token),
        Some(json!({
            "plugin_id": "example", "name": "svc", "base_url": base, "config": {"base_url": base},
            "allow_private_network": true, "credential": {"kind": "bearer", "token": TOKEN},
        })),
    )
    .await;
    assert_eq!(status, 201, "{conn}");
    let c = conn["id"].as_i64().expect("id");
    let (status, check) = http(
        addr,
        "POST",
        &format!("/api/v1/projects/{p}/connections/{c}/check"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, check["message"].as_str()),
        (200, Some("7 items available")),
        "{check}"
    );
    // The check when the connection was saved, then the one asked for: the host injected the
    // credential into both.
    assert_eq!(
        seen.lock().expect("lock").as_slice(),
        [format!("Bearer {TOKEN}"), format!("Bearer {TOKEN}")]
    );

    let logs = server.stop();
    assert!(
        logs.iter().any(|l| l.contains("/connections")),
        "trace logs were captured"
    );
    for line in &logs {
        assert!(
            !line.contains(TOKEN),
            "a log line carries the secret: {line}"
        );
    }
    for file in ["data/agentic.db", "data/agentic.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "{file} holds the secret"
            );
        }
    }
}

#[tokio::test]
async fn vault_rotation_killed_at_random_points_loses_no_secret() {
    use agentic_host::clock::Millis;
    use agentic_host::vault::{KeySource, Vault};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let url = format!("sqlite://{}?mode=rwc", data.join("agentic.db").display());
    let store = agentic_host::store::Store::connect(&url)
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let key = KeySource::File(data.join("vault.key"));
    let vault = Vault::open(store.clone(), key.clone())
        .await
        .expect("vault");
    let mut ids = Vec::new();
    for n in 0..1500 {
        ids.push(
            vault
                .put(format!("secret {n}").as_bytes(), Millis::from_ms(1))
                .await
                .expect("put"),
        );
    }
    drop(vault);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    let (mut kills, mut midway) = (0, 0);
    for round in 0..4u32 {
        let mut child = Command::new(BIN)
            .args(["vault", "rotate"])
            .current_dir(dir.path())
            .env_remove("AGENTIC_DATABASE_URL")
            .env_remove("AGENTIC_VAULT_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rotate");
        // Somewhere between 20 and 420 ms in: before, during or after the re-encryption.
        let wait = 20 + u64::from(seed.wrapping_mul(round + 1) % 400);
        std::thread::sleep(Duration::from_millis(wait));
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
        // After every crash: a fresh host opens the vault and reads every secret.
        let vault = Vault::open(store.clone(), key.clone())
            .await
            .unwrap_or_else(|e| panic!("round {round} after {wait} ms: {e}"));
        if vault.status().await.expect("status").secrets_by_key.len() > 1 {
            midway += 1; // killed while secrets were split between the old and the new key
        }
        for (n, id) in ids.iter().enumerate() {
            let secret = vault
                .get(*id)
                .await
                .unwrap_or_else(|e| panic!("round {round}: secret {id}: {e}"));
            assert_eq!(secret.expose(), format!("secret {n}").as_bytes());
        }
    }
    // A final rotation always completes and leaves one key.
    let out = Command::new(BIN)
        .args(["vault", "rotate"])
        .current_dir(dir.path())
        .env_remove("AGENTIC_DATABASE_URL")
        .env_remove("AGENTIC_VAULT_KEY")
        .output()
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vault = Vault::open(store.clone(), key).await.expect("vault");
    let status = vault.status().await.expect("status");
    assert_eq!(status.secrets_by_key.len(), 1, "{status:?}");
    assert_eq!(status.secrets_by_key[0].1, 1500);
    eprintln!("killed {kills} of 4 rotations; {midway} left secrets under two keys");
}
