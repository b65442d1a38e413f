//! `GET /agent-kinds`: the kinds of agent a project may create — the built-in ones whose
//! component loads here, `external`, and installed agent packages
//! ([`crate::agents::installed`]).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::{ApiQuery, NoQuery};
use super::{AppState, Problem};
use crate::agents::{self, AgentKind};
use crate::auth::Principal;
use crate::rbac::Permission;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_kinds))
}

/// Where a kind of agent runs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum RunsOn {
    /// A component this host runs on its sandbox.
    Host,
    /// A process elsewhere that reports heartbeats.
    External,
}

/// A kind of agent.
#[derive(Debug, Serialize, ToSchema)]
struct KindView {
    /// What agents of it are created with: a built-in name or an installed package's id.
    name: String,
    description: String,
    /// `host`: this host runs it; `external`: a process elsewhere reports heartbeats.
    runs_on: RunsOn,
    /// JSON Schema an agent's `config` must satisfy (for an installed package: its manifest's,
    /// with the host's scheduling, health and alert properties added where it has none).
    #[schema(value_type = Object)]
    config_schema: serde_json::Value,
    /// The permissions its platform calls may use; a deployed agent gets those its deployer
    /// holds.
    needs: Vec<String>,
    /// Set for a kind that is an installed agent package; absent for built-in kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<KindPackage>,
}

/// The installed agent package behind a kind.
#[derive(Debug, Serialize, ToSchema)]
struct KindPackage {
    /// The active version: what the next run of an agent of this kind runs.
    version: String,
    /// The trusted publisher whose key signed it.
    publisher: String,
    /// That key, `ed25519:<base64>`.
    publisher_key: String,
    /// SHA-256 of the component.
    sha256: String,
    /// Hosts its HTTP requests may reach (none: no network).
    allowed_hosts: Vec<String>,
    /// Projects it is enabled in (agents of it can be created there; shown to
    /// `plugins:manage` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled_projects: Option<Vec<i64>>,
}

fn kind_view(kind: &AgentKind, package: Option<KindPackage>) -> KindView {
    KindView {
        name: kind.name().to_owned(),
        description: kind.description().to_owned(),
        runs_on: if kind.runs_on_host() {
            RunsOn::Host
        } else {
            RunsOn::External
        },
        config_schema: kind.schema(),
        needs: kind.needs().iter().map(|p| p.as_str().to_owned()).collect(),
        package,
    }
}

/// The kinds of agent that can be deployed here, with their config schemas: the built-in
/// component kinds whose component loads on this host (`runs_on: host`), `external`
/// (`runs_on: external`: not run by the host), then the installed agent packages whose active
/// version's component loads (`runs_on: host`, with `package`: version and publisher; agents
/// of one can be created in the projects it is enabled in). Needs `agents:read`.
#[utoipa::path(get, path = "/agent-kinds", tag = "agents",
    responses((status = 200, body = Vec<KindView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_kinds(
    State(state): State<AppState>,
    who: Principal,
    query: ApiQuery<NoQuery>,
) -> ApiResult<Json<Vec<KindView>>> {
    who.require(Permission::AgentsRead)?;
    query.parse()?;
    let mut kinds = Vec::new();
    for k in agents::KINDS {
        let kind = AgentKind::BuiltIn(k);
        if state.agent_components.runnable(&kind).await {
            kinds.push(kind_view(&kind, None));
        }
    }
    for plugin in state.store.list_plugins().await? {
        let Some(active) = plugin.active() else {
            continue;
        };
        let Ok(Some(kind @ AgentKind::Installed(_))) =
            state.agent_components.kind(&plugin.id).await
        else {
            continue;
        };
        if !state.agent_components.runnable(&kind).await {
            continue;
        }
        let AgentKind::Installed(installed) = &kind else {
            continue;
        };
        let package = KindPackage {
            version: active.version.clone(),
            publisher: active.publisher.clone(),
            publisher_key: active.publisher_key.clone(),
            sha256: active.sha256.clone(),
            allowed_hosts: installed.active.manifest.allowed_hosts.clone(),
            enabled_projects: who
                .can(Permission::PluginsManage)
                .then(|| plugin.enabled_projects.clone()),
        };
        kinds.push(kind_view(&kind, Some(package)));
    }
    Ok(Json(kinds))
}
