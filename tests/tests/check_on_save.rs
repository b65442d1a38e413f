//! `check` runs before a connection is saved — on creation and when its credential changes —
//! against a fake Jira Cloud: a wrong token is refused with the connector's own message and
//! nothing is kept (no connection, no secret); `?check=false` saves anyway; a right token is
//! saved with the check's result in the response. A request the host refuses is named, rule and
//! all, in the problem's detail.

use agentic_host::rbac::Role;
use agentic_tests::jira::{
    basic, generate, project_with_jira, Deployment, FakeJira, API_TOKEN, EMAIL,
};
use agentic_tests::{stories, TestApp};
use serde_json::json;

stories! {
    async fn a_wrong_token_is_refused_before_it_is_saved(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_jira(&app, &admin.token, pm.id).await;
        let fake = FakeJira::start(generate(Deployment::Cloud, 3, &basic(EMAIL, API_TOKEN))).await;
        let url = format!("/api/v1/projects/{project}/connections");
        let body = |token: &str| json!({
            "plugin_id": "jira", "name": "jira", "base_url": fake.url,
            "config": {"deployment": "cloud"},
            "allow_private_network": true,
            "credential": {"kind": "api-token", "email": EMAIL, "token": token},
        });
        let (connections, secrets) = (app.count("connections").await, app.count("vault_secrets").await);

        // A wrong token: 422 on `credential` with what JIRA and the connector said; nothing kept.
        let refused = app.post(&url, &admin.token, body("wrong-token")).await;
        let problem = refused.problem(422);
        assert_eq!(refused.fields(), ["credential"]);
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains("(auth)") && detail.contains("401") && detail.contains("?check=false"), "{detail}");
        assert_eq!(app.count("connections").await, connections);
        assert_eq!(app.count("vault_secrets").await, secrets, "the refused secret is gone");

        // Skipping the check saves it as given (a service that is down today).
        let skipped = app.post(&format!("{url}?check=false"), &admin.token, body("wrong-token")).await;
        skipped.expect(201);
        assert!(skipped.json.get("check").is_none(), "{}", skipped.json);
        let cid = skipped.json["id"].as_i64().expect("id");

        // A credential change is checked too: a wrong one leaves the stored one in place...
        let patch = |token: &str| json!({"credential": {"kind": "api-token", "email": EMAIL, "token": token}});
        app.call("PATCH", &format!("{url}/{cid}"), Some(&admin.token), Some(patch("still-wrong"))).await.problem(422);
        assert_eq!(app.count("vault_secrets").await, secrets + 1);
        // ...and a right one is saved with the check's result.
        let fixed = app.call("PATCH", &format!("{url}/{cid}"), Some(&admin.token), Some(patch(API_TOKEN))).await;
        fixed.expect(200);
        assert_eq!(fixed.json["check"]["ok"], true, "{}", fixed.json);

        // A right token at creation: 201 with the check's message.
        let mut good = body(API_TOKEN);
        good["name"] = json!("jira 2");
        let created = app.post(&url, &admin.token, good).await;
        created.expect(201);
        assert_eq!(created.json["check"], json!({"ok": true, "message": format!("connected to {} as User 0 <user0@example.com>", fake.url)}));
        assert!(!created.text.contains(API_TOKEN));

        // An unknown query parameter is refused rather than ignored.
        app.post(&format!("{url}?chek=false"), &admin.token, body(API_TOKEN)).await.problem(400);
    }

    async fn a_request_the_host_refuses_is_named_in_the_problem(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_jira(&app, &admin.token, pm.id).await;
        let fake = FakeJira::start(generate(Deployment::Cloud, 3, &basic(EMAIL, API_TOKEN))).await;
        let url = format!("/api/v1/projects/{project}/connections");
        // A JIRA on a loopback address, without private networks allowed for the connection
        // (over https, as a connection with a credential must be: the host refuses the
        // address before connecting).
        let base_url = fake.url.replace("http://", "https://");
        let body = json!({
            "plugin_id": "jira", "name": "jira", "base_url": base_url,
            "config": {"deployment": "cloud"},
            "credential": {"kind": "api-token", "email": EMAIL, "token": API_TOKEN},
        });
        let why = "refused by the host: address 127.0.0.1 is private or loopback, and the \
                   connection does not allow those";

        // Creating it: the check's 422 says which rule refused the request.
        let refused = app.post(&url, &admin.token, body.clone()).await;
        let problem = refused.problem(422);
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(why), "{detail}");

        // Saved without the check: the check endpoint and an action say the same.
        let saved = app.post(&format!("{url}?check=false"), &admin.token, body).await;
        saved.expect(201);
        let cid = saved.json["id"].as_i64().expect("id");
        let check = app.post(&format!("{url}/{cid}/check"), &admin.token, json!({})).await;
        check.expect(200);
        assert_eq!(check.json["ok"], false, "{}", check.json);
        assert!(check.json["detail"].as_str().expect("detail").contains(why), "{}", check.json);
        let action = app.post(&format!("{url}/{cid}/actions/add-comment"), &pm.token,
            json!({"input": {"issue": "ED-1", "body": "hello"}})).await;
        let problem = action.problem(409);
        assert!(problem["detail"].as_str().expect("detail").contains(why), "{problem}");
        assert!(fake.writes().is_empty(), "nothing reached JIRA");
    }
}
