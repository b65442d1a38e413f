//! The real binary's data directory: private to the host's user (0700, every file 0600), never
//! created by a command that only reads an installation, and never replaced by a fresh install
//! when its database was lost beside a surviving vault key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::{login_and_use, run_cli, start, BIN};

/// Every entry under `dir` (itself included) with its permission bits.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir).expect("stat");
    let mut out = vec![(
        dir.to_owned(),
        meta.permissions().mode() & 0o777,
        meta.is_dir(),
    )];
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            out.extend(modes(&entry.expect("entry").path()));
        }
    }
    out
}

/// Asserts directories 0700 and files 0600 under `dir`; returns the file names seen.
#[cfg(unix)]
#[track_caller]
fn assert_private(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for (path, mode, is_dir) in modes(dir) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}, not {want:o}", path.display());
        if !is_dir {
            files.push(
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    files
}

/// Runs `agentic ARGS` in `dir` for at most 30 s (a `serve` that wrongly starts is killed);
/// returns whether it exited successfully (`None`: it was still running) and its stderr.
fn run_briefly(dir: &Path, args: &[&str]) -> (Option<bool>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("AGENTIC_DATABASE_URL")
        .env_remove("AGENTIC_VAULT_KEY")
        .env("AGENTIC_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll") {
            break Some(status.success());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut err);
    }
    (status, err)
}

#[cfg(unix)]
#[tokio::test]
async fn every_file_the_host_creates_in_its_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = start(
        dir.path(),
        &[
            ("AGENTIC_ADMIN_EMAIL", "admin@test.example"),
            ("AGENTIC_ADMIN_PASSWORD", "an-admin-password-1"),
        ],
    );
    login_and_use(server.addr, "admin@test.example", "an-admin-password-1").await;
    // While it runs, with the database's -wal and -shm files open…
    let files = assert_private(&data);
    for name in [
        "agentic.db",
        "agentic.db-wal",
        "agentic.db-shm",
        "vault.key",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} in {files:?}");
    }
    server.stop();
    // …and after it stopped.
    assert_private(&data);

    // A data directory others could read (made by hand, or by an older version) is narrowed.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = start(dir.path(), &[]);
    server.stop();
    assert_private(&data);
}

#[test]
fn read_only_commands_refuse_a_data_dir_without_an_installation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands: [&[&str]; 5] = [
        &["vault", "status"],
        &["vault", "rotate"],
        &["admin", "list-users"],
        &["plugin", "list"],
        &["report", "performance"],
    ];
    for args in commands {
        let (ok, _, err) = run_cli(dir.path(), args);
        assert!(!ok, "{args:?} must refuse");
        assert!(
            err.contains("no database at") && err.contains("agentic.db"),
            "{args:?} names the missing database: {err}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created: {:?}",
        std::fs::read_dir(dir.path()).map(|d| d.count())
    );

    // An installation, then a mistyped data directory: refused, and nothing made there.
    start(dir.path(), &[]).stop();
    let wrong = dir.path().join("dta");
    let out = Command::new(BIN)
        .args(["vault", "status"])
        .current_dir(dir.path())
        .env("AGENTIC_DATA_DIR", &wrong)
        .env_remove("AGENTIC_DATABASE_URL")
        .env_remove("AGENTIC_VAULT_KEY")
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong data dir must be refused");
    assert!(
        err.contains(&wrong.join("agentic.db").display().to_string()),
        "{err}"
    );
    assert!(!wrong.exists(), "no new installation in the wrong place");
    let (ok, out, err) = run_cli(dir.path(), &["vault", "status"]);
    assert!(ok && out.starts_with("current key: age1"), "{err}");

    // A database without its vault key: refused too, naming the key, and no key is made.
    let key = dir.path().join("data/vault.key");
    std::fs::rename(&key, dir.path().join("vault.key.saved")).expect("move the key");
    let (ok, _, err) = run_cli(dir.path(), &["admin", "list-users"]);
    assert!(!ok && err.contains("no vault key at"), "{err}");
    assert!(!key.exists(), "no new vault key");
}

#[test]
fn a_command_that_sets_an_installation_up_says_so_and_where() {
    // An administrator trusting a key from the wrong directory: it works, into a new
    // installation the running host never reads, so the command says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "ed25519:RqBV2d8ylj2imtyqWyajvdZ/LdbrsHwWFuh6dQ0TU84=";
    let (ok, _, err) = run_cli(dir.path(), &["plugin", "trust", "Team", key]);
    assert!(ok, "{err}");
    let db = dir.path().join("data").join("agentic.db");
    assert!(
        err.contains("no installation at")
            && err.contains(&db.display().to_string())
            && err.contains("sets a new one up"),
        "names the database by its absolute path: {err}"
    );
    // In the installation it made, the next command has nothing to announce.
    let (ok, _, err) = run_cli(dir.path(), &["plugin", "untrust", "Team"]);
    assert!(ok, "{err}");
    assert!(!err.contains("no installation at"), "{err}");
}

#[test]
fn a_lost_database_beside_a_vault_key_is_not_a_fresh_install() {
    let dir = tempfile::tempdir().expect("tempdir");
    start(dir.path(), &[]).stop();
    let data = dir.path().join("data");
    let db = data.join("agentic.db");
    let key = std::fs::read(data.join("vault.key")).expect("key");
    // Truncated to 0 bytes (a bad copy, a full disk, a restore gone wrong).
    std::fs::write(&db, b"").expect("truncate");
    for side in ["agentic.db-wal", "agentic.db-shm"] {
        let _ = std::fs::remove_file(data.join(side));
    }
    for args in [&["serve"][..], &["migrate"], &["admin", "list-users"]] {
        let (ok, err) = run_briefly(dir.path(), args);
        assert_eq!(ok, Some(false), "{args:?} must refuse to run: {err}");
        assert!(
            err.contains("is empty (0 bytes)") && err.contains("was lost"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::metadata(&db).expect("db").len(),
        0,
        "left as it was"
    );
    // Gone altogether: the same.
    std::fs::remove_file(&db).expect("remove");
    let (ok, err) = run_briefly(dir.path(), &["serve"]);
    assert_eq!(ok, Some(false), "{err}");
    assert!(
        err.contains("is missing") && err.contains("was lost"),
        "{err}"
    );
    assert!(!db.exists(), "no new database");
    assert_eq!(
        std::fs::read(data.join("vault.key")).expect("key"),
        key,
        "the vault key is untouched"
    );
}
