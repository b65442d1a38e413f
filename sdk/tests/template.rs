//! The `agentic plugin new` template (`sdk/template/`): every placeholder is one the CLI fills,
//! and the filled-in manifest and Cargo.toml are valid. (Building and testing an instance takes
//! minutes and the network, so it is done by hand: instantiate, `cargo test`,
//! `cargo build --release --target wasm32-wasip2`.)

use agentic_sdk::Manifest;

const FILES: [&str; 5] = [
    "Cargo.toml.tmpl",
    "src/lib.rs.tmpl",
    "plugin.toml.tmpl",
    "tests/acceptance.rs.tmpl",
    "README.md.tmpl",
];

/// Fills the placeholders as the CLI does.
fn instantiate(file: &str) -> String {
    let path = format!("{}/template/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{{id}}", "my-tracker")
        .replace("{{crate_name}}", "my_tracker")
        .replace("{{name}}", "My Tracker")
        .replace("{{sdk_path}}", r#"{ path = "../sdk" }"#)
}

#[test]
fn only_the_four_placeholders_are_used() {
    for file in FILES {
        let text = instantiate(file);
        assert!(!text.contains("{{"), "{file} has an unknown placeholder");
    }
}

#[test]
fn the_filled_in_manifest_is_valid() {
    let manifest = Manifest::parse(&instantiate("plugin.toml.tmpl")).expect("valid manifest");
    assert_eq!(
        (manifest.id.as_str(), manifest.name.as_str()),
        ("my-tracker", "My Tracker")
    );
    assert_eq!(manifest.wit, agentic_sdk::WIT_VERSION);
    assert!(
        manifest.config_schema["properties"]
            .get("base_url")
            .is_none()
            && manifest.config_schema.get("required").is_none(),
        "the service's address is the connection's base URL, not configuration: {}",
        manifest.config_schema
    );
    let cargo: toml::Table = toml::from_str(&instantiate("Cargo.toml.tmpl")).expect("Cargo.toml");
    assert_eq!(cargo["package"]["name"].as_str(), Some("my-tracker"));
    assert_eq!(
        cargo["package"]["version"].as_str(),
        Some(manifest.version.as_str()),
        "the template's crate and manifest versions agree"
    );
    assert_eq!(
        cargo["dependencies"]["agentic-sdk"]["path"].as_str(),
        Some("../sdk")
    );
}
