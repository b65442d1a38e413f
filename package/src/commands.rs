//! The publisher's commands — `new`, `keygen`, `sign`, `verify` — as one clap subcommand enum,
//! run by the light `agentic-plugin` tool and flattened into the host's `agentic plugin`, so
//! both print the same help and do the same thing. None needs a server or a database.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::manifest::PackageType;
use crate::template::{NewConnector, SdkSource, Template, TemplateError};
use crate::{check, component_hash, ComponentError, Manifest, Package, PackageError};
use crate::{PublicKey, SigningKey};

/// A publisher's command.
#[derive(Debug, Subcommand)]
pub enum PublisherCommand {
    /// Create a connector crate (or, with --agent, an agent crate) from the SDK template in DIR.
    ///
    /// The crate builds and passes its tests as created. A connector: one for a small paging
    /// tracker API, its manifest (plugin.toml), the SDK's acceptance suite against a fake of
    /// the service. An agent: a work-item digest agent on agentic-agent-sdk, its manifest
    /// (plugin.toml with type = "agent") and tests in the SDK's harness. Both get a .gitignore
    /// that keeps build output, packages and keys out of git. The SDK dependency is the
    /// checkout (--sdk-path, written relative to DIR) or the git repository (--sdk-git) you
    /// name: the SDKs are not on crates.io.
    #[command(
        after_long_help = "Examples:\n  agentic-plugin new my-tracker --name \"My Tracker\" --sdk-path ../agentic/sdk\n  agentic-plugin new my-digest --agent --sdk-path ../agentic/sdk\n  cd my-tracker && cargo test && cargo build --release --target wasm32-wasip2\n\n`agentic plugin new` and `agentic agent new` (= new --agent) in the host take the same arguments."
    )]
    New {
        /// Directory to create (must not exist).
        dir: PathBuf,
        /// Plugin id: 2 to 64 lower-case letters, digits and '-' (default: the directory name).
        #[arg(long)]
        id: Option<String>,
        /// Human name (default: the id in title case).
        #[arg(long)]
        name: Option<String>,
        /// Make an agent (on agentic-agent-sdk) instead of a connector.
        #[arg(long)]
        agent: bool,
        #[command(flatten)]
        sdk: SdkArgs,
    },
    /// Generate a publisher signing key into KEY_FILE (mode 0600) and print its public key.
    ///
    /// Give the public key (ed25519:<base64>) to the administrators of the hosts that will
    /// install your plugins; keep the key file secret and out of version control.
    Keygen {
        /// Where to write the private key (must not exist).
        key_file: PathBuf,
    },
    /// Sign a manifest and component into a package file (.agp).
    ///
    /// Refuses, with the reason, a manifest that breaks a rule and a file that is not a
    /// WebAssembly component of the world the manifest's `type` names (connector by default,
    /// `type = "agent"` for an agent) of the contract version its `wit` names (not wasm; a core
    /// module rather than a component; a component of another world; an agent where a
    /// connector was declared or the other way round; another contract version).
    #[command(
        after_long_help = "Example:\n  agentic-plugin sign --key publisher.key --manifest plugin.toml \\\n      --component target/wasm32-wasip2/release/my_tracker.wasm --out my-tracker-0.1.0.agp\n\n`agentic plugin sign` in the host takes the same arguments."
    )]
    Sign {
        /// The publisher's key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The plugin's `plugin.toml`.
        #[arg(long)]
        manifest: PathBuf,
        /// The component (`.wasm`, built for wasm32-wasip2).
        #[arg(long)]
        component: PathBuf,
        /// The package to write (`.agp`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a package as a host would before installing it, and print what it holds.
    ///
    /// Checks the archive, the manifest, the signature and that the component is of the
    /// manifest's type (connector or agent) and contract version; prints the package type, id,
    /// version, contract version, signing key and the component's SHA-256. Without --key the signature is checked against
    /// the key the package itself names, which proves it is intact but not who signed it.
    Verify {
        /// The package file (`.agp`).
        package: PathBuf,
        /// The publisher key you trust (ed25519:<base64>): the package must be signed by it.
        #[arg(long, value_name = "PUBLIC_KEY")]
        key: Option<String>,
    },
}

/// Where the new crate's `agentic-sdk` comes from: exactly one of the two.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SdkArgs {
    /// The SDK crate's directory (sdk/ of an Agentic checkout; for an agent sdk/agent/, or
    /// sdk/ meaning it); written into Cargo.toml relative to the new crate.
    #[arg(long, value_name = "DIR")]
    pub sdk_path: Option<PathBuf>,
    /// A git repository holding the SDK (the Agentic repository's URL).
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
}

/// Why a publisher's command failed: one line for the publisher.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A file could not be read or written.
    #[error("{what} {}: {error}", .path.display())]
    Io {
        /// `reading`, `writing`, …
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        error: std::io::Error,
    },
    /// A key, manifest or package is wrong.
    #[error("{}: {error}", .path.display())]
    Package {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        error: PackageError,
    },
    /// The file given as the component is not of the manifest's type (connector or agent).
    #[error("{} is not {} component: {error}", .path.display(), match .kind { PackageType::Connector => "a connector", PackageType::Agent => "an agent" })]
    NotAConnector {
        /// The component file (or package).
        path: PathBuf,
        /// What the manifest says it is.
        kind: PackageType,
        /// Why.
        error: ComponentError,
    },
    /// The package is intact but signed by another key than the one expected.
    #[error("{} is signed by {found}, not by {expected}", .path.display())]
    OtherPublisher {
        /// The package.
        path: PathBuf,
        /// The key that signed it.
        found: PublicKey,
        /// The key given with --key.
        expected: PublicKey,
    },
    /// `verify --key` is not a public key.
    #[error("--key: {0}")]
    BadKey(String),
    /// `new` was not told where the SDK is.
    #[error("name the SDK with --sdk-path DIR or --sdk-git URL")]
    NoSdk,
    /// `keygen` never replaces a key.
    #[error("{} already exists: keygen never replaces a key (the file must not exist yet)", .0.display())]
    KeyExists(PathBuf),
    /// `new` failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Writing to the terminal failed.
    #[error("writing the output: {0}")]
    Output(std::io::Error),
}

// By hand, not `#[from]`: the message already holds the cause, and a source would make
// `anyhow`'s `{:#}` (the host's error line) print it twice.
impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        Self::Output(e)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CommandError> {
    std::fs::read(path).map_err(|error| CommandError::Io {
        what: "reading",
        path: path.to_owned(),
        error,
    })
}

fn read_text(path: &Path) -> Result<String, CommandError> {
    std::fs::read_to_string(path).map_err(|error| CommandError::Io {
        what: "reading",
        path: path.to_owned(),
        error,
    })
}

fn at(path: &Path) -> impl FnOnce(PackageError) -> CommandError + '_ {
    move |error| CommandError::Package {
        path: path.to_owned(),
        error,
    }
}

/// Runs `command`: its result on `out`, notes for the person at the terminal on `notes`.
pub fn run(
    command: PublisherCommand,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<(), CommandError> {
    match command {
        PublisherCommand::New {
            dir,
            id,
            name,
            agent,
            sdk,
        } => {
            let sdk = match (sdk.sdk_path, sdk.sdk_git) {
                (Some(path), _) => SdkSource::Path(path),
                (None, Some(url)) => SdkSource::Git(url),
                // clap requires one of the two; a caller building the command by hand gets
                // the same words.
                (None, None) => return Err(CommandError::NoSdk),
            };
            let template = if agent {
                Template::Agent
            } else {
                Template::Connector
            };
            let created = crate::template::create(&NewConnector {
                dir: dir.clone(),
                id,
                name,
                sdk,
                template,
            })?;
            let what = if agent { "agent" } else { "plugin" };
            writeln!(out, "created {} ({what} {created})", dir.display())?;
            writeln!(
                notes,
                "next: cd {} && cargo test && cargo build --release --target wasm32-wasip2",
                dir.display()
            )?;
        }
        PublisherCommand::Keygen { key_file } => {
            let (key, pkcs8) = SigningKey::generate().map_err(at(&key_file))?;
            write_private(&key_file, &pkcs8)?;
            writeln!(out, "{}", key.public_key())?;
            writeln!(
                notes,
                "private key written to {}; keep it secret. Give administrators the public key above.",
                key_file.display()
            )?;
        }
        PublisherCommand::Sign {
            key,
            manifest,
            component,
            out: target,
        } => {
            let signing_key = SigningKey::from_file_text(&read_text(&key)?).map_err(at(&key))?;
            let manifest_text = read_text(&manifest)?;
            let parsed = Manifest::parse(&manifest_text).map_err(at(&manifest))?;
            let wasm = read(&component)?;
            check(&parsed, &wasm).map_err(|error| CommandError::NotAConnector {
                path: component.clone(),
                kind: parsed.package_type,
                error,
            })?;
            let package =
                Package::build(&signing_key, &manifest_text, &wasm).map_err(at(&manifest))?;
            std::fs::write(&target, package).map_err(|error| CommandError::Io {
                what: "writing",
                path: target.clone(),
                error,
            })?;
            writeln!(out, "{}", target.display())?;
        }
        PublisherCommand::Verify { package, key } => {
            let expected = key
                .map(|k| PublicKey::parse(&k))
                .transpose()
                .map_err(|e| match e {
                    PackageError::Signature(why) => CommandError::BadKey(why),
                    other => CommandError::BadKey(other.to_string()),
                })?;
            let opened = Package::open(&read(&package)?).map_err(at(&package))?;
            opened.verify().map_err(at(&package))?;
            if let Some(expected) = expected {
                if expected != opened.publisher_key {
                    return Err(CommandError::OtherPublisher {
                        path: package,
                        found: opened.publisher_key,
                        expected,
                    });
                }
            } else {
                writeln!(
                    notes,
                    "note: checked against the key the package names; pass --key to check it is the publisher you trust"
                )?;
            }
            check(&opened.manifest, &opened.component).map_err(|error| {
                CommandError::NotAConnector {
                    path: package.clone(),
                    kind: opened.manifest.package_type,
                    error,
                }
            })?;
            let m = &opened.manifest;
            // `connector jira 1.2.0 (contract 0.2.0)` or `agent stale-issues 0.1.0 (contract
            // 0.1.0)`: the contract is the type's world (agentic:connector, agentic:agent).
            writeln!(
                out,
                "{} {} {} (contract {})",
                m.package_type, m.id, m.version, m.wit
            )?;
            writeln!(out, "signed by {}", opened.publisher_key)?;
            writeln!(
                out,
                "component sha256 {}",
                component_hash(&opened.component)
            )?;
        }
    }
    Ok(())
}

/// Writes a new private file (mode 0600 on Unix); never replaces one.
fn write_private(path: &Path, text: &str) -> Result<(), CommandError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let failed = |error| CommandError::Io {
        what: "writing",
        path: path.to_owned(),
        error,
    };
    let mut file = options.open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => CommandError::KeyExists(path.to_owned()),
        _ => failed(error),
    })?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.write_all(b"\n").map_err(failed)?;
    Ok(())
}
