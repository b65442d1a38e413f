//! End-to-end: the real `agentic` binary, started as a user would, spoken to over a real TCP port.
//!
//! Covers the README's promise (no configuration → SQLite in `./data`, a generated first admin
//! password printed once), the same binary on PostgreSQL via `AGENTIC_DATABASE_URL`, `migrate`,
//! `--help` documenting every option, and a clean exit on SIGTERM (its secrets: `binary_secrets`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_agentic");

/// A running `agentic serve` and what it printed before listening.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) banner: Vec<String>,
    /// Everything it writes to stderr after listening.
    logs: mpsc::Receiver<String>,
}

// The child is owned by `Server`, whose `Drop` kills and reaps it.
#[allow(clippy::zombie_processes)]
pub(crate) fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .current_dir(dir)
        .env_remove("AGENTIC_DATABASE_URL")
        .env_remove("AGENTIC_ADMIN_EMAIL")
        .env_remove("AGENTIC_ADMIN_PASSWORD")
        .env("AGENTIC_LISTEN", "127.0.0.1:0")
        .env("AGENTIC_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn agentic");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("agentic did not start listening within 60s");
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "agentic listening" {
                let addr = event["address"]
                    .as_str()
                    .expect("address")
                    .parse()
                    .expect("socket address");
                return Server {
                    child,
                    addr,
                    banner,
                    logs: rx,
                };
            }
        } else {
            banner.push(line);
        }
    }
}

impl Server {
    /// Stops it with SIGTERM (it must exit cleanly) and returns what it logged after listening.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "agentic exited with {status} on SIGTERM");
        let mut logs = Vec::new();
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(2)) {
            logs.push(line);
        }
        logs
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `agentic ARGS` in `dir` on the embedded defaults (no database URL or vault key from the
/// environment); returns success, stdout and stderr.
pub(crate) fn run_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("AGENTIC_DATABASE_URL")
        .env_remove("AGENTIC_VAULT_KEY")
        .output()
        .expect("spawn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One HTTP/1.1 request over a fresh connection; returns status and JSON body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split(' ')
        .nth(1)
        .expect("status")
        .parse()
        .expect("status code");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub(crate) async fn login_and_use(addr: SocketAddr, email: &str, password: &str) {
    let (status, _) = http(addr, "GET", "/readyz", None, None).await;
    assert_eq!(status, 200);
    let (status, tokens) = http(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await;
    assert_eq!(status, 200, "login: {tokens}");
    let token = tokens["access_token"].as_str().expect("token");
    let (status, project) = http(
        addr,
        "POST",
        "/api/v1/projects",
        Some(token),
        Some(json!({ "name": "E2E", "description": "over TCP", "owner_id": tokens["user"]["id"] })),
    )
    .await;
    assert_eq!(status, 201, "{project}");
    let (status, got) = http(
        addr,
        "GET",
        &format!("/api/v1/projects/{}", project["id"]),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got, project);
}

#[tokio::test]
async fn serve_with_no_configuration_uses_sqlite_in_data_and_prints_the_admin_password_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), &[]);
    let password = server
        .banner
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("password:")
                .map(|p| p.trim().to_owned())
        })
        .expect("generated password printed");
    assert!(server.banner.iter().any(|l| l.contains("admin@localhost")));
    login_and_use(server.addr, "admin@localhost", &password).await;
    server.stop();

    assert!(dir.path().join("data/agentic.db").exists());
    let key = std::fs::read_dir(dir.path().join("data/jwt-keys"))
        .expect("keys")
        .next()
        .expect("a key")
        .expect("entry");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            key.metadata().expect("meta").permissions().mode() & 0o777,
            0o600,
            "signing key is private"
        );
    }

    // Second start: same database, same keys, no new password printed.
    let again = start(dir.path(), &[]);
    assert!(
        !again.banner.iter().any(|l| l.contains("password:")),
        "{:?}",
        again.banner
    );
    login_and_use(again.addr, "admin@localhost", &password).await;
    again.stop();
}

#[tokio::test]
async fn serve_on_postgres_with_the_admin_from_the_environment() {
    let base = std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let admin_conn = sqlx::AnyPool::connect(&base).await;
    let pool = match admin_conn {
        Ok(p) => p,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("PostgreSQL is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL end-to-end test: {e}");
            return;
        }
    };
    let schema = format!("e2e_{}", std::process::id());
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");

    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env("AGENTIC_DATABASE_URL", &url)
        .output()
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let env = [
        ("AGENTIC_DATABASE_URL", url.as_str()),
        ("AGENTIC_ADMIN_EMAIL", "Root@Example.com"),
        ("AGENTIC_ADMIN_PASSWORD", "a-strong-admin-password"),
    ];
    let server = start(dir.path(), &env);
    assert!(!server.banner.iter().any(|l| l.contains("password:")));
    login_and_use(server.addr, "root@example.com", "a-strong-admin-password").await;
    server.stop();
    assert!(
        !dir.path().join("data/agentic.db").exists(),
        "no SQLite file when on PostgreSQL"
    );
    let tables: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = 'projects'"
    ))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(tables, 1);
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .expect("cleanup");
}

#[test]
fn a_weak_configured_admin_password_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("AGENTIC_LISTEN", "127.0.0.1:0")
        .env("AGENTIC_ADMIN_PASSWORD", "short")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("AGENTIC_ADMIN_PASSWORD must be at least 12 characters"));
}

#[test]
fn bad_configuration_is_reported_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("agentic.toml"),
        "listen = \"127.0.0.1:0\"\nlisten_port = 3\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["--config", "agentic.toml", "serve"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen_port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env("AGENTIC_DATABASE_URL", "mysql://x")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    for var in [
        "AGENTIC_LISTEN",
        "AGENTIC_DATA_DIR",
        "AGENTIC_DATABASE_URL",
        "AGENTIC_LOG_FORMAT",
        "AGENTIC_LOG",
        "AGENTIC_ADMIN_EMAIL",
        "AGENTIC_ADMIN_PASSWORD",
        "AGENTIC_AUTH__IDLE_TIMEOUT_SECS",
        "AGENTIC_AUTH__ABSOLUTE_TIMEOUT_SECS",
        "AGENTIC_AUTH__ACCESS_TOKEN_TTL_SECS",
        "AGENTIC_HTTP__MAX_BODY_BYTES",
        "AGENTIC_CONFIG",
        "AGENTIC_HTTP__CORS_ALLOWED_ORIGINS",
        "AGENTIC_REDIS_URL",
        "AGENTIC_CACHE__ENABLED",
    ] {
        assert!(
            text.contains(var),
            "`agentic serve --help` does not mention {var}"
        );
    }
    let out = Command::new(BIN).arg("openapi").output().expect("openapi");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("openapi json");
    assert!(doc["paths"]["/api/v1/projects"].is_object());
}

#[tokio::test]
async fn admin_commands_manage_accounts_and_are_audited() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let agentic = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("output")
    };
    let out = agentic(
        &[
            "admin",
            "create-user",
            "--email",
            "Ops@Example.com",
            "--name",
            "Ops",
            "--role",
            "support_engineer",
            "--password-stdin",
        ],
        Some("a-strong-password-1\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = agentic(
        &[
            "admin",
            "set-role",
            "--email",
            "ops@example.com",
            "--role",
            "technical_lead",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = agentic(&["admin", "list-users"], None);
    let listing = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["ID", "EMAIL", "ROLE", "STATE"], "{listing}");
    assert!(
        rows.iter()
            .any(|r| r[1..] == ["ops@example.com", "technical_lead", "active"]),
        "{listing}"
    );

    let bad = agentic(
        &[
            "admin",
            "create-user",
            "--email",
            "not-an-email",
            "--name",
            "X",
            "--role",
            "support_engineer",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));
    let bad = agentic(
        &[
            "admin",
            "set-role",
            "--email",
            "ops@example.com",
            "--role",
            "wizard",
        ],
        None,
    );
    assert!(!bad.status.success());

    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("data/agentic.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.expect("open db");
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE detail LIKE '%\"via\":\"cli\"%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, ["user.created", "user.updated"]);
}

#[test]
fn a_busy_port_fails_the_start_before_the_one_time_password_is_spent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("AGENTIC_ADMIN_PASSWORD")
        .env("AGENTIC_LISTEN", &addr)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("binding") && !stderr.contains("password:"),
        "{stderr}"
    );
    drop(busy);
    // The next start still creates the administrator and shows its password.
    let server = start(dir.path(), &[]);
    assert!(
        server.banner.iter().any(|l| l.contains("password:")),
        "{:?}",
        server.banner
    );
    server.stop();
}

#[tokio::test]
async fn api_usage_counted_in_memory_is_stored_when_the_host_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("AGENTIC_ADMIN_EMAIL", "usage@test.example"),
        ("AGENTIC_ADMIN_PASSWORD", "a-long-usage-password-1"),
    ];
    let server = start(dir.path(), &env);
    // Login, create a project, read it: three API requests, held in memory (the periodic
    // flush is a minute away).
    login_and_use(server.addr, env[0].1, env[1].1).await;
    server.stop();

    let again = start(dir.path(), &env);
    let (_, tokens) = http(
        again.addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": env[0].1, "password": env[1].1 })),
    )
    .await;
    let token = tokens["access_token"].as_str().expect("token");
    let (status, report) = http(
        again.addr,
        "GET",
        "/api/v1/analytics/api-usage?bucket=hour",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["totals"]["requests"], 3, "{report}");
    assert_eq!(report["totals"]["2xx"], 3, "{report}");
    let routes: Vec<&str> = report["top_routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["route"].as_str())
        .collect();
    assert_eq!(
        routes,
        [
            "/api/v1/auth/login",
            "/api/v1/projects",
            "/api/v1/projects/{id}"
        ],
        "{report}"
    );
    again.stop();
}
