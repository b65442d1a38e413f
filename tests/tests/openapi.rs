//! The OpenAPI document is exact (clients are generated from it): valid (unique operation ids, one
//! Rust type per schema name), every error declared as the problem+json it is served as, the
//! standard failures declared on every operation that can answer them; and query strings are held
//! to what the document declares (unknown parameters and malformed values: a 400 problem).
//!
//! Schemathesis (`.ci/schemathesis`) checks the document against the running API at random; the
//! stories here pin each class of its findings: states, health, kinds and buckets declared as
//! enums whose every value is accepted; a cursor of the documented shape accepted; text rules
//! declared as the patterns the checks enforce; whole floats accepted as integers; changes
//! needing a field; permission checked before the query string.

use agentic_tests::{stories, TestApp};
use serde_json::Value;
use std::collections::BTreeMap;

/// Operations that need a credential and no permission (`api::docs::NO_PERMISSION`).
const NO_PERMISSION: [&str; 5] = [
    "me",
    "logout",
    "list_sessions",
    "revoke_session",
    "oidc_logout",
];

/// The schema of `name`, a parameter of `method path`.
fn param<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
}

/// The enum values of `schema` (following a `$ref`), as strings.
fn enum_values(doc: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve(doc, schema);
    let values = schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("not an enum: {schema}"));
    values
        .iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect()
}

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
            // Errors are served as application/problem+json: declare them so. The exception is
            // SCIM (`/scim/v2`), whose clients expect SCIM error messages (RFC 7644 §3.12) as
            // application/scim+json.
            let scim = path.starts_with("/scim/v2/");
            let error_type = if scim { "application/scim+json" } else { "application/problem+json" };
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object();
                    let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                    if types != [error_type] {
                        missing.push(format!("{here}: {status} declared as {types:?}"));
                    }
                }
            }
            let mut needs: Vec<&str> = Vec::new();
            if op.get("requestBody").is_some() {
                // SCIM has no 422: a body breaking the schema is a 400 with a `scimType`.
                needs.extend(if scim { ["400", "413", "415"] } else { ["400", "415", "422"] });
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["in"] == "path") {
                // SCIM ids are strings: any one is of the declared type, and names a resource or not.
                needs.extend(if scim { &["404"][..] } else { &["400", "404"][..] });
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
            let own = NO_PERMISSION.contains(&op["operationId"].as_str().unwrap_or_default());
            if !public {
                needs.push("401");
            }
            if !public && !agent && !own {
                needs.push("403");
            }
            // The caller's own account and sessions need no permission: no 403 to declare.
            if own && responses.contains_key("403") {
                missing.push(format!("{here}: declares a 403 it cannot answer"));
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

stories! {
    async fn states_health_kinds_and_buckets_are_enums_whose_values_are_accepted(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let schemas = &doc["components"]["schemas"];
        let project = app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "e"})).await;
        let id = project.json["id"].as_i64().expect("project id");

        let states = enum_values(&doc, param(&doc, "get", "/api/v1/jobs", "state"));
        assert_eq!(states, ["queued", "running", "succeeded", "dead", "cancelled"]);
        assert_eq!(enum_values(&doc, &schemas["JobView"]["properties"]["state"]), states);
        for state in &states {
            app.get(&format!("/api/v1/jobs?state={state}"), &admin.token).await.expect(200);
        }
        let agents = "/api/v1/projects/{id}/agents";
        let health = enum_values(&doc, param(&doc, "get", agents, "health"));
        assert_eq!(health, ["healthy", "unhealthy", "unknown"]);
        for h in &health {
            app.get(&format!("/api/v1/projects/{id}/agents?health={h}"), &admin.token).await.expect(200);
        }
        let agent_states = enum_values(&doc, param(&doc, "get", agents, "state"));
        assert_eq!(enum_values(&doc, &schemas["AgentView"]["properties"]["state"]), agent_states);
        for s in &agent_states {
            app.get(&format!("/api/v1/projects/{id}/agents?state={s}"), &admin.token).await.expect(200);
        }
        // An agent's kind is a built-in kind or an installed package's id: a string of the id
        // pattern, whose description names every built-in kind served here.
        let served = app.get("/api/v1/agent-kinds", &admin.token).await;
        let names: Vec<&str> = served.json.as_array().expect("kinds").iter().filter_map(|k| k["name"].as_str()).collect();
        assert_eq!(names, ["web-monitor", "sync-assistant", "triage-assistant", "external"]);
        for schema in ["CreateAgent", "AgentView"] {
            let kind = &schemas[schema]["properties"]["kind"];
            assert_eq!(kind["type"], "string", "{schema}: {kind}");
            assert_eq!(kind["pattern"], "^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$", "{schema}: {kind}");
            let description = kind["description"].as_str().unwrap_or_default();
            for name in &names {
                assert!(description.contains(&format!("`{name}`")), "{schema}.kind should name {name}: {description}");
            }
            assert!(description.contains("installed agent package"), "{description}");
        }
        let section = "/api/v1/projects/{id}/analytics/{section}";
        let buckets = enum_values(&doc, param(&doc, "get", section, "bucket"));
        assert_eq!(buckets, ["hour", "day", "week", "month"]);
        assert_eq!(param(&doc, "get", section, "from")["format"], "date-time");
        for b in &buckets {
            app.get(&format!("/api/v1/projects/{id}/analytics/jobs?bucket={b}"), &admin.token).await.expect(200);
        }
    }

    async fn any_cursor_of_the_documented_shape_is_accepted(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let cursor = param(&doc, "get", "/api/v1/projects", "cursor");
        assert_eq!(cursor["pattern"], "^([A-Za-z0-9_-]{10}[AEIMQUYcgkosw048])?$", "{cursor}");
        for n in 0..3 {
            app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": format!("c{n}")})).await.expect(201);
        }
        let first = app.get("/api/v1/projects?limit=1", &admin.token).await;
        let next = first.json["next_cursor"].as_str().expect("a next page").to_owned();
        assert_eq!(next.len(), 11, "{next}");
        app.get(&format!("/api/v1/projects?limit=1&cursor={next}"), &admin.token).await.expect(200);
        // Values of the shape a client could make up: before everything, past everything.
        let all = app.get("/api/v1/projects?cursor=AAAAAAAAAAA", &admin.token).await;
        assert_eq!(all.json["items"].as_array().map(Vec::len), Some(3));
        let none = app.get("/api/v1/projects?cursor=__________8", &admin.token).await;
        assert_eq!(none.json["items"], serde_json::json!([]));
        app.get("/api/v1/projects?cursor=", &admin.token).await.expect(200);
        // Of another shape: refused, naming the cursor.
        for bad in ["MTIz", "AAAAAAAAAAB", "!!"] {
            let problem = app.get(&format!("/api/v1/projects?cursor={bad}"), &admin.token).await.problem(422).clone();
            assert_eq!(problem["errors"][0]["field"], "cursor", "{bad}");
        }
    }

    async fn text_rules_are_declared_as_the_patterns_the_checks_enforce(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let schemas = &doc["components"]["schemas"];
        let name = &schemas["CreateProject"]["properties"]["name"];
        let line = name["pattern"].as_str().unwrap_or_else(|| panic!("no pattern: {name}"));
        assert!(line.contains("\\u0000-\\u001F\\u007F-\\u009F") && line.contains("\\u3000"), "{line}");
        for (schema, field) in [("CreateUser", "display_name"), ("CreateAccount", "name"), ("UpdateProject", "name"), ("CreateWebTask", "name")] {
            assert_eq!(schemas[schema]["properties"][field]["pattern"], line, "{schema}.{field}");
        }
        let description = schemas["CreateProject"]["properties"]["description"]["pattern"].as_str().expect("text pattern");
        assert!(description.contains("\\u000B-\\u001F"), "tab and line feed allowed: {description}");
        // What the patterns allow is accepted: a name with inner spaces, non-BMP letters, a
        // no-break space; a description over several lines with tabs.
        let ok = serde_json::json!({"name": "a\u{a0}b 𝄞 ü", "description": "one\n\ttwo"});
        app.post("/api/v1/projects", &admin.token, ok).await.expect(201);
        // What they refuse is refused, naming the field.
        for bad in ["\u{a0} \u{3000}", "bell\u{7}", "c1\u{85}", "two\nlines"] {
            let r = app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": bad})).await;
            assert_eq!(r.problem(422)["errors"][0]["field"], "name", "{bad:?}");
        }
        // Strings without a rule of their own hold no NUL, as both extractors refuse it.
        assert_eq!(param(&doc, "get", "/api/v1/users", "q")["pattern"], "^[^\\u0000]*$");
        assert_eq!(schemas["LoginRequest"]["properties"]["password"]["pattern"], "^[^\\u0000]*$");
        // Length limits count characters, as JSON Schema does.
        let r = app.post("/api/v1/auth/login", "", serde_json::json!({"email": "é".repeat(254), "password": "x"})).await;
        assert_eq!(r.status.as_u16(), 401, "{}", r.text);
        let host = &schemas["HostPattern"];
        assert!(host["pattern"].as_str().is_some_and(|p| p.starts_with("^(\\*|")), "{host}");
        let key = schemas["TrustPublisher"]["properties"]["public_key"]["pattern"].as_str().expect("key pattern");
        assert!(key.starts_with("^ed25519:"), "{key}");
        let good = format!("ed25519:{}=", "A".repeat(43));
        app.post("/api/v1/plugin-publishers", &admin.token, serde_json::json!({"name": "p", "public_key": good})).await.expect(201);
        let spaced = format!(" ed25519:{}Q=", "B".repeat(42));
        let r = app.post("/api/v1/plugin-publishers", &admin.token, serde_json::json!({"name": "q", "public_key": spaced})).await;
        assert_eq!(r.problem(422)["errors"][0]["field"], "public_key");
    }

    async fn whole_floats_are_integers_and_changes_need_a_field(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        let schemas = &doc["components"]["schemas"];
        let account = app.post("/api/v1/service-accounts", &admin.token, serde_json::json!({"name": "bot", "role": "technical_lead"})).await;
        let id = account.json["id"].as_i64().expect("account id");
        let key = serde_json::json!({"name": "k", "scopes": ["projects:read"], "expires_in_days": 30.0});
        app.post(&format!("/api/v1/service-accounts/{id}/keys"), &admin.token, key).await.expect(201);
        let fraction = serde_json::json!({"name": "k", "scopes": ["projects:read"], "expires_in_days": 30.5});
        let r = app.post(&format!("/api/v1/service-accounts/{id}/keys"), &admin.token, fraction).await;
        assert_eq!(r.problem(422)["errors"][0]["field"], "expires_in_days");

        for name in ["UpdateProject", "UpdateDocument", "UpdateAgent", "UpdateWebTask", "UpdateUser"] {
            assert_eq!(schemas[name]["minProperties"], 1, "{name}");
            assert!(schemas[name].get("maxProperties").is_none(), "{name}");
        }
        assert_eq!(schemas["UpdateProject"]["properties"]["name"]["type"], "string", "not nullable");
        let project = app.post("/api/v1/projects", &admin.token, serde_json::json!({"name": "f"})).await;
        let path = format!("/api/v1/projects/{}", project.json["id"]);
        let token = Some(admin.token.as_str());
        app.call("PATCH", &path, token, Some(serde_json::json!({}))).await.problem(422);
        let r = app.call("PATCH", &path, token, Some(serde_json::json!({"name": null, "description": "d"}))).await;
        assert_eq!(r.problem(422)["errors"][0]["field"], "name");
        app.call("PATCH", &path, token, Some(serde_json::json!({"description": "d"}))).await.expect(200);
    }

    async fn permission_is_checked_before_the_query_string(backend) {
        let app = TestApp::start(backend).await;
        let support = app.user(agentic_host::rbac::Role::SupportEngineer).await;
        for path in ["/api/v1/audit?bogus=1", "/api/v1/audit?limit=lots", "/api/v1/users?cursor=%00", "/api/v1/plugin-publishers?x=1"] {
            app.get(path, &support.token).await.problem(403);
        }
        // The caller's own account needs no permission: no 403, and the document declares none.
        app.get("/api/v1/auth/me", &support.token).await.expect(200);
        let doc = app.call("GET", "/api/v1/openapi.json", None, None).await.json;
        assert!(doc["paths"]["/api/v1/auth/me"]["get"]["responses"].get("403").is_none());
        let upload = &doc["paths"]["/api/v1/projects/{id}/documents"]["post"]["requestBody"]["content"]["multipart/form-data"];
        let types = upload["encoding"]["file"]["contentType"].as_str().unwrap_or_default();
        assert!(types.contains("text/plain") && types.contains("application/pdf"), "{upload}");
    }
}
