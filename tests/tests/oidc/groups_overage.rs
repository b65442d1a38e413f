//! Entra ID's groups overage: the ID token carries `_claim_names.groups` / `_claim_sources`
//! instead of `groups` (the peer's provider rewrites its real, signed token that way), and the
//! host reads the groups from Microsoft Graph — the peer's fake Graph, which accepts only a
//! valid access token this provider issued and the documented request body — following
//! `@odata.nextLink` pages. When Graph fails, the sign-in is refused and no role is given; the
//! access token appears in no answer, no audit entry and no log line.

use agentic_tests::{stories, TestApp};
use serde_json::{json, Value};

use super::{refused, sso, Sso};
use crate::logs::Logs;

/// The ID token of the next sign-in as Entra ID sends it to a person in too many groups.
fn overage() -> Value {
    json!({
        "claims": {
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {
                "endpoint": "https://graph.windows.net/tenant/users/object/getMemberObjects"}},
        },
        "drop": ["groups"],
    })
}

/// A host whose `corp` provider reads overage groups from the peer's fake Graph; Olga's token
/// would only say "staff", Graph knows she is in `platform-admins` among many others.
async fn entra(backend: agentic_tests::Backend) -> Option<Sso> {
    let s = sso(backend, |p| {
        p.graph_url = format!("{}/__graph/v1.0", p.issuer)
    })
    .await?;
    let groups: Vec<String> = (0..7)
        .map(|i| format!("00000000-0000-0000-0000-00000000000{i}"))
        .chain(["platform-admins".to_owned()])
        .collect();
    s.peer
        .set_user(
            "olga",
            json!({"email": "olga@corp.example", "email_verified": true,
        "name": "Olga", "groups": ["staff"], "graph_groups": groups}),
        )
        .await;
    Some(s)
}

/// [`overage`] with more claims in the rewritten token.
fn overage_with(claims: Value) -> Value {
    let mut wish = overage();
    for (k, v) in claims.as_object().expect("claims") {
        wish["claims"][k] = v.clone();
    }
    wish
}

async fn audit_text(app: &TestApp) -> String {
    let admin = app.admin().await;
    app.all(&admin.token, "/api/v1/audit")
        .await
        .iter()
        .map(Value::to_string)
        .collect()
}

stories! {
    async fn groups_left_out_of_the_token_are_read_from_graph(backend) {
        let Some(s) = entra(backend).await else { return };
        s.peer.graph(json!({"page_size": 3})).await;
        s.peer.tamper(overage()).await;
        let tokens = s.session("olga").await;
        assert_eq!(tokens["user"]["role"], "administrator", "platform-admins came from Graph");
        let log = s.peer.graph_log().await;
        // 8 groups, 3 a page: the first POST and two nextLink pages, all with the token.
        assert_eq!(log["calls"], 3, "{log}");
        assert_eq!(log["tokens"].as_array().map(Vec::len), Some(3), "{log}");
        // Without the overage the token's own groups decide (no rule matches "staff").
        s.peer.graph(json!({})).await;
        refused(&s.sign_in("olga").await, 403);
        assert_eq!(s.peer.graph_log().await["calls"], 0, "no overage, no Graph call");
    }

    async fn graph_failing_refuses_the_sign_in_and_gives_no_role(backend) {
        let Some(s) = entra(backend).await else { return };
        let logs = Logs::default();
        let capture = logs.capture();
        let cases = [
            ("unavailable", "503"),
            ("unauthorized", "401"),
            ("malformed", "malformed"),
            ("huge", "larger than"),
            ("foreign_link", "another host"),
        ];
        let mut tokens = Vec::new();
        let mut answers = String::new();
        for (fail, says) in cases {
            s.peer.graph(json!({"fail": fail})).await;
            s.peer.tamper(overage()).await;
            let landing = s.sign_in("olga").await;
            let problem = refused(&landing, 502);
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("Microsoft Graph") && detail.contains(says), "{fail}: {problem}");
            answers.push_str(&problem.to_string());
            let log = s.peer.graph_log().await;
            tokens.extend(log["tokens"].as_array().cloned().unwrap_or_default());
        }
        assert_eq!(s.app.count("oidc_identities").await, 0, "no one got in");
        let admin = s.app.admin().await;
        let failed = s.app.all(&admin.token, "/api/v1/audit?action=auth.sso_failed").await;
        assert_eq!(failed.len(), cases.len());
        // The fake Graph saw the access tokens (all but the 401 case accepted them); none of
        // them is in an answer or the audit trail.
        assert!(tokens.len() >= cases.len() - 1, "{tokens:?}");
        drop(capture);
        let logged = logs.text();
        assert!(logged.contains("Microsoft Graph"), "the capture sees the host: {logged}");
        let audit = audit_text(&s.app).await;
        for token in tokens.iter().filter_map(Value::as_str) {
            assert!(!answers.contains(token) && !audit.contains(token), "the access token leaked");
            assert!(!logged.contains(token), "the access token is in the log");
        }
        // Graph answering again, the same person gets in with the role Graph's groups give.
        s.peer.graph(json!({})).await;
        s.peer.tamper(overage()).await;
        assert_eq!(s.session("olga").await["user"]["role"], "administrator");
    }

    async fn a_tenant_or_domain_not_admitted_never_reaches_graph(backend) {
        // Regression: the groups were read from Graph (with the person's access token) before
        // the provider's tenant and e-mail domain rules refused the token.
        let Some(s) = sso(backend, |p| {
            p.graph_url = format!("{}/__graph/v1.0", p.issuer);
            p.allowed_tenants = vec!["tenant-a".into()];
        })
        .await else { return };
        s.peer.set_user("olga", json!({"email": "olga@corp.example", "email_verified": true,
            "name": "Olga", "groups": ["staff"], "graph_groups": ["platform-admins"]})).await;
        s.peer.graph(json!({})).await;
        s.peer.tamper(overage_with(json!({"tid": "tenant-b"}))).await;
        let landing = s.sign_in("olga").await;
        let problem = refused(&landing, 403);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("tenant")), "{problem}");
        assert_eq!(s.peer.graph_log().await["calls"], 0, "Graph was asked for a refused tenant");
        // The admitted tenant's overage token does go to Graph, and the groups decide.
        s.peer.tamper(overage_with(json!({"tid": "tenant-a"}))).await;
        assert_eq!(s.session("olga").await["user"]["role"], "administrator");
        assert_eq!(s.peer.graph_log().await["calls"], 1);

        // The same for an e-mail domain the provider does not admit.
        let Some(s) = sso(backend, |p| {
            p.graph_url = format!("{}/__graph/v1.0", p.issuer);
            p.allowed_email_domains = vec!["admitted.example".into()];
        })
        .await else { return };
        s.peer.set_user("olga", json!({"email": "olga@corp.example", "email_verified": true,
            "name": "Olga", "groups": ["staff"], "graph_groups": ["platform-admins"]})).await;
        s.peer.graph(json!({})).await;
        s.peer.tamper(overage()).await;
        let landing = s.sign_in("olga").await;
        let problem = refused(&landing, 403);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("corp.example")), "{problem}");
        assert_eq!(s.peer.graph_log().await["calls"], 0, "Graph was asked for a refused domain");
        assert_eq!(s.app.count("oidc_identities").await, 0);
    }
}
