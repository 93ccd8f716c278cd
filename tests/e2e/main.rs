//! End-to-end tests: the real `orderdesk-mcp` binary running the real component, against
//! the fake OrderDesk, a real SQLite file and a real `redis-server`, driven over stdio and
//! HTTP by rmcp's client and raw requests. One test binary, one module per area, so the
//! shared harness (`support`) is compiled once. Tests that need outside tools (npm, pip,
//! wasm-tools, wac, the wasmtime CLI) live in `tests/interop/`, their own binary.

mod support;

mod adapters;
mod attack;
mod console;
mod faults;
mod front_door;
mod http;
mod redis;
mod sandbox;
mod soak;
mod state;
mod stdio;
mod sync;
mod tenancy;
mod webhooks;
mod write_faults;
mod writes;
