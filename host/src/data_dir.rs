//! The data directory: private to the host's user, and never silently replaced.
//!
//! Everything the host keeps locally — the SQLite database with its `-wal` and `-shm` files, the
//! vault key, JWT signing keys, document blobs, the upload spool, the compiled-plugin cache —
//! is for the host's user alone. The `agentic` binary sets a umask of `077` before it does
//! anything ([`restrict_new_files`]), so every file any part of it (or SQLite) creates is 0600
//! and every directory 0700, whichever module creates it; the data directory itself is created
//! 0700, and an existing one readable by others is narrowed to 0700 at start.
//!
//! A data directory is also evidence of an installation. Commands that only inspect or change
//! an existing installation refuse to run where there is none ([`require_installation`]): a
//! mistyped `--data-dir` must not produce a fresh database and vault key. And a database that
//! is missing or empty beside an existing vault key was lost, not never created: the host
//! refuses to start rather than begin a fresh install over it ([`refuse_lost_database`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::vault::KeySource;

/// Makes every file and directory this process creates from now on private (umask `077`:
/// files 0600, directories 0700). Called first thing by the binary; the library leaves the
/// umask of an embedding process alone.
pub fn restrict_new_files() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Creates the data directory (and its parents) 0700, or narrows an existing one to 0700.
pub fn create(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading data directory {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making data directory {} private", dir.display()))?;
            tracing::warn!(
                dir = %dir.display(),
                was = format!("{:o}", mode & 0o777),
                "the data directory was readable by others; narrowed it to 0700"
            );
        }
    }
    Ok(())
}

/// The SQLite database file in force, if the database is a SQLite file.
pub fn sqlite_file(config: &Config) -> Option<PathBuf> {
    let url = config.database_url();
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// The vault key file, when the key comes from a file (not `AGENTIC_VAULT_KEY`).
fn vault_key_file(config: &Config) -> Option<PathBuf> {
    match config.vault_key_source() {
        KeySource::File(path) => Some(path),
        KeySource::Env(_) => None,
    }
}

/// Whether `path` is missing or holds no bytes.
fn missing_or_empty(path: &Path) -> bool {
    std::fs::metadata(path).map_or(true, |m| m.len() == 0)
}

/// Refuses to go on when the SQLite database is missing or empty (0 bytes) while the vault key
/// beside it exists: the installation's database was lost (deleted, truncated, a bad restore),
/// and starting would create a fresh installation over the surviving key.
pub fn refuse_lost_database(config: &Config) -> anyhow::Result<()> {
    let (Some(db), Some(key)) = (sqlite_file(config), vault_key_file(config)) else {
        return Ok(());
    };
    if missing_or_empty(&db) && key.exists() {
        let state = if db.exists() {
            "is empty (0 bytes)"
        } else {
            "is missing"
        };
        anyhow::bail!(
            "the database {} {state} but the vault key {} exists: this installation's database \
             was lost. Restore it from a backup (docs/DISASTER-RECOVERY.md) — nothing was changed. To start a \
             new installation here on purpose, move the vault key away first.",
            db.display(),
            key.display()
        );
    }
    Ok(())
}

/// For commands that read or change an existing installation (`vault status`, `admin
/// list-users`, …): refuses, naming the missing path, when the SQLite database — or, with
/// `vault_key`, for commands that open the vault, the vault key file — does not exist, instead
/// of creating them. Only `serve`, `worker`, `migrate` and the commands that set an
/// installation up create state.
pub fn require_installation(config: &Config, vault_key: bool) -> anyhow::Result<()> {
    refuse_lost_database(config)?;
    let missing = |what: &str, path: &Path| {
        anyhow::anyhow!(
            "no {what} at {}: is the data directory right (`data_dir`, AGENTIC_DATA_DIR; now {})? \
             This command does not create an installation; `agentic serve` does.",
            path.display(),
            config.data_dir.display()
        )
    };
    if let Some(db) = sqlite_file(config) {
        if missing_or_empty(&db) {
            return Err(missing("database", &db));
        }
    }
    if let Some(key) = vault_key_file(config).filter(|_| vault_key) {
        if !key.exists() {
            return Err(missing("vault key", &key));
        }
    }
    Ok(())
}

/// For commands that may set an installation up besides using one (`plugin trust|install|…`,
/// `admin create-user`): when the SQLite database is not there yet, says on standard error that
/// this command makes a new installation, and where. Pointed at the wrong data directory, such a
/// command otherwise succeeds into a fresh `./data` that the running host never reads.
pub fn note_new_installation(config: &Config) {
    let Some(db) = sqlite_file(config).filter(|db| missing_or_empty(db)) else {
        return;
    };
    // Absolute: the relative default (`./data`) says nothing about which directory it was.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    eprintln!(
        "note: no installation at {} yet: this command sets a new one up there. To change a \
         running host's, use its configuration (`data_dir`, AGENTIC_DATA_DIR; now {}).",
        absolute(&db).display(),
        absolute(&config.data_dir).display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_found_in_every_url_form() {
        let mut config = Config {
            data_dir: PathBuf::from("/srv/agentic"),
            ..Config::default()
        };
        assert_eq!(
            sqlite_file(&config),
            Some(PathBuf::from("/srv/agentic/agentic.db"))
        );
        config.database_url = Some("sqlite:///tmp/x.db?mode=rwc".into());
        assert_eq!(sqlite_file(&config), Some(PathBuf::from("/tmp/x.db")));
        config.database_url = Some("sqlite:rel.db".into());
        assert_eq!(sqlite_file(&config), Some(PathBuf::from("rel.db")));
        config.database_url = Some("sqlite::memory:".into());
        assert_eq!(sqlite_file(&config), None);
        config.database_url = Some("postgres://db/agentic".into());
        assert_eq!(sqlite_file(&config), None);
    }
}
