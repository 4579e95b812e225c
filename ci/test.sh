#!/usr/bin/env bash
# Every test of the crate: unit, integration and doc tests; the loom models; miri.
# Usage: bash ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace (debug)"
cargo test --workspace

echo "== loom models (loom-tests/run.sh)"
bash loom-tests/run.sh

echo "== miri (ci/miri.sh)"
bash ci/miri.sh
