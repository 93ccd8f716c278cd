#!/usr/bin/env bash
# Builds orderdesk.wasm and every adapter crate for wasm32-wasip2, then composes each
# compose/NAME.wac with `wac` into target/compose/NAME.wasm. `just compose` runs it; the
# e2e tests call it through tests/e2e/support/tools.rs. Safe to run from parallel test
# binaries (one flock); quiet when nothing fails.
#
# Each adapters/X/ is a crate named `orderdesk-X`; a .wac file names it `orderdesk:X`, and
# orderdesk.wasm is `orderdesk:component`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/tools.sh
wac="$root/target/tools/bin/wac"

out="$root/target/compose"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

# A cargo environment inherited from an outer build (a test binary run by cargo) is for
# the host target, not for these wasm builds.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS \
    RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_LLVM_COV LLVM_PROFILE_FILE

target=wasm32-wasip2
# The same build as host/build.rs, so a test after `cargo build` finds it up to date.
cargo build --quiet --profile component --target "$target" -p orderdesk-component \
    --target-dir target/wasm
deps=(-d "orderdesk:component=target/wasm/$target/component/orderdesk_component.wasm")

for manifest in adapters/*/Cargo.toml; do
    name=$(basename "$(dirname "$manifest")")
    cargo build --quiet --release --target "$target" --manifest-path "$manifest" \
        --target-dir target/wasm/adapters
    deps+=(-d "orderdesk:$name=target/wasm/adapters/$target/release/orderdesk_${name//-/_}.wasm")
done

# Unsigned LEB128 of $1, as raw bytes on stdout.
leb128() {
    local n=$1 byte
    while :; do
        byte=$((n & 0x7f))
        n=$((n >> 7))
        ((n)) && byte=$((byte | 0x80))
        printf "\\$(printf %03o "$byte")"
        ((n)) || break
    done
}

# Appends to component $1 the custom section `package-docs` with the JSON in $2, after the
# version byte 1 (wit-parser's PackageMetadata format, as wit-component writes it).
append_package_docs() {
    local name=package-docs
    local payload=$((1 + $(stat -c %s "$2")))
    local size=$(($(leb128 ${#name} | wc -c) + ${#name} + payload))
    { printf '\0'; leb128 "$size"; leb128 ${#name}; printf %s "$name"; printf '\1'; cat "$2"; } >>"$1"
}

for wac_file in compose/*.wac; do
    name=$(basename "$wac_file" .wac)
    "$wac" compose "${deps[@]}" -o "$out/$name.wasm.tmp" "$wac_file"
    # compose/NAME.package-docs.json (written by `cargo run -p facade-gen`): the docs of
    # the composition's exports, which neither wasm-component-ld nor wac carries over.
    if [[ -f compose/$name.package-docs.json ]]; then
        append_package_docs "$out/$name.wasm.tmp" "compose/$name.package-docs.json"
    fi
    mv "$out/$name.wasm.tmp" "$out/$name.wasm"
done
