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
    for m in adapters/*/Cargo.toml; do cargo fmt --manifest-path "$m" -- --check && cargo clippy --manifest-path "$m" --target wasm32-wasip2 --target-dir target/wasm/adapters-lint -- -D warnings; done

# Benchmarks (release build): stdio latency, then HTTP/stdio load, CPU per call, memory and
# start-up, then polling sync (10,000 orders at OrderDesk's 3 req/s) and webhook intake,
# written to bench/RESULTS.md.
bench:
    cargo bench -p orderdesk-mcp --bench stdio_latency --bench server_load
    cargo bench -p orderdesk-mcp --bench sync_load

# Load and soak (release build): eight tenants, one of them noisy, cache hits and misses,
# updates and creates while the fake injects 429s, 5xx, drops, latency and outside edits;
# SQLite with one server, then Redis with two, ORDERDESK_SOAK_SECS each (default 10 minutes).
# Checks no lost edit, no duplicate order, the quiet tenants' latency, flat RSS and fds;
# written to bench/RESULTS.md. `cargo test` runs its 20-second version (tests/e2e/soak.rs).
soak:
    ORDERDESK_SOAK_SECS="${ORDERDESK_SOAK_SECS:-600}" cargo bench -p orderdesk-mcp --bench soak

# orderdesk-server.wasm is the component as an MCP server for any wasi:http runtime.
# Compose compose/*.wac into target/compose/ with the pinned wac (installed on first use).
compose:
    bash scripts/compose.sh

# The store comes from ORDERDESK_STORE_ID, ORDERDESK_API_KEY, ORDERDESK_API_URL (`just fake`).
# Serve target/compose/orderdesk-server.wasm with the pinned wasmtime CLI (MCP at /mcp).
serve-wasm addr="127.0.0.1:8080": compose
    target/tools/bin/wasmtime serve -Scli -Sconfig -Skeyvalue --addr {{addr}} \
        -Sconfig-var=api_url="${ORDERDESK_API_URL:-https://app.orderdesk.me/api/v2}" \
        -Sconfig-var=store_id="$ORDERDESK_STORE_ID" -Sconfig-var=api_key="$ORDERDESK_API_KEY" \
        -Sconfig-var=state_bucket= -Sconfig-var=cache_bucket_orders= \
        -Sconfig-var=cache_bucket_products= -Sconfig-var=cache_bucket_store= \
        target/compose/orderdesk-server.wasm

# What CI runs.
ci:
    bash .ci/run
