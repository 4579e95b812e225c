#!/usr/bin/env bash
# The unit and integration tests under miri, Tree Borrows.
# crossbeam-epoch 0.9 fails Stacked Borrows and strict provenance, and under Tree Borrows
# its List<Local> drop (run when a per-stream collector is dropped) deallocates through a
# protected reference. Under cfg(miri) streams therefore use the global collector, whose
# garbage outlives the test: hence -Zmiri-ignore-leaks. Leaks of our own are covered by the
# drop-counting and counting-allocator tests in the normal run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "!!! ci/miri.sh: no nightly toolchain on this machine: MIRI SKIPPED !!!" >&2
    exit 0
fi
rustup component add --toolchain nightly miri rust-src >/dev/null
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-symbolic-alignment-check -Zmiri-disable-isolation -Zmiri-ignore-leaks}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build"
echo "MIRIFLAGS=$MIRIFLAGS"
cargo +nightly miri test -p tailcast --lib --tests
