//! A person the identity provider provisioned over SCIM signs in for the first time: with the
//! provider's `scim_link_claim`, the sign-in is linked to the provisioned account whose
//! `externalId` is that claim of the verified ID token — here `sub`, as with Okta, whose SCIM
//! `externalId` is the Okta user id (the peer's subject is the login name) — with no verified
//! e-mail needed. A mismatch, a missing claim, an ambiguous `externalId` and hand-made accounts
//! never link.

use agentic_tests::{stories, Reply, TestApp, ADMIN_EMAIL};
use serde_json::{json, Value};

use super::{refused, sso, Sso};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An API key with only `scim:provision`, as the provider's provisioning uses.
async fn scim_key(app: &TestApp) -> String {
    let admin = app.admin().await;
    let sa = app
        .post(
            "/api/v1/service-accounts",
            &admin.token,
            json!({"name": "idp-scim", "role": "administrator"}),
        )
        .await;
    sa.expect(201);
    let id = sa.json["id"].as_i64().expect("id");
    let k = app
        .post(
            &format!("/api/v1/service-accounts/{id}/keys"),
            &admin.token,
            json!({"name": "scim", "scopes": ["scim:provision"]}),
        )
        .await;
    k.expect(201);
    k.json["key"].as_str().expect("key").to_owned()
}

async fn scim(app: &TestApp, method: &str, path: &str, key: &str, body: Value) -> Reply {
    app.raw(
        method,
        &format!("/scim/v2{path}"),
        key,
        Some("application/scim+json"),
        body.to_string(),
    )
    .await
}

/// SCIM provisions a person with this `externalId`; their platform id.
async fn provision(app: &TestApp, key: &str, email: &str, external_id: &str) -> i64 {
    let r = scim(
        app,
        "POST",
        "/Users",
        key,
        json!({"schemas": [USER], "userName": email, "externalId": external_id, "active": true,
               "emails": [{"value": email, "type": "work", "primary": true}]}),
    )
    .await;
    r.expect(201);
    r.json["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("numeric id")
}

async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    app.all(admin, &format!("/api/v1/audit?action={action}"))
        .await
}

/// Erin, whose tokens carry no groups (as Okta's without a `groups` claim: no role rule
/// matches them), provisioned over SCIM with `externalId` = her subject and put in the admin
/// group: the SCIM key, her id and the group.
async fn erin_an_admin_by_scim(s: &Sso) -> (String, i64, Reply) {
    s.peer
        .set_user(
            "erin",
            json!({"email": "erin@corp.example", "email_verified": false,
        "name": "Erin Ops"}),
        )
        .await;
    let key = scim_key(&s.app).await;
    let id = provision(&s.app, &key, "erin@corp.example", "erin").await;
    let group = scim(
        &s.app,
        "POST",
        "/Groups",
        &key,
        json!({"schemas": [GROUP],
        "displayName": "platform-admins", "members": [{"value": id.to_string()}]}),
    )
    .await;
    group.expect(201);
    (key, id, group)
}

stories! {
    async fn a_provisioned_person_is_linked_by_the_providers_id(backend) {
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("sub".into())).await else { return };
        // Dave's e-mail is not verified: linking by e-mail could never take him in.
        s.peer.set_user("dave", json!({"email": "dave@corp.example", "email_verified": false,
            "name": "Dave Ops", "groups": ["platform-admins"]})).await;
        let key = scim_key(&s.app).await;
        let id = provision(&s.app, &key, "dave@corp.example", "dave").await;
        let group = scim(&s.app, "POST", "/Groups", &key, json!({"schemas": [GROUP],
            "displayName": "platform-admins", "members": [{"value": id.to_string()}]})).await;
        group.expect(201);
        let admin = s.app.admin().await;
        let before = s.app.get(&format!("/api/v1/users/{id}"), &admin.token).await;
        assert_eq!(before.json["role"], "administrator", "{}", before.text);

        let tokens = s.session("dave").await;
        assert_eq!(tokens["user"]["id"], id, "the provisioned account, not a new one");
        assert_eq!(tokens["user"]["role"], "administrator");
        assert_eq!(audit(&s.app, &admin.token, "user.provisioned").await.len(), 0);
        let linked = audit(&s.app, &admin.token, "user.sso_linked").await;
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0]["target_id"], id.to_string());
        assert_eq!(linked[0]["detail"]["by"], "scim_external_id");
        assert_eq!(linked[0]["detail"]["claim"], "sub");

        // From now on the stored (issuer, subject) link decides, whatever the externalId says.
        let patch = scim(&s.app, "PATCH", &format!("/Users/{id}"), &key, json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "externalId", "value": "renamed"}]})).await;
        patch.expect(200);
        let again = s.session("dave").await;
        assert_eq!(again["user"]["id"], id);
        assert_eq!(audit(&s.app, &admin.token, "user.sso_linked").await.len(), 1);
        assert_eq!(s.app.count("oidc_identities").await, 1);
    }

    async fn with_role_source_scim_a_provisioned_person_keeps_the_role_scim_gave(backend) {
        let Some(s) = sso(backend, |p| {
            p.scim_link_claim = Some("sub".into());
            p.role_source = agentic_host::auth::oidc::config::RoleSource::Scim;
        }).await else { return };
        let (key, id, group) = erin_an_admin_by_scim(&s).await;
        let tokens = s.session("erin").await;
        assert_eq!(tokens["user"]["id"], id);
        assert_eq!(tokens["user"]["role"], "administrator", "the role SCIM gave, kept");
        let admin = s.app.admin().await;
        assert_eq!(audit(&s.app, &admin.token, "user.role_mapped").await.len(), 0);

        // SCIM takes her out of the group: SCIM's default role, and signing in keeps that too.
        let gid = group.json["id"].as_str().expect("group id");
        let patch = scim(&s.app, "PATCH", &format!("/Groups/{gid}"), &key, json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})).await;
        assert!(matches!(patch.status.as_u16(), 200 | 204), "{}", patch.text);
        let tokens = s.session("erin").await;
        assert_eq!(tokens["user"]["role"], "support_engineer");

        // Someone SCIM did not provision still gets the token's role (Alice's groups).
        let alice = s.session("alice").await;
        assert_eq!(alice["user"]["role"], "administrator");
    }

    async fn with_the_default_role_source_the_token_decides_even_for_provisioned_people(backend) {
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("sub".into())).await else { return };
        let (_, id, _) = erin_an_admin_by_scim(&s).await;
        // No rule matches her token and the provider has no default role: refused, not linked,
        // and her role is left as SCIM set it.
        refused(&s.sign_in("erin").await, 403);
        assert_eq!(s.app.count("oidc_identities").await, 0);
        let admin = s.app.admin().await;
        let user = s.app.get(&format!("/api/v1/users/{id}"), &admin.token).await;
        assert_eq!(user.json["role"], "administrator");
    }

    async fn a_mismatch_or_a_missing_claim_does_not_link(backend) {
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("sub".into())).await else { return };
        let key = scim_key(&s.app).await;
        // Erin was provisioned with another externalId than her subject: no link, and her
        // e-mail (verified, but linking by e-mail is off) belongs to that account: refused.
        s.peer.set_user("erin", json!({"email": "erin@corp.example", "email_verified": true,
            "groups": ["engineers"]})).await;
        provision(&s.app, &key, "erin@corp.example", "00u-someone-else").await;
        let landing = s.sign_in("erin").await;
        let problem = refused(&landing, 409);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("e-mail")), "{problem}");
        assert_eq!(s.app.count("oidc_identities").await, 0);

        // A claim the token does not carry never links, even with a provisioned account whose
        // externalId is the subject.
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("oid".into())).await else { return };
        let key = scim_key(&s.app).await;
        s.peer.set_user("erin", json!({"email": "erin@corp.example", "email_verified": true,
            "groups": ["engineers"]})).await;
        provision(&s.app, &key, "erin@corp.example", "erin").await;
        refused(&s.sign_in("erin").await, 409);
        let admin = s.app.admin().await;
        assert_eq!(s.app.count("oidc_identities").await, 0);
        assert_eq!(audit(&s.app, &admin.token, "user.sso_linked").await.len(), 0);
    }

    async fn hand_made_accounts_are_never_taken_over(backend) {
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("sub".into())).await else { return };
        let admin = s.app.admin().await;
        let local = s.app.post("/api/v1/users", &admin.token, json!({"email": "frank@corp.example",
            "display_name": "Local Frank", "password": "local-password-1234",
            "role": "support_engineer"})).await;
        local.expect(201);
        s.peer.set_user("frank", json!({"email": "frank@corp.example", "email_verified": true,
            "groups": ["platform-admins"]})).await;
        // SCIM cannot claim the hand-made account (409), so no externalId can ever point at it.
        let key = scim_key(&s.app).await;
        let taken = scim(&s.app, "POST", "/Users", &key, json!({"schemas": [USER],
            "userName": "frank@corp.example", "externalId": "frank",
            "emails": [{"value": "frank@corp.example", "primary": true}]})).await;
        taken.expect(409);
        refused(&s.sign_in("frank").await, 409);
        // Nor the break-glass administrator, whatever the provider claims.
        s.peer.set_user("admin", json!({"email": ADMIN_EMAIL, "email_verified": true,
            "groups": ["platform-admins"]})).await;
        refused(&s.sign_in("admin").await, 409);
        assert_eq!(s.app.count("oidc_identities").await, 0);
        let me = s.app.get(&format!("/api/v1/users/{}", local.json["id"]), &admin.token).await;
        assert_eq!(me.json["role"], "support_engineer");
    }

    async fn an_ambiguous_or_already_linked_external_id_is_refused(backend) {
        // `name` stands in for a provider's id claim, so two subjects can carry the same value.
        let Some(s) = sso(backend, |p| p.scim_link_claim = Some("name".into())).await else { return };
        let key = scim_key(&s.app).await;
        let admin = s.app.admin().await;
        provision(&s.app, &key, "gina@corp.example", "gina").await;
        provision(&s.app, &key, "gina.b@corp.example", "gina").await;
        s.peer.set_user("gina", json!({"name": "gina", "groups": ["engineers"]})).await;
        let landing = s.sign_in("gina").await;
        let problem = refused(&landing, 409);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("externalId")), "{problem}");

        let ivan = provision(&s.app, &key, "ivan@corp.example", "ivan").await;
        s.peer.set_user("ivan1", json!({"name": "ivan", "groups": ["engineers"]})).await;
        s.peer.set_user("ivan2", json!({"name": "ivan", "groups": ["engineers"]})).await;
        assert_eq!(s.session("ivan1").await["user"]["id"], ivan);
        let landing = s.sign_in("ivan2").await;
        let problem = refused(&landing, 409);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("already linked")), "{problem}");
        assert_eq!(s.app.count("oidc_identities").await, 1);
        let failed = audit(&s.app, &admin.token, "auth.sso_failed").await;
        assert_eq!(failed.len(), 2, "{failed:?}");
    }
}
