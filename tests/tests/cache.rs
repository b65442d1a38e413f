//! The read-through cache: every write path that changes a cached object (projects,
//! memberships, users' access, plugin versions and enablement) is seen at once — by the host
//! that wrote (in-process cache, the default) and by another host sharing the database and the
//! real Redis (`AGENTIC_TEST_REDIS_URL`). Each check first reads the object twice on the reading
//! host and asserts the second answer came from that host's memory, so a pass proves the
//! invalidation, not the absence of a cache. Redis partitioned or cut mid-test (through a proxy,
//! never by stopping the shared server): no request fails, `/readyz` reports the degradation
//! and the recovery. Plugin versions and enablement are `cache_plugins`, on the same topologies
//! ([`on_every_topology`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::cache::Stats;
use agentic_host::config::Config;
use agentic_host::rbac::Role;
use agentic_tests::proxy::{Mode, Proxy};
use agentic_tests::{redis_unavailable, redis_url, stories, use_redis, Backend, TestApp, TestUser};
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt;

pub(crate) fn stats(host: &TestApp) -> Stats {
    host.state.store.cache().stats()
}

/// Two hosts on one database sharing the Redis at `url`, both listening for invalidations.
async fn cluster_at(
    backend: Backend,
    url: &str,
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, TestApp) {
    let a = TestApp::start_with(backend, |config| {
        use_redis(config, url);
        tweak(config);
    })
    .await;
    let b = a.twin().await;
    assert_eq!(a.state.store.cache().mode(), "redis");
    cache_state(&a, "ok").await;
    cache_state(&b, "ok").await;
    (a, b)
}

/// Two hosts sharing the real Redis; `None` (skipped) when it is unreachable outside CI.
pub(crate) async fn cluster(backend: Backend) -> Option<(TestApp, TestApp)> {
    if redis_unavailable().await {
        return None;
    }
    Some(cluster_at(backend, &redis_url(), |_| {}).await)
}

/// Waits until `/readyz` (always 200) reports the cache as `want`.
async fn cache_state(host: &TestApp, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = host.call("GET", "/readyz", None, None).await;
        r.expect(200);
        if r.json["checks"]["cache"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cache never became {want}: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `path` twice on `host` expecting `status`; the second answer must come from the
/// host's memory (so a later change can only be seen through an invalidation).
async fn warm(host: &TestApp, path: &str, token: &str, status: u16) {
    host.get(path, token).await.expect(status);
    let before = stats(host).memory_hits;
    host.get(path, token).await.expect(status);
    assert!(
        stats(host).memory_hits > before,
        "the second read of {path} came from memory"
    );
}

fn project_path(id: i64) -> String {
    format!("/api/v1/projects/{id}")
}

// --- projects and memberships: `writer` changes, `reader` must see it on its next request ---

async fn project_update(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let p = project_path(writer.project("Old name", pm.id, &[tl.id]).await);
    warm(reader, &p, &tl.token, 200).await;
    writer
        .call(
            "PATCH",
            &p,
            Some(&admin.token),
            Some(json!({"name": "New name"})),
        )
        .await
        .expect(200);
    let r = reader.get(&p, &tl.token).await;
    r.expect(200);
    assert_eq!(r.json["name"], "New name");
}

async fn owner_change(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let heir = writer.user(Role::ProjectManager).await;
    let p = project_path(writer.project("Handed over", pm.id, &[]).await);
    warm(reader, &p, &heir.token, 404).await;
    writer
        .call(
            "PATCH",
            &p,
            Some(&admin.token),
            Some(json!({"owner_id": heir.id})),
        )
        .await
        .expect(200);
    let r = reader.get(&p, &heir.token).await;
    r.expect(200);
    assert_eq!(
        r.json["owner_id"],
        json!(heir.id),
        "the new owner is a member at once"
    );
}

async fn project_delete(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let p = project_path(writer.project("Doomed", pm.id, &[tl.id]).await);
    warm(reader, &p, &tl.token, 200).await;
    warm(reader, &p, &admin.token, 200).await;
    writer
        .call("DELETE", &p, Some(&admin.token), None)
        .await
        .expect(204);
    reader.get(&p, &tl.token).await.problem(404);
    reader.get(&p, &admin.token).await.problem(404);
}

async fn project_create(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let last = writer.project("Before", admin.id, &[]).await;
    // Probing the next id caches "no such project" and "not a member".
    let next = project_path(last + 1);
    warm(reader, &next, &admin.token, 404).await;
    warm(reader, &next, &pm.token, 404).await;
    let r = writer
        .post(
            "/api/v1/projects",
            &admin.token,
            json!({"name": "After", "owner_id": pm.id}),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["id"], json!(last + 1), "ids are allocated in order");
    reader.get(&next, &admin.token).await.expect(200);
    reader.get(&next, &pm.token).await.expect(200);
}

async fn member_add(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let id = writer.project("Joinable", pm.id, &[]).await;
    let p = project_path(id);
    warm(reader, &p, &tl.token, 404).await;
    writer
        .call(
            "PUT",
            &format!("{p}/members/{}", tl.id),
            Some(&admin.token),
            None,
        )
        .await
        .expect(201);
    reader.get(&p, &tl.token).await.expect(200);
}

async fn member_remove(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let p = project_path(writer.project("Revocable", pm.id, &[tl.id]).await);
    let member = format!("{p}/members/{}", tl.id);
    // Revoked, restored, revoked again: every change holds on the very next request.
    for _ in 0..3 {
        warm(reader, &p, &tl.token, 200).await;
        writer
            .call("DELETE", &member, Some(&admin.token), None)
            .await
            .expect(204);
        reader.get(&p, &tl.token).await.problem(404);
        warm(reader, &p, &tl.token, 404).await;
        writer
            .call("PUT", &member, Some(&admin.token), None)
            .await
            .expect(201);
        reader.get(&p, &tl.token).await.expect(200);
    }
    warm(reader, &p, &tl.token, 200).await;
    writer
        .call("DELETE", &member, Some(&admin.token), None)
        .await
        .expect(204);
    reader.get(&p, &tl.token).await.problem(404);
}

async fn user_role_and_deactivation(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let p = project_path(writer.project("Roles", pm.id, &[tl.id]).await);
    warm(reader, &p, &pm.token, 200).await;
    reader
        .call(
            "PATCH",
            &p,
            Some(&pm.token),
            Some(json!({"description": "by the manager"})),
        )
        .await
        .expect(200);
    let user = |u: &TestUser| format!("/api/v1/users/{}", u.id);
    writer
        .call(
            "PATCH",
            &user(&pm),
            Some(&admin.token),
            Some(json!({"role": "technical_lead"})),
        )
        .await
        .expect(200);
    reader
        .call(
            "PATCH",
            &p,
            Some(&pm.token),
            Some(json!({"description": "again"})),
        )
        .await
        .problem(403);
    warm(reader, &p, &tl.token, 200).await;
    writer
        .call(
            "PATCH",
            &user(&tl),
            Some(&admin.token),
            Some(json!({"active": false})),
        )
        .await
        .expect(200);
    reader.get(&p, &tl.token).await.problem(401);
}

/// Runs `scenario` on one in-process host (the default) and, when Redis is there, across two
/// hosts sharing it.
macro_rules! on_every_topology {
    ($backend:expr, $scenario:ident) => {{
        let app = TestApp::start($backend).await;
        assert_eq!(app.state.store.cache().mode(), "in-process");
        $scenario(&app, &app).await;
        if let Some((a, b)) = cluster($backend).await {
            $scenario(&a, &b).await;
            // And the other way round.
            $scenario(&b, &a).await;
        }
    }};
}
pub(crate) use on_every_topology;

/// Requests sent in the background until stopped; counts answers that were not 200.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(targets: &[(&TestApp, &str, &str)]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = targets
            .iter()
            .map(|(host, path, token)| {
                let (router, path, auth, stop) = (
                    host.router.clone(),
                    path.to_string(),
                    format!("Bearer {token}"),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    let (mut ok, mut failed) = (0, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        let req = Request::get(&path)
                            .header("authorization", &auth)
                            .body(Body::empty())
                            .expect("request");
                        let res = router.clone().oneshot(req).await.expect("infallible");
                        if res.status() == 200 {
                            ok += 1;
                        } else {
                            failed.push(res.status().to_string());
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    (ok, failed)
                })
            })
            .collect();
        Self { stop, tasks }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut ok, mut failed) = (0, Vec::new());
        for task in self.tasks {
            let (o, f) = task.await.expect("load task");
            ok += o;
            failed.extend(f);
        }
        (ok, failed)
    }
}

stories! {
    async fn a_project_update_is_seen_at_once(backend) {
        on_every_topology!(backend, project_update);
    }

    async fn a_new_owner_gets_in_at_once(backend) {
        on_every_topology!(backend, owner_change);
    }

    async fn a_deleted_project_is_gone_at_once(backend) {
        on_every_topology!(backend, project_delete);
    }

    async fn a_created_project_replaces_a_cached_not_found(backend) {
        on_every_topology!(backend, project_create);
    }

    async fn an_added_member_gets_in_at_once(backend) {
        on_every_topology!(backend, member_add);
    }

    async fn a_removed_member_is_locked_out_at_once(backend) {
        on_every_topology!(backend, member_remove);
    }

    async fn role_changes_and_deactivation_apply_at_once(backend) {
        on_every_topology!(backend, user_role_and_deactivation);
    }

    async fn without_redis_another_host_sees_a_change_after_the_ttl(backend) {
        // The documented limit of the in-process default: hosts without Redis do not hear of
        // each other's writes. (This also shows the reading host really caches.)
        let a = TestApp::start_with(backend, |c| c.cache.ttl_secs = 1).await;
        let b = a.twin().await;
        let admin = a.admin().await;
        let tl = a.user(Role::TechnicalLead).await;
        let p = project_path(a.project("Lagging", admin.id, &[tl.id]).await);
        warm(&b, &p, &tl.token, 200).await;
        a.call("DELETE", &format!("{p}/members/{}", tl.id), Some(&admin.token), None).await.expect(204);
        a.get(&p, &tl.token).await.problem(404);
        b.get(&p, &tl.token).await.expect(200);
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        b.get(&p, &tl.token).await.problem(404);
    }

    async fn hits_misses_and_latency_are_exported_and_readiness_reports_the_cache(backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin().await;
        let p = project_path(app.project("Measured", admin.id, &[]).await);
        for _ in 0..3 {
            app.get(&p, &admin.token).await.expect(200);
        }
        let s = stats(&app);
        assert!(s.misses >= 1 && s.memory_hits >= 2, "{s:?}");
        let r = app.get("/metrics", &admin.token).await;
        r.expect(200);
        for needle in [
            r#"cache_hits_total{cache="project",tier="memory"}"#,
            r#"cache_misses_total{cache="project"}"#,
            r#"cache_lookup_duration_seconds_bucket{cache="project",result="hit",le="0.00001"}"#,
            r#"cache_invalidations_total{cache="project",origin="local"}"#,
        ] {
            assert!(r.text.contains(needle), "{needle} missing from /metrics");
        }
        let ready = app.call("GET", "/readyz", None, None).await;
        ready.expect(200);
        assert_eq!(ready.json["checks"]["cache"], "ok");

        let off = TestApp::start_with(backend, |c| c.cache.enabled = false).await;
        assert_eq!(off.call("GET", "/readyz", None, None).await.json["checks"]["cache"], "off");
        let admin = off.admin().await;
        let p = project_path(off.project("Uncached", admin.id, &[]).await);
        off.get(&p, &admin.token).await.expect(200);
        assert_eq!(stats(&off), Stats::default());
    }

    async fn redis_partitioned_or_cut_mid_test_fails_no_request(backend) {
        if redis_unavailable().await {
            return;
        }
        let proxy = Proxy::start(&redis_url()).await;
        let (a, b) = cluster_at(backend, &proxy.url(), |c| {
            c.cache.redis_timeout_ms = 150;
            c.cache.redis_retry_ms = 300;
        })
        .await;
        let admin = a.admin().await;
        let tl = a.user(Role::TechnicalLead).await;
        let other = a.user(Role::TechnicalLead).await;
        let late = a.user(Role::TechnicalLead).await;
        let id = a.project("Weathering", admin.id, &[tl.id, other.id, late.id]).await;
        let p = project_path(id);
        let load = Load::start(&[(&a, &p, &tl.token), (&b, &p, &tl.token), (&b, &p, &admin.token)]);
        tokio::time::sleep(Duration::from_millis(300)).await;

        // A partition: Redis stops answering, connections stay open.
        proxy.set(Mode::BlackHole);
        cache_state(&a, "degraded").await;
        cache_state(&b, "degraded").await;
        let errors_then = stats(&b).redis_errors;
        // A write during the partition commits, and no host serves the old answer.
        a.call("DELETE", &format!("{p}/members/{}", other.id), Some(&admin.token), None).await.expect(204);
        b.get(&p, &other.token).await.problem(404);
        a.get(&p, &other.token).await.problem(404);
        for _ in 0..50 {
            b.get(&p, &tl.token).await.expect(200);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        // The breaker: lookups skipped Redis instead of each waiting for its timeout.
        let s = stats(&b);
        assert!(s.redis_skipped > 10 * (s.redis_errors - errors_then).max(1), "{s:?}");

        // A crash: every connection closed, new ones refused.
        proxy.set(Mode::Cut);
        tokio::time::sleep(Duration::from_millis(500)).await;
        a.call("PATCH", &p, Some(&admin.token), Some(json!({"name": "Still here"}))).await.expect(200);
        let r = b.get(&p, &tl.token).await;
        r.expect(200);
        assert_eq!(r.json["name"], "Still here");
        cache_state(&b, "degraded").await;

        // Back: both hosts use Redis again and hear each other.
        proxy.set(Mode::Pass);
        cache_state(&a, "ok").await;
        cache_state(&b, "ok").await;
        warm(&b, &p, &late.token, 200).await;
        a.call("DELETE", &format!("{p}/members/{}", late.id), Some(&admin.token), None).await.expect(204);
        b.get(&p, &late.token).await.problem(404);

        let (ok, failed) = load.finish().await;
        assert!(failed.is_empty(), "requests failed during the outage: {failed:?}");
        assert!(ok > 100, "the load ran ({ok} answers)");
    }
}
