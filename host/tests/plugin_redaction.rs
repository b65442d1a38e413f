//! A service that echoes requests hands the credential the host injected back to the connector
//! unless the host redacts it: every form of the secret must be gone from all the guest
//! receives — headers and body, raw, Base64, percent-encoded, split across chunks — and a
//! compressed echo must not slip past.

use std::sync::Arc;
use std::time::Duration;

use agentic_host::plugins::{Call, EgressPolicy, StaticCredential};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use serde_json::Value;

use crate::plugin_egress::{with_credential, Rig};

/// The careless service's routes, served beside the egress fake's own.
fn echoes() -> axum::Router<crate::plugin_egress::Seen> {
    axum::Router::new()
        .route("/api/echo", any(echo))
        .route("/api/echo-stream", get(echo_stream))
        .route(
            "/api/gzip",
            get(|| async { ([("content-encoding", "gzip")], vec![0x1f_u8, 0x8b, 8, 0]) }),
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
    let rig = Rig::serving(echoes()).await;
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
        connection: None,
    };
    let out = rig
        .fetch(
            &anonymous,
            serde_json::json!({"url": format!("{base}/api/echo-stream")}),
        )
        .await;
    assert_eq!(out["body"], "you sent:  (that is: )", "{out}");
}
