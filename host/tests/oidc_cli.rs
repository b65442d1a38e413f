//! `agentic oidc set-secret`: an identity provider's client secret from standard input into the
//! vault (never from the command line), replaced when set again, audited without the value;
//! refused for a provider that is not configured, an empty secret, or a terminal.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use agentic_host::clock::SystemClock;
use agentic_host::config::Config;
use agentic_host::vault::Vault;

use crate::workers::agentic;

const FIRST: &str = "first-client-secret-5e1f9a0c7b2d";
const SECOND: &str = "rotated-client-secret-83ad64e1f0c9";

/// `agentic --config … oidc set-secret <provider>` with `stdin` on standard input.
fn set_secret(dir: &Path, database: &str, provider: &str, stdin: &str) -> Output {
    let config = dir.join("agentic.toml");
    let config = config.to_str().expect("path");
    let mut child = agentic(
        dir,
        database,
        &["--config", config, "oidc", "set-secret", provider],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("output")
}

#[tokio::test]
async fn set_secret_reads_stdin_into_the_vault_and_replaces_it_when_set_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("agentic.db").display()
    );
    std::fs::write(
        dir.path().join("agentic.toml"),
        "[auth.oidc]\nfrontend_url = \"https://app.example.com/sso\"\n\
         [auth.oidc.providers.corp]\nissuer = \"https://idp.example.com\"\n\
         client_id = \"agentic\"\nclient_secret_vault = true\n\
         [auth.oidc.providers.other]\nissuer = \"https://idp2.example.com\"\n\
         client_id = \"agentic\"\n",
    )
    .expect("config");
    let config = Config {
        data_dir: dir.path().to_owned(),
        database_url: Some(database.clone()),
        ..Config::default()
    };
    // The installation as `agentic serve` leaves it (database and vault key).
    let store = agentic_host::server::open_store(&config)
        .await
        .expect("store");
    agentic_host::server::state(
        config.clone(),
        store.clone(),
        std::sync::Arc::new(SystemClock),
    )
    .await
    .expect("first start");

    let out = set_secret(dir.path(), &database, "corp", &format!("{FIRST}\n"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stored in the vault"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(FIRST) && !stderr.contains(FIRST),
        "the secret is echoed"
    );
    let vault = Vault::open(store.clone(), config.vault_key_source())
        .await
        .expect("vault");
    let id = store
        .oidc_client_secret_id("corp")
        .await
        .expect("read")
        .expect("set");
    assert_eq!(
        vault.get(id).await.expect("secret").expose(),
        FIRST.as_bytes()
    );

    // Again: the same vault entry now holds the new secret, and nothing else was added.
    let out = set_secret(dir.path(), &database, "corp", SECOND);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("replaced"),
        "{stdout}"
    );
    assert_eq!(
        store.oidc_client_secret_id("corp").await.expect("read"),
        Some(id)
    );
    assert_eq!(
        vault.get(id).await.expect("secret").expose(),
        SECOND.as_bytes()
    );
    let secrets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vault_secrets")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(secrets, 1);

    // A provider configured with another source is told so; an unknown one and an empty
    // secret are refused, and so is more than one line.
    let out = set_secret(dir.path(), &database, "other", FIRST);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("client_secret_vault = true"));
    for (provider, input, says) in [
        ("nope", FIRST, "no identity provider named"),
        ("corp", "\n", "must not be empty"),
        ("corp", "one\ntwo\n", "control characters"),
    ] {
        let out = set_secret(dir.path(), &database, provider, input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{provider}: {stderr}"
        );
    }
    assert_eq!(
        vault.get(id).await.expect("secret").expose(),
        SECOND.as_bytes()
    );

    // Audited with the provider and `via: cli`, never with the secret.
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT target_id || ' ' || detail FROM audit_log \
         WHERE action = 'identity_provider.client_secret_set' ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .expect("audit");
    assert_eq!(audited.len(), 3, "{audited:?}");
    assert!(audited[0].starts_with("corp ") && audited[0].contains("\"via\":\"cli\""));
    assert!(audited[1].contains("\"replaced\":true"), "{audited:?}");
    let all = audited.join("\n");
    assert!(!all.contains(FIRST) && !all.contains(SECOND), "{all}");
}
