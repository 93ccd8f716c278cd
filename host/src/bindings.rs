//! Host bindings for the parts of the component's world that stock WASI crates do not
//! cover: `wasi:keyvalue`, `wasi:logging`, and the exported `orderdesk:mcp/tools`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "orderdesk:mcp/plugin-core",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::BucketHandle,
    },
    trappable_error_type: {
        "wasi:keyvalue/store.error" => crate::kv::KvError,
    },
});
