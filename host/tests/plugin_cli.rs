//! `agentic plugin …` from the shell: the publisher's commands (`keygen`, `sign`, `verify`, the
//! same code as the light `agentic-plugin` tool) and the administrator's (`trust`, `install`,
//! `upgrade`, `rollback`, `list`, `enable`, `untrust`, `uninstall`), audited with `via: cli`.

use crate::binary::run_cli;
use crate::support;

#[tokio::test]
async fn plugin_commands_sign_install_and_manage_a_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agentic = |args: &[&str]| run_cli(dir.path(), args);
    let hostile = support::wasm("hostile");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path.display().to_string()
    };
    let manifest = |v: u8| {
        write(
            &format!("plugin-{v}.toml"),
            format!(
                "id = \"hostile\"\nversion = \"0.1.0-hostile.{v}\"\nwit = \"0.3.0\"\nname = \"Hostile\"\n\
                 allowed_hosts = [\"*\"]\nauth_kinds = [\"anonymous\"]\n[config_schema]\n"
            )
            .as_bytes(),
        )
    };
    let component = |v: u8| {
        let mut bytes = hostile.clone();
        let at = bytes
            .windows(15)
            .position(|w| w == b"0.1.0-hostile.1")
            .expect("version marker");
        bytes[at + 14] = b'0' + v;
        write(&format!("hostile-{v}.wasm"), &bytes)
    };

    // Publisher side: a key, then two signed versions.
    let (ok, public, err) = agentic(&["plugin", "keygen", "publisher.key"]);
    assert!(ok, "{err}");
    let public = public.trim().to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("publisher.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (again, _, err) = agentic(&["plugin", "keygen", "publisher.key"]);
    assert!(
        !again && err.contains("must not exist"),
        "keygen never overwrites a key: {err}"
    );
    for v in [1u8, 2] {
        let (ok, _, err) = agentic(&[
            "plugin",
            "sign",
            "--key",
            "publisher.key",
            "--manifest",
            &manifest(v),
            "--component",
            &component(v),
            "--out",
            &format!("hostile-{v}.agp"),
        ]);
        assert!(ok, "{err}");
    }
    // The same checks as the light `agentic-plugin` tool: a package verifies against the key
    // that signed it, and a component of another world is not signed.
    let (ok, out, err) = agentic(&["plugin", "verify", "hostile-1.agp", "--key", &public]);
    assert!(
        ok && out.contains("hostile 0.1.0-hostile.1 (contract 0.3.0)"),
        "{out}{err}"
    );
    let other = write("other.wasm", &support::wasm("not_a_connector"));
    let (ok, _, err) = agentic(&[
        "plugin",
        "sign",
        "--key",
        "publisher.key",
        "--manifest",
        &manifest(1),
        "--component",
        &other,
        "--out",
        "other.agp",
    ]);
    assert!(
        !ok && err.contains("is not a connector component: a component of another world"),
        "{err}"
    );

    // Administrator side: untrusted first, then trusted.
    let (ok, _, err) = agentic(&["plugin", "install", "hostile-1.agp"]);
    assert!(!ok && err.contains("unknown publisher"), "{err}");
    let (ok, _, err) = agentic(&["plugin", "trust", "acme", &public]);
    assert!(ok, "{err}");
    let (ok, out, err) = agentic(&["plugin", "install", "hostile-1.agp"]);
    assert!(
        ok && out.contains("installed hostile 0.1.0-hostile.1"),
        "{out}{err}"
    );
    let (ok, out, err) = agentic(&["plugin", "upgrade", "hostile-2.agp"]);
    assert!(
        ok && out.contains("0.1.0-hostile.2 is active"),
        "{out}{err}"
    );
    let (ok, out, _) = agentic(&["plugin", "list"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["ID", "TYPE", "ACTIVE", "PREVIOUS", "VERSIONS", "ENABLED", "IN", "PROJECTS"],
            vec![
                "hostile",
                "connector",
                "0.1.0-hostile.2",
                "0.1.0-hostile.1",
                "0.1.0-hostile.1,0.1.0-hostile.2",
                "-"
            ]
        ],
        "{out}"
    );
    let (ok, out, _) = agentic(&["plugin", "publishers"]);
    assert!(ok);
    assert_eq!(
        out.lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["ID", "NAME", "PUBLIC", "KEY"]),
        "{out}"
    );
    assert!(out.contains(&format!(" acme  {public}")), "{out}");
    let (ok, out, _) = agentic(&["plugin", "rollback", "hostile"]);
    assert!(ok && out.contains("0.1.0-hostile.1 is active"), "{out}");
    // Forward again, then back by "upgrading" to the older package: refused unless forced.
    let (ok, _, err) = agentic(&["plugin", "upgrade", "hostile-2.agp"]);
    assert!(ok, "{err}");
    let (ok, _, err) = agentic(&["plugin", "upgrade", "hostile-1.agp"]);
    assert!(
        !ok && err.contains(
            "version 0.1.0-hostile.1 is not newer than the active version 0.1.0-hostile.2"
        ),
        "{err}"
    );
    let (ok, out, err) = agentic(&["plugin", "upgrade", "--force", "hostile-1.agp"]);
    assert!(
        ok && out.contains("0.1.0-hostile.1 is active"),
        "{out}{err}"
    );

    // Enable in a project (made directly in the database: projects are an API matter).
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("data/agentic.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.expect("open db");
    sqlx::query("INSERT INTO users (kind, email, display_name, role, created_at, updated_at) VALUES ('human', 'o@x.example', 'O', 'project_manager', 0, 0)")
        .execute(&pool).await.expect("user");
    sqlx::query("INSERT INTO projects (name, description, owner_id, created_at, updated_at) VALUES ('P', '', 1, 0, 0)")
        .execute(&pool).await.expect("project");
    let (ok, out, err) = agentic(&["plugin", "enable", "hostile", "--project", "1"]);
    assert!(ok && out.contains("enabled in project 1"), "{out}{err}");
    let (ok, _, err) = agentic(&["plugin", "enable", "hostile", "--project", "99"]);
    assert!(!ok && err.contains("no project 99"), "{err}");
    let (_, out, _) = agentic(&["plugin", "list"]);
    assert!(out.trim_end().ends_with("  1"), "{out}");

    let (ok, _, err) = agentic(&["plugin", "untrust", "acme"]);
    assert!(!ok && err.contains("uninstall them first"), "{err}");
    let (ok, _, err) = agentic(&["plugin", "uninstall", "hostile"]);
    assert!(ok, "{err}");
    let (ok, _, err) = agentic(&["plugin", "untrust", "acme"]);
    assert!(ok, "{err}");

    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE detail LIKE '%\"via\":\"cli\"%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        audited,
        [
            "plugin_publisher.trusted",
            "plugin.installed",
            "plugin.upgraded",
            "plugin.rolled_back",
            "plugin.upgraded",
            "plugin.downgraded",
            "plugin.enabled",
            "plugin.uninstalled",
            "plugin_publisher.removed"
        ]
    );
}
