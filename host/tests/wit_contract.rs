//! The WIT contract in `wit/` parses with the same WIT parser wasmtime 48 uses, has the shape the
//! host calls, and documents every function, type, field and case (integrators read the WIT).
//! Released versions are frozen under `wit/frozen/<version>/`: their bytes never change, and the
//! current contract only adds to the last of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wit_parser::{Docs, Resolve, Type, TypeDefKind, TypeOwner, WorldItem, WorldKey};

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit")
}

fn load() -> (Resolve, wit_parser::PackageId) {
    load_from(&wit_dir())
}

fn load_from(dir: &Path) -> (Resolve, wit_parser::PackageId) {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(dir)
        .unwrap_or_else(|e| panic!("{} parses and resolves: {e:#}", dir.display()));
    (resolve, package)
}

fn documented(docs: &Docs) -> bool {
    docs.contents
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
}

#[test]
fn the_connector_world_exports_what_the_host_calls() {
    let (resolve, package) = load();
    let pkg = &resolve.packages[package];
    assert_eq!(pkg.name.to_string(), "agentic:connector@0.3.0");
    let world = &resolve.worlds[pkg.worlds["connector"]];
    let exports: Vec<String> = world
        .exports
        .keys()
        .map(|k| match k {
            WorldKey::Name(n) => n.clone(),
            WorldKey::Interface(id) => resolve.id_of(*id).unwrap_or_default(),
        })
        .collect();
    assert_eq!(exports, ["spec", "check", "discover", "read", "invoke"]);
    let imports: Vec<String> = world
        .imports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .map(|(k, _)| match k {
            WorldKey::Name(n) => n.clone(),
            WorldKey::Interface(id) => resolve.id_of(*id).unwrap_or_default(),
        })
        .collect();
    assert!(
        imports.contains(&"wasi:http/outgoing-handler@0.2.12".to_owned()),
        "{imports:?}"
    );
    assert!(
        imports.contains(&"agentic:connector/host@0.3.0".to_owned()),
        "{imports:?}"
    );
    // No filesystem, sockets or environment in the contract.
    for forbidden in ["wasi:filesystem", "wasi:sockets", "wasi:cli/environment"] {
        assert!(
            !imports.iter().any(|i| i.starts_with(forbidden)),
            "{forbidden} imported: {imports:?}"
        );
    }
}

/// Every undocumented item of `package`.
fn undocumented(resolve: &Resolve, package: wit_parser::PackageId) -> Vec<String> {
    let pkg = &resolve.packages[package];
    let mut missing = Vec::new();
    if !documented(&pkg.docs) {
        missing.push(format!("package {}", pkg.name));
    }
    for (name, id) in &pkg.interfaces {
        let iface = &resolve.interfaces[*id];
        if !documented(&iface.docs) {
            missing.push(format!("interface {name}"));
        }
        for (fname, f) in &iface.functions {
            if !documented(&f.docs) {
                missing.push(format!("{name}.{fname}"));
            }
        }
    }
    for (name, id) in &pkg.worlds {
        let world = &resolve.worlds[*id];
        if !documented(&world.docs) {
            missing.push(format!("world {name}"));
        }
        for item in world.exports.values() {
            if let WorldItem::Function(f) = item {
                if !documented(&f.docs) {
                    missing.push(format!("{name}.{}", f.name));
                }
            }
        }
    }
    for (_, ty) in resolve.types.iter() {
        let TypeOwner::Interface(owner) = ty.owner else {
            continue;
        };
        if resolve.interfaces[owner].package != Some(package) {
            continue;
        }
        let Some(name) = &ty.name else { continue };
        match &ty.kind {
            // `use` re-exports carry the docs of their origin.
            TypeDefKind::Type(wit_parser::Type::Id(_)) => continue,
            TypeDefKind::Record(r) => missing.extend(
                r.fields
                    .iter()
                    .filter(|f| !documented(&f.docs))
                    .map(|f| format!("{name}.{}", f.name)),
            ),
            TypeDefKind::Variant(v) => missing.extend(
                v.cases
                    .iter()
                    .filter(|c| !documented(&c.docs))
                    .map(|c| format!("{name}::{}", c.name)),
            ),
            TypeDefKind::Enum(e) => missing.extend(
                e.cases
                    .iter()
                    .filter(|c| !documented(&c.docs))
                    .map(|c| format!("{name}::{}", c.name)),
            ),
            _ => {}
        }
        if !documented(&ty.docs) {
            missing.push(format!("type {name}"));
        }
    }
    missing
}

/// The agent contract, a nested package of `wit/` (sharing its WASI deps).
fn agent_package(resolve: &Resolve) -> wit_parser::PackageId {
    resolve
        .packages
        .iter()
        .find(|(_, p)| p.name.to_string() == "agentic:agent@0.2.0")
        .map(|(id, _)| id)
        .expect("wit/agent.wit defines agentic:agent@0.2.0")
}

#[test]
fn every_item_of_the_contract_is_documented() {
    let (resolve, package) = load();
    let missing = undocumented(&resolve, package);
    assert!(missing.is_empty(), "undocumented WIT items: {missing:?}");
}

#[test]
fn every_item_of_the_agent_contract_is_documented() {
    let (resolve, _) = load();
    let missing = undocumented(&resolve, agent_package(&resolve));
    assert!(
        missing.is_empty(),
        "undocumented agent WIT items: {missing:?}"
    );
}

#[test]
fn the_agent_world_exports_run_and_imports_only_http_and_the_platform() {
    let (resolve, _) = load();
    let package = agent_package(&resolve);
    let world = &resolve.worlds[resolve.packages[package].worlds["agent"]];
    let name = |k: &WorldKey| match k {
        WorldKey::Name(n) => n.clone(),
        WorldKey::Interface(id) => resolve.id_of(*id).unwrap_or_default(),
    };
    let exports: Vec<String> = world.exports.keys().map(name).collect();
    assert_eq!(exports, ["run"]);
    let imports: Vec<String> = world
        .imports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .map(|(k, _)| name(k))
        .collect();
    assert!(
        imports.contains(&"agentic:agent/platform@0.2.0".to_owned()),
        "{imports:?}"
    );
    assert!(
        imports.contains(&"wasi:http/outgoing-handler@0.2.12".to_owned()),
        "{imports:?}"
    );
    assert!(
        !imports
            .iter()
            .any(|i| i.starts_with("wasi:filesystem") || i.starts_with("wasi:sockets")),
        "{imports:?}"
    );
}

/// SHA-256 over every file of `wit/frozen/0.1.0` (relative path, NUL, bytes, NUL, in path
/// order). Released contracts are never edited: plugins built against 0.1.0 are served from
/// this copy (host/src/plugins/bindings.rs), so a change here would silently change what
/// installed plugins run against. Any change to the contract goes into `wit/` as a new version.
const FROZEN_0_1_0_SHA256: &str =
    "0fd7e7acee077ba1716c85bdaf52401bb29cc0869919de32091ebb75b9ee5c3f";

fn files_under(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read frozen dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, root, out);
        } else {
            let relative = path.strip_prefix(root).expect("under root");
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, std::fs::read(&path).expect("read frozen file")));
        }
    }
}

/// The same digest over `wit/frozen/agent-0.1.0`: agents built against `agentic:agent@0.1.0`
/// are served from this copy (host/src/plugins/agent_bindings.rs).
const FROZEN_AGENT_0_1_0_SHA256: &str =
    "fbb0f1d47581dd09463abbb27fa4a9d9264f6c91c3c9d95897111d1e2448ea0f";

/// SHA-256 over every file under `root`, as [`FROZEN_0_1_0_SHA256`] is taken.
fn digest_of(root: &Path) -> (String, usize) {
    let mut files = Vec::new();
    files_under(root, root, &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for (name, bytes) in &files {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(bytes);
        hash.update([0]);
    }
    let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (digest, files.len())
}

#[test]
fn the_frozen_agent_0_1_0_contract_is_unchanged_and_documented() {
    let root = wit_dir().join("frozen/agent-0.1.0");
    let (digest, files) = digest_of(&root);
    assert_eq!(
        digest, FROZEN_AGENT_0_1_0_SHA256,
        "wit/frozen/agent-0.1.0 changed ({files} files): released contracts are frozen"
    );
    let (resolve, package) = load_from(&root);
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "agentic:agent@0.1.0"
    );
    let missing = undocumented(&resolve, package);
    assert!(
        missing.is_empty(),
        "undocumented agent 0.1.0 items: {missing:?}"
    );
}

#[test]
fn agent_0_2_0_changes_exactly_what_its_docs_say_since_0_1_0() {
    let (old, old_package) = load_from(&wit_dir().join("frozen/agent-0.1.0"));
    let (new, _) = load();
    let new_package = agent_package(&new);
    let (old, new) = (shapes(&old, old_package), shapes(&new, new_package));
    let changed: Vec<&String> = old
        .iter()
        .filter(|(item, shape)| new.get(*item) != Some(*shape))
        .map(|(item, _)| item)
        .collect();
    // The trigger carries the sync event (new kinds, a new field); a document links records.
    assert_eq!(
        changed,
        [
            "platform.write-document",
            "types.trigger",
            "types.trigger-kind"
        ],
        "{changed:?}"
    );
    assert_eq!(
        new["types.trigger-kind"],
        format!(
            "{}, sync-finished, records-changed",
            old["types.trigger-kind"]
        )
    );
    assert_eq!(
        new["types.trigger"],
        format!("{}, event: option<sync-event>", old["types.trigger"])
    );
    let added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    assert_eq!(
        added,
        ["platform.comment-on-record", "types.sync-event"],
        "{added:?}"
    );
}

/// The same digest over `wit/frozen/0.2.0`: connectors built against `agentic:connector@0.2.0`
/// are served from this copy (host/src/plugins/bindings.rs).
const FROZEN_0_2_0_SHA256: &str =
    "f9a2a64ca825ad2a26d13e43feed12b88a5fe1bab9afe4031b8377a6f58bd7bb";

#[test]
fn the_frozen_0_2_0_contract_is_unchanged_and_documented() {
    let root = wit_dir().join("frozen/0.2.0");
    let (digest, files) = digest_of(&root);
    assert_eq!(
        digest, FROZEN_0_2_0_SHA256,
        "wit/frozen/0.2.0 changed ({files} files): released contracts are frozen"
    );
    let (resolve, package) = load_from(&root);
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "agentic:connector@0.2.0"
    );
    let missing = undocumented(&resolve, package);
    assert!(missing.is_empty(), "undocumented 0.2.0 items: {missing:?}");
}

#[test]
fn the_frozen_0_1_0_contract_is_unchanged() {
    let root = wit_dir().join("frozen/0.1.0");
    let mut files = Vec::new();
    files_under(&root, &root, &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for (name, bytes) in &files {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(bytes);
        hash.update([0]);
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        digest,
        FROZEN_0_1_0_SHA256,
        "wit/frozen/0.1.0 changed ({} files): released contracts are frozen",
        files.len()
    );
    let (resolve, package) = load_from(&root);
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "agentic:connector@0.1.0"
    );
}

/// A type as a string: named types by name (the contract names every type it defines), the
/// rest by structure.
fn describe(resolve: &Resolve, ty: &Type) -> String {
    let Type::Id(id) = ty else {
        return format!("{ty:?}");
    };
    let def = &resolve.types[*id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let of = |t: &Type| describe(resolve, t);
    match &def.kind {
        TypeDefKind::Option(t) => format!("option<{}>", of(t)),
        TypeDefKind::List(t) => format!("list<{}>", of(t)),
        TypeDefKind::Result(r) => format!(
            "result<{}, {}>",
            r.ok.as_ref().map_or("_".into(), of),
            r.err.as_ref().map_or("_".into(), of)
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(of).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Type(t) => of(t),
        other => format!("{other:?}"),
    }
}

/// Every type definition and function of the contract's package (interfaces and the world's
/// own functions), keyed `interface.item`, as strings that change when their shape changes.
fn shapes(resolve: &Resolve, package: wit_parser::PackageId) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let pkg = &resolve.packages[package];
    let function = |f: &wit_parser::Function| {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, describe(resolve, &p.ty)))
            .collect();
        let result = f
            .result
            .as_ref()
            .map_or("()".into(), |t| describe(resolve, t));
        format!("func({}) -> {result}", params.join(", "))
    };
    for (iname, id) in &pkg.interfaces {
        let iface = &resolve.interfaces[*id];
        for (tname, tid) in &iface.types {
            let kind = match &resolve.types[*tid].kind {
                TypeDefKind::Record(r) => r
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, describe(resolve, &f.ty)))
                    .collect::<Vec<_>>()
                    .join(", "),
                TypeDefKind::Variant(v) => v
                    .cases
                    .iter()
                    .map(|c| {
                        format!(
                            "{}({})",
                            c.name,
                            c.ty.as_ref()
                                .map_or(String::new(), |t| describe(resolve, t))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                TypeDefKind::Enum(e) => e
                    .cases
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                TypeDefKind::Type(t) => describe(resolve, t),
                other => format!("{other:?}"),
            };
            out.insert(format!("{iname}.{tname}"), kind);
        }
        for (fname, f) in &iface.functions {
            out.insert(format!("{iname}.{fname}"), function(f));
        }
    }
    for (wname, id) in &pkg.worlds {
        let world = &resolve.worlds[*id];
        for (direction, items) in [("import", &world.imports), ("export", &world.exports)] {
            for (key, item) in items {
                let name = match key {
                    WorldKey::Name(n) => n.clone(),
                    WorldKey::Interface(id) => resolve
                        .id_of(*id)
                        .unwrap_or_default()
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                };
                let shape = match item {
                    WorldItem::Function(f) => function(f),
                    WorldItem::Interface { .. } => "interface".into(),
                    WorldItem::Type { id, .. } => describe(resolve, &Type::Id(*id)),
                };
                out.insert(format!("{wname} {direction} {name}"), shape);
            }
        }
    }
    out
}

#[test]
fn the_frozen_0_2_0_contract_only_added_host_functions_to_0_1_0() {
    let (old, old_package) = load_from(&wit_dir().join("frozen/0.1.0"));
    let (new, new_package) = load_from(&wit_dir().join("frozen/0.2.0"));
    let (old, new) = (shapes(&old, old_package), shapes(&new, new_package));
    for (item, shape) in &old {
        assert_eq!(
            new.get(item),
            Some(shape),
            "{item} changed between 0.1.0 and 0.2.0"
        );
    }
    let added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    // Functions of the `host` interface only: 0.1.0 and 0.2.0 share one set of Rust types.
    assert_eq!(added, ["host.base-url", "host.egress-refusal"], "{added:?}");
}

#[test]
fn the_current_contract_only_adds_to_the_frozen_0_2_0() {
    let (old, old_package) = load_from(&wit_dir().join("frozen/0.2.0"));
    let (new, new_package) = load();
    let (old, new) = (shapes(&old, old_package), shapes(&new, new_package));
    let changed: Vec<&String> = old
        .iter()
        .filter(|(item, shape)| new.get(*item) != Some(*shape))
        .map(|(item, _)| item)
        .collect();
    // `record-data` gained a case, at the end (cases are numbered by position), and `page`
    // holds record-data: nothing else of 0.2.0 changed.
    assert_eq!(changed, ["types.record-data"], "{changed:?}");
    assert_eq!(
        new["types.record-data"],
        format!("{}, deleted(deleted-record)", old["types.record-data"])
    );
    let added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    assert_eq!(
        added,
        ["host.service-url", "types.deleted-record"],
        "{added:?}"
    );
    assert_eq!(
        new["types.deleted-record"],
        "external-id: String, kind: record-kind"
    );
}
