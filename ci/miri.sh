#!/usr/bin/env bash
# The unit and integration tests under miri, Tree Borrows, leak check on.
# crossbeam-epoch 0.9 fails Stacked Borrows and strict provenance (see RELIABILITY notes in
# ARCHITECTURE.md); Tree Borrows with permissive provenance passes with the leak check on,
# because each stream owns its epoch collector.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "== ci/miri.sh: installing the nightly toolchain (minimal profile)"
    if ! rustup toolchain install nightly --profile minimal; then
        echo "!!! ci/miri.sh: no nightly toolchain and it cannot be installed: MIRI SKIPPED !!!" >&2
        exit 0
    fi
fi
rustup component add --toolchain nightly miri rust-src >/dev/null
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-symbolic-alignment-check -Zmiri-disable-isolation}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build"
echo "MIRIFLAGS=$MIRIFLAGS"
cargo +nightly miri test -p tailcast --lib --tests
# The async byte layer (features tokio, futures-io, futures): its poll-driven waits and the
# async tee's lead, on tokio's runtime; and the event stream's Stream and Sink, whose waits
# are kept in the handles between polls (tests/futures.rs).
cargo +nightly miri test -p tailcast --all-features --test bytes_async --test futures --test router
