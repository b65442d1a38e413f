//! Mediated egress against a real fake server on a bound port: the hostile plugin's `fetch`
//! action sends whatever requests a test asks for, and the fake server records what arrived.
//! A plugin must reach only its connection's base URL, never a private or link-local address
//! unless allowed, never past its request and body caps, and never with its own credentials —
//! the host's credential is injected and the guest never sees it.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::plugins::{
    Call, ConnectorError, EgressLimits, EgressPolicy, Limits, Plugin, PluginError, Progress,
    Runtime, StaticCredential,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;
use support::load;

const SECRET: &str = "host-held-secret-7f3a";

fn runtime() -> Runtime {
    Runtime::new(Limits {
        call_timeout: Duration::from_secs(20),
        egress: EgressLimits {
            max_requests_per_call: 100,
            max_request_body: 64 << 10,
            max_response_body: 64 << 10,
            request_timeout: Duration::from_secs(5),
        },
        ..Limits::default()
    })
    .expect("engine")
}

/// What the fake server saw: the headers of every request, in order.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    pub(crate) fn all(&self) -> Vec<HeaderMap> {
        self.0.lock().expect("lock").clone()
    }
}

async fn record(State(seen): State<Seen>, headers: HeaderMap) -> impl IntoResponse {
    seen.0.lock().expect("lock").push(headers);
    (
        [("set-cookie", "session=server-secret; HttpOnly")],
        "hello from the fake",
    )
}

/// A fake service on 127.0.0.1 with `extra` routes besides its own; returns its base URL and
/// the recorder.
async fn fake(extra: axum::Router<Seen>) -> (String, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/api/ok", get(record))
        .route(
            "/api/redirect-out",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "http://198.51.100.7/steal")],
                )
            }),
        )
        .route(
            "/api/redirect-in",
            get(|| async { (StatusCode::FOUND, [("location", "/api/ok")]) }),
        )
        .route(
            "/api/big",
            get(|| async { "x".repeat(1 << 20).into_response() }),
        )
        .route("/api/any", any(record))
        .route("/admin", get(record))
        .merge(extra)
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn policy(base: &str, allow_private: bool) -> Call {
    with_credential(
        base,
        allow_private,
        StaticCredential::bearer(SECRET).expect("credential"),
    )
}

pub(crate) fn with_credential(
    base: &str,
    allow_private: bool,
    credential: StaticCredential,
) -> Call {
    let policy = EgressPolicy::new(&["127.0.0.1".into(), "localhost".into()], base)
        .expect("policy")
        .allow_private(allow_private)
        .credential(Arc::new(credential));
    Call {
        egress: Some(Arc::new(policy)),
        progress: None,
        connection: None,
    }
}

/// A runtime with the hostile plugin loaded and a fake service to aim it at.
pub(crate) struct Rig {
    rt: Runtime,
    hostile: Plugin,
    pub(crate) base: String,
    pub(crate) seen: Seen,
}

impl Rig {
    pub(crate) async fn new() -> Self {
        Self::serving(axum::Router::new()).await
    }

    /// A rig whose fake service also serves `extra`.
    pub(crate) async fn serving(extra: axum::Router<Seen>) -> Self {
        let rt = runtime();
        let hostile = load(&rt, "hostile");
        let (base, seen) = fake(extra).await;
        Self {
            rt,
            hostile,
            base,
            seen,
        }
    }

    /// Runs the hostile `fetch` action under `call` and returns its report.
    pub(crate) async fn fetch(&self, call: &Call, input: Value) -> Value {
        let out = self
            .rt
            .invoke(&self.hostile, call, "{}", "fetch", &input.to_string())
            .await
            .expect("fetch action");
        serde_json::from_str(&out).expect("fetch output is JSON")
    }
}

/// Whether the request was refused with `HTTP-request-denied` and the host's
/// `egress-refusal` names `why` (the hostile plugin appends it to the error code).
fn denied(out: &Value, why: &str) -> bool {
    let error = out["error"].as_str().unwrap_or_default();
    error.starts_with("ErrorCode::HttpRequestDenied: ") && error.contains(why)
}

#[tokio::test]
async fn the_host_injects_the_credential_and_drops_the_guests_own() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let out = rig
        .fetch(
            &call,
            serde_json::json!({
                "url": format!("{base}/api/ok"),
                "headers": {
                    "Authorization": "Bearer forged-by-guest",
                    "Cookie": "session=forged",
                    "Proxy-Authorization": "Basic Zm9yZ2Vk",
                    "X-Trace": "kept"
                }
            }),
        )
        .await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "hello from the fake");
    assert_eq!(
        out["refused_headers"],
        serde_json::json!(["authorization", "cookie", "proxy-authorization"]),
        "the guest may not set credential headers"
    );
    let seen = seen.all();
    assert_eq!(seen.len(), 1);
    let auth: Vec<_> = seen[0].get_all("authorization").iter().collect();
    assert_eq!(
        auth,
        [format!("Bearer {SECRET}").as_str()],
        "exactly the host's credential"
    );
    assert!(seen[0].get("cookie").is_none());
    assert!(seen[0].get("proxy-authorization").is_none());
    assert_eq!(
        seen[0].get("x-trace").map(|v| v.to_str().ok()),
        Some(Some("kept"))
    );
    assert!(
        !out.to_string().contains(SECRET),
        "the guest never sees the secret"
    );
    let names = out["response_headers"]
        .as_array()
        .expect("response headers");
    assert!(names.iter().any(|n| n == "content-type"), "{out}");
    assert!(
        !names.iter().any(|n| n == "set-cookie") && !out.to_string().contains("server-secret"),
        "session cookies stay with the host: {out}"
    );
}

#[tokio::test]
async fn a_call_without_a_connection_reaches_nothing() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let out = rig
        .fetch(
            &Call::default(),
            serde_json::json!({"url": format!("{base}/api/ok")}),
        )
        .await;
    assert!(
        denied(&out, "this call has no connection, so no network"),
        "{out}"
    );
    assert_eq!(out["sent"], 0);
    assert!(seen.all().is_empty());
}

#[tokio::test]
async fn requests_outside_the_base_url_or_to_undeclared_hosts_are_refused() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let port = base.rsplit(':').next().expect("port");
    let outside = format!("is outside the connection's base URL {base}/api/");
    for (url, why) in [
        (
            format!("{base}/admin"),
            "path /admin is outside the base path /api/",
        ),
        (format!("{base}/api/../admin"), "path has dot segments"),
        (
            format!("http://localhost:{port}/api/ok"),
            &format!("http://localhost {outside}"),
        ),
        (
            format!("https://127.0.0.1:{port}/api/ok"),
            &format!("https://127.0.0.1 {outside}"),
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "host 169.254.169.254 is not declared by the plugin",
        ),
        (
            "http://10.0.0.1/api/ok".to_owned(),
            "host 10.0.0.1 is not declared by the plugin",
        ),
        (
            "http://example.com/api/ok".to_owned(),
            "host example.com is not declared by the plugin",
        ),
    ] {
        let out = rig.fetch(&call, serde_json::json!({ "url": url })).await;
        assert!(denied(&out, why), "{url}: {out}");
    }
    assert!(seen.all().is_empty(), "nothing reached the fake");
}

#[tokio::test]
async fn private_and_link_local_addresses_are_refused_unless_allowed() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let port = base.rsplit(':').next().expect("port");

    // Loopback by IP literal (refused before sending), and by a name that resolves to loopback
    // (refused by the resolver, with its own error code), each saying why.
    for (base, error) in [
        (
            base.clone(),
            "ErrorCode::HttpRequestDenied: address 127.0.0.1 is private or loopback, and the \
             connection does not allow those",
        ),
        (
            format!("http://localhost:{port}"),
            "ErrorCode::DestinationIpProhibited: localhost resolves only to addresses the \
             connection may not reach",
        ),
    ] {
        let out = rig
            .fetch(
                &policy(&format!("{base}/api/"), false),
                serde_json::json!({"url": format!("{base}/api/ok")}),
            )
            .await;
        let got = out["error"].as_str().unwrap_or_default();
        assert!(got.starts_with(error), "{base}: {out}");
    }
    assert!(seen.all().is_empty());

    // The same name is fine once the connection allows private addresses.
    let local = format!("http://localhost:{port}");
    let out = rig
        .fetch(
            &policy(&format!("{local}/api/"), true),
            serde_json::json!({"url": format!("{local}/api/ok")}),
        )
        .await;
    assert_eq!(out["status"], 200, "{out}");

    // Private ranges and cloud metadata, whatever the base URL says.
    let private = "is private or loopback, and the connection does not allow those";
    for (url, allow, why) in [
        (
            "http://10.0.0.1/",
            false,
            format!("address 10.0.0.1 {private}"),
        ),
        (
            "http://192.168.1.1/",
            false,
            format!("address 192.168.1.1 {private}"),
        ),
        (
            "http://169.254.169.254/",
            false,
            "address 169.254.169.254 is link-local".into(),
        ),
        (
            "http://169.254.169.254/",
            true,
            "address 169.254.169.254 is link-local".into(),
        ),
        (
            "http://[fe80::1]/",
            true,
            "address fe80::1 is link-local".into(),
        ),
    ] {
        let call = Call {
            egress: Some(Arc::new(
                EgressPolicy::new(&["*".into()], url)
                    .expect("policy")
                    .allow_private(allow),
            )),
            progress: None,
            connection: None,
        };
        let out = rig.fetch(&call, serde_json::json!({ "url": url })).await;
        assert!(denied(&out, &why), "{url} allow_private={allow}: {out}");
    }
}

#[tokio::test]
async fn ten_thousand_requests_stop_at_the_per_call_cap() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let out = rig
        .fetch(
            &call,
            serde_json::json!({"url": format!("{base}/api/ok"), "times": 10_000}),
        )
        .await;
    assert_eq!(out["sent"], 100, "{out}");
    assert!(denied(&out, "more than 100 requests in one call"), "{out}");
    assert_eq!(seen.all().len(), 100);

    // The cap is per call: the next call starts afresh.
    let out = rig
        .fetch(&call, serde_json::json!({"url": format!("{base}/api/ok")}))
        .await;
    assert_eq!(out["status"], 200, "{out}");
}

#[tokio::test]
async fn redirects_do_not_leave_the_origin() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let out = rig
        .fetch(
            &call,
            serde_json::json!({"url": format!("{base}/api/redirect-out")}),
        )
        .await;
    let why =
        format!("the response redirected to http://198.51.100.7/steal, another origin than {base}");
    assert!(denied(&out, &why), "{out}");
    let out = rig
        .fetch(
            &call,
            serde_json::json!({"url": format!("{base}/api/redirect-in")}),
        )
        .await;
    assert_eq!(
        out["status"], 302,
        "same-origin redirects reach the guest: {out}"
    );
    assert!(
        seen.all().is_empty(),
        "redirects are not followed by the host"
    );
}

#[tokio::test]
async fn request_and_response_bodies_are_capped() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let out = rig.fetch(&call,
        serde_json::json!({"url": format!("{base}/api/ok"), "method": "POST", "body_bytes": 1 << 20}),
    )
    .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HttpRequestBodySize"),
        "{out}"
    );
    assert!(seen.all().is_empty(), "an oversized body is not sent");

    let out = rig
        .fetch(&call, serde_json::json!({"url": format!("{base}/api/big")}))
        .await;
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("HttpResponseBodySize") || error.contains("response body size exceeds"),
        "{out}"
    );
    assert_eq!(
        out["sent"], 0,
        "the truncated response never reaches the guest whole"
    );
}

#[tokio::test]
async fn progress_reports_reach_the_calls_sink() {
    let rt = runtime();
    let example = load(&rt, "example");
    let reports: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = reports.clone();
    let call = Call {
        egress: None,
        progress: Some(Arc::new(move |p| sink.lock().expect("lock").push(p))),
        connection: None,
    };
    rt.read(
        &example,
        &call,
        r#"{"items":250,"page_size":100}"#,
        "items",
        None,
    )
    .await
    .expect("read");
    let reports = reports.lock().expect("lock").clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].done, 100);
    assert_eq!(reports[0].total, Some(250));
}

#[tokio::test]
async fn only_the_listed_methods_go_out_spelled_exactly() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let url = format!("{base}/api/any");
    for method in [
        "trace", "TRACE", "TRACK", "track", "get", "Post", "CONNECT", "PROPFIND",
    ] {
        let out = rig
            .fetch(&call, serde_json::json!({"url": url, "method": method}))
            .await;
        let why = format!("method {method:?} is not allowed (only GET, HEAD, POST, PUT");
        assert!(denied(&out, &why), "{method}: {out}");
    }
    assert!(seen.all().is_empty(), "no refused method reached the fake");
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let out = rig
            .fetch(&call, serde_json::json!({"url": url, "method": method}))
            .await;
        assert_eq!(out["status"], 200, "{method}: {out}");
    }
    assert_eq!(seen.all().len(), 7);
}

#[tokio::test]
async fn dots_and_slashes_encoded_twice_are_refused() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    for path in [
        "/api/%252e%252e/admin",
        "/api/%252E%252E/admin",
        "/api/..%252fadmin",
        "/api/%252e%252e%252fadmin",
        "/api/x%255c..%255cadmin",
        "/api/%25252e%25252e/admin",
    ] {
        let out = rig
            .fetch(&call, serde_json::json!({"url": format!("{base}{path}")}))
            .await;
        let error = out["error"].as_str().unwrap_or_default();
        assert!(
            denied(&out, "path has dot segments")
                || denied(
                    &out,
                    "path has a dot or slash percent-encoded more than once"
                ),
            "{path}: {error}"
        );
    }
    assert!(seen.all().is_empty());
}

#[tokio::test]
async fn a_connector_learns_its_connections_base_url_and_nothing_without_one() {
    let rig = Rig::new().await;
    let call = policy(&format!("{}/api", rig.base), true);
    let url = rig
        .rt
        .invoke(&rig.hostile, &call, "{}", "base-url", "")
        .await
        .expect("base-url action");
    assert_eq!(
        url,
        format!("\"{}/api\"", rig.base),
        "as the egress policy parsed it"
    );
    let none = rig
        .rt
        .invoke(&rig.hostile, &Call::default(), "{}", "base-url", "")
        .await
        .expect("base-url action");
    assert_eq!(none, "null");
}

#[tokio::test]
async fn a_refusal_is_named_in_the_connectors_error_by_the_sdk_and_by_the_host() {
    let rt = runtime();
    let example = load(&rt, "example");
    // The example connector (SDK, contract 0.2.0) calls `GET {config base_url}/status`, on a
    // host the call's policy does not declare: the SDK asks the host why and says it.
    let call = policy("http://127.0.0.1:9/api/", true);
    let error = rt
        .check(&example, &call, r#"{"base_url":"http://10.0.0.1"}"#)
        .await
        .expect_err("refused");
    let why = "host 10.0.0.1 is not declared by the plugin";
    match &error {
        PluginError::Connector(ConnectorError::Config(m)) => {
            assert!(m.contains(&format!("refused by the host: {why}")), "{m}");
            assert_eq!(m.matches(why).count(), 1, "said once: {m}");
        }
        other => panic!("{other:?}"),
    }
}
