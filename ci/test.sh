#!/usr/bin/env bash
# Every test of the crate: unit, integration and doc tests; the loom models; miri.
# Usage: bash ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace (debug)"
cargo test --workspace

echo "== stress, release build (tests/stress.rs; 2 * 10^6 events here, 10^7 by default:"
echo "   cargo test --release --test stress)"
TAILCAST_STRESS_EVENTS="${TAILCAST_STRESS_EVENTS:-2000000}" cargo test --release --test stress

echo "== loom models (loom-tests/run.sh)"
bash loom-tests/run.sh

echo "== miri (ci/miri.sh)"
bash ci/miri.sh
