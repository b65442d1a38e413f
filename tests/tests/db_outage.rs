//! A database that is down or broken: the API answers 503 with `Retry-After` at once while
//! PostgreSQL is unreachable and recovers by itself when it is back; a start on a corrupt or
//! unreachable database fails naming the cause, not "pool timed out".

use std::time::{Duration, Instant};

use agentic_host::store::Store;
use agentic_tests::proxy::{Mode, Proxy};
use agentic_tests::{postgres_unavailable, postgres_url, Backend, TestApp};

/// `host:port` of a URL (`scheme://user@host:port/db`).
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, a)| a).to_owned()
}

#[tokio::test]
async fn a_corrupt_sqlite_file_at_start_names_the_cause() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("agentic.db");
    std::fs::write(&path, b"not a database, only text. ".repeat(400)).expect("write");
    let started = Instant::now();
    let e = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect_err("a corrupt file must not open");
    let text = e.to_string();
    assert!(text.contains("not a database"), "{text}");
    assert!(!text.contains("pool timed out"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_postgres_at_start_names_the_cause() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let started = Instant::now();
    let e = Store::connect(&format!("postgres://postgres@127.0.0.1:{port}/test"))
        .await
        .expect_err("nothing listens there");
    let text = e.to_string();
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("pool timed out"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn while_postgres_is_down_the_api_answers_503_with_retry_after_at_once() {
    if postgres_unavailable().await {
        return;
    }
    let server = authority(&postgres_url());
    let proxy = Proxy::start(&postgres_url()).await;
    let through = authority(&proxy.url());
    let app = TestApp::start_with(Backend::Postgres, |c| {
        c.database_url = c
            .database_url
            .take()
            .map(|u| u.replacen(&server, &through, 1));
    })
    .await;
    let admin = app.admin().await;
    app.get("/api/v1/projects", &admin.token).await.expect(200);

    proxy.set(Mode::Cut);
    for _ in 0..3 {
        let started = Instant::now();
        let r = app.get("/api/v1/projects", &admin.token).await;
        let took = started.elapsed();
        let problem = r.problem(503);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("database")),
            "{problem}"
        );
        assert_eq!(r.headers["retry-after"], "5");
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
    }

    // Back up: the host recovers by itself.
    proxy.set(Mode::Pass);
    let mut status = 0;
    for _ in 0..100 {
        status = app
            .get("/api/v1/projects", &admin.token)
            .await
            .status
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the host did not recover");
}
