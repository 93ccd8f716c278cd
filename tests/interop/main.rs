//! Interoperability: our binary and component against parts this project did not write,
//! each installed by the project's own scripts on first use — the MCP Inspector CLI and the
//! conformance suite (npm), both Python SDK majors (pip), jco in Node (npm), the wasmtime CLI
//! (pip) and compositions made with wac and read with wasm-tools (cargo install). A group of
//! its own (`cargo test --test interop`), apart from the end-to-end tests in `tests/e2e/`.

#[path = "../e2e/support/mod.rs"]
mod support;

mod conformance;
mod node;
mod outside_clients;
mod outside_http;
mod typed_facade;
mod wasmtime_serve;
