//! The `plugins` section of the configuration: the sandbox limits an operator sets.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Limits, ShareLimits};

/// Plugin sandbox limits (the rest of [`Limits`] keeps its defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Wall-clock budget of one plugin call.
    pub call_timeout_secs: u64,
    /// Linear memory a plugin instance may grow to, in MiB.
    pub memory_mib: usize,
    /// Outbound HTTP requests one call may send.
    pub http_requests_per_call: u32,
    /// Largest response body a plugin may read, in MiB: a bound on what one request can make
    /// a guest hold (a ReqIF file the DOORS connector imports is one response).
    pub http_response_mib: usize,
    /// Where compiled components are cached; `None` means `<data_dir>/plugin-cache`.
    pub cache_dir: Option<PathBuf>,
    /// Threads plugin calls run on, apart from the API's; `None`: one per core.
    pub threads: Option<usize>,
    /// Plugin instances alive at once, in all (the pooling allocator's slots).
    pub instances: u32,
    /// Instances one plugin may hold at once; its further calls wait for one of them.
    pub instances_per_plugin: u32,
    /// Instances one connection may hold at once.
    pub instances_per_connection: u32,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            call_timeout_secs: 30,
            memory_mib: 64,
            http_requests_per_call: 1_000,
            http_response_mib: 32,
            cache_dir: None,
            threads: None,
            instances: 64,
            instances_per_plugin: 16,
            instances_per_connection: 4,
        }
    }
}

impl PluginsConfig {
    /// Why these values cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.call_timeout_secs) {
            return Err("plugins.call_timeout_secs must be between 1 and 3600".into());
        }
        if !(1..=4096).contains(&self.memory_mib) {
            return Err("plugins.memory_mib must be between 1 and 4096".into());
        }
        if !(1..=4096).contains(&self.http_response_mib) {
            return Err("plugins.http_response_mib must be between 1 and 4096".into());
        }
        if self.http_requests_per_call == 0 {
            return Err("plugins.http_requests_per_call must be greater than zero".into());
        }
        if self.threads == Some(0) || self.threads.is_some_and(|t| t > 256) {
            return Err("plugins.threads must be between 1 and 256".into());
        }
        if !(1..=10_000).contains(&self.instances)
            || !(1..=self.instances).contains(&self.instances_per_plugin)
            || !(1..=self.instances_per_plugin).contains(&self.instances_per_connection)
        {
            return Err(
                "plugins: need 1 <= instances_per_connection <= instances_per_plugin <= \
                 instances <= 10000"
                    .into(),
            );
        }
        Ok(())
    }

    /// The sandbox limits in force: these, and [`Limits`]' defaults for the rest.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits {
            call_timeout: std::time::Duration::from_secs(self.call_timeout_secs),
            memory_bytes: self.memory_mib << 20,
            ..Limits::default()
        };
        limits.egress.max_requests_per_call = self.http_requests_per_call;
        limits.egress.max_response_body = self.http_response_mib << 20;
        limits.shares = ShareLimits {
            instances: self.instances,
            per_plugin: self.instances_per_plugin,
            per_connection: self.instances_per_connection,
        };
        if let Some(threads) = self.threads {
            limits.threads = threads;
        }
        limits
    }
}
