//! Alerts: what happens when a component agent's measured health changes.
//!
//! When a run turns an agent `unhealthy` (its kind's `unhealthy_after` runs in a row failed) or
//! brings it back to `healthy`, the host
//! - appends `alert.unhealthy` / `alert.recovered` to the agent's event stream
//!   (`GET …/agents/{id}/events`),
//! - writes `agent.unhealthy` / `agent.recovered` to the audit log,
//! - counts it in `/metrics` (`agentic_agent_alerts_total{kind,alert}`),
//! - and, when the agent's config has `alert_webhook_url`, POSTs Slack-compatible JSON
//!   (`{"text": …}`) there through the egress clients: no redirects, private and loopback
//!   addresses refused unless the agent has `allow_private_network` (set by an Administrator),
//!   link-local ones always, a 10-second timeout. A webhook that fails is itself an event
//!   (`alert.webhook_failed`), never a failed run.

use std::time::Duration;

use serde_json::json;

use crate::clock::Millis;
use crate::plugins::egress::{ip_refusal, Clients};
use crate::store::agents::{Agent, Health};
use crate::store::audit::NewAuditEntry;
use crate::store::Store;

/// How long a webhook may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// A change of measured health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The agent turned unhealthy.
    Unhealthy,
    /// The agent recovered.
    Recovered,
}

impl Change {
    /// The change from `before` to `after` (stored `run_health`), if it is one people are told.
    /// A first successful run is not a recovery; a first run that already makes the agent
    /// unhealthy (`unhealthy_after` = 1) is an alert.
    pub fn between(before: Option<Health>, after: Option<Health>) -> Option<Self> {
        match (before, after) {
            (Some(Health::Unhealthy), Some(Health::Healthy)) => Some(Change::Recovered),
            (Some(Health::Healthy) | None, Some(Health::Unhealthy)) => Some(Change::Unhealthy),
            _ => None,
        }
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Change::Unhealthy => ("alert.unhealthy", "agent.unhealthy"),
            Change::Recovered => ("alert.recovered", "agent.recovered"),
        }
    }
}

/// Raises the alert of `change` for `agent` (as it is after the run), with `last_error`.
pub async fn raise(
    store: &Store,
    clients: Option<&Clients>,
    agent: &Agent,
    config: &serde_json::Value,
    change: Change,
    last_error: Option<&str>,
    now: Millis,
) {
    let (event, audit) = change.names();
    let text = match change {
        Change::Unhealthy => format!(
            "Agent \"{}\" ({}, project {}) is UNHEALTHY: {} run(s) in a row failed; last error: {}",
            agent.name,
            agent.kind,
            agent.project_id,
            agent.consecutive_failures,
            last_error.unwrap_or("none recorded")
        ),
        Change::Recovered => format!(
            "Agent \"{}\" ({}, project {}) RECOVERED: its last run succeeded",
            agent.name, agent.kind, agent.project_id
        ),
    };
    metrics::counter!("agentic_agent_alerts_total", "kind" => agent.kind.clone(), "alert" => event)
        .increment(1);
    if let Err(e) = store.append_agent_event(agent.id, event, &text, now).await {
        tracing::error!(agent = agent.id, "could not record an alert event: {e}");
    }
    let webhook = config
        .get("alert_webhook_url")
        .and_then(serde_json::Value::as_str);
    let sent = match (webhook, clients) {
        (Some(url), Some(clients)) => {
            let allow_private = config
                .get("allow_private_network")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            Some(send(clients, url, allow_private, &text).await)
        }
        (Some(_), None) => Some(Err("no HTTP client on this host".to_owned())),
        _ => None,
    };
    if let Some(Err(why)) = &sent {
        let message = format!("the alert webhook was not delivered: {why}");
        if let Err(e) = store
            .append_agent_event(agent.id, "alert.webhook_failed", &message, now)
            .await
        {
            tracing::error!(agent = agent.id, "could not record a webhook failure: {e}");
        }
    }
    let entry = NewAuditEntry {
        actor_id: None,
        action: audit,
        target_type: Some("agent"),
        target_id: Some(agent.id.to_string()),
        ip: None,
        detail: json!({
            "project_id": agent.project_id, "kind": agent.kind, "name": agent.name,
            "consecutive_failures": agent.consecutive_failures,
            "last_error": last_error,
            "webhook": sent.map(|r| r.map_or_else(|e| e, |()| "delivered".to_owned())),
        }),
    };
    if let Err(e) = store.append_audit(entry, now).await {
        tracing::error!(agent = agent.id, "could not audit an alert: {e}");
    }
}

/// POSTs `{"text": text}` to `url` under the egress address rules.
async fn send(clients: &Clients, url: &str, allow_private: bool, text: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https webhooks".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a webhook URL may not carry credentials".into());
    }
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err("the webhook URL has no host".into()),
    };
    if let Some(why) = literal.and_then(|ip| ip_refusal(ip, allow_private)) {
        return Err(format!("the webhook address {why}"));
    }
    let response = clients
        .for_network(allow_private)
        .post(parsed)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(json!({"text": text}).to_string())
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Change, Health};

    #[test]
    fn only_real_changes_alert() {
        assert_eq!(Change::between(None, Some(Health::Healthy)), None);
        assert_eq!(
            Change::between(Some(Health::Healthy), Some(Health::Healthy)),
            None
        );
        assert_eq!(
            Change::between(Some(Health::Unhealthy), Some(Health::Unhealthy)),
            None
        );
        assert_eq!(
            Change::between(Some(Health::Healthy), Some(Health::Unhealthy)),
            Some(Change::Unhealthy)
        );
        assert_eq!(
            Change::between(None, Some(Health::Unhealthy)),
            Some(Change::Unhealthy)
        );
        assert_eq!(
            Change::between(Some(Health::Unhealthy), Some(Health::Healthy)),
            Some(Change::Recovered)
        );
    }
}
