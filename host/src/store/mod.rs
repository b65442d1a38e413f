//! The SQL store.
//!
//! One [`Store`] talks to SQLite (the embedded default) or PostgreSQL (scale-out), chosen from the
//! URL scheme. Queries are written once in the SQL both dialects share (`$1` placeholders,
//! `RETURNING`, `LIMIT`) and run through a sqlx `Any` pool; where the dialects differ, the
//! statement is chosen by [`Backend`]. Each backend has its own migrations under `migrations/`.
//! This keeps one implementation of every query instead of two copies that drift apart; the cost
//! is that `Any` carries only integers and text, so timestamps are epoch milliseconds.
//!
//! Driver errors are mapped to [`StoreError`] here, at the boundary: a missing row is
//! [`StoreError::NotFound`], a unique violation [`StoreError::Duplicate`], and a database that
//! cannot be reached or cannot take the statement now (connection refused or lost, pool
//! exhausted, server shutting down, SQLite busy, I/O error or full disk) is
//! [`StoreError::Unavailable`], which the API answers with 503 and `Retry-After`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::cache::Cache;

mod error;
pub use error::{Result, StoreError};

/// The runs of component agents, their health and their event stream.
pub mod agent_runs;
/// Agents: lifecycle, runtime tokens, heartbeats and metrics.
pub mod agents;
/// Aggregates for the analytics reports, and the API usage counters.
pub mod analytics;
/// Audit log entries.
pub mod audit;
/// Backups: a consistent snapshot of every table, and the writes of a restore.
pub mod backup;
/// The log of backup attempts, for the admin API and `/metrics`.
pub mod backup_runs;
/// Bytes kept in the database, in chunks (the default blob store).
pub mod blobs;
/// Connections: a project's configured use of a plugin.
pub mod connections;
/// Documents and their versions.
pub mod documents;
/// Whether the database can write now (readiness), and the last write that found it full.
pub mod health;
/// The cache's invalidation bus through the database (processes sharing it without Redis).
pub mod invalidations;
/// Fencing of a running job's writes by its lease, and the history of its attempts.
pub mod job_attempts;
/// The job queue.
pub mod jobs;
/// Service-account API keys.
pub mod keys;
/// OAuth authorization code flows in progress.
pub mod oauth;
/// Single sign-on: linked identities, sign-ins in progress, hand-offs, SSO sessions.
pub mod oidc;
/// The plugin registry: publishers, installed versions, per-project enablement.
pub mod plugins;
// What one synced page writes: its records, the records gone at the source, the stream's state.
mod page_contents;
// The write of one synced page: records in bulk, documents, the stream's state.
mod page_write;
/// Projects and their members.
pub mod projects;
/// Synced records (the internal models) and where each stream's sync got to.
pub mod records;
/// People and groups provisioned over SCIM 2.0, and group membership.
pub mod scim;
/// Login sessions and refresh tokens.
pub mod sessions;
// Documents synced from connections, mirrored into the documents store.
mod synced_documents;
/// Users (people and service accounts).
pub mod users;
/// Web-automation tasks and their runs.
pub mod web_tasks;

/// Which database server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Reads a text column holding one of a closed set of names ([`crate::names`]): the store's
/// one conversion between the stored text and the enum, the same on both databases.
pub(crate) fn decode_name<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<T>
where
    T: FromStr<Err = crate::names::UnknownName>,
{
    use sqlx::Row;
    let name: String = row.try_get(column)?;
    Ok(name.parse()?)
}

/// Like [`decode_name`], for a nullable column.
pub(crate) fn decode_optional_name<T>(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<T>>
where
    T: FromStr<Err = crate::names::UnknownName>,
{
    use sqlx::Row;
    let name: Option<String> = row.try_get(column)?;
    Ok(name.map(|n| n.parse()).transpose()?)
}

/// How long a request waits for a PostgreSQL connection before it is answered 503: short, so a
/// database that is down is reported at once instead of after the pool's patience. SQLite
/// keeps a longer wait: its connections are local and a wait there is contention, not an
/// outage (writers queue for the single write lock).
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening the database may take at start before the host gives up, naming why.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to the application database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// The queue's claims. On PostgreSQL a small pool of its own whose sessions commit without
    /// waiting for the WAL flush (see [`Store::claim_jobs`]); on SQLite the main pool.
    queue: AnyPool,
    /// Where jobs' outcomes are written: `durable`, or with `jobs.durable_outcomes = false` the
    /// queue's pool (an outcome lost in a database crash means the job runs again).
    outcomes: AnyPool,
    /// On PostgreSQL a small pool whose sessions wait for the WAL flush at every commit
    /// (`synchronous_commit = on`, whatever the server's default); on SQLite the main pool.
    durable: AnyPool,
    backend: Backend,
    /// Read-through cache of the hot lookups (projects, memberships, plugin versions and
    /// enablement); every write of those objects invalidates it after committing.
    cache: Cache,
    /// The last write that found the database full (readiness, see [`health`]).
    health: std::sync::Arc<health::WriteHealth>,
}

/// Every SQLite connection's settings: WAL lets readers run beside the writer; busy_timeout
/// queues writers for the write lock (every write transaction takes it first, see
/// [`Store::begin_on`]) instead of failing them; foreign keys are off by default in SQLite.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; \
    PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;";

/// Opens one connection the way the pool will and reads from it, so a database that cannot be
/// opened fails the start with its own cause (refused, unknown host, not a database file, …):
/// the pool retries such failures silently until it reports only "pool timed out".
async fn probe(options: &AnyConnectOptions, backend: Backend, url: &str) -> Result<()> {
    use sqlx::Connection as _;
    let open = async {
        let mut conn = options.connect().await?;
        if backend == Backend::Sqlite {
            conn.execute(SQLITE_PRAGMAS).await?;
        }
        // Reads the schema: a file that is not a database fails here, not at the first request.
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        if backend == Backend::Sqlite {
            sqlx::query("SELECT COUNT(*) FROM sqlite_master")
                .execute(&mut conn)
                .await?;
        }
        conn.close().await
    };
    match tokio::time::timeout(OPEN_TIMEOUT, open).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{} did not answer within {} s",
            crate::telemetry::redact_url(url),
            OPEN_TIMEOUT.as_secs()
        ))),
    }
}

/// Whether a connection given back to the pool may serve again: only outside a transaction.
///
/// A transaction dropped without commit queues a `ROLLBACK`. When that rollback fails, the
/// connection comes back still "in a transaction": after `SQLITE_FULL` (or an I/O error)
/// SQLite may already have rolled the transaction back by itself, so the `ROLLBACK` finds none
/// and fails, and the driver still counts one open transaction; every later `BEGIN` on that
/// connection is refused, and where SQLite kept the transaction, its write lock blocks every
/// other writer (`database is locked`) until a restart. Such a connection is closed instead of
/// reused: closing ends whatever SQLite still holds, and the pool opens a fresh one.
///
/// On SQLite the queued rollback runs on the connection's worker thread; the ping waits for it
/// (commands run in order) before the transaction count is read.
async fn release_clean(conn: &mut sqlx::AnyConnection, backend: Backend) -> sqlx::Result<bool> {
    use sqlx::Connection as _;
    if backend == Backend::Sqlite {
        conn.ping().await?;
    }
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left in a transaction (its rollback failed)");
        return Ok(false);
    }
    Ok(true)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The newest migration this version knows for `backend`.
pub(crate) fn latest_schema_version(backend: Backend) -> i64 {
    let all = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    all.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`), creating a SQLite file if needed.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(crate::telemetry::redact_url(
                url,
            )));
        };
        let options = AnyConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        probe(&options, backend, url).await?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; a handful of connections serve readers without contention.
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(match backend {
                Backend::Sqlite => SQLITE_ACQUIRE_TIMEOUT,
                Backend::Postgres => POSTGRES_ACQUIRE_TIMEOUT,
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .after_release(move |conn, _meta| Box::pin(release_clean(conn, backend)))
            .connect_with(options.clone())
            .await?;
        let queue = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(4)
                .min_connections(0)
                .idle_timeout(Duration::from_secs(60))
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // Commits do not wait for the WAL flush (see `Store::claim_jobs`), and the
                        // claim always walks `jobs_queued` in order instead of sorting every
                        // queued job: the planner picks the sort when a freshly filled queue has
                        // no statistics yet, and these sessions run nothing else that needs
                        // bitmap scans or sorts.
                        conn.execute(
                            "SET synchronous_commit = off; SET enable_bitmapscan = off; \
                             SET enable_sort = off",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone()),
        };
        let durable = match backend {
            Backend::Sqlite => pool.clone(),
            // Said explicitly, so that no server default or connection option (the tests turn
            // it off for speed) can make outcomes quietly non-durable.
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(2)
                .min_connections(0)
                .idle_timeout(Duration::from_secs(60))
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("SET synchronous_commit = on").await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options),
        };
        Ok(Self {
            outcomes: durable.clone(),
            durable,
            pool,
            queue,
            backend,
            cache: Cache::disabled(),
            health: Default::default(),
        })
    }

    /// This store writing jobs' outcomes durably (the default) or not (`jobs.durable_outcomes`):
    /// not waiting for the WAL flush saves a disk flush per outcome batch, and an outcome lost
    /// in a database crash means its job runs again, repeating its side effects.
    pub fn with_durable_outcomes(mut self, durable: bool) -> Self {
        self.outcomes = if durable {
            self.durable.clone()
        } else {
            self.queue.clone()
        };
        self
    }

    /// This store, reading through `cache` (a fresh store caches nothing).
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = cache;
        self
    }

    /// The cache the store reads through.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        self.run_migrations(migrator).await
    }

    /// Runs `migrator` on one connection; on SQLite with foreign keys off for the run.
    ///
    /// SQLite changes a table's constraints only by rebuilding it (a new table, the rows
    /// copied, the old one dropped, the new one renamed), and dropping a table others reference
    /// while foreign keys are on deletes its rows first, firing their `ON DELETE` actions: the
    /// children's rows would be deleted or lose their reference. SQLite's documented procedure
    /// turns foreign keys off around the rebuild, which only works outside a transaction, and
    /// sqlx runs each SQLite migration inside one: so they are off on the connection that runs
    /// them all. A migration that rebuilds a table checks `pragma_foreign_key_check` itself
    /// before its transaction commits (0024).
    async fn run_migrations(&self, migrator: &sqlx::migrate::Migrator) -> Result<()> {
        use sqlx::Executor as _;
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            migrator.run(&mut *conn).await?;
            return Ok(());
        }
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let ran = migrator.run(&mut *conn).await;
        let on = conn.execute("PRAGMA foreign_keys = ON").await;
        if on.is_err() {
            // Never back into the pool without its foreign keys.
            conn.close_on_drop();
        }
        ran?;
        on?;
        Ok(())
    }

    /// Applies the migrations of this backend up to `version` only: a restore brings an empty
    /// database to the schema of the backup it restores, loads it, then applies the rest with
    /// [`Store::migrate`], so a backup made by an earlier version is upgraded as that version's
    /// database would have been.
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        let all = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // sqlx builds a `Migrator` only from a directory at run time; ours are embedded, so the
        // subset is made from its (public, doc-hidden) fields. Pinned by Cargo.lock: an sqlx
        // upgrade that changes them fails to compile here.
        let subset = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(
                all.iter()
                    .filter(|m| m.version <= version)
                    .cloned()
                    .collect(),
            ),
            ignore_missing: false,
            locking: all.locking,
            no_tx: all.no_tx,
        };
        self.run_migrations(&subset).await
    }

    /// The newest migration this version knows.
    pub fn latest_schema_version(&self) -> i64 {
        latest_schema_version(self.backend)
    }

    /// The highest migration applied to the database (0: never migrated).
    pub async fn schema_version(&self) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        backup::schema_version(&mut conn).await
    }

    /// Round-trips a trivial query (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Removes what writes to `table` freed from the live database files, so that deleted or
    /// replaced rows (secrets' old ciphertexts) cannot be read back from them:
    /// - SQLite zeroes freed space as it writes (`secure_delete`, set on every connection);
    ///   the WAL still holds the old page images until a checkpoint, so it is checkpointed and
    ///   truncated, and with `rebuild` the whole file is rewritten (`VACUUM`), which also clears
    ///   pages freed before `secure_delete` was on;
    /// - PostgreSQL keeps dead row versions in the table's pages until they are reused, so the
    ///   table is rewritten (`VACUUM FULL`, a short exclusive lock: use it on small tables).
    ///
    /// Best effort against readers that hold the old pages: a checkpoint that cannot finish now
    /// is reported, and the next one completes it.
    pub async fn scrub(&self, table: &'static str, rebuild: bool) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                if rebuild {
                    sqlx::query("VACUUM").execute(&self.pool).await?;
                }
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&self.pool)
                        .await?;
                if busy != 0 {
                    tracing::warn!(table, "the WAL could not be truncated yet: readers hold it");
                }
            }
            Backend::Postgres => {
                sqlx::query(&format!("VACUUM FULL {table}"))
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Begins a write transaction on the main pool (see [`Store::begin_on`]).
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.begin_on(&self.pool).await
    }

    /// Begins a write transaction on `pool`. On SQLite it is `BEGIN IMMEDIATE`: it takes the
    /// write lock at once, waiting for it under `busy_timeout`. A deferred transaction that
    /// reads first and writes later has to upgrade its lock, and when another writer committed
    /// in between SQLite refuses the upgrade with `SQLITE_BUSY` at once (the busy handler cannot
    /// help a transaction whose snapshot is stale): under concurrent writes that is a 500
    /// `database is locked`. Every write transaction of the store starts here.
    pub(crate) async fn begin_on(
        &self,
        pool: &AnyPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for modules that own their own queries (tests, future capabilities).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.queue.close().await;
        self.durable.close().await;
        self.pool.close().await;
    }
}

/// A page of rows and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Rows of this page, in ascending id order.
    pub items: Vec<T>,
    /// Id after which the next page starts; `None` on the last page.
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says that more exist.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_after = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id)
        } else {
            None
        };
        Self {
            items: rows,
            next_after,
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
