//! The fake Google served over the SDK's fake HTTP server, and a harness on it.

use agentic_sdk::testing::{FakeResponse, FakeServer, Harness};
use fake_google::{Data, Google};
use google::GoogleConnector;
use serde_json::{json, Value};

/// A fake Google with `files` generated files, served, and a harness whose connection's base
/// URL is the fake, and whose service origins `sheets` and `docs` are the same fake on an
/// origin of its own (as Google serves them apart from Drive).
pub struct Fake {
    pub google: Google,
    /// Kept so the servers run as long as the harness.
    pub _server: FakeServer,
    /// The Sheets and Docs origin.
    pub workspace: FakeServer,
    pub harness: Harness<GoogleConnector>,
}

impl Fake {
    pub fn start(files: usize) -> Self {
        Self::with(Data::generate(files))
    }

    pub fn with(data: Data) -> Self {
        Self::with_google(Google::new(data))
    }

    pub fn with_google(google: Google) -> Self {
        let server = serve(&google);
        let workspace = serve(&google);
        let harness = Harness::new(GoogleConnector)
            .with_base_url(format!("{}/", server.url()))
            .with_service_url("sheets", format!("{}/", workspace.url()))
            .with_service_url("docs", format!("{}/", workspace.url()));
        Self {
            google,
            _server: server,
            workspace,
            harness,
        }
    }

    /// Asserts the connector sent nothing Google's documents do not allow.
    pub fn assert_no_violations(&self) {
        assert_eq!(self.google.violations(), Vec::<String>::new());
    }
}

/// `google` served on an origin of its own.
fn serve(google: &Google) -> FakeServer {
    let served = google.clone();
    FakeServer::start(move |request| {
        let answer = served.handle(&fake_google::Request {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            authorization: request.header("authorization").map(str::to_owned),
            content_type: request.header("content-type").map(str::to_owned),
            body: request.body.clone(),
        });
        FakeResponse {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        }
    })
}

/// The folder scope on the generated data, 5 items a page.
pub fn folder_config() -> Value {
    json!({"scope": "folder", "folder_id": Data::FOLDER, "page_size": 5})
}
