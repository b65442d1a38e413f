//! The fake JIRA (`fake-jira`: Jira Cloud REST v3 and Data Center REST v2, every request checked
//! against Atlassian's OpenAPI document, shared with the JIRA connector's native tests) served
//! over HTTP for syncs through the host, and the site the stories sync.

use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

pub use fake_jira::{
    comment_text, descriptions, Comment, Data, Deployment, History, Issue, Jira, Link, Seen, Text,
    User, LINK_TYPES, PRIORITIES, PROJECTS, STATUSES, T0, TYPES,
};

/// The stories' JIRA site: `issues` generated issues ([`Data::generate`]), the JIRA user in
/// UTC+2, accepting only `authorization`; five users, the connection's showing its e-mail; two
/// comments shown per issue in a search; issue 0 described by hand instead of with the ADF
/// kitchen sink (the stories compare every text's Markdown, on Data Center too, where the kitchen
/// sink's wiki markup keeps less of it); a workflow whose transitions are named after their
/// statuses (ids 11, 21, 31).
pub fn generate(deployment: Deployment, issues: usize, authorization: &str) -> Data {
    let mut data = Data::generate(deployment, issues, 120);
    data.authorization = Some(authorization.to_owned());
    data.users.truncate(5);
    data.users[0].email = Some("user0@example.com".into());
    data.embedded_comments = 2;
    if let Some(first) = data.issues.first_mut() {
        first.description = descriptions().into_iter().next();
    }
    data.transitions = [("11", "Reopen"), ("21", "Start Progress"), ("31", "Done")];
    data
}

/// The fake, running; it derefs to the fake itself (data, requests seen, violations, failures).
#[derive(Debug, Clone)]
pub struct FakeJira {
    /// `http://127.0.0.1:<port>`: the connection's base URL.
    pub url: String,
    jira: Jira,
}

impl FakeJira {
    /// Serves `data` on a free port.
    pub async fn start(data: Data) -> Self {
        let jira = Jira::new(data);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(jira.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            jira,
        }
    }
}

impl Deref for FakeJira {
    type Target = Jira;

    fn deref(&self) -> &Jira {
        &self.jira
    }
}

async fn handle(
    State(jira): State<Jira>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = fake_jira::Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        raw_path: uri.path().to_owned(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: (headers.iter())
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    // The fake holds a lock while it answers: off the async threads.
    let answer = tokio::task::spawn_blocking(move || jira.handle(&request))
        .await
        .expect("the fake answers");
    crate::http::fake_answer(answer.status, answer.headers, answer.body)
}
