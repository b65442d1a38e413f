//! SCIM 2.0 provisioning (`/scim/v2`): the request sequences Microsoft Entra ID and Okta send,
//! as their provisioning documentation shows them (Microsoft's "Develop and plan provisioning
//! for a SCIM endpoint" request/response examples, Okta's SCIM 2.0 test suite), replayed
//! against the real router and database; deactivation ending a session that already exists;
//! group membership giving roles by the single sign-on role rules; bad input answered with SCIM
//! error bodies; and the `scim:provision` scope.

use agentic_host::auth::oidc::config::{ProviderConfig, RoleRule};
use agentic_host::auth::ClientInfo;
use agentic_host::rbac::Role;
use agentic_tests::{stories, Reply, TestApp};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Entra ID's group object id, which it sends as the group's `externalId`.
const LEADS_OBJECT_ID: &str = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159";

/// A host whose provisioned people get their role from the `corp` provider's rules: the group
/// named "Platform Admins" → Administrator, the group with Entra's object id `LEADS_OBJECT_ID`
/// → Technical Lead, anyone else → Support Engineer.
async fn host(backend: agentic_tests::Backend) -> TestApp {
    TestApp::start_with(backend, |c| {
        let provider = ProviderConfig {
            issuer: "https://login.microsoftonline.com/tenant/v2.0".into(),
            client_id: "agentic".into(),
            role_rules: vec![
                RoleRule {
                    claim: "groups".into(),
                    value: "Platform Admins".into(),
                    role: Role::Administrator,
                },
                RoleRule {
                    claim: "groups".into(),
                    value: LEADS_OBJECT_ID.into(),
                    role: Role::TechnicalLead,
                },
            ],
            ..Default::default()
        };
        c.auth.oidc.frontend_url = Some("https://app.example.com/sso".into());
        c.auth.oidc.providers.insert("corp".into(), provider);
        c.auth.scim.role_rules_from = Some("corp".into());
    })
    .await
}

/// An API key of an Administrator service account with exactly `scopes`.
async fn key(app: &TestApp, admin: &str, scopes: &[&str]) -> String {
    let sa = app
        .post(
            "/api/v1/service-accounts",
            admin,
            json!({ "name": format!("idp-{}", scopes.join("-")), "role": "administrator" }),
        )
        .await;
    sa.expect(201);
    let id = sa.json["id"].as_i64().expect("id");
    let k = app
        .post(
            &format!("/api/v1/service-accounts/{id}/keys"),
            admin,
            json!({ "name": "scim", "scopes": scopes }),
        )
        .await;
    k.expect(201);
    k.json["key"].as_str().expect("key").to_owned()
}

/// A SCIM request as the providers send it: `application/scim+json`.
async fn scim(app: &TestApp, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let ct = (!body.is_empty()).then_some("application/scim+json; charset=utf-8");
    let r = app
        .raw(method, &format!("/scim/v2{path}"), key, ct, body)
        .await;
    if !r.bytes.is_empty() {
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/scim+json"),
            "{method} {path}: {}",
            r.text
        );
    }
    r
}

/// Asserts a SCIM error with this status (and `scimType`, when given).
#[track_caller]
fn scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    r.expect(status);
    assert_eq!(r.json["schemas"], json!([ERROR]), "{}", r.text);
    assert_eq!(r.json["status"], json!(status.to_string()), "{}", r.text);
    assert_eq!(r.json["scimType"].as_str(), scim_type, "{}", r.text);
    assert!(
        r.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        r.text
    );
}

/// The platform's view of an account, as an administrator reads it.
async fn account(app: &TestApp, admin: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/users/{id}"), admin).await;
    r.expect(200);
    r.json
}

/// A session of a provisioned person, started as a single sign-on would start it.
async fn session(app: &TestApp, id: &str) -> (String, String) {
    let user = app
        .state
        .store
        .get_user(id.parse().expect("id"))
        .await
        .expect("user");
    let t = app
        .state
        .auth
        .start_session(user, &ClientInfo::default(), "auth.oidc_login", json!({}))
        .await
        .expect("session");
    app.get("/api/v1/auth/me", &t.access_token)
        .await
        .expect(200);
    (t.access_token, t.refresh_token)
}

async fn refresh(app: &TestApp, token: &str) -> Reply {
    app.call(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

fn filter(expr: &str) -> String {
    url_escape(expr)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

stories! {
    async fn entra_id_provisioning_sequence(backend) {
        let app = host(backend).await;
        let admin = app.admin().await;
        let k = key(&app, &admin.token, &["scim:provision"]).await;

        // Entra ID looks the person up by userName before creating them.
        let user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1";
        let lookup = format!("/Users?filter={}", filter(&format!("userName eq \"{user_name}\"")));
        let r = scim(&app, "GET", &lookup, &k, None).await;
        r.expect(200);
        assert_eq!(r.json["totalResults"], 0);
        assert_eq!(r.json["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));

        let created = scim(&app, "POST", "/Users", &k, Some(json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": true,
            "emails": [{ "primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com" }],
            "meta": { "resourceType": "User" },
            "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
            "roles": [],
        }))).await;
        created.expect(201);
        let id = created.json["id"].as_str().expect("string id").to_owned();
        assert_eq!(created.json["userName"], user_name);
        assert_eq!(created.json["active"], true);
        assert_eq!(created.json["meta"]["resourceType"], "User");
        let location = created.headers.get("location").and_then(|v| v.to_str().ok()).expect("Location");
        assert!(location.ends_with(&format!("/scim/v2/Users/{id}")), "{location}");
        // The platform account: the work e-mail (lower-cased), the formatted name, no password,
        // the role of nobody in a group.
        let a = account(&app, &admin.token, &id).await;
        assert_eq!(a["email"], "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com");
        assert_eq!(a["display_name"], "givenName familyName");
        assert_eq!(a["role"], "support_engineer");
        let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.parse::<i64>().expect("id")).fetch_one(app.state.store.pool()).await.expect("row");
        assert_eq!(hash, None);

        let r = scim(&app, "GET", &lookup, &k, None).await;
        r.expect(200);
        assert_eq!(r.json["totalResults"], 1);
        assert_eq!(r.json["Resources"][0]["id"], id.as_str());
        let r = scim(&app, "GET", &format!("/Users?filter={}", filter("userName eq \"non-existent user\"")), &k, None).await;
        assert_eq!(r.json["totalResults"], 0);
        let r = scim(&app, "GET", &format!("/Users?filter={}", filter("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")), &k, None).await;
        assert_eq!(r.json["totalResults"], 1);

        // Attribute updates, in Entra ID's capitalised dialect.
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" },
                { "op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "OMWTSXHAHRQK" },
                { "op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Research" },
            ],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["emails"][0]["value"], "updatedEmail@microsoft.com");
        assert_eq!(r.json["name"]["familyName"], "updatedFamilyName");
        assert_eq!(r.json[ENTERPRISE]["manager"]["value"], "OMWTSXHAHRQK");
        assert!(r.json["schemas"].as_array().expect("schemas").contains(&json!(ENTERPRISE)));
        assert_eq!(account(&app, &admin.token, &id).await["email"], "updatedemail@microsoft.com");

        // Groups: created empty, looked up without members, then members added and removed.
        let group = scim(&app, "POST", "/Groups", &k, Some(json!({
            "externalId": LEADS_OBJECT_ID,
            "id": "c4a1a0c0-not-ours",
            "displayName": "Group1DisplayName",
            "members": [],
            "schemas": [GROUP],
            "meta": { "resourceType": "Group" },
        }))).await;
        group.expect(201);
        let gid = group.json["id"].as_str().expect("id").to_owned();
        assert_ne!(gid, "c4a1a0c0-not-ours");
        let r = scim(&app, "GET", &format!("/Groups?excludedAttributes=members&filter={}", filter("displayName eq \"Group1DisplayName\"")), &k, None).await;
        r.expect(200);
        assert_eq!(r.json["totalResults"], 1);
        assert!(r.json["Resources"][0].get("members").is_none(), "{}", r.text);
        let r = scim(&app, "GET", &format!("/Groups/{gid}?excludedAttributes=members"), &k, None).await;
        r.expect(200);
        assert!(r.json.get("members").is_none());

        let (access, refresh_token) = session(&app, &id).await;
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": id }] }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["members"][0]["value"], id.as_str());
        // Membership of the group whose object id the rules name: Technical Lead, at once.
        assert_eq!(account(&app, &admin.token, &id).await["role"], "technical_lead");
        let me = app.get("/api/v1/auth/me", &access).await;
        me.expect(200);
        assert_eq!(me.json["user"]["role"], "technical_lead");
        let r = scim(&app, "GET", &format!("/Groups?filter={}", filter(&format!("id eq \"{gid}\" and members[value eq \"{id}\"]"))), &k, None).await;
        assert_eq!(r.json["totalResults"], 1);

        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["displayName"], "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": id }] }],
        }))).await;
        r.expect(200);
        assert!(r.json.get("members").is_none_or(|m| m == &json!([])), "{}", r.text);
        assert_eq!(account(&app, &admin.token, &id).await["role"], "support_engineer");

        // Disabling (Entra ID's boolean as a string) ends the session that already exists.
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "Replace", "path": "active", "value": "False" }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["active"], false);
        app.get("/api/v1/auth/me", &access).await.problem(401);
        refresh(&app, &refresh_token).await.problem(401);
        assert_eq!(account(&app, &admin.token, &id).await["active"], false);
        let r = scim(&app, "GET", &lookup, &k, None).await;
        assert_eq!(r.json["Resources"][0]["active"], false, "a disabled User is still found, inactive");

        // Deleting the group, then (30 days later in Entra ID) the person.
        scim(&app, "DELETE", &format!("/Groups/{gid}"), &k, None).await.expect(204);
        scim_error(&scim(&app, "GET", &format!("/Groups/{gid}"), &k, None).await, 404, None);
        scim(&app, "DELETE", &format!("/Users/{id}"), &k, None).await.expect(204);
        scim_error(&scim(&app, "GET", &format!("/Users/{id}"), &k, None).await, 404, None);
        assert_eq!(account(&app, &admin.token, &id).await["active"], false, "the account stays, deactivated");

        let audit = app.all(&admin.token, "/api/v1/audit").await;
        let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).filter(|a| a.starts_with("scim.")).collect();
        for expected in ["scim.user_created", "scim.user_patched", "scim.group_created", "scim.group_patched",
                         "scim.role_mapped", "scim.group_deleted", "scim.user_deleted"] {
            assert!(actions.contains(&expected), "{expected} not audited: {actions:?}");
        }
        assert_eq!(actions.iter().filter(|a| **a == "scim.role_mapped").count(), 2);
    }

    async fn okta_provisioning_sequence(backend) {
        let app = host(backend).await;
        let admin = app.admin().await;
        let k = key(&app, &admin.token, &["scim:provision"]).await;

        // Okta's connection test, then its existence check before creating.
        let r = scim(&app, "GET", "/Users?count=2&startIndex=1", &k, None).await;
        r.expect(200);
        for field in ["totalResults", "itemsPerPage", "startIndex"] {
            assert!(r.json[field].is_number(), "{field}: {}", r.text);
        }
        let r = scim(&app, "GET", "/Groups?count=100&startIndex=1", &k, None).await;
        r.expect(200);
        let user_name = "okta-test-user@atko.example";
        let r = scim(&app, "GET", &format!("/Users?filter={}&startIndex=1&count=100", filter(&format!("userName eq \"{user_name}\""))), &k, None).await;
        assert_eq!(r.json["totalResults"], 0);
        assert_eq!(r.json["Resources"], json!([]));

        let created = scim(&app, "POST", "/Users", &k, Some(json!({
            "schemas": [USER],
            "userName": user_name,
            "name": { "givenName": "Test", "familyName": "User" },
            "emails": [{ "primary": true, "value": user_name, "type": "work" }],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true,
        }))).await;
        created.expect(201);
        let id = created.json["id"].as_str().expect("id").to_owned();
        assert!(created.json.get("password").is_none(), "the password is never kept: {}", created.text);
        assert!(!created.text.contains("1mz050nq"));
        assert_eq!(created.json["locale"], "en-US");
        let stored: String = sqlx::query_scalar("SELECT resource FROM scim_users")
            .fetch_one(app.state.store.pool()).await.expect("row");
        assert!(!stored.contains("1mz050nq"));
        let r = scim(&app, "GET", &format!("/Users/{id}"), &k, None).await;
        r.expect(200);
        assert_eq!(r.json["userName"], user_name);
        // A second create of the same person is a uniqueness conflict, whatever the case.
        let again = scim(&app, "POST", "/Users", &k, Some(json!({ "schemas": [USER], "userName": user_name.to_uppercase() }))).await;
        scim_error(&again, 409, Some("uniqueness"));

        // Okta's updates are whole-resource PUTs.
        let r = scim(&app, "PUT", &format!("/Users/{id}"), &k, Some(json!({
            "schemas": [USER],
            "id": id,
            "userName": user_name,
            "name": { "givenName": "Another", "familyName": "User" },
            "emails": [{ "primary": true, "value": user_name, "type": "work" }],
            "displayName": "Another User",
            "active": true,
        }))).await;
        r.expect(200);
        assert!(r.json.get("locale").is_none(), "PUT replaces the whole resource: {}", r.text);
        assert_eq!(account(&app, &admin.token, &id).await["display_name"], "Another User");

        // Groups: created, renamed with the id repeated in the value, members added by path and
        // removed by a value filter.
        let g = scim(&app, "POST", "/Groups", &k, Some(json!({ "schemas": [GROUP], "displayName": "Test SCIMv2", "members": [] }))).await;
        g.expect(201);
        let gid = g.json["id"].as_str().expect("id").to_owned();
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "replace", "value": { "id": gid, "displayName": "Platform Admins" } }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["displayName"], "Platform Admins");
        let (access, refresh_token) = session(&app, &id).await;
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "add", "path": "members", "value": [{ "value": id, "display": user_name }] }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["members"][0]["display"], "Another User");
        assert_eq!(account(&app, &admin.token, &id).await["role"], "administrator");
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }],
        }))).await;
        r.expect(200);
        assert_eq!(account(&app, &admin.token, &id).await["role"], "support_engineer");
        // A group PUT with the whole member list.
        let r = scim(&app, "PUT", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [GROUP], "displayName": "Platform Admins", "members": [{ "value": id }],
        }))).await;
        r.expect(200);
        assert_eq!(account(&app, &admin.token, &id).await["role"], "administrator");
        // Deleting the group takes the role away again.
        scim(&app, "DELETE", &format!("/Groups/{gid}"), &k, None).await.expect(204);
        assert_eq!(account(&app, &admin.token, &id).await["role"], "support_engineer");

        // Okta deactivates with a path-less replace; the existing session ends at once.
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "replace", "value": { "active": false } }],
        }))).await;
        r.expect(200);
        assert_eq!(r.json["active"], false);
        app.get("/api/v1/auth/me", &access).await.problem(401);
        refresh(&app, &refresh_token).await.problem(401);
        let ended: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL")
            .bind(id.parse::<i64>().expect("id")).fetch_one(app.state.store.pool()).await.expect("count");
        assert_eq!(ended, 1);
        // And reactivates the same way.
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "replace", "value": { "active": true } }],
        }))).await;
        r.expect(200);
        assert_eq!(account(&app, &admin.token, &id).await["active"], true);
        scim_error(&scim(&app, "GET", "/Users/010101010", &k, None).await, 404, None);
        scim_error(&scim(&app, "GET", "/Users/not-an-id", &k, None).await, 404, None);
    }

    async fn bad_input_is_answered_with_scim_errors(backend) {
        let app = host(backend).await;
        let admin = app.admin().await;
        let k = key(&app, &admin.token, &["scim:provision"]).await;
        let person = |n: u32| json!({ "schemas": [USER], "userName": format!("p{n}@example.com"), "displayName": format!("Person {n}") });
        let mut ids = Vec::new();
        for n in 0..5 {
            let r = scim(&app, "POST", "/Users", &k, Some(person(n))).await;
            r.expect(201);
            ids.push(r.json["id"].as_str().expect("id").to_owned());
        }
        let users_before = app.count("users").await;

        // Unknown attributes, wrong types, no e-mail, a local account's e-mail.
        let cases = [
            (json!({ "schemas": [USER], "userName": "x@example.com", "shoeSize": 44 }), 400, Some("invalidValue")),
            (json!({ "schemas": ["urn:example:custom:1.0:User"], "userName": "x@example.com" }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "userName": "x@example.com", "active": "perhaps" }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "userName": ["x@example.com"] }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "userName": "no-mail", "emails": [] }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "displayName": "no userName" }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "userName": "x\u{0}y@example.com" }), 400, Some("invalidValue")),
            (json!({ "schemas": [USER], "userName": "someone", "emails": [{ "value": "P1@example.com" }] }), 409, Some("uniqueness")),
            (json!({ "schemas": [USER], "userName": agentic_tests::ADMIN_EMAIL }), 409, Some("uniqueness")),
        ];
        for (body, status, scim_type) in cases {
            scim_error(&scim(&app, "POST", "/Users", &k, Some(body)).await, status, scim_type);
        }
        scim_error(&app.raw("POST", "/scim/v2/Users", &k, Some("application/scim+json"), "{\"userName\": ").await, 400, Some("invalidSyntax"));
        scim_error(&app.raw("POST", "/scim/v2/Users", &k, Some("application/scim+json"), "[]").await, 400, Some("invalidSyntax"));
        scim_error(&app.raw("POST", "/scim/v2/Users", &k, Some("text/plain"), "hello").await, 415, None);
        assert_eq!(app.count("users").await, users_before);

        // Filters: malformed, and well-formed but not answerable.
        for (f, why) in [
            ("userName xx \"a\"", "unknown operator"),
            ("userName eq \"unterminated", "unterminated string"),
            ("(userName eq \"a\"", "unbalanced"),
            ("userName co \"p\"", "co is not answered"),
            ("userName eq \"a\" or userName eq \"b\"", "or is not answered"),
            ("title eq \"x\"", "not an indexed attribute"),
            ("userName eq 5", "not a string"),
        ] {
            let r = scim(&app, "GET", &format!("/Users?filter={}", filter(f)), &k, None).await;
            assert_eq!(r.json["scimType"], "invalidFilter", "{why}: {}", r.text);
            scim_error(&r, 400, Some("invalidFilter"));
        }
        scim_error(&scim(&app, "GET", "/Users?count=many", &k, None).await, 400, Some("invalidValue"));

        // Paging: 1-based, totalResults of all, count capped.
        let r = scim(&app, "GET", "/Users?startIndex=2&count=2", &k, None).await;
        r.expect(200);
        assert_eq!(r.json["totalResults"], 5);
        assert_eq!(r.json["startIndex"], 2);
        assert_eq!(r.json["itemsPerPage"], 2);
        let page: Vec<&str> = r.json["Resources"].as_array().expect("list").iter().filter_map(|u| u["id"].as_str()).collect();
        assert_eq!(page, [ids[1].as_str(), ids[2].as_str()]);
        let r = scim(&app, "GET", "/Users?startIndex=0&count=0", &k, None).await;
        assert_eq!((r.json["totalResults"].clone(), r.json["itemsPerPage"].clone()), (json!(5), json!(0)));
        let r = scim(&app, "GET", "/Users?startIndex=5&count=100000", &k, None).await;
        assert_eq!(r.json["itemsPerPage"], 1);

        // PATCH paths and operations.
        let id = &ids[0];
        for (ops, scim_type) in [
            (json!([{ "op": "replace", "path": "shoeSize", "value": 1 }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "name.nickname", "value": "x" }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "emails[type eq", "value": "x" }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "displayName[value eq \"x\"]", "value": "x" }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "urn:example:unknown:schema:title", "value": "x" }]), "invalidPath"),
            (json!([{ "op": "remove" }]), "noTarget"),
            (json!([{ "op": "remove", "path": "userName" }]), "invalidValue"),
            (json!([{ "op": "replace", "path": "groups", "value": [] }]), "mutability"),
            (json!([{ "op": "copy", "path": "title" }]), "invalidSyntax"),
            (json!([{ "op": "replace", "path": "active", "value": "maybe" }]), "invalidValue"),
        ] {
            let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({ "schemas": [PATCH_OP], "Operations": ops }))).await;
            scim_error(&r, 400, Some(scim_type));
        }
        scim_error(&scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({ "schemas": [PATCH_OP] }))).await, 400, Some("invalidSyntax"));
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), &k, Some(json!({ "schemas": [PATCH_OP],
            "Operations": [{ "op": "replace", "path": "userName", "value": "P3@EXAMPLE.COM" }] }))).await;
        scim_error(&r, 409, Some("uniqueness"));
        let r = scim(&app, "GET", &format!("/Users/{id}"), &k, None).await;
        assert_eq!(r.json["userName"], "p0@example.com", "a refused PATCH changes nothing");

        // Groups: unknown members, nested groups, a name taken (case-insensitively).
        let g = scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "Ops" }))).await;
        g.expect(201);
        scim_error(&scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "OPS" }))).await, 409, Some("uniqueness"));
        scim_error(&scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "G", "members": [{ "value": "999999" }] }))).await, 400, Some("invalidValue"));
        scim_error(&scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "G", "members": [{ "value": ids[0], "type": "Group" }] }))).await, 400, Some("invalidValue"));
        scim_error(&scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "G", "members": [{ "value": agentic_tests::ADMIN_EMAIL }] }))).await, 400, Some("invalidValue"));
        assert_eq!(app.count("scim_groups").await, 1);

        // Discovery documents say what is supported.
        let r = scim(&app, "GET", "/ServiceProviderConfig", &k, None).await;
        r.expect(200);
        assert_eq!(r.json["patch"]["supported"], true);
        assert_eq!(r.json["bulk"]["supported"], false);
        assert_eq!(r.json["filter"]["maxResults"], 200);
        let r = scim(&app, "GET", "/ResourceTypes", &k, None).await;
        assert_eq!(r.json["totalResults"], 2);
        scim(&app, "GET", "/ResourceTypes/User", &k, None).await.expect(200);
        let r = scim(&app, "GET", "/Schemas", &k, None).await;
        assert_eq!(r.json["totalResults"], 3);
        let r = scim(&app, "GET", &format!("/Schemas/{USER}"), &k, None).await;
        r.expect(200);
        let names: Vec<&str> = r.json["attributes"].as_array().expect("attributes").iter().filter_map(|a| a["name"].as_str()).collect();
        assert!(names.contains(&"userName") && names.contains(&"emails") && names.contains(&"active"));
        scim_error(&scim(&app, "GET", "/Schemas/urn:nope", &k, None).await, 404, None);
    }

    async fn the_last_active_administrator_keeps_the_role(backend) {
        let app = host(backend).await;
        let admin = app.admin().await;
        let k = key(&app, &admin.token, &["scim:provision"]).await;
        let u = scim(&app, "POST", "/Users", &k, Some(json!({ "userName": "boss@example.com" }))).await;
        u.expect(201);
        let id = u.json["id"].as_str().expect("id").to_owned();
        let g = scim(&app, "POST", "/Groups", &k, Some(json!({ "displayName": "Platform Admins", "members": [{ "value": id }] }))).await;
        g.expect(201);
        let gid = g.json["id"].as_str().expect("id").to_owned();
        let uid: i64 = id.parse().expect("id");
        assert_eq!(app.state.store.get_user(uid).await.expect("user").role, Role::Administrator);
        // The local administrator leaves; the provisioned one is the last active Administrator.
        app.call("DELETE", &format!("/api/v1/users/{}", admin.id), Some(&admin.token), None).await.expect(204);
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), &k, Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }],
        }))).await;
        r.expect(200);
        assert!(r.json.get("members").is_none_or(|m| m == &json!([])), "the membership change stands: {}", r.text);
        assert_eq!(app.state.store.get_user(uid).await.expect("user").role, Role::Administrator);
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'scim.role_kept'")
            .fetch_one(app.state.store.pool()).await.expect("count");
        assert_eq!(kept, 1);
    }

    async fn only_a_credential_with_scim_provision_may_provision(backend) {
        let app = host(backend).await;
        let admin = app.admin().await;
        let narrow = key(&app, &admin.token, &["users:manage", "users:read"]).await;
        let se = app.user(Role::SupportEngineer).await;
        let body = "{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": \"a@example.com\"}";
        for (method, path) in [("POST", "/scim/v2/Users"), ("GET", "/scim/v2/Users"), ("PATCH", "/scim/v2/Users/1"),
                               ("POST", "/scim/v2/Groups"), ("DELETE", "/scim/v2/Groups/1"), ("GET", "/scim/v2/ServiceProviderConfig")] {
            // A key without the scope, and a person whose role lacks it: 403 before the body is read.
            for token in [&narrow, &se.token] {
                for b in [body, "{\"userName\": "] {
                    let r = app.raw(method, path, token, Some("application/scim+json"), b).await;
                    scim_error(&r, 403, None);
                }
            }
            let r = app.call(method, path, None, None).await;
            scim_error(&r, 401, None);
            assert_eq!(r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
            let r = app.raw(method, path, "agk_000000000000_wrong", Some("application/scim+json"), body).await;
            scim_error(&r, 401, None);
        }
        assert_eq!(app.count("scim_users").await, 0);
        // The scope narrows the key as every scope does: a SCIM key reads nothing else.
        let k = key(&app, &admin.token, &["scim:provision"]).await;
        app.get("/api/v1/users", &k).await.problem(403);
        let r = scim(&app, "POST", "/Users", &k, Some(json!({ "schemas": [USER], "userName": "a@example.com" }))).await;
        r.expect(201);
    }
}
