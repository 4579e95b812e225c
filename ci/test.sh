#!/usr/bin/env bash
# Every test of the crate: unit, integration and doc tests; the release stress test; the
# loom models; miri (the whole suite, then the concurrency tests under 16 seeds); the
# sanitizers (ASan, TSan x5) and the panic=abort build. The nightly-only steps install the
# nightly toolchain themselves and print a loud SKIPPED line if they cannot.
# Usage: bash ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo; echo "== $* ($((SECONDS - start)) s)"; }

step "cargo test --workspace (debug)"
cargo test --workspace

step "stress, release build (tests/stress.rs; 2 * 10^6 events here, 10^7 by default:" \
    "cargo test --release --test stress)"
TAILCAST_STRESS_EVENTS="${TAILCAST_STRESS_EVENTS:-2000000}" cargo test --release --test stress

step "loom models (loom-tests/run.sh)"
bash loom-tests/run.sh

step "miri (ci/miri.sh)"
bash ci/miri.sh

step "miri, 16 seeds (ci/miri-seeds.sh)"
bash ci/miri-seeds.sh

step "sanitizers: ASan, TSan x5 (ci/sanitizers.sh)"
bash ci/sanitizers.sh

step "panic = \"abort\" (ci/panic-abort.sh)"
bash ci/panic-abort.sh

step "all tests passed in $((SECONDS - start)) s"
