//! Credential kinds whose session the host obtains and keeps: OAuth 2.0 authorization code with
//! PKCE (browser consent through the host's start and callback endpoints, refresh before expiry
//! and on 401, rotated refresh tokens), client credentials, Google service accounts (RS256 JWT
//! bearer) and the IBM Jazz form login — each against a fake that follows the provider's public
//! documentation (`agentic_tests::providers`), each through the example connector's `check`.

use std::time::Duration;

use agentic_host::rbac::Role;
use agentic_tests::providers::{Provider, CLIENT_ID, CLIENT_SECRET, JAZZ_PASSWORD, JAZZ_USER};
use agentic_tests::{send_to, stories, Reply, TestApp};
use axum::body::Body;
use axum::http::{header, Request};
use serde_json::{json, Value};

/// A host whose API sessions outlive the hours these stories move the clock by.
async fn start(backend: agentic_tests::Backend) -> TestApp {
    TestApp::start_with(backend, |c| {
        c.auth.access_token_ttl_secs = 86_400;
        c.auth.idle_timeout_secs = 86_400;
        c.auth.absolute_timeout_secs = 86_400;
    })
    .await
}

fn auth_code(provider: &Provider) -> Value {
    json!({
        "kind": "oauth2-authorization-code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": format!("{}/authorize", provider.url),
        "token_url": format!("{}/oauth/token", provider.url),
        "scopes": ["read:jira-work", "offline_access"],
        "authorize_params": {"audience": "api.atlassian.com", "prompt": "consent"},
    })
}

/// A connection of the example connector to the fake's protected API under `path`.
async fn connect(
    app: &TestApp,
    admin: &str,
    project: i64,
    name: &str,
    path: &str,
    credential: Value,
) -> Reply {
    let base = format!("{}{path}", provider_origin(&credential));
    app.post(
        &format!("/api/v1/projects/{project}/connections"),
        admin,
        json!({
            "plugin_id": "example", "name": name, "base_url": base,
            "config": {"base_url": base}, "allow_private_network": true, "credential": credential,
        }),
    )
    .await
}

/// The fake's URL, recovered from whichever endpoint the credential names.
fn provider_origin(credential: &Value) -> String {
    let url = credential["token_url"]
        .as_str()
        .or_else(|| credential["key"]["token_uri"].as_str())
        .or_else(|| credential["login_url"].as_str())
        .expect("an endpoint");
    let parsed = url::Url::parse(url).expect("url");
    parsed.origin().ascii_serialization()
}

async fn check(app: &TestApp, token: &str, project: i64, cid: i64) -> Value {
    let r = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/check"),
            token,
            json!({}),
        )
        .await;
    r.expect(200);
    r.json
}

/// Runs the consent dance: start, the user consents at the fake, the browser comes back.
async fn authorize(
    app: &TestApp,
    token: &str,
    project: i64,
    cid: i64,
    provider: &Provider,
) -> Reply {
    let started = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/authorize"),
            token,
            json!({}),
        )
        .await;
    started.expect(200);
    let code = provider.consent(started.json["authorization_url"].as_str().expect("url"));
    let state = query_param(
        started.json["authorization_url"].as_str().expect("url"),
        "state",
    );
    app.call(
        "GET",
        &format!("/api/v1/oauth/callback?code={code}&state={state}"),
        None,
        None,
    )
    .await
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

stories! {
    async fn authorization_code_with_pkce_refreshes_and_keeps_every_token_secret(backend) {
        let app = start(backend).await;
        let provider = Provider::start().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let mut replies: Vec<Reply> = Vec::new();

        let created = connect(&app, &admin.token, project, "jira", "/api", auth_code(&provider)).await;
        created.expect(201);
        assert_eq!(created.json["credential"], json!({"kind": "oauth2-authorization-code", "status": "pending"}));
        let cid = created.json["id"].as_i64().expect("id");
        replies.push(created);

        // Not authorized yet: the connector is told so by a 401 from the host, not a crash.
        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!((r["ok"].as_bool(), r["error"].as_str()), (Some(false), Some("auth")), "{r}");
        assert_eq!(provider.token_requests("refresh_token"), 0, "nothing to refresh with");

        // The consent URL carries everything a provider needs, and the host's redirect URI.
        let url = format!("/api/v1/projects/{project}/connections/{cid}/authorize");
        let started = app.post(&url, &pm.token, json!({"return_to": "/settings/connections"})).await;
        started.expect(200);
        let consent = started.json["authorization_url"].as_str().expect("url").to_owned();
        assert!(consent.starts_with(&format!("{}/authorize?", provider.url)), "{consent}");
        for (name, value) in [("scope", "read:jira-work offline_access"), ("audience", "api.atlassian.com"), ("prompt", "consent"),
                              ("redirect_uri", "http://127.0.0.1:8080/api/v1/oauth/callback")] {
            assert_eq!(query_param(&consent, name), value, "{name} in {consent}");
        }
        assert_eq!(started.json["redirect_uri"], "http://127.0.0.1:8080/api/v1/oauth/callback");
        let state = query_param(&consent, "state");
        assert!(state.len() >= 43, "256 random bits");
        replies.push(started);

        // Nothing but the right state is accepted, and a refusal by the user is reported.
        app.call("GET", "/api/v1/oauth/callback?code=x&state=forged", None, None).await.problem(400);
        let denied = app.post(&url, &pm.token, json!({})).await;
        let denied_state = query_param(denied.json["authorization_url"].as_str().expect("url"), "state");
        let r = app.call("GET", &format!("/api/v1/oauth/callback?error=access_denied&error_description=User%20declined&state={denied_state}"), None, None).await;
        assert!(r.problem(400)["detail"].as_str().expect("detail").contains("access_denied"));

        // The user consents; the browser comes back to the host, which redeems the code.
        let code = provider.consent(&consent);
        let back = app.call("GET", &format!("/api/v1/oauth/callback?code={code}&state={state}"), None, None).await;
        back.expect(303);
        assert_eq!(back.headers[header::LOCATION], format!("/settings/connections?connection={cid}&status=authorized").as_str());
        assert_eq!(provider.token_requests("authorization_code"), 1, "PKCE verified by the fake");
        // A state works once.
        app.call("GET", &format!("/api/v1/oauth/callback?code={code}&state={state}"), None, None).await.problem(400);
        let view = app.get(&format!("/api/v1/projects/{project}/connections/{cid}"), &pm.token).await;
        assert_eq!(view.json["credential"]["status"], "active", "{}", view.json);
        replies.push(view);

        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!(r["ok"], true, "{r}");
        let first_token = provider.seen().presented.last().cloned().expect("presented");
        assert!(first_token.starts_with("Bearer at-"), "{first_token}");

        // An hour later the token is about to expire: refreshed before use, rotated refresh
        // token stored (the fake accepts each refresh token once).
        app.advance(Duration::from_secs(3600));
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        assert_eq!(provider.token_requests("refresh_token"), 1);
        app.advance(Duration::from_secs(3600));
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true, "the rotated refresh token was kept");
        assert_eq!(provider.token_requests("refresh_token"), 2);

        // The provider revokes the access token early: the 401 makes the host refresh and
        // send the request again, once.
        provider.revoke_access_tokens();
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        assert_eq!(provider.token_requests("refresh_token"), 3);

        // The grant is revoked: the check says auth, the failure is audited with the
        // provider's reason, the view says so, and nobody asks the provider again for a while.
        provider.revoke_access_tokens();
        provider.revoke_refresh_tokens();
        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!((r["ok"].as_bool(), r["error"].as_str()), (Some(false), Some("auth")), "{r}");
        assert_eq!(provider.token_requests("refresh_token"), 4);
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], false);
        assert_eq!(provider.token_requests("refresh_token"), 4, "a refused grant is not retried at once");
        let view = app.get(&format!("/api/v1/projects/{project}/connections/{cid}"), &pm.token).await;
        assert_eq!(view.json["credential"]["status"], "refused");
        assert!(view.json["credential"]["detail"].as_str().expect("detail").contains("invalid_grant"), "{}", view.json);
        replies.push(view);

        // Authorizing again brings it back.
        authorize(&app, &pm.token, project, cid, &provider).await.expect(200);
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);

        // A flow left for more than ten minutes is dead.
        let late = app.post(&url, &pm.token, json!({})).await;
        let late_url = late.json["authorization_url"].as_str().expect("url").to_owned();
        let late_code = provider.consent(&late_url);
        app.advance(Duration::from_secs(11 * 60));
        let r = app.call("GET", &format!("/api/v1/oauth/callback?code={late_code}&state={}", query_param(&late_url, "state")), None, None).await;
        assert!(r.problem(400)["detail"].as_str().expect("detail").contains("expired"));

        for action in ["credential.authorization_started", "credential.authorized", "credential.authorization_failed", "credential.renewal_failed"] {
            let r = app.get(&format!("/api/v1/audit?action={action}"), &admin.token).await;
            assert_eq!(r.json["items"][0]["target_id"], cid.to_string(), "{action}: {}", r.json);
        }

        // No token, code, verifier or client secret anywhere a person or the database can read.
        replies.push(app.get("/api/v1/audit?limit=200", &admin.token).await);
        replies.push(app.get(&format!("/api/v1/projects/{project}/connections"), &pm.token).await);
        let mut secrets: Vec<String> = provider.seen().issued.clone();
        secrets.push(CLIENT_SECRET.into());
        for r in &replies {
            for s in &secrets {
                assert!(!r.text.contains(s.as_str()), "a response carried {s}: {}", r.text);
            }
        }
        if app.backend == agentic_host::store::Backend::Sqlite {
            app.state.store.close().await;
            for file in ["test.db", "test.db-wal"] {
                if let Ok(bytes) = std::fs::read(app.dir.path().join(file)) {
                    for s in &secrets {
                        assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "{file} holds {s}");
                    }
                }
            }
        }
    }

    async fn twenty_concurrent_calls_on_an_expired_token_refresh_once_across_two_hosts(backend) {
        let app = start(backend).await;
        let provider = Provider::start().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let created = connect(&app, &admin.token, project, "jira", "/api", auth_code(&provider)).await;
        let cid = created.json["id"].as_i64().expect("id");
        authorize(&app, &pm.token, project, cid, &provider).await.expect(200);
        let other = app.twin().await;
        let twin = other.router.clone();

        // Expired for both hosts (they share the clock); the provider is slow to answer, so
        // every call arrives while the one refresh is in flight.
        app.advance(Duration::from_secs(2 * 3600));
        provider.slow_tokens(Duration::from_millis(300));
        let path = format!("/api/v1/projects/{project}/connections/{cid}/check");
        let calls = (0..20).map(|i| {
            let request = Request::post(&path)
                .header(header::AUTHORIZATION, format!("Bearer {}", pm.token))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let router = if i % 2 == 0 { app.router.clone() } else { twin.clone() };
            async move { send_to(&router, request).await }
        });
        let replies = futures_join_all(calls).await;
        for r in &replies {
            r.expect(200);
            assert_eq!(r.json["ok"], true, "{}", r.json);
        }
        assert_eq!(provider.token_requests("refresh_token"), 1, "exactly one refresh for 20 calls on 2 hosts");
    }

    async fn client_credentials_and_google_service_accounts_get_tokens_the_host_keeps(backend) {
        let app = start(backend).await;
        let provider = Provider::start().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;

        let cc = connect(&app, &admin.token, project, "cc", "/api", json!({
            "kind": "oauth2-client-credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "token_url": format!("{}/oauth/token", provider.url), "scopes": ["read"], "client_auth": "body",
        })).await;
        cc.expect(201);
        let cid = cc.json["id"].as_i64().expect("id");
        for _ in 0..3 {
            assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        }
        assert_eq!(provider.token_requests("client_credentials"), 1, "one token serves until it expires");
        app.advance(Duration::from_secs(3600));
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        assert_eq!(provider.token_requests("client_credentials"), 2);

        // A wrong secret is refused by the provider: auth, not a crash (saved unchecked, so
        // that the check on demand meets it).
        let r = app.call("PATCH", &format!("/api/v1/projects/{project}/connections/{cid}?check=false"), Some(&pm.token), Some(json!({"credential": {
            "kind": "oauth2-client-credentials", "client_id": CLIENT_ID, "client_secret": "wrong-secret",
            "token_url": format!("{}/oauth/token", provider.url),
        }}))).await;
        r.expect(200);
        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!(r["error"], "auth", "{r}");
        assert!(r["detail"].as_str().expect("detail").contains("invalid_client"), "the provider's reason reaches the connector: {r}");

        // The Google key file as downloaded, pointed at the fake's token endpoint.
        let mut key: Value = serde_json::from_str(include_str!("../fixtures/google-auth/service_account.json")).expect("key");
        key["token_uri"] = json!(format!("{}/google/token", provider.url));
        let sa = connect(&app, &admin.token, project, "drive", "/api", json!({
            "kind": "google-service-account", "key": key,
            "scopes": ["https://www.googleapis.com/auth/drive.readonly"], "subject": "owner@example.com",
        })).await;
        sa.expect(201);
        let sid = sa.json["id"].as_i64().expect("id");
        assert_eq!(check(&app, &pm.token, project, sid).await["ok"], true);
        let claims = provider.seen().assertions.last().cloned().expect("an assertion");
        assert_eq!(claims["iss"], key["client_email"]);
        assert_eq!(claims["aud"], key["token_uri"]);
        assert_eq!(claims["sub"], "owner@example.com");
        assert_eq!(claims["scope"], "https://www.googleapis.com/auth/drive.readonly");
        assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 3600);

        // Bad keys and endpoints are field errors before anything is stored.
        let mut bad_key = key.clone();
        bad_key["private_key"] = json!("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n");
        let r = connect(&app, &admin.token, project, "bad", "/api", json!({
            "kind": "google-service-account", "key": bad_key, "scopes": ["x"],
        })).await;
        assert_eq!(r.fields(), ["credential.key.private_key"], "{}", r.text);
        let pm_created = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, json!({
            "plugin_id": "example", "name": "public", "base_url": "https://tracker.example.com",
            "config": {"base_url": "https://tracker.example.com"},
            "credential": {"kind": "oauth2-client-credentials", "client_id": "a", "client_secret": "b",
                           "token_url": "http://tokens.example.com/token"},
        })).await;
        assert_eq!(pm_created.fields(), ["credential.token_url"], "clear-text token endpoint: {}", pm_created.text);
        let r = app.post(&format!("/api/v1/projects/{project}/connections"), &pm.token, json!({
            "plugin_id": "example", "name": "reserved", "base_url": "https://tracker.example.com",
            "config": {"base_url": "https://tracker.example.com"},
            "credential": {"kind": "oauth2-authorization-code", "client_id": "a",
                           "authorize_url": "https://id.example.com/authorize", "token_url": "https://id.example.com/token",
                           "authorize_params": {"redirect_uri": "https://evil.example.com/"}},
        })).await;
        assert_eq!(r.fields(), ["credential.authorize_params"], "{}", r.text);
        // Only authorization code connections have a consent flow.
        app.post(&format!("/api/v1/projects/{project}/connections/{sid}/authorize"), &pm.token, json!({})).await.problem(409);
    }

    async fn form_login_keeps_its_session_cookie_host_side_and_logs_in_again(backend) {
        let app = start(backend).await;
        let provider = Provider::start().await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project_with_example(&admin.token, pm.id, &[]).await;
        let login = |password: &str| json!({
            "kind": "form-login", "username": JAZZ_USER, "password": password,
            "login_url": format!("{}/rm/j_security_check", provider.url),
        });
        let created = connect(&app, &admin.token, project, "doors", "/rm", login(JAZZ_PASSWORD)).await;
        created.expect(201);
        let cid = created.json["id"].as_i64().expect("id");

        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!(r, json!({"ok": true, "message": "5 items available"}));
        assert_eq!(provider.seen().logins, 1);
        for _ in 0..3 {
            assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        }
        assert_eq!(provider.seen().logins, 1, "the session cookie is reused");
        let presented = provider.seen().presented.last().cloned().expect("cookie");
        assert!(presented.starts_with("JSESSIONID=") && presented.contains("LtpaToken2="), "{presented}");

        // The server ends the session and answers with its login challenge: one login, then
        // the request again.
        provider.end_jazz_sessions();
        assert_eq!(check(&app, &pm.token, project, cid).await["ok"], true);
        assert_eq!(provider.seen().logins, 2);

        // A wrong password (saved unchecked) is an auth failure, audited.
        app.call("PATCH", &format!("/api/v1/projects/{project}/connections/{cid}?check=false"), Some(&pm.token),
            Some(json!({"credential": login("wrong")}))).await.expect(200);
        provider.end_jazz_sessions();
        let r = check(&app, &pm.token, project, cid).await;
        assert_eq!(r["error"], "auth", "{r}");
        let failed = app.get("/api/v1/audit?action=credential.renewal_failed", &admin.token).await;
        assert_eq!(failed.json["items"][0]["detail"]["kind"], "form-login", "{}", failed.json);

        // The password goes only to the connection's own origin.
        let r = app.call("PATCH", &format!("/api/v1/projects/{project}/connections/{cid}"), Some(&pm.token),
            Some(json!({"credential": {"kind": "form-login", "username": "a", "password": "b",
                                       "login_url": "https://elsewhere.example.com/j_security_check"}}))).await;
        assert_eq!(r.fields(), ["credential.login_url"], "{}", r.text);
        let sessions = provider.seen().issued.clone();
        let listed = app.get(&format!("/api/v1/projects/{project}/connections"), &pm.token).await;
        for s in sessions {
            assert!(!listed.text.contains(&s));
        }
        assert!(!listed.text.contains(JAZZ_PASSWORD));
    }
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F: std::future::Future<Output = Reply> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
