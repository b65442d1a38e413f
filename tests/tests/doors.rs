//! The DOORS connector end to end through the host: the real component (built from
//! `plugins/doors`), installed signed like any third-party plugin, imports a ReqIF export that a
//! Jazz server (the fake in `agentic_tests::providers`) serves behind its form login — the host
//! logs in with the connection's password, keeps the session cookie, and logs in again when the
//! server answers `authrequired` — into SQLite and PostgreSQL. What the read APIs show is what
//! the file holds, field by field; a changed export updates, adds and deletes exactly what
//! changed; the `export-reqif` action writes the synced requirements back as ReqIF, which a
//! second connection imports into the same records. The password is in no record, state, job,
//! connection row or response. Hostile files, and files past the host's response cap, are
//! refused with the limit (or the host's setting) named.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentic_host::rbac::Role;
use agentic_tests::doors::{next, Export, LINK_TYPES, STATUSES, TEXTS};
use agentic_tests::providers::{Provider, JAZZ_PASSWORD, JAZZ_USER};
use agentic_tests::{plugin_manifest, stories, TestApp};
use serde_json::{json, Value};

/// Installs the DOORS component signed by a newly trusted publisher and enables it in a new
/// project owned by `owner`.
async fn project_with_doors(app: &TestApp, admin: &str, owner: i64) -> i64 {
    let manifest = plugin_manifest("doors");
    (app.project_with_plugin(admin, "doors", &manifest, ("Requirements", owner, &[]))).await
}

/// A connection to `/rm/reqif/{file}` on the Jazz fake with form login (as the administrator:
/// a loopback server needs private networks allowed); returns its id and the check's answer.
async fn connect(
    app: &TestApp,
    admin: &str,
    project: i64,
    jazz: &Provider,
    file: &str,
) -> (i64, Value) {
    let url = format!("/api/v1/projects/{project}/connections");
    let created = app
        .post(
            &url,
            admin,
            json!({
                "plugin_id": "doors", "name": file, "base_url": format!("{}/rm", jazz.url),
                "config": {"reqif_path": format!("/reqif/{file}"), "page_size": 7},
                "allow_private_network": true,
                "credential": {"kind": "form-login", "username": JAZZ_USER, "password": JAZZ_PASSWORD,
                               "login_url": format!("{}/rm/j_security_check", jazz.url)},
            }),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    let check = app
        .post(&format!("{url}/{cid}/check"), admin, json!({}))
        .await;
    check.expect(200);
    (cid, check.json)
}

/// Saves a connection to `/rm/reqif/{file}` unchecked (a check before saving would refuse
/// it), checks it as `checker` and returns the `config` error's detail the check answers.
async fn refusal(
    app: &TestApp,
    admin: &str,
    checker: &str,
    project: i64,
    jazz: &Provider,
    file: &str,
) -> String {
    let url = format!("/api/v1/projects/{project}/connections");
    let created = app.post(&format!("{url}?check=false"), admin, json!({
        "plugin_id": "doors", "name": file, "base_url": format!("{}/rm", jazz.url),
        "config": {"reqif_path": format!("/reqif/{file}")}, "allow_private_network": true,
        "credential": {"kind": "form-login", "username": JAZZ_USER, "password": JAZZ_PASSWORD,
                       "login_url": format!("{}/rm/j_security_check", jazz.url)},
    })).await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    let check = app
        .post(&format!("{url}/{cid}/check"), checker, json!({}))
        .await;
    check.expect(200);
    assert_eq!(check.json["ok"], false, "{}", check.json);
    assert_eq!(check.json["error"], "config", "{}", check.json);
    check.json["detail"].as_str().expect("detail").to_owned()
}

/// Syncs every stream of the connection; returns each stream's job result.
async fn sync(app: &TestApp, token: &str, project: i64, cid: i64) -> BTreeMap<String, Value> {
    let started = app
        .post(
            &format!("/api/v1/projects/{project}/connections/{cid}/sync"),
            token,
            json!({}),
        )
        .await;
    started.expect(202);
    let job = app
        .finished_job(token, started.json["job"]["id"].as_i64().expect("id"))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let mut out = BTreeMap::new();
    for id in job["result"]["jobs"]
        .as_array()
        .expect("one job per stream")
    {
        let child = app.finished_job(token, id.as_i64().expect("id")).await;
        assert_eq!(child["state"], "succeeded", "{child}");
        out.insert(
            child["payload"]["stream"]
                .as_str()
                .expect("stream")
                .to_owned(),
            child["result"].clone(),
        );
    }
    out
}

/// A model list of one connection by external id (deleted records included).
async fn by_id(
    app: &TestApp,
    token: &str,
    project: i64,
    model: &str,
    cid: i64,
) -> BTreeMap<String, Value> {
    app.all(
        token,
        &format!("/api/v1/projects/{project}/{model}?connection_id={cid}&include_deleted=true"),
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r["external_id"].as_str().expect("external id").to_owned(),
            r,
        )
    })
    .collect()
}

/// The read APIs show what the export holds, field by field (deleted records aside).
async fn assert_mirrors(app: &TestApp, token: &str, project: i64, cid: i64, export: &Export) {
    let got = by_id(app, token, project, "requirements", cid).await;
    let live: Vec<&String> = got
        .iter()
        .filter(|(_, r)| r["deleted"] == false)
        .map(|(k, _)| k)
        .collect();
    let mut want_ids: Vec<&String> = export.reqs.iter().map(|r| &r.id).collect();
    want_ids.sort();
    assert_eq!(live, want_ids, "the requirements");
    for (order, r) in export.reqs.iter().enumerate() {
        let g = &got[&r.id];
        let module = &export.modules[r.module];
        let text = if r.heading { "" } else { TEXTS[r.text].1 };
        assert_eq!(g["identifier"], Export::identifier(r), "{}", r.id);
        assert_eq!(g["title"], r.title, "{}", r.id);
        assert_eq!(g["text"], text, "{}", r.id);
        assert_eq!(g["status"], STATUSES[r.status], "{}", r.id);
        assert_eq!(g["module"], module.as_str(), "{}", r.id);
        assert_eq!(g["parent"], json!(r.parent), "{}", r.id);
        assert_eq!(
            g["updated_at"],
            agentic_tests::rfc3339(r.changed),
            "{}",
            r.id
        );
        assert_eq!(g["attributes"]["Risk"], r.risk, "{}", r.id);
        assert_eq!(g["attributes"]["Status"], STATUSES[r.status], "{}", r.id);
        assert_eq!(
            g["attributes"]["ReqIF.ForeignID"],
            r.number.to_string(),
            "{}",
            r.id
        );
        assert_eq!(g["attributes"]["reqif"]["type"], "DOORS Object", "{}", r.id);
        // Position among its siblings in the module, from 1.
        let siblings: Vec<&str> = export.reqs[..=order]
            .iter()
            .filter(|s| s.module == r.module && s.parent == r.parent)
            .map(|s| s.id.as_str())
            .collect();
        let position = &g["attributes"]["reqif"]["positions"][0];
        assert_eq!(position["order"], siblings.len(), "{}", r.id);
        assert_eq!(
            position["level"],
            if r.parent.is_some() { 2 } else { 1 },
            "{}",
            r.id
        );
        assert_eq!(
            position["specification"],
            format!("_spec{}", r.module),
            "{}",
            r.id
        );
    }
    let links = by_id(app, token, project, "trace-links", cid).await;
    let live: BTreeMap<&String, &Value> = links
        .iter()
        .filter(|(_, l)| l["deleted"] == false)
        .collect();
    assert_eq!(live.len(), export.links.len(), "the links");
    for l in &export.links {
        let g = live.get(&l.id).unwrap_or_else(|| panic!("link {}", l.id));
        assert_eq!(
            (
                g["source"].as_str(),
                g["target"].as_str(),
                g["link_type"].as_str()
            ),
            (
                Some(l.source.as_str()),
                Some(l.target.as_str()),
                Some(LINK_TYPES[l.kind])
            ),
            "{}",
            l.id
        );
    }
}

/// A DOORS Next connection (form login, a configuration) to the Jazz fake's OSLC RM service.
async fn connect_next(app: &TestApp, admin: &str, project: i64, jazz: &Provider) -> (i64, Value) {
    let url = format!("/api/v1/projects/{project}/connections");
    let created = app
        .post(
            &url,
            admin,
            json!({
                "plugin_id": "doors", "name": "doors-next", "base_url": format!("{}/rm", jazz.url),
                "config": {"source": "doors-next", "project_areas": [next::PROJECT_AREA],
                           "configuration": CONFIGURATION, "page_size": 25},
                "allow_private_network": true,
                "credential": {"kind": "form-login", "username": JAZZ_USER, "password": JAZZ_PASSWORD,
                               "login_url": format!("{}/rm/j_security_check", jazz.url)},
            }),
        )
        .await;
    created.expect(201);
    let cid = created.json["id"].as_i64().expect("id");
    let check = app
        .post(&format!("{url}/{cid}/check"), admin, json!({}))
        .await;
    check.expect(200);
    (cid, check.json)
}

const CONFIGURATION: &str = "https://jazz.example.com/rm/cm/stream/_brakes-main";

/// The requirements and links the host shows for a DOORS Next connection match the server's.
async fn assert_mirrors_next(app: &TestApp, token: &str, project: i64, cid: i64, jazz: &Provider) {
    let data: Vec<next::NextReq> = jazz.seen().next.reqs.clone();
    let uri = |n: u32| format!("{}/rm/oslc/rm/req{n:02}", jazz.url);
    let got = by_id(app, token, project, "requirements", cid).await;
    let live: Vec<&String> = got
        .iter()
        .filter(|(_, r)| r["deleted"] == false)
        .map(|(k, _)| k)
        .collect();
    let mut want: Vec<String> = data.iter().map(|r| uri(r.number)).collect();
    want.sort();
    assert_eq!(live, want.iter().collect::<Vec<_>>(), "the requirements");
    for r in &data {
        let g = &got[&uri(r.number)];
        assert_eq!(g["identifier"], r.number.to_string());
        assert_eq!(g["title"], r.title);
        assert_eq!(g["text"], TEXTS[r.text].1, "{}", r.number);
        assert_eq!(g["updated_at"], agentic_tests::rfc3339(r.modified));
        assert_eq!(g["attributes"]["oslc"]["project_area"], next::PROJECT_AREA);
        assert_eq!(g["attributes"]["oslc"]["type"], "User Requirement");
        assert_eq!(
            g["attributes"]["parent"],
            format!("{}/rm/folders/1", jazz.url)
        );
    }
    let links = by_id(app, token, project, "trace-links", cid).await;
    let live: Vec<(String, String, String)> = links
        .values()
        .filter(|l| l["deleted"] == false)
        .map(|l| {
            (
                l["source"].as_str().expect("source").to_owned(),
                l["target"].as_str().expect("target").to_owned(),
                l["link_type"].as_str().expect("link type").to_owned(),
            )
        })
        .collect();
    let mut want: Vec<(String, String, String)> = data
        .iter()
        .flat_map(|r| r.validated_by.iter().map(move |t| (r.number, *t)))
        .map(|(s, t)| (uri(s), uri(t), "validatedBy".to_owned()))
        .collect();
    want.sort();
    let mut live = live;
    live.sort();
    assert_eq!(live, want, "the links");
}

stories! {
    async fn doors_next_syncs_incrementally_by_its_tracked_resource_set(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_doors(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let jazz = Provider::start().await;
        {
            let mut seen = jazz.seen();
            seen.next = next::NextData::generate(40);
            seen.next.trs = Some((1..=40).map(|n| (u64::from(n), "Creation", n)).collect());
        }
        let (cid, _) = connect_next(&app, &admin.token, project, &jazz).await;

        // A first sync reads the base (25 members a page) and no OSLC query.
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r["oslc-requirements"], json!({"records": 40, "pages": 2, "deleted": 0}));
        assert_eq!(r["oslc-links"]["records"], 9);
        assert!(jazz.seen().next.queries.is_empty());
        assert_mirrors_next(&app, &pm.token, project, cid, &jazz).await;

        // Requirement 10 is edited and 30 deleted: the next sync reads the change log back to
        // the cutoff the first one kept, and fetches requirement 10 alone.
        {
            let mut seen = jazz.seen();
            seen.next.reqs[9].title = "Req10 revised".into();
            seen.next.reqs[9].modified = 1_800_000_000_000;
            seen.next.reqs.retain(|r| r.number != 30);
            let events = seen.next.trs.as_mut().expect("trs");
            events.extend([(41, "Modification", 10), (42, "Deletion", 30)]);
            seen.next.trs_reads.clear();
        }
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r["oslc-requirements"], json!({"records": 1, "pages": 1, "deleted": 1}),
            "the edit stored, the Deletion event applied in the same run");
        let reads = jazz.seen().next.trs_reads.clone();
        assert!(!reads.iter().any(|p| p.starts_with("/rm/trs2/base")), "{reads:?}");
        let fetched: Vec<&String> = reads.iter().filter(|p| p.starts_with("/rm/oslc/rm/")).collect();
        assert_eq!(fetched, ["/rm/oslc/rm/req10", "/rm/oslc/rm/req10"], "once per stream");
        let got = by_id(&app, &pm.token, project, "requirements", cid).await;
        assert_eq!(got[&format!("{}/rm/oslc/rm/req10", jazz.url)]["title"], "Req10 revised");
        // The Deletion event marked requirement 30 deleted at once (contract 0.3.0).
        assert_eq!(got[&format!("{}/rm/oslc/rm/req30", jazz.url)]["deleted"], true);
        assert_eq!(got.values().filter(|r| r["deleted"] == true).count(), 1, "exactly that one");
        assert_mirrors_next(&app, &pm.token, project, cid, &jazz).await;
        // A full sync then finds nothing more to delete among the requirements.
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token,
            json!({"stream": "oslc-requirements", "mode": "full"})).await;
        started.expect(202);
        let job = app.finished_job(&pm.token, started.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["result"]["deleted"], 0, "{job}");
        assert_mirrors_next(&app, &pm.token, project, cid, &jazz).await;
    }

    async fn doors_next_syncs_over_oslc_with_form_login_and_a_configuration(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_doors(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let jazz = Provider::start().await;
        {
            let mut seen = jazz.seen();
            seen.next = next::NextData::generate(60);
            seen.next.configuration = Some(CONFIGURATION.into());
        }
        let (cid, check) = connect_next(&app, &admin.token, project, &jazz).await;
        assert_eq!(check, json!({"ok": true, "message": "DOORS Next: 1 requirement query capabilities in Brakes"}));
        let logins = jazz.seen().logins;

        // A first sync reads everything, 25 a page, following oslc:nextPage.
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r.keys().collect::<Vec<_>>(), ["oslc-links", "oslc-requirements"]);
        assert_eq!(r["oslc-requirements"], json!({"records": 60, "pages": 3, "deleted": 0}));
        assert_eq!(r["oslc-links"]["records"], 14);
        assert_mirrors_next(&app, &pm.token, project, cid, &jazz).await;
        assert_eq!(jazz.seen().logins, logins);

        // Two requirements change, the session ends: an incremental sync logs in again and
        // asks only for what was modified since the last one it saw.
        {
            let mut seen = jazz.seen();
            seen.next.reqs[9].title = "Req10 revised".into();
            seen.next.reqs[9].modified = 1_800_000_000_000;
            seen.next.reqs[40].text = 0;
            seen.next.reqs[40].modified = 1_800_000_060_000;
            seen.next.queries.clear();
        }
        jazz.end_jazz_sessions();
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r["oslc-requirements"], json!({"records": 2, "pages": 1, "deleted": 0}));
        assert_eq!(jazz.seen().logins, logins + 1, "logged in again on authrequired");
        let wheres: Vec<String> = jazz.seen().next.queries.iter()
            .filter_map(|q| q.get("oslc.where").cloned()).collect();
        assert!(wheres.iter().all(|w| w == "dcterms:modified>\"2023-11-14T23:13:20Z\"^^xsd:dateTime"), "after requirement 60, the latest seen: {wheres:?}");
        assert!(!wheres.is_empty());
        assert_mirrors_next(&app, &pm.token, project, cid, &jazz).await;

        // A requirement is deleted in DOORS Next: a full sync marks it deleted.
        jazz.seen().next.reqs.retain(|r| r.number != 30);
        let started = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/sync"), &pm.token,
            json!({"stream": "oslc-requirements", "mode": "full"})).await;
        started.expect(202);
        let job = app.finished_job(&pm.token, started.json["job"]["id"].as_i64().expect("id")).await;
        assert_eq!(job["result"]["deleted"], 1, "{job}");
        let after = by_id(&app, &pm.token, project, "requirements", cid).await;
        assert_eq!(after[&format!("{}/rm/oslc/rm/req30", jazz.url)]["deleted"], true);

        // Every query carried the configuration; the password is nowhere.
        let mut stored: Vec<String> = Vec::new();
        for sql in ["SELECT data FROM records", "SELECT COALESCE(state, '') FROM sync_states",
                    "SELECT payload || COALESCE(result, '') || COALESCE(last_error, '') || progress_message FROM jobs",
                    "SELECT config || base_url FROM connections"] {
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(app.state.store.pool()).await.expect("rows");
            stored.extend(rows);
        }
        assert!(stored.iter().all(|t| !t.contains(JAZZ_PASSWORD)));
        for path in ["requirements?include_deleted=true&limit=200", "trace-links?limit=200", "connections"] {
            let r = app.get(&format!("/api/v1/projects/{project}/{path}"), &pm.token).await;
            assert!(!r.text.contains(JAZZ_PASSWORD), "{path}");
        }
    }

    async fn doors_reqif_imports_through_the_host_with_form_login(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_doors(&app, &admin.token, pm.id).await;
        let worker = agentic_host::server::worker(&app.state);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&worker).run(stopped));

        let jazz = Provider::start().await;
        let mut export = Export::generate(40);
        jazz.put_reqif("srs.reqif", export.to_reqif().into_bytes());
        let (cid, check) = connect(&app, &admin.token, project, &jazz, "srs.reqif").await;
        assert_eq!(check, json!({"ok": true,
            "message": "srs.reqif: 40 spec objects, 13 spec relations, 2 specifications, from IBM Rational DOORS 9.7"}));
        let logins = jazz.seen().logins;
        assert!(logins >= 1);

        // A sync of both streams: 40 requirements in pages of 7, 13 links; the file downloaded
        // (and parsed) once per stream, not once per page: the instance keeps the parse.
        let downloads = jazz.seen().reqif_downloads;
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r["requirements"], json!({"records": 40, "pages": 6, "deleted": 0}));
        assert_eq!(r["links"], json!({"records": 13, "pages": 2, "deleted": 0}));
        assert_eq!(jazz.seen().reqif_downloads - downloads, 2, "one download per stream");
        assert_mirrors(&app, &pm.token, project, cid, &export).await;
        assert_eq!(jazz.seen().logins, logins, "one session for every page");

        // The export changes: one title and one status edited, one requirement (with its link)
        // removed, one added with a new link; and the Jazz session ends meanwhile.
        export.req_mut("_r00007").title = "Requirement 8, revised".into();
        export.req_mut("_r00011").status = 1;
        export.reqs.retain(|r| r.id != "_r00012");
        export.links.retain(|l| l.source != "_r00012" && l.target != "_r00012");
        let mut added = export.reqs[3].clone();
        added.id = "_r00100".into();
        added.number = 101;
        added.title = "Requirement 101".into();
        export.reqs.insert(4, added);
        export.links.push(agentic_tests::doors::Link {
            id: "_l00100".into(), source: "_r00100".into(), target: "_r00003".into(), kind: 1,
        });
        jazz.put_reqif("srs.reqif", export.to_reqif().into_bytes());
        jazz.end_jazz_sessions();
        let before = by_id(&app, &pm.token, project, "requirements", cid).await;
        let r = sync(&app, &pm.token, project, cid).await;
        assert_eq!(r["requirements"]["deleted"], 1, "{r:?}");
        assert_eq!(r["links"]["deleted"], 1, "{r:?}");
        assert_eq!(jazz.seen().logins, logins + 1, "logged in again on authrequired");
        assert_mirrors(&app, &pm.token, project, cid, &export).await;
        let after = by_id(&app, &pm.token, project, "requirements", cid).await;
        assert_eq!(after["_r00012"]["deleted"], true);
        assert_eq!(after["_r00007"]["title"], "Requirement 8, revised");
        assert_eq!(after["_r00011"]["status"], "Approved");
        // Identity by IDENTIFIER: the records kept their ids.
        for (id, record) in &before {
            assert_eq!(after[id]["id"], record["id"], "{id}");
        }
        assert_eq!(after.len(), before.len() + 1);

        // Export what was synced, and import the export through a second connection: the
        // same requirements, attributes, hierarchy and links.
        let live: Vec<Value> = after.values().filter(|r| r["deleted"] == false).cloned().collect();
        let links: Vec<Value> = by_id(&app, &pm.token, project, "trace-links", cid).await
            .into_values().filter(|l| l["deleted"] == false).collect();
        let exported = app.post(&format!("/api/v1/projects/{project}/connections/{cid}/actions/export-reqif"),
            &pm.token, json!({"input": {"title": "Round trip", "requirements": live, "links": links}})).await;
        exported.expect(200);
        let output = &exported.json["output"];
        assert_eq!(output["spec_objects"], 40, "{output}");
        assert_eq!(output["spec_relations"], 13);
        assert_eq!(output["specifications"], 2);
        assert_eq!(output["hierarchy_nodes"], 40);
        jazz.put_reqif("roundtrip.reqif", output["reqif"].as_str().expect("reqif").as_bytes().to_vec());
        let (second, _) = connect(&app, &admin.token, project, &jazz, "roundtrip.reqif").await;
        sync(&app, &pm.token, project, second).await;
        assert_mirrors(&app, &pm.token, project, second, &export).await;
        let again = by_id(&app, &pm.token, project, "requirements", second).await;
        for (id, r) in &again {
            for field in ["identifier", "title", "text", "module", "parent", "status", "updated_at", "attributes"] {
                assert_eq!(r[field], after[id][field], "{id}.{field}");
            }
        }

        // The password reached only the login form: it is in no stored row and no response.
        let mut stored: Vec<String> = Vec::new();
        for sql in [
            "SELECT data FROM records",
            "SELECT COALESCE(state, '') FROM sync_states",
            "SELECT payload || COALESCE(result, '') || COALESCE(last_error, '') || progress_message FROM jobs",
            "SELECT config || base_url FROM connections",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(app.state.store.pool()).await.expect("rows");
            stored.extend(rows);
        }
        assert!(stored.iter().all(|t| !t.contains(JAZZ_PASSWORD)));
        for path in ["requirements?include_deleted=true&limit=200", "trace-links?limit=200", "connections"] {
            let r = app.get(&format!("/api/v1/projects/{project}/{path}"), &pm.token).await;
            r.expect(200);
            assert!(!r.text.contains(JAZZ_PASSWORD), "{path}");
        }
        assert!(!exported.text.contains(JAZZ_PASSWORD));
    }

    async fn a_hostile_reqif_file_fails_the_sync_with_the_limit_named(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_doors(&app, &admin.token, pm.id).await;
        let jazz = Provider::start().await;
        let mut laughs = String::from("<?xml version=\"1.0\"?><!DOCTYPE REQ-IF [<!ENTITY a \"aaaaaaaaaa\">");
        for i in 1..9 {
            laughs.push_str(&format!("<!ENTITY a{i} \"{}\">", format!("&a{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)));
        }
        laughs.push_str("]><REQ-IF>&a8;</REQ-IF>");
        jazz.put_reqif("laughs.reqif", laughs.into_bytes());
        let message = refusal(&app, &admin.token, &pm.token, project, &jazz, "laughs.reqif").await;
        assert!(message.contains("laughs.reqif") && message.contains("DOCTYPE"), "{message}");
    }

    async fn a_reqif_file_past_the_hosts_response_cap_names_the_setting_that_raises_it(backend) {
        // The host lets a plugin read 1 MiB of a response here; the export is padded to 2 MiB,
        // under the connector's own 24 MiB bound.
        let app = TestApp::start_with(backend, |c| c.plugins.http_response_mib = 1).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let project = project_with_doors(&app, &admin.token, pm.id).await;
        let jazz = Provider::start().await;
        let mut xml = Export::generate(40).to_reqif();
        let at = xml.find("</REQ-IF-CONTENT>").expect("content");
        xml.insert_str(at, &" ".repeat(2 << 20));
        jazz.put_reqif("big.reqif", xml.into_bytes());
        let message = refusal(&app, &admin.token, &pm.token, project, &jazz, "big.reqif").await;
        assert!(
            message.contains("big.reqif") && message.contains("plugins.http_response_mib"),
            "{message}"
        );
    }
}
