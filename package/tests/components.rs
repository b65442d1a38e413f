//! The connector check on real components built from `plugins/` (as `cargo xtask test` builds
//! them): connectors pass for their own contract version, and everything else is refused with
//! the reason.

use std::path::PathBuf;

use agentic_package::{check_connector, ComponentError, Manifest};

/// `AGENTIC_PLUGIN_DIR`, or where the plugins workspace builds (`$CARGO_TARGET_DIR/plugins`).
fn wasm(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("AGENTIC_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            option_env!("CARGO_TARGET_DIR")
                .map(|t| PathBuf::from(t).join("plugins"))
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target")
                })
                .join("wasm32-wasip2/release")
        });
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first (cargo xtask test does)",
            path.display()
        )
    })
}

fn manifest(wit: &str) -> Manifest {
    Manifest::parse(&format!(
        "id = \"demo\"\nversion = \"1.0.0\"\nwit = \"{wit}\"\nname = \"Demo\"\n\
         allowed_hosts = [\"*\"]\nauth_kinds = [\"bearer\"]\n"
    ))
    .expect("manifest")
}

/// The contract version the repository's connectors target (their manifests say).
fn current() -> String {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/example/plugin.toml"),
    )
    .expect("example manifest");
    Manifest::parse(&text).expect("example manifest").wit
}

#[test]
fn connectors_pass_for_the_version_they_were_built_for() {
    let wit = current();
    for name in ["example", "jira", "hostile"] {
        check_connector(&manifest(&wit), &wasm(name))
            .unwrap_or_else(|e| panic!("{name} is a connector of {wit}: {e}"));
    }
}

#[test]
fn a_connector_of_another_version_is_refused_naming_both() {
    let wit = current();
    let err = check_connector(&manifest("9.0.0"), &wasm("example")).expect_err("other version");
    assert_eq!(
        err,
        ComponentError::WrongVersion {
            found: vec![wit.clone()],
            wanted: "9.0.0".into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("a connector of contract version {wit}, but plugin.toml names wit = \"9.0.0\"")
    );
}

#[test]
fn a_component_of_another_world_is_refused_naming_what_it_lacks() {
    let err = check_connector(&manifest(&current()), &wasm("not_a_connector"))
        .expect_err("another world");
    assert_eq!(
        err.to_string(),
        "a component of another world, not a connector: it does not export spec, check, \
         discover, read, invoke (it exports hello)"
    );
}

fn agent_manifest(wit: &str) -> Manifest {
    Manifest::parse(&format!(
        "type = \"agent\"\nid = \"uptime-check\"\nversion = \"1.0.0\"\nwit = \"{wit}\"\n\
         name = \"Uptime\"\nallowed_hosts = []\n[config_schema]\ntype = \"object\"\n"
    ))
    .expect("agent manifest")
}

#[test]
fn agents_pass_as_agents_and_are_refused_as_connectors() {
    for (name, wit) in [
        ("agent_web_monitor", "0.2.0"),
        ("agent_sync_assistant", "0.2.0"),
        ("agent_contract_0_1", "0.1.0"),
    ] {
        agentic_package::check(&agent_manifest(wit), &wasm(name))
            .unwrap_or_else(|e| panic!("{name} is an agent of {wit}: {e}"));
        let err = agentic_package::check(&manifest(&current()), &wasm(name))
            .expect_err("an agent is not a connector");
        assert_eq!(
            err.to_string(),
            "an agent component, but plugin.toml says type = \"connector\" (or no type); an \
             agent's manifest says type = \"agent\""
        );
    }
    let err = agentic_package::check(&agent_manifest("9.0.0"), &wasm("agent_web_monitor"))
        .expect_err("other version");
    assert_eq!(
        err.to_string(),
        "an agent of contract version 0.2.0, but plugin.toml names wit = \"9.0.0\""
    );
    // A component built against the frozen 0.1.0 is not one of 0.2.0.
    let err = agentic_package::check(&agent_manifest("0.2.0"), &wasm("agent_contract_0_1"))
        .expect_err("built against 0.1.0");
    assert_eq!(
        err.to_string(),
        "an agent of contract version 0.1.0, but plugin.toml names wit = \"0.2.0\""
    );
}

#[test]
fn a_connector_declared_as_an_agent_is_refused_in_one_line() {
    let err = agentic_package::check(&agent_manifest("0.1.0"), &wasm("example"))
        .expect_err("a connector is not an agent");
    assert_eq!(
        err,
        ComponentError::WrongType {
            found: agentic_package::PackageType::Connector,
            declared: agentic_package::PackageType::Agent,
        }
    );
    assert_eq!(
        err.to_string(),
        "a connector component, but plugin.toml says type = \"agent\"; a connector's manifest \
         leaves type out"
    );
    let other = agentic_package::check(&agent_manifest("0.1.0"), &wasm("not_a_connector"))
        .expect_err("another world");
    assert_eq!(
        other.to_string(),
        "a component of another world, not an agent: it does not export run (it exports hello)"
    );
}

#[test]
fn sign_and_verify_work_for_an_agent_and_name_its_type() {
    use agentic_package::commands::{run, PublisherCommand};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let (_, pkcs8) = agentic_package::SigningKey::generate().expect("key");
    std::fs::write(path("publisher.key"), pkcs8).expect("key file");
    let agent = "type = \"agent\"\nid = \"uptime-check\"\nversion = \"1.0.0\"\nwit = \"0.2.0\"\n\
                 name = \"Uptime\"\nallowed_hosts = []\nneeds = [\"records:read\"]\n";
    std::fs::write(path("agent.toml"), agent).expect("manifest");
    let connector = "id = \"uptime-check\"\nversion = \"1.0.0\"\nwit = \"0.1.0\"\n\
                     name = \"Uptime\"\nallowed_hosts = []\nauth_kinds = [\"anonymous\"]\n";
    std::fs::write(path("connector.toml"), connector).expect("manifest");
    std::fs::write(path("monitor.wasm"), wasm("agent_web_monitor")).expect("component");
    let sign = |manifest: &str| {
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        run(
            PublisherCommand::Sign {
                key: path("publisher.key"),
                manifest: path(manifest),
                component: path("monitor.wasm"),
                out: path("out.agp"),
            },
            &mut out,
            &mut notes,
        )
    };
    let refused = sign("connector.toml").expect_err("an agent under a connector manifest");
    assert!(
        refused.to_string().ends_with(
            "monitor.wasm is not a connector component: an agent component, but plugin.toml \
             says type = \"connector\" (or no type); an agent's manifest says type = \"agent\""
        ),
        "{refused}"
    );
    assert!(!path("out.agp").exists());
    sign("agent.toml").expect("an agent signs");
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    run(
        PublisherCommand::Verify {
            package: path("out.agp"),
            key: None,
        },
        &mut out,
        &mut notes,
    )
    .expect("verifies");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.starts_with("agent uptime-check 1.0.0 (contract 0.2.0)\n"),
        "{out}"
    );
}
