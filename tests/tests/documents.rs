//! Documents API: multipart upload and byte-exact download with the content hash, versions,
//! metadata and tag changes, search, pagination, isolation between projects, read-only synced
//! documents, deletion with the bytes, and the audit trail. What a write may carry (media types,
//! size, every part and field) is `documents_input`.

use agentic_host::documents::config::BlobBackend;
use agentic_host::rbac::Role;
use agentic_tests::{stories, Form, Reply, TestApp};
use axum::body::Body;
use axum::http::{header, Request};
use serde_json::{json, Value};

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes that are not text and span several database chunks (256 KiB each).
fn binary(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(crate) fn docs(project: i64) -> String {
    format!("/api/v1/projects/{project}/documents")
}

/// Uploads a text document; returns its id.
pub(crate) async fn upload_text(
    app: &TestApp,
    token: &str,
    project: i64,
    title: &str,
    tags: Value,
    text: &str,
) -> i64 {
    let form = Form::new()
        .file(
            "file",
            &format!("{title}.txt"),
            "text/plain",
            text.as_bytes(),
        )
        .text("title", title)
        .text("tags", &tags.to_string());
    let r = app.upload("POST", &docs(project), token, form).await;
    r.expect(201);
    r.json["id"].as_i64().expect("id")
}

/// Row counts of every table a document write touches.
pub(crate) async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "documents",
        "document_versions",
        "document_tags",
        "blobs",
        "blob_chunks",
    ] {
        out.push(app.count(table).await);
    }
    out
}

#[track_caller]
pub(crate) fn invalid(r: &Reply, fields: &[&str]) {
    r.problem(422);
    let mut got = r.fields();
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
}

fn titles(r: &Reply) -> Vec<String> {
    r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["title"].as_str().expect("title").to_owned())
        .collect()
}

stories! {
    async fn upload_and_download_are_byte_exact_with_the_hash(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let bytes = binary(600 * 1024 + 7, 3);
        let form = Form::new()
            .file("file", "../secret/Spec \"v1\" Übersicht.pdf", "application/pdf", &bytes)
            .text("title", "Specification")
            .text("tags", r#"["spec", "Draft"]"#)
            .text("metadata", r#"{"owner": "qa", "pages": 12}"#);
        let r = app.upload("POST", &docs(project), &tl.token, form).await;
        r.expect(201);
        let doc = r.json.clone();
        let id = doc["id"].as_i64().expect("id");
        assert_eq!(doc["project_id"], json!(project));
        assert_eq!(doc["title"], "Specification");
        assert_eq!(doc["tags"], json!(["spec", "Draft"]));
        assert_eq!(doc["metadata"], json!({"owner": "qa", "pages": 12}));
        assert_eq!(doc["read_only"], false);
        assert_eq!(doc["source"], Value::Null);
        assert_eq!(doc["created_by"], json!(tl.id));
        let v = &doc["current_version"];
        assert_eq!(v["number"], 1);
        assert_eq!(v["filename"], "Spec \"v1\" Übersicht.pdf", "path components are dropped");
        assert_eq!(v["content_type"], "application/pdf");
        assert_eq!(v["size"], json!(bytes.len()));
        assert_eq!(v["sha256"], json!(sha256(&bytes)));
        assert!(app.count("blob_chunks").await >= 3, "stored in chunks");

        let got = app.get(&format!("{}/{id}", docs(project)), &tl.token).await;
        got.expect(200);
        assert_eq!(got.json, doc);

        let r = app.get(&format!("{}/{id}/content", docs(project)), &tl.token).await;
        r.expect(200);
        assert!(r.bytes == bytes, "downloaded bytes differ from the upload");
        assert_eq!(sha256(&r.bytes), sha256(&bytes));
        let h = |name: header::HeaderName| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(h(header::CONTENT_TYPE), "application/pdf");
        assert_eq!(h(header::CONTENT_LENGTH), bytes.len().to_string());
        assert_eq!(h(header::ETAG), format!("\"{}\"", sha256(&bytes)));
        assert_eq!(h(header::CONTENT_DISPOSITION),
            "attachment; filename=\"Spec _v1_ _bersicht.pdf\"; filename*=UTF-8''Spec%20%22v1%22%20%C3%9Cbersicht.pdf");
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(h(header::CONTENT_SECURITY_POLICY).contains("sandbox"));

        // Conditional download: the same hash is 304 without a body.
        let req = Request::get(format!("{}/{id}/content", docs(project)))
            .header(header::AUTHORIZATION, format!("Bearer {}", tl.token))
            .header(header::IF_NONE_MATCH, format!("\"{}\"", sha256(&bytes)))
            .body(Body::empty()).expect("request");
        let r = app.send(req).await;
        r.expect(304);
        assert!(r.bytes.is_empty());

        // A Support Engineer member reads and downloads, but may not upload.
        let se = app.user(Role::SupportEngineer).await;
        let admin = app.admin().await;
        app.call("PUT", &format!("/api/v1/projects/{project}/members/{}", se.id), Some(&admin.token), None).await;
        let r = app.get(&format!("{}/{id}/content", docs(project)), &se.token).await;
        r.expect(200);
        assert!(r.bytes == bytes);
        let form = Form::new().file("file", "a.txt", "text/plain", b"hello");
        app.upload("POST", &docs(project), &se.token, form).await.problem(403);
    }

    async fn a_new_version_keeps_the_old_one_downloadable(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project("Docs", pm.id, &[]).await;
        let v1 = binary(1000, 1);
        let r = app.upload("POST", &docs(project), &pm.token,
            Form::new().file("file", "plan.bin", "application/pdf", &v1).text("tags", r#"["plan"]"#)).await;
        r.expect(201);
        let id = r.json["id"].as_i64().expect("id");
        assert_eq!(r.json["title"], "plan.bin", "title defaults to the file name");
        let base = format!("{}/{id}", docs(project));

        let v2 = b"# Plan\nNow in Markdown.\n".to_vec();
        let r = app.upload("POST", &format!("{base}/versions"), &pm.token,
            Form::new().file("file", "plan.md", "text/markdown", &v2)).await;
        r.expect(201);
        assert_eq!(r.json["current_version"]["number"], 2);
        assert_eq!(r.json["current_version"]["content_type"], "text/markdown");
        assert_eq!(r.json["current_version"]["sha256"], json!(sha256(&v2)));
        assert_eq!(r.json["title"], "plan.bin", "fields stay unless given");
        assert_eq!(r.json["tags"], json!(["plan"]));

        // A third version that also renames.
        let v3 = b"third".to_vec();
        let r = app.upload("POST", &format!("{base}/versions"), &pm.token,
            Form::new().file("file", "plan.txt", "text/plain", &v3).text("title", "The plan")).await;
        r.expect(201);
        assert_eq!(r.json["current_version"]["number"], 3);
        assert_eq!(r.json["title"], "The plan");

        let r = app.get(&format!("{base}/content"), &pm.token).await;
        r.expect(200);
        assert!(r.bytes == v3);
        for (n, bytes, ct) in [(1, &v1, "application/pdf"), (2, &v2, "text/markdown"), (3, &v3, "text/plain")] {
            let r = app.get(&format!("{base}/versions/{n}/content"), &pm.token).await;
            r.expect(200);
            assert!(&r.bytes == bytes, "version {n} bytes");
            assert_eq!(r.headers[header::CONTENT_TYPE], ct);
            assert_eq!(r.headers[header::ETAG], format!("\"{}\"", sha256(bytes)).as_str());
            let meta = app.get(&format!("{base}/versions/{n}"), &pm.token).await;
            meta.expect(200);
            assert_eq!(meta.json["number"], n);
            assert_eq!(meta.json["sha256"], json!(sha256(bytes)));
            assert_eq!(meta.json["created_by"], json!(pm.id));
        }
        let list = app.get(&format!("{base}/versions"), &pm.token).await;
        list.expect(200);
        let numbers: Vec<i64> = list.json["items"].as_array().expect("items").iter()
            .map(|v| v["number"].as_i64().expect("number")).collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        // Versions paginate by number.
        let page = app.get(&format!("{base}/versions?limit=2"), &pm.token).await;
        assert_eq!(page.json["items"].as_array().expect("items").len(), 2);
        let cursor = page.json["next_cursor"].as_str().expect("cursor").to_owned();
        let rest = app.get(&format!("{base}/versions?limit=2&cursor={cursor}"), &pm.token).await;
        assert_eq!(rest.json["items"][0]["number"], 3);
        assert_eq!(rest.json["next_cursor"], Value::Null);

        app.get(&format!("{base}/versions/4"), &pm.token).await.problem(404);
        app.get(&format!("{base}/versions/4/content"), &pm.token).await.problem(404);
        app.get(&format!("{base}/versions/0/content"), &pm.token).await.problem(404);
    }

    async fn title_tags_and_metadata_change_without_a_new_version(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let id = upload_text(&app, &tl.token, project, "Notes", json!(["a"]), "some notes").await;
        let path = format!("{}/{id}", docs(project));
        let before = app.get(&path, &tl.token).await.json;

        let r = app.call("PATCH", &path, Some(&tl.token), Some(json!({
            "title": "  Meeting notes ", "tags": ["Minutes", " q3 "], "metadata": {"room": "B12", "attendees": 4}
        }))).await;
        r.expect(200);
        assert_eq!(r.json["title"], "Meeting notes");
        assert_eq!(r.json["tags"], json!(["Minutes", "q3"]));
        assert_eq!(r.json["metadata"], json!({"room": "B12", "attendees": 4}));
        assert_eq!(r.json["current_version"], before["current_version"], "no new version");
        assert_eq!(app.count("document_versions").await, 1);

        // Absent fields stay; tags are replaced whole.
        let r = app.call("PATCH", &path, Some(&tl.token), Some(json!({ "tags": [] }))).await;
        r.expect(200);
        assert_eq!(r.json["tags"], json!([]));
        assert_eq!(r.json["title"], "Meeting notes");
        assert_eq!(r.json["metadata"]["room"], "B12");
        let r = app.call("PATCH", &path, Some(&tl.token), Some(json!({ "metadata": {} }))).await;
        assert_eq!(r.json["metadata"], json!({}));
        let got = app.get(&path, &tl.token).await;
        assert_eq!(got.json["title"], "Meeting notes");
        assert_eq!(got.json["updated_by"], json!(tl.id));
    }

    async fn search_by_title_tag_and_text(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project("Docs", pm.id, &[]).await;
        upload_text(&app, &pm.token, project, "Release plan", json!(["Plan", "q3"]), "ship the rocket in July").await;
        upload_text(&app, &pm.token, project, "Test report", json!(["qa"]), "all green; rocket fuel nominal").await;
        let form = Form::new()
            .file("file", "budget.pdf", "application/pdf", b"%PDF-1.7 rocket")
            .text("title", "Budget")
            .text("metadata", r#"{"owner": "Finance Team", "fiscal": {"year": 2025}}"#);
        app.upload("POST", &docs(project), &pm.token, form).await.expect(201);
        // Another project's documents never show.
        let other = app.project("Other", pm.id, &[]).await;
        upload_text(&app, &pm.token, other, "Release plan elsewhere", json!(["plan"]), "rocket").await;

        let search = |query: &'static str| {
            let app = &app;
            let token = pm.token.clone();
            async move {
                let r = app.get(&format!("{}?{query}", docs(project)), &token).await;
                r.expect(200);
                titles(&r)
            }
        };
        assert_eq!(search("").await, ["Release plan", "Test report", "Budget"]);
        assert_eq!(search("title=PLAN").await, ["Release plan"]);
        assert_eq!(search("title=re").await, ["Release plan", "Test report"]);
        assert_eq!(search("tag=plan").await, ["Release plan"], "tags match ignoring case");
        assert_eq!(search("tag=pla").await, Vec::<String>::new(), "tags match whole");
        assert_eq!(search("q=finance").await, ["Budget"], "metadata values");
        assert_eq!(search("q=2025").await, ["Budget"], "nested metadata");
        assert_eq!(search("q=rocket").await, ["Release plan", "Test report"], "text content, not binary");
        assert_eq!(search("q=JULY").await, ["Release plan"]);
        assert_eq!(search("q=q3").await, ["Release plan"], "tags are text too");
        assert_eq!(search("q=rocket&tag=qa").await, ["Test report"]);
        assert_eq!(search("q=100%25").await, Vec::<String>::new(), "LIKE wildcards are literal");
        assert_eq!(search("title=_").await, Vec::<String>::new());
        // A new version's text replaces the old one's for search.
        let id = app.get(&format!("{}?title=test", docs(project)), &pm.token).await.json["items"][0]["id"].as_i64().expect("id");
        app.upload("POST", &format!("{}/{id}/versions", docs(project)), &pm.token,
            Form::new().file("file", "r.txt", "text/plain", b"now about satellites")).await.expect(201);
        assert_eq!(search("q=rocket").await, ["Release plan"]);
        assert_eq!(search("q=satellites").await, ["Test report"]);
        // And a metadata change is searchable at once.
        app.call("PATCH", &format!("{}/{id}", docs(project)), Some(&pm.token), Some(json!({"metadata": {"reviewer": "Zoë"}}))).await.expect(200);
        assert_eq!(search("q=zo%C3%AB").await, ["Test report"]);
        assert_eq!(search("q=ZO%C3%8B").await, ["Test report"], "case folding beyond ASCII");
    }

    async fn lists_paginate_with_a_cursor(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let project = app.project("Docs", admin.id, &[]).await;
        for i in 0..7 {
            upload_text(&app, &admin.token, project, &format!("Doc {i}"), json!([]), "x").await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                Some(c) => format!("{}?limit=3&cursor={c}", docs(project)),
                None => format!("{}?limit=3", docs(project)),
            };
            let r = app.get(&url, &admin.token).await;
            r.expect(200);
            pages += 1;
            seen.extend(titles(&r));
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, (0..7).map(|i| format!("Doc {i}")).collect::<Vec<_>>());
        for query in ["limit=0", "limit=201", "cursor=bm90LWEtbnVtYmVy"] {
            let r = app.get(&format!("{}?{query}", docs(project)), &admin.token).await;
            r.problem(422);
        }
        for query in ["limit=x", "unknown=1"] {
            app.get(&format!("{}?{query}", docs(project)), &admin.token).await.problem(400);
        }
        for (query, field) in [("title", "title"), ("tag", "tag"), ("q", "q")] {
            let r = app.get(&format!("{}?{query}={}", docs(project), "x".repeat(300)), &admin.token).await;
            invalid(&r, &[field]);
        }
    }

    async fn another_projects_document_is_not_found(backend) {
        let app = TestApp::start(backend).await;
        let alice = app.user(Role::TechnicalLead).await;
        let bob = app.user(Role::TechnicalLead).await;
        let pa = app.project("A", alice.id, &[]).await;
        let pb = app.project("B", bob.id, &[]).await;
        let da = upload_text(&app, &alice.token, pa, "Secret", json!([]), "alice only").await;
        let before = counts(&app).await;
        // Bob asks for Alice's document through his own project: 404 everywhere (no BOLA).
        let through_b = format!("{}/{da}", docs(pb));
        for (method, path) in [
            ("GET", through_b.clone()),
            ("GET", format!("{through_b}/content")),
            ("GET", format!("{through_b}/versions")),
            ("GET", format!("{through_b}/versions/1")),
            ("GET", format!("{through_b}/versions/1/content")),
            ("DELETE", through_b.clone()),
        ] {
            let r = app.call(method, &path, Some(&bob.token), None).await;
            assert_eq!(r.status.as_u16(), 404, "{method} {path}: {}", r.text);
            r.problem(404);
        }
        app.call("PATCH", &through_b, Some(&bob.token), Some(json!({"title": "mine"}))).await.problem(404);
        app.upload("POST", &format!("{through_b}/versions"), &bob.token,
            Form::new().file("file", "x.txt", "text/plain", b"overwrite")).await.problem(404);
        // And through Alice's project, of which he is not a member: 404 too.
        app.get(&format!("{}/{da}", docs(pa)), &bob.token).await.problem(404);
        app.get(&docs(pa), &bob.token).await.problem(404);
        app.upload("POST", &docs(pa), &bob.token, Form::new().file("file", "x.txt", "text/plain", b"x")).await.problem(404);
        assert_eq!(counts(&app).await, before);
        let r = app.get(&format!("{}/{da}/content", docs(pa)), &alice.token).await;
        assert_eq!(r.bytes, b"alice only");
        // Even an Administrator reaches it only through its own project.
        let admin = app.admin().await;
        app.get(&through_b, &admin.token).await.problem(404);
        app.get(&format!("{}/{da}", docs(pa)), &admin.token).await.expect(200);
    }

    async fn synced_documents_are_read_only(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let id = upload_text(&app, &tl.token, project, "From Jira", json!(["jira"]), "synced text").await;
        // What a connector sync will do: a document with its source (syncing is not in this API).
        let pool = app.state.store.pool();
        sqlx::query("INSERT INTO plugins (id, active_version, installed_at, updated_at) VALUES ('jira', '1.0.0', 0, 0)")
            .execute(pool).await.expect("plugin");
        let connection: i64 = sqlx::query_scalar(
            "INSERT INTO connections (project_id, plugin_id, name, config, base_url, credential_kind, created_at, updated_at) \
             VALUES ($1, 'jira', 'Jira', '{}', 'https://jira.example.com/', 'anonymous', 0, 0) RETURNING id")
            .bind(project).fetch_one(pool).await.expect("connection");
        sqlx::query("UPDATE documents SET source_connection_id = $1, external_id = 'PROJ-42' WHERE id = $2")
            .bind(connection).bind(id).execute(pool).await.expect("mark synced");

        let path = format!("{}/{id}", docs(project));
        let r = app.get(&path, &tl.token).await;
        r.expect(200);
        assert_eq!(r.json["read_only"], true);
        assert_eq!(r.json["source"], json!({"connection_id": connection, "external_id": "PROJ-42"}));
        app.get(&format!("{path}/content"), &tl.token).await.expect(200);
        let before = counts(&app).await;
        let refusals = [
            app.call("PATCH", &path, Some(&tl.token), Some(json!({"title": "changed"}))).await,
            app.upload("POST", &format!("{path}/versions"), &tl.token, Form::new().file("file", "x.txt", "text/plain", b"x")).await,
            app.call("DELETE", &path, Some(&tl.token), None).await,
        ];
        for r in &refusals {
            let p = r.problem(409);
            let detail = p["detail"].as_str().expect("detail");
            assert!(detail.contains("synced") && detail.contains("PROJ-42") && detail.contains("read-only"), "{detail}");
        }
        assert_eq!(counts(&app).await, before);
        assert_eq!(app.get(&path, &tl.token).await.json["title"], "From Jira");
    }

    async fn deleting_removes_versions_and_bytes(backend) {
        let app = TestApp::start(backend).await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let id = upload_text(&app, &tl.token, project, "Gone", json!(["x"]), "v1").await;
        let path = format!("{}/{id}", docs(project));
        app.upload("POST", &format!("{path}/versions"), &tl.token, Form::new().file("file", "v2.bin", "application/pdf", &binary(300 * 1024, 9))).await.expect(201);
        let keep = upload_text(&app, &tl.token, project, "Stays", json!([]), "stays").await;
        assert_eq!(app.count("blobs").await, 3);
        app.call("DELETE", &path, Some(&tl.token), None).await.expect(204);
        app.get(&path, &tl.token).await.problem(404);
        app.get(&format!("{path}/versions/1/content"), &tl.token).await.problem(404);
        app.call("DELETE", &path, Some(&tl.token), None).await.problem(404);
        assert_eq!(counts(&app).await, vec![1, 1, 0, 1, 1], "only the other document remains");
        app.get(&format!("{}/{keep}/content", docs(project)), &tl.token).await.expect(200);

        // Deleting the project takes its documents' bytes along.
        let admin = app.admin().await;
        app.call("DELETE", &format!("/api/v1/projects/{project}"), Some(&admin.token), None).await.expect(204);
        assert_eq!(counts(&app).await, vec![0, 0, 0, 0, 0]);
    }

    async fn the_filesystem_store_keeps_bytes_in_files(backend) {
        let app = TestApp::start_with(backend, |c| c.documents.blob_store = BlobBackend::Filesystem).await;
        let admin = app.admin().await;
        let project = app.project("Docs", admin.id, &[]).await;
        let bytes = binary(200 * 1024, 5);
        let r = app.upload("POST", &docs(project), &admin.token, Form::new().file("file", "f.pdf", "application/pdf", &bytes)).await;
        r.expect(201);
        let id = r.json["id"].as_i64().expect("id");
        assert_eq!(app.count("blobs").await, 0, "nothing in the database store");
        let dir = app.dir.path().join("blobs");
        let files = || std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(files(), 1);
        let got = app.get(&format!("{}/{id}/content", docs(project)), &admin.token).await;
        got.expect(200);
        assert!(got.bytes == bytes);
        app.upload("POST", &format!("{}/{id}/versions", docs(project)), &admin.token, Form::new().file("file", "g.txt", "text/plain", b"two")).await.expect(201);
        assert_eq!(files(), 2);
        app.call("DELETE", &format!("{}/{id}", docs(project)), Some(&admin.token), None).await.expect(204);
        assert_eq!(files(), 0, "a deleted document's files are removed");
        upload_text(&app, &admin.token, project, "p", json!([]), "t").await;
        assert_eq!(files(), 1);
        app.call("DELETE", &format!("/api/v1/projects/{project}"), Some(&admin.token), None).await.expect(204);
        assert_eq!(files(), 0, "a deleted project's files are removed");
    }

    async fn openapi_describes_every_documents_endpoint(backend) {
        let app = TestApp::start(backend).await;
        let r = app.call("GET", "/api/v1/openapi.json", None, None).await;
        r.expect(200);
        let paths = &r.json["paths"];
        let base = "/api/v1/projects/{id}/documents";
        for (path, methods) in [
            (base.to_owned(), &["get", "post"][..]),
            (format!("{base}/{{doc_id}}"), &["get", "patch", "delete"]),
            (format!("{base}/{{doc_id}}/content"), &["get"]),
            (format!("{base}/{{doc_id}}/versions"), &["get", "post"]),
            (format!("{base}/{{doc_id}}/versions/{{number}}"), &["get"]),
            (format!("{base}/{{doc_id}}/versions/{{number}}/content"), &["get"]),
        ] {
            for method in methods {
                let op = &paths[&path][*method];
                assert!(op.is_object(), "{method} {path} missing from OpenAPI");
                assert_eq!(op["tags"], json!(["documents"]));
            }
        }
        for path in [base.to_owned(), format!("{base}/{{doc_id}}/versions")] {
            let form = &paths[&path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"];
            assert!(!form.is_null(), "{path}: multipart body described");
            let responses = &paths[&path]["post"]["responses"];
            for status in ["201", "413", "415", "422"] {
                assert!(responses[status].is_object(), "{path} answers {status}");
            }
        }
    }

    async fn writes_are_audited(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let id = upload_text(&app, &tl.token, project, "Audited", json!([]), "one").await;
        let path = format!("{}/{id}", docs(project));
        app.upload("POST", &format!("{path}/versions"), &tl.token, Form::new().file("file", "b.txt", "text/plain", b"two")).await.expect(201);
        app.call("PATCH", &path, Some(&tl.token), Some(json!({"tags": ["t"]}))).await.expect(200);
        app.call("DELETE", &path, Some(&tl.token), None).await.expect(204);
        for (action, check) in [
            ("document.created", json!({"project_id": project, "title": "Audited", "version": 1, "sha256": sha256(b"one")})),
            ("document.version_created", json!({"project_id": project, "version": 2, "sha256": sha256(b"two")})),
            ("document.updated", json!({"project_id": project, "changed": ["tags"]})),
            ("document.deleted", json!({"project_id": project, "title": "Audited", "versions": 2})),
        ] {
            let r = app.get(&format!("/api/v1/audit?action={action}"), &admin.token).await;
            r.expect(200);
            let items = r.json["items"].as_array().expect("items");
            assert_eq!(items.len(), 1, "{action}: {}", r.text);
            let entry = &items[0];
            assert_eq!(entry["actor_id"], json!(tl.id));
            assert_eq!(entry["target_type"], "document");
            assert_eq!(entry["target_id"], json!(id.to_string()));
            for (k, v) in check.as_object().expect("object") {
                assert_eq!(&entry["detail"][k], v, "{action}.{k}");
            }
        }
    }
}
