//! Projects API: the seed's shape, listing with cursor pagination and name filter, updates,
//! deletion, and membership.

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use serde_json::json;

stories! {
    async fn create_returns_the_seed_shape(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let r = app.post("/api/v1/projects", &pm.token,
            json!({ "name": "Apollo", "description": "Moon shot", "owner_id": pm.id })).await;
        r.expect(201);
        let body = r.json.as_object().expect("object");
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "description", "id", "name", "owner_id"]);
        assert_eq!(body["name"], "Apollo");
        assert_eq!(body["description"], "Moon shot");
        assert_eq!(body["owner_id"], json!(pm.id));
        let created = body["created_at"].as_str().expect("created_at");
        assert!(created.ends_with('Z'), "UTC RFC 3339: {created}");
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).expect("RFC 3339");

        let id = body["id"].as_i64().expect("id");
        let got = app.get(&format!("/api/v1/projects/{id}"), &pm.token).await;
        got.expect(200);
        assert_eq!(got.json, r.json);
    }

    async fn owner_defaults_to_caller_and_both_become_members(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let r = app.post("/api/v1/projects", &pm.token, json!({ "name": "Mine" })).await;
        r.expect(201);
        assert_eq!(r.json["owner_id"], json!(pm.id));
        assert_eq!(r.json["description"], "");

        let r = app.post("/api/v1/projects", &pm.token, json!({ "name": "Theirs", "owner_id": tl.id })).await;
        r.expect(201);
        let id = r.json["id"].as_i64().expect("id");
        let members = app.get(&format!("/api/v1/projects/{id}/members"), &tl.token).await;
        members.expect(200);
        let ids: Vec<i64> = members.json["items"].as_array().expect("items").iter()
            .map(|m| m["user_id"].as_i64().expect("user_id")).collect();
        assert_eq!(ids, vec![pm.id, tl.id]);
    }

    async fn list_paginates_with_cursor_and_filters_by_name(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        for i in 0..7 {
            let name = if i % 2 == 0 { format!("Alpha {i}") } else { format!("Beta {i}") };
            app.post("/api/v1/projects", &admin.token, json!({ "name": name })).await.expect(201);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                Some(c) => format!("/api/v1/projects?limit=3&cursor={c}"),
                None => "/api/v1/projects?limit=3".to_owned(),
            };
            let r = app.get(&url, &admin.token).await;
            r.expect(200);
            pages += 1;
            let items = r.json["items"].as_array().expect("items");
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|p| p["name"].as_str().expect("name").to_owned()));
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 7);

        let r = app.get("/api/v1/projects?name=alph", &admin.token).await;
        r.expect(200);
        let names: Vec<&str> = r.json["items"].as_array().expect("items").iter()
            .map(|p| p["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["Alpha 0", "Alpha 2", "Alpha 4", "Alpha 6"]);

        // LIKE wildcards in the filter are literal.
        let r = app.get("/api/v1/projects?name=%25", &admin.token).await;
        r.expect(200);
        assert_eq!(r.json["items"].as_array().expect("items").len(), 0);

        app.get("/api/v1/projects?limit=0", &admin.token).await.problem(422);
        app.get("/api/v1/projects?limit=500", &admin.token).await.problem(422);
        app.get("/api/v1/projects?cursor=!!", &admin.token).await.problem(422);
        app.get("/api/v1/projects?colour=red", &admin.token).await.problem(400);
    }

    async fn list_shows_only_projects_the_caller_belongs_to(backend) {
        let app = TestApp::start(backend).await;
        let se = app.user(Role::SupportEngineer).await;
        let admin = app.admin().await;
        let mine = app.project("Mine", admin.id, &[se.id]).await;
        let _other = app.project("Other", admin.id, &[]).await;
        let r = app.get("/api/v1/projects", &se.token).await;
        r.expect(200);
        let ids: Vec<i64> = r.json["items"].as_array().expect("items").iter().map(|p| p["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, vec![mine]);
        let all = app.get("/api/v1/projects", &admin.token).await;
        assert_eq!(all.json["items"].as_array().expect("items").len(), 2);
    }

    async fn update_and_delete(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let id = app.post("/api/v1/projects", &pm.token, json!({ "name": "Old" })).await.json["id"].as_i64().expect("id");

        let r = app.call("PATCH", &format!("/api/v1/projects/{id}"), Some(&pm.token),
            Some(json!({ "name": "New", "owner_id": tl.id }))).await;
        r.expect(200);
        assert_eq!(r.json["name"], "New");
        assert_eq!(r.json["owner_id"], json!(tl.id));
        // The new owner became a member and can read it.
        app.get(&format!("/api/v1/projects/{id}"), &tl.token).await.expect(200);
        // The owner cannot be removed from the members.
        app.call("DELETE", &format!("/api/v1/projects/{id}/members/{}", tl.id), Some(&pm.token), None).await.problem(409);

        // The PM no longer owns it: only the owner or an Administrator deletes.
        app.call("DELETE", &format!("/api/v1/projects/{id}"), Some(&pm.token), None).await.problem(403);
        let admin = app.admin().await;
        app.call("DELETE", &format!("/api/v1/projects/{id}"), Some(&admin.token), None).await.expect(204);
        app.get(&format!("/api/v1/projects/{id}"), &admin.token).await.problem(404);
        assert_eq!(app.count("project_members").await, 0, "memberships go with the project");
    }

    async fn membership_add_is_idempotent_and_remove_revokes_access(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let se = app.user(Role::SupportEngineer).await;
        let id = app.post("/api/v1/projects", &pm.token, json!({ "name": "P" })).await.json["id"].as_i64().expect("id");
        app.get(&format!("/api/v1/projects/{id}"), &se.token).await.problem(404);

        let path = format!("/api/v1/projects/{id}/members/{}", se.id);
        let r = app.call("PUT", &path, Some(&pm.token), None).await;
        r.expect(201);
        assert_eq!(r.json["user_id"], json!(se.id));
        assert_eq!(r.json["role"], "support_engineer");
        app.call("PUT", &path, Some(&pm.token), None).await.expect(200);
        app.get(&format!("/api/v1/projects/{id}"), &se.token).await.expect(200);

        app.call("DELETE", &path, Some(&pm.token), None).await.expect(204);
        app.call("DELETE", &path, Some(&pm.token), None).await.problem(404);
        app.get(&format!("/api/v1/projects/{id}"), &se.token).await.problem(404);

        app.call("PUT", &format!("/api/v1/projects/{id}/members/999999"), Some(&pm.token), None).await.problem(404);
    }
}
