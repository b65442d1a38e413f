//! The bindings wit-bindgen generates for the `agentic:agent/agent` world (and the `wasi:http`
//! interfaces it imports). Hidden: agent authors use the SDK's own types, and
//! [`register_agent!`](crate::register_agent) reaches the generated `export!` macro through
//! this module's path.
//!
//! The generated code is canonical-ABI glue full of `unsafe`; rustc does not apply the
//! workspace's `forbid(unsafe_code)` to code expanded from an external procedural macro, so
//! every hand-written line of the SDK stays under the lint.

wit_bindgen::generate!({
    path: "../../wit",
    world: "agentic:agent/agent@0.2.0",
    generate_all,
    pub_export_macro: true,
    export_macro_name: "__export_agent",
    default_bindings_module: "agentic_agent_sdk::wit",
    runtime_path: "agentic_agent_sdk::__private::wit_bindgen::rt",
});
