//! A fake HTTP service for tests: a thread on `127.0.0.1:<free port>` that answers every request
//! with a closure and remembers what it was asked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::http::url::decode;

/// Longest request head the fake accepts.
const MAX_HEAD: usize = 64 * 1024;

/// A request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query, percent-decoded.
    pub path: String,
    /// The path as sent, percent-escapes kept: tells `group%2Fproject` (one segment, as GitLab
    /// wants a namespaced project) from `group/project`.
    pub raw_path: String,
    /// Query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeRequest {
    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake answers.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeResponse {
    /// Status code.
    pub status: u16,
    /// Headers besides `content-length` and `connection`, which the fake adds.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeResponse {
    /// A `200` with `value` as a JSON body.
    pub fn json(value: &Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// An empty response with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The same response with another status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same response with one more header (e.g. `Retry-After`).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same response with a text body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A running fake service; it stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts serving on a free loopback port, answering each request with `handler`. A
    /// handler that panics (a failed assertion) answers 500 with the panic message.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound: the test cannot run without one.
    pub fn start<F>(handler: F) -> Self
    where
        F: Fn(&FakeRequest) -> FakeResponse + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake server: cannot bind 127.0.0.1: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fake server: no local address: {e}"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for connection in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(connection) = connection {
                        serve(connection, &handler, &requests);
                    }
                }
            })
        };
        Self {
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve<F>(mut connection: TcpStream, handler: &F, requests: &Mutex<Vec<FakeRequest>>)
where
    F: Fn(&FakeRequest) -> FakeResponse,
{
    let _ = connection.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(request) = read_request(&mut connection) else {
        return;
    };
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    let response = catch_unwind(AssertUnwindSafe(|| handler(&request))).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        FakeResponse::status(500).with_body(format!("fake handler panicked: {why}"))
    });
    let mut head = format!(
        "HTTP/1.1 {} -\r\ncontent-length: {}\r\nconnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = connection
        .write_all(head.as_bytes())
        .and_then(|()| connection.write_all(&response.body));
}

fn read_request(connection: &mut TcpStream) -> Option<FakeRequest> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if data.len() > MAX_HEAD {
            return None;
        }
        let n = connection.read(&mut buf).ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = connection.read(&mut buf).ok().filter(|&n| n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect();
    Some(FakeRequest {
        method,
        raw_path: path.to_owned(),
        path: decode(path),
        query,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::http::{self, Request};
    use serde_json::json;

    #[test]
    fn the_client_and_the_fake_exchange_requests_and_json() {
        let server = FakeServer::start(|request| {
            FakeResponse::json(&json!({
                "method": request.method,
                "after": request.query("after"),
                "body": String::from_utf8_lossy(&request.body),
            }))
        });
        let answer: Value = http::post_json(
            &format!("{}/items?after=a%20b", server.url()),
            &json!({"title": "x"}),
        )
        .expect("answer");
        assert_eq!(
            answer,
            json!({"method": "POST", "after": "a b", "body": "{\"title\":\"x\"}"})
        );
        let seen = &server.requests()[0];
        assert_eq!(seen.path, "/items");
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.header("accept"), Some("application/json"));
    }

    #[test]
    fn credential_headers_never_leave_the_connector() {
        let server = FakeServer::start(|_| FakeResponse::status(204));
        let response = Request::get(server.url())
            .header("Authorization", "Bearer stolen")
            .header("Cookie", "session=1")
            .header("x-trace", "1")
            .send()
            .expect("sent");
        assert_eq!(response.status, 204);
        let seen = &server.requests()[0];
        assert_eq!(seen.header("authorization"), None);
        assert_eq!(seen.header("cookie"), None);
        assert_eq!(seen.header("x-trace"), Some("1"));
    }

    #[test]
    fn redirects_are_followed_within_the_origin_only() {
        let server = FakeServer::start(|request| match request.path.as_str() {
            "/old" => FakeResponse::status(301).with_header("Location", "/new"),
            "/form" => FakeResponse::status(303).with_header("Location", "new"),
            "/away" => FakeResponse::status(302).with_header("Location", "http://elsewhere.test/"),
            "/loop" => FakeResponse::status(307).with_header("Location", "/loop"),
            _ => FakeResponse::json(&json!({"method": request.method})),
        });
        let url = |path: &str| format!("{}{path}", server.url());
        let moved = Request::get(url("/old")).send().expect("followed");
        assert_eq!((moved.status, moved.url.clone()), (200, url("/new")));
        let posted = Request::post(url("/form"))
            .body("x")
            .send()
            .expect("followed");
        assert_eq!(posted.json::<Value>(), Ok(json!({"method": "GET"})));
        match Request::get(url("/away"))
            .send()
            .and_then(|r| r.error_for_status())
        {
            Err(Error::Config(m)) => assert!(m.contains("elsewhere.test"), "{m}"),
            other => panic!("{other:?}"),
        }
        let looping = Request::get(url("/loop")).send().expect("gave up");
        assert_eq!(looping.status, 307);
        let hops = server
            .requests()
            .iter()
            .filter(|r| r.path == "/loop")
            .count();
        assert_eq!(hops, 1 + crate::http::MAX_REDIRECTS);
    }

    #[test]
    fn statuses_from_the_service_become_typed_errors() {
        let server = FakeServer::start(|request| match request.path.as_str() {
            "/slow" => FakeResponse::status(429).with_header("Retry-After", "17"),
            "/gone" => FakeResponse::status(404),
            "/panic" => panic!("boom"),
            _ => FakeResponse::status(401),
        });
        let get = |path: &str| http::get_json::<Value>(&format!("{}{path}", server.url()));
        assert!(matches!(
            get("/slow"),
            Err(Error::RateLimited {
                retry_after_secs: 17,
                ..
            })
        ));
        assert!(matches!(get("/gone"), Err(Error::NotFound(_))));
        assert!(matches!(get("/secret"), Err(Error::Auth(_))));
        match get("/panic") {
            Err(Error::Transient(m)) => assert!(m.contains("boom"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
