//! Shared by the plugin tests: where `cargo xtask test` put the components built from
//! `plugins/`, and loading one into a runtime. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use agentic_host::plugins::{Plugin, Runtime};

/// `AGENTIC_PLUGIN_DIR`, or the wasm32-wasip2 release directory of the target dir.
pub fn plugin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("AGENTIC_PLUGIN_DIR") {
        return dir.into();
    }
    // Where `cargo xtask` builds the plugins workspace (its own target directory).
    let target = option_env!("CARGO_TARGET_DIR")
        .map(|t| PathBuf::from(t).join("plugins"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/target"));
    target.join("wasm32-wasip2/release")
}

/// The bytes of a built component (`example`, `hostile`, `not_a_connector`).
pub fn wasm(name: &str) -> Vec<u8> {
    let path = plugin_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: `cargo xtask test` does (plugins/ for wasm32-wasip2)",
            path.display()
        )
    })
}

/// Compiles a built component.
pub fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime.load(name, &wasm(name)).expect("load component")
}
