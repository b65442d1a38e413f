//! Health, readiness, metrics, the OpenAPI document and docs page, request ids, and problem+json
//! for unknown routes and methods.

use agentic_host::rbac::Role;
use agentic_tests::{stories, TestApp};
use axum::body::Body;
use axum::http::Request;
use serde_json::json;

stories! {
    async fn health_and_readiness(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/healthz", None, None).await;
        r.expect(200);
        assert_eq!(r.json["status"], "ok");
        let r = app.call("GET", "/readyz", None, None).await;
        r.expect(200);
        assert_eq!(r.json["checks"]["database"], "ok");
        // A closed pool is a database outage: readiness says so, liveness does not care.
        app.state.store.close().await;
        app.call("GET", "/readyz", None, None).await.problem(503);
        app.call("GET", "/healthz", None, None).await.expect(200);
    }

    async fn metrics_count_requests_by_route_and_need_permission(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        app.get("/api/v1/projects/12345", &admin.token).await.problem(404);
        app.get("/metrics", &tl.token).await.problem(403);
        app.call("GET", "/metrics", None, None).await.problem(401);
        let r = app.get("/metrics", &admin.token).await;
        r.expect(200);
        assert!(r.text.contains("http_requests_total"), "{}", r.text);
        assert!(r.text.contains(r#"route="/api/v1/projects/{id}""#), "route label is the template");
        assert!(r.text.contains("http_request_duration_seconds_bucket"));
        assert!(!r.text.contains("12345"), "raw ids never become labels");
    }

    async fn every_response_has_a_request_id(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/healthz", None, None).await;
        let id = r.headers.get("x-request-id").expect("request id").to_str().expect("ascii");
        assert_eq!(id.len(), 36);
        let req = Request::get("/healthz").header("x-request-id", "trace-me-42").body(Body::empty()).expect("req");
        let r = app.send(req).await;
        assert_eq!(r.headers.get("x-request-id").expect("echo"), "trace-me-42");
        assert_eq!(r.headers.get("x-content-type-options").expect("nosniff"), "nosniff");
    }

    async fn unknown_routes_and_methods_are_problems(backend) {
        let app = TestApp::start(backend).await;
        app.call("GET", "/api/v1/nothing-here", None, None).await.problem(404);
        app.call("PUT", "/api/v1/projects", None, Some(json!({}))).await.problem(405);
    }

    async fn openapi_describes_every_endpoint_and_the_bearer_scheme(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        r.expect(200);
        let doc = &r.json;
        assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, method) in [
            ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post"), ("/api/v1/auth/logout", "post"),
            ("/api/v1/auth/me", "get"), ("/api/v1/auth/password", "post"), ("/api/v1/auth/sessions", "get"),
            ("/api/v1/auth/sessions/{id}", "delete"), ("/api/v1/users", "post"), ("/api/v1/users/{id}", "patch"),
            ("/api/v1/users/{id}/sessions", "delete"), ("/api/v1/service-accounts", "post"),
            ("/api/v1/service-accounts/{id}/keys", "post"), ("/api/v1/service-accounts/{id}/keys/{key_id}", "delete"),
            ("/api/v1/projects", "get"), ("/api/v1/projects", "post"), ("/api/v1/projects/{id}", "get"),
            ("/api/v1/projects/{id}", "patch"), ("/api/v1/projects/{id}", "delete"),
            ("/api/v1/projects/{id}/members", "get"), ("/api/v1/projects/{id}/members/{user_id}", "put"),
            ("/api/v1/audit", "get"), ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"),
        ] {
            assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from OpenAPI");
        }
        // Login is public; everything else needs the bearer scheme by default.
        assert_eq!(paths["/api/v1/auth/login"]["post"]["security"], json!([{}]));
        assert_eq!(doc["security"], json!([{ "bearer": [] }]));
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(paths["/api/v1/projects"]["post"]["responses"]["422"].is_object());
    }

    async fn docs_page_is_served_from_the_binary(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/docs/", None, None).await;
        r.expect(200);
        assert!(r.text.contains("swagger-ui"), "{}", &r.text[..r.text.len().min(300)]);
        assert!(!r.text.contains("cdn") && !r.text.contains("unpkg"), "no CDN assets");
        let js = app.call("GET", "/api/docs/swagger-ui-bundle.js", None, None).await;
        js.expect(200);
        assert!(js.text.len() > 100_000);
    }

    async fn cors_allows_only_configured_origins(backend) {
        let app = TestApp::start_with(backend, |c| {
            c.http.cors_allowed_origins = vec!["https://app.example.com".into()];
        })
        .await;
        let preflight = |origin: &str| {
            Request::options("/api/v1/projects")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization, content-type")
                .body(Body::empty())
                .expect("req")
        };
        let ok = app.send(preflight("https://app.example.com")).await;
        assert_eq!(ok.headers.get("access-control-allow-origin").expect("allowed"), "https://app.example.com");
        let evil = app.send(preflight("https://evil.example.com")).await;
        assert!(evil.headers.get("access-control-allow-origin").is_none());
    }
}
