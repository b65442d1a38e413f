//! Record real HTTP exchanges once, replay them in every test run (VCR style).
//!
//! A fake written from the service's documentation is only as true as its author's reading; a
//! [`Cassette`] holds what the service really answered. Record it once against the real service
//! with a [`Recorder`] — a local server that forwards every request of the connector to the
//! service and keeps request and answer — then commit the file and replay it with a [`Replayer`],
//! which answers the same requests the same way, offline.
//!
//! Nothing secret is kept: the `Authorization`, `Cookie` and `Proxy-*` request headers and the
//! `Set-Cookie` answers are dropped, and every secret of the credential the requests carried
//! (and any other text given to [`Recorder::save`]) is replaced by `[REDACTED]` everywhere,
//! including paths, header values and bodies. The service's own address is kept as the
//! placeholder `{{base_url}}`, so next-page links and `self` URLs in the answers lead back to
//! the recorder while recording and to the replayer while replaying.
//!
//! Recording speaks plain HTTP natively; services on `https://` need the SDK feature
//! `record-https` (it adds a TLS client, `ureq`, to the test build only).
//!
//! ```no_run
//! use agentic_sdk::testing::{Credential, Harness, Recorder, Replayer};
//! # #[derive(Default)] struct Plugin;
//! # impl agentic_sdk::Connector for Plugin {
//! #     type Config = serde_json::Value;
//! #     fn spec(&self) -> Result<agentic_sdk::ConnectorSpec, agentic_sdk::Error> { unimplemented!() }
//! #     fn check(&self, _: &Self::Config) -> Result<String, agentic_sdk::Error> { Ok(String::new()) }
//! #     fn read(&self, _: &Self::Config, _: &str, _: Option<&str>) -> Result<agentic_sdk::Page, agentic_sdk::Error> { unimplemented!() }
//! # }
//! # let config = serde_json::json!({});
//! // Once, by hand, against the real service (`cargo test -- --ignored record_issues`):
//! let token = std::env::var("TRACKER_TOKEN").unwrap();
//! let recorder = Recorder::start("https://tracker.example.com");
//! let harness = Harness::new(Plugin)
//!     .with_base_url(recorder.url())
//!     .with_credential(Credential::Bearer(token));
//! harness.read_all(&config, "issues", None).unwrap();
//! recorder.save("tests/cassettes/issues.json", &[]).unwrap();
//!
//! // In every run, offline:
//! let replayer = Replayer::open("tests/cassettes/issues.json").unwrap();
//! let harness = Harness::new(Plugin).with_base_url(replayer.url());
//! let pages = harness.read_all(&config, "issues", None).unwrap();
//! replayer.assert_all_matched();
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::credential::{redact, secrets};
use super::fake_server::{FakeRequest, FakeResponse, FakeServer};
use crate::http::url::encode;

/// What stands for the service's address in a saved cassette.
pub const BASE_URL_PLACEHOLDER: &str = "{{base_url}}";

/// The format's version, written into every cassette.
const FORMAT: u32 = 1;

/// Request headers never kept: credentials, and what each transport sets itself.
const DROPPED_REQUEST_HEADERS: [&str; 6] = [
    "authorization",
    "cookie",
    "host",
    "content-length",
    "connection",
    "accept-encoding",
];

/// Response headers never kept or passed on: session cookies, and framing the fake sets itself.
const DROPPED_RESPONSE_HEADERS: [&str; 4] = [
    "set-cookie",
    "content-length",
    "connection",
    "transfer-encoding",
];

/// Recorded exchanges, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    /// The format's version (1).
    pub format: u32,
    /// The exchanges.
    pub exchanges: Vec<Exchange>,
}

/// One request and the answer it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, percent-encoded as the fake server re-encodes them.
    pub target: String,
    /// Request headers kept (no credentials), lower-case names.
    pub request_headers: Vec<(String, String)>,
    /// The request body.
    pub request_body: Body,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers kept.
    pub response_headers: Vec<(String, String)>,
    /// The answer's body.
    pub response_body: Body,
}

/// A body: text when it is UTF-8, else Base64, so cassettes stay readable and diffable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// UTF-8 text.
    Text(String),
    /// Anything else, Base64 (standard alphabet).
    Base64(String),
}

impl Body {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_owned()),
            Err(_) => Body::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Text(text) => text.as_bytes().to_vec(),
            Body::Base64(data) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_default(),
        }
    }

    fn map_text(&self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Body::Text(text) => Body::Text(f(text)),
            other => other.clone(),
        }
    }
}

impl Cassette {
    /// Reads a cassette file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cassette {}: {e}", path.display()))?;
        let cassette: Cassette =
            serde_json::from_str(&text).map_err(|e| format!("cassette {}: {e}", path.display()))?;
        if cassette.format != FORMAT {
            return Err(format!(
                "cassette {}: format {} (this SDK reads {FORMAT})",
                path.display(),
                cassette.format
            ));
        }
        Ok(cassette)
    }
}

/// The request's path and query, encoded the one way both recorder and replayer use.
fn target(request: &FakeRequest) -> String {
    let path: String = request
        .path
        .split('/')
        .map(encode)
        .collect::<Vec<_>>()
        .join("/");
    let query: Vec<String> = request
        .query
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn replace_all(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        text.to_owned()
    } else {
        text.replace(from, to)
    }
}

/// Exchanges as they happened, each with the secrets its request carried (scrubbed at save).
type Recorded = Arc<Mutex<Vec<(Exchange, Vec<String>)>>>;

/// A local server that forwards to the real service and keeps every exchange.
#[derive(Debug)]
pub struct Recorder {
    server: FakeServer,
    upstream: String,
    exchanges: Recorded,
}

impl Recorder {
    /// Starts forwarding to `upstream` (the service's base address, e.g.
    /// `https://acme.atlassian.net`, without a trailing slash). Make [`Recorder::url`] the
    /// harness's base URL. A request the service cannot be reached for is answered `502`.
    pub fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let exchanges: Recorded = Arc::default();
        let own_url: Arc<Mutex<String>> = Arc::default();
        let server = {
            let (upstream, exchanges, own_url) =
                (upstream.clone(), exchanges.clone(), own_url.clone());
            FakeServer::start(move |request| {
                let own = own_url
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let (response, exchange, secrets) = forward(&upstream, &own, request);
                exchanges
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((exchange, secrets));
                response
            })
        };
        *own_url.lock().unwrap_or_else(PoisonError::into_inner) = server.url();
        Self {
            server,
            upstream,
            exchanges,
        }
    }

    /// `http://127.0.0.1:<port>`: the base URL to call the service through.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The exchanges so far, scrubbed as [`Recorder::save`] writes them.
    pub fn cassette(&self, secrets: &[&str]) -> Cassette {
        let recorded = self
            .exchanges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut all: Vec<String> = secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .map(|s| (*s).to_owned())
            .collect();
        for (_, found) in &recorded {
            all.extend(found.iter().cloned());
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        let scrub = |text: &str| {
            let text = replace_all(text, &self.upstream, BASE_URL_PLACEHOLDER);
            let text = replace_all(&text, &self.url(), BASE_URL_PLACEHOLDER);
            String::from_utf8_lossy(&redact(text.as_bytes(), &all)).into_owned()
        };
        let scrub_headers = |headers: &[(String, String)]| {
            headers
                .iter()
                .map(|(n, v)| (n.clone(), scrub(v)))
                .collect::<Vec<_>>()
        };
        let exchanges = recorded
            .iter()
            .map(|(e, _)| Exchange {
                method: e.method.clone(),
                target: scrub(&e.target),
                request_headers: scrub_headers(&e.request_headers),
                request_body: e.request_body.map_text(scrub),
                status: e.status,
                response_headers: scrub_headers(&e.response_headers),
                response_body: e.response_body.map_text(scrub),
            })
            .collect();
        Cassette {
            format: FORMAT,
            exchanges,
        }
    }

    /// Writes the exchanges to `path` (creating its directory), with the credential's secrets and
    /// each of `secrets` (values of 4 bytes or more: tokens, account names, a tenant id)
    /// replaced by `[REDACTED]`.
    pub fn save(&self, path: impl AsRef<Path>, secrets: &[&str]) -> Result<Cassette, String> {
        let path = path.as_ref();
        let cassette = self.cassette(secrets);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&cassette).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cassette)
    }
}

/// Sends `request` on to `upstream`, rewriting the service's address in the answer to `own` (the
/// recorder's); returns the answer, the exchange as it happened, and the secrets it carried.
fn forward(
    upstream: &str,
    own: &str,
    request: &FakeRequest,
) -> (FakeResponse, Exchange, Vec<String>) {
    let target = target(request);
    let carried: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n == "authorization" || n == "cookie" || n.starts_with("proxy-")
        })
        .cloned()
        .collect();
    let kept: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| !DROPPED_REQUEST_HEADERS.contains(&n.as_str()) && !n.starts_with("proxy-"))
        .collect();
    let url = format!("{upstream}{target}");
    let mut headers = kept.clone();
    headers.extend(carried.iter().cloned());
    let answer = transport::send(&request.method, &url, &headers, &request.body);
    let (status, response_headers, body) = match answer {
        Ok(answer) => answer,
        Err(why) => (
            502,
            vec![("content-type".to_owned(), "text/plain".to_owned())],
            format!("recorder: {} {url}: {why}", request.method).into_bytes(),
        ),
    };
    let response_headers: Vec<(String, String)> = response_headers
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), replace_all(&v, upstream, own)))
        .filter(|(n, _)| !DROPPED_RESPONSE_HEADERS.contains(&n.as_str()))
        .collect();
    let body = match std::str::from_utf8(&body) {
        Ok(text) => replace_all(text, upstream, own).into_bytes(),
        Err(_) => body,
    };
    let exchange = Exchange {
        method: request.method.clone(),
        target,
        request_headers: kept,
        request_body: Body::of(&request.body),
        status,
        response_headers: response_headers.clone(),
        response_body: Body::of(&body),
    };
    let response = FakeResponse {
        status,
        headers: response_headers,
        body,
    };
    (response, exchange, secrets(&carried))
}

/// A fake service answering from a cassette.
#[derive(Debug)]
pub struct Replayer {
    server: FakeServer,
    unmatched: Arc<Mutex<Vec<String>>>,
}

impl Replayer {
    /// Replays the cassette at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, String> {
        Ok(Self::start(Cassette::load(path)?))
    }

    /// Replays `cassette`. Each request is answered by the first exchange with the same method,
    /// path, query and body not answered yet — or, once all such are spent, by the last of
    /// them again (a connector re-reading a page, as the acceptance suite's resumption does).
    /// A request the cassette has no exchange for is answered `501` naming it, and listed by
    /// [`Replayer::unmatched`].
    pub fn start(cassette: Cassette) -> Self {
        let unmatched: Arc<Mutex<Vec<String>>> = Arc::default();
        let used = Mutex::new(vec![false; cassette.exchanges.len()]);
        let own_url: Arc<Mutex<String>> = Arc::default();
        let server = {
            let (unmatched, own_url) = (unmatched.clone(), own_url.clone());
            FakeServer::start(move |request| {
                let own = own_url
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let target = target(request);
                let matches = |e: &Exchange| {
                    e.method == request.method
                        && e.target.replace(BASE_URL_PLACEHOLDER, &own) == target
                        && e.request_body.bytes() == request.body
                };
                let mut used = used.lock().unwrap_or_else(PoisonError::into_inner);
                let fresh = (0..cassette.exchanges.len())
                    .find(|&i| !used[i] && matches(&cassette.exchanges[i]));
                let chosen = fresh.or_else(|| {
                    (0..cassette.exchanges.len())
                        .rev()
                        .find(|&i| matches(&cassette.exchanges[i]))
                });
                let Some(i) = chosen else {
                    let what = format!("{} {target}", request.method);
                    unmatched
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(what.clone());
                    return FakeResponse::status(501).with_body(format!(
                        "the cassette has no exchange for {what}; record it again"
                    ));
                };
                used[i] = true;
                let e = &cassette.exchanges[i];
                let body = match &e.response_body {
                    Body::Text(text) => text.replace(BASE_URL_PLACEHOLDER, &own).into_bytes(),
                    other => other.bytes(),
                };
                FakeResponse {
                    status: e.status,
                    headers: e
                        .response_headers
                        .iter()
                        .map(|(n, v)| (n.clone(), v.replace(BASE_URL_PLACEHOLDER, &own)))
                        .collect(),
                    body,
                }
            })
        };
        *own_url.lock().unwrap_or_else(PoisonError::into_inner) = server.url();
        Self { server, unmatched }
    }

    /// `http://127.0.0.1:<port>`: the base URL to call the replayed service at.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    /// Requests the cassette had no exchange for (`GET /path?query`).
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Panics, naming them, when any request had no exchange.
    ///
    /// # Panics
    ///
    /// When [`Replayer::unmatched`] is not empty.
    pub fn assert_all_matched(&self) {
        let unmatched = self.unmatched();
        assert!(
            unmatched.is_empty(),
            "requests the cassette has no exchange for: {unmatched:?}"
        );
    }
}

/// The recorder's way to the service: the SDK's own plain-HTTP transport, or with the
/// `record-https` feature a TLS client for `https://` services.
mod transport {
    use crate::http::{Method, Request};

    type Answer = (u16, Vec<(String, String)>, Vec<u8>);

    fn method(name: &str) -> Option<Method> {
        Some(match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    pub(super) fn send(
        method_name: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, String> {
        if url.starts_with("https://") {
            return https(method_name, url, headers, body);
        }
        let method = method(method_name).ok_or_else(|| format!("method {method_name}"))?;
        let request = Request {
            method,
            url: url.to_owned(),
            headers: headers.to_vec(),
            body: body.to_vec(),
        };
        // The raw transport: `Request::send` would drop the credential the harness added.
        crate::http::send_raw(&request)
            .map(|r| (r.status, r.headers, r.body))
            .map_err(|e| e.to_string())
    }

    #[cfg(feature = "record-https")]
    fn https(
        method_name: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, String> {
        let mut builder = ureq::http::Request::builder().method(method_name).uri(url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(body.to_vec()).map_err(|e| e.to_string())?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut response = agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok((status, headers, body))
    }

    #[cfg(not(feature = "record-https"))]
    fn https(
        _method: &str,
        url: &str,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<Answer, String> {
        Err(format!(
            "{url}: recording an https:// service needs the SDK feature `record-https` \
             (agentic-sdk = {{ …, features = [\"record-https\"] }} in [dev-dependencies])"
        ))
    }
}

#[cfg(test)]
mod tests;
