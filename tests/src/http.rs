//! Talking to a host over HTTP: [`Reply`], what came back, with the checks stories make on it
//! (status, RFC 9457 problems, validation fields); [`Form`], a `multipart/form-data` body; and
//! [`TestApp`]'s requests, sent through the real router with `tower::ServiceExt::oneshot`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::TestApp;

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (`Null` when empty or not JSON).
    pub json: Value,
    /// Body as text (lossy).
    pub text: String,
    /// Body as sent.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and returns its JSON.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        self.expect(status);
        let ct = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(
            ct, "application/problem+json",
            "not a problem document: {}",
            self.text
        );
        assert_eq!(
            self.json["status"],
            json!(status),
            "problem status field: {}",
            self.text
        );
        assert!(
            self.json["type"].is_string() && self.json["title"].is_string(),
            "problem fields: {}",
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem detail: {}",
            self.text
        );
        &self.json
    }

    /// The `field` names of a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A `multipart/form-data` body, built part by part (document uploads).
#[derive(Debug, Default, Clone)]
pub struct Form {
    body: Vec<u8>,
}

/// The boundary every [`Form`] uses.
pub const FORM_BOUNDARY: &str = "agentic-test-boundary-5f3a9c";

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file part (quotes in `filename` escaped as browsers and curl do).
    pub fn file(mut self, name: &str, filename: &str, content_type: &str, bytes: &[u8]) -> Self {
        let filename = filename.replace('"', "\\\"");
        self.body.extend_from_slice(
            format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a text part.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.body.extend_from_slice(
            format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
        self
    }

    /// The `Content-Type` to send the form with.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={FORM_BOUNDARY}")
    }

    /// The body without its closing boundary (a truncated upload).
    pub fn unfinished(self) -> Vec<u8> {
        self.body
    }

    /// The complete body.
    pub fn finish(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{FORM_BOUNDARY}--\r\n").as_bytes());
        self.body
    }
}

/// Sends a prepared request to a router and collects the reply.
pub async fn send_to(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
        bytes: bytes.to_vec(),
    }
}

impl TestApp {
    /// Sends a request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request")).await
    }

    /// Sends `body` verbatim with `content_type` (if any), authenticated as `token`: for
    /// malformed bodies and odd media types that [`TestApp::call`] would not produce.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(body.into()).expect("request")).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        send_to(&self.router, req).await
    }

    /// Sends a [`Form`] as `multipart/form-data`, authenticated as `token`.
    pub async fn upload(&self, method: &str, path: &str, token: &str, form: Form) -> Reply {
        self.raw(
            method,
            path,
            token,
            Some(&Form::content_type()),
            form.finish(),
        )
        .await
    }

    /// `GET` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    /// `POST` JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Every item of a cursor-paginated list, following `next_cursor` 200 at a time.
    pub async fn all(&self, token: &str, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = self
                .get(&format!("{path}{sep}limit=200&cursor={cursor}"), token)
                .await;
            r.expect(200);
            out.extend(r.json["items"].as_array().expect("items").iter().cloned());
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
    }

    /// Waits (in real time, about 30 s at most) until job `id` is `succeeded`, `dead` or
    /// `cancelled`; returns it as the API shows it to `token`.
    pub async fn finished_job(&self, token: &str, id: i64) -> Value {
        for _ in 0..1500 {
            let r = self.get(&format!("/api/v1/jobs/{id}"), token).await;
            if matches!(
                r.json["state"].as_str(),
                Some("succeeded" | "dead" | "cancelled")
            ) {
                return r.json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {id} did not finish");
    }
}

/// A fake service's answer (status, headers, body: what `fake-google` and `fake-jira` return) as
/// an axum response; a header axum cannot carry is left out.
pub(crate) fn fake_answer(
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::try_from(name),
            header::HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}
