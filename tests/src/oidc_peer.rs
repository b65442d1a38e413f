//! A real OpenID Connect provider for the SSO stories — the OpenID-certified npm package
//! `oidc-provider`, run by `tests/peers/oidc/provider.mjs` with the clients and people a story
//! gives it — and a browser without a browser: [`Browser`] follows redirects, keeps cookies
//! (RFC 6265, through the host's own jar) and submits the provider's login and consent forms.
//!
//! The peer's packages come from its lockfile: `npm ci` runs once when `node_modules` is missing.
//! Without node the stories are skipped with a message — except under `CI=true`, where they fail.
//!
//! [`Browser`]: crate::oidc_peer::Browser

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use agentic_host::cookie_jar::Jar;
use serde_json::{json, Value};

/// The peer's directory.
fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/oidc")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Installs the peer's packages from its lockfile once per test process.
fn install() -> Result<(), String> {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *done || peer_dir().join("node_modules/oidc-provider").is_dir() {
        *done = true;
        return Ok(());
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(peer_dir())
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    if !status.success() {
        return Err(format!("npm ci failed: {status}"));
    }
    *done = true;
    Ok(())
}

/// A running `oidc-provider`; stopped when dropped.
#[derive(Debug)]
pub struct OidcPeer {
    child: Child,
    /// Its issuer (and base URL), `http://127.0.0.1:<port>`.
    pub issuer: String,
    http: reqwest::Client,
}

impl OidcPeer {
    /// Starts a provider with `clients` (oidc-provider client metadata) and `users` (login →
    /// claims). `None` (with a message) when node is missing outside CI; panics inside CI.
    pub async fn start(clients: Value, users: Value) -> Option<Self> {
        let node = Command::new("node").arg("--version").output();
        if node.as_ref().map_or(true, |o| !o.status.success()) {
            if in_ci() {
                panic!("node is required in CI for the OpenID Connect stories: {node:?}");
            }
            eprintln!("skipping OpenID Connect story: node is not installed");
            return None;
        }
        let config = json!({"clients": clients, "users": users}).to_string();
        let started = tokio::task::spawn_blocking(move || -> Result<(Child, String), String> {
            install()?;
            let mut child = Command::new("node")
                .arg("provider.mjs")
                .current_dir(peer_dir())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                // `AGENTIC_TEST_PEER_LOG=1` shows the provider's notices and errors.
                .stderr(if std::env::var_os("AGENTIC_TEST_PEER_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .spawn()
                .map_err(|e| format!("node: {e}"))?;
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            stdin
                .write_all(config.as_bytes())
                .map_err(|e| e.to_string())?;
            drop(stdin);
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            stdout.read_line(&mut line).map_err(|e| e.to_string())?;
            // Keep reading what the provider prints later (its notices), so that it never
            // writes into a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            let issuer = line
                .strip_prefix("listening ")
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| format!("the provider did not start: {line:?}"))?;
            Ok((child, issuer))
        });
        let (child, issuer) = tokio::time::timeout(Duration::from_secs(120), started)
            .await
            .expect("the OpenID provider did not start within 120 s")
            .expect("join")
            .unwrap_or_else(|e| panic!("starting the OpenID provider: {e}"));
        Some(Self {
            child,
            issuer,
            http: reqwest::Client::new(),
        })
    }

    async fn control(&self, what: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}/__test/{what}", self.issuer))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("peer control");
        assert_eq!(r.status().as_u16(), 204, "peer control {what}");
    }

    /// Adds a person or changes their claims (groups, e-mail, …).
    pub async fn set_user(&self, login: &str, claims: Value) {
        self.control("users", json!({"login": login, "claims": claims}))
            .await;
    }

    /// Rewrites the ID token of the next token response: `claims` merged in, `drop` removed,
    /// `alg` `none` or `HS256` (with the client secret) instead of the provider's RS256 key.
    pub async fn tamper(&self, wish: Value) {
        self.control("tamper", wish).await;
    }

    /// How the peer's fake Microsoft Graph answers from now on (`{"fail": …, "page_size": n}`,
    /// see `provider.mjs`); its request log starts afresh.
    pub async fn graph(&self, mode: Value) {
        self.control("graph", mode).await;
    }

    /// What the fake Microsoft Graph served since [`OidcPeer::graph`]: `{"calls": n, "tokens":
    /// [the access tokens it accepted]}`.
    pub async fn graph_log(&self) -> Value {
        let r = self
            .http
            .post(format!("{}/__test/graph-log", self.issuer))
            .send()
            .await
            .expect("peer control");
        assert_eq!(r.status().as_u16(), 200, "peer control graph-log");
        serde_json::from_str(&r.text().await.expect("graph-log body")).expect("graph-log JSON")
    }

    /// The provider signs with a new key from now on.
    pub async fn rotate_key(&self) {
        self.control("rotate", json!({})).await;
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a browser's journey ended.
#[derive(Debug)]
pub enum Landing {
    /// Redirected to a URL starting with the `stop_at` prefix (not followed).
    Redirected(url::Url),
    /// A response that is neither a redirect nor a form to submit.
    Page {
        /// Status.
        status: u16,
        /// Body as JSON (`Null` if not JSON).
        json: Value,
        /// Body as text.
        text: String,
    },
}

/// A cookie-keeping client that submits the provider's forms as a person would.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// The first form of an HTML page: its action and its inputs' names and values.
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let doc = scraper::Html::parse_document(html);
    let form_sel = scraper::Selector::parse("form").ok()?;
    let input_sel = scraper::Selector::parse("input[name]").ok()?;
    let form = doc.select(&form_sel).next()?;
    let action = form.value().attr("action")?.to_owned();
    let mut inputs: Vec<(String, String)> = form
        .select(&input_sel)
        .map(|i| {
            let v = i.value();
            (
                v.attr("name").unwrap_or_default().to_owned(),
                v.attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // Pressing the first named button (`logout=yes` on the provider's logout page, whose
    // buttons sit outside the form and name it with `form=`).
    let button_sel = scraper::Selector::parse("button[name]").ok()?;
    if let Some(b) = doc.select(&button_sel).next() {
        let v = b.value();
        inputs.push((
            v.attr("name").unwrap_or_default().to_owned(),
            v.attr("value").unwrap_or_default().to_owned(),
        ));
    }
    Some((action, inputs))
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: Mutex::new(Jar::new()),
        }
    }

    async fn request(
        &self,
        method: &str,
        url: &url::Url,
        form: Option<&[(String, String)]>,
    ) -> reqwest::Response {
        let mut req = match method {
            "POST" => self.http.post(url.clone()),
            _ => self.http.get(url.clone()),
        };
        let cookie = self
            .jar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .header_for(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(form) = form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let res = req.send().await.expect("browser request");
        self.jar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .store_response(url, res.headers());
        res
    }

    /// Opens `start`, follows redirects and submits every form on the way (the login form with
    /// `login` and any password, the consent form as it is) until a redirect to a URL starting
    /// with `stop_at`, or a page that is none of these.
    pub async fn visit(&self, start: &str, login: &str, stop_at: &str) -> Landing {
        let mut url: url::Url = start.parse().expect("start URL");
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let method = if form.is_some() { "POST" } else { "GET" };
            let res = self.request(method, &url, form.as_deref()).await;
            form = None;
            let status = res.status().as_u16();
            if (300..400).contains(&status) {
                let location = res
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .expect("redirect without Location");
                let next = url.join(location).expect("Location URL");
                if next.as_str().starts_with(stop_at) {
                    return Landing::Redirected(next);
                }
                url = next;
                continue;
            }
            let text = res.text().await.unwrap_or_default();
            match (status, first_form(&text)) {
                (200, Some((action, mut inputs))) => {
                    for (name, value) in &mut inputs {
                        match name.as_str() {
                            "login" => *value = login.to_owned(),
                            "password" => *value = "any-password".into(),
                            _ => {}
                        }
                    }
                    url = url.join(&action).expect("form action");
                    form = Some(inputs);
                }
                _ => {
                    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
                    return Landing::Page { status, json, text };
                }
            }
        }
        panic!("more than 20 steps from {start}");
    }
}
