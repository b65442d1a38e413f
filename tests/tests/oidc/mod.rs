//! Single sign-on against a real OpenID provider (`oidc-provider` on node, see
//! `agentic_tests::oidc_peer`): the whole browser round trip through the provider's own login and
//! consent forms, what the host refuses, key rotation, roles from groups at every sign-in, and
//! logout (RP-initiated and back-channel).
//!
//! [`scim_link`]: a SCIM-provisioned person's first sign-in linked by the provider's own id;
//! [`groups_overage`]: Entra ID's groups overage read from (the peer's fake) Microsoft Graph;
//! [`client_secret`]: the client secret kept in the vault, and sign-in starts throttled.

mod client_secret;
mod groups_overage;
mod scim_link;

use std::time::Duration;

use agentic_host::auth::oidc::config::{ProviderConfig, RoleRule};
use agentic_host::rbac::Role;
use agentic_tests::oidc_peer::{Browser, Landing, OidcPeer};
use agentic_tests::{stories, Reply, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const CLIENT_ID: &str = "agentic-host";
const CLIENT_SECRET: &str = "sso-stories-client-secret-6c1d0e8f2a4b9371";
const FRONTEND: &str = "http://frontend.test/signed-in";

/// A host on a real port, configured for the provider `corp`, and the provider.
struct Sso {
    app: TestApp,
    peer: OidcPeer,
    base: String,
}

fn people() -> Value {
    json!({
        "alice": {"email": "alice@corp.example", "email_verified": true, "name": "Alice Admin",
                  "groups": ["platform-admins", "staff"]},
        "bob": {"email": "bob@corp.example", "email_verified": true, "name": "Bob Builder",
                "groups": ["engineers"]},
        "carol": {"email": "carol@corp.example", "email_verified": true, "groups": ["visitors"]},
    })
}

async fn sso(
    backend: agentic_tests::Backend,
    tweak: impl FnOnce(&mut ProviderConfig),
) -> Option<Sso> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let clients = json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{base}/api/v1/auth/oidc/corp/callback")],
        "post_logout_redirect_uris": [FRONTEND],
        "backchannel_logout_uri": format!("{base}/api/v1/auth/oidc/corp/backchannel-logout"),
        "backchannel_logout_session_required": true,
    }]);
    let peer = OidcPeer::start(clients, people()).await?;
    let mut provider = ProviderConfig {
        display_name: Some("Corp SSO".into()),
        issuer: peer.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: ["openid", "email", "profile", "groups"]
            .map(String::from)
            .to_vec(),
        role_rules: vec![
            RoleRule {
                claim: "groups".into(),
                value: "platform-admins".into(),
                role: Role::Administrator,
            },
            RoleRule {
                claim: "groups".into(),
                value: "engineers".into(),
                role: Role::TechnicalLead,
            },
        ],
        ..Default::default()
    };
    tweak(&mut provider);
    let app = TestApp::start_with(backend, |c| {
        c.public_url = Some(base.clone());
        c.auth.oidc.frontend_url = Some(FRONTEND.into());
        c.auth.oidc.providers.insert("corp".into(), provider);
        // People provisioned over SCIM get their role by the same rules.
        c.auth.scim.role_rules_from = Some("corp".into());
    })
    .await;
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Some(Sso { app, peer, base })
}

impl Sso {
    fn login_url(&self) -> String {
        format!("{}/api/v1/auth/oidc/corp/login", self.base)
    }

    /// A fresh browser signs `login` in at the provider; where it ended.
    async fn sign_in(&self, login: &str) -> Landing {
        Browser::new()
            .visit(&self.login_url(), login, FRONTEND)
            .await
    }

    /// Signs `login` in and exchanges the one-time code: the token response.
    async fn session(&self, login: &str) -> Value {
        let landing = self.sign_in(login).await;
        let r = self.exchange(&landing).await;
        r.expect(200);
        r.json
    }

    /// Signs `login` in at the provider and stops at its redirect to the host's callback.
    async fn to_callback(&self, login: &str) -> url::Url {
        let callback = format!("{}/api/v1/auth/oidc/corp/callback", self.base);
        match Browser::new()
            .visit(&self.login_url(), login, &callback)
            .await
        {
            Landing::Redirected(url) => url,
            other => panic!("the provider did not redirect to the callback: {other:?}"),
        }
    }

    async fn exchange(&self, landing: &Landing) -> Reply {
        let Landing::Redirected(url) = landing else {
            panic!("the sign-in did not reach the front end: {landing:?}");
        };
        assert_eq!(url.query(), None, "nothing secret in the query: {url}");
        let fragment = url.fragment().expect("fragment");
        let code = fragment.strip_prefix("oidc_code=").expect("oidc_code");
        self.app
            .call(
                "POST",
                "/api/v1/auth/oidc/exchange",
                None,
                Some(json!({"code": code})),
            )
            .await
    }
}

/// The status of a sign-in that ended on a page of the host (a problem), with the problem.
#[track_caller]
fn refused(landing: &Landing, status: u16) -> &Value {
    match landing {
        Landing::Page {
            status: s,
            json,
            text,
        } => {
            assert_eq!(*s, status, "{text}");
            assert!(json["detail"].is_string(), "{text}");
            json
        }
        other => panic!("expected a {status} problem, got {other:?}"),
    }
}

stories! {
    async fn sign_in_round_trip_gives_the_platforms_own_session(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        // The redirect carries state, nonce and a PKCE S256 challenge.
        let start = s.app.call("GET", "/api/v1/auth/oidc/corp/login", None, None).await;
        start.expect(303);
        let to: url::Url = start.headers["location"].to_str().expect("location").parse().expect("url");
        assert!(to.as_str().starts_with(&s.peer.issuer), "{to}");
        let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert!(q["state"].len() >= 40 && q["nonce"].len() >= 40 && q["code_challenge"].len() == 43);
        assert!(q["scope"].split(' ').any(|x| x == "openid"));

        let landing = s.sign_in("alice").await;
        let tokens = s.exchange(&landing).await;
        tokens.expect(200);
        assert_eq!(tokens.json["user"]["email"], "alice@corp.example");
        assert_eq!(tokens.json["user"]["role"], "administrator");
        assert_eq!(tokens.json["user"]["display_name"], "Alice Admin");
        let access = tokens.json["access_token"].as_str().expect("token");
        let me = s.app.get("/api/v1/auth/me", access).await;
        me.expect(200);
        assert_eq!(me.json["user"]["email"], "alice@corp.example");
        // The one-time code is spent.
        s.exchange(&landing).await.problem(401);
        // The refresh token works as after a password login.
        let refresh = tokens.json["refresh_token"].as_str().expect("refresh");
        s.app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await.expect(200);
        // The person has no password here; the local administrator (break-glass) still logs in.
        s.app.call("POST", "/api/v1/auth/login", None,
            Some(json!({"email": "alice@corp.example", "password": "any-password"}))).await.problem(401);
        s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        // A second sign-in is the same person (linked by issuer and subject).
        let again = s.session("alice").await;
        assert_eq!(again["user"]["id"], tokens.json["user"]["id"]);
        let admin = s.app.admin().await;
        let audit = s.app.get("/api/v1/audit?action=user.provisioned", &admin.token).await;
        audit.expect(200);
        assert_eq!(audit.json["items"].as_array().map(Vec::len), Some(1), "{}", audit.text);
        let listed = s.app.call("GET", "/api/v1/auth/oidc/providers", None, None).await;
        listed.expect(200);
        assert_eq!(listed.json["items"][0]["name"], "corp");
        assert_eq!(listed.json["items"][0]["display_name"], "Corp SSO");
    }

    async fn the_role_follows_the_groups_at_every_sign_in(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        let first = s.session("alice").await;
        assert_eq!(first["user"]["role"], "administrator");
        let bob = s.session("bob").await;
        assert_eq!(bob["user"]["role"], "technical_lead");
        // Alice leaves the admin group at the provider: her next sign-in demotes her.
        s.peer.set_user("alice", json!({"email": "alice@corp.example", "email_verified": true,
            "name": "Alice Admin", "groups": ["engineers"]})).await;
        let second = s.session("alice").await;
        assert_eq!(second["user"]["id"], first["user"]["id"]);
        assert_eq!(second["user"]["role"], "technical_lead");
        let token = second["access_token"].as_str().expect("token");
        s.app.get("/api/v1/users", token).await.problem(403);
        // No rule matches and there is no default role: refused.
        let carol = s.sign_in("carol").await;
        refused(&carol, 403);
        let admin = s.app.admin().await;
        let mapped = s.app.get("/api/v1/audit?action=user.role_mapped", &admin.token).await;
        assert_eq!(mapped.json["items"].as_array().map(Vec::len), Some(1), "{}", mapped.text);
    }

    async fn tokens_that_break_the_rules_are_refused(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs() as i64;
        let cases = [
            ("wrong nonce", json!({"claims": {"nonce": "not-the-nonce-we-sent"}})),
            ("no nonce", json!({"drop": ["nonce"]})),
            ("wrong aud", json!({"claims": {"aud": "another-client"}})),
            ("other azp", json!({"claims": {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}})),
            ("several aud, no azp", json!({"claims": {"aud": [CLIENT_ID, "another-client"]}, "drop": ["azp"]})),
            ("expired", json!({"claims": {"exp": now - 60, "iat": now - 120}})),
            ("iat in the future", json!({"claims": {"iat": now + 3600, "exp": now + 7200}})),
            ("iat long ago", json!({"claims": {"iat": now - 7200}})),
            ("unknown issuer", json!({"claims": {"iss": "https://idp.evil.example"}})),
            ("wrong at_hash", json!({"claims": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}})),
            ("alg none", json!({"alg": "none"})),
            ("HS256 with the client secret", json!({"alg": "HS256"})),
        ];
        let count = cases.len();
        for (case, wish) in cases {
            s.peer.tamper(wish).await;
            let landing = s.sign_in("alice").await;
            let problem = refused(&landing, 401);
            assert!(problem["detail"].as_str().is_some_and(|d| d.contains("rejected")), "{case}: {problem}");
        }
        let admin = s.app.admin().await;
        let failed = s.app.all(&admin.token, "/api/v1/audit?action=auth.sso_failed").await;
        assert_eq!(failed.len(), count);
        assert_eq!(s.app.count("oidc_identities").await, 0, "no one was provisioned");
        // Untampered, the same person gets in.
        assert_eq!(s.session("alice").await["user"]["role"], "administrator");
    }

    async fn a_state_or_code_works_once(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        let first = s.to_callback("alice").await;
        let path = &first.as_str()[s.base.len()..];
        let r = s.app.call("GET", path, None, None).await;
        r.expect(303);
        // The same callback again: the state is spent.
        s.app.call("GET", path, None, None).await.problem(400);
        // The first code with a fresh state: the provider refuses it (spent, and PKCE differs).
        let second = s.to_callback("alice").await;
        let pairs = |u: &url::Url| u.query_pairs().into_owned().collect::<std::collections::HashMap<_, _>>();
        let (a, b) = (pairs(&first), pairs(&second));
        let forged = format!("/api/v1/auth/oidc/corp/callback?state={}&code={}&iss={}",
            b["state"], a["code"], url::form_urlencoded::byte_serialize(s.peer.issuer.as_bytes()).collect::<String>());
        s.app.call("GET", &forged, None, None).await.problem(401);
        // No state at all, or an unknown provider.
        s.app.call("GET", "/api/v1/auth/oidc/corp/callback?code=x", None, None).await.problem(400);
        s.app.call("GET", "/api/v1/auth/oidc/nope/login", None, None).await.problem(404);
    }

    async fn the_provider_rotating_its_key_needs_no_restart(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        s.session("alice").await;
        s.peer.rotate_key().await;
        // The new key's id is unknown to the cached JWKS: the host fetches it again.
        assert_eq!(s.session("bob").await["user"]["role"], "technical_lead");
    }

    async fn existing_accounts_are_linked_only_when_allowed(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        let admin = s.app.admin().await;
        s.app.post("/api/v1/users", &admin.token, json!({"email": "bob@corp.example",
            "display_name": "Local Bob", "password": "local-password-1234", "role": "support_engineer"}))
            .await.expect(201);
        refused(&s.sign_in("bob").await, 409);

        let Some(linking) = sso(backend, |p| p.link_verified_email = true).await else { return };
        let admin = linking.app.admin().await;
        let created = linking.app.post("/api/v1/users", &admin.token, json!({"email": "bob@corp.example",
            "display_name": "Local Bob", "password": "local-password-1234", "role": "support_engineer"}))
            .await;
        created.expect(201);
        let bob = linking.session("bob").await;
        assert_eq!(bob["user"]["id"], created.json["id"]);
        assert_eq!(bob["user"]["role"], "technical_lead");
        // An unverified address is never linked.
        linking.peer.set_user("carol", json!({"email": "carol@corp.example", "email_verified": false,
            "groups": ["engineers"]})).await;
        linking.app.post("/api/v1/users", &admin.token, json!({"email": "carol@corp.example",
            "display_name": "Local Carol", "password": "local-password-1234", "role": "support_engineer"}))
            .await.expect(201);
        refused(&linking.sign_in("carol").await, 409);
    }

    async fn logout_ends_the_session_here_and_at_the_provider(backend) {
        let Some(s) = sso(backend, |_| {}).await else { return };
        // RP-initiated: the session ends here, the browser is sent to end_session_endpoint.
        let tokens = s.session("alice").await;
        let token = tokens["access_token"].as_str().expect("token");
        let out = s.app.call("POST", "/api/v1/auth/oidc/logout", Some(token), None).await;
        out.expect(200);
        let end: url::Url = out.json["end_session_url"].as_str().expect("end_session_url").parse().expect("url");
        assert!(end.as_str().starts_with(&format!("{}/session/end", s.peer.issuer)), "{end}");
        let q: std::collections::HashMap<_, _> = end.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["post_logout_redirect_uri"], FRONTEND);
        s.app.get("/api/v1/auth/me", token).await.problem(401);

        // Back-channel: the person logs out at the provider, which tells the host.
        let browser = Browser::new();
        let landing = browser.visit(&s.login_url(), "bob", FRONTEND).await;
        let tokens = s.exchange(&landing).await;
        tokens.expect(200);
        let token = tokens.json["access_token"].as_str().expect("token");
        let other = s.session("alice").await;
        s.app.get("/api/v1/auth/me", token).await.expect(200);
        let end = format!("{}/session/end?client_id={CLIENT_ID}", s.peer.issuer);
        browser.visit(&end, "bob", "http").await;
        let mut ended = false;
        for _ in 0..50 {
            if s.app.get("/api/v1/auth/me", token).await.status.as_u16() == 401 {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ended, "the back-channel logout did not end bob's session");
        // Only bob's: alice's session goes on.
        let alice = other["access_token"].as_str().expect("token");
        s.app.get("/api/v1/auth/me", alice).await.expect(200);
        // A logout token not signed by the provider is refused.
        let forged = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&json!({
            "iss": s.peer.issuer, "aud": CLIENT_ID, "sub": "alice", "iat": 0, "jti": "x",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}})));
        let r = s.app.send(
            axum::http::Request::post("/api/v1/auth/oidc/corp/backchannel-logout")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(format!("logout_token={forged}")))
                .expect("request"),
        ).await;
        r.problem(400);
        s.app.get("/api/v1/auth/me", alice).await.expect(200);
    }
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}
