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
