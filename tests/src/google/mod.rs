//! The fake Google (`fake-google`: Drive v3, Calendar v3, Sheets v4 and Docs v1, every request
//! checked against Google's discovery documents) served over HTTP for syncs through the host,
//! accepting only the access tokens the fake token endpoints of [`crate::providers`] issued.
//! Drive and Calendar answer on one origin (the connection's base URL), Sheets and Docs on
//! another (the connection's overrides of the service origins `sheets` and `docs`), as Google
//! serves them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;

pub use fake_google::{data, sharing, Data, Google, Request, Seen};

/// The Google connector's manifest with 127.0.0.1 among its allowed hosts: the shipped one
/// allows only Google's, and the fake lives on the loopback (a connection to it must still be
/// allowed private networks, and its origins pointed at the fake).
pub fn loopback_manifest() -> String {
    let manifest = crate::plugin_manifest("google").replace(
        "allowed_hosts = [\"www.googleapis.com\", \"sheets.googleapis.com\", \"docs.googleapis.com\"]",
        "allowed_hosts = [\"www.googleapis.com\", \"sheets.googleapis.com\", \"docs.googleapis.com\", \"127.0.0.1\"]",
    );
    assert!(
        manifest.contains("\"127.0.0.1\""),
        "the manifest's allowed_hosts changed"
    );
    manifest
}

use crate::providers::Provider;

/// The fake, running.
#[derive(Debug, Clone)]
pub struct FakeGoogle {
    /// `http://127.0.0.1:<port>`: the connection's base URL.
    pub url: String,
    /// `http://127.0.0.1:<port>` of Sheets and Docs: the connection's origins `sheets`, `docs`.
    pub workspace_url: String,
    /// The fake itself (data, requests seen, violations, failures on demand).
    pub google: Google,
}

impl FakeGoogle {
    /// Serves `data` on a free port; only bearer tokens `provider` issued and has not revoked
    /// are accepted (else Google's `401 UNAUTHENTICATED`).
    pub async fn start(data: Data, provider: &Provider) -> Self {
        let tokens = provider.clone();
        let google = Google::new(data).with_authorizer(Arc::new(move |authorization| {
            authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| tokens.accepts_access_token(t))
        }));
        Self {
            url: serve(&google).await,
            workspace_url: serve(&google).await,
            google,
        }
    }
}

/// Serves `google` on a free port of its own; returns its origin.
async fn serve(google: &Google) -> String {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(google.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn handle(
    State(google): State<Google>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = fake_google::Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: fake_google::parse_query(uri.query().unwrap_or_default()),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    // The fake holds a lock while it answers: off the async threads.
    let answer = tokio::task::spawn_blocking(move || google.handle(&request))
        .await
        .expect("the fake answers");
    crate::http::fake_answer(answer.status, answer.headers, answer.body)
}
