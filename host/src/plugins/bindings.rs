//! The Rust bindings of the `agentic:connector` world, generated once for the whole host
//! (the runtime and the page lift use them): async exports, the WASI 0.2 interfaces taken from
//! wasmtime-wasi and wasmtime-wasi-http, and store data that is `Send`, since a call's store moves
//! to the plugin threads.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agentic:connector/connector",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});
