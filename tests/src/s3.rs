//! A real S3-compatible server for backup tests: moto's server mode (PyPI `moto[server]`,
//! installed by `.ci/run`), one process per story on a free port, killed with the story. Without
//! moto the story is skipped with a message — except under `CI=true`, where it fails.
//!
//! [`Faulty`] stands in front of it and refuses the request that completes a multipart upload
//! (403 AccessDenied, as S3 answers a missing `s3:PutObject` grant; not retried by clients),
//! so a test can fail an upload after its parts went through.
//!
//! [`Faulty`]: crate::s3::Faulty

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// Its URL (`http://127.0.0.1:PORT`).
    pub url: String,
    child: std::process::Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts one, or `None` (with a message) when moto is not installed outside CI.
    pub async fn start() -> Option<Self> {
        let probe = std::process::Command::new("python3")
            .args(["-c", "import moto.server"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            assert!(
                !crate::in_ci(),
                "moto is not installed (python3 -m pip install 'moto[server]'); CI=true needs it"
            );
            eprintln!("skipped: moto is not installed (python3 -m pip install 'moto[server]')");
            return None;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto");
        // Owned at once, so the process goes with the story whatever happens next.
        let moto = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{}/moto-api/", moto.url))
                .send()
                .await
                .is_ok()
            {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto did not start on port {port}");
    }

    /// Creates a bucket.
    pub async fn bucket(&self, name: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{name}", self.url))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Every object key under `prefix` in `bucket`, read with ListObjectsV2 straight from the
    /// server (not through the code under test).
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2&prefix={prefix}", self.url))
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("body");
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// Multipart uploads begun and neither completed nor aborted, in `bucket`.
    pub async fn open_uploads(&self, bucket: &str) -> usize {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?uploads", self.url))
            .send()
            .await
            .expect("list uploads")
            .text()
            .await
            .expect("body");
        xml.matches("<UploadId>").count()
    }
}

/// A forwarder to a moto server that refuses every CompleteMultipartUpload.
#[derive(Debug)]
pub struct Faulty {
    /// Its URL, to use as the S3 endpoint.
    pub url: String,
}

impl Faulty {
    /// Starts one in front of `moto`.
    pub async fn start(moto: &Moto) -> Self {
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(moto.url.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
        }
    }
}

async fn forward(State(upstream): State<String>, req: Request) -> Response {
    let query = req.uri().query().unwrap_or_default().to_owned();
    if req.method() == Method::POST && query.contains("uploadId=") {
        return (
            StatusCode::FORBIDDEN,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
             <Message>Access Denied</Message></Error>",
        )
            .into_response();
    }
    let url = format!("{upstream}{}", req.uri());
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    for hop in ["host", "content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let sent = reqwest::Client::new()
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status();
            let mut headers = r.headers().clone();
            for hop in ["content-length", "transfer-encoding", "connection"] {
                headers.remove(hop);
            }
            let bytes = r.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
