//! Sessions and users are read through the cache on every authenticated request, yet every
//! write that must act at once does: logout, revocation (by the user, by an administrator, by a
//! refresh-token replay, by a password change), deactivation and role changes are refused or
//! applied on the very next request — on the host that wrote (in-process cache, the default), on
//! another host sharing the database and the real Redis (`AGENTIC_TEST_REDIS_URL`), and, without
//! Redis, on another host as soon as it has read the database bus. Each check first makes the
//! reading host answer from memory, so a pass proves the invalidation, not the absence of a
//! cache. Also: an idle timeout is judged on the database's `last_seen_at`, not on a cached copy
//! another host has since moved on.

use std::time::Duration;

use agentic_host::config::Config;
use agentic_host::rbac::Role;
use agentic_host::store::invalidations::Follower;
use agentic_tests::{redis_unavailable, redis_url, stories, use_redis, TestApp, USER_PASSWORD};
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// A host that writes and a host that must see the write on its next request.
struct Pair {
    writer: TestApp,
    reader: Option<TestApp>,
    /// Without Redis: the reader's position in the database bus, read by [`Pair::settle`].
    bus: Option<Mutex<Follower>>,
}

impl Pair {
    fn reader(&self) -> &TestApp {
        self.reader.as_ref().unwrap_or(&self.writer)
    }

    /// What the reader does between two requests without Redis: read the database bus (its
    /// serving process polls it every 0.2 s). A no-op on one host and with Redis, where the write
    /// has already reached every host when it returns.
    async fn settle(&self) {
        if let Some(bus) = &self.bus {
            let mut follower = bus.lock().await;
            self.reader()
                .state
                .store
                .apply_invalidations(&mut follower)
                .await
                .expect("read the invalidation bus");
        }
    }

    /// Reads `/api/v1/auth/me` twice on the reader; the second read's session and user must
    /// come from its memory.
    async fn warm(&self, token: &str) -> Value {
        let reader = self.reader();
        reader.get("/api/v1/auth/me", token).await.expect(200);
        let before = reader.state.store.cache().stats().memory_hits;
        let me = reader.get("/api/v1/auth/me", token).await;
        me.expect(200);
        let hits = reader.state.store.cache().stats().memory_hits - before;
        assert!(hits >= 2, "session and user came from memory ({hits} hits)");
        me.json
    }

    /// The reader's next request with `token` after the write.
    async fn next(&self, token: &str) -> agentic_tests::Reply {
        self.settle().await;
        self.reader().get("/api/v1/auth/me", token).await
    }
}

/// One host; two hosts with Redis (when it is there); two hosts on the database bus alone —
/// each configured by `tweak`.
async fn topologies(backend: agentic_tests::Backend, tweak: fn(&mut Config)) -> Vec<Pair> {
    let mut pairs = vec![Pair {
        writer: TestApp::start_with(backend, tweak).await,
        reader: None,
        bus: None,
    }];
    if !redis_unavailable().await {
        let writer = TestApp::start_with(backend, |c| {
            tweak(c);
            use_redis(c, &redis_url());
        })
        .await;
        let reader = writer.twin().await;
        for host in [&writer, &reader] {
            listening(host).await;
        }
        pairs.push(Pair {
            writer,
            reader: Some(reader),
            bus: None,
        });
    }
    let writer = TestApp::start_with(backend, tweak).await;
    let reader = writer.twin().await;
    let follower = reader
        .state
        .store
        .invalidation_follower()
        .await
        .expect("bus position");
    pairs.push(Pair {
        writer,
        reader: Some(reader),
        bus: Some(Mutex::new(follower)),
    });
    pairs
}

/// Waits until the host hears Redis invalidations (`/readyz` reports the cache `ok`).
async fn listening(host: &TestApp) {
    for _ in 0..400 {
        let r = host.call("GET", "/readyz", None, None).await;
        if r.json["checks"]["cache"] == "ok" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cache never listened to Redis");
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

async fn logout(p: &Pair) {
    let t = p.writer.user(Role::TechnicalLead).await;
    p.warm(&t.token).await;
    p.writer
        .call("POST", "/api/v1/auth/logout", Some(&t.token), None)
        .await
        .expect(204);
    let r = p.next(&t.token).await;
    assert!(
        s(&r.problem(401)["detail"]).contains("revoked"),
        "{}",
        r.text
    );
}

async fn revoked_by_its_user(p: &Pair) {
    let laptop = p.writer.user(Role::SupportEngineer).await;
    let phone = p.writer.login(&laptop.email, USER_PASSWORD).await;
    let phone_token = s(&phone["access_token"]);
    p.warm(phone_token).await;
    let path = format!("/api/v1/auth/sessions/{}", phone["session_id"]);
    p.writer
        .call("DELETE", &path, Some(&laptop.token), None)
        .await
        .expect(204);
    p.next(phone_token).await.problem(401);
    p.next(&laptop.token).await.expect(200);
}

async fn revoked_by_an_administrator(p: &Pair) {
    let admin = p.writer.admin().await;
    let tl = p.writer.user(Role::TechnicalLead).await;
    let second = p.writer.login(&tl.email, USER_PASSWORD).await;
    p.warm(&tl.token).await;
    p.warm(s(&second["access_token"])).await;
    let path = format!("/api/v1/users/{}/sessions", tl.id);
    let r = p
        .writer
        .call("DELETE", &path, Some(&admin.token), None)
        .await;
    r.expect(200);
    assert_eq!(r.json["revoked"], 2);
    p.next(&tl.token).await.problem(401);
    p.next(s(&second["access_token"])).await.problem(401);
}

async fn refresh_token_replayed(p: &Pair) {
    let tl = p.writer.user(Role::TechnicalLead).await;
    let refresh = |token: String| async move {
        p.writer
            .call(
                "POST",
                "/api/v1/auth/refresh",
                None,
                Some(json!({ "refresh_token": token })),
            )
            .await
    };
    let rotated = refresh(tl.refresh.clone()).await;
    rotated.expect(200);
    let access = s(&rotated.json["access_token"]).to_owned();
    p.warm(&access).await;
    // The spent refresh token comes back: someone copied it, the whole session ends.
    refresh(tl.refresh.clone()).await.problem(401);
    p.next(&access).await.problem(401);
    p.next(&tl.token).await.problem(401);
}

async fn password_changed(p: &Pair) {
    let pm = p.writer.user(Role::ProjectManager).await;
    let other = p.writer.login(&pm.email, USER_PASSWORD).await;
    p.warm(s(&other["access_token"])).await;
    p.writer
        .post(
            "/api/v1/auth/password",
            &pm.token,
            json!({ "current_password": USER_PASSWORD, "new_password": "a-brand-new-password" }),
        )
        .await
        .expect(204);
    p.next(s(&other["access_token"])).await.problem(401);
    p.next(&pm.token).await.expect(200);
}

async fn role_changed_then_deactivated(p: &Pair) {
    let admin = p.writer.admin().await;
    let tl = p.writer.user(Role::TechnicalLead).await;
    let me = p.warm(&tl.token).await;
    assert_eq!(me["user"]["role"], "technical_lead");
    let user = format!("/api/v1/users/{}", tl.id);
    p.writer
        .call(
            "PATCH",
            &user,
            Some(&admin.token),
            Some(json!({ "role": "project_manager" })),
        )
        .await
        .expect(200);
    let me = p.next(&tl.token).await;
    me.expect(200);
    assert_eq!(
        me.json["user"]["role"], "project_manager",
        "the new role at once"
    );
    assert!(me.json["permissions"]
        .as_array()
        .expect("permissions")
        .contains(&json!("projects:create")));

    p.warm(&tl.token).await;
    p.writer
        .call(
            "PATCH",
            &user,
            Some(&admin.token),
            Some(json!({ "active": false })),
        )
        .await
        .expect(200);
    p.next(&tl.token).await.problem(401);
}

/// A session kept busy on the writer stays alive on the reader, whose cached copy of the row
/// is older than the idle timeout: the decision is taken on the database's `last_seen_at`.
async fn busy_elsewhere_is_not_idle(p: &Pair) {
    let tl = p.writer.user(Role::TechnicalLead).await;
    p.warm(&tl.token).await;
    for _ in 0..3 {
        p.writer.advance(Duration::from_secs(50));
        p.writer.get("/api/v1/auth/me", &tl.token).await.expect(200);
    }
    // 150 s since the reader cached the session, 0 s since it was last used; asked before the
    // reader read the bus, so its cached row is the old one.
    p.reader()
        .get("/api/v1/auth/me", &tl.token)
        .await
        .expect(200);
    // Idle everywhere: expired everywhere.
    p.writer.advance(Duration::from_secs(121));
    let r = p.next(&tl.token).await;
    assert_eq!(r.problem(401)["type"], "/problems/session-expired");
}

macro_rules! on_every_topology {
    ($backend:expr, $scenario:ident) => {
        on_every_topology!($backend, $scenario, |_| {})
    };
    ($backend:expr, $scenario:ident, $tweak:expr) => {{
        for pair in topologies($backend, $tweak).await {
            $scenario(&pair).await;
            if let Pair {
                writer,
                reader: Some(reader),
                bus: None,
            } = pair
            {
                // With Redis, the other way round too.
                let swapped = Pair {
                    writer: reader,
                    reader: Some(writer),
                    bus: None,
                };
                $scenario(&swapped).await;
            }
        }
    }};
}

stories! {
    async fn logout_applies_at_once_on_every_host(backend) {
        on_every_topology!(backend, logout);
    }

    async fn a_session_revoked_by_its_user_is_refused_at_once(backend) {
        on_every_topology!(backend, revoked_by_its_user);
    }

    async fn sessions_revoked_by_an_administrator_are_refused_at_once(backend) {
        on_every_topology!(backend, revoked_by_an_administrator);
    }

    async fn a_replayed_refresh_token_ends_the_session_at_once(backend) {
        on_every_topology!(backend, refresh_token_replayed);
    }

    async fn a_password_change_ends_the_other_sessions_at_once(backend) {
        on_every_topology!(backend, password_changed);
    }

    async fn role_changes_and_deactivation_apply_at_once_on_every_host(backend) {
        on_every_topology!(backend, role_changed_then_deactivated);
    }

    async fn a_session_busy_on_another_host_is_not_idle(backend) {
        on_every_topology!(backend, busy_elsewhere_is_not_idle, |c| c.auth.idle_timeout_secs = 120);
    }
}
