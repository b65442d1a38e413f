//! The JIRA connector's native tests in one binary: acceptance suite, actions, errors, the
//! fake's own conformance, incremental reads, record mapping.

mod acceptance;
mod actions;
mod errors;
mod fake;
mod incremental;
mod records;
mod support;
mod throttling;
