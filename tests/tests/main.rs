//! Behaviour stories of the host, each run on SQLite and on PostgreSQL (`stories!`), in one
//! test binary: one module per capability.

mod actions;
mod agents;
mod analytics;
mod audit;
mod auth;
mod backup;
mod bad_input;
mod cache;
mod check_on_save;
mod connections;
mod contention;
mod credential_flows;
mod db_outage;
mod documents;
mod full_disk;
mod jira;
mod job_faults;
mod jobs;
mod jwt;
mod oidc;
mod openapi;
mod ops;
mod plugins;
mod postponements;
mod projects;
mod rbac_grants;
mod rbac_matrix;
mod service_accounts;
mod sync;
mod sync_bounds;
mod validation;
mod vault;
mod web_tasks;
