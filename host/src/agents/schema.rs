//! The config properties the host itself reads from every agent kind it runs, in one place.
//!
//! The scheduler, health, alerts and egress read `interval_secs` (default 300, at least 60),
//! `cron`, `unhealthy_after` (default 3), `alert_webhook_url` and `allow_private_network` from
//! the config of every component kind — built in or installed — and the event triggers
//! (`super::triggers`) read `run_on`. Why one place: each kind's schema used to repeat them,
//! so a built-in's and a package's could drift apart from what the host reads. A kind's own
//! schema now declares only what it means differently (a shorter interval, another default, its
//! own wording) and [`effective`] adds the rest; a kind's own declaration always wins.

use serde_json::{json, Map, Value};

/// The properties the host reads from every component kind's config, as JSON Schema.
pub fn host_properties() -> Map<String, Value> {
    let props = json!({
        "interval_secs": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 300,
                          "description": "Seconds between runs."},
        "cron": {"type": "string", "minLength": 9, "maxLength": 128,
                 "description": "Run at these times (UTC) instead of every interval_secs: five fields, minute first, or six, seconds first; firings at least 60 s apart."},
        "unhealthy_after": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3,
                            "description": "Failed runs in a row that make the agent unhealthy."},
        "alert_webhook_url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000,
                              "description": "Slack-compatible webhook told when the agent turns unhealthy or recovers."},
        "allow_private_network": {"type": "boolean", "default": false,
                                  "description": "Let the agent reach private or loopback addresses (its allowed hosts, the webhook); Administrators only."}
    });
    match props {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `run_on` as the host reads it (`super::triggers`).
fn run_on_property() -> Value {
    json!({"type": "array", "maxItems": 2, "uniqueItems": true,
           "items": {"type": "string", "enum": super::triggers::EVENTS},
           "description": "Also run soon after a sync of connection_id finishes (`sync-finished`) or stores or deletes records (`records-changed`), besides the schedule."})
}

/// `schema` (an object schema) with [`host_properties`] added where it has none of that
/// name, and `run_on` too when `events` (the kind is bound to a connection whose syncs can
/// trigger it).
pub fn effective(schema: &Value, events: bool) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(root) = &mut schema {
        let properties = root
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            if events {
                properties.entry("run_on").or_insert_with(run_on_property);
            }
            for (name, property) in host_properties() {
                properties.entry(name).or_insert(property);
            }
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_adds_its_properties_without_overriding_the_kinds() {
        let author = json!({
            "type": "object", "additionalProperties": false, "required": ["url"],
            "properties": {
                "url": {"type": "string"},
                "interval_secs": {"type": "integer", "minimum": 600, "default": 3600}
            }
        });
        let schema = effective(&author, false);
        let props = &schema["properties"];
        assert_eq!(
            props["interval_secs"]["minimum"], 600,
            "the kind's own wins"
        );
        assert_eq!(props["unhealthy_after"]["default"], 3);
        assert_eq!(props["allow_private_network"]["type"], "boolean");
        assert!(props.get("run_on").is_none(), "only with events");
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        assert!(validator.is_valid(&json!({"url": "x", "unhealthy_after": 2})));
        assert!(!validator.is_valid(&json!({"url": "x", "colour": "red"})));
        let bare = effective(&json!({"type": "object"}), false);
        assert_eq!(bare["properties"]["interval_secs"]["default"], 300);
        let bound = effective(
            &json!({"type": "object", "additionalProperties": false,
                    "properties": {"connection_id": {"type": "integer"}}}),
            true,
        );
        let validator = jsonschema::validator_for(&bound).expect("compiles");
        assert!(validator.is_valid(&json!({"connection_id": 7, "run_on": ["records-changed"]})));
        assert!(!validator.is_valid(&json!({"connection_id": 7, "run_on": ["job-finished"]})));
    }
}
