//! What a documents write may carry: media types outside the allow list are refused (415); an
//! oversize upload is refused while it streams, never buffered, and the limit is exact for new
//! documents and new versions alike; every bad part of a multipart form and every bad field of a
//! `PATCH` gets a 4xx with the part or field named, and nothing is stored.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::{stories, Form, TestApp};
use axum::body::{Body, Bytes};
use axum::http::{header, Request};
use serde_json::json;

use crate::documents::{counts, docs, invalid, upload_text};

/// A body of `total` bytes made on demand in 16 KiB chunks, counting what the server pulled.
fn streamed_body(prefix: Vec<u8>, total: u64, pulled: Arc<AtomicU64>) -> Body {
    let chunks = futures_util::stream::unfold((Some(prefix), 0u64), move |(prefix, sent)| {
        let pulled = pulled.clone();
        async move {
            let chunk = match prefix {
                Some(p) => Bytes::from(p),
                None if sent >= total => return None,
                None => Bytes::from(vec![b'x'; 16 * 1024]),
            };
            pulled.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            let sent = sent + chunk.len() as u64;
            Some((Ok::<_, Infallible>(chunk), (None, sent)))
        }
    });
    Body::from_stream(chunks)
}

stories! {
    async fn media_types_outside_the_allow_list_are_refused(backend) {
        let app = TestApp::start_with(backend, |c| {
            c.documents.allowed_content_types = vec!["text/*".into(), "application/pdf".into()];
        }).await;
        let admin = app.admin().await;
        let project = app.project("Docs", admin.id, &[]).await;
        let id = upload_text(&app, &admin.token, project, "ok", json!([]), "fine").await;
        let before = counts(&app).await;
        for ct in ["image/svg+xml", "application/x-msdownload", "application/octet-stream", "text"] {
            let form = Form::new().file("file", "x.bin", ct, b"MZ\x90\x00");
            let r = app.upload("POST", &docs(project), &admin.token, form.clone()).await;
            let p = r.problem(415);
            assert!(p["detail"].as_str().expect("detail").contains("text/*, application/pdf"), "{}", r.text);
            app.upload("POST", &format!("{}/{id}/versions", docs(project)), &admin.token, form).await.problem(415);
        }
        assert_eq!(counts(&app).await, before, "nothing stored");
        let form = Form::new().file("file", "data.csv", "text/csv", b"a,b\n1,2\n");
        app.upload("POST", &docs(project), &admin.token, form).await.expect(201);
        // A media type with parameters is judged by its type.
        let form = Form::new().file("file", "n.txt", "Text/Plain; charset=utf-8", b"hi");
        let r = app.upload("POST", &docs(project), &admin.token, form).await;
        r.expect(201);
        assert_eq!(r.json["current_version"]["content_type"], "text/plain");
    }

    async fn an_oversize_upload_is_refused_while_it_streams(backend) {
        const LIMIT: u64 = 64 * 1024;
        let app = TestApp::start_with(backend, |c| c.documents.max_upload_bytes = LIMIT).await;
        let tl = app.user(Role::TechnicalLead).await;
        let project = app.project("Docs", tl.id, &[]).await;
        let before = counts(&app).await;

        // 1 GiB announced by nothing but the stream itself: refused long before its end.
        let head = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n", b = agentic_tests::FORM_BOUNDARY).into_bytes();
        let pulled = Arc::new(AtomicU64::new(0));
        let body = streamed_body(head.clone(), 1 << 30, pulled.clone());
        let req = Request::post(docs(project))
            .header(header::AUTHORIZATION, format!("Bearer {}", tl.token))
            .header(header::CONTENT_TYPE, Form::content_type())
            .body(body).expect("request");
        let r = app.send(req).await;
        let p = r.problem(413);
        assert!(p["detail"].as_str().expect("detail").contains("64 KiB"), "{}", r.text);
        let read = pulled.load(Ordering::SeqCst);
        // The limit, plus at most a couple of 16 KiB chunks in flight.
        assert!(read <= LIMIT + 48 * 1024, "the server read {read} bytes of a 1 GiB body");

        // A declared length past the limit is refused before a byte is read.
        let pulled = Arc::new(AtomicU64::new(0));
        let body = streamed_body(head.clone(), 1 << 30, pulled.clone());
        let req = Request::post(docs(project))
            .header(header::AUTHORIZATION, format!("Bearer {}", tl.token))
            .header(header::CONTENT_TYPE, Form::content_type())
            .header(header::CONTENT_LENGTH, (1u64 << 30).to_string())
            .body(body).expect("request");
        app.send(req).await.problem(413);
        assert_eq!(pulled.load(Ordering::SeqCst), 0, "nothing read");

        // The limit is exact, for new documents and new versions alike.
        let at = vec![b'a'; LIMIT as usize];
        let over = vec![b'a'; LIMIT as usize + 1];
        let r = app.upload("POST", &docs(project), &tl.token, Form::new().file("file", "at.txt", "text/plain", &at)).await;
        r.expect(201);
        let id = r.json["id"].as_i64().expect("id");
        let after_one = counts(&app).await;
        app.upload("POST", &docs(project), &tl.token, Form::new().file("file", "over.txt", "text/plain", &over)).await.problem(413);
        app.upload("POST", &format!("{}/{id}/versions", docs(project)), &tl.token,
            Form::new().file("file", "over.txt", "text/plain", &over)).await.problem(413);
        assert_eq!(counts(&app).await, after_one, "refused uploads store nothing");
        assert_ne!(after_one, before);
        // Nothing is left in the spool directory either.
        let spool = app.dir.path().join("spool");
        let left = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "temporary files are removed");
    }

    async fn bad_uploads_are_refused_with_the_part_named(backend) {
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project("Docs", pm.id, &[]).await;
        let id = upload_text(&app, &pm.token, project, "Keep", json!(["k"]), "keep").await;
        let before = counts(&app).await;
        let file = || Form::new().file("file", "f.txt", "text/plain", b"content");
        let cases: Vec<(Form, Vec<&str>)> = vec![
            (Form::new().text("title", "no file"), vec!["file"]),
            (Form::new().file("file", "empty.txt", "text/plain", b""), vec!["file"]),
            (file().text("title", ""), vec!["title"]),
            (file().text("title", "   "), vec!["title"]),
            (file().text("title", &"x".repeat(201)), vec!["title"]),
            (file().text("title", "two\nlines"), vec!["title"]),
            (file().text("tags", "spec, draft"), vec!["tags"]),
            (file().text("tags", r#"{"a": 1}"#), vec!["tags"]),
            (file().text("tags", "[1, 2]"), vec!["tags"]),
            (file().text("tags", &json!(vec!["t"; 33]).to_string()), vec!["tags"]),
            (file().text("tags", r#"["ok", ""]"#), vec!["tags[1]"]),
            (file().text("tags", &json!(["x".repeat(65)]).to_string()), vec!["tags[0]"]),
            (file().text("tags", r#"["Spec", "spec"]"#), vec!["tags[1]"]),
            (file().text("tags", r#"["bell\u0007"]"#), vec!["tags[0]"]),
            (file().text("metadata", "[1]"), vec!["metadata"]),
            (file().text("metadata", "not json"), vec!["metadata"]),
            (file().text("metadata", &json!({"k": "v".repeat(17 * 1024)}).to_string()), vec!["metadata"]),
            (file().text("owner", "me"), vec!["owner"]),
            (file().text("title", "a").text("title", "b"), vec!["title"]),
            (file().file("file", "g.txt", "text/plain", b"second"), vec!["file"]),
            (file().text("title", &"y".repeat(70 * 1024)), vec!["title"]),
            (Form::new().text("title", "").text("tags", "x"), vec!["title", "tags", "file"]),
        ];
        for (form, fields) in cases {
            let r = app.upload("POST", &docs(project), &pm.token, form.clone()).await;
            invalid(&r, &fields);
            let r = app.upload("POST", &format!("{}/{id}/versions", docs(project)), &pm.token, form).await;
            invalid(&r, &fields);
        }
        let title_bytes = app.raw("POST", &docs(project), &pm.token, Some(&Form::content_type()),
            [b"--".as_slice(), agentic_tests::FORM_BOUNDARY.as_bytes(),
             b"\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n\xff\xfe\r\n--",
             agentic_tests::FORM_BOUNDARY.as_bytes(), b"--\r\n"].concat()).await;
        invalid(&title_bytes, &["title"]);
        // Not multipart at all, or not a complete one.
        for (ct, body, status) in [
            (Some("application/json"), b"{\"title\": \"x\"}".to_vec(), 415),
            (None, b"raw bytes".to_vec(), 415),
            (Some("multipart/form-data"), b"no boundary".to_vec(), 415),
            (Some("text/plain"), b"hello".to_vec(), 415),
            (Some(Form::content_type().as_str()), file().unfinished(), 400),
            (Some(Form::content_type().as_str()), b"garbage without boundaries".to_vec(), 400),
        ] {
            for path in [docs(project), format!("{}/{id}/versions", docs(project))] {
                let r = app.raw("POST", &path, &pm.token, ct, body.clone()).await;
                assert_eq!(r.status.as_u16(), status, "{ct:?} to {path}: {}", r.text);
                r.problem(status);
            }
        }
        assert_eq!(counts(&app).await, before, "a refused upload stored something");

        // PATCH: JSON rules, fields named.
        let path = format!("{}/{id}", docs(project));
        for (body, fields) in [
            (json!({}), vec![""]),
            (json!({ "title": "" }), vec!["title"]),
            (json!({ "title": "a\tb" }), vec!["title"]),
            (json!({ "title": 5 }), vec!["title"]),
            (json!({ "tags": "a" }), vec!["tags"]),
            (json!({ "tags": ["a", "A"] }), vec!["tags[1]"]),
            (json!({ "tags": [""] }), vec!["tags[0]"]),
            (json!({ "metadata": [1] }), vec!["metadata"]),
            (json!({ "metadata": {"k": "v".repeat(17 * 1024)} }), vec!["metadata"]),
            (json!({ "current_version": 5 }), vec!["current_version"]),
            (json!({ "title": "", "tags": [""], "extra": 1 }), vec!["extra"]),
        ] {
            let r = app.call("PATCH", &path, Some(&pm.token), Some(body.clone())).await;
            assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.text);
            invalid(&r, &fields);
        }
        app.raw("PATCH", &path, &pm.token, Some("text/plain"), "{}").await.problem(415);
        app.raw("PATCH", &path, &pm.token, Some("application/json"), "{\"title\":").await.problem(400);
        let got = app.get(&path, &pm.token).await;
        assert_eq!(got.json["title"], "Keep");
        assert_eq!(got.json["tags"], json!(["k"]));
        // Bad path parameters.
        for bad in ["abc", "1.5", "99999999999999999999"] {
            app.get(&format!("{}/{bad}", docs(project)), &pm.token).await.problem(400);
            app.get(&format!("{path}/versions/{bad}"), &pm.token).await.problem(400);
        }
        app.get(&format!("{}/987654", docs(project)), &pm.token).await.problem(404);
    }
}
