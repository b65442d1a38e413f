//! A real Git server for the Git connector's stories: Debian's `git http-backend` (the CGI
//! program every smart-HTTP Git server setup starts from) behind a small CGI adapter on axum,
//! serving bare repositories the tests create with the `git` CLI in a temporary directory.
//!
//! The adapter passes what a web server passes a CGI program (`PATH_INFO`, `QUERY_STRING`,
//! `REQUEST_METHOD`, `CONTENT_TYPE`, the body on stdin) and, when [`GitServer::set_v2`] is on,
//! the `Git-Protocol` request header as `GIT_PROTOCOL`, which is how a server offers protocol
//! version 2; off, clients get version 0 as from a server that does not pass it. It can also ask
//! for HTTP Basic or bearer authentication, and tamper with answers to test bad input
//! ([`Tamper`]).
//!
//! [`GitServer::set_v2`]: crate::git_server::GitServer::set_v2
//! [`Tamper`]: crate::git_server::Tamper

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

/// The CGI program.
pub const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// What the server does to its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Nothing: the backend's answers as they are.
    None,
    /// `info/refs` answers an HTML login page (a proxy or SSO in front of the server).
    HtmlLogin,
    /// Fetch answers start with a pkt-line whose length is not hexadecimal.
    MalformedPktLine,
    /// Fetch answers are cut in the middle of the pack.
    TruncatedPack,
    /// A byte in the middle of the fetched pack is flipped (side-band framing intact).
    CorruptPack,
}

/// Who may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Anonymous,
    /// HTTP Basic with this user and password.
    Basic(String, String),
    /// `Authorization: Bearer` with this token.
    Bearer(String),
}

#[derive(Debug)]
struct Settings {
    v2: bool,
    tamper: Tamper,
    auth: Auth,
    /// Every exchange, in order.
    log: Vec<Exchange>,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `path?query`.
    pub asked: String,
    /// `have` lines in the request (a fetch that says what the client has).
    pub haves: usize,
    /// `deepen` in the request (a snapshot fetch).
    pub deepen: bool,
    /// Objects in the pack sent (from the pack header), for fetches.
    pub objects: Option<u32>,
    /// Response body bytes.
    pub bytes: usize,
}

/// A running server; stops with the test's runtime. Its repositories live in a temporary
/// directory removed on drop.
#[derive(Debug, Clone)]
pub struct GitServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    root: Arc<tempfile::TempDir>,
    settings: Arc<Mutex<Settings>>,
}

impl GitServer {
    /// Starts a server with no repositories, protocol v2 on, anonymous reads.
    pub async fn start() -> Self {
        let root = Arc::new(tempfile::tempdir().expect("temp dir"));
        let settings = Arc::new(Mutex::new(Settings {
            v2: true,
            tamper: Tamper::None,
            auth: Auth::Anonymous,
            log: Vec::new(),
        }));
        let state = (root.path().to_path_buf(), settings.clone());
        let app = Router::new().fallback(cgi).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            root,
            settings,
        }
    }

    /// Whether `Git-Protocol` reaches the backend (protocol v2) or not (v0).
    pub fn set_v2(&self, on: bool) {
        self.settings.lock().expect("settings").v2 = on;
    }

    /// How answers are tampered with from now on.
    pub fn set_tamper(&self, tamper: Tamper) {
        self.settings.lock().expect("settings").tamper = tamper;
    }

    /// Who may read from now on.
    pub fn set_auth(&self, auth: Auth) {
        self.settings.lock().expect("settings").auth = auth;
    }

    /// The exchanges so far, and forgets them.
    pub fn take_log(&self) -> Vec<Exchange> {
        std::mem::take(&mut self.settings.lock().expect("settings").log)
    }

    /// A new bare repository `name` (`name.git` under the root) and a work tree to commit in.
    pub fn repo(&self, name: &str) -> Repo {
        let bare = self.root.path().join(format!("{name}.git"));
        let work = self.root.path().join(format!("{name}-work"));
        git(
            self.root.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                "main",
                bare.to_str().expect("utf-8"),
            ],
        );
        git(
            self.root.path(),
            &[
                "init",
                "--quiet",
                "-b",
                "main",
                work.to_str().expect("utf-8"),
            ],
        );
        git(
            &work,
            &["remote", "add", "origin", bare.to_str().expect("utf-8")],
        );
        Repo {
            url: format!("{}/{name}.git/", self.url),
            bare,
            work,
            clock: 1_700_000_000,
        }
    }
}

/// A repository of the server and its work tree.
#[derive(Debug)]
pub struct Repo {
    /// The repository URL (the connection's base URL).
    pub url: String,
    /// The bare repository the server serves.
    pub bare: PathBuf,
    /// The work tree commits are made in and pushed from.
    pub work: PathBuf,
    clock: i64,
}

impl Repo {
    /// Runs `git` in the work tree and returns its stdout.
    pub fn git(&self, args: &[&str]) -> Vec<u8> {
        git(&self.work, args)
    }

    /// Runs `git` in the bare repository (what the server has) and returns its stdout.
    pub fn bare_git(&self, args: &[&str]) -> Vec<u8> {
        git(&self.bare, args)
    }

    /// Writes `content` to `path` (bytes: non-UTF-8 names allowed) in the work tree.
    pub fn write(&self, path: &[u8], content: &[u8]) {
        use std::os::unix::ffi::OsStrExt;
        let full = self.work.join(std::ffi::OsStr::from_bytes(path));
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    /// Commits everything in the work tree as `author` (`Name <email>`) with `message` (bytes:
    /// non-UTF-8 allowed), one minute after the previous commit; returns the commit id.
    pub fn commit(&mut self, author: &str, message: &[u8]) -> String {
        self.clock += 60;
        let (name, email) = author.split_once(" <").expect("Name <email>");
        let email = email.trim_end_matches('>');
        let msg = self.work.join(".git/MSG");
        std::fs::write(&msg, message).expect("message");
        let date = format!("{} +0200", self.clock);
        let out = Command::new("git")
            .current_dir(&self.work)
            .args([
                "-c",
                "i18n.commitEncoding=UTF-8",
                "commit",
                "--quiet",
                "--allow-empty",
                "-a",
                "--cleanup=verbatim",
                "-F",
            ])
            .arg(&msg)
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_NAME", "Commit Bot")
            .env("GIT_COMMITTER_EMAIL", "bot@example.com")
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git commit");
        assert!(
            out.status.success(),
            "git commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    /// Adds every file, then commits (see [`Repo::commit`]).
    pub fn commit_all(&mut self, author: &str, message: &[u8]) -> String {
        self.git(&["add", "-A"]);
        self.commit(author, message)
    }

    /// The work tree's `HEAD` commit.
    pub fn head(&self) -> String {
        String::from_utf8(self.git(&["rev-parse", "HEAD"]))
            .expect("id")
            .trim()
            .to_owned()
    }

    /// Pushes every branch and tag (forced).
    pub fn push(&self) {
        self.git(&["push", "--quiet", "--force", "--all", "origin"]);
        self.git(&["push", "--quiet", "--force", "--tags", "origin"]);
    }
}

/// Runs `git args` in `dir`, panicking with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Merges and annotated tags: the bot, at a fixed time.
        .env("GIT_AUTHOR_NAME", "Commit Bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.com")
        .env("GIT_AUTHOR_DATE", "1700050000 +0000")
        .env("GIT_COMMITTER_NAME", "Commit Bot")
        .env("GIT_COMMITTER_EMAIL", "bot@example.com")
        .env("GIT_COMMITTER_DATE", "1700050000 +0000")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

type AppState = (PathBuf, Arc<Mutex<Settings>>);

const HTML_LOGIN: &str = "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form method=post action=/login><input name=user><input type=password name=password></form></body></html>";

async fn cgi(
    State((root, settings)): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (v2, tamper, auth) = {
        let s = settings.lock().expect("settings");
        (s.v2, s.tamper, s.auth.clone())
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let allowed = match &auth {
        Auth::Anonymous => true,
        Auth::Basic(user, password) => {
            use base64::Engine;
            given
                == format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
        }
        Auth::Bearer(token) => given == format!("Bearer {token}"),
    };
    if !allowed {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::from("authentication required"))
            .expect("response");
    }
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    if tamper == Tamper::HtmlLogin && path.ends_with("/info/refs") {
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/html; charset=utf-8")
            .body(Body::from(HTML_LOGIN))
            .expect("response");
    }
    let is_fetch = path.ends_with("/git-upload-pack")
        && (body.windows(13).any(|w| w == b"command=fetch") || body.get(4..8) == Some(b"want"));
    let haves = body.windows(5).filter(|w| w == b"have ").count();
    let deepen = body.windows(7).any(|w| w == b"deepen ");
    let protocol = headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .filter(|_| v2)
        .map(str::to_owned);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(HTTP_BACKEND);
        cmd.env_clear()
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("PATH_INFO", &path)
            .env("QUERY_STRING", &query)
            .env("REQUEST_METHOD", method.as_str())
            .env("CONTENT_TYPE", &content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = &protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        let mut child = cmd.spawn().expect("git http-backend starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().expect("git http-backend runs");
        let _ = writer.join();
        (format!("{path}?{query}"), out.stdout)
    })
    .await
    .expect("cgi");
    let (asked, stdout) = output;
    let split = stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .expect("CGI headers");
    let (head, mut body) = (&stdout[..split.0], stdout[split.0 + split.1..].to_vec());
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    if is_fetch {
        match tamper {
            Tamper::MalformedPktLine if body.len() >= 4 => body[..4].copy_from_slice(b"zz0x"),
            Tamper::TruncatedPack => body.truncate(body.len() / 2),
            Tamper::CorruptPack => {
                if let Some(at) = body.windows(4).position(|w| w == b"PACK") {
                    let i = at + (body.len() - at) / 2;
                    body[i] ^= 0x55;
                }
            }
            _ => {}
        }
    }
    let objects = body
        .windows(4)
        .position(|w| w == b"PACK")
        .and_then(|at| body.get(at + 8..at + 12))
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]));
    settings.lock().expect("settings").log.push(Exchange {
        asked,
        haves,
        deepen,
        objects,
        bytes: body.len(),
    });
    response
        .status(status)
        .body(Body::from(body))
        .expect("response")
}
