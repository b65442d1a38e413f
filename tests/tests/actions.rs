//! Connector actions end to end: the JIRA component creates an issue, comments on it and moves
//! it to Done in a fake Jira Cloud through `POST …/connections/{cid}/actions/{action}`, with the
//! credential the host injects; inputs are checked against the action's schema before the
//! connector runs, outputs after; `connections:act` decides who may run them (checked before
//! the body is read); every run is audited with its outcome and none of its input.

use agentic_host::rbac::Role;
use agentic_tests::jira::{
    basic, connect, generate, project_with_jira, Deployment, FakeJira, API_TOKEN, EMAIL,
};
use agentic_tests::{plugin_manifest, plugin_wasm, stories, TestApp};
use serde_json::{json, Value};

/// A string that must never reach the audit log (it stands for whatever a caller puts in an
/// action's input).
const IN_INPUT: &str = "input-only-4f9c2e";

async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/audit?action={action}&limit=100"), admin)
        .await;
    r.expect(200);
    r.json["items"].as_array().expect("items").clone()
}

/// Installs the example connector with its manifest's `echo` output schema made stricter (an
/// `echo` field required: the component agrees with the manifest on names, so this installs),
/// enables it in a new project owned by `owner` and connects it in memory mode; returns the
/// project and connection ids.
async fn strict_echo(app: &TestApp, admin: &str, owner: i64) -> (i64, i64) {
    let manifest = plugin_manifest("example");
    let loose = "[actions.output_schema]\ntype = \"object\"";
    assert!(
        manifest.contains(loose),
        "the example's echo output schema changed"
    );
    // The first action is `echo`: only its output schema.
    let manifest = manifest.replacen(loose, &format!("{loose}\nrequired = [\"echo\"]"), 1);
    app.install_plugin(admin, &manifest, &plugin_wasm("example"))
        .await;
    let project = app.project("Strict", owner, &[]).await;
    app.enable_plugin(admin, project, "example").await;
    let created = app
        .post(
            &format!("/api/v1/projects/{project}/connections"),
            admin,
            json!({"plugin_id": "example", "name": "memory", "base_url": "https://svc.example.com",
                   "config": {"items": 3}, "credential": {"kind": "anonymous"}}),
        )
        .await;
    created.expect(201);
    (project, created.json["id"].as_i64().expect("id"))
}

stories! {
    async fn jira_actions_create_comment_and_transition_an_issue(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let se = app.user(Role::SupportEngineer).await;
        let project = project_with_jira(&app, &admin.token, pm.id).await;
        for member in [tl.id, se.id] {
            app.call("PUT", &format!("/api/v1/projects/{project}/members/{member}"), Some(&admin.token), None).await.expect(201);
        }
        let authorization = basic(EMAIL, API_TOKEN);
        let fake = FakeJira::start(generate(Deployment::Cloud, 12, &authorization)).await;
        let (cid, _) = connect(&app, &admin.token, project, &fake, "cloud",
            json!({"kind": "api-token", "email": EMAIL, "token": API_TOKEN})).await;
        let actions = format!("/api/v1/projects/{project}/connections/{cid}/actions");

        // Everyone in the project sees what the connection can do, with the schemas.
        let listed = app.get(&actions, &se.token).await;
        listed.expect(200);
        let names: Vec<&str> = listed.json.as_array().expect("list").iter()
            .map(|a| a["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["create-issue", "update-issue", "add-comment", "transition-issue"]);
        assert_eq!(listed.json[0]["input_schema"]["required"], json!(["project", "issue_type", "summary"]));

        // A Support Engineer may not push data, and is told so before the body is even read.
        app.post(&format!("{actions}/create-issue"), &se.token,
            json!({"input": {"project": "ED", "issue_type": "Bug", "summary": "no"}})).await.problem(403);
        app.raw("POST", &format!("{actions}/create-issue"), &se.token, Some("application/json"),
            b"{not json".to_vec()).await.problem(403);
        let outsider = app.user(Role::TechnicalLead).await;
        app.post(&format!("{actions}/create-issue"), &outsider.token, json!({"input": {}})).await.problem(404);
        app.get(&actions, &outsider.token).await.problem(404);
        app.call("POST", &format!("{actions}/create-issue"), None, Some(json!({"input": {}}))).await.problem(401);

        // Input that breaks the schema never reaches the connector: 422 on input.<path>.
        let bad = app.post(&format!("{actions}/create-issue"), &pm.token,
            json!({"input": {"project": "ED", "issue_type": "Bug", "summary": "", "labels": ["two words"], "extra": 1}})).await;
        bad.problem(422);
        let fields = bad.fields();
        for field in ["input.summary", "input.labels.0", "input"] {
            assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
        }
        app.post(&format!("{actions}/archive"), &pm.token, json!({"input": {}})).await.problem(404);
        assert!(fake.writes().is_empty(), "{:?}", fake.writes());

        // Create, comment, transition: each through the host's credential into JIRA.
        let created = app.post(&format!("{actions}/create-issue"), &pm.token, json!({"input": {
            "project": "ED", "issue_type": "Bug", "summary": "Checkout fails for saved cards",
            "description": format!("Steps with **{IN_INPUT}**"), "labels": ["payments"],
        }})).await;
        created.expect(200);
        assert_eq!(created.json["action"], "create-issue");
        let key = created.json["output"]["key"].as_str().expect("key").to_owned();
        assert_eq!(key, "ED-7");
        assert!(created.json["output"]["url"].as_str().expect("url").ends_with("/browse/ED-7"), "{}", created.json);

        let commented = app.post(&format!("{actions}/add-comment"), &tl.token,
            json!({"input": {"issue": key, "body": format!("Seen it: {IN_INPUT}")}})).await;
        commented.expect(200);
        assert_eq!(commented.json["output"]["issue"], "ED-7");
        assert!(commented.json["output"]["id"].as_str().is_some_and(|id| !id.is_empty()), "{}", commented.json);

        let moved = app.post(&format!("{actions}/transition-issue"), &pm.token,
            json!({"input": {"issue": key, "transition": "Done", "comment": "Fixed."}})).await;
        moved.expect(200);
        assert_eq!(moved.json["output"]["status"], "Done");
        assert_eq!(moved.json["output"]["transition"], json!({"id": "31", "name": "Done"}));

        // JIRA holds what the actions wrote, and every write carried the injected credential.
        fake.with(|d| {
            let issue = d.issue_mut("ED-7");
            assert_eq!(issue.summary, "Checkout fails for saved cards");
            assert_eq!(issue.labels, ["payments"]);
            assert_eq!(issue.status, 2, "Done");
            assert_eq!(issue.comments.len(), 2, "the comment and the transition's");
        });
        let writes = fake.writes();
        let paths: Vec<(&str, &str)> = writes.iter().map(|w| (w.method.as_str(), w.path.as_str())).collect();
        assert_eq!(paths, [("POST", "/rest/api/3/issue"), ("POST", "/rest/api/3/issue/ED-7/comment"),
                           ("POST", "/rest/api/3/issue/ED-7/transitions")]);
        assert!(writes.iter().all(|w| w.authorization.as_deref() == Some(authorization.as_str())));
        assert_eq!(writes[0].body["fields"]["issuetype"], json!({"name": "Bug"}));
        assert_eq!(writes[0].body["fields"]["description"]["type"], "doc", "Markdown as ADF");
        assert_eq!(fake.violations(), Vec::<String>::new());

        // The connector's own refusals say why: a transition the workflow does not offer is the
        // caller's input (422), an issue JIRA does not have is 404.
        let refused = app.post(&format!("{actions}/transition-issue"), &pm.token,
            json!({"input": {"issue": key, "transition": "Archive"}})).await;
        let problem = refused.problem(422);
        assert_eq!(refused.fields(), ["input"]);
        assert!(problem["detail"].as_str().expect("detail").contains("open transitions"), "{problem}");
        let missing = app.post(&format!("{actions}/add-comment"), &pm.token,
            json!({"input": {"issue": "ED-999", "body": "hello"}})).await;
        let problem = missing.problem(404);
        assert!(problem["detail"].as_str().expect("detail").contains("ED-999"), "{problem}");

        // Audited with the action and its outcome, never the input.
        let log = audit(&app, &admin.token, "action.run").await;
        let mut runs: Vec<(String, String)> = log.iter().map(|e| (
            e["detail"]["action"].as_str().expect("action").to_owned(),
            e["detail"]["outcome"].as_str().expect("outcome").to_owned(),
        )).collect();
        runs.sort();
        assert_eq!(runs, [("add-comment", "not-found"), ("add-comment", "ok"), ("create-issue", "ok"),
                          ("transition-issue", "invalid-input"), ("transition-issue", "ok")]
            .map(|(a, o)| (a.to_owned(), o.to_owned())));
        assert!(log.iter().all(|e| e["target_id"] == json!(cid.to_string())));
        let everything = app.get("/api/v1/audit?limit=200", &admin.token).await.text;
        assert!(!everything.contains(IN_INPUT), "the input reached the audit log");
    }

    async fn an_action_output_that_breaks_its_schema_is_refused(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let (project, cid) = strict_echo(&app, &admin.token, pm.id).await;
        let actions = format!("/api/v1/projects/{project}/connections/{cid}/actions");

        let fine = app.post(&format!("{actions}/echo"), &pm.token, json!({"input": {"echo": [1, 2]}})).await;
        fine.expect(200);
        assert_eq!(fine.json, json!({"action": "echo", "output": {"echo": [1, 2]}}));

        // The connector answered, but not in the declared shape: its bug, 502 naming the field.
        let p = app.post(&format!("{actions}/echo"), &pm.token, json!({"input": {"other": 1}})).await;
        let detail = p.problem(502)["detail"].as_str().expect("detail").to_owned();
        assert!(detail.contains("output schema") && detail.contains("echo"), "{detail}");
        // The body is `{"input": …}` and nothing else.
        app.post(&format!("{actions}/echo"), &pm.token, json!({"input": {}, "dry_run": true})).await.problem(422);

        let mut outcomes: Vec<String> = audit(&app, &admin.token, "action.run").await.iter()
            .map(|e| e["detail"]["outcome"].as_str().expect("outcome").to_owned()).collect();
        outcomes.sort();
        assert_eq!(outcomes, ["ok", "output"]);
    }
}
