//! `agentic plugin new`: a connector crate from the SDK's template (`sdk/template/`), compiled
//! into the binary so it works anywhere the binary does.

use std::path::Path;

use anyhow::Context;

use crate::plugins::package::valid_id;

/// (path in the new crate, template text).
const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../../sdk/template/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../sdk/template/src/lib.rs.tmpl"),
    ),
    (
        "plugin.toml",
        include_str!("../../../sdk/template/plugin.toml.tmpl"),
    ),
    (
        "tests/acceptance.rs",
        include_str!("../../../sdk/template/tests/acceptance.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../../sdk/template/README.md.tmpl"),
    ),
];

/// Where this binary's SDK sources were, for the default dependency line.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// Creates the crate; returns the plugin id.
pub(super) fn create(
    dir: &Path,
    id: Option<String>,
    name: Option<String>,
    sdk: Option<String>,
) -> anyhow::Result<String> {
    if dir.exists() {
        anyhow::bail!("{} already exists", dir.display());
    }
    let id = match id {
        Some(id) => id,
        None => dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace('_', "-"),
    };
    if !valid_id(&id) {
        anyhow::bail!("plugin id {id:?}: 2 to 64 lower-case letters, digits and '-' (pass --id)");
    }
    let name = name.unwrap_or_else(|| {
        id.split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    if name.is_empty()
        || name.chars().count() > 100
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        anyhow::bail!("--name: 1 to 100 characters, no quotes, backslashes or control characters");
    }
    let sdk = sdk.unwrap_or_else(|| {
        let path = std::fs::canonicalize(SDK_DIR)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| SDK_DIR.to_owned());
        format!("{{ path = {path:?} }}")
    });
    let crate_name = id.replace('-', "_");
    for (path, text) in FILES {
        let text = text
            .replace("{{id}}", &id)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{name}}", &name)
            .replace("{{sdk_path}}", &sdk);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(id)
}
