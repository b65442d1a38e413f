//! The WIT contract in `wit/` parses with the same WIT parser wasmtime 48 uses, has the shape the
//! host calls, and documents every function, type, field and case (integrators read the WIT).

use std::path::Path;

use wit_parser::{Docs, Resolve, TypeDefKind, TypeOwner, WorldItem, WorldKey};

fn load() -> (Resolve, wit_parser::PackageId) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(&dir).expect("wit/ parses and resolves");
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
    assert_eq!(pkg.name.to_string(), "agentic:connector@0.1.0");
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
        imports.contains(&"agentic:connector/host@0.1.0".to_owned()),
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

#[test]
fn every_item_of_the_contract_is_documented() {
    let (resolve, package) = load();
    let pkg = &resolve.packages[package];
    let mut missing = Vec::new();
    assert!(documented(&pkg.docs), "package docs");
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
    assert!(missing.is_empty(), "undocumented WIT items: {missing:?}");
}
