//! The `agents` section of the configuration: heartbeats, metrics history, where the built-in
//! components are, and how events gather into runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Agent heartbeats and their metrics history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// A running agent with no heartbeat for this many seconds is unhealthy.
    pub heartbeat_timeout_secs: u64,
    /// Metrics samples older than this many seconds are deleted as new ones arrive.
    pub metrics_retention_secs: u64,
    /// At most this many metrics samples are kept per agent (the oldest go first).
    pub metrics_max_samples: u32,
    /// Where the components of the built-in agent kinds are (`agent_web_monitor.wasm`, …, as
    /// the plugins workspace builds them); `None`: no component kind runs on this host.
    pub component_dir: Option<PathBuf>,
    /// A sync event of an agent's `run_on` makes its next run due this many seconds later, so
    /// that the events of one sync's streams (each stream is a job of its own) start one run.
    pub event_delay_secs: u64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout_secs: 90,
            metrics_retention_secs: 7 * 86_400,
            metrics_max_samples: 10_000,
            component_dir: None,
            event_delay_secs: 10,
        }
    }
}

impl AgentsConfig {
    /// [`AgentsConfig::heartbeat_timeout_secs`] as a duration.
    pub fn heartbeat_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.heartbeat_timeout_secs)
    }

    /// [`AgentsConfig::metrics_retention_secs`] as a duration.
    pub fn metrics_retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.metrics_retention_secs)
    }

    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.heartbeat_timeout_secs) {
            return Err("agents.heartbeat_timeout_secs must be between 1 and 86400".into());
        }
        if !(60..=366 * 86_400).contains(&self.metrics_retention_secs) {
            return Err(
                "agents.metrics_retention_secs must be between 60 and 31622400 (366 days)".into(),
            );
        }
        if !(1..=1_000_000).contains(&self.metrics_max_samples) {
            return Err("agents.metrics_max_samples must be between 1 and 1000000".into());
        }
        if self.event_delay_secs > 3600 {
            return Err("agents.event_delay_secs must be between 0 and 3600".into());
        }
        Ok(())
    }
}
