//! The actions (`invoke`): create an issue, update its fields, comment on it, transition it.
//! Their input and output schemas are in `plugin.toml`; text comes in as Markdown and goes to
//! JIRA as ADF (Cloud) or wiki markup (Data Center).

use agentic_sdk::serde_json::{json, Map, Value};
use agentic_sdk::Error;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::api::Jira;
use crate::config::Config;
use crate::{adf, wiki};

/// Performs `action`.
pub fn invoke(config: &Config, action: &str, input: Value) -> Result<Value, Error> {
    match action {
        "create-issue" => create_issue(config, parse(action, input)?),
        "update-issue" => update_issue(config, parse(action, input)?),
        "add-comment" => add_comment(config, parse(action, input)?),
        "transition-issue" => transition_issue(config, parse(action, input)?),
        other => Err(Error::NotFound(format!(
            "no action `{other}` (actions: create-issue, update-issue, add-comment, transition-issue)"
        ))),
    }
}

fn parse<T: DeserializeOwned>(action: &str, input: Value) -> Result<T, Error> {
    serde_json::from_value(input)
        .map_err(|e| Error::InvalidInput(format!("input of `{action}`: {e}")))
}

/// Markdown as JIRA's rich text for this deployment.
fn rich_text(config: &Config, markdown: &str) -> Value {
    if config.is_cloud() {
        adf::from_markdown(markdown)
    } else {
        Value::String(wiki::from_markdown(markdown))
    }
}

/// `{"id": …}` for a numeric reference, `{name_field: …}` otherwise.
fn reference(value: &str, name_field: &str) -> Value {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        json!({"id": value})
    } else {
        json!({name_field: value})
    }
}

/// A user for an assignee field: Cloud by account id, Data Center by user name.
fn user(config: &Config, id: &str) -> Value {
    if config.is_cloud() {
        json!({"accountId": id})
    } else {
        json!({"name": id})
    }
}

fn require(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::InvalidInput(format!("{field}: must not be empty")))
    } else {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIssue {
    project: String,
    issue_type: String,
    summary: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    fields: Map<String, Value>,
}

fn create_issue(config: &Config, input: CreateIssue) -> Result<Value, Error> {
    require("project", &input.project)?;
    require("issue_type", &input.issue_type)?;
    require("summary", &input.summary)?;
    let mut fields = Map::new();
    fields.insert("project".into(), reference(&input.project, "key"));
    fields.insert("issuetype".into(), reference(&input.issue_type, "name"));
    fields.insert("summary".into(), json!(input.summary));
    if let Some(description) = input.description.filter(|d| !d.trim().is_empty()) {
        fields.insert("description".into(), rich_text(config, &description));
    }
    if !input.labels.is_empty() {
        fields.insert("labels".into(), json!(input.labels));
    }
    if let Some(priority) = input.priority {
        fields.insert("priority".into(), reference(&priority, "name"));
    }
    if let Some(assignee) = input.assignee {
        fields.insert("assignee".into(), user(config, &assignee));
    }
    if let Some(parent) = input.parent {
        fields.insert("parent".into(), reference(&parent, "key"));
    }
    if !input.components.is_empty() {
        let components: Vec<Value> = input
            .components
            .iter()
            .map(|c| reference(c, "name"))
            .collect();
        fields.insert("components".into(), Value::Array(components));
    }
    fields.extend(input.fields);
    let created = Jira::new(config).create_issue(&json!({"fields": fields}))?;
    let key = created["key"].as_str().unwrap_or_default().to_owned();
    Ok(json!({
        "id": created["id"].as_str().unwrap_or_default(),
        "key": key,
        "url": config.browse_url(&key),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateIssue {
    issue: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    priority: Option<String>,
    /// A user id, or `null` to unassign; absent leaves the assignee.
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<String>>,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// Tells a field given as `null` from one left out.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn update_issue(config: &Config, input: UpdateIssue) -> Result<Value, Error> {
    require("issue", &input.issue)?;
    let mut fields = Map::new();
    if let Some(summary) = input.summary {
        require("summary", &summary)?;
        fields.insert("summary".into(), json!(summary));
    }
    if let Some(description) = input.description {
        let value = if description.trim().is_empty() {
            Value::Null
        } else {
            rich_text(config, &description)
        };
        fields.insert("description".into(), value);
    }
    if let Some(labels) = input.labels {
        fields.insert("labels".into(), json!(labels));
    }
    if let Some(priority) = input.priority {
        fields.insert("priority".into(), reference(&priority, "name"));
    }
    if let Some(assignee) = input.assignee {
        let value = assignee.map_or(Value::Null, |a| user(config, &a));
        fields.insert("assignee".into(), value);
    }
    fields.extend(input.fields);
    if fields.is_empty() {
        return Err(Error::InvalidInput(
            "nothing to update: give at least one of summary, description, labels, priority, \
             assignee, fields"
                .into(),
        ));
    }
    let updated: Vec<String> = fields.keys().cloned().collect();
    Jira::new(config).edit_issue(&input.issue, &json!({"fields": fields}))?;
    Ok(json!({"issue": input.issue, "updated": updated}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddComment {
    issue: String,
    body: String,
}

fn add_comment(config: &Config, input: AddComment) -> Result<Value, Error> {
    require("issue", &input.issue)?;
    require("body", &input.body)?;
    let comment = Jira::new(config).add_comment(
        &input.issue,
        &json!({"body": rich_text(config, &input.body)}),
    )?;
    let id = match &comment["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    Ok(json!({
        "id": id,
        "issue": input.issue,
        "url": format!("{}?focusedCommentId={id}", config.browse_url(&input.issue)),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionIssue {
    issue: String,
    transition: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    fields: Map<String, Value>,
}

fn transition_issue(config: &Config, input: TransitionIssue) -> Result<Value, Error> {
    require("issue", &input.issue)?;
    require("transition", &input.transition)?;
    let jira = Jira::new(config);
    let transitions = jira.transitions(&input.issue)?;
    let wanted = input.transition.trim();
    let matches = |t: &&Value, field: &str| {
        t.pointer(field)
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
    };
    // By id, else by name, else by the status it leads to.
    let chosen = transitions
        .iter()
        .find(|t| matches(t, "/id"))
        .or_else(|| transitions.iter().find(|t| matches(t, "/name")))
        .or_else(|| transitions.iter().find(|t| matches(t, "/to/name")))
        .ok_or_else(|| {
            let open: Vec<String> = transitions
                .iter()
                .map(|t| {
                    format!(
                        "{} (→ {})",
                        t["name"].as_str().unwrap_or("?"),
                        t["to"]["name"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            Error::InvalidInput(format!(
                "issue {} has no transition {wanted:?} now; open transitions: {}",
                input.issue,
                if open.is_empty() {
                    "none".to_owned()
                } else {
                    open.join(", ")
                }
            ))
        })?;
    let id = chosen["id"].as_str().unwrap_or_default().to_owned();
    let mut body = json!({"transition": {"id": id}});
    if !input.fields.is_empty() {
        body["fields"] = Value::Object(input.fields);
    }
    if let Some(comment) = input.comment.filter(|c| !c.trim().is_empty()) {
        body["update"] = json!({"comment": [{"add": {"body": rich_text(config, &comment)}}]});
    }
    jira.transition(&input.issue, &body)?;
    Ok(json!({
        "issue": input.issue,
        "transition": {"id": id, "name": chosen["name"].as_str().unwrap_or_default()},
        "status": chosen["to"]["name"].as_str().unwrap_or_default(),
    }))
}
