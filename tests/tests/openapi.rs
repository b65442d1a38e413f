//! The OpenAPI document is exact (clients are generated from it): valid (unique operation ids, one
//! Rust type per schema name), every error declared as the problem+json it is served as, the
//! standard failures declared on every operation that can answer them; and query strings are held
//! to what the document declares (unknown parameters and malformed values: a 400 problem).

use agentic_tests::{stories, TestApp};
use serde_json::Value;
use std::collections::BTreeMap;

/// Follows a `$ref` (possibly inside a `oneOf` with `null`) to the schema it names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let reference = schema["$ref"].as_str().or_else(|| {
        schema["oneOf"]
            .as_array()
            .and_then(|alts| alts.iter().find_map(|a| a["$ref"].as_str()))
    });
    match reference {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op));
            }
        }
    }
    ops
}

stories! {
    async fn the_document_is_exact(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        r.expect(200);
        let doc = &r.json;
        let mut missing = Vec::new();

        // Operation ids are unique (a duplicate makes the document invalid).
        let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (method, path, op) in operations(doc) {
            let id = op["operationId"].as_str().expect("operationId");
            ids.entry(id).or_default().push(format!("{method} {path}"));
        }
        for (id, uses) in &ids {
            if uses.len() > 1 {
                missing.push(format!("operationId {id} used by {uses:?}"));
            }
        }

        // No two Rust types under one schema name: the document would describe one with the other.
        for conflict in agentic_host::api::schema_name_conflicts() {
            missing.push(format!("schema name shared by different types: {conflict}"));
        }
        let schemas = &doc["components"]["schemas"];
        let health = resolve(doc, &schemas["AgentView"]["properties"]["health"]);
        assert_eq!(health["enum"], serde_json::json!(["healthy", "unhealthy", "unknown"]),
            "agent health documented as {health}");
        let version = resolve(doc, &schemas["DocumentView"]["properties"]["current_version"]);
        for field in ["number", "filename", "content_type", "size", "sha256"] {
            assert!(version["properties"][field].is_object(), "document current_version documented as {version}");
        }

        for (method, path, op) in operations(doc) {
            let here = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            // Errors are served as application/problem+json: declare them so.
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object();
                    let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                    if types != ["application/problem+json"] {
                        missing.push(format!("{here}: {status} declared as {types:?}"));
                    }
                }
            }
            let mut needs: Vec<&str> = Vec::new();
            if op.get("requestBody").is_some() {
                needs.extend(["400", "415", "422"]);
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                needs.extend(["400", "404"]);
            }
            if params.iter().any(|p| p["in"] == "query") {
                needs.push("400");
            }
            // `limit` out of range and a foreign `cursor` are 422 (schemathesis found them
            // undocumented on every list).
            if params.iter().any(|p| p["in"] == "query" && p["name"] == "limit") {
                needs.push("422");
            }
            // Public operations say `security: [{}]`; agent-token ones have no permissions to
            // lack; the rest use the document's default, the bearer credential.
            let public = op["security"] == serde_json::json!([{}]);
            let agent = op["security"].to_string().contains("agent_token");
            if !public {
                needs.push("401");
            }
            if !public && !agent {
                needs.push("403");
            }
            for status in needs {
                if !responses.contains_key(status) {
                    missing.push(format!("{here}: {status} not declared"));
                }
            }
        }
        assert!(missing.is_empty(), "{} problems:\n{}", missing.len(), missing.join("\n"));
    }

    async fn unknown_query_parameters_are_refused_by_name(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "q"})).await;
        let id = project.json["id"].as_i64().expect("project id");
        for path in [
            "/api/v1/jobs?bogus=1".to_owned(),
            format!("/api/v1/projects/{id}/work-items?bogus=1"),
            format!("/api/v1/projects/{id}/connections?bogus=1"),
            "/api/v1/plugins?bogus=1".to_owned(),
            "/api/v1/auth/sessions?bogus=1".to_owned(),
            "/api/v1/admin/performance?bogus=1".to_owned(),
            "/api/v1/projects?bogus=1".to_owned(),
        ] {
            let problem = app.get(&path, &admin.token).await.problem(400).clone();
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("bogus"), "{path}: {detail}");
        }
    }

    async fn malformed_query_values_are_a_problem(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "q"})).await;
        let id = project.json["id"].as_i64().expect("project id");
        for path in [
            "/api/v1/jobs?limit=lots".to_owned(),
            "/api/v1/jobs?project_id=x".to_owned(),
            format!("/api/v1/projects/{id}/work-items?include_deleted=perhaps"),
            "/api/v1/admin/performance?since=yesterday".to_owned(),
            "/api/v1/projects?limit=-1".to_owned(),
        ] {
            let problem = app.get(&path, &admin.token).await.problem(400).clone();
            let detail = problem["detail"].as_str().unwrap_or_default();
            let name = path.split('?').nth(1).and_then(|q| q.split('=').next()).unwrap_or_default();
            assert!(detail.contains(name), "{path}: {detail}");
        }
    }
}

stories! {
    async fn documented_constraints_are_the_enforced_ones(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        let doc = &r.json;
        let schemas = &doc["components"]["schemas"];
        let name = &schemas["CreateProject"]["properties"]["name"];
        let max = name["maxLength"].as_u64().expect("CreateProject.name maxLength") as usize;
        assert_eq!(name["minLength"], 1, "{name}");
        app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "n".repeat(max)})).await.expect(201);
        app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "n".repeat(max + 1)})).await.problem(422);
        assert_eq!(schemas["CreateProject"]["properties"]["owner_id"]["minimum"], 1);

        let limit = doc["paths"]["/api/v1/projects"]["get"]["parameters"].as_array().expect("params")
            .iter().find(|p| p["name"] == "limit").expect("limit")["schema"].clone();
        let (low, high) = (limit["minimum"].as_u64().expect("minimum"), limit["maximum"].as_u64().expect("maximum"));
        app.get(&format!("/api/v1/projects?limit={high}"), &admin.token).await.expect(200);
        app.get(&format!("/api/v1/projects?limit={low}"), &admin.token).await.expect(200);
        app.get(&format!("/api/v1/projects?limit={}", high + 1), &admin.token).await.problem(422);
        app.get(&format!("/api/v1/projects?limit={}", low - 1), &admin.token).await.problem(422);

        let user = &schemas["CreateUser"]["properties"];
        assert_eq!(user["email"]["format"], "email");
        assert_eq!(user["password"]["minLength"], 12);
        assert_eq!(user["password"]["maxLength"], 256);
        let key = &schemas["CreateKey"]["properties"];
        assert_eq!(key["scopes"]["items"]["$ref"], "#/components/schemas/Permission");
        assert_eq!((key["expires_in_days"]["minimum"].as_u64(), key["expires_in_days"]["maximum"].as_u64()), (Some(1), Some(365)));
        let task = &schemas["CreateWebTask"]["properties"];
        assert_eq!(task["steps"]["maxItems"], 50);
        assert_eq!(task["allowed_hosts"]["maxItems"], 32);
    }
}
