//! Agents: a project's workers. Component agents (`web-monitor`, `sync-assistant`,
//! `triage-assistant`) are WebAssembly components of the `agentic:agent` world that the host
//! runs on the connector sandbox, one run at a time on the job queue; `external` agents are
//! processes elsewhere that report heartbeats with a token of their own.
//!
//! # Kinds
//! An agent has a *kind*: one built into the host ([`KINDS`]) or the id of an installed agent
//! package ([`installed`]; [`AgentKind`] is either). Each kind has a JSON Schema its `config`
//! must satisfy ([`validate_config`]), for some bindings checked against the project
//! ([`check_bindings`]: a `sync-assistant` or `triage-assistant` names connections of the
//! project, a package kind must be enabled in it), and for component kinds the component that
//! runs it ([`components`]) and the permissions its platform calls may need
//! ([`AgentKind::needs`]). `GET /agent-kinds` lists a component kind only when its component
//! loads on this host.
//!
//! # Lifecycle
//! ```text
//! draft ──deploy──▶ deploying ──job ok──▶ running ──stop──▶ stopping ──job──▶ stopped
//!   ▲                   │ job fails                  ▲ stop (also from deploying)    │
//!   │                   ▼                                                            │
//!   └──── (config may change) ◀── failed ◀──────── deploy again from stopped/failed ─┘
//! ```
//! See [`lifecycle`]: deploy and stop are jobs; a deploy fixes the agent's grant and, for a
//! component kind, enqueues its first run; a stop ends the run chain and cancels the run under
//! way. Runs are [`run`]'s `agent.run` jobs.
//!
//! # Health
//! For component kinds, health is what the host measured of the runs ([`run`]): `healthy`
//! after a successful run, `unhealthy` after `unhealthy_after` failed runs in a row (the
//! kind's config), `unknown` before the first run or when not running; changes raise alerts
//! ([`alerts`]). For `external` agents it is computed on read ([`health`]) from the last
//! heartbeat of the current run against `agents.heartbeat_timeout_secs`.
//!
//! # Runtime tokens
//! An `external` agent authenticates with an agent token `aat_<prefix>_<secret>` (256 bits;
//! stored only as SHA-256, looked up by prefix, compared in constant time), issued and rotated
//! by a manager; it is accepted by the `/api/v1/agent-runtime/…` endpoints and nowhere else,
//! and user tokens are not accepted there.

/// Alerts when an agent turns unhealthy or recovers: event stream, audit log, metrics, webhook.
pub mod alerts;
/// Where the host finds the components of the built-in kinds and of installed packages.
pub mod components;
/// The `agents` section of the configuration.
pub mod config;
/// Agent kinds from installed agent packages.
pub mod installed;
/// Deploy and stop jobs.
pub mod lifecycle;
/// The `platform` interface as the host serves it: grant checks and audit.
pub mod platform;
/// `agent.run` jobs: one run of a component agent, recorded, and the next one scheduled.
pub mod run;
/// The properties the host reads from every component kind's config.
pub mod schema;
/// Event triggers: runs brought forward by the syncs of the connection an agent names.
pub mod triggers;

pub use installed::AgentKind;
pub use lifecycle::{stale_job, DeployHandler, StopHandler};

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::rbac::Permission;
use crate::store::agents::Agent;
use crate::store::{Store, StoreError};

/// Job kind of deploys.
pub const DEPLOY: &str = "agent.deploy";
/// Job kind of stops.
pub const STOP: &str = "agent.stop";

/// The payload of deploy and stop jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentJob {
    /// The agent.
    pub agent_id: i64,
    /// Deploys: the permissions the agent's platform calls may use — those of [`AgentKind::needs`]
    /// the deploying person holds (role and, for API keys, scopes), fixed when they asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Vec<String>>,
}

/// A kind of agent.
#[derive(Debug)]
pub struct Kind {
    /// Its name in the API.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// JSON Schema of its config (JSON text): what is the kind's own; for a component kind
    /// [`schema::effective`] adds the properties the host reads from every one.
    schema: &'static str,
    /// Whether its `connection_id`'s syncs may trigger runs (`run_on`, [`triggers`]).
    events: bool,
    /// The component that runs it (`<name>.wasm` in the component directory); `None` for the
    /// `external` kind, which runs elsewhere and reports heartbeats.
    pub component: Option<&'static str>,
    /// The permissions its platform calls may use, if the deploying person holds them.
    pub needs: &'static [Permission],
}

/// The kinds this host knows.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "web-monitor",
        description: "Runs on this host: fetches a URL on its interval through the egress rules \
                      and records status, latency and the keyword check; a run fails when the \
                      page is unreachable, answers another status than expected (default: \
                      any 2xx) or lacks the keyword, and `unhealthy_after` failures in a row \
                      make the agent unhealthy.",
        schema: r#"{
            "type": "object", "additionalProperties": false, "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000,
                        "description": "The page to watch (http or https)."},
                "interval_secs": {"type": "integer", "minimum": 30, "maximum": 86400, "default": 300,
                                  "description": "Seconds between checks."},
                "cron": {"type": "string", "minLength": 9, "maxLength": 128,
                         "description": "Check at these times (UTC) instead of every interval_secs: five fields, minute first (`*/10 * * * *`), or six, seconds first; firings at least 30 s apart."},
                "timeout_secs": {"type": "integer", "minimum": 1, "maximum": 120, "default": 10,
                                 "description": "Seconds one check may take."},
                "expect_status": {"type": "integer", "minimum": 100, "maximum": 599,
                                  "description": "The status a healthy page answers with."},
                "keyword": {"type": "string", "minLength": 1, "maxLength": 200,
                            "description": "Text a healthy page contains."},
                "allow_private_network": {"type": "boolean", "default": false,
                                          "description": "Let the URL and the webhook be private or loopback addresses (Administrators only)."}
            }
        }"#,
        events: false,
        component: Some("agent_web_monitor"),
        needs: &[],
    },
    Kind {
        name: "sync-assistant",
        description: "Runs on this host: keeps one of the project's connections synced, \
                      starting an incremental sync of its streams on its interval, retrying \
                      failed streams with backoff and reporting records and lag per run; \
                      `unhealthy_after` failed runs in a row make the agent unhealthy.",
        schema: r#"{
            "type": "object", "additionalProperties": false, "required": ["connection_id"],
            "properties": {
                "connection_id": {"type": "integer", "minimum": 1,
                                  "description": "A connection of the agent's project."},
                "streams": {"type": "array", "maxItems": 50, "uniqueItems": true,
                            "items": {"type": "string", "minLength": 1, "maxLength": 100},
                            "description": "Streams to keep synced; absent: every stream."},
                "interval_secs": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 900,
                                  "description": "Seconds between sync rounds."},
                "cron": {"type": "string", "minLength": 9, "maxLength": 128,
                         "description": "Sync at these times (UTC) instead of every interval_secs: five fields, minute first (`0 2 * * *`), or six, seconds first; firings at least 60 s apart."},
                "notify_on_failure": {"type": "boolean", "default": true,
                                      "description": "Report failed syncs as agent events."}
            }
        }"#,
        // Its own syncs would trigger it again.
        events: false,
        component: Some("agent_sync_assistant"),
        needs: &[
            Permission::ConnectionsSync,
            Permission::JobsRead,
            Permission::RecordsRead,
        ],
    },
    Kind {
        name: "triage-assistant",
        description: "Runs on this host: asks an OpenAI-compatible chat-completions API (the \
                      base URL and key of `model_connection_id`, a connection of the project; \
                      the host injects the key, the agent never sees it) to summarise and \
                      classify the new or changed work items of `connection_id`, at most \
                      `max_items_per_run` a run, each cut to `max_input_chars`; an answer valid \
                      against the triage JSON Schema is stored as a Markdown document tagged \
                      `work-item:<record id>` (and, with `post_comment`, posted back through the \
                      connection's `comment_action`; with `annotate`, also written as a comment on \
                      the work item in the host); tokens and cost are in its metrics. With \
                      `run_on`, it also runs soon after a sync of `connection_id` finishes or \
                      changes records.",
        schema: r#"{
            "type": "object", "additionalProperties": false,
            "required": ["connection_id", "model_connection_id", "model"],
            "properties": {
                "connection_id": {"type": "integer", "minimum": 1,
                                  "description": "The connection of the project whose work items are triaged."},
                "model_connection_id": {"type": "integer", "minimum": 1,
                                        "description": "A connection of the project whose base URL is the OpenAI-compatible API (e.g. https://api.openai.com/v1/) and whose credential is its key."},
                "model": {"type": "string", "minLength": 1, "maxLength": 200,
                          "description": "The model name sent as `model`."},
                "interval_secs": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 900,
                                  "description": "Seconds between runs."},
                "cron": {"type": "string", "minLength": 9, "maxLength": 128,
                         "description": "Triage at these times (UTC) instead of every interval_secs: five fields, minute first, or six, seconds first; firings at least 60 s apart."},
                "max_items_per_run": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20,
                                      "description": "Items triaged (or failed) per run at most; the rest wait for the next run."},
                "max_input_chars": {"type": "integer", "minimum": 100, "maximum": 100000, "default": 4000,
                                    "description": "Characters of an item's text sent to the model at most; longer text is cut."},
                "run_budget_secs": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 20,
                                    "description": "No new item is started once the run has taken this long; keep it below the host's plugins.call_timeout_secs."},
                "max_output_tokens": {"type": "integer", "minimum": 16, "maximum": 16384, "default": 600,
                                      "description": "`max_completion_tokens` of each request."},
                "price_per_1k_tokens": {"type": "number", "minimum": 0, "maximum": 1000, "default": 0,
                                        "description": "Price of 1000 tokens (prompt and completion), for the `cost` metric."},
                "post_comment": {"type": "boolean", "default": false,
                                 "description": "Also post each triage back as a comment through the connection's action (needs connections:act)."},
                "annotate": {"type": "boolean", "default": false,
                             "description": "Also store each triage as a comment on its work item in the host (listed with the project's comments; needs documents:manage)."},
                "comment_action": {"type": "string", "minLength": 1, "maxLength": 100, "default": "add-comment",
                                   "description": "The connector action that posts a comment; it gets `{\"issue\": <key>, \"body\": <Markdown>}`."}
            }
        }"#,
        events: true,
        component: Some("agent_triage_assistant"),
        needs: &[
            Permission::RecordsRead,
            Permission::DocumentsManage,
            Permission::ConnectionsAct,
        ],
    },
    Kind {
        name: "external",
        description: "EXTERNAL: not run by this host. A process elsewhere reports heartbeats \
                      (and metrics) with the agent's runtime token; health is whether they \
                      arrive within `agents.heartbeat_timeout_secs`.",
        schema: r#"{
            "type": "object", "additionalProperties": false,
            "properties": {
                "description": {"type": "string", "maxLength": 2000,
                                "description": "What the external process does."},
                "settings": {"type": "object", "maxProperties": 50,
                             "description": "Free-form settings handed to the process with each heartbeat reply."}
            }
        }"#,
        events: false,
        component: None,
        needs: &[],
    },
];

/// The largest config accepted, serialized (bytes).
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// A built-in kind by name (installed ones: [`components::Components::kind`]).
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

impl Kind {
    /// The kind's config schema, with the host's properties for a component kind.
    pub fn schema(&self) -> serde_json::Value {
        let own = serde_json::from_str(self.schema).unwrap_or_default();
        if self.component.is_some() {
            schema::effective(&own, self.events)
        } else {
            own
        }
    }

    fn validator(&self) -> Option<&'static jsonschema::Validator> {
        static VALIDATORS: OnceLock<Vec<Option<jsonschema::Validator>>> = OnceLock::new();
        let all = VALIDATORS.get_or_init(|| {
            KINDS
                .iter()
                .map(|k| jsonschema::validator_for(&k.schema()).ok())
                .collect()
        });
        let index = KINDS.iter().position(|k| k.name == self.name)?;
        all.get(index).and_then(Option::as_ref)
    }
}

/// Every way `config` breaks `kind`'s schema (at most 20), as `(field, message)` with fields
/// named `config.<path>`: a missing or unexpected property is named itself.
pub fn validate_config(kind: &AgentKind, config: &serde_json::Value) -> Vec<(String, String)> {
    if config.to_string().len() > MAX_CONFIG_BYTES {
        return vec![(
            "config".into(),
            format!("must be at most {MAX_CONFIG_BYTES} bytes as JSON"),
        )];
    }
    let Some(validator) = kind.validator() else {
        // A schema in our own code that does not compile is a bug; refuse rather than accept.
        tracing::error!(kind = kind.name(), "agent kind schema does not compile");
        return vec![("kind".into(), "this kind cannot be configured".into())];
    };
    let mut errors: Vec<(String, String)> = validator
        .iter_errors(config)
        .take(20)
        .map(|e| {
            let base = format!("config{}", e.instance_path.to_string().replace('/', "."));
            let field = match &e.kind {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    format!("{base}.{}", property.as_str().unwrap_or_default())
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    format!("{base}.{}", unexpected.join(","))
                }
                _ => base,
            };
            (field, e.to_string())
        })
        .collect();
    if errors.is_empty() {
        if let Err(why) = run::schedule_of(kind, config) {
            errors.push(why);
        }
    }
    errors
}

/// Checks what `config` refers to in the project: `Ok(Err((field, message)))` names the broken
/// reference. A `sync-assistant`'s, a `triage-assistant`'s and an installed package kind's
/// `connection_id`, and a `triage-assistant`'s `model_connection_id`, must be connections of
/// the project whose plugin is enabled in it; an installed package kind must itself be enabled
/// in the project.
pub async fn check_bindings(
    store: &Store,
    project_id: i64,
    kind: &AgentKind,
    config: &serde_json::Value,
) -> Result<Result<(), (String, String)>, StoreError> {
    if let AgentKind::Installed(k) = kind {
        if !store.plugin_enabled(project_id, k.id()).await? {
            return Ok(Err((
                "kind".into(),
                format!(
                    "agent package {} is not enabled in this project (PUT                      /projects/{project_id}/plugins/{})",
                    k.id(),
                    k.id()
                ),
            )));
        }
    }
    let fields: &[&str] = match kind {
        AgentKind::Installed(_) => &["connection_id"],
        AgentKind::BuiltIn(k) => match k.name {
            "sync-assistant" => &["connection_id"],
            "triage-assistant" => &["connection_id", "model_connection_id"],
            _ => &[],
        },
    };
    for field in fields {
        let Some(id) = config.get(*field).and_then(serde_json::Value::as_i64) else {
            continue;
        };
        let connection = match store.get_connection(project_id, id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                return Ok(Err((
                    format!("config.{field}"),
                    format!("the project has no connection {id}"),
                )))
            }
            Err(e) => return Err(e),
        };
        if !store
            .plugin_enabled(project_id, &connection.plugin_id)
            .await?
        {
            return Ok(Err((
                format!("config.{field}"),
                format!(
                    "connection {id} uses plugin {}, which is not enabled in the project",
                    connection.plugin_id
                ),
            )));
        }
    }
    Ok(Ok(()))
}

pub use crate::store::agents::{AgentState, Health};

/// Whether the agent's kind runs elsewhere and reports heartbeats: the built-in `external`
/// kind. (Every other kind, installed packages included, runs on the host.)
pub fn is_external(agent: &Agent) -> bool {
    kind(&agent.kind).is_some_and(|k| k.component.is_none())
}

/// The agent's health at `now`: measured from runs for component kinds, from heartbeats due
/// every `timeout` for `external` ones (heartbeats of an earlier run, before
/// `running_since`, do not count).
pub fn health(agent: &Agent, now: Millis, timeout: Duration) -> Health {
    let Some(since) = agent
        .running_since
        .filter(|_| agent.state == AgentState::Running)
    else {
        return Health::Unknown;
    };
    if !is_external(agent) {
        return agent.run_health.unwrap_or(Health::Unknown);
    }
    match agent.last_heartbeat_at.filter(|t| *t >= since) {
        Some(beat) if now - beat <= timeout => Health::Healthy,
        Some(_) => Health::Unhealthy,
        None if now - since > timeout => Health::Unhealthy,
        None => Health::Unknown,
    }
}

/// A new agent token: `(token, prefix, hash)`. The token is shown once; only the hash is kept.
pub fn mint_token() -> (String, String, String) {
    let mut bytes = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let prefix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("aat_{prefix}_{}", crate::auth::random_token(32));
    let hash = crate::auth::token_hash(&token);
    (token, prefix, hash)
}

/// The prefix of a well-formed agent token.
pub fn token_prefix(token: &str) -> Option<&str> {
    let mut parts = token.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("aat"), Some(prefix), Some(secret))
            if prefix.len() == 12 && !secret.is_empty() && token.len() <= 128 =>
        {
            Some(prefix)
        }
        _ => None,
    }
}

/// Whether `token` is the one whose hash the agent keeps (constant time).
pub fn token_matches(agent: &Agent, token: &str) -> bool {
    let presented = crate::auth::token_hash(token);
    agent
        .token_hash
        .as_deref()
        .is_some_and(|stored| bool::from(presented.as_bytes().ct_eq(stored.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_kind_names_are_valid_package_ids() {
        // An installed package may not take a built-in name (the install refuses it), and
        // the API's kind pattern is that of package ids: built-ins must match it too.
        for k in KINDS {
            assert!(crate::plugins::package::valid_id(k.name), "{}", k.name);
        }
    }

    #[test]
    fn every_kind_schema_compiles() {
        for k in KINDS {
            assert!(k.validator().is_some(), "{} schema", k.name);
        }
    }

    #[test]
    fn the_host_properties_have_one_source() {
        let host = schema::host_properties();
        for k in KINDS {
            let own: serde_json::Value = serde_json::from_str(k.schema).expect("JSON");
            let effective = k.schema();
            for (name, property) in &host {
                // A kind declares a host property only to say something else about it.
                if let Some(declared) = own["properties"].get(name) {
                    assert_ne!(declared, property, "{} repeats the host's {name}", k.name);
                }
                let got = effective["properties"].get(name);
                match k.component {
                    Some(_) => assert!(got.is_some(), "{} lacks {name}", k.name),
                    None => assert!(got.is_none(), "{} is not run here: no {name}", k.name),
                }
            }
            let run_on = effective["properties"].get("run_on").is_some();
            assert_eq!(run_on, k.events, "{}: run_on", k.name);
        }
        assert_eq!(
            kind("web-monitor").expect("kind").schema()["properties"]["interval_secs"]["minimum"],
            30,
            "a kind's own declaration wins"
        );
    }

    #[test]
    fn config_errors_name_their_field() {
        let k = AgentKind::BuiltIn(kind("web-monitor").expect("kind"));
        let errors = validate_config(&k, &serde_json::json!({"interval_secs": 5, "extra": 1}));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"config.url"), "{errors:?}");
        assert!(fields.contains(&"config.interval_secs"), "{errors:?}");
        assert!(fields.contains(&"config.extra"), "{errors:?}");
        assert!(
            validate_config(&k, &serde_json::json!({"url": "https://example.com/"})).is_empty()
        );
    }

    #[test]
    fn tokens_have_the_agent_shape() {
        let (token, prefix, hash) = mint_token();
        assert_eq!(token_prefix(&token), Some(prefix.as_str()));
        assert_eq!(hash, crate::auth::token_hash(&token));
        assert_eq!(token_prefix("agk_0123456789ab_x"), None);
        assert_eq!(token_prefix("aat_short_x"), None);
    }
}
