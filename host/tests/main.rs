//! Integration tests of the host crate in one binary: the real `agentic` binary over TCP,
//! the plugin runtime and its egress on real components, the WIT contract's docs, workers.

mod binary;
mod data_dir;
mod plugin_egress;
mod plugin_runtime;
mod support;
mod wit_contract;
mod workers;
