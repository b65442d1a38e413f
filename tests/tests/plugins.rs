//! Connector plugins over REST, with real components built from `plugins/` for wasm32-wasip2:
//! an administrator trusts a publisher and installs a signed package, a Project Manager enables
//! it in a project, a Technical Lead reads through it; bad packages are refused with nothing
//! left behind; upgrade and rollback switch the running version without a restart.

use agentic_host::plugins::package::Package;
use agentic_host::rbac::Role;
use agentic_tests::{
    hostile_manifest, hostile_wasm, plugin_manifest, plugin_wasm as wasm, stories, Publisher,
    TestApp,
};
use serde_json::{json, Value};

stories! {
    async fn the_example_connector_is_installed_enabled_and_read_end_to_end(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let acme = app.trust_publisher(&admin.token, "acme").await;

        let r = app.upload_package("/api/v1/plugins", &admin.token, acme.sign(&plugin_manifest("example"), &wasm("example"))).await;
        r.expect(201);
        assert_eq!(r.json["id"], "example");
        assert_eq!(r.json["versions"][0]["publisher"], "acme");
        assert_eq!(r.json["versions"][0]["wit"], "0.3.0");
        assert_eq!(r.json["versions"][0]["sha256"].as_str().map(str::len), Some(64));
        let version = r.json["active_version"].as_str().expect("version").to_owned();

        let project = app.project("Tracker sync", pm.id, &[tl.id]).await;
        let base = format!("/api/v1/projects/{project}/plugins/example");
        // Not enabled yet: the project may not use it.
        let config = json!({"items": 250, "page_size": 100});
        app.post(&format!("{base}/read"), &tl.token, json!({"config": config, "stream": "items"}))
            .await
            .problem(409);
        app.call("PUT", &base, Some(&pm.token), None).await.expect(200);
        let listed = app.get(&format!("/api/v1/projects/{project}/plugins"), &tl.token).await;
        listed.expect(200);
        assert_eq!(listed.json[0]["id"], "example");
        assert!(listed.json[0].get("enabled_projects").is_none(), "only managers see where a plugin is enabled");

        let streams = app.post(&format!("{base}/discover"), &tl.token, json!({"config": config})).await;
        streams.expect(200);
        assert_eq!(streams.json[0]["name"], "items");
        assert_eq!(streams.json[0]["kind"], "work_item");

        // Page through the whole stream via the API.
        let mut state: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let mut body = json!({"config": config, "stream": "items"});
            if let Some(s) = &state {
                body["state"] = json!(s);
            }
            let page = app.post(&format!("{base}/read"), &tl.token, body).await;
            page.expect(200);
            for record in page.json["records"].as_array().expect("records") {
                assert_eq!(record["kind"], "work_item");
                ids.push(record["data"]["external_id"].as_str().expect("id").to_owned());
            }
            state = page.json["state"].as_str().map(str::to_owned);
            if page.json["has_more"] != json!(true) {
                break;
            }
        }
        assert_eq!(ids.len(), 250);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 250, "no duplicates across pages");

        // The config is validated against the manifest's schema, with the field named.
        let bad = app.post(&format!("{base}/read"), &tl.token, json!({"config": {"items": "many"}, "stream": "items"})).await;
        bad.problem(422);
        assert_eq!(bad.fields(), ["config.items"]);
        // The connector's own typed errors reach the caller.
        app.post(&format!("{base}/read"), &tl.token, json!({"config": config, "stream": "nope"}))
            .await
            .problem(404);

        let audit = app.get("/api/v1/audit?action=plugin.installed", &admin.token).await;
        audit.expect(200);
        assert_eq!(audit.json["items"][0]["target_id"], "example");
        assert_eq!(audit.json["items"][0]["detail"]["version"], json!(version));
        let audit = app.get("/api/v1/audit?action=plugin.enabled", &admin.token).await;
        assert_eq!(audit.json["items"][0]["actor_id"], json!(pm.id));

        // Disable: the project can no longer use it.
        app.call("DELETE", &base, Some(&pm.token), None).await.expect(204);
        app.post(&format!("{base}/discover"), &tl.token, json!({"config": config})).await.problem(409);
    }

    async fn bad_packages_are_refused_and_leave_nothing_behind(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let acme = Publisher::new();
        let stranger = Publisher::new();
        acme.trust(&app, &admin.token, "acme").await;
        let manifest = plugin_manifest("example");
        let example = wasm("example");

        let refused = |r: &agentic_tests::Reply, field: &str, words: &str| {
            let p = r.problem(422);
            assert_eq!(r.fields(), [field], "{p}");
            let detail = p["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
            assert!(detail.contains(words), "{field}: {detail:?} should mention {words:?}");
        };

        let r = app.upload_package("/api/v1/plugins", &admin.token, stranger.sign(&manifest, &example)).await;
        refused(&r, "plugin.sig", "unknown publisher");

        // A package whose component was swapped after signing.
        let mut package = Package::open(&acme.sign(&manifest, &example)).expect("open");
        package.component = wasm("hostile");
        let forged = {
            let mut archive = tar::Builder::new(Vec::new());
            let signed = acme.sign(&manifest, &example);
            let mut original = tar::Archive::new(&signed[..]);
            for entry in original.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                let name = entry.path().expect("path").to_string_lossy().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).expect("read");
                if name == "plugin.wasm" {
                    data = package.component.clone();
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_cksum();
                archive.append_data(&mut header, name, &data[..]).expect("append");
            }
            archive.into_inner().expect("tar")
        };
        let r = app.upload_package("/api/v1/plugins", &admin.token, forged).await;
        refused(&r, "plugin.sig", "does not match");

        let future = manifest.replace("wit = \"0.3.0\"", "wit = \"9.0.0\"");
        assert_ne!(future, manifest);
        let r = app.upload_package("/api/v1/plugins", &admin.token, acme.sign(&future, &example)).await;
        refused(&r, "plugin.toml", "not supported");

        let r = app.upload_package("/api/v1/plugins", &admin.token, acme.sign(&manifest, b"\0asm\x01\0\0\0 not really")).await;
        refused(&r, "plugin.wasm", "not a connector component");
        let r = app.upload_package("/api/v1/plugins", &admin.token, acme.sign(&manifest, &wasm("not_a_connector"))).await;
        refused(&r, "plugin.wasm", "not a connector component");

        let other_version = manifest.replacen("version = \"", "version = \"9", 1);
        let r = app.upload_package("/api/v1/plugins", &admin.token, acme.sign(&other_version, &example)).await;
        refused(&r, "plugin.toml", "version");

        let r = app.upload_package("/api/v1/plugins", &admin.token, b"definitely not a tar archive".to_vec()).await;
        refused(&r, "package", "not a package");

        let r = app.raw("POST", "/api/v1/plugins", &admin.token, Some("application/json"), "{}").await;
        r.problem(415);

        for table in ["plugins", "plugin_versions", "project_plugins"] {
            assert_eq!(app.count(table).await, 0, "{table} after refused installs");
        }
        let audit = app.get("/api/v1/audit?action=plugin.installed", &admin.token).await;
        assert_eq!(audit.json["items"], json!([]));
    }

    async fn an_upgrade_to_an_older_version_is_refused_unless_forced_and_audited(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let acme = app.trust_publisher(&admin.token, "acme").await;
        // Both signed by the trusted publisher: v1 is a genuine, once-good older package.
        let v1 = acme.sign(&hostile_manifest(1), &hostile_wasm(1));
        let v2 = acme.sign(&hostile_manifest(2), &hostile_wasm(2));
        app.upload_package("/api/v1/plugins", &admin.token, v2.clone()).await.expect(201);

        let r = app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, v1.clone()).await;
        r.problem(409);
        let detail = r.json["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("0.1.0-hostile.1") && detail.contains("0.1.0-hostile.2"), "{}", r.text);
        // The same version again is not an upgrade either.
        app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, v2.clone()).await.problem(409);
        let r = app.get("/api/v1/plugins/hostile", &admin.token).await;
        assert_eq!(r.json["active_version"], "0.1.0-hostile.2", "nothing changed");
        assert_eq!(r.json["versions"].as_array().map(Vec::len), Some(1), "nothing stored");
        let audit = app.get("/api/v1/audit?action=plugin.upgraded", &admin.token).await;
        assert_eq!(audit.json["items"], json!([]));
        // A misspelt option is not taken for "no force".
        app.upload_package("/api/v1/plugins/hostile/upgrade?forse=true", &admin.token, v1.clone()).await.problem(400);

        // Forced: installed, active, and audited as the downgrade it is.
        let r = app.upload_package("/api/v1/plugins/hostile/upgrade?force=true", &admin.token, v1).await;
        r.expect(200);
        assert_eq!(r.json["active_version"], "0.1.0-hostile.1");
        assert_eq!(r.json["previous_version"], "0.1.0-hostile.2");
        let audit = app.get("/api/v1/audit?action=plugin.downgraded", &admin.token).await;
        let entry = &audit.json["items"][0];
        assert_eq!(entry["target_id"], "hostile", "{}", audit.json);
        assert_eq!(entry["detail"]["from"], "0.1.0-hostile.2");
        assert_eq!(entry["detail"]["to"], "0.1.0-hostile.1");
        assert_eq!(entry["detail"]["forced"], true);
        let audit = app.get("/api/v1/audit?action=plugin.upgraded", &admin.token).await;
        assert_eq!(audit.json["items"], json!([]), "a downgrade is not logged as an upgrade");

        // Newer again: an ordinary upgrade.
        let r = app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, v2).await;
        r.expect(200);
        assert_eq!(r.json["active_version"], "0.1.0-hostile.2");
    }

    async fn upgrade_and_rollback_switch_the_running_version_without_a_restart(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let acme = app.trust_publisher(&admin.token, "acme").await;
        let v1 = acme.sign(&hostile_manifest(1), &hostile_wasm(1));
        let v2 = acme.sign(&hostile_manifest(2), &hostile_wasm(2));
        let running = || async {
            let (_, plugin) = app.state.plugins.active("hostile").await.expect("active");
            let runtime = app.state.plugins.runtime().await.expect("runtime");
            runtime.spec(&plugin).await.expect("spec").version
        };

        app.upload_package("/api/v1/plugins", &admin.token, v1.clone()).await.expect(201);
        assert_eq!(running().await, "0.1.0-hostile.1");
        // Installing again is a conflict: upgrades are explicit.
        app.upload_package("/api/v1/plugins", &admin.token, v2.clone()).await.problem(409);
        // Nothing to roll back to yet.
        app.post("/api/v1/plugins/hostile/rollback", &admin.token, json!({})).await.problem(409);
        // Another trusted publisher may not replace the plugin.
        let other = app.trust_publisher(&admin.token, "other").await;
        let foreign = other.sign(&hostile_manifest(2), &hostile_wasm(2));
        let r = app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, foreign).await;
        r.problem(422);
        assert!(r.text.contains("published by acme"), "{}", r.text);

        let r = app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, v2.clone()).await;
        r.expect(200);
        assert_eq!(r.json["active_version"], "0.1.0-hostile.2");
        assert_eq!(r.json["previous_version"], "0.1.0-hostile.1");
        assert_eq!(r.json["versions"].as_array().map(Vec::len), Some(2));
        assert_eq!(running().await, "0.1.0-hostile.2", "the next call runs the new version");

        // A second host on the same database, caching in-process without Redis and following
        // the database bus as `serve` does, has run the active version: the first host's
        // rollback reaches it without a restart (before the bus: only after `cache.ttl_secs`).
        let other_store;
        let other = {
            let mut config = (*app.state.config).clone();
            config.cache.enabled = true;
            config.cache.redis_url = None;
            config.cache.ttl_secs = 3600;
            let store = agentic_host::server::open_store(&config).await.expect("store");
            other_store = store.clone();
            agentic_host::server::state(config, store, app.clock.clone())
                .await
                .expect("state")
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(other_store.follow_invalidations(stopped));
        let on_other = || async {
            let (_, plugin) = other.plugins.active("hostile").await.expect("active");
            let runtime = other.plugins.runtime().await.expect("runtime");
            runtime.spec(&plugin).await.expect("spec").version
        };
        assert_eq!(on_other().await, "0.1.0-hostile.2");

        let r = app.post("/api/v1/plugins/hostile/rollback", &admin.token, json!({})).await;
        r.expect(200);
        assert_eq!(r.json["active_version"], "0.1.0-hostile.1");
        assert_eq!(r.json["previous_version"], Value::Null, "nothing was installed before 1");
        assert_eq!(running().await, "0.1.0-hostile.1");
        // The other host forgets its cached version at its next poll (0.2 s); wait for it.
        let mut seen = on_other().await;
        for _ in 0..100 {
            if seen == "0.1.0-hostile.1" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            seen = on_other().await;
        }
        assert_eq!(seen, "0.1.0-hostile.1", "the rollback reached the other host through the database");
        let _ = stop.send(true);
        follower.await.expect("follower");

        // Rollback follows history: a second one has nowhere further back to go, instead of
        // re-activating the version just rolled back (it did, swapping the two).
        let r = app.post("/api/v1/plugins/hostile/rollback", &admin.token, json!({})).await;
        r.problem(409);
        assert_eq!(running().await, "0.1.0-hostile.1");
        // After an upgrade, the version it replaced is the target again.
        let v3 = acme.sign(&hostile_manifest(3), &hostile_wasm(3));
        app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, v3).await.expect(200);
        let r = app.post("/api/v1/plugins/hostile/rollback", &admin.token, json!({})).await;
        r.expect(200);
        assert_eq!(r.json["active_version"], "0.1.0-hostile.1", "back to the one v3 replaced");

        // An upgrade package for another plugin is refused.
        let example = acme.sign(&plugin_manifest("example"), &wasm("example"));
        app.upload_package("/api/v1/plugins/hostile/upgrade", &admin.token, example).await.problem(422);
        // Upgrading a plugin that is not installed is 404.
        app.upload_package("/api/v1/plugins/nothing/upgrade", &admin.token, v2).await.problem(404);

        for action in ["plugin.installed", "plugin.upgraded", "plugin.rolled_back"] {
            let r = app.get(&format!("/api/v1/audit?action={action}"), &admin.token).await;
            assert_eq!(r.json["items"][0]["target_id"], "hostile", "{action} audited: {}", r.json);
        }

        app.call("DELETE", "/api/v1/plugins/hostile", Some(&admin.token), None).await.expect(204);
        app.get("/api/v1/plugins/hostile", &admin.token).await.problem(404);
        assert_eq!(app.count("plugin_versions").await, 0);
    }

    async fn only_the_right_roles_reach_plugins(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let pm = app.user(Role::ProjectManager).await;
        let other_pm = app.user(Role::ProjectManager).await;
        let tl = app.user(Role::TechnicalLead).await;
        let se = app.user(Role::SupportEngineer).await;
        let acme = Publisher::new();
        let package = acme.sign(&plugin_manifest("example"), &wasm("example"));

        // Only administrators trust publishers and install.
        app.post("/api/v1/plugin-publishers", &pm.token, json!({"name": "x", "public_key": acme.public_key()})).await.problem(403);
        acme.trust(&app, &admin.token, "acme").await;
        app.upload_package("/api/v1/plugins", &pm.token, package.clone()).await.problem(403);
        app.upload_package("/api/v1/plugins", &admin.token, package).await.expect(201);
        app.get("/api/v1/plugins", &se.token).await.problem(403);
        let seen = app.get("/api/v1/plugins", &tl.token).await;
        seen.expect(200);
        assert_eq!(seen.json[0]["id"], "example");
        app.call("DELETE", "/api/v1/plugins/example", Some(&pm.token), None).await.problem(403);

        let project = app.project("Mine", pm.id, &[tl.id, se.id]).await;
        let base = format!("/api/v1/projects/{project}/plugins/example");
        // Enabling: managers of the project, not leads, not managers of other projects.
        app.call("PUT", &base, Some(&tl.token), None).await.problem(403);
        app.call("PUT", &base, Some(&other_pm.token), None).await.problem(404);
        app.call("PUT", &format!("/api/v1/projects/{project}/plugins/nothing"), Some(&pm.token), None).await.problem(404);
        app.call("PUT", &base, Some(&pm.token), None).await.expect(200);
        // Running: members with plugins:run.
        let body = json!({"config": {"items": 3}, "stream": "items"});
        app.post(&format!("{base}/read"), &se.token, body.clone()).await.problem(403);
        app.post(&format!("{base}/read"), &other_pm.token, body.clone()).await.problem(404);
        app.post(&format!("{base}/read"), &tl.token, body).await.expect(200);

        // Publishers: a key in use cannot be dropped; a duplicate is a conflict; a bad key is named.
        let publishers = app.get("/api/v1/plugin-publishers", &admin.token).await;
        let id = publishers.json[0]["id"].as_i64().expect("id");
        app.call("DELETE", &format!("/api/v1/plugin-publishers/{id}"), Some(&admin.token), None).await.problem(409);
        app.post("/api/v1/plugin-publishers", &admin.token, json!({"name": "acme2", "public_key": acme.public_key()})).await.problem(409);
        let bad = app.post("/api/v1/plugin-publishers", &admin.token, json!({"name": "x", "public_key": "ssh-rsa AAAA"})).await;
        bad.problem(422);
        assert_eq!(bad.fields(), ["public_key"]);
        app.call("DELETE", "/api/v1/plugins/example", Some(&admin.token), None).await.expect(204);
        app.call("DELETE", &format!("/api/v1/plugin-publishers/{id}"), Some(&admin.token), None).await.expect(204);
    }
}

stories! {
    async fn package_uploads_may_exceed_the_json_body_limit_up_to_64_mib(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let acme = app.trust_publisher(&admin.token, "acme").await;
        // 2 MiB: past the 1 MiB JSON limit, within the package limit, so the package itself
        // is judged (not a component) rather than its size.
        let big = acme.sign(&plugin_manifest("example"), &vec![0u8; 2 << 20]);
        let r = app.upload_package("/api/v1/plugins", &admin.token, big).await;
        r.problem(422);
        assert_eq!(r.fields(), ["plugin.wasm"]);
        let huge = vec![0u8; (64 << 20) + 1];
        app.upload_package("/api/v1/plugins", &admin.token, huge).await.problem(413);
        // The JSON endpoints keep their own limit.
        let r = app.raw("POST", "/api/v1/plugin-publishers", &admin.token, Some("application/json"),
            format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20))).await;
        r.problem(413);
    }
}
