//! Mediated egress against a real fake server on a bound port: the hostile plugin's `fetch`
//! action sends whatever requests a test asks for, and the fake server records what arrived.
//! A plugin must reach only its connection's base URL, never a private or link-local address
//! unless allowed, never past its request and body caps, and never with its own credentials —
//! the host's credential is injected and the guest never sees it.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentic_host::plugins::{
    Call, EgressLimits, EgressPolicy, Limits, Plugin, Progress, Runtime, StaticCredential,
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
struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    fn all(&self) -> Vec<HeaderMap> {
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

/// A careless service that echoes the request's credential back, raw and in the encodings a
/// debugging endpoint or error page might use, in headers and body.
async fn echo(headers: HeaderMap) -> impl IntoResponse {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let b64url = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let pct = |s: &str| {
        percent_encoding::percent_encode(s.as_bytes(), percent_encoding::NON_ALPHANUMERIC)
            .to_string()
    };
    let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (scheme, token) = auth.split_once(' ').unwrap_or_default();
    let mut parts = vec![auth.clone(), token.to_owned()];
    if scheme == "Basic" {
        let pair = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .unwrap_or_default();
        let password = pair
            .split_once(':')
            .map(|(_, p)| p.to_owned())
            .unwrap_or_default();
        parts.push(pair);
        parts.push(password);
    }
    let mut echoed = serde_json::Map::new();
    for (i, part) in parts.iter().enumerate() {
        echoed.insert(format!("raw{i}"), part.clone().into());
        echoed.insert(format!("base64_{i}"), b64(part).into());
        echoed.insert(format!("base64url_{i}"), b64url(part).into());
        echoed.insert(format!("percent{i}"), pct(part).into());
        echoed.insert(format!("form{i}"), form(part).into());
    }
    // Inside a longer Base64 text too, as a service that encodes the whole request would.
    echoed.insert(
        "dump".into(),
        b64(&format!("GET /api/echo\r\nauthorization: {auth}\r\n")).into(),
    );
    let body = serde_json::Value::Object(echoed).to_string();
    let mut response = body.into_response();
    let h = response.headers_mut();
    for (name, value) in [
        ("x-echo-authorization", auth.clone()),
        ("x-echo-token-base64", b64(token)),
        ("x-echo-token-percent", pct(token)),
        (
            "www-authenticate",
            format!("Bearer error=\"invalid_token\", token=\"{token}\""),
        ),
    ] {
        h.insert(name, value.parse().expect("header value"));
    }
    response
}

/// Echoes `Authorization` in 3-byte chunks, so the value is split across chunk boundaries.
async fn echo_stream(headers: HeaderMap) -> impl IntoResponse {
    use futures_util::StreamExt as _;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let text = format!("you sent: {auth} (that is: {auth})");
    let chunks: Vec<Vec<u8>> = text.as_bytes().chunks(3).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, std::convert::Infallible>(chunk)
    });
    axum::body::Body::from_stream(stream)
}

/// A fake service on 127.0.0.1; returns its base URL and the recorder.
async fn fake() -> (String, Seen) {
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
        .route("/api/echo", any(echo))
        .route("/api/echo-stream", get(echo_stream))
        .route(
            "/api/gzip",
            get(|| async { ([("content-encoding", "gzip")], vec![0x1f_u8, 0x8b, 8, 0]) }),
        )
        .route("/admin", get(record))
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

fn with_credential(base: &str, allow_private: bool, credential: StaticCredential) -> Call {
    let policy = EgressPolicy::new(&["127.0.0.1".into(), "localhost".into()], base)
        .expect("policy")
        .allow_private(allow_private)
        .credential(Arc::new(credential));
    Call {
        egress: Some(Arc::new(policy)),
        progress: None,
    }
}

/// A runtime with the hostile plugin loaded and a fake service to aim it at.
struct Rig {
    rt: Runtime,
    hostile: Plugin,
    base: String,
    seen: Seen,
}

impl Rig {
    async fn new() -> Self {
        let rt = runtime();
        let hostile = load(&rt, "hostile");
        let (base, seen) = fake().await;
        Self {
            rt,
            hostile,
            base,
            seen,
        }
    }

    /// Runs the hostile `fetch` action under `call` and returns its report.
    async fn fetch(&self, call: &Call, input: Value) -> Value {
        let out = self
            .rt
            .invoke(&self.hostile, call, "{}", "fetch", &input.to_string())
            .await
            .expect("fetch action");
        serde_json::from_str(&out).expect("fetch output is JSON")
    }
}

fn denied(out: &Value) -> bool {
    out["error"]
        .as_str()
        .unwrap_or_default()
        .contains("HttpRequestDenied")
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
    assert!(denied(&out), "{out}");
    assert_eq!(out["sent"], 0);
    assert!(seen.all().is_empty());
}

#[tokio::test]
async fn requests_outside_the_base_url_or_to_undeclared_hosts_are_refused() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let call = policy(&format!("{base}/api/"), true);
    let port = base.rsplit(':').next().expect("port");
    for url in [
        format!("{base}/admin"),
        format!("{base}/api/../admin"),
        format!("http://localhost:{port}/api/ok"),
        format!("https://127.0.0.1:{port}/api/ok"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/api/ok".to_owned(),
        "http://example.com/api/ok".to_owned(),
    ] {
        let out = rig.fetch(&call, serde_json::json!({ "url": url })).await;
        assert!(denied(&out), "{url}: {out}");
    }
    assert!(seen.all().is_empty(), "nothing reached the fake");
}

#[tokio::test]
async fn private_and_link_local_addresses_are_refused_unless_allowed() {
    let rig = Rig::new().await;
    let (base, seen) = (&rig.base, &rig.seen);
    let port = base.rsplit(':').next().expect("port");

    // Loopback by IP literal, and by a name that resolves to loopback.
    for base in [base.clone(), format!("http://localhost:{port}")] {
        let out = rig
            .fetch(
                &policy(&format!("{base}/api/"), false),
                serde_json::json!({"url": format!("{base}/api/ok")}),
            )
            .await;
        let error = out["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("HttpRequestDenied") || error.contains("DestinationIpProhibited"),
            "{base}: {out}"
        );
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
    for (url, allow) in [
        ("http://10.0.0.1/", false),
        ("http://192.168.1.1/", false),
        ("http://169.254.169.254/", false),
        ("http://169.254.169.254/", true),
        ("http://[fe80::1]/", true),
    ] {
        let call = Call {
            egress: Some(Arc::new(
                EgressPolicy::new(&["*".into()], url)
                    .expect("policy")
                    .allow_private(allow),
            )),
            progress: None,
        };
        let out = rig.fetch(&call, serde_json::json!({ "url": url })).await;
        assert!(denied(&out), "{url} allow_private={allow}: {out}");
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
    assert!(denied(&out), "{out}");
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
    assert!(denied(&out), "{out}");
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
        assert!(denied(&out), "{method}: {out}");
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
        assert!(denied(&out), "{path}: {out}");
    }
    assert!(seen.all().is_empty());
}

/// Everything the guest received from a `fetch`: status, body and every header value.
fn received(out: &Value) -> String {
    let mut all = format!(
        "{} {}",
        out["status"],
        out["body"].as_str().unwrap_or_default()
    );
    for pair in out["response_header_values"]
        .as_array()
        .into_iter()
        .flatten()
    {
        all.push('\n');
        all.push_str(pair[0].as_str().unwrap_or_default());
        all.push_str(": ");
        all.push_str(pair[1].as_str().unwrap_or_default());
    }
    all
}

/// The forms of `secret` a careless service might echo.
fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    vec![
        secret.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        percent_encoding::percent_encode(secret.as_bytes(), percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ]
}

fn assert_no_secret(what: &str, out: &Value, secrets: &[&str]) {
    let all = received(out);
    assert_eq!(out["status"], 200, "{what}: {out}");
    assert!(
        all.contains("[REDACTED]"),
        "{what}: the service did echo: {all}"
    );
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !all.contains(&form),
                "{what}: {form:?} reached the guest: {all}"
            );
        }
    }
}

#[tokio::test]
async fn an_echoed_credential_never_reaches_the_guest_in_any_form() {
    let rig = Rig::new().await;
    let base = &rig.base;

    let token = "tok/en+with=special&chars~42";
    let bearer = with_credential(
        &format!("{base}/api/"),
        true,
        StaticCredential::bearer(token).expect("bearer"),
    );
    let out = rig
        .fetch(
            &bearer,
            serde_json::json!({"url": format!("{base}/api/echo")}),
        )
        .await;
    assert_no_secret("bearer", &out, &[token, &format!("Bearer {token}")]);
    assert!(
        received(&out).contains("x-echo-authorization: [REDACTED]"),
        "{out}"
    );

    let (user, password) = ("alice@example.com", "pa:ss/w+rd&=9?");
    let basic = with_credential(
        &format!("{base}/api/"),
        true,
        StaticCredential::basic(user, password).expect("basic"),
    );
    let out = rig
        .fetch(
            &basic,
            serde_json::json!({"url": format!("{base}/api/echo")}),
        )
        .await;
    assert_no_secret("basic", &out, &[password, &format!("{user}:{password}")]);

    // Split across the chunks of a streamed body.
    for (what, call, secret) in [("bearer", &bearer, token), ("basic", &basic, password)] {
        let out = rig
            .fetch(
                call,
                serde_json::json!({"url": format!("{base}/api/echo-stream")}),
            )
            .await;
        let body = out["body"].as_str().unwrap_or_default();
        assert!(
            body.starts_with("you sent: [REDACTED] (that is: [REDACTED])"),
            "{what}: {out}"
        );
        assert_no_secret(what, &out, &[secret]);
    }

    // A compressed echo would slip past: plain bodies are asked for, compressed ones refused.
    let out = rig
        .fetch(
            &bearer,
            serde_json::json!({"url": format!("{base}/api/any"), "headers": {"Accept-Encoding": "gzip"}}),
        )
        .await;
    assert_eq!(out["status"], 200, "{out}");
    let seen = rig.seen.all();
    assert_eq!(
        seen.last()
            .and_then(|h| h.get("accept-encoding"))
            .map(|v| v.as_bytes()),
        Some(&b"identity"[..])
    );
    let out = rig
        .fetch(
            &bearer,
            serde_json::json!({"url": format!("{base}/api/gzip")}),
        )
        .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HttpResponseContentCoding"),
        "{out}"
    );

    // Without a credential there is nothing to hide, and the echo arrives untouched.
    let anonymous = Call {
        egress: Some(Arc::new(
            EgressPolicy::new(&["127.0.0.1".into()], &format!("{base}/api/"))
                .expect("policy")
                .allow_private(true),
        )),
        progress: None,
    };
    let out = rig
        .fetch(
            &anonymous,
            serde_json::json!({"url": format!("{base}/api/echo-stream")}),
        )
        .await;
    assert_eq!(out["body"], "you sent:  (that is: )", "{out}");
}
