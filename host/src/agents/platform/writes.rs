//! What an agent writes into its project: documents (`write-document`) and comments on records
//! (`comment-on-record`, contract 0.2.0). Both need `documents:manage` in the grant — an agent's
//! comment is the host's own annotation of a record, like a document, and changes nothing in
//! the connected service (posting to the service is `invoke-action`, `connections:act`).
//!
//! - A document is created in the name of the person who deployed the agent (documents have a
//!   person as author), with `{"agent_id": …}` in its metadata, and `"records": […]` when the
//!   agent linked it to records of the project (0.2.0): that is where the REST API shows the
//!   link (`GET …/documents`, `metadata.records`).
//! - A comment is a record of the `comment` model on the commented work item's or
//!   requirement's connection, in the [`AGENT_COMMENTS`](crate::store::records::AGENT_COMMENTS) stream no connector reads (so no sync
//!   replaces or deletes it), with the fields of the model (`parent_external_id`, `author`
//!   `agent:<id>`, `body`, times) and the host's `parent_id` and `agent_id`; `GET
//!   …/comments` and `query-records` list it.
//!
//! Records named by an agent must be of its project: another project's is `not-found`, exactly
//! as `query-records` answers for another project's connection.

use std::sync::Arc;

use serde_json::json;

use super::{unavailable, Inner, MAX_DOCUMENT_BYTES};
use crate::plugins::agent::PlatformError;
use crate::rbac::Permission;
use crate::store::documents::{DocumentFields, NewVersion};
use crate::store::records::{NewAgentComment, StoredRecord};
use crate::store::StoreError;

/// Most records one document may be linked to.
pub const MAX_LINKS: usize = 32;
/// Largest comment an agent may write (bytes).
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

/// Record `id` of the agent's project.
async fn record(inner: &Inner, id: i64) -> Result<StoredRecord, PlatformError> {
    match inner.store.project_record(inner.grant.project_id, id).await {
        Ok(r) if !r.deleted => Ok(r),
        Ok(_) => Err(PlatformError::NotFound(format!(
            "record {id} was deleted at its source"
        ))),
        Err(StoreError::NotFound) => Err(PlatformError::NotFound(format!(
            "the agent's project has no record {id}"
        ))),
        Err(e) => Err(unavailable(e)),
    }
}

/// `write-document`.
pub(super) async fn document(
    inner: Arc<Inner>,
    title: String,
    markdown: String,
    tags: Vec<String>,
    records: Vec<i64>,
) -> Result<i64, PlatformError> {
    inner.require(Permission::DocumentsManage)?;
    let title = title.trim();
    let bad = |m: &str| Err(PlatformError::InvalidInput(m.to_owned()));
    if title.is_empty() || title.chars().count() > 200 || title.contains(['\n', '\r']) {
        return bad("the title is 1–200 characters on one line");
    }
    if markdown.is_empty() || markdown.len() > MAX_DOCUMENT_BYTES {
        return bad("the text is 1 byte to 1 MiB");
    }
    if tags.len() > 32
        || tags
            .iter()
            .any(|t| t.trim().is_empty() || t.chars().count() > 64)
    {
        return bad("at most 32 tags of 1–64 characters");
    }
    if records.len() > MAX_LINKS {
        return bad("at most 32 linked records");
    }
    let mut linked: Vec<i64> = Vec::with_capacity(records.len());
    for id in records {
        if !linked.contains(&id) {
            record(&inner, id).await?;
            linked.push(id);
        }
    }
    let Some(by) = inner.grant.deployed_by else {
        return Err(PlatformError::Denied(
            "the agent has no deploying person to write as".into(),
        ));
    };
    let now = inner.clock.now_ms();
    let bytes = markdown.into_bytes();
    let sha256: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let excerpt = &bytes[..bytes.len().min(crate::documents::TEXT_EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(excerpt)
        .to_lowercase()
        .replace('\0', "");
    let writer = inner.blobs.writer();
    let mut source: &[u8] = &bytes;
    let key = writer.put(&mut source, now).await.map_err(unavailable)?;
    let mut metadata = json!({"agent_id": inner.grant.agent_id});
    if !linked.is_empty() {
        metadata["records"] = json!(linked);
    }
    let metadata = metadata.to_string();
    let fields = DocumentFields {
        title,
        tags: &tags,
        metadata: &metadata,
    };
    let version = NewVersion {
        filename: "agent.md",
        content_type: "text/markdown",
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: &sha256,
        blob_store: writer.name(),
        blob_key: &key,
        content_text: Some(&text),
    };
    let created = inner
        .store
        .create_document(inner.grant.project_id, &fields, &version, by, now)
        .await;
    match created {
        Ok(document) => Ok(document.id),
        Err(e) => {
            if let Err(gone) = writer.delete(&key).await {
                tracing::warn!(key, "could not delete an agent document's bytes: {gone}");
            }
            Err(unavailable(e))
        }
    }
}

/// `comment-on-record`.
pub(super) async fn comment(
    inner: Arc<Inner>,
    record_id: i64,
    markdown: String,
) -> Result<i64, PlatformError> {
    inner.require(Permission::DocumentsManage)?;
    if markdown.trim().is_empty() || markdown.len() > MAX_COMMENT_BYTES {
        return Err(PlatformError::InvalidInput(
            "the comment is 1 byte to 64 KiB (not only white space)".into(),
        ));
    }
    let parent = record(&inner, record_id).await?;
    if parent.kind != "work_item" && parent.kind != "requirement" {
        return Err(PlatformError::InvalidInput(format!(
            "record {record_id} is a {}: agents comment on work items and requirements",
            parent.kind
        )));
    }
    let now = inner.clock.now_ms();
    let agent_id = inner.grant.agent_id;
    let external_id = format!("agent-{agent_id}-{}", uuid::Uuid::new_v4());
    let title: String = markdown
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    let data = json!({
        "external_id": external_id,
        "parent_external_id": parent.external_id,
        "parent_id": parent.id,
        "author": format!("agent:{agent_id}"),
        "agent_id": agent_id,
        "body": markdown,
        "created_at": now,
        "updated_at": now,
    })
    .to_string();
    let comment = NewAgentComment {
        connection_id: parent.connection_id,
        external_id: &external_id,
        title: &title,
        data: &data,
    };
    inner
        .store
        .add_agent_comment(inner.grant.project_id, &comment, now)
        .await
        .map_err(unavailable)
}
