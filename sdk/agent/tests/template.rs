//! The `agentic agent new` template (`sdk/agent/template/`): every placeholder is one the CLI
//! fills, and the filled-in manifest and Cargo.toml agree with each other and this SDK. (The
//! instance's own tests and its wasm32 build take minutes and the network; they were run by
//! hand: `agentic agent new`, `cargo test`, `cargo build --release --target wasm32-wasip2`.)

const FILES: [&str; 5] = [
    "Cargo.toml.tmpl",
    "src/lib.rs.tmpl",
    "plugin.toml.tmpl",
    "tests/harness.rs.tmpl",
    "README.md.tmpl",
];

fn instantiate(file: &str) -> String {
    let path = format!("{}/template/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{{id}}", "my-digest")
        .replace("{{crate_name}}", "my_digest")
        .replace("{{name}}", "My Digest")
        .replace("{{sdk_path}}", r#"{ path = "../sdk/agent" }"#)
}

#[test]
fn only_the_four_placeholders_are_used() {
    for file in FILES {
        assert!(
            !instantiate(file).contains("{{"),
            "{file} has an unknown placeholder"
        );
    }
}

#[test]
fn the_filled_in_manifest_and_cargo_toml_agree() {
    let manifest: toml::Table =
        toml::from_str(&instantiate("plugin.toml.tmpl")).expect("plugin.toml");
    assert_eq!(manifest["type"].as_str(), Some("agent"));
    assert_eq!(manifest["id"].as_str(), Some("my-digest"));
    assert_eq!(
        manifest["wit"].as_str(),
        Some(agentic_agent_sdk::WIT_VERSION)
    );
    let cargo: toml::Table = toml::from_str(&instantiate("Cargo.toml.tmpl")).expect("Cargo.toml");
    assert_eq!(cargo["package"]["name"].as_str(), Some("my-digest"));
    assert_eq!(
        cargo["package"]["version"].as_str(),
        manifest["version"].as_str()
    );
    assert_eq!(
        cargo["dependencies"]["agentic-agent-sdk"]["path"].as_str(),
        Some("../sdk/agent")
    );
    // The harness reads the manifest: a schema it cannot compile would fail every test.
    let _ = agentic_agent_sdk::testing::Harness::from_manifest(&instantiate("plugin.toml.tmpl"));
}
