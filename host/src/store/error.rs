//! The storage layer's one error type, and how a driver's error becomes one (which becomes
//! which: the module doc of [`super`]).

use super::health;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken: a row with the same key exists. Callers that know
    /// what the key means (an e-mail, a name in a project) say so to their users.
    #[error("duplicate: {constraint}")]
    Duplicate {
        /// The constraint or index the driver named (`unique constraint` when it names none).
        constraint: String,
    },
    /// The row changed since the caller read it: a conditional write matched nothing. Read it
    /// again and retry.
    #[error("stale: {0}")]
    Stale(&'static str),
    /// The e-mail address belongs to another account already.
    #[error("email is already in use")]
    EmailTaken,
    /// The change would leave the installation without an active administrator.
    #[error("this is the last active administrator; promote another user first")]
    LastAdministrator,
    /// The change breaks another rule of the domain (a plugin version that is not newer, a
    /// SCIM name taken); the message says which, for the person who asked.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The URL names no supported database.
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The database cannot be reached or cannot serve now; trying again later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else from the driver: constraint failures, corrupt files, bugs.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A job's write was refused because the attempt no longer holds its lease (it expired
    /// and the job was reclaimed, or finished by another attempt): the attempt must stop.
    #[error("the job's lease was lost: another attempt owns the job now")]
    LeaseLost,
    /// Migrations failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate {
                constraint: db.constraint().unwrap_or("unique constraint").to_owned(),
            },
            _ if full(&e) => StoreError::Unavailable(format!("{}: {e}", health::FULL)),
            _ if unavailable(&e) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Database(e),
        }
    }
}

/// A stored name that is not one of its set's is undecodable data, kept as the cause.
impl From<crate::names::UnknownName> for StoreError {
    fn from(e: crate::names::UnknownName) -> Self {
        StoreError::Database(sqlx::Error::Decode(Box::new(e)))
    }
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether `e` says the database or its disk is full: SQLite's `SQLITE_FULL` (13, also what
/// `PRAGMA max_page_count` gives), PostgreSQL's `disk_full` (53100).
fn full(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        code.parse::<i64>().is_ok_and(|c| c & 0xff == 13)
    } else {
        code == "53100"
    }
}

/// Whether `e` says the database cannot serve now (rather than that the statement is wrong).
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // Connection exceptions, too many connections, shutting down / starting up.
                code.starts_with("08") || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03")
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes (the low byte of extended ones): BUSY, LOCKED, IOERR,
                // FULL, CANTOPEN.
                let code = code.parse::<i64>().unwrap_or(0);
                matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
            } else {
                false
            }
        }
        _ => false,
    }
}
