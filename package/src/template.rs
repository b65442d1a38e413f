//! `new`: a connector or agent crate from the SDK's templates (`sdk/template/`,
//! `sdk/agent/template/`), compiled into the tool so it works anywhere the tool does.
//!
//! The crate depends on `agentic-sdk` (connectors) or `agentic-agent-sdk` (agents), which are
//! not published to a registry, so the publisher says where the SDK is: a checkout
//! (`--sdk-path`, written relative to the new crate, so a crate kept in the same repository as
//! the SDK builds on every clone) or a git repository (`--sdk-git`). The tool never writes the
//! path of the machine it was built on.

use std::path::{Component, Path, PathBuf};

/// (path in the new crate, template text) of a connector.
const CONNECTOR_FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../sdk/template/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../sdk/template/src/lib.rs.tmpl"),
    ),
    (
        "plugin.toml",
        include_str!("../../sdk/template/plugin.toml.tmpl"),
    ),
    (
        "tests/acceptance.rs",
        include_str!("../../sdk/template/tests/acceptance.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../sdk/template/README.md.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../sdk/template/gitignore.tmpl"),
    ),
];

/// (path in the new crate, template text) of an agent.
const AGENT_FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../sdk/agent/template/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../sdk/agent/template/src/lib.rs.tmpl"),
    ),
    (
        "plugin.toml",
        include_str!("../../sdk/agent/template/plugin.toml.tmpl"),
    ),
    (
        "tests/harness.rs",
        include_str!("../../sdk/agent/template/tests/harness.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../sdk/agent/template/README.md.tmpl"),
    ),
    // The same rules as a connector's: build output, packages and keys stay out of git.
    (
        ".gitignore",
        include_str!("../../sdk/template/gitignore.tmpl"),
    ),
];

/// What kind of crate `new` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Template {
    /// A connector on `agentic-sdk`.
    #[default]
    Connector,
    /// An agent on `agentic-agent-sdk`.
    Agent,
}

impl Template {
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Template::Connector => CONNECTOR_FILES,
            Template::Agent => AGENT_FILES,
        }
    }

    /// The SDK crate the new crate depends on.
    pub fn sdk_crate(self) -> &'static str {
        match self {
            Template::Connector => "agentic-sdk",
            Template::Agent => "agentic-agent-sdk",
        }
    }

    /// Where that crate is in a checkout.
    fn sdk_dir(self) -> &'static str {
        match self {
            Template::Connector => "sdk/",
            Template::Agent => "sdk/agent/",
        }
    }
}

/// Where the new crate's SDK dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK crate's directory (`sdk/` or `sdk/agent/` of a checkout).
    Path(PathBuf),
    /// A git repository holding the SDK (cargo finds the `agentic-sdk` package in it).
    Git(String),
}

/// What `new` makes.
#[derive(Debug, Clone)]
pub struct NewConnector {
    /// Directory to create (must not exist).
    pub dir: PathBuf,
    /// Plugin id (default: the directory name).
    pub id: Option<String>,
    /// Human name (default: from the id).
    pub name: Option<String>,
    /// The SDK dependency.
    pub sdk: SdkSource,
    /// Connector or agent.
    pub template: Template,
}

/// Why a crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The directory is there already.
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    /// No valid id from `--id` or the directory name.
    #[error("plugin id {0:?}: 2 to 64 lower-case letters, digits and '-' (pass --id)")]
    Id(String),
    /// A name the manifest could not hold.
    #[error("--name: 1 to 100 characters, no quotes, backslashes or control characters")]
    Name,
    /// `--sdk-path` is not the SDK crate.
    #[error("--sdk-path {}: {why}", .path.display())]
    Sdk {
        /// As given.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Writing the crate failed.
    #[error("writing {}: {error}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        error: std::io::Error,
    },
}

/// Creates the crate; returns the plugin id.
pub fn create(new: &NewConnector) -> Result<String, TemplateError> {
    let dir = &new.dir;
    if dir.exists() {
        return Err(TemplateError::Exists(dir.clone()));
    }
    let id = match &new.id {
        Some(id) => id.clone(),
        None => dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase()
            .replace('_', "-"),
    };
    if !crate::valid_id(&id) {
        return Err(TemplateError::Id(id));
    }
    let name = new.name.clone().unwrap_or_else(|| title_case(&id));
    if name.is_empty()
        || name.chars().count() > 100
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(TemplateError::Name);
    }
    // Checked before anything is written; the path made canonical for `relative`.
    let sdk = match &new.sdk {
        SdkSource::Path(path) => SdkSource::Path(sdk_crate(path, new.template)?),
        git => git.clone(),
    };
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |error| TemplateError::Write { path, error }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let dependency = match sdk {
        SdkSource::Path(sdk_dir) => {
            let here = std::fs::canonicalize(dir).map_err(write_error(dir))?;
            format!("{{ path = {} }}", toml_string(&relative(&here, &sdk_dir)))
        }
        SdkSource::Git(url) => format!("{{ git = {} }}", toml_string(&url)),
    };
    let crate_name = id.replace('-', "_");
    for (path, text) in new.template.files() {
        let text = text
            .replace("{{id}}", &id)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{name}}", &name)
            .replace("{{sdk_path}}", &dependency);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        std::fs::write(&target, text).map_err(write_error(&target))?;
    }
    Ok(id)
}

fn title_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The canonical directory of `template`'s SDK crate at `path`, or why it is not one. The
/// checkout's `sdk/` directory is accepted for an agent too (its `agent/` is meant).
fn sdk_crate(path: &Path, template: Template) -> Result<PathBuf, TemplateError> {
    let refuse = |why: String| TemplateError::Sdk {
        path: path.to_owned(),
        why,
    };
    let mut dir = std::fs::canonicalize(path).map_err(|e| refuse(e.to_string()))?;
    let want = template.sdk_crate();
    if template == Template::Agent && package_name(&dir).as_deref() == Some("agentic-sdk") {
        dir = dir.join("agent");
    }
    if !dir.join("Cargo.toml").is_file() {
        return Err(refuse("no Cargo.toml there".into()));
    }
    let name = package_name(&dir);
    let hint = template.sdk_dir();
    match name.as_deref() {
        Some(found) if found == want => Ok(dir),
        Some(other) => Err(refuse(format!(
            "that is the crate {other}, not {want} (the {hint} directory of an Agentic checkout)"
        ))),
        None => Err(refuse(format!(
            "its Cargo.toml names no package (give the {hint} directory of an Agentic checkout)"
        ))),
    }
}

/// The package name of the crate in `dir`, if it is one.
fn package_name(dir: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let table = toml::from_str::<toml::Table>(&manifest).ok()?;
    table
        .get("package")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// `to` relative to `from` (both absolute), with `/` separators as Cargo.toml is shared
/// between systems.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        // Different roots (drives): only an absolute path reaches it.
        return to
            .iter()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
    }
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// `s` as a TOML basic string (quoted, escaped).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_relative_to_the_new_crate() {
        let rel = |from: &str, to: &str| relative(Path::new(from), Path::new(to));
        assert_eq!(
            rel("/work/agentic/plugins/mine", "/work/agentic/sdk"),
            "../../sdk"
        );
        assert_eq!(
            rel("/home/me/mine", "/home/me/agentic/sdk"),
            "../agentic/sdk"
        );
        assert_eq!(rel("/a/b", "/a/b"), ".");
    }

    /// The templates' manifests as `new` fills them pass the rules `sign` applies: a crate
    /// made by `new` can be signed as it is.
    #[test]
    fn both_templates_manifests_are_valid_as_filled_in() {
        for (template, kind) in [
            (Template::Connector, crate::manifest::PackageType::Connector),
            (Template::Agent, crate::manifest::PackageType::Agent),
        ] {
            let text = template
                .files()
                .iter()
                .find(|(path, _)| *path == "plugin.toml")
                .map(|(_, text)| {
                    text.replace("{{id}}", "my-thing")
                        .replace("{{name}}", "My Thing")
                })
                .expect("a manifest");
            let manifest =
                crate::Manifest::parse(&text).unwrap_or_else(|e| panic!("{template:?}: {e}"));
            assert_eq!(manifest.package_type, kind);
            assert_eq!(manifest.id, "my-thing");
        }
    }

    #[test]
    fn names_come_from_the_id() {
        assert_eq!(title_case("my-tracker"), "My Tracker");
    }
}
