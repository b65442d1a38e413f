//! The bindings wit-bindgen generates for the `agentic:connector/connector` world (and the
//! `wasi:http` interfaces it imports). Hidden: plugin authors use the SDK's own types, and
//! [`register_connector!`](crate::register_connector) reaches the generated `export!` macro
//! through this module's path.
//!
//! The generated code is canonical-ABI glue full of `unsafe`. rustc does not apply the
//! workspace's `forbid(unsafe_code)` to code expanded from an external procedural macro, so no
//! `allow` is needed here (and `forbid` could not be relaxed anyway): every hand-written line of
//! the SDK stays under the lint.

wit_bindgen::generate!({
    path: "../wit",
    world: "agentic:connector/connector",
    generate_all,
    // Plugins expand the export macro through `agentic_sdk::wit`, and do not depend on
    // wit-bindgen themselves.
    pub_export_macro: true,
    export_macro_name: "__export_connector",
    default_bindings_module: "agentic_sdk::wit",
    runtime_path: "agentic_sdk::__private::wit_bindgen::rt",
});
