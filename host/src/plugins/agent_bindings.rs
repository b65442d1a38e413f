//! The Rust bindings of every version of the `agentic:agent` world the host serves, and the one
//! place that knows how they differ.
//!
//! The current version (0.2.0, `wit/agent.wit`) is what the rest of the host speaks: its types
//! are [`super::agent`]'s. A released version is generated from its frozen copy
//! (`wit/frozen/agent-<version>/`). Unlike the connector contract, 0.2.0 changed `types` (the
//! `trigger` carries the sync event, `trigger-kind` has the event cases), so 0.1.0 keeps its
//! own generated types, and this module converts at the boundary: a 0.1.0 component is told
//! `schedule` where 0.2.0 says `sync-finished` or `records-changed` (it has no such cases), and
//! its `platform` calls reach the same host code as 0.2.0's (`write-document` without links).
//!
//! A loaded component is one of the [`AgentPre`] cases, picked from the version of the
//! `agentic:agent` interfaces it imports ([`AgentWitVersion::imported_by`]), as the connector
//! path picks from `agentic:connector/host`.

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use super::sandbox::GuestState;

/// `agentic:agent@0.2.0` (`wit/agent.wit`): the sync event, comments, linked documents.
pub(super) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "agentic:agent/agent@0.2.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

/// `agentic:agent@0.1.0`, frozen (`wit/frozen/agent-0.1.0`), with its own types.
pub(super) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/frozen/agent-0.1.0",
        world: "agentic:agent/agent@0.1.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

use v0_1::agentic::agent::{platform as old_platform, types as old};
use v0_2::agentic::agent::{platform, types as new};

/// A version of the agent contract the host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgentWitVersion {
    /// `agentic:agent@0.1.0`, the first release (frozen).
    V0_1,
    /// `agentic:agent@0.2.0`: the trigger's sync event, `comment-on-record`, linked documents.
    V0_2,
}

impl AgentWitVersion {
    /// Every version served, oldest first.
    pub const ALL: [AgentWitVersion; 2] = [AgentWitVersion::V0_1, AgentWitVersion::V0_2];

    /// The current contract (`wit/agent.wit`), which the agent SDK targets.
    pub const NEWEST: AgentWitVersion = AgentWitVersion::V0_2;

    /// The semver version, as in an agent package's `plugin.toml` `wit` field.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentWitVersion::V0_1 => "0.1.0",
            AgentWitVersion::V0_2 => "0.2.0",
        }
    }

    /// The served version named `version`, if it is one.
    pub fn parse(version: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == version)
    }

    /// The contract version a component was built against, read from the `agentic:agent`
    /// interfaces it imports (every agent imports `types`, which its `run` export uses):
    /// `Ok(None)` when it imports none; an error names a version the host does not serve, or a
    /// component that mixes versions.
    pub fn imported_by(engine: &Engine, component: &Component) -> Result<Option<Self>, String> {
        let mut found: Option<(Self, String)> = None;
        for (name, _) in component.component_type().imports(engine) {
            let Some(versioned) = name.strip_prefix("agentic:agent/") else {
                continue;
            };
            let version = versioned.split_once('@').map_or("", |(_, v)| v);
            let Some(served) = Self::parse(version) else {
                return Err(format!(
                    "it imports {name}: this host serves agentic:agent {}",
                    Self::ALL.map(Self::as_str).join(" and ")
                ));
            };
            match &found {
                Some((seen, first)) if *seen != served => {
                    return Err(format!(
                        "it imports both {first} and {name}: one contract version per component"
                    ))
                }
                Some(_) => {}
                None => found = Some((served, name.to_owned())),
            }
        }
        Ok(found.map(|(version, _)| version))
    }
}

impl std::fmt::Display for AgentWitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent component pre-linked for its contract version.
pub(super) enum AgentPre {
    V0_1(v0_1::AgentPre<GuestState>),
    V0_2(v0_2::AgentPre<GuestState>),
}

impl Clone for AgentPre {
    fn clone(&self) -> Self {
        match self {
            Self::V0_1(pre) => Self::V0_1(pre.clone()),
            Self::V0_2(pre) => Self::V0_2(pre.clone()),
        }
    }
}

impl AgentPre {
    /// Checks that `pre`'s exports are those of `version`'s world.
    pub(super) fn new(
        version: AgentWitVersion,
        pre: InstancePre<GuestState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            AgentWitVersion::V0_1 => Self::V0_1(v0_1::AgentPre::new(pre)?),
            AgentWitVersion::V0_2 => Self::V0_2(v0_2::AgentPre::new(pre)?),
        })
    }

    /// The version it was linked for.
    pub(super) fn version(&self) -> AgentWitVersion {
        match self {
            Self::V0_1(_) => AgentWitVersion::V0_1,
            Self::V0_2(_) => AgentWitVersion::V0_2,
        }
    }

    /// Instantiates the component in `store` and calls its `run`, in the types of the current
    /// contract whatever the component's version.
    pub(super) async fn run(
        &self,
        store: &mut Store<GuestState>,
        trigger: new::Trigger,
        config: &String,
        state: Option<&String>,
    ) -> wasmtime::Result<Result<new::Outcome, new::Error>> {
        match self {
            Self::V0_2(pre) => {
                let agent = pre.instantiate_async(&mut *store).await?;
                agent.call_run(store, &trigger, config, state).await
            }
            Self::V0_1(pre) => {
                let agent = pre.instantiate_async(&mut *store).await?;
                let result = agent
                    .call_run(store, old_trigger(&trigger), config, state)
                    .await?;
                Ok(result.map(new_outcome).map_err(new_error))
            }
        }
    }
}

/// Registers `agentic:agent/platform` of every served version with the runtime's linker.
pub(super) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<GuestState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    platform::add_to_linker::<GuestState, HasSelf<GuestState>>(linker, |state| state)?;
    old_platform::add_to_linker::<GuestState, HasSelf<GuestState>>(linker, |state| state)
}

/// 0.2.0's trigger as 0.1.0 has it: the event kinds become `schedule`, the event goes.
fn old_trigger(t: &new::Trigger) -> old::Trigger {
    old::Trigger {
        kind: match t.kind {
            new::TriggerKind::Retry => old::TriggerKind::Retry,
            new::TriggerKind::Schedule
            | new::TriggerKind::SyncFinished
            | new::TriggerKind::RecordsChanged => old::TriggerKind::Schedule,
        },
        run: t.run,
        at: t.at,
        consecutive_failures: t.consecutive_failures,
    }
}

fn new_outcome(o: old::Outcome) -> new::Outcome {
    new::Outcome {
        state: o.state,
        metrics: o
            .metrics
            .into_iter()
            .map(|m| new::Metric {
                name: m.name,
                value: m.value,
            })
            .collect(),
        events: o
            .events
            .into_iter()
            .map(|e| new::Event {
                kind: e.kind,
                message: e.message,
            })
            .collect(),
        summary: o.summary,
        problem: o.problem,
    }
}

fn new_error(e: old::Error) -> new::Error {
    match e {
        old::Error::Config(m) => new::Error::Config(m),
        old::Error::CheckFailed(m) => new::Error::CheckFailed(m),
        old::Error::Transient(m) => new::Error::Transient(m),
        old::Error::Denied(m) => new::Error::Denied(m),
        old::Error::Internal(m) => new::Error::Internal(m),
    }
}

fn old_error(e: new::PlatformError) -> old::PlatformError {
    match e {
        new::PlatformError::Denied(m) => old::PlatformError::Denied(m),
        new::PlatformError::NotFound(m) => old::PlatformError::NotFound(m),
        new::PlatformError::InvalidInput(m) => old::PlatformError::InvalidInput(m),
        new::PlatformError::Unavailable(m) => old::PlatformError::Unavailable(m),
    }
}

impl old::Host for GuestState {}

/// `agentic:agent/platform@0.1.0`: the 0.2.0 calls, in 0.1.0's types.
impl old_platform::Host for GuestState {
    async fn log(&mut self, level: old::LogLevel, message: String) {
        let level = match level {
            old::LogLevel::Trace => new::LogLevel::Trace,
            old::LogLevel::Debug => new::LogLevel::Debug,
            old::LogLevel::Info => new::LogLevel::Info,
            old::LogLevel::Warn => new::LogLevel::Warn,
            old::LogLevel::Error => new::LogLevel::Error,
        };
        platform::Host::log(self, level, message).await;
    }

    async fn emit_metric(&mut self, name: String, value: f64) {
        platform::Host::emit_metric(self, name, value).await;
    }

    async fn emit_event(&mut self, kind: String, message: String) {
        platform::Host::emit_event(self, kind, message).await;
    }

    async fn query_records(
        &mut self,
        q: old::RecordQuery,
    ) -> Result<old::RecordPage, old::PlatformError> {
        let model = match q.model {
            old::Model::Document => new::Model::Document,
            old::Model::WorkItem => new::Model::WorkItem,
            old::Model::Comment => new::Model::Comment,
            old::Model::Requirement => new::Model::Requirement,
            old::Model::TraceLink => new::Model::TraceLink,
            old::Model::Person => new::Model::Person,
            old::Model::Raw => new::Model::Raw,
        };
        let query = new::RecordQuery {
            model,
            connection_id: q.connection_id,
            status: q.status,
            text: q.text,
            after: q.after,
            limit: q.limit,
        };
        let page = platform::Host::query_records(self, query)
            .await
            .map_err(old_error)?;
        Ok(old::RecordPage {
            records: page
                .records
                .into_iter()
                .map(|r| old::StoredRecord {
                    id: r.id,
                    connection_id: r.connection_id,
                    stream: r.stream,
                    external_id: r.external_id,
                    data: r.data,
                    synced_at: r.synced_at,
                })
                .collect(),
            next_after: page.next_after,
        })
    }

    async fn start_sync(
        &mut self,
        connection_id: i64,
        stream: Option<String>,
    ) -> Result<i64, old::PlatformError> {
        platform::Host::start_sync(self, connection_id, stream)
            .await
            .map_err(old_error)
    }

    async fn sync_job(&mut self, job_id: i64) -> Result<old::JobStatus, old::PlatformError> {
        let job = platform::Host::sync_job(self, job_id)
            .await
            .map_err(old_error)?;
        Ok(old::JobStatus {
            id: job.id,
            state: job.state,
            result: job.result,
            last_error: job.last_error,
            finished_at: job.finished_at,
        })
    }

    async fn write_document(
        &mut self,
        title: String,
        markdown: String,
        tags: Vec<String>,
    ) -> Result<i64, old::PlatformError> {
        platform::Host::write_document(self, title, markdown, tags, Vec::new())
            .await
            .map_err(old_error)
    }

    async fn invoke_action(
        &mut self,
        connection_id: i64,
        action: String,
        input: String,
    ) -> Result<String, old::PlatformError> {
        platform::Host::invoke_action(self, connection_id, action, input)
            .await
            .map_err(old_error)
    }
}

#[cfg(test)]
mod tests {
    use super::AgentWitVersion;

    #[test]
    fn the_package_check_admits_exactly_the_agent_versions_served() {
        assert_eq!(
            super::super::package::SUPPORTED_AGENT_WIT_VERSIONS,
            AgentWitVersion::ALL.map(AgentWitVersion::as_str)
        );
        assert_eq!(
            AgentWitVersion::parse("0.2.0"),
            Some(AgentWitVersion::NEWEST)
        );
        assert_eq!(AgentWitVersion::parse("0.3.0"), None);
    }
}
