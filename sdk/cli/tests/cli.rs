//! The real `agentic-plugin` binary in a temporary directory: `new` writes a crate whose SDK
//! dependency is the one named (never the build machine's path) and a `.gitignore`; `keygen`
//! writes a private key once; `sign` refuses what is not a connector with a one-line reason and
//! packages one that is; `verify` checks a package as a host would. (Building an instance of
//! the template takes minutes: `sdk/tests/template.rs` checks its text, the guide's walk-through
//! builds it.) Installing a signed package is the host's tests' part (host/tests/binary.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use agentic_package::{Manifest, Package};

const BIN: &str = env!("CARGO_BIN_EXE_agentic-plugin");

/// Runs the tool in `dir`; returns success, stdout and stderr.
fn tool(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn agentic-plugin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A built component of `plugins/` (`AGENTIC_PLUGIN_DIR`, or `$CARGO_TARGET_DIR/plugins`).
fn wasm(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("AGENTIC_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            option_env!("CARGO_TARGET_DIR")
                .map(|t| PathBuf::from(t).join("plugins"))
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/target")
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

fn example_manifest() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/example/plugin.toml"),
    )
    .expect("example manifest")
}

/// The one error line of a failed run.
fn refusal(out: (bool, String, String)) -> String {
    let (ok, _, err) = out;
    assert!(!ok, "expected a refusal");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    lines[0].to_owned()
}

#[test]
fn help_names_every_command_and_the_sdk_choice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, help, _) = tool(dir.path(), &["--help"]);
    assert!(ok);
    for command in ["new", "keygen", "sign", "verify"] {
        assert!(help.contains(command), "{help}");
    }
    let (_, help, _) = tool(dir.path(), &["new", "--help"]);
    assert!(
        help.contains("--sdk-path <DIR>") && help.contains("--sdk-git <URL>"),
        "{help}"
    );
    let (ok, _, err) = tool(dir.path(), &["new", "my-tracker"]);
    assert!(!ok && err.contains("--sdk-path"), "{err}");
    assert!(!dir.path().join("my-tracker").exists());
}

#[test]
fn new_writes_the_named_sdk_relative_to_the_crate_and_a_gitignore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sdk = dir.path().join("agentic/sdk");
    std::fs::create_dir_all(&sdk).expect("sdk dir");
    std::fs::write(
        sdk.join("Cargo.toml"),
        "[package]\nname = \"agentic-sdk\"\n",
    )
    .expect("sdk");

    let (ok, out, err) = tool(
        dir.path(),
        &[
            "new",
            "connectors/my-tracker",
            "--name",
            "My Tracker",
            "--sdk-path",
            "agentic/sdk",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("created connectors/my-tracker (plugin my-tracker)"),
        "{out}"
    );
    let made = dir.path().join("connectors/my-tracker");
    let cargo: toml::Table =
        toml::from_str(&std::fs::read_to_string(made.join("Cargo.toml")).expect("Cargo.toml"))
            .expect("Cargo.toml parses");
    assert_eq!(
        cargo["dependencies"]["agentic-sdk"]["path"].as_str(),
        Some("../../agentic/sdk"),
        "relative to the new crate: the checkout may be anywhere"
    );
    let manifest =
        Manifest::parse(&std::fs::read_to_string(made.join("plugin.toml")).expect("toml"))
            .expect("the manifest is valid");
    assert_eq!(
        (manifest.id.as_str(), manifest.name.as_str()),
        ("my-tracker", "My Tracker")
    );
    let ignored = std::fs::read_to_string(made.join(".gitignore")).expect(".gitignore");
    for pattern in ["/target/", "*.agp", "*.key"] {
        assert!(
            ignored.lines().any(|l| l == pattern),
            "{pattern}: {ignored}"
        );
    }
    for file in ["src/lib.rs", "tests/acceptance.rs", "README.md"] {
        let text = std::fs::read_to_string(made.join(file)).expect(file);
        assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
    }

    // A git source instead; nothing anywhere names the directory the tool was built in.
    let (ok, _, err) = tool(
        dir.path(),
        &[
            "new",
            "other",
            "--sdk-git",
            "https://git.example.com/agentic.git",
        ],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(dir.path().join("other/Cargo.toml")).expect("Cargo.toml");
    assert!(
        text.contains(r#"agentic-sdk = { git = "https://git.example.com/agentic.git" }"#),
        "{text}"
    );
    let built_in = env!("CARGO_MANIFEST_DIR");
    for entry in ["other/Cargo.toml", "connectors/my-tracker/Cargo.toml"] {
        let text = std::fs::read_to_string(dir.path().join(entry)).expect("read");
        assert!(!text.contains(built_in), "{entry} names {built_in}");
    }

    // Refusals: a directory that exists, a bad id, a directory that is not the SDK.
    let line = refusal(tool(
        dir.path(),
        &["new", "other", "--sdk-path", "agentic/sdk"],
    ));
    assert_eq!(line, "error: other already exists");
    let line = refusal(tool(
        dir.path(),
        &["new", "Bad_Id!", "--sdk-path", "agentic/sdk"],
    ));
    assert!(line.contains("plugin id \"bad-id!\""), "{line}");
    let line = refusal(tool(
        dir.path(),
        &["new", "third", "--sdk-path", "connectors/my-tracker"],
    ));
    assert!(
        line.contains("that is the crate my-tracker, not agentic-sdk"),
        "{line}"
    );
    assert!(!dir.path().join("third").exists());
}

#[test]
fn new_agent_makes_an_agent_crate_on_the_agent_sdk_found_from_the_sdk_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sdk = dir.path().join("agentic/sdk");
    std::fs::create_dir_all(sdk.join("agent")).expect("sdk dirs");
    std::fs::write(
        sdk.join("Cargo.toml"),
        "[package]\nname = \"agentic-sdk\"\n",
    )
    .expect("sdk");
    std::fs::write(
        sdk.join("agent/Cargo.toml"),
        "[package]\nname = \"agentic-agent-sdk\"\n",
    )
    .expect("agent sdk");

    // `sdk/` of a checkout means its `agent/` for an agent.
    let (ok, out, err) = tool(
        dir.path(),
        &[
            "new",
            "agents/my-digest",
            "--agent",
            "--sdk-path",
            "agentic/sdk",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("created agents/my-digest (agent my-digest)"),
        "{out}"
    );
    let made = dir.path().join("agents/my-digest");
    let cargo: toml::Table =
        toml::from_str(&std::fs::read_to_string(made.join("Cargo.toml")).expect("Cargo.toml"))
            .expect("Cargo.toml parses");
    assert_eq!(
        cargo["dependencies"]["agentic-agent-sdk"]["path"].as_str(),
        Some("../../agentic/sdk/agent")
    );
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(made.join("plugin.toml")).expect("plugin.toml"))
            .expect("plugin.toml parses");
    assert_eq!(manifest["type"].as_str(), Some("agent"));
    assert_eq!(manifest["id"].as_str(), Some("my-digest"));
    for file in ["src/lib.rs", "tests/harness.rs", "README.md", ".gitignore"] {
        let text = std::fs::read_to_string(made.join(file)).expect(file);
        assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
    }

    // A connector's SDK crate named for an agent is refused with the directory to give.
    let line = refusal(tool(
        dir.path(),
        &["new", "other", "--agent", "--sdk-path", "agents/my-digest"],
    ));
    assert!(
        line.contains(
            "that is the crate my-digest, not agentic-agent-sdk (the sdk/agent/ directory"
        ),
        "{line}"
    );
}

#[test]
fn sign_refuses_what_is_not_a_connector_and_verify_checks_what_it_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let write =
        |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).expect(name);

    let (ok, public, err) = tool(dir.path(), &["keygen", "publisher.key"]);
    assert!(ok, "{err}");
    let public = public.trim().to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path("publisher.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let line = refusal(tool(dir.path(), &["keygen", "publisher.key"]));
    assert!(line.contains("never replaces a key"), "{line}");

    let manifest = example_manifest();
    let wit = Manifest::parse(&manifest).expect("manifest").wit;
    write("plugin.toml", manifest.as_bytes());
    write(
        "future.toml",
        manifest
            .replace(&format!("wit = \"{wit}\""), "wit = \"9.0.0\"")
            .as_bytes(),
    );
    write("notes.wasm", b"just text, not wasm");
    write("core.wasm", b"\0asm\x01\0\0\0");
    write("other.wasm", &wasm("not_a_connector"));
    write("example.wasm", &wasm("example"));
    let sign = |manifest: &str, component: &str| {
        tool(
            dir.path(),
            &[
                "sign",
                "--key",
                "publisher.key",
                "--manifest",
                manifest,
                "--component",
                component,
                "--out",
                "out.agp",
            ],
        )
    };
    for (manifest, component, reason) in [
        ("plugin.toml", "notes.wasm", "not a WebAssembly file"),
        ("plugin.toml", "core.wasm", "a core WebAssembly module, not a component"),
        (
            "plugin.toml",
            "other.wasm",
            "a component of another world, not a connector: it does not export spec, check, discover, read, invoke (it exports hello)",
        ),
        (
            "future.toml",
            "example.wasm",
            &format!("a connector of contract version {wit}, but plugin.toml names wit = \"9.0.0\""),
        ),
    ] {
        let line = refusal(sign(manifest, component));
        let expected = format!("error: {component} is not a connector component: {reason}");
        assert!(line.starts_with(&expected), "{line}\nshould start with\n{expected}");
        assert!(!dir.path().join("out.agp").exists(), "nothing signed for {component}");
    }

    let (ok, out, err) = sign("plugin.toml", "example.wasm");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "out.agp");
    let package = Package::open(&std::fs::read(path("out.agp")).expect("package")).expect("open");
    package.verify().expect("signed");
    assert_eq!(package.publisher_key.to_string(), public);

    let (ok, out, err) = tool(dir.path(), &["verify", "out.agp", "--key", &public]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "example {} (contract {wit})",
            package.manifest.version
        )),
        "{out}"
    );
    assert!(out.contains(&format!("signed by {public}")), "{out}");
    let (ok, _, err) = tool(dir.path(), &["verify", "out.agp"]);
    assert!(
        ok && err.contains("pass --key"),
        "without --key, a note says what was not checked: {err}"
    );

    let line = refusal(tool(
        dir.path(),
        &["verify", "out.agp", "--key", "ed25519:short"],
    ));
    assert_eq!(
        line,
        "error: --key: a publisher key looks like ed25519:<base64 of 32 bytes>"
    );

    // Another publisher's key, and a package changed after signing.
    let (_, other, _) = tool(dir.path(), &["keygen", "other.key"]);
    let line = refusal(tool(
        dir.path(),
        &["verify", "out.agp", "--key", other.trim()],
    ));
    assert!(
        line.contains(&format!("is signed by {public}, not by {}", other.trim())),
        "{line}"
    );
    let mut bytes = std::fs::read(path("out.agp")).expect("package");
    let at = bytes
        .windows(4)
        .rposition(|w| w == b"\0asm")
        .expect("the component in the archive")
        + 100;
    bytes[at] ^= 0xff;
    write("tampered.agp", &bytes);
    let line = refusal(tool(dir.path(), &["verify", "tampered.agp"]));
    assert!(line.contains("the signature does not match"), "{line}");
}
