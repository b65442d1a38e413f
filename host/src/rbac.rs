//! Roles, permissions and the one matrix that maps them.
//!
//! Access is decided in two steps, both required on every handler:
//! 1. **function level** — does the caller's role (and, for an API key, its scopes) grant the
//!    [`Permission`]? ([`crate::auth::Principal::require`])
//! 2. **object level** — may the caller touch *this* project? Administrators may touch every
//!    project; everybody else only projects they are a member of
//!    ([`crate::api::access`]). A project the caller may not see answers 404, not 403, so ids
//!    of other people's projects cannot be probed.
//!
//! `docs/RBAC.md` carries the same matrix, rendered by [`markdown_matrix`]; a test fails when the
//! two differ.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The four roles of the product. Every principal (person or service account) has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the installation: users, service accounts, audit, every project.
    Administrator,
    /// Creates projects and manages members and content of projects they belong to.
    ProjectManager,
    /// Manages agents, connector syncs and documents in their projects.
    TechnicalLead,
    /// Reads their projects and operates jobs; reads metrics for monitoring.
    SupportEngineer,
}

impl Role {
    /// Every role, in the order of the matrix columns.
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::ProjectManager,
        Role::TechnicalLead,
        Role::SupportEngineer,
    ];

    /// Stable identifier used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::ProjectManager => "project_manager",
            Role::TechnicalLead => "technical_lead",
            Role::SupportEngineer => "support_engineer",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Human name, as in the product documents.
    pub fn title(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::ProjectManager => "Project Manager",
            Role::TechnicalLead => "Technical Lead",
            Role::SupportEngineer => "Support Engineer",
        }
    }

    /// Whether this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        MATRIX
            .iter()
            .any(|(p, roles)| *p == permission && roles.contains(&self))
    }

    /// Every permission this role grants, in matrix order.
    pub fn permissions(self) -> impl Iterator<Item = Permission> {
        Permission::all().filter(move |p| self.grants(*p))
    }

    /// Administrators see every project; other roles only those they are members of.
    pub fn sees_all_projects(self) -> bool {
        self == Role::Administrator
    }
}

/// What a request wants to do. Names double as API-key scopes (`projects:read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Permission {
    /// List and read user accounts (to pick project members).
    #[serde(rename = "users:read")]
    UsersRead,
    /// Create, update, deactivate users; change roles; revoke anyone's sessions.
    #[serde(rename = "users:manage")]
    UsersManage,
    /// Create and deactivate service accounts; issue and revoke their API keys.
    #[serde(rename = "service_accounts:manage")]
    ServiceAccountsManage,
    /// Read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// See the installation's backups and start one.
    #[serde(rename = "backups:manage")]
    BackupsManage,
    /// Provision people and groups over SCIM 2.0 (`/scim/v2`): what an identity provider's
    /// API key is given. It creates, changes and deactivates accounts, so Administrators only.
    #[serde(rename = "scim:provision")]
    ScimProvision,
    /// Set an identity provider's client secret in the vault (single sign-on): whoever holds it
    /// decides which provider application people sign in through, so Administrators only.
    #[serde(rename = "identity_providers:manage")]
    IdentityProvidersManage,
    /// Create a project.
    #[serde(rename = "projects:create")]
    ProjectsCreate,
    /// Read a project and list projects (own projects only, unless Administrator).
    #[serde(rename = "projects:read")]
    ProjectsRead,
    /// Rename a project, change its description or owner.
    #[serde(rename = "projects:update")]
    ProjectsUpdate,
    /// Delete a project (a Project Manager only the projects they own).
    #[serde(rename = "projects:delete")]
    ProjectsDelete,
    /// List the members of a project.
    #[serde(rename = "members:read")]
    MembersRead,
    /// Add and remove project members.
    #[serde(rename = "members:manage")]
    MembersManage,
    /// Scrape Prometheus metrics at `/metrics`.
    #[serde(rename = "metrics:read")]
    MetricsRead,
    /// See the installed connector plugins and their manifests.
    #[serde(rename = "plugins:read")]
    PluginsRead,
    /// Install, upgrade, roll back and uninstall plugins; manage trusted publisher keys.
    #[serde(rename = "plugins:manage")]
    PluginsManage,
    /// Enable and disable an installed plugin in a project the caller belongs to.
    #[serde(rename = "plugins:enable")]
    PluginsEnable,
    /// Run an enabled plugin's discover and read in a project the caller belongs to.
    #[serde(rename = "plugins:run")]
    PluginsRun,
    /// See a project's connections (never their secrets).
    #[serde(rename = "connections:read")]
    ConnectionsRead,
    /// Create, change, check and delete a project's connections and their credentials.
    #[serde(rename = "connections:manage")]
    ConnectionsManage,
    /// Start a connection's sync and set its schedule.
    #[serde(rename = "connections:sync")]
    ConnectionsSync,
    /// Run a connection's actions, which change data in the connected service (create an
    /// issue, comment, transition).
    #[serde(rename = "connections:act")]
    ConnectionsAct,
    /// Read what connectors synced into a project (work items, requirements, …).
    #[serde(rename = "records:read")]
    RecordsRead,
    /// See jobs of the caller's projects (Administrators: every job) and follow their progress.
    #[serde(rename = "jobs:read")]
    JobsRead,
    /// Cancel and retry jobs of the caller's projects.
    #[serde(rename = "jobs:operate")]
    JobsOperate,
    /// List, search and download a project's documents and their versions.
    #[serde(rename = "documents:read")]
    DocumentsRead,
    /// Upload documents and new versions, change their title, tags and metadata, delete them.
    #[serde(rename = "documents:manage")]
    DocumentsManage,
    /// See a project's web-automation tasks, their schedules and run history.
    #[serde(rename = "web_tasks:read")]
    WebTasksRead,
    /// Create, change, delete, run and schedule a project's web-automation tasks.
    #[serde(rename = "web_tasks:manage")]
    WebTasksManage,
    /// See a project's agents, their status, health and metrics history.
    #[serde(rename = "agents:read")]
    AgentsRead,
    /// Create, configure, deploy, stop and delete a project's agents; issue their runtime tokens.
    #[serde(rename = "agents:manage")]
    AgentsManage,
    /// Read a project's analytics: counts and time series of its work items, documents, syncs,
    /// jobs, agents and API usage.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// Read analytics across every project (the whole installation).
    #[serde(rename = "analytics:read_all")]
    AnalyticsReadAll,
}

use Role::{Administrator as A, ProjectManager as PM, SupportEngineer as SE, TechnicalLead as TL};

/// The permission matrix: which roles grant which permission.
pub const MATRIX: &[(Permission, &[Role])] = &[
    (Permission::UsersRead, &[A, PM]),
    (Permission::UsersManage, &[A]),
    (Permission::ServiceAccountsManage, &[A]),
    (Permission::AuditRead, &[A]),
    (Permission::BackupsManage, &[A]),
    (Permission::ScimProvision, &[A]),
    (Permission::IdentityProvidersManage, &[A]),
    (Permission::ProjectsCreate, &[A, PM]),
    (Permission::ProjectsRead, &[A, PM, TL, SE]),
    (Permission::ProjectsUpdate, &[A, PM]),
    (Permission::ProjectsDelete, &[A, PM]),
    (Permission::MembersRead, &[A, PM, TL, SE]),
    (Permission::MembersManage, &[A, PM]),
    (Permission::MetricsRead, &[A, SE]),
    (Permission::PluginsRead, &[A, PM, TL]),
    (Permission::PluginsManage, &[A]),
    (Permission::PluginsEnable, &[A, PM]),
    (Permission::PluginsRun, &[A, PM, TL]),
    (Permission::ConnectionsRead, &[A, PM, TL, SE]),
    (Permission::ConnectionsManage, &[A, PM, TL]),
    (Permission::ConnectionsSync, &[A, PM, TL]),
    (Permission::ConnectionsAct, &[A, PM, TL]),
    (Permission::RecordsRead, &[A, PM, TL, SE]),
    (Permission::JobsRead, &[A, PM, TL, SE]),
    (Permission::JobsOperate, &[A, PM, TL, SE]),
    (Permission::DocumentsRead, &[A, PM, TL, SE]),
    (Permission::DocumentsManage, &[A, PM, TL]),
    (Permission::WebTasksRead, &[A, PM, TL, SE]),
    (Permission::WebTasksManage, &[A, PM, TL]),
    (Permission::AgentsRead, &[A, PM, TL, SE]),
    (Permission::AgentsManage, &[A, PM, TL]),
    (Permission::AnalyticsRead, &[A, PM, TL, SE]),
    (Permission::AnalyticsReadAll, &[A]),
];

impl Permission {
    /// Every permission, in matrix order.
    pub fn all() -> impl Iterator<Item = Permission> {
        MATRIX.iter().map(|(p, _)| *p)
    }

    /// The scope string (`projects:read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::UsersRead => "users:read",
            Permission::UsersManage => "users:manage",
            Permission::ServiceAccountsManage => "service_accounts:manage",
            Permission::AuditRead => "audit:read",
            Permission::BackupsManage => "backups:manage",
            Permission::ScimProvision => "scim:provision",
            Permission::IdentityProvidersManage => "identity_providers:manage",
            Permission::ProjectsCreate => "projects:create",
            Permission::ProjectsRead => "projects:read",
            Permission::ProjectsUpdate => "projects:update",
            Permission::ProjectsDelete => "projects:delete",
            Permission::MembersRead => "members:read",
            Permission::MembersManage => "members:manage",
            Permission::MetricsRead => "metrics:read",
            Permission::PluginsRead => "plugins:read",
            Permission::PluginsManage => "plugins:manage",
            Permission::PluginsEnable => "plugins:enable",
            Permission::PluginsRun => "plugins:run",
            Permission::ConnectionsRead => "connections:read",
            Permission::ConnectionsManage => "connections:manage",
            Permission::ConnectionsSync => "connections:sync",
            Permission::ConnectionsAct => "connections:act",
            Permission::RecordsRead => "records:read",
            Permission::JobsRead => "jobs:read",
            Permission::JobsOperate => "jobs:operate",
            Permission::DocumentsRead => "documents:read",
            Permission::DocumentsManage => "documents:manage",
            Permission::WebTasksRead => "web_tasks:read",
            Permission::WebTasksManage => "web_tasks:manage",
            Permission::AgentsRead => "agents:read",
            Permission::AgentsManage => "agents:manage",
            Permission::AnalyticsRead => "analytics:read",
            Permission::AnalyticsReadAll => "analytics:read_all",
        }
    }

    /// Parses [`Permission::as_str`].
    pub fn parse(s: &str) -> Option<Permission> {
        Permission::all().find(|p| p.as_str() == s)
    }
}

/// The matrix as a Markdown table, as it appears in `docs/RBAC.md`.
pub fn markdown_matrix() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        out.push_str(&format!(" {} |", role.title()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    out.push('\n');
    for (permission, _) in MATRIX {
        out.push_str(&format!("| `{}` |", permission.as_str()));
        for role in Role::ALL {
            out.push_str(if role.grants(*permission) {
                " ✔ |"
            } else {
                " |"
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_carry_the_matrix_in_force() {
        let doc = include_str!("../../docs/RBAC.md");
        assert!(
            doc.contains(&markdown_matrix()),
            "docs/RBAC.md is out of date; paste this table into it:\n{}",
            markdown_matrix()
        );
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for p in Permission::all() {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).expect("json");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }
}
