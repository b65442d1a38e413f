//! The real services the stories run on besides the host: the PostgreSQL server (a fresh schema
//! per app) and the Redis of the cache stories. Outside CI a missing one skips the runs that
//! need it, with a message; under `CI=true` it fails them.

use std::time::Duration;

use agentic_host::config::Config;

/// The PostgreSQL server the tests use.
pub fn postgres_url() -> String {
    std::env::var("AGENTIC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether this runs under CI (`CI=true` or `1`), where a missing service fails the run instead
/// of skipping it.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` (and a message) when PostgreSQL cannot be reached outside CI; panics inside CI.
pub async fn postgres_unavailable() -> bool {
    sqlx::any::install_default_drivers();
    let check = async {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&postgres_url())
            .await?
            .close()
            .await
    };
    let result = tokio::time::timeout(Duration::from_secs(5), check).await;
    match result {
        Ok(Ok(())) => false,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            if in_ci() {
                panic!(
                    "PostgreSQL is required in CI but {} is unreachable: {why}",
                    postgres_url()
                );
            }
            eprintln!(
                "skipping PostgreSQL run: {} unreachable ({why})",
                postgres_url()
            );
            true
        }
    }
}

/// The Redis server the cache tests use.
pub fn redis_url() -> String {
    std::env::var("AGENTIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// `true` (and a message) when Redis cannot be reached outside CI; panics inside CI.
pub async fn redis_unavailable() -> bool {
    let check = async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    };
    let why = match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(())) => return false,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".into(),
    };
    if in_ci() {
        panic!(
            "Redis is required in CI but {} is unreachable: {why}",
            redis_url()
        );
    }
    eprintln!("skipping Redis run: {} unreachable ({why})", redis_url());
    true
}

/// Points `config`'s cache at the Redis at `url`, under a prefix no other test uses, with
/// timeouts that a busy test machine does not trip by accident.
pub fn use_redis(config: &mut Config, url: &str) {
    config.cache.redis_url = Some(url.to_owned());
    config.cache.redis_prefix = format!("agentic-test:{}:", uuid::Uuid::new_v4().simple());
    config.cache.redis_timeout_ms = 500;
    config.cache.redis_retry_ms = 200;
}

/// Runs `sql` on the test PostgreSQL server in a connection of its own (schemas and databases
/// made and dropped around the stories).
pub async fn run_on_postgres(sql: &str) {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&postgres_url())
        .await
        .expect("connect to PostgreSQL");
    conn.execute(sql).await.expect("run SQL on PostgreSQL");
    let _ = conn.close().await;
}
