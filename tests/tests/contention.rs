//! Writes under contention: many concurrent writes through the real router, none may fail
//! because another write holds the database (SQLite's single writer answered `database is
//! locked` to a transaction that read before it wrote).

use agentic_host::rbac::Role;
use agentic_tests::{stories, Form, TestApp};
use futures_util::future::join_all;
use serde_json::json;

/// A small text document's upload form.
fn note(n: usize) -> Form {
    Form::new()
        .file(
            "file",
            &format!("note-{n}.txt"),
            "text/plain",
            format!("note {n}").as_bytes(),
        )
        .text("title", &format!("Note {n}"))
}

stories! {
    async fn concurrent_deletes_uploads_and_updates_all_succeed(backend) {
        const DOCS: usize = 600;
        let app = TestApp::start(backend).await;
        let pm = app.user(Role::ProjectManager).await;
        let project = app.project("Busy", pm.id, &[]).await;
        let docs = format!("/api/v1/projects/{project}/documents");
        let mut ids = Vec::with_capacity(DOCS);
        for n in 0..DOCS {
            let r = app.upload("POST", &docs, &pm.token, note(n)).await;
            r.expect(201);
            ids.push(r.json["id"].as_i64().expect("id"));
        }

        // Every document deleted at once, interleaved with new uploads and project updates.
        let (app, docs, token) = (&app, docs.as_str(), pm.token.as_str());
        let deletes = ids.iter().map(|id| async move {
            let r = app.call("DELETE", &format!("{docs}/{id}"), Some(token), None).await;
            (format!("DELETE {id}"), r.status, r.text)
        });
        let uploads = (0..100).map(|n| async move {
            let r = app.upload("POST", docs, token, note(DOCS + n)).await;
            (format!("upload {n}"), r.status, r.text)
        });
        let updates = (0..100).map(|n| async move {
            let r = app.call("PATCH", &format!("/api/v1/projects/{project}"), Some(token),
                Some(json!({"description": format!("update {n}")}))).await;
            (format!("update {n}"), r.status, r.text)
        });
        let (deleted, uploaded, updated) = tokio::join!(join_all(deletes), join_all(uploads), join_all(updates));
        let failures: Vec<_> = deleted.iter().filter(|(_, s, _)| s.as_u16() != 204)
            .chain(uploaded.iter().filter(|(_, s, _)| s.as_u16() != 201))
            .chain(updated.iter().filter(|(_, s, _)| s.as_u16() != 200))
            .collect();
        assert!(failures.is_empty(), "{} of {} writes failed, first: {:?}",
            failures.len(), DOCS + 200, failures.first());
        assert_eq!(app.count("documents").await, 100);
        assert_eq!(app.all(&pm.token, docs).await.len(), 100);
    }
}
