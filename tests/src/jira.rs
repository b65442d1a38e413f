//! The fake JIRA (`fake-jira`: Jira Cloud REST v3 and Data Center REST v2, every request checked
//! against Atlassian's OpenAPI document, shared with the JIRA connector's native tests) served
//! over HTTP for syncs through the host, and the site the stories sync; how a story installs the
//! JIRA component in a project ([`project_with_jira`]) and connects it to the fake ([`connect`])
//! with the account it syncs as ([`EMAIL`], [`API_TOKEN`]).
//!
//! [`project_with_jira`]: crate::jira::project_with_jira
//! [`connect`]: crate::jira::connect
//! [`EMAIL`]: crate::jira::EMAIL
//! [`API_TOKEN`]: crate::jira::API_TOKEN

use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use crate::{plugin_manifest, Reply, TestApp};

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

/// The e-mail of the JIRA account the stories' connections sync as (with [`API_TOKEN`]).
pub const EMAIL: &str = "sync-bot@acme.example";
/// That account's API token: the host injects it as HTTP Basic ([`basic`]); it must appear
/// nowhere else.
pub const API_TOKEN: &str = "ATATT3xFfGF0-api-token-6d1f0c";

/// The `authorization` header of HTTP Basic for `user` and `secret`, as the fake expects it
/// ([`generate`]).
pub fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

/// Installs the JIRA component signed by a newly trusted publisher (as a third party would
/// ship it) and enables it in a new project owned by `owner`.
pub async fn project_with_jira(app: &TestApp, admin: &str, owner: i64) -> i64 {
    let manifest = plugin_manifest("jira");
    (app.project_with_plugin(admin, "jira", &manifest, ("Issue tracking", owner, &[]))).await
}

/// Creates the connection (as the administrator: a loopback JIRA needs private networks
/// allowed) and checks it.
pub async fn connect(
    app: &TestApp,
    admin: &str,
    project: i64,
    fake: &FakeJira,
    deployment: &str,
    credential: Value,
) -> (i64, Reply) {
    let url = format!("/api/v1/projects/{project}/connections");
    let created = app
        .post(
            &url,
            admin,
            json!({
                "plugin_id": "jira", "name": "jira", "base_url": fake.url,
                "config": {"deployment": deployment, "page_size": 5},
                "allow_private_network": true, "credential": credential,
            }),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    let check = app
        .post(&format!("{url}/{cid}/check"), admin, json!({}))
        .await;
    check.expect(200);
    (cid, check)
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
