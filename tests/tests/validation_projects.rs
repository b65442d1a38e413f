//! Input validation of the project endpoints (see `validation` for what every story checks):
//! projects created and changed, members added by path ids.

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use serde_json::json;

use crate::validation::{
    counts, deactivate, expect_bad_envelopes_refused, expect_bad_ids_refused, expect_invalid,
    expect_unknown_ids_not_found, invalid, send_json, with, STORED,
};

stories! {
    async fn create_project_refuses_bad_input(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let gone = app.user(Role::ProjectManager).await;
        deactivate(&app, &admin.token, gone.id).await;
        let path = "/api/v1/projects";
        let good = json!({ "name": "Apollo", "description": "Moon shot", "owner_id": admin.id });
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "POST", path, &admin.token, &good).await;
        let mut cases = Vec::new();
        for name in [
            json!(""), json!("   "), json!("x".repeat(201)), json!("bell\u{7}"), json!("nul\u{0}"),
            json!("del\u{7f}"), json!("c1\u{9b}"), json!(7), json!(null), json!(["Apollo"]),
        ] {
            cases.push((with(&good, "name", name), vec!["name"]));
        }
        for description in [json!("x".repeat(10_001)), json!("nul\u{0}"), json!("bell\u{7}"), json!(5), json!(null)] {
            cases.push((with(&good, "description", description), vec!["description"]));
        }
        for owner in [
            json!(0), json!(-5), json!(987_654), json!(i64::MAX), json!(gone.id), json!("1"), json!(1.5),
            json!(u64::MAX), json!(true),
        ] {
            cases.push((with(&good, "owner_id", owner), vec!["owner_id"]));
        }
        cases.push((json!({ "name": "", "description": "x".repeat(10_001), "owner_id": 0 }), vec!["name", "description", "owner_id"]));
        cases.push((with(&good, "id", json!(1)), vec!["id"]));
        cases.push((with(&good, "created_at", json!("2020-01-01T00:00:00Z")), vec!["created_at"]));
        cases.push((with(&good, "members", json!([admin.id])), vec!["members"]));
        expect_invalid(&app, "POST", path, &admin.token, cases).await;
        let r = app.raw("POST", path, &admin.token, Some("application/json"),
            "{\"name\": \"Apollo\", \"owner_id\": 99999999999999999999}").await;
        invalid(&r, &["owner_id"], "POST /projects with an owner_id beyond 64 bits");
        assert_eq!(counts(&app, &STORED).await, before, "a refused project creation stored something");

        send_json(&app, "POST", path, &admin.token, &good).await.expect(201);
    }

    async fn update_project_refuses_bad_input_and_changes_nothing(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let gone = app.user(Role::ProjectManager).await;
        deactivate(&app, &admin.token, gone.id).await;
        let id = app.project("Keep", admin.id, &[]).await;
        let path = format!("/api/v1/projects/{id}");
        let good = json!({ "name": "Renamed" });
        let original = app.get(&path, &admin.token).await;
        original.expect(200);
        let before = counts(&app, &STORED).await;

        expect_bad_envelopes_refused(&app, "PATCH", &path, &admin.token, &good).await;
        let mut cases = vec![
            (json!({}), vec![""]),
            // A change's fields may be absent, not null (the document: not nullable).
            (json!({ "name": null, "description": null, "owner_id": null }), vec!["description"]),
        ];
        for name in [
            json!(""), json!("   "), json!("x".repeat(201)), json!("bell\u{7}"), json!("nul\u{0}"), json!(7),
        ] {
            cases.push((json!({ "name": name }), vec!["name"]));
        }
        for description in [json!("x".repeat(10_001)), json!("nul\u{0}"), json!(5)] {
            cases.push((json!({ "description": description }), vec!["description"]));
        }
        for owner in [json!(0), json!(-1), json!(987_654), json!(gone.id), json!("1"), json!(1.5)] {
            cases.push((json!({ "owner_id": owner }), vec!["owner_id"]));
        }
        cases.push((json!({ "id": 5 }), vec!["id"]));
        cases.push((json!({ "created_at": "2020-01-01T00:00:00Z" }), vec!["created_at"]));
        // One bad field spoils the whole change.
        cases.push((json!({ "name": "Fine", "owner_id": 987_654 }), vec!["owner_id"]));
        cases.push((json!({ "name": "Fine", "description": "x".repeat(10_001) }), vec!["description"]));
        cases.push((json!({ "name": "", "description": "Fine", "owner_id": 0 }), vec!["name", "owner_id"]));
        expect_invalid(&app, "PATCH", &path, &admin.token, cases).await;

        expect_bad_ids_refused(&app, "PATCH", "/api/v1/projects/{}", &admin.token, Some(&good)).await;
        expect_unknown_ids_not_found(&app, "PATCH", "/api/v1/projects/{}", &admin.token, Some(&good), &[]).await;

        assert_eq!(counts(&app, &STORED).await, before, "a refused project update stored something");
        let after = app.get(&path, &admin.token).await;
        after.expect(200);
        assert_eq!(after.json, original.json, "a refused update changed the project");

        let r = send_json(&app, "PATCH", &path, &admin.token, &good).await;
        r.expect(200);
        assert_eq!(r.json["name"], "Renamed");
    }

    async fn add_member_refuses_bad_path_ids(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let se = app.user(Role::SupportEngineer).await;
        let gone = app.user(Role::TechnicalLead).await;
        deactivate(&app, &admin.token, gone.id).await;
        let project = app.project("P", admin.id, &[]).await;
        let before = counts(&app, &STORED).await;

        expect_bad_ids_refused(&app, "PUT", &format!("/api/v1/projects/{{}}/members/{}", se.id), &admin.token, None).await;
        expect_bad_ids_refused(&app, "PUT", &format!("/api/v1/projects/{project}/members/{{}}"), &admin.token, None).await;
        expect_bad_ids_refused(&app, "PUT", "/api/v1/projects/{}/members/{}", &admin.token, None).await;
        expect_unknown_ids_not_found(&app, "PUT", &format!("/api/v1/projects/{{}}/members/{}", se.id), &admin.token, None, &[]).await;
        expect_unknown_ids_not_found(&app, "PUT", &format!("/api/v1/projects/{project}/members/{{}}"), &admin.token, None, &[]).await;
        let r = app.call("PUT", &format!("/api/v1/projects/{project}/members/{}", gone.id), Some(&admin.token), None).await;
        invalid(&r, &["user_id"], "adding a deactivated user");
        assert_eq!(counts(&app, &STORED).await, before, "a refused membership stored something");

        let path = format!("/api/v1/projects/{project}/members/{}", se.id);
        app.call("PUT", &path, Some(&admin.token), None).await.expect(201);
    }
}
