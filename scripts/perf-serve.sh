#!/usr/bin/env bash
# The server-load bench's server under `perf`, for bench/RESULTS.md's profile section:
#   ORDERDESK_BENCH_BIN=scripts/perf-serve.sh cargo bench -p orderdesk-mcp --bench server_load
# The first long-lived `serve` the bench starts runs the stateless levels (1, 8, 64 closed,
# 64 open clients; 6 s each after a short warm-up). This samples its 1-client level (from
# 1.5 s, for 4 s) and its 64-client closed level (from 13.5 s, for 5 s) into
# /tmp/perf-serve-PID-c1.data and -c64.data; read them with `perf report -i FILE --no-children
# --sort dso,sym -g none`. Other servers (cold starts, sessions) get files of their own.
set -euo pipefail
bin="$(cd "$(dirname "$0")/.." && pwd)/target/release/orderdesk-mcp"
if [ "${1:-}" = "serve" ]; then
    (sleep 1.5; perf record -F 2999 -g -p $$ -o "/tmp/perf-serve-$$-c1.data" -- sleep 4) >/dev/null 2>&1 &
    (sleep 13.5; perf record -F 2999 -g -p $$ -o "/tmp/perf-serve-$$-c64.data" -- sleep 5) >/dev/null 2>&1 &
fi
exec "$bin" "$@"
