//! `invoke`: the `export-reqif` action, which writes requirements and trace links (in the
//! records' JSON projection, as the host's records API lists them) as a ReqIF 1.2 document.
//! It calls no service: the document comes back in the output, for the caller to hand to
//! DOORS Classic or any other requirements tool.

use agentic_sdk::serde_json::{json, Value};
use agentic_sdk::{Error, Requirement, TraceLink};
use serde::Deserialize;

use crate::reqif::export::export;

/// The action's name.
pub const EXPORT_REQIF: &str = "export-reqif";
/// Most requirements one export takes.
pub const MAX_REQUIREMENTS: usize = 100_000;
/// Most links one export takes.
pub const MAX_LINKS: usize = 200_000;

/// `export-reqif`'s input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportInput {
    #[serde(default)]
    title: Option<String>,
    requirements: Vec<Requirement>,
    #[serde(default)]
    links: Vec<TraceLink>,
}

/// Runs `action`.
pub fn invoke(action: &str, input: Value) -> Result<Value, Error> {
    if action != EXPORT_REQIF {
        return Err(Error::NotFound(format!("no action `{action}`")));
    }
    let input: ExportInput = agentic_sdk::serde_json::from_value(input)
        .map_err(|e| Error::InvalidInput(format!("input of `{EXPORT_REQIF}`: {e}")))?;
    if input.requirements.len() > MAX_REQUIREMENTS {
        return Err(Error::InvalidInput(format!(
            "requirements: {} is more than the {MAX_REQUIREMENTS} one export takes",
            input.requirements.len()
        )));
    }
    if input.links.len() > MAX_LINKS {
        return Err(Error::InvalidInput(format!(
            "links: {} is more than the {MAX_LINKS} one export takes",
            input.links.len()
        )));
    }
    if let Some(r) = input.requirements.iter().find(|r| r.external_id.is_empty()) {
        return Err(Error::InvalidInput(format!(
            "requirements: a requirement titled {:?} has no external_id",
            r.title
        )));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let title = input.title.as_deref().unwrap_or("Requirements");
    let (reqif, counts) = export(title, &input.requirements, &input.links, now);
    Ok(json!({
        "reqif": reqif,
        "spec_objects": counts.spec_objects,
        "spec_relations": counts.spec_relations,
        "specifications": counts.specifications,
        "hierarchy_nodes": counts.hierarchy_nodes,
    }))
}
