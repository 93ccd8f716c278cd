# orderdesk-mcp tasks. Everything here is plain cargo underneath; `just` is optional.

default: test

# Release build of the host (builds and embeds the component).
build:
    cargo build --release -p orderdesk-mcp

# Serve MCP over stdio (pass --store-id/--api-key or set ORDERDESK_* env vars).
run *ARGS:
    cargo run --release -p orderdesk-mcp -- stdio {{ARGS}}

# A fake OrderDesk with 200 orders; prints ORDERDESK_* lines to use with `run`.
fake *ARGS:
    cargo run -p fake-orderdesk -- --port 0 --orders 200 {{ARGS}}

# Every test: unit, fake OrderDesk, end-to-end over the real binary.
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p orderdesk-component --target wasm32-wasip2 -- -D warnings

# Benchmarks (release build): stdio latency, then HTTP/stdio load, CPU per call, memory and
# start-up, then polling sync (10,000 orders at OrderDesk's 3 req/s) and webhook intake,
# written to bench/RESULTS.md.
bench:
    cargo bench -p orderdesk-mcp --bench stdio_latency --bench server_load
    cargo bench -p orderdesk-mcp --bench sync_load

# What CI runs.
ci:
    bash .ci/run
