#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# tests/clients/package.json) against `orderdesk-mcp serve`, judged against
# tests/conformance/expected-failures.txt.
#
# Starts the fake OrderDesk (unless --api-url names a running one) and
# `orderdesk-mcp serve --listen 127.0.0.1:0` against it (single store, memory state), runs
# every server scenario (`conformance server --suite all`) at http://127.0.0.1:PORT/mcp,
# then fails if a scenario not listed in expected-failures.txt fails, if a listed one
# passes (so the list stays true), or if the list names a scenario the suite does not have.
# Builds and installs nothing: `cargo build -p orderdesk-mcp -p fake-orderdesk` and
# `npm install` in tests/clients first (the e2e test tests/interop/conformance.rs does both).
#
# Usage: tests/conformance/run.sh [--server BIN] [--fake BIN | --api-url URL] [--conformance CLI]
#   --server BIN       orderdesk-mcp binary (default: target/debug/orderdesk-mcp)
#   --fake BIN         fake-orderdesk binary to start (default: target/debug/fake-orderdesk)
#   --api-url URL      use the OrderDesk API at URL instead, with ORDERDESK_STORE_ID and
#                      ORDERDESK_API_KEY from the environment
#   --conformance CLI  the suite's CLI (default: tests/clients/node_modules/.bin/conformance)
# Environment: ORDERDESK_MCP_PRECOMPILE_CACHE (compiled-component cache to reuse);
# CONFORMANCE_KEEP=1 keeps the work directory (logs, each scenario's checks.json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server_bin="$root/target/debug/orderdesk-mcp"
fake_bin="$root/target/debug/fake-orderdesk"
conformance="$root/tests/clients/node_modules/.bin/conformance"
api_url=""

while (($#)); do
  case "$1" in
    --server) server_bin="$2"; shift 2 ;;
    --fake) fake_bin="$2"; shift 2 ;;
    --api-url) api_url="$2"; shift 2 ;;
    --conformance) conformance="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

need() {
  [[ -x "$1" ]] || { echo "run.sh: $1 not found; $2" >&2; exit 2; }
}
need "$server_bin" "build it: cargo build -p orderdesk-mcp"
need "$conformance" "install it: (cd tests/clients && npm install)"
[[ -n "$api_url" ]] || need "$fake_bin" "build it: cargo build -p fake-orderdesk"

work="$(mktemp -d "${TMPDIR:-/tmp}/orderdesk-conformance.XXXXXX")"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "${CONFORMANCE_KEEP:-}" ]]; then
    echo "run.sh: work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait (up to $3 seconds) until file $1 has a line matching $2, while process $4 lives.
wait_for_line() {
  local file="$1" pattern="$2" seconds="$3" pid="$4"
  for ((i = 0; i < seconds * 10; i++)); do
    if grep -q -- "$pattern" "$file" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: process $pid exited before printing '$pattern':" >&2
      cat "$file" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "run.sh: no '$pattern' after ${seconds}s:" >&2
  cat "$file" >&2
  return 1
}

if [[ -z "$api_url" ]]; then
  "$fake_bin" --port 0 --orders 20 >"$work/fake.env" 2>"$work/fake.log" &
  pids+=($!)
  wait_for_line "$work/fake.env" '^ORDERDESK_API_KEY=' 30 "${pids[-1]}"
  api_url="$(sed -n 's/^ORDERDESK_API_URL=//p' "$work/fake.env")"
  ORDERDESK_STORE_ID="$(sed -n 's/^ORDERDESK_STORE_ID=//p' "$work/fake.env")"
  ORDERDESK_API_KEY="$(sed -n 's/^ORDERDESK_API_KEY=//p' "$work/fake.env")"
fi
: "${ORDERDESK_STORE_ID:?--api-url needs ORDERDESK_STORE_ID in the environment}"
: "${ORDERDESK_API_KEY:?--api-url needs ORDERDESK_API_KEY in the environment}"

# A clean environment: only what single-store mode needs.
env -i PATH="$PATH" HOME="${HOME:-$work}" \
  ORDERDESK_STORE_ID="$ORDERDESK_STORE_ID" ORDERDESK_API_KEY="$ORDERDESK_API_KEY" \
  ORDERDESK_MCP_LOG=info \
  "$server_bin" serve --listen 127.0.0.1:0 --state memory --api-url "$api_url" \
  --precompile-cache "${ORDERDESK_MCP_PRECOMPILE_CACHE:-$work/precompile-cache}" \
  </dev/null >/dev/null 2>"$work/server.log" &
pids+=($!)
wait_for_line "$work/server.log" '^orderdesk-mcp listening on ' 120 "${pids[-1]}"
url="$(sed -n 's/^orderdesk-mcp listening on //p' "$work/server.log" | head -n 1)"

# Every server scenario the suite has, pending ones included.
"$conformance" list --server | sed -n 's/^ *- //p' | sort >"$work/scenarios"
[[ -s "$work/scenarios" ]] || { echo "run.sh: the suite listed no server scenarios" >&2; exit 1; }
echo "conformance $("$conformance" --version) against $url: $(wc -l <"$work/scenarios") scenarios"
# The CLI exits non-zero whenever a scenario fails; the verdicts below decide.
"$conformance" server --url "$url" --suite all -o "$work/results" >"$work/conformance.log" 2>&1 || true
node "$here/verdicts.mjs" "$work/results" >"$work/verdicts"

# scenario -> reason, from the list (comments and blank lines skipped).
declare -A expected=()
while IFS= read -r line; do
  name="${line%%#*}"
  name="${name//[[:space:]]/}"
  [[ -n "$name" ]] || continue
  reason="${line#*#}"
  [[ "$reason" != "$line" ]] || reason="(no reason given)"
  expected["$name"]="${reason# }"
done <"$here/expected-failures.txt"

declare -A verdict=() why=()
while IFS=$'\t' read -r name result detail; do
  verdict["$name"]="$result"
  why["$name"]="$detail"
done <"$work/verdicts"

passed=0 expected_failed=0 problems=0
while IFS= read -r name; do
  result="${verdict[$name]:-fail}"
  detail="${why[$name]:-the suite saved no result for it}"
  if [[ "$result" == pass && -z "${expected[$name]+x}" ]]; then
    echo "  pass           $name"
    passed=$((passed + 1))
  elif [[ "$result" == pass ]]; then
    echo "  UNEXPECTED PASS $name: listed in expected-failures.txt (${expected[$name]}); delete its line"
    problems=$((problems + 1))
  elif [[ -n "${expected[$name]+x}" ]]; then
    echo "  expected fail  $name: ${expected[$name]}"
    expected_failed=$((expected_failed + 1))
  else
    echo "  FAIL           $name: $detail"
    problems=$((problems + 1))
  fi
done <"$work/scenarios"
for name in "${!expected[@]}"; do
  if ! grep -qx -- "$name" "$work/scenarios"; then
    echo "  UNKNOWN        $name: listed in expected-failures.txt, but the suite has no such scenario"
    problems=$((problems + 1))
  fi
done

echo "conformance: $passed scenarios pass, $expected_failed fail as listed, $problems problems"
if ((problems > 0)); then
  # Each demo fixture we lack logs a "response error" warning: leave those out.
  echo "--- server log, other warnings and errors (last 20 lines) ---"
  grep -v -e '"level":"INFO"' -e '"message":"response error"' "$work/server.log" | tail -n 20 || true
  # The CLI's own progress and summary lines are in the table above.
  echo "--- conformance CLI, other output (last 30 lines) ---"
  grep -v -e 'unknown format' -e '^Running ' -e '^Results saved' -e '^=== ' -e '^Total: ' \
    -e '^. [a-z0-9-]*: [0-9]* passed, [0-9]* failed$' -e '^$' "$work/conformance.log" | tail -n 30 || true
  exit 1
fi
