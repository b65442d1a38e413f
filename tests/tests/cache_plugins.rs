//! The read-through cache and plugins (see `cache` for how each check proves an invalidation):
//! a plugin installed, upgraded, rolled back or uninstalled is run at its new version by the
//! next call on every host, and enabling or disabling it in a project applies at once.

use agentic_host::rbac::Role;
use agentic_tests::{
    hostile_manifest, hostile_wasm, plugin_manifest, plugin_wasm as wasm, stories, TestApp,
};
use serde_json::json;

use crate::cache::{cluster, on_every_topology, stats};

/// The version `host` runs for the hostile plugin (asking the component itself), or `None`
/// when it finds no such plugin.
async fn running(host: &TestApp) -> Option<String> {
    let (_, plugin) = host.state.plugins.active("hostile").await.ok()?;
    let runtime = host.state.plugins.runtime().await.expect("runtime");
    Some(runtime.spec(&plugin).await.expect("spec").version)
}

/// Runs `running` twice on `host`, expecting `want`; the second lookup must be a memory hit.
async fn warm_plugin(host: &TestApp, want: Option<&str>) {
    assert_eq!(running(host).await.as_deref(), want);
    let before = stats(host).memory_hits;
    assert_eq!(running(host).await.as_deref(), want);
    assert!(
        stats(host).memory_hits > before,
        "the second lookup came from memory"
    );
}

async fn plugin_lifecycle(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let acme = writer.trusted_publisher(&admin.token).await;
    warm_plugin(reader, None).await;
    acme.install(writer, &admin.token, &hostile_manifest(1), &hostile_wasm(1))
        .await;
    assert_eq!(
        running(reader).await.as_deref(),
        Some("0.1.0-hostile.1"),
        "install"
    );

    warm_plugin(reader, Some("0.1.0-hostile.1")).await;
    acme.upgrade(
        writer,
        &admin.token,
        "hostile",
        &hostile_manifest(2),
        &hostile_wasm(2),
    )
    .await;
    assert_eq!(
        running(reader).await.as_deref(),
        Some("0.1.0-hostile.2"),
        "upgrade"
    );

    warm_plugin(reader, Some("0.1.0-hostile.2")).await;
    writer
        .post("/api/v1/plugins/hostile/rollback", &admin.token, json!({}))
        .await
        .expect(200);
    assert_eq!(
        running(reader).await.as_deref(),
        Some("0.1.0-hostile.1"),
        "rollback"
    );

    warm_plugin(reader, Some("0.1.0-hostile.1")).await;
    writer
        .call(
            "DELETE",
            "/api/v1/plugins/hostile",
            Some(&admin.token),
            None,
        )
        .await
        .expect(204);
    assert_eq!(running(reader).await, None, "uninstall");
}

async fn plugin_enablement(writer: &TestApp, reader: &TestApp) {
    let admin = writer.admin().await;
    let pm = writer.user(Role::ProjectManager).await;
    let tl = writer.user(Role::TechnicalLead).await;
    let acme = writer.trusted_publisher(&admin.token).await;
    let example = plugin_manifest("example");
    acme.install(writer, &admin.token, &example, &wasm("example"))
        .await;
    let project = writer.project("Synced", pm.id, &[tl.id]).await;
    let base = format!("/api/v1/projects/{project}/plugins/example");
    let read = json!({"config": {"items": 3}, "stream": "items"});
    let try_read = |status: u16| {
        let (path, body, token) = (format!("{base}/read"), read.clone(), tl.token.clone());
        async move {
            reader.post(&path, &token, body).await.expect(status);
        }
    };

    try_read(409).await;
    let before = stats(reader).memory_hits;
    try_read(409).await;
    assert!(stats(reader).memory_hits > before);
    writer
        .call("PUT", &base, Some(&pm.token), None)
        .await
        .expect(200);
    try_read(200).await;

    try_read(200).await;
    writer
        .call("DELETE", &base, Some(&pm.token), None)
        .await
        .expect(204);
    try_read(409).await;

    // Uninstalling takes the enablement with it; a reinstall starts disabled.
    writer
        .call("PUT", &base, Some(&pm.token), None)
        .await
        .expect(200);
    try_read(200).await;
    writer
        .call(
            "DELETE",
            "/api/v1/plugins/example",
            Some(&admin.token),
            None,
        )
        .await
        .expect(204);
    acme.install(writer, &admin.token, &example, &wasm("example"))
        .await;
    try_read(409).await;
    writer
        .call(
            "DELETE",
            "/api/v1/plugins/example",
            Some(&admin.token),
            None,
        )
        .await
        .expect(204);
}

stories! {
    async fn plugin_install_upgrade_rollback_uninstall_apply_at_once(backend) {
        on_every_topology!(backend, plugin_lifecycle);
    }

    async fn plugin_enable_and_disable_apply_at_once(backend) {
        on_every_topology!(backend, plugin_enablement);
    }
}
