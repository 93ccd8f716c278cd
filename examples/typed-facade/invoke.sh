#!/usr/bin/env bash
# Calls one function of the typed facade (target/compose/orderdesk-typed.wasm, built by
# `just compose`) with the wasmtime CLI, for the single store given by ORDERDESK_API_URL,
# ORDERDESK_STORE_ID and ORDERDESK_API_KEY (`just fake` prints a fake store's).
#
#   examples/typed-facade/invoke.sh 'orders-get("100001")'
#   examples/typed-facade/invoke.sh 'orders-list(none, none, none, none, none, some(3), …)'
#
# The call is WAVE text (https://github.com/bytecodealliance/wasm-tools/tree/main/crates/wasm-wave):
# strings in double quotes, `some(x)` / `none` for options, `[a, b]` for lists, enum cases
# bare. Every parameter is positional, in the order adapters/facade/wit/facade.wit lists
# them. The answer is printed as WAVE too: `ok("<result JSON>")` or `err({code: …})`.
# Further arguments go to `wasmtime run` (e.g. `-C cache=n`). WASMTIME and FACADE override
# the binary and the component.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
call=$1
shift
# wasmtime's CLI key-value serves only the bucket "" (in memory, per handle): every bucket
# setting of the component names it.
exec "${WASMTIME:-$root/target/tools/bin/wasmtime}" run -Shttp -Sconfig -Skeyvalue \
    -Sconfig-var=api_url="$ORDERDESK_API_URL" \
    -Sconfig-var=store_id="$ORDERDESK_STORE_ID" \
    -Sconfig-var=api_key="$ORDERDESK_API_KEY" \
    -Sconfig-var=state_bucket= \
    -Sconfig-var=cache_bucket_orders= \
    -Sconfig-var=cache_bucket_products= \
    -Sconfig-var=cache_bucket_store= \
    "$@" --invoke "$call" "${FACADE:-$root/target/compose/orderdesk-typed.wasm}"
