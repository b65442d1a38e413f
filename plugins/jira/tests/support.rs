//! The fake JIRA (`fake-jira`, shared with the host's stories) served over the SDK's fake HTTP
//! server, and a harness on it.

#![allow(dead_code, unused_imports)] // The benchmark uses part of it.

use std::ops::Deref;

use agentic_sdk::testing::{Credential, FakeRequest, FakeResponse, FakeServer, Harness};
pub use fake_jira::{Data, Deployment, History, Jira, Response, STATUSES, T0};
use jira::JiraConnector;
use serde_json::{json, Value};

/// A fake JIRA on a local port; it derefs to the fake itself (data, requests, violations).
pub struct FakeJira {
    jira: Jira,
    server: FakeServer,
    credential: Option<Credential>,
}

impl FakeJira {
    /// A fake of `deployment` with `issues` generated issues, its user in UTC+1, that answers
    /// only requests carrying the credential of [`FakeJira::credential`]: an API token (Cloud)
    /// or a personal access token (Data Center).
    pub fn start(deployment: Deployment, issues: usize) -> Self {
        let credential = match deployment {
            Deployment::Cloud => Credential::ApiToken {
                email: "bot@example.com".into(),
                token: "ATATT3xFfGF0-cloud-api-token".into(),
            },
            Deployment::DataCenter => Credential::Bearer("NjE2OTk2-data-center-pat".into()),
        };
        let mut data = Data::generate(deployment, issues, 60);
        data.authorization = credential.headers().first().map(|(_, v)| v.clone());
        Self::serve(data, Some(credential))
    }

    /// A fake serving `data` (to anyone, unless `data.authorization` says otherwise).
    pub fn with_data(data: Data) -> Self {
        Self::serve(data, None)
    }

    fn serve(data: Data, credential: Option<Credential>) -> Self {
        let jira = Jira::new(data);
        let served = jira.clone();
        let server = FakeServer::start(move |request| served.handle(request));
        Self {
            jira,
            server,
            credential,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn deployment(&self) -> Deployment {
        self.with(|d| d.deployment)
    }

    /// The credential requests must carry, if any: what the connection would hold.
    pub fn credential(&self) -> Option<Credential> {
        self.credential.clone()
    }

    /// A configuration for the connector on this JIRA (whose address is the connection's base
    /// URL: see [`FakeJira::harness`]).
    pub fn config(&self, page_size: u32) -> Value {
        json!({
            "deployment": if self.deployment() == Deployment::Cloud { "cloud" } else { "data-center" },
            "page_size": page_size,
        })
    }

    /// The connector, called as for a connection whose base URL is this JIRA and whose
    /// credential is [`FakeJira::credential`] (put on each request as the host does).
    pub fn harness(&self) -> Harness<JiraConnector> {
        let harness = Harness::new(JiraConnector).with_base_url(self.url());
        match self.credential() {
            Some(credential) => harness.with_credential(credential),
            None => harness,
        }
    }

    pub fn requests(&self) -> Vec<FakeRequest> {
        self.server.requests()
    }

    /// Fails the test if any request did not fit the document.
    pub fn assert_valid(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "requests outside Atlassian's OpenAPI document:\n{}",
            violations.join("\n")
        );
        assert!(!self.requests().is_empty(), "the fake saw no request");
    }
}

impl Deref for FakeJira {
    type Target = Jira;

    fn deref(&self) -> &Jira {
        &self.jira
    }
}
