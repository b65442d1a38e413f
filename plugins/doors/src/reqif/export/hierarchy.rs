//! Specifications and their `SPEC-HIERARCHY` trees: from the positions the import recorded
//! (`attributes.reqif.positions`), else one specification per `module` with `parent` as the
//! hierarchy. Each position is written once, so a cycle of parents ends; a parent outside the
//! specification puts the node at the top.

use std::collections::{BTreeMap, HashMap, HashSet};

use agentic_sdk::Requirement;
use quick_xml::escape::escape;

use super::{xml_id, Counts};
use crate::reqif::mapping::META;

/// A hierarchy position of an object.
struct Position {
    object: String,
    parent: Option<String>,
    order: u64,
    hierarchy: Option<String>,
    table_internal: bool,
}

/// Specifications with their hierarchies.
pub(super) fn write_specifications(
    out: &mut String,
    requirements: &[Requirement],
    known: &HashSet<&str>,
    now_text: &str,
    counts: &mut Counts,
) {
    // specification id → (name, positions), in first-seen order.
    let mut specs: Vec<(String, Option<String>, Vec<Position>)> = Vec::new();
    let mut spec_index: HashMap<String, usize> = HashMap::new();
    for req in requirements {
        let positions = req
            .attributes
            .get(META)
            .and_then(|m| m["positions"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut found: Vec<(String, Option<String>, Position)> = positions
            .iter()
            .filter_map(|p| {
                let spec = p["specification"].as_str()?.to_owned();
                Some((
                    spec,
                    p["specification_name"].as_str().map(str::to_owned),
                    Position {
                        object: req.external_id.clone(),
                        parent: p["parent"].as_str().map(str::to_owned),
                        order: p["order"].as_u64().unwrap_or(u64::MAX),
                        hierarchy: p["hierarchy"].as_str().map(str::to_owned),
                        table_internal: p["table_internal"].as_bool().unwrap_or(false),
                    },
                ))
            })
            .collect();
        if found.is_empty() {
            if let Some(module) = &req.module {
                found.push((
                    format!("module:{module}"),
                    Some(module.clone()),
                    Position {
                        object: req.external_id.clone(),
                        parent: req.parent.clone(),
                        order: u64::MAX,
                        hierarchy: None,
                        table_internal: false,
                    },
                ));
            }
        }
        for (spec, name, position) in found {
            let i = *spec_index.entry(spec.clone()).or_insert_with(|| {
                specs.push((spec, name, Vec::new()));
                specs.len() - 1
            });
            specs[i].2.push(position);
        }
    }
    for (spec, name, positions) in &specs {
        counts.specifications += 1;
        out.push_str(&format!(
            "<SPECIFICATION IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\"",
            escape(xml_id(spec).as_str())
        ));
        if let Some(name) = name {
            out.push_str(&format!(" LONG-NAME=\"{}\"", escape(name.as_str())));
        }
        out.push_str("><TYPE><SPECIFICATION-TYPE-REF>_spt</SPECIFICATION-TYPE-REF></TYPE>");
        // Children by parent; a parent outside this specification puts the node at the top.
        let in_spec: HashSet<&str> = positions.iter().map(|p| p.object.as_str()).collect();
        let mut children: BTreeMap<Option<&str>, Vec<(usize, &Position)>> = BTreeMap::new();
        for (i, p) in positions.iter().enumerate() {
            let parent = p
                .parent
                .as_deref()
                .filter(|parent| in_spec.contains(parent) && *parent != p.object);
            children.entry(parent).or_default().push((i, p));
        }
        for list in children.values_mut() {
            list.sort_by_key(|(i, p)| (p.order, *i));
        }
        let mut written: HashSet<usize> = HashSet::new();
        let mut body = String::new();
        write_children(
            &mut body,
            None,
            &children,
            known,
            &mut written,
            now_text,
            spec,
            counts,
        );
        if !body.is_empty() {
            out.push_str("<CHILDREN>");
            out.push_str(&body);
            out.push_str("</CHILDREN>");
        }
        out.push_str("</SPECIFICATION>\n");
    }
}

#[allow(clippy::too_many_arguments)]
fn write_children(
    out: &mut String,
    parent: Option<&str>,
    children: &BTreeMap<Option<&str>, Vec<(usize, &Position)>>,
    known: &HashSet<&str>,
    written: &mut HashSet<usize>,
    now_text: &str,
    spec: &str,
    counts: &mut Counts,
) {
    let Some(list) = children.get(&parent) else {
        return;
    };
    for (i, p) in list {
        // Each position once: a cycle of parents ends here.
        if !known.contains(p.object.as_str()) || !written.insert(*i) {
            continue;
        }
        counts.hierarchy_nodes += 1;
        let id = p
            .hierarchy
            .clone()
            .unwrap_or_else(|| format!("h:{spec}:{}", p.object));
        out.push_str(&format!(
            "<SPEC-HIERARCHY IDENTIFIER=\"{}\" LAST-CHANGE=\"{now_text}\"{}><OBJECT><SPEC-OBJECT-REF>{}</SPEC-OBJECT-REF></OBJECT>",
            escape(xml_id(&id).as_str()),
            if p.table_internal { " IS-TABLE-INTERNAL=\"true\"" } else { "" },
            escape(xml_id(&p.object).as_str()),
        ));
        let mut inner = String::new();
        write_children(
            &mut inner,
            Some(p.object.as_str()),
            children,
            known,
            written,
            now_text,
            spec,
            counts,
        );
        if !inner.is_empty() {
            out.push_str("<CHILDREN>");
            out.push_str(&inner);
            out.push_str("</CHILDREN>");
        }
        out.push_str("</SPEC-HIERARCHY>");
    }
}
