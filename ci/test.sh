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

step "cargo test --workspace --all-features (debug)"
cargo test --workspace --all-features

step "stress, release build (tests/stress.rs; 2 * 10^6 events here, 10^7 by default:" \
    "cargo test --release --test stress)"
TAILCAST_STRESS_EVENTS="${TAILCAST_STRESS_EVENTS:-2000000}" cargo test --release --test stress

# Loom and miri each run on one core (one model, one interpreter at a time): side by side
# they take the time of the longer one. Each writes its own log, printed when both end.
step "loom models (loom-tests/run.sh) and miri (ci/miri.sh), side by side"
logs=$(mktemp -d)
# Each model is capped at 75 s of exploration (loom stops without failing; run.sh reports
# it as `capped`, a sample): the exact-room wake-ups multiplied the schedules of four
# models, and 73 models at 120 s took the stage past 30 minutes on 2 busy cores
# (2026-12-07). The uncapped and extended runs are separate (loom-tests/EXTENDED.md).
LOOM_FEATURES="${LOOM_FEATURES-tokio}" LOOM_MAX_DURATION="${LOOM_MAX_DURATION:-75}" bash loom-tests/run.sh >"$logs/loom.log" 2>&1 &
loom=$!
bash ci/miri.sh >"$logs/miri.log" 2>&1 &
miri=$!
loom_rc=0
wait "$loom" || loom_rc=$?
miri_rc=0
wait "$miri" || miri_rc=$?
echo "---- loom-tests/run.sh (exit $loom_rc)"
cat "$logs/loom.log"
echo "---- ci/miri.sh (exit $miri_rc)"
cat "$logs/miri.log"
rm -rf "$logs"
if [ "$loom_rc" -ne 0 ] || [ "$miri_rc" -ne 0 ]; then
    echo "!!! loom (exit $loom_rc) or miri (exit $miri_rc) failed" >&2
    exit 1
fi

step "miri, 16 seeds (ci/miri-seeds.sh)"
bash ci/miri-seeds.sh

step "sanitizers: ASan, TSan x5 (ci/sanitizers.sh)"
bash ci/sanitizers.sh

step "panic = \"abort\" (ci/panic-abort.sh)"
bash ci/panic-abort.sh

step "all tests passed in $((SECONDS - start)) s"
