//! Host bindings for the parts of the component's world that stock WASI crates do not
//! cover: `wasi:keyvalue`, `orderdesk:mcp/lock`, and the exports. Imports
//! are async, so state backends never block the async runtime.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "orderdesk:mcp/plugin-core",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi:keyvalue/store.bucket": crate::state::BucketHandle,
    },
    trappable_error_type: {
        "wasi:keyvalue/store.error" => crate::state::StateError,
    },
});
